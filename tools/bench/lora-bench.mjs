#!/usr/bin/env node
// LoRA training step vs full fine-tuning step of @atelier/gpt2, same model (GPT-2 124M shape, random GPT-2 init)
// and same batch (B=1, T=128), in one run:
//  - full: every parameter trainable (loss, gradients of all 124M values, AdamW on all of them);
//  - lora c_attn: r = 8 on c_attn (PEFT's GPT-2 default; 0.24% trainable), base frozen;
//  - lora all-linear: r = 8 on c_attn, c_proj and c_fc.
// Each mode runs in its own process so that peak RSS is its own. Reports ms per step (median of 3 after 1 warm-up),
// tokens/s, the speed-up over the full step, peak RSS, trainable parameters and optimizer state — beside the same
// three steps in PyTorch CPU (tools/bench/lora-torch.py: the GPT-2 of gpt2-torch.py with PEFT's LoRA forward),
// torch.set_num_threads(1) with OPENBLAS_NUM_THREADS=2, the fastest setting on this 2-core machine.
//
// Usage: pnpm --filter @atelier/lora bench   (builds, then runs this; prints a Markdown table)
//   ATELIER_BENCH_QUICK=1   small shapes, to check that the script runs
//   ATELIER_BACKEND=wasm|native|webgpu   backend (default: initBackend('cpu'): native, else wasm)
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const quick = process.env.ATELIER_BENCH_QUICK === '1';
const S = quick
  ? { V: 1000, P: 128, C: 64, L: 2, H: 4, B: 1, T: 32 }
  : { V: 50257, P: 1024, C: 768, L: 12, H: 12, B: 1, T: 128 };
const MODES = {
  full: null,
  'lora-c_attn': { r: 8, lora_alpha: 16, target_modules: ['c_attn'] },
  'lora-all-linear': { r: 8, lora_alpha: 16, target_modules: 'all-linear' },
};

const dist = (pkg) => new URL(`../../packages/${pkg}/dist/index.js`, import.meta.url).href;

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

/** One mode in this process; prints one JSON line. */
async function worker(mode) {
  const tensor = await import(dist('tensor'));
  const { GPT2 } = await import(dist('gpt2'));
  const { applyLora, trainableParameters } = await import(dist('lora'));
  const { tf, initBackend } = tensor;
  const backend = await initBackend('cpu');
  const model = GPT2.fromConfig(
    { vocab_size: S.V, n_positions: S.P, n_embd: S.C, n_layer: S.L, n_head: S.H },
    { seed: 0 },
  );
  if (MODES[mode]) applyLora(model, MODES[mode]);
  const report = trainableParameters(model);
  let seed = 1;
  const ids = Array.from({ length: S.B }, () =>
    Array.from({ length: S.T }, () => (seed = (seed * 48271) % 2147483647) % S.V),
  );
  const vars = model
    .parameters()
    .filter((p) => p.trainable)
    .map((p) => p.variable);
  const opt = tensor.AdamW ? new tensor.AdamW({ lr: 1e-4, weightDecay: 0.01 }) : tf.train.adam(1e-4);
  let loss = 0;
  const ms = await median(async () => {
    const { value, grads } = tf.variableGrads(() => model.loss(ids), vars);
    opt.applyGradients(grads);
    loss = (await value.data())[0];
    tf.dispose([value, grads]);
  });
  const peak = process.resourceUsage().maxRSS / 1024;
  console.log(
    JSON.stringify({
      mode,
      ms,
      tokens_per_s: (S.B * S.T) / (ms / 1000),
      peak_rss_mb: peak,
      trainable: report.trainable,
      total: report.total,
      percent: report.percent,
      loss,
      backend: backend.name,
      optimizer: tensor.AdamW ? 'AdamW (@atelier/tensor)' : 'tf.train.adam',
    }),
  );
}

function run(cmd, args, env = {}) {
  const out = execFileSync(cmd, args, {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return JSON.parse(out.trim().split('\n').pop());
}

async function main() {
  const rows = [];
  const t0 = performance.now();
  const names = Object.keys(MODES);
  for (const [i, mode] of names.entries()) {
    const left =
      i === 0 ? '' : `, ~${Math.round((((performance.now() - t0) / i) * (names.length - i)) / 1000)} s left`;
    process.stderr.write(`lora bench: ${mode} (${i + 1}/${names.length}${left}) …\n`);
    const a = run(process.execPath, [fileURLToPath(import.meta.url), '--worker', mode]);
    const py = fileURLToPath(new URL('./lora-torch.py', import.meta.url));
    const t = run('/usr/bin/python3', [py, mode, ...(quick ? ['--quick'] : [])], {
      OPENBLAS_NUM_THREADS: '2',
    });
    if (t.trainable !== a.trainable)
      throw new Error(`${mode}: PyTorch trains ${t.trainable} values, Atelier ${a.trainable}`);
    rows.push({ ...a, torch: t });
  }
  const full = rows[0];
  const n = (v) => v.toLocaleString('en-US');
  const mb = (bytes) => `${(bytes / 2 ** 20).toFixed(bytes < 2 ** 20 ? 2 : 0)} MB`;
  console.log(
    `GPT-2 ${quick ? 'QUICK (small shapes)' : '124M shape'} (n_embd ${S.C}, ${S.L} layers, vocab ${S.V}), B=${S.B} T=${S.T}; Atelier backend ${full.backend}, optimizer ${full.optimizer}; PyTorch ${full.torch.torch} CPU with AdamW. One training step = loss + gradients + optimizer update.\n`,
  );
  console.log(
    '| step | trainable params | Atelier ms / step | speed-up vs full | Atelier peak RSS | PyTorch ms / step | speed-up vs full | PyTorch peak RSS | Atelier / PyTorch time | optimizer state (m, v) |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const t = r.torch;
    console.log(
      `| ${r.mode} | ${n(r.trainable)} (${r.percent.toFixed(2)}%) | ${r.ms.toFixed(0)} | ${(full.ms / r.ms).toFixed(2)}× | ${r.peak_rss_mb.toFixed(0)} MB | ${t.ms.toFixed(0)} | ${(full.torch.ms / t.ms).toFixed(2)}× | ${t.peak_rss_mb.toFixed(0)} MB | ${(r.ms / t.ms).toFixed(2)} | ${mb(8 * r.trainable)} |`,
    );
  }
}

const w = process.argv.indexOf('--worker');
if (w >= 0) await worker(process.argv[w + 1]);
else await main();
