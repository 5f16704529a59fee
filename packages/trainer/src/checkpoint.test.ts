import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkpointName,
  latestCheckpoint,
  listCheckpoints,
  rotateCheckpoints,
  STATE_FILE,
  stepOfCheckpoint,
  writeCheckpointAtomically,
} from './checkpoint.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'atelier-ckpt-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('checkpoint directories', () => {
  it('names carry the step and the UTC time, and parse back', () => {
    const name = checkpointName(120, new Date('2026-11-22T05:40:12.345Z'));
    expect(name).toBe('step-00000120-20261122T054012Z');
    expect(stepOfCheckpoint(name)).toBe(120);
    expect(stepOfCheckpoint('.tmp-step-00000120-20261122T054012Z-77')).toBeNull();
  });

  it('a crash mid-write leaves the previous checkpoint as the newest complete one', async () => {
    const run = join(root, 'crash');
    const dir = join(run, 'checkpoints');
    await writeCheckpointAtomically(dir, checkpointName(10), async (d) => {
      await writeFile(join(d, STATE_FILE), '{}');
    });
    // The writer of step 20 dies after its first file: the exception propagates, nothing is renamed in.
    await expect(
      writeCheckpointAtomically(dir, checkpointName(20), async (d) => {
        await writeFile(join(d, 'model.safetensors'), 'partial');
        throw new Error('killed');
      }),
    ).rejects.toThrow('killed');
    // A hard kill leaves a temp dir behind, and a stray directory without a state file is not complete.
    await mkdir(join(dir, `.tmp-${checkpointName(30)}-999`));
    await mkdir(join(dir, checkpointName(40)));
    expect((await listCheckpoints(dir)).map((c) => c.step)).toEqual([10]);
    expect(await latestCheckpoint(run)).toMatch(/step-00000010-/);
    expect((await readdir(dir)).some((n) => n.startsWith(checkpointName(20)))).toBe(false);
  });

  it('rotation keeps the newest K and the best', async () => {
    const dir = join(root, 'rotate');
    const names = [1, 2, 3, 4, 5].map((s) => checkpointName(s));
    for (const n of names)
      await writeCheckpointAtomically(dir, n, (d) => writeFile(join(d, STATE_FILE), '{}'));
    const removed = await rotateCheckpoints(dir, 2, names[1]);
    expect(removed).toEqual([names[0], names[2]]);
    expect((await listCheckpoints(dir)).map((c) => c.step)).toEqual([2, 4, 5]);
  });
});
