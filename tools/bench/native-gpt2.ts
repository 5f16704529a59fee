// GPT-2 training step / forward throughput on the native CPU backend (and optionally WASM), random weights
// and random tokens. Pair with tools/reference/native_gpt2_torch.py for the PyTorch side.
//   node tools/bench/native-run.mjs tools/bench/native-gpt2.ts --preset gpt2 --batch 1 --seq 128 --steps 5
//   … --profile   print the kernels that take the time in one forward and one training step
//   … --rounds 2  alternate ours / PyTorch this many times and keep each side's best (shared machine)
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { GPT2 } from '@atelier/gpt2';
import { initBackend, tf } from '@atelier/tensor';
// Until @atelier/tensor's index re-exports them (its owner is wiring them in): the native backend's own entry.
import { NATIVE_BACKEND_NAME, registerNativeBackend } from '../../packages/tensor/src/native/index.js';
import { AdamW } from '../../packages/tensor/src/optim/index.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}
const preset = arg('preset', 'gpt2') as 'gpt2';
const B = Number(arg('batch', '1'));
const T = Number(arg('seq', '128'));
const steps = Number(arg('steps', '5'));
const backend = arg('backend', 'native') as 'native';
const profile = process.argv.includes('--profile');
const withTorch = !process.argv.includes('--no-torch');
const rounds = Number(arg('rounds', '2'));

let peakRss = 0;
const sampleRss = () => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
};
const timer = setInterval(sampleRss, 20);

async function init(): Promise<{ name: string }> {
  if (backend !== 'native') return initBackend(backend);
  const r = registerNativeBackend();
  if (!r.ok) throw new Error(r.reason);
  await tf.setBackend(NATIVE_BACKEND_NAME);
  return { name: NATIVE_BACKEND_NAME };
}
const info = await init();
const model = GPT2.fromConfig(preset, { seed: 1 });
const V = model.config.vocab_size;
let seed = 7;
const randomIds = () =>
  Array.from({ length: B }, () =>
    Array.from({ length: T }, () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % V;
    }),
  );
const opt = new AdamW({ lr: 1e-4, weightDecay: 0.1 });
const params = model.parameters();
const vars = params.filter((p) => p.trainable).map((p) => p.variable);

