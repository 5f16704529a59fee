import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GPT2 } from '@atelier/gpt2';
import { initBackend, tf } from '@atelier/tensor';
import { Tokenizer } from '@atelier/tokenizer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsBatchSource } from './batches.js';
import { parseTrainConfig } from './config.js';
import { gpt2Trainable } from './gpt2.js';
import { readMetrics } from './metrics.js';
import { train } from './trainer.js';

const gop = new URL('../../../../shared/data/girls_own_paper_1886_no353_pg18195.txt', import.meta.url);
const hasData = existsSync(gop);

let root: string;
beforeAll(async () => {
  await initBackend('cpu');
  root = await mkdtemp(join(tmpdir(), 'atelier-trainer-gpt2-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe.skipIf(!hasData)('gpt2Trainable with GPT2.fromConfig("tiny")', () => {
  const tok = Tokenizer.gpt2();
  const T = 32;
  const ids = Int32Array.from(tok.encode(readFileSync(gop, 'utf8').slice(3000, 15000)));
  const rows = { T, ids: ids.subarray(0, Math.floor(ids.length / T) * T) };
  const source = () => rowsBatchSource(rows, { batchSize: 2, shuffle: true, seed: 3 });
  const config = parseTrainConfig({
    lr: 3e-3,
    maxSteps: 6,
    evalEvery: 0,
    report: false,
    samplePrompts: ['Q: What is'],
    sampleMaxTokens: 4,
    schedule: { warmupSteps: 2 },
  });
  const quiet = { progress: false, handleSigint: false, log: () => {} };

  it('resume with dropout on reproduces the loss curve exactly; checkpoints load back as GPT-2 weights', async () => {
    const model = () => GPT2.fromConfig('tiny', { seed: 1, tokenizer: tok });
    const a = model();
    expect(a.config.resid_pdrop).toBeGreaterThan(0);
    await train({
      ...quiet,
      model: gpt2Trainable(a),
      train: source(),
      val: source(),
      outDir: join(root, 'a'),
      config,
    });
    const lossesA = readMetrics(join(root, 'a', 'metrics.jsonl')).flatMap((r) =>
      r.type === 'train' ? [r.loss] : [],
    );
    expect(lossesA).toHaveLength(6);
    expect(lossesA[5]).toBeLessThan(lossesA[0]);

    const ctl = new AbortController();
    const b = model();
    await train({
      ...quiet,
      model: gpt2Trainable(b),
      train: source(),
      outDir: join(root, 'b'),
      config,
      signal: ctl.signal,
      onStep: (r) => r.step === 3 && ctl.abort(),
    });
    const c = GPT2.fromConfig('tiny', { seed: 2, tokenizer: tok }); // other init: weights must come from the checkpoint
    const r = await train({
      ...quiet,
      model: gpt2Trainable(c),
      train: source(),
      outDir: join(root, 'b'),
      config,
      resume: true,
    });
    expect(r.step).toBe(6);
    const lossesB = readMetrics(join(root, 'b', 'metrics.jsonl')).flatMap((x) =>
      x.type === 'train' ? [x.loss] : [],
    );
    expect(lossesB).toEqual(lossesA);
    const evals = readMetrics(join(root, 'a', 'metrics.jsonl')).filter((x) => x.type === 'eval');
    expect(evals.at(-1)?.type === 'eval' && evals.at(-1)?.samples[0].prompt).toBe('Q: What is');
    for (const m of [a, b, c]) m.dispose();
  }, 120_000);
});

describe('gpt2Trainable memory', () => {
  it('keeps the tensor count flat across 200 steps of a small GPT-2 (dropout on, accumulation, eval)', async () => {
    const model = GPT2.fromConfig(
      { vocab_size: 96, n_embd: 16, n_layer: 1, n_head: 2, n_positions: 32 },
      { seed: 5 },
    );
    const T = 16;
    const ids = new Int32Array(64 * T).map((_, i) => (i * 7 + (i >> 3)) % 96);
    const src = rowsBatchSource({ T, ids }, { batchSize: 4, shuffle: true, seed: 2 });
    const counts: number[] = [];
    const r = await train({
      model: gpt2Trainable(model),
      train: src,
      val: src,
      outDir: join(root, 'leak'),
      config: parseTrainConfig({
        maxSteps: 200,
        gradAccumSteps: 2,
        evalEvery: 100,
        evalBatches: 2,
        report: false,
        checkpoints: { enabled: false },
      }),
      progress: false,
      handleSigint: false,
      log: () => {},
      onStep: () => counts.push(tf.memory().numTensors),
    });
    expect(r.step).toBe(200);
    expect(new Set(counts).size).toBe(1);
    model.dispose();
  }, 180_000);
});
