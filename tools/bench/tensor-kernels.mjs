#!/usr/bin/env node
// Benchmark of @atelier/tensor's kernels, one run, every backend available here:
//  - matmul GFLOP/s at GPT-2 small shapes, plain and with a transposed operand, Atelier's path vs stock tfjs;
//  - ms of each fused op (forward, and forward+backward) vs the stock tfjs composition it replaces.
// Usage: pnpm --filter @atelier/tensor bench   (builds, then runs this; prints a Markdown table)
//   ATELIER_BENCH_BACKENDS=wasm,native,webgpu  (default: every one that initialises)
//   ATELIER_BENCH_QUICK=1                       (small shapes, to check that the script runs)
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

// The package's private bench build (see its `bench` script) if present, else dist/.
const privateBuild = new URL(
  '../../packages/tensor/node_modules/.cache/tensor-bench/index.js',
  import.meta.url,
);
const entry = existsSync(privateBuild)
  ? privateBuild
  : new URL('../../packages/tensor/dist/index.js', import.meta.url);
const lib = await import(entry.href);
const { tf, initBackend, disposeBackend, kernelNames, setWasmMatMulFastPath, probeWebGPU } = lib;

const quick = process.env.ATELIER_BENCH_QUICK === '1';
const wanted = (process.env.ATELIER_BENCH_BACKENDS ?? 'wasm,native,webgpu').split(',');

// GPT-2 small: C=768, 12 heads, vocab 50257; B=4, T=128 → N=512 rows.
const S = quick
  ? { B: 2, T: 16, C: 64, H: 4, V: 1000, lmRows: 16 }
  : { B: 4, T: 128, C: 768, H: 12, V: 50257, lmRows: 128 };
let N = S.B * S.T;

