// SGEMM GFLOP/s at GPT-2 shapes, in one run: the native addon (atelier-native), tfjs-backend-wasm (SIMD),
// and numpy / PyTorch on OpenBLAS (tools/reference/native-sgemm.py, OPENBLAS_NUM_THREADS=2).
//   node tools/bench/native-run.mjs tools/bench/native-sgemm.ts [--rounds 2] [--no-wasm] [--no-python] [--json out.json]
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { initBackend, tf } from '@atelier/tensor';
import { NATIVE_BACKEND_NAME, registerNativeBackend } from '../../packages/tensor/src/native/index.js';

interface Shape {
  name: string;
  M: number;
  N: number;
  K: number;
  tA: boolean;
  tB: boolean;
}
const shapes: Shape[] = [
  { name: 'attn.c_proj fwd', M: 128, N: 768, K: 768, tA: false, tB: false },
  { name: 'attn.c_attn fwd', M: 128, N: 2304, K: 768, tA: false, tB: false },
  { name: 'mlp.c_fc fwd', M: 128, N: 3072, K: 768, tA: false, tB: false },
  { name: 'mlp.c_proj fwd', M: 128, N: 768, K: 3072, tA: false, tB: false },
  { name: 'mlp.c_fc dW (Xᵀ·dY)', M: 768, N: 3072, K: 128, tA: true, tB: false },
  { name: 'mlp.c_fc dX (dY·Wᵀ)', M: 128, N: 768, K: 3072, tA: false, tB: true },
  { name: 'lm_head fwd (h·Wteᵀ)', M: 128, N: 50257, K: 768, tA: false, tB: true },
  { name: 'lm_head dh (dL·Wte)', M: 128, N: 768, K: 50257, tA: false, tB: false },
  { name: 'lm_head dWte (dLᵀ·h)', M: 50257, N: 768, K: 128, tA: true, tB: false },
  { name: 'square 1024', M: 1024, N: 1024, K: 1024, tA: false, tB: false },
  { name: 'square 1024 ᵀᵀ', M: 1024, N: 1024, K: 1024, tA: true, tB: true },
];
const noWasm = process.argv.includes('--no-wasm');
const noPython = process.argv.includes('--no-python');
const jsonOut = process.argv.includes('--json') ? process.argv[process.argv.indexOf('--json') + 1] : '';

function rand(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return a;
}

/** Best-of-reps GFLOP/s of tf.matMul on the active backend. */
function tfGflops(s: Shape, maxSeconds: number): number {
  const flops = 2 * s.M * s.N * s.K;
  const a = tf.tensor(rand(s.M * s.K), s.tA ? [s.K, s.M] : [s.M, s.K]);
  const b = tf.tensor(rand(s.K * s.N), s.tB ? [s.N, s.K] : [s.K, s.N]);
  const once = () => {
    const t0 = performance.now();
    const c = tf.matMul(a, b, s.tA, s.tB);
    c.dataSync();
    c.dispose();
    return (performance.now() - t0) / 1000;
  };
  let best = once(); // warm-up counts if it is all we can afford
  const reps = Math.max(1, Math.min(10, Math.floor(maxSeconds / best)));
  for (let r = 0; r < reps; r++) best = Math.min(best, once());
  tf.dispose([a, b]);
  return flops / best / 1e9;
}

/** Debian's python3 (with python3-torch) unless PYTHON says otherwise; a pyenv shim may shadow it on PATH. */
function python(): string {
  return process.env.PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
}

const results: Record<string, Record<string, number>> = {};
// Best of `rounds` rounds per implementation: the machine is shared, so each round runs native and the
// Python peers back to back and the best of each is kept (tfjs-wasm runs in the first round only).
const rounds = Number(
  process.argv.includes('--rounds') ? process.argv[process.argv.indexOf('--rounds') + 1] : '2',
);
const put = (s: Shape, impl: string, g: number) => {
  results[s.name] ??= {};
  results[s.name][impl] = Math.max(results[s.name][impl] ?? 0, g);
};

const reg = registerNativeBackend();
if (!reg.ok) throw new Error(reg.reason);
console.error(`native: ${reg.info.gemmKernel}, ${reg.info.threads} threads; ${rounds} round(s)`);
for (let round = 0; round < rounds; round++) {
  await tf.setBackend(NATIVE_BACKEND_NAME);
  for (const s of shapes) {
    put(s, 'native', tfGflops(s, 2));
    process.stderr.write(
      `\rround ${round + 1} native ${s.name.padEnd(24)} ${results[s.name].native.toFixed(1)} GFLOP/s   `,
    );
  }
  process.stderr.write('\n');

  if (!noWasm && round === 0) {
    await initBackend('wasm');
    for (const s of shapes) {
      put(s, 'tfjs-wasm', tfGflops(s, 4));
      process.stderr.write(
        `\rwasm ${s.name.padEnd(24)} ${results[s.name]['tfjs-wasm'].toFixed(1)} GFLOP/s      `,
      );
    }
    process.stderr.write('\n');
  }

  if (!noPython) {
    const py = spawnSync(python(), ['tools/reference/native-sgemm.py', JSON.stringify(shapes)], {
      encoding: 'utf8',
      env: { ...process.env, OPENBLAS_NUM_THREADS: '2', OMP_NUM_THREADS: '1' },
    });
    if (py.status !== 0)
      console.error(`python reference failed: ${py.stderr.split('\n').slice(-3).join(' ')}`);
    for (const line of py.stdout.split('\n').filter(Boolean)) {
      const r = JSON.parse(line) as Shape & { impl: string; gflops: number };
      put(
        shapes.find((x) => x.M === r.M && x.N === r.N && x.K === r.K && x.tA === r.tA && x.tB === r.tB) ?? r,
        r.impl,
        r.gflops,
      );
    }
  }
}

const impls = ['native', 'tfjs-wasm', 'numpy', 'torch'].filter((i) =>
  Object.values(results).some((r) => i in r),
);
const header = `| shape (M×N×K) | ${impls.join(' | ')} | native / best other |`;
console.log(`\n${cpus().length} × ${cpus()[0]?.model ?? 'cpu'} — SGEMM GFLOP/s (best of ${rounds} rounds)\n`);
console.log(header);
console.log(
  `|${header
    .split('|')
    .slice(1, -1)
    .map(() => '---')
    .join('|')}|`,
);
for (const s of shapes) {
  const r = results[s.name];
  const others = impls.filter((i) => i !== 'native' && r[i] !== undefined).map((i) => r[i]);
  const ratio = others.length ? (r.native / Math.max(...others)).toFixed(2) : '—';
  const dims = `${s.M}×${s.N}×${s.K}${s.tA ? ' Aᵀ' : ''}${s.tB ? ' Bᵀ' : ''}`;
  console.log(
    `| ${s.name}: ${dims} | ${impls.map((i) => r[i]?.toFixed(1) ?? '—').join(' | ')} | ${ratio}× |`,
  );
}
if (jsonOut) writeFileSync(jsonOut, JSON.stringify(results, null, 2));
