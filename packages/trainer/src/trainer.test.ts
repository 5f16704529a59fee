import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, tf } from '@atelier/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsBatchSource } from './batches.js';
import { readTrainerState, stepOfCheckpoint } from './checkpoint.js';
import { parseTrainConfig, type TrainConfigInput } from './config.js';
import { readMetrics } from './metrics.js';
import { byteRows, ToyModel } from './toy-model.js';
import { train } from './trainer.js';
import type { Batch, LossContext } from './types.js';

const DATA = new URL('../../../../shared/data/', import.meta.url);
const gopPath = new URL('girls_own_paper_1886_no353_pg18195.txt', DATA);
const hasData = existsSync(gopPath);
const text = hasData ? readFileSync(gopPath, 'latin1').slice(2000, 42000) : '';

let root: string;
beforeAll(async () => {
  await initBackend('cpu');
  root = await mkdtemp(join(tmpdir(), 'atelier-trainer-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const T = 32;
function sources(seed = 5) {
  const rows = byteRows(text, T);
  const n = rows.ids.length / T;
  const nVal = Math.floor(n * 0.1);
  const trainRows = { T, ids: rows.ids.subarray(0, (n - nVal) * T) };
  const valRows = { T, ids: rows.ids.subarray((n - nVal) * T) };
  return {
    train: rowsBatchSource(trainRows, { batchSize: 4, shuffle: true, seed }),
    val: rowsBatchSource(valRows, { batchSize: 8, shuffle: false, seed: 0 }),
  };
}
const cfg = (c: Partial<TrainConfigInput>) =>
  parseTrainConfig({ lr: 1e-2, schedule: { warmupSteps: 3 }, evalEvery: 0, report: false, ...c });
const quiet = { progress: false, handleSigint: false, log: () => {} };

describe.skipIf(!hasData)('train() on a real text (Girl’s Own Paper) with a toy byte model', () => {
  it('lowers validation loss, logs metrics, keeps best + last K checkpoints', async () => {
    const out = join(root, 'basic');
    const model = new ToyModel(256, 16, 1);
    const { train: tr, val } = sources();
    const r = await train({
      ...quiet,
      model,
      train: tr,
      val,
      outDir: out,
      config: cfg({
        maxSteps: 60,
        evalEvery: 20,
        samplePrompts: ['The '],
        sampleMaxTokens: 8,
        checkpoints: { every: 10, keepLast: 2 },
        report: true,
      }),
    });
    expect(r.status).toBe('completed');
    expect(r.step).toBe(60);
    const recs = readMetrics(r.metricsPath);
    const evals = recs.filter((x) => x.type === 'eval');
    expect(evals.map((e) => e.step)).toEqual([20, 40, 60]);
    // ln(256) = 5.55 at init; bytes of English text are far more predictable.
    const first = recs.find((x) => x.type === 'train');
    expect(first && first.type === 'train' && first.loss).toBeGreaterThan(5);
    expect(evals[2].type === 'eval' && evals[2].valLoss).toBeLessThan(3.6);
    if (evals[2].type === 'eval') {
      expect(evals[2].perplexity).toBeCloseTo(Math.exp(evals[2].valLoss), 6);
      expect(evals[2].samples[0].prompt).toBe('The ');
      expect(evals[2].samples[0].text).toHaveLength(8);
    }
    const trainRecs = recs.filter((x) => x.type === 'train');
    expect(trainRecs).toHaveLength(60);
    for (const x of trainRecs) if (x.type === 'train') expect(x.tokensPerSec).toBeGreaterThan(0);
    // checkpoints: the last 2 (steps 50, 60) plus the best; names carry step and UTC time.
    const names = readdirSync(join(out, 'checkpoints')).sort();
    expect(names.every((n) => /^step-\d{8}-\d{8}T\d{6}Z$/.test(n))).toBe(true);
    const steps = names.map((n) => stepOfCheckpoint(n));
    expect(steps).toContain(50);
    expect(steps).toContain(60);
    expect(steps.length).toBeLessThanOrEqual(3);
    expect(r.bestCheckpoint && steps).toContain(r.bestStep);
    const last = join(out, 'checkpoints', names.at(-1) as string);
    expect(readdirSync(last).sort()).toEqual([
      'config.json',
      'model.safetensors',
      'optimizer.safetensors',
      'trainer_state.json',
    ]);
    const state = await readTrainerState(last);
    expect(state.step).toBe(60);
    expect(state.optimizerStep).toBe(60);
    expect(state.config.maxSteps).toBe(60);
    expect(state.rng).toHaveLength(4);
    expect(existsSync(join(out, 'report.html'))).toBe(true);
    model.dispose();
  });

  it('resume reproduces the uninterrupted loss curve exactly (2N vs N + resume + N, with accumulation)', async () => {
    const N = 12;
    const config = cfg({ maxSteps: 2 * N, gradAccumSteps: 2, evalEvery: 5, schedule: { warmupRatio: 0.2 } });
    const lossesOf = (out: string) =>
      readMetrics(join(out, 'metrics.jsonl')).flatMap((x) => (x.type === 'train' ? [x.loss] : []));

    const a = new ToyModel(256, 16, 1);
    const ra = await train({ ...quiet, model: a, ...sources(), outDir: join(root, 'full'), config });
    expect(ra.step).toBe(2 * N);

    // Interrupt after N steps (as SIGINT does): a checkpoint is written and the run stops.
    const ctl = new AbortController();
    const b = new ToyModel(256, 16, 1);
    const outB = join(root, 'split');
    const rb1 = await train({
      ...quiet,
      model: b,
      ...sources(),
      outDir: outB,
      config,
      signal: ctl.signal,
      onStep: (rec) => {
        if (rec.step === N) ctl.abort();
      },
    });
    expect(rb1.status).toBe('interrupted');
    expect(rb1.step).toBe(N);
    // A fresh process: a differently initialised model, weights come back from the checkpoint.
    const c = new ToyModel(256, 16, 99);
    const rb2 = await train({ ...quiet, model: c, ...sources(), outDir: outB, config, resume: true });
    expect(rb2.status).toBe('completed');
    expect(lossesOf(outB)).toEqual(lossesOf(join(root, 'full')));
    expect(lossesOf(outB)).toHaveLength(2 * N);
    expect(Array.from(c.vars.get('wte.weight')?.dataSync() ?? [])).toEqual(
      Array.from(a.vars.get('wte.weight')?.dataSync() ?? []),
    );
    // Resuming on other data (here: another batch size) is refused with a message that says why.
    const d = new ToyModel(256, 16, 1);
    const rows = byteRows(text, T);
    const other = rowsBatchSource(rows, { batchSize: 2, shuffle: true, seed: 5 });
    await expect(
      train({ ...quiet, model: d, train: other, outDir: outB, config, resume: true }),
    ).rejects.toThrow(/written with \d+ batches per epoch, this data has \d+/);
    for (const m of [a, b, c, d]) m.dispose();
  });

  it('gradient accumulation of 2×B equals one step on 2B rows', async () => {
    const rows = byteRows(text, T);
    const run = async (B: number, accum: number) => {
      const m = new ToyModel(256, 16, 3, false);
      const src = rowsBatchSource(rows, { batchSize: B, shuffle: false, seed: 1 });
      await train({
        ...quiet,
        model: m,
        train: src,
        outDir: join(root, `acc-${B}-${accum}`),
        config: cfg({ maxSteps: 1, gradAccumSteps: accum, checkpoints: { enabled: false } }),
      });
      const w = Array.from(m.vars.get('lm_head.weight')?.dataSync() ?? []);
      m.dispose();
      return w;
    };
    const one = await run(4, 1);
    const two = await run(2, 2);
    const init = new ToyModel(256, 16, 3, false);
    const w0 = Array.from(init.vars.get('lm_head.weight')?.dataSync() ?? []);
    init.dispose();
    let moved = 0;
    one.forEach((x, i) => {
      expect(two[i]).toBeCloseTo(x, 6);
      moved += Math.abs(x - w0[i]);
    });
    expect(moved).toBeGreaterThan(0.1);
  });

  it('early stopping: stops after `patience` evaluations without a min-delta improvement', async () => {
    const m = new ToyModel(256, 16, 1);
    const r = await train({
      ...quiet,
      model: m,
      ...sources(),
      outDir: join(root, 'early'),
      config: cfg({ maxSteps: 100, evalEvery: 5, earlyStopping: { patience: 2, minDelta: 100 } }),
    });
    expect(r.status).toBe('early-stopped');
    expect(r.step).toBe(15); // eval 5 sets the best, 10 and 15 fail to improve by 100
    expect(r.bestStep).toBe(5);
    expect(r.bestCheckpoint).toMatch(/step-00000005-/);
    expect(existsSync(r.bestCheckpoint as string)).toBe(true);
    m.dispose();
  });

  it('skips non-finite steps without touching weights and fails after maxBadSteps in a row', async () => {
    const m = new ToyModel(256, 16, 1);
    let call = 0;
    let before: number[] = [];
    let after: number[] = [];
    const poisoned = {
      trainableVariables: () => m.trainableVariables(),
      save: (d: string) => m.save(d),
      loss(batch: Batch, ctx: LossContext) {
        call += 1;
        // weights when steps 3 and 5 start must be equal: the NaN steps 3 and 4 changed nothing
        if (call === 3) before = Array.from(m.vars.get('wte.weight')?.dataSync() ?? []);
        if (call === 5) after = Array.from(m.vars.get('wte.weight')?.dataSync() ?? []);
        const l = m.loss(batch, ctx);
        // calls 3 and 4 (steps 3, 4) are NaN; from call 8 on, every step is inf.
        if (call === 3 || call === 4) return tf.tidy(() => tf.mul(l, Number.NaN)) as tf.Scalar;
        if (call >= 8) return tf.tidy(() => tf.mul(l, Number.POSITIVE_INFINITY)) as tf.Scalar;
        return l;
      },
    };
    const out = join(root, 'nan');
    const r = await train({
      ...quiet,
      model: poisoned,
      ...sources(),
      outDir: out,
      config: cfg({ maxSteps: 50, maxBadSteps: 3 }),
    });
    expect(before.length).toBe(256 * 16);
    expect(after).toEqual(before);
    expect(r.status).toBe('failed');
    expect(r.reason).toMatch(/3 consecutive steps with a non-finite loss/);
    expect(r.step).toBe(10);
    const skips = readMetrics(join(out, 'metrics.jsonl')).filter((x) => x.type === 'skip');
    expect(skips.map((s) => s.step)).toEqual([3, 4, 8, 9, 10]);
    const st = await readTrainerState(r.lastCheckpoint as string);
    expect(st.optimizerStep).toBe(5); // steps 1, 2, 5, 6, 7 updated the weights
    m.dispose();
  });

  it('keeps the tensor count flat across 1,000 steps', async () => {
    const m = new ToyModel(256, 8, 1);
    const counts: number[] = [];
    const r = await train({
      ...quiet,
      model: m,
      ...sources(),
      outDir: join(root, 'leak'),
      config: cfg({
        maxSteps: 1000,
        gradAccumSteps: 2,
        evalEvery: 250,
        samplePrompts: ['A'],
        sampleMaxTokens: 2,
        checkpoints: { every: 500 },
      }),
      onStep: () => counts.push(tf.memory().numTensors),
    });
    expect(r.step).toBe(1000);
    expect(counts).toHaveLength(1000);
    expect(new Set(counts.slice(1)).size).toBe(1);
    expect(counts[999]).toBe(counts[0]);
    m.dispose();
  }, 120_000);
});

describe.skipIf(!hasData)('epochs', () => {
  it('an epoch budget evaluates at each epoch end and stops after the last epoch', async () => {
    const m = new ToyModel(256, 8, 1);
    const { train: tr, val } = sources();
    const r = await train({
      ...quiet,
      model: m,
      train: tr,
      val,
      outDir: join(root, 'epochs'),
      config: cfg({ epochs: 2, evalEvery: 0, gradAccumSteps: 1 }),
    });
    const per = tr.batchesPerEpoch;
    expect(r.step).toBe(2 * per);
    const recs = readMetrics(r.metricsPath);
    expect(recs.filter((x) => x.type === 'eval').map((e) => [e.step, e.epoch])).toEqual([
      [per, 1],
      [2 * per, 2],
    ]);
    const epochs = recs.flatMap((x) => (x.type === 'train' ? [x.epoch] : []));
    expect(epochs.filter((e) => e === 0)).toHaveLength(per);
    expect(epochs.filter((e) => e === 1)).toHaveLength(per);
    m.dispose();
  });
});

describe('config validation', () => {
  it('names the bad field', () => {
    expect(() => parseTrainConfig({ maxSteps: 10, lr: -1 }, 'run.json')).toThrow(/^run\.json: lr: /);
    expect(() => parseTrainConfig({ maxSteps: 10, schedule: { warmupRatio: 2 } })).toThrow(
      /schedule\.warmupRatio/,
    );
    expect(() => parseTrainConfig({ maxSteps: 10, bogus: 1 })).toThrow(/Unrecognized key.*bogus/);
    expect(() => parseTrainConfig({})).toThrow(/maxSteps: give a budget/);
    expect(parseTrainConfig({ epochs: 2 }).gradClip).toBe(1);
  });
});
