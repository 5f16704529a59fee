#!/usr/bin/env node
// Trainer overhead per optimizer step against the bare model step, on the same model, batches and optimizer.
//  - bare:    batch → variableGrads(loss) → read the loss → AdamW update → dispose (the least any loop does);
//  - trainer: @atelier/trainer's train() (global-norm clipping, NaN checks, LR schedule, metrics JSONL line,
//             progress bookkeeping, RNG seeds, a yield to the event loop per step); no eval, no checkpoints.
// Each step's wall time and CPU time (process.cpuUsage: user + system of every thread of this process) are
// recorded after W warm-up steps; the two modes alternate (bare, trainer, trainer, bare, …). On a shared machine
// the CPU time per step is the stable measure (other jobs stretch wall time, not our CPU seconds); the overhead is
// computed from the median CPU time per step, and wall-time medians are shown beside it.
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
const N = quick ? 6 : 14;
const W = quick ? 2 : 4;
const REPS = quick ? 2 : 4;
const CASES = [
  { name: 'tiny (2×20, V 50257)', config: 'tiny', B: 8, T: 64 },
  { name: '4×128 (V 50257)', config: { n_embd: 128, n_layer: 4, n_head: 4, n_positions: 128 }, B: 4, T: 64 },
];

const info = await initBackend('cpu');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const now = () => {
  const c = process.cpuUsage();
  return { wall: performance.now(), cpu: (c.user + c.system) / 1000 };
};
/** Per-step deltas after W warm-up steps. */
const deltas = (marks) =>
  marks.slice(W).map((m, i) => ({ wall: m.wall - marks[W - 1 + i].wall, cpu: m.cpu - marks[W - 1 + i].cpu }));

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
    times.push(now());
  }
  opt.dispose();
  model.dispose();
  return deltas(times);
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
    onStep: () => times.push(now()),
  });
  rmSync(out, { recursive: true, force: true });
  model.dispose();
  return deltas(times);
}

const rows = [];
for (const c of CASES) {
  const b = [];
  const t = [];
  for (let r = 0; r < REPS; r++) {
    // Alternate which mode goes first, so heap and cache state left by the previous run hit both alike.
    if (r % 2 === 0) {
      b.push(...(await bare(c)));
      t.push(...(await trainer(c)));
    } else {
      t.push(...(await trainer(c)));
      b.push(...(await bare(c)));
    }
  }
  const stat = (xs) => ({ cpu: median(xs.map((x) => x.cpu)), wall: median(xs.map((x) => x.wall)) });
  rows.push({ c, b: stat(b), t: stat(t), n: b.length });
  process.stderr.write(
    `${c.name}: bare cpu ${stat(b).cpu.toFixed(0)} ms wall ${stat(b).wall.toFixed(0)} ms; trainer cpu ${stat(t).cpu.toFixed(0)} ms wall ${stat(t).wall.toFixed(0)} ms\n`,
  );
}

console.log(
  `Backend: ${info.name}; medians over ${rows[0]?.n} steps per mode (${N - W} per run after ${W} warm-up, ${REPS} alternating runs).\n`,
);
console.log(
  '| model | B×T | bare step CPU (ms) | trainer step CPU (ms) | overhead (CPU) | bare wall (ms) | trainer wall (ms) |',
);
console.log('|---|---|---:|---:|---:|---:|---:|');
for (const { c, b, t } of rows) {
  console.log(
    `| ${c.name} | ${c.B}×${c.T} | ${b.cpu.toFixed(1)} | ${t.cpu.toFixed(1)} | ${(((t.cpu - b.cpu) / b.cpu) * 100).toFixed(1)}% | ${b.wall.toFixed(1)} | ${t.wall.toFixed(1)} |`,
  );
}
