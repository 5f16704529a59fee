#!/usr/bin/env node
// GPT-2 124M-shape benchmark of @atelier/gpt2 beside PyTorch CPU (tools/bench/gpt2-torch.py), in one run:
//  - forward tokens/s at B=1, T=128 (evaluation mode);
//  - loss + gradients tokens/s, and one training step (loss, gradients, Adam update) at B=1, T=128;
//  - greedy generation tokens/s with the KV cache (16-token prompt, 64 new tokens);
//  - peak RSS of each (every measurement runs in its own process, for both sides).
// Random weights (GPT-2 init), the same shapes on both sides. PyTorch runs with torch.set_num_threads(1) and
// OPENBLAS_NUM_THREADS=2, the fastest setting on this 2-core machine (shared/notes/measurements.md).
//
// Usage: pnpm --filter @atelier/gpt2 bench   (builds, then runs this; prints a Markdown table)
//   ATELIER_BENCH_QUICK=1   small shapes, to check that the script runs
//   ATELIER_BACKEND=wasm|native   backend for the Atelier side (default: initBackend('cpu'))
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const quick = process.env.ATELIER_BENCH_QUICK === '1';
const S = quick
  ? { V: 1000, P: 128, C: 64, L: 2, H: 4, T: 32, NEW: 8, PROMPT: 8 }
  : { V: 50257, P: 1024, C: 768, L: 12, H: 12, T: 128, NEW: 64, PROMPT: 16 };
// ATELIER_BENCH_MODES=forward,generate runs a subset
const MODES = (process.env.ATELIER_BENCH_MODES ?? 'forward,grad,train,generate').split(',');

async function median(fn, reps = 3, warmup = 1) {
  const runs = [];
  for (let i = 0; i < warmup + reps; i++) {
    const t0 = performance.now();
    await fn();
    if (i >= warmup) runs.push(performance.now() - t0);
  }
  runs.sort((a, b) => a - b);
  return runs[Math.floor(runs.length / 2)];
}

/** One measurement in this process; prints a JSON line. */
async function worker(mode) {
  const { tf, initBackend } = await import(
    new URL('../../packages/tensor/dist/index.js', import.meta.url).href
  );
  const { GPT2 } = await import(new URL('../../packages/gpt2/dist/index.js', import.meta.url).href);
  const backend = await initBackend('cpu');
  const model = GPT2.fromConfig(
    { vocab_size: S.V, n_positions: S.P, n_embd: S.C, n_layer: S.L, n_head: S.H },
    { seed: 0 },
  );
  let seed = 1;
  const ids = [Array.from({ length: S.T }, () => (seed = (seed * 48271) % 2147483647) % S.V)];
  let ms;
  let tokens = S.T;
  let optimizer = '';
  if (mode === 'forward') {
    ms = await median(async () => {
      const logits = model.forward(ids);
      await logits.data();
      logits.dispose();
    });
  } else if (mode === 'grad') {
    const vars = model.parameters().map((p) => p.variable);
    ms = await median(async () => {
      const { value, grads } = tf.variableGrads(() => model.loss(ids), vars);
      await value.data();
      tf.dispose([value, grads]);
    });
  } else if (mode === 'train') {
    // The trainer's AdamW (what `atelier train` runs) when @atelier/trainer is built, else tfjs's Adam.
    const params = model.parameters();
    const vars = params.map((p) => p.variable);
    const trainer = await import(new URL('../../packages/trainer/dist/index.js', import.meta.url).href).catch(
      () => undefined,
    );
    let update;
    if (trainer?.AdamW) {
      const opt = new trainer.AdamW(new Map(params.map((p) => [p.name, p.variable])), {
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-8,
        weightDecay: 0.01,
        exclude: { biases: false, norms: false, embeddings: false }, // torch.optim.AdamW decays everything
      });
      const byVar = new Map(params.map((p) => [p.variable.name, p.name]));
      update = (grads) => opt.step(new Map(Object.entries(grads).map(([k, g]) => [byVar.get(k), g])), 1e-4);
      optimizer = 'AdamW (@atelier/trainer)';
    } else {
      const opt = tf.train.adam(1e-4);
      update = (grads) => opt.applyGradients(grads);
      optimizer = 'tf.train.adam';
    }
    ms = await median(async () => {
      const { value, grads } = tf.variableGrads(() => model.loss(ids), vars);
      update(grads);
      await value.data();
      tf.dispose([value, grads]);
    });
  } else {
    tokens = S.NEW;
    const prompt = ids[0].slice(0, S.PROMPT);
    ms = await median(
      async () => model.generateIds([prompt], { maxNewTokens: S.NEW, eosTokenId: null }),
      2,
      1,
    );
  }
  const peak = process.resourceUsage().maxRSS / 1024;
  console.log(
    JSON.stringify({
      mode,
      tokens_per_s: tokens / (ms / 1000),
      ms,
      peak_rss_mb: peak,
      backend: backend.name,
      optimizer,
    }),
  );
}

function run(cmd, args, env) {
  const out = execFileSync(cmd, args, {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = out.trim().split('\n').pop();
  return JSON.parse(line);
}

async function main() {
  const self = fileURLToPath(import.meta.url);
  const py = fileURLToPath(new URL('./gpt2-torch.py', import.meta.url));
  const rows = [];
  for (const mode of MODES) {
    process.stderr.write(`gpt2 bench: ${mode} (atelier) …\n`);
    const a = run(process.execPath, [self, '--worker', mode], quick ? { ATELIER_BENCH_QUICK: '1' } : {});
    process.stderr.write(`gpt2 bench: ${mode} (pytorch) …\n`);
    const t = run('/usr/bin/python3', [py, mode, ...(quick ? ['--quick'] : [])], {
      OPENBLAS_NUM_THREADS: '2',
    });
    rows.push({ mode, a, t });
    process.stderr.write(`  atelier ${JSON.stringify(a)}\n  pytorch ${JSON.stringify(t)}\n`);
  }
  const f = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
  const label = {
    forward: `forward, B=1 T=${S.T}`,
    grad: `loss + gradients of every parameter, B=1 T=${S.T}`,
    train: `training step (loss + grads + AdamW), B=1 T=${S.T}`,
    generate: `greedy generation with KV cache (${S.PROMPT}-token prompt, ${S.NEW} new)`,
  };
  console.log(
    `GPT-2 ${quick ? 'QUICK (small shapes)' : '124M shape'} (n_embd ${S.C}, ${S.L} layers, vocab ${S.V}); PyTorch ${rows[0].t.torch} CPU, 1 intra-op thread, OPENBLAS_NUM_THREADS=2.\n`,
  );
  console.log(
    '| measurement | Atelier backend | Atelier tok/s | PyTorch tok/s | Atelier / PyTorch | Atelier peak RSS | PyTorch peak RSS |',
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const { mode, a, t } of rows) {
    console.log(
      `| ${label[mode]} | ${a.backend} | ${f(a.tokens_per_s)} | ${f(t.tokens_per_s)} | ${(a.tokens_per_s / t.tokens_per_s).toFixed(2)} | ${a.peak_rss_mb.toFixed(0)} MB | ${t.peak_rss_mb.toFixed(0)} MB |`,
    );
  }
  const train = rows.find((r) => r.mode === 'train');
  if (train) console.log(`\nAtelier optimizer: ${train.a.optimizer}; PyTorch: torch.optim.AdamW.`);
}

const w = process.argv.indexOf('--worker');
if (w >= 0) await worker(process.argv[w + 1]);
else await main();
