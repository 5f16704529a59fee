#!/usr/bin/env node
// Trainer overhead per optimizer step against the bare model step, on the same model, batches and optimizer.
//  - bare:    batch → variableGrads(loss) → read the loss → AdamW update → dispose (the least any loop does);
//  - trainer: @atelier/trainer's train() (global-norm clipping, NaN checks, LR schedule, metrics JSONL line,
//             progress bookkeeping, RNG seeds, a yield to the event loop per step); no eval, no checkpoints.
// Per-step time = (time of the last step − time of step W) / (N − W), W warm-up steps excluded. The two modes
// alternate (bare, trainer, bare, trainer …) so machine noise hits both alike; medians are reported.
//
// Usage: pnpm --filter @atelier/trainer bench   (builds, then runs this; prints a Markdown table)
//   ATELIER_BENCH_QUICK=1   fewer steps, to check that the script runs
//   ATELIER_BACKEND=wasm|native   backend (default: initBackend('cpu'))
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const dist = (pkg) => new URL(`../../packages/${pkg}/dist/index.js`, import.meta.url).href;
const { tf, initBackend } = await import(dist('tensor'));
const { GPT2 } = await import(dist('gpt2'));
const { AdamW, gpt2Trainable, parseTrainConfig, rowsBatchSource, train } = await import(dist('trainer'));

const quick = process.env.ATELIER_BENCH_QUICK === '1';
const N = quick ? 6 : 24;
const W = quick ? 2 : 4;
const REPS = quick ? 1 : 3;
const CASES = [
  { name: 'tiny (2×20, V 50257)', config: 'tiny', B: 8, T: 64 },
  { name: '4×128 (V 50257)', config: { n_embd: 128, n_layer: 4, n_head: 4, n_positions: 128 }, B: 4, T: 64 },
];

const info = await initBackend('cpu');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function source(B, T, V) {
  const rows = 64;
  const ids = new Int32Array(rows * T);
  let s = 12345;
  for (let i = 0; i < ids.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    ids[i] = s % V;
  }
  return rowsBatchSource({ T, ids }, { batchSize: B, shuffle: true, seed: 1 });
}

const cfg = {
  lr: 1e-3,
  maxSteps: N,
  evalEvery: 0,
  report: false,
  gradClip: 1,
  checkpoints: { enabled: false },
  schedule: { warmupSteps: 2 },
};

async function bare(c) {
  const model = GPT2.fromConfig(c.config, { seed: 1 });
  const m = gpt2Trainable(model);
  const params = m.trainableVariables();
  const names = [...params.keys()];
  const vars = names.map((n) => params.get(n));
  const byVar = new Map(vars.map((v, i) => [v.name, names[i]]));
  const opt = new AdamW(params, {
    beta1: 0.9,
    beta2: 0.999,
    epsilon: 1e-8,
    weightDecay: 0.01,
    exclude: { biases: true, norms: true, embeddings: false },
  });
  const src = source(c.B, c.T, model.config.vocab_size);
  const times = [];
  for (let step = 0; step < N; step++) {
    const batch = src.batch(0, step % src.batchesPerEpoch);
    const { value, grads } = tf.variableGrads(() => m.loss(batch, { training: true, seed: step }), vars);
    (await value.data())[0];
    value.dispose();
    const named = new Map(Object.entries(grads).map(([k, g]) => [byVar.get(k), g]));
    opt.step(named, 1e-3);
    for (const g of named.values()) g.dispose();
    times.push(performance.now());
  }
  opt.dispose();
  model.dispose();
  return (times[N - 1] - times[W - 1]) / (N - W);
}

async function trainer(c) {
  const model = GPT2.fromConfig(c.config, { seed: 1 });
  const out = mkdtempSync(join(tmpdir(), 'atelier-bench-trainer-'));
  const times = [];
  await train({
    model: gpt2Trainable(model),
    train: source(c.B, c.T, model.config.vocab_size),
    config: parseTrainConfig(cfg),
    outDir: out,
    progress: false,
    handleSigint: false,
    log: () => {},
    onStep: () => times.push(performance.now()),
  });
  rmSync(out, { recursive: true, force: true });
  model.dispose();
  return (times[N - 1] - times[W - 1]) / (N - W);
}

const rows = [];
for (const c of CASES) {
  const b = [];
  const t = [];
  for (let r = 0; r < REPS; r++) {
    b.push(await bare(c));
    t.push(await trainer(c));
  }
  const mb = median(b);
  const mt = median(t);
  rows.push({ c, mb, mt, b, t });
  process.stderr.write(
    `${c.name}: bare ${b.map((x) => x.toFixed(0)).join('/')} ms, trainer ${t.map((x) => x.toFixed(0)).join('/')} ms\n`,
  );
}

console.log(
  `Backend: ${info.name}; ${N - W} timed steps after ${W} warm-up, median of ${REPS} alternating runs.\n`,
);
console.log('| model | B×T | bare step (ms) | trainer step (ms) | overhead |');
console.log('|---|---|---|---|---|');
for (const { c, mb, mt } of rows) {
  console.log(
    `| ${c.name} | ${c.B}×${c.T} | ${mb.toFixed(1)} | ${mt.toFixed(1)} | ${(((mt - mb) / mb) * 100).toFixed(1)}% |`,
  );
}