function trainStep(): number {
  const ids = randomIds();
  const { value, grads } = tf.variableGrads(() => model.loss(ids, { training: false }), vars);
  opt.applyGradients(grads);
  const loss = value.dataSync()[0];
  tf.dispose([value, ...Object.values(grads)]);
  return loss;
}
function forward(): void {
  const logits = model.forward(randomIds());
  logits.dataSync();
  logits.dispose();
}
let cpuSeconds = 0; // process CPU time of the last timed call (all threads)
const time = (f: () => unknown) => {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  f();
  const c = process.cpuUsage(c0);
  cpuSeconds = (c.user + c.system) / 1e6;
  return (performance.now() - t0) / 1000;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

console.error(
  `backend ${info.name}, ${preset} (${(model.parameterCount() / 1e6).toFixed(1)}M), B=${B} T=${T}, ${rounds} round(s)`,
);

interface Measured {
  impl: string;
  params: number;
  forwardTokPerS: number;
  trainTokPerS: number;
  forwardCpuS: number;
  trainCpuS: number;
  peakRssMiB: number;
}

/** Medians over `steps` forward passes and training steps (after one warm-up of each). */
function measureOurs(): Measured {
  time(forward);
  const fwd: number[] = [];
  const fwdCpu: number[] = [];
  for (let i = 0; i < steps; i++) {
    fwd.push(time(forward));
    fwdCpu.push(cpuSeconds);
  }
  time(trainStep);
  const train: number[] = [];
  const trainCpu: number[] = [];
  for (let i = 0; i < steps; i++) {
    train.push(time(trainStep));
    trainCpu.push(cpuSeconds);
    process.stderr.write(`\rtrain step ${i + 1}/${steps}: ${train[i].toFixed(2)} s`);
  }
  process.stderr.write('\n');
  sampleRss();
  return {
    impl: `${info.name} (Atelier)`,
    params: model.parameterCount(),
    forwardTokPerS: (B * T) / median(fwd),
    trainTokPerS: (B * T) / median(train),
    forwardCpuS: median(fwdCpu),
    trainCpuS: median(trainCpu),
    peakRssMiB: Math.round(peakRss / 2 ** 20),
  };
}

/** The same model in PyTorch (tools/reference/native-gpt2-torch.py), run after ours so they never overlap. */
function measureTorch(): Measured | null {
  const c = model.config;
  const cfg = { n_embd: c.n_embd, n_layer: c.n_layer, n_head: c.n_head, vocab_size: c.vocab_size };
  const python = process.env.PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
  console.error('PyTorch reference …');
  const py = spawnSync(
    python,
    [
      'tools/reference/native-gpt2-torch.py',
      JSON.stringify({ ...cfg, n_positions: c.n_positions, B, T, steps }),
    ],
    { encoding: 'utf8', env: { ...process.env, OPENBLAS_NUM_THREADS: '2', OMP_NUM_THREADS: '1' } },
  );
  if (py.status !== 0) {
    console.error(`PyTorch reference failed: ${py.stderr.trim().split('\n').slice(-2).join(' ')}`);
    return null;
  }
  return JSON.parse(py.stdout.trim().split('\n').pop() ?? '{}') as Measured;
}

/** Best of two measurements: the machine is shared, so each side keeps its least-disturbed round. */
function best(a: Measured | null, b: Measured | null): Measured | null {
  if (!a || !b) return a ?? b;
  return {
    ...a,
    forwardTokPerS: Math.max(a.forwardTokPerS, b.forwardTokPerS),
    trainTokPerS: Math.max(a.trainTokPerS, b.trainTokPerS),
    forwardCpuS: Math.min(a.forwardCpuS, b.forwardCpuS),
    trainCpuS: Math.min(a.trainCpuS, b.trainCpuS),
    peakRssMiB: Math.max(a.peakRssMiB, b.peakRssMiB),
  };
}

let ours: Measured | null = null;
let torch: Measured | null = null;
for (let round = 0; round < rounds; round++) {
  ours = best(ours, measureOurs());
  console.log(JSON.stringify({ round, preset, B, T, ...ours }));
  if (withTorch) {
    torch = best(torch, measureTorch());
    if (torch) console.log(JSON.stringify({ round, preset, B, T, ...torch }));
  }
}

/** Wall time per kernel during one call of f: every kernel of the active backend wrapped with a timer. */
function profileOnce(label: string, f: () => unknown): void {
  const name = tf.getBackend();
  const spent = new Map<string, { ms: number; cpuMs: number; calls: number }>();
  const calls: { name: string; ms: number; shapes: string }[] = [];
  const configs = tf.getKernelsForBackend(name);
  for (const k of configs) {
    tf.unregisterKernel(k.kernelName, name);
    tf.registerKernel({
      ...k,
      kernelFunc: (args) => {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        const out = k.kernelFunc(args);
        const e = spent.get(k.kernelName) ?? { ms: 0, cpuMs: 0, calls: 0 };
        e.ms += performance.now() - t0;
        const c = process.cpuUsage(c0);
        e.cpuMs += (c.user + c.system) / 1000;
        const shapes = Object.values(args.inputs).map((t) => (t ? `[${t.shape}]` : '-'));
        calls.push({ name: k.kernelName, ms: performance.now() - t0, shapes: shapes.join(' ') });
        e.calls++;
        spent.set(k.kernelName, e);
        return out;
      },
    });
  }
  const totalMs = time(f) * 1000;
  const totalCpuMs = cpuSeconds * 1000;
  for (const k of configs) {
    tf.unregisterKernel(k.kernelName, name);
    tf.registerKernel(k);
  }
  const inKernels = [...spent.values()].reduce((a, b) => a + b.ms, 0);
  const inKernelsCpu = [...spent.values()].reduce((a, b) => a + b.cpuMs, 0);
  console.error(
    `${label}: ${totalMs.toFixed(0)} ms wall (${totalCpuMs.toFixed(0)} ms CPU), in kernels ${inKernels.toFixed(0)} ms wall (${inKernelsCpu.toFixed(0)} ms CPU):`,
  );
  for (const [k, e] of [...spent].sort((a, b) => b[1].cpuMs - a[1].cpuMs).slice(0, 14))
    console.error(
      `  ${k.padEnd(26)} ${e.ms.toFixed(1).padStart(8)} ms wall ${e.cpuMs.toFixed(1).padStart(8)} ms CPU ${String(e.calls).padStart(5)} calls`,
    );
  console.error('  slowest calls:');
  for (const c of calls.sort((a, b) => b.ms - a.ms).slice(0, 8))
    console.error(`    ${c.name.padEnd(24)} ${c.ms.toFixed(1).padStart(8)} ms  ${c.shapes}`);
}
if (profile) {
  profileOnce('forward', forward);
  profileOnce('train step', trainStep);
}
clearInterval(timer);
model.dispose();
opt.dispose();

if (ours && torch) {
  const row = (label: string, a: number, b: number, digits = 1) =>
    `| ${label} | ${a.toFixed(digits)} | ${b.toFixed(digits)} | ${(a / b).toFixed(2)}× |`;
  console.log(`\n${preset} B=${B} T=${T} — ${ours.impl} vs ${torch.impl} (best of ${rounds} rounds)\n`);
  console.log('| metric | Atelier native | PyTorch | ratio |\n|---|---|---|---|');
  console.log(row('forward tokens/s', ours.forwardTokPerS, torch.forwardTokPerS));
  console.log(row('training tokens/s (full, AdamW)', ours.trainTokPerS, torch.trainTokPerS));
  console.log(row('CPU-seconds per forward (lower is better)', ours.forwardCpuS, torch.forwardCpuS, 2));
  console.log(row('CPU-seconds per training step (lower is better)', ours.trainCpuS, torch.trainCpuS, 2));
  console.log(row('peak RSS MiB', ours.peakRssMiB, torch.peakRssMiB, 0));
}
