import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TrainConfig } from './config.js';
import type { DataPosition } from './types.js';

/** Everything besides weights and optimizer moments that a resumed run needs (trainer_state.json). */
export interface TrainerState {
  format: 'atelier-trainer-state/1';
  /** Optimizer steps completed. */
  step: number;
  /** Next micro-batch to read. */
  data: DataPosition;
  /** Micro-batches per epoch of the training data when saved (a resume on other data or batch size is refused). */
  batchesPerEpoch: number;
  /** Trainer RNG state (dropout seeds, sample seeds). */
  rng: number[];
  /** AdamW update count (bias corrections). */
  optimizerStep: number;
  /** Schedule inputs: with `step` they give the next learning rate. */
  schedule: { lr: number; totalSteps: number; warmupSteps: number; decay: string; minLrRatio: number };
  totalSteps: number;
  tokensSeen: number;
  elapsedMs: number;
  bestValLoss: number | null;
  bestStep: number | null;
  /** Evaluations since the last improvement (early-stopping counter). */
  evalsWithoutImprovement: number;
  consecutiveBadSteps: number;
  config: TrainConfig;
  savedAt: string;
}

export const STATE_FILE = 'trainer_state.json';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
const PREFIX = 'step-';

/** `step-00000120-20261122T054012Z`: step first (sorts by step), then the UTC time of saving. */
export function checkpointName(step: number, date = new Date()): string {
  const stamp = date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${PREFIX}${String(step).padStart(8, '0')}-${stamp}`;
}

/** Step number encoded in a checkpoint directory name, or null for other names. */
export function stepOfCheckpoint(name: string): number | null {
  const m = /^step-(\d+)-\d{8}T\d{6}Z$/.exec(name);
  return m ? Number(m[1]) : null;
}

/**
 * Write a checkpoint atomically: `fill(tmpDir)` writes the files into a hidden temporary directory beside the
 * final one, which is then renamed into place; a crash leaves either the old set or the complete new one.
 */
export async function writeCheckpointAtomically(
  checkpointsDir: string,
  name: string,
  fill: (dir: string) => Promise<void>,
): Promise<string> {
  await mkdir(checkpointsDir, { recursive: true });
  const tmp = join(checkpointsDir, `.tmp-${name}-${process.pid}`);
  const final = join(checkpointsDir, name);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp);
  try {
    await fill(tmp);
    await rm(final, { recursive: true, force: true });
    await rename(tmp, final);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  return final;
}

/** Write a file atomically (temp file in the same directory + rename). */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

/** Complete checkpoints in `checkpointsDir` (those with a state file), oldest step first. */
export async function listCheckpoints(checkpointsDir: string): Promise<{ name: string; step: number }[]> {
  let names: string[];
  try {
    names = await readdir(checkpointsDir);
  } catch {
    return [];
  }
  const out: { name: string; step: number }[] = [];
  for (const name of names) {
    const step = stepOfCheckpoint(name);
    if (step === null) continue;
    try {
      await readFile(join(checkpointsDir, name, STATE_FILE));
      out.push({ name, step });
    } catch {
      // incomplete directory: ignored
    }
  }
  return out.sort((a, b) => a.step - b.step || a.name.localeCompare(b.name));
}

/** Path of the newest complete checkpoint under a run directory (`<runDir>/checkpoints/step-…`), or null. */
export async function latestCheckpoint(runDir: string): Promise<string | null> {
  const list = await listCheckpoints(join(runDir, 'checkpoints'));
  const last = list.at(-1);
  return last ? join(runDir, 'checkpoints', last.name) : null;
}

/** Read and check `trainer_state.json` from a checkpoint directory. */
export async function readTrainerState(dir: string): Promise<TrainerState> {
  const path = join(dir, STATE_FILE);
  let raw: string;
  try {
    raw = await readFile(path, 'utf8');
  } catch {
    throw new Error(`${dir} is not a checkpoint: ${STATE_FILE} is missing`);
  }
  let state: TrainerState;
  try {
    state = JSON.parse(raw);
  } catch (e) {
    throw new Error(`${path}: invalid JSON: ${(e as Error).message}`);
  }
  if (state.format !== 'atelier-trainer-state/1') {
    throw new Error(`${path}: format "${state.format}" is not atelier-trainer-state/1`);
  }
  return state;
}

/**
 * Delete old checkpoints, keeping the newest `keepLast` and (if given) the one named `keep`.
 * Returns the names removed.
 */
export async function rotateCheckpoints(
  checkpointsDir: string,
  keepLast: number,
  keep: string | null,
): Promise<string[]> {
  const list = await listCheckpoints(checkpointsDir);
  const removable = list.slice(0, Math.max(0, list.length - keepLast)).filter((c) => c.name !== keep);
  for (const c of removable) await rm(join(checkpointsDir, c.name), { recursive: true, force: true });
  return removable.map((c) => c.name);
}
