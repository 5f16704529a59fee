import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { QARecord } from '@atelier/datasets';
import { type BackendKind, initBackend } from '@atelier/tensor';
import { Tokenizer } from '@atelier/tokenizer';
import { writeFileAtomic } from '@atelier/trainer';
import {
  type Mode,
  type ModeResult,
  prepareData,
  type RecipeConfig,
  runMode,
  writeComparison,
} from './recipe.js';
import { type DownloadOptions, readSource, type SourceName } from './sources.js';

/** What a run was asked to do; saved as run.json so `resume <run-dir>` repeats it exactly. */
export interface RunSpec {
  config: RecipeConfig;
  sources: SourceName[];
  modes: Mode[];
  download?: DownloadOptions;
}

export interface RecipeResult {
  runDir: string;
  results: ModeResult[];
  comparison: string | null;
}

const RUN_FILE = 'run.json';

/** runs/advice-column-20261122T074512Z */
export function defaultRunDir(root = 'runs', date = new Date()): string {
  const stamp = date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return join(root, `advice-column-${stamp}`);
}

/** Reads every source into one list of question → advice records. */
export async function readAll(
  sources: SourceName[],
  download?: DownloadOptions,
  log: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<QARecord[]> {
  const all: QARecord[] = [];
  for (const s of sources) {
    const recs = await readSource(s, download);
    log(`data: ${recs.length} question → advice records from ${s}`);
    all.push(...recs);
  }
  return all;
}

/**
 * The recipe end to end: data → clean → format → pack → train each mode (same data and budget) → compare.
 * With `stopAfter` each mode stops after that step with a checkpoint; `resume` continues it from there.
 */
export async function runRecipe(
  spec: RunSpec,
  runDir: string,
  o: { stopAfter?: number; resume?: boolean; backend?: string; log?: (line: string) => void } = {},
): Promise<RecipeResult> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const info = await initBackend((o.backend ?? process.env.ATELIER_BACKEND ?? 'auto') as BackendKind);
  log(`backend: ${info.name}`);
  await mkdir(runDir, { recursive: true });
  if (!o.resume) await writeFileAtomic(join(runDir, RUN_FILE), `${JSON.stringify(spec, null, 2)}\n`);
  const raw = await readAll(spec.sources, spec.download, log);
  const data = await prepareData(raw, Tokenizer.gpt2(), spec.config);
  log(
    `data: ${data.records.kept} of ${data.records.read} records kept; ${data.records.train} train, ${data.records.validation} validation; ${data.train.batchesPerEpoch} batches per epoch`,
  );
  const results: ModeResult[] = [];
  for (const mode of spec.modes) {
    const resume = o.resume === true && existsSync(join(runDir, mode, 'checkpoints'));
    results.push(
      await runMode(mode, { cfg: spec.config, data, outDir: runDir, stopAfter: o.stopAfter, resume, log }),
    );
  }
  const done = results.every((r) => r.status === 'completed' || r.status === 'early-stopped');
  const comparison = done ? await writeComparison(runDir, results) : null;
  return { runDir, results, comparison };
}

/** `resume <run-dir>`: the saved spec, continued from each mode's newest checkpoint. */
export async function resumeRecipe(
  runDir: string,
  o: { backend?: string; log?: (line: string) => void } = {},
): Promise<RecipeResult> {
  const file = join(runDir, RUN_FILE);
  if (!existsSync(file)) throw new Error(`${file} is missing: not a run directory of this example`);
  const spec = JSON.parse(await readFile(file, 'utf8')) as RunSpec;
  return runRecipe(spec, runDir, { resume: true, backend: o.backend, log: o.log });
}