/** Wall time (ms) of one call of `fn`, which returns a tensor (or tensors); waits for the backend to finish. */
async function once(fn) {
  const t0 = performance.now();
  const out = fn();
  const outs = Array.isArray(out) ? out : [out];
  // A scalar read-back forces completion (WebGPU is asynchronous) at the cost of one tiny reduction.
  await Promise.all(outs.map((t) => tf.tidy(() => tf.sum(t)).data()));
  const ms = performance.now() - t0;
  tf.dispose(outs);
  return ms;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Median times of `ours` and `stock`, measured alternately (A, B, A, B, …) after one warm-up of each, so that
 * load from other processes on this shared machine hits both alike. A side slower than 5 s is timed once;
 * ops faster than 30 ms get 15 samples.
 */
async function compare(ours, stock, reps = 3) {
  const a = [];
  const b = [];
  const warmOurs = await ours();
  const warmStock = await stock();
  const slowOurs = warmOurs > 5000;
  const slowStock = warmStock > 5000;
  // Millisecond-scale ops are at the mercy of scheduling noise: take many more samples of them.
  const n = Math.max(warmOurs, warmStock) < 30 ? Math.max(reps, 15) : reps;
  for (let i = 0; i < n; i++) {
    if (!slowOurs || a.length === 0) a.push(await ours());
    if (!slowStock || b.length === 0) b.push(await stock());
  }
  return [median(a), median(b)];
}

/** Runs `fn` with Atelier's fused kernels hidden from the active backend (stock tfjs composition). */
async function composite(fn) {
  const backend = tf.getBackend();
  const saved = kernelNames.ALL_KERNELS.map((n) => tf.getKernel(n, backend)).filter(Boolean);
  for (const k of saved) tf.unregisterKernel(k.kernelName, backend);
  try {
    return await fn();
  } finally {
    for (const k of saved) tf.registerKernel(k);
  }
}

const rand = (shape, scale = 1) => tf.mul(tf.randomNormal(shape, 0, 1, 'float32', 7), scale);

async function matmulRows(backend) {
  const rows = [];
  const shapes = [
    ['c_attn forward  x·W', [N, S.C], [S.C, 3 * S.C], false, false],
    ['c_attn dW  xᵀ·dy', [N, S.C], [N, 3 * S.C], true, false],
    ['c_attn dx  dy·Wᵀ', [N, 3 * S.C], [S.C, 3 * S.C], false, true],
    ['LM head forward  x·wteᵀ', [S.lmRows, S.C], [S.V, S.C], false, true],
    ['LM head dW  dyᵀ·x', [S.lmRows, S.V], [S.lmRows, S.C], true, false],
  ];
  for (const [label, aShape, bShape, ta, tb] of shapes) {
    const a = rand(aShape);
    const b = rand(bShape);
    const m = ta ? aShape[1] : aShape[0];
    const k = ta ? aShape[0] : aShape[1];
    const n = tb ? bShape[0] : bShape[1];
    const flop = 2 * m * k * n;
    const run = () => once(() => tf.matMul(a, b, ta, tb));
    let ms;
    let stockMs;
    if (backend === 'wasm' && (ta || tb)) {
      const stock = async () => {
        setWasmMatMulFastPath(false);
        try {
          return await run();
        } finally {
          setWasmMatMulFastPath(true);
        }
      };
      [ms, stockMs] = await compare(run, stock, flop > 5e9 ? 1 : 3);
    } else {
      await run();
      ms = median([await run(), await run(), await run()]);
      stockMs = undefined; // the same kernel: Atelier changes nothing here
    }
    rows.push({
      label: `matmul ${label} [${m}×${k}]·[${k}×${n}]`,
      ours: flop / ms / 1e6,
      stock: stockMs === undefined ? undefined : flop / stockMs / 1e6,
    });
    tf.dispose([a, b]);
  }
  return rows;
}

async function kernelRows() {
  const { B, T, C, H, V } = S;
  const ops = [];
  {
    const x = rand([N, C]);
    const g = rand([C]);
    const b = rand([C]);
    const w = rand([N, C]);
    ops.push([
      'layerNorm [N,C]',
      () => op.layerNorm(x, g, b),
      (f) => tf.grads((xx, gg, bb) => tf.sum(tf.mul(f(xx, gg, bb), w)))([x, g, b]),
      (xx, gg, bb) => op.layerNorm(xx, gg, bb),
    ]);
  }
  {
    const x = rand([N, 4 * C]);
    const w = rand([N, 4 * C]);
    ops.push([
      'gelu [N,4C]',
      () => op.gelu(x),
      (f) => tf.grad((xx) => tf.sum(tf.mul(f(xx), w)))(x),
      (xx) => op.gelu(xx),
    ]);
  }
  {
    const qkv = rand([B, T, 3 * C]);
    const w = rand([B, T, C]);
    ops.push([
      `attention B=${B} T=${T} C=${C} H=${H}`,
      () => op.attn(qkv),
      (f) => tf.grad((q) => tf.sum(tf.mul(f(q), w)))(qkv),
      (q) => op.attn(q),
    ]);
  }
  {
    const logits = rand([N, V], 2);
    const targets = tf.tensor1d(
      Array.from({ length: N }, (_, i) => (i * 7919) % V),
      'int32',
    );
    ops.push([
      `crossEntropy [N,V=${V}]`,
      () => op.ce(logits, targets),
      (f) => tf.grad((l) => f(l, targets))(logits),
      (l, t) => op.ce(l, t),
    ]);
  }
  {
    const wte = rand([V, C]);
    const ids = tf.tensor1d(
      Array.from({ length: N }, (_, i) => (i * 104729) % V),
      'int32',
    );
    const w = rand([N, C]);
    ops.push([
      `embedding [V,C] ← [N]`,
      () => op.emb(wte, ids),
      (f) => tf.grad((ww) => tf.sum(tf.mul(f(ww, ids), w)))(wte),
      (ww, ii) => op.emb(ww, ii),
    ]);
  }
  const rows = [];
  for (const [label, fwd, withGrad, f] of ops) {
    const [fusedFwd, stockFwd] = await compare(
      () => once(fwd),
      () => composite(() => once(fwd)),
    );
    const [fusedBwd, stockBwd] = await compare(
      () => once(() => withGrad(f)),
      () => composite(() => once(() => withGrad(f))),
    );
    // embedding's forward is tf.gather either way: only its gradient is fused.
    if (!label.startsWith('embedding')) {
      rows.push({ label: `${label} forward`, ours: fusedFwd, stock: stockFwd, unit: 'ms' });
    }
    rows.push({ label: `${label} forward+backward`, ours: fusedBwd, stock: stockBwd, unit: 'ms' });
    console.error(`  ${label}: done`);
  }
  return rows;
}

// The ops under short names.
const op = {
  layerNorm: lib.layerNorm,
  gelu: lib.gelu,
  attn: (qkv) => lib.causalSelfAttention(qkv, S.H),
  ce: (l, t) => lib.softmaxCrossEntropy(l, t),
  emb: (w, ids) => lib.embedding(w, ids),
};

const results = [];
for (const kind of wanted) {
  if (kind === 'webgpu') {
    const p = await probeWebGPU();
    if (!p.adapter) {
      console.error(`webgpu: skipped (${p.reason})`);
      continue;
    }
  }
  let info;
  try {
    info = await initBackend(kind);
  } catch (err) {
    console.error(`${kind}: skipped (${err.message})`);
    continue;
  }
  const label = info.adapter ? `${info.name} (${info.adapter.description})` : info.name;
  console.error(`benchmarking ${label} …`);
  if (kind === 'webgpu' && !quick) {
    // Software WebGPU is ~10× slower than the CPU path: smaller shapes keep the run short.
    Object.assign(S, { B: 1, T: 64, C: 256, H: 4, V: 8192, lmRows: 64 });
    N = S.B * S.T;
  }
  const rows = [...(await matmulRows(kind)), ...(await kernelRows())];
  for (const r of rows) {
    console.error(
      `  ${r.label}: ours ${r.ours.toFixed(2)} stock ${r.stock?.toFixed(2) ?? 'same'} ${r.unit ?? 'GFLOP/s'}`,
    );
  }
  results.push({ backend: label, shapes: { ...S }, rows });
  await disposeBackend();
}

// Markdown: for GFLOP/s higher is better (ratio ours/stock); for ms lower is better (ratio stock/ours).
console.log(`Run ${new Date().toISOString().slice(0, 16)}Z, Node ${process.version}.\n`);
for (const r of results) {
  const s = r.shapes;
  console.log(`**${r.backend}** (B=${s.B}, T=${s.T}, C=${s.C}, heads=${s.H}, V=${s.V})\n`);
  console.log('| what | Atelier | stock tfjs | speed-up |');
  console.log('|---|---|---|---|');
  for (const row of r.rows) {
    const gf = !row.unit;
    const fmt = (v) => (gf ? `${v.toFixed(1)} GFLOP/s` : `${v.toFixed(v < 10 ? 2 : 0)} ms`);
    if (row.stock === undefined) {
      console.log(`| ${row.label} | ${fmt(row.ours)} | (same kernel) | — |`);
      continue;
    }
    const ratio = gf ? row.ours / row.stock : row.stock / row.ours;
    console.log(`| ${row.label} | ${fmt(row.ours)} | ${fmt(row.stock)} | ${ratio.toFixed(2)}× |`);
  }
  console.log('');
}
