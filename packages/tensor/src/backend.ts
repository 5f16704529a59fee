/**
 * Backend selection: WebGPU (Dawn in Node, through the `webgpu` npm package), the native CPU backend
 * (`atelier-native`, a Node addon built at install), or tfjs-backend-wasm with SIMD.
 *
 * `initBackend('auto')` picks WebGPU on a hardware adapter and the CPU path otherwise (WebGPU on a software
 * rasteriser such as Mesa lavapipe runs matmul at 2–4 GFLOP/s, far below the CPU path). The CPU path is the
 * native backend when it loads, else WASM, with a one-line notice naming why.
 * `ATELIER_BACKEND=auto|webgpu|cpu|wasm|native` overrides the argument.
 */
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { registerAtelierKernels } from './kernels/register.js';
import { tf } from './tf.js';

export type BackendKind = 'auto' | 'webgpu' | 'cpu' | 'wasm' | 'native';

/** What `initBackend` chose. */
export interface BackendInfo {
  /** tfjs backend name that is now active ('webgpu', 'wasm' or 'atelier-native'). */
  name: string;
  /** The concrete kind ('cpu' resolves to 'native' or 'wasm'). */
  kind: Exclude<BackendKind, 'auto' | 'cpu'>;
  /** The WebGPU adapter (webgpu only). `isFallbackAdapter` is true for software rasterisers. */
  adapter?: AdapterSummary;
  /** One line for humans: what runs the kernels (adapter, SIMD level, threads). */
  description: string;
  /** One line explaining a fallback (e.g. why the native backend did not load), if any. */
  notice?: string;
}

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  description: string;
  isFallbackAdapter: boolean;
}

const KINDS: readonly BackendKind[] = ['auto', 'webgpu', 'cpu', 'wasm', 'native'];

let current: BackendInfo | undefined;
let gpuDevice: GPUDeviceLike | undefined;

/**
 * Picks and initialises a tfjs backend, registers Atelier's fused kernels for it, and makes it active.
 * Calling it again switches backends (the previous WebGPU device is destroyed first).
 *
 * @param kind 'auto' (default): WebGPU on a hardware adapter, else 'cpu'. 'cpu': native, else WASM.
 *   'webgpu', 'wasm', 'native': exactly that backend, or an error saying why it is unavailable.
 *   The environment variable ATELIER_BACKEND, when set, overrides this argument.
 */
export async function initBackend(kind: BackendKind = 'auto'): Promise<BackendInfo> {
  const requested = resolveKind(kind);
  if (current) await disposeBackend();
  let info: BackendInfo;
  if (requested === 'webgpu') {
    info = await initWebGPU();
  } else if (requested === 'native') {
    const r = await initNative();
    if (!r.ok) throw new Error(`@atelier/tensor: the native CPU backend is unavailable: ${r.reason}`);
    info = r.info;
  } else if (requested === 'wasm') {
    info = await initWasm();
  } else if (requested === 'cpu') {
    info = await initCpu();
  } else {
    // auto: a hardware WebGPU adapter wins; software adapters are much slower than the CPU path.
    const probe = await probeWebGPU();
    if (probe.adapter && !probe.adapter.isFallbackAdapter) {
      info = await initWebGPU();
    } else {
      info = await initCpu();
    }
  }
  await registerAtelierKernels(info.name);
  current = info;
  return info;
}

/** The backend chosen by the last `initBackend` call, if any. */
export function currentBackend(): BackendInfo | undefined {
  return current;
}

/**
 * Releases the active backend's resources. For WebGPU this disposes tfjs's backend and destroys the device,
 * so the process can exit. Tensors of that backend become invalid.
 */
export async function disposeBackend(): Promise<void> {
  const name = current?.name;
  current = undefined;
  if (name && tf.engine().registryFactory[name]) {
    if (name === 'webgpu') {
      // tfjs's WebGPUBackend.dispose() leaves the device alive; wait for queued work, then destroy it.
      const device = gpuDevice;
      gpuDevice = undefined;
      if (device) await device.queue.onSubmittedWorkDone();
      tf.removeBackend(name);
      device?.destroy();
    }
  }
}

function resolveKind(kind: BackendKind): BackendKind {
  const env = process.env.ATELIER_BACKEND?.trim();
  const chosen = env ? (env.toLowerCase() as BackendKind) : kind;
  if (!KINDS.includes(chosen)) {
    const where = env ? `ATELIER_BACKEND=${JSON.stringify(env)}` : `initBackend(${JSON.stringify(kind)})`;
    throw new Error(`@atelier/tensor: unknown backend in ${where}; expected one of ${KINDS.join(', ')}`);
  }
  return chosen;
}

// ---------------------------------------------------------------------------------------------------------
// CPU: native addon, else WASM

async function initCpu(): Promise<BackendInfo> {
  const native = await initNative();
  if (native.ok) return native.info;
  const info = await initWasm();
  info.notice = `native CPU backend unavailable (${native.reason}); using WASM`;
  console.warn(`@atelier/tensor: ${info.notice}`);
  return info;
}

interface NativeModule {
  registerNativeBackend(): { ok: true; info?: unknown } | { ok: false; reason: string };
}

async function initNative(): Promise<{ ok: true; info: BackendInfo } | { ok: false; reason: string }> {
  let mod: NativeModule;
  try {
    // Loaded lazily (and by a computed specifier) so this package works before the addon exists.
    const specifier = './native/index.js';
    mod = (await import(/* @vite-ignore */ specifier)) as NativeModule;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' && String((err as Error).message).includes('native/index.js')) {
      return { ok: false, reason: 'not part of this build (native/index.js missing)' };
    }
    return { ok: false, reason: `cannot load native/index.js: ${firstLine(err)}` };
  }
  try {
    const r = mod.registerNativeBackend();
    if (!r.ok) return { ok: false, reason: r.reason };
    if (!(await tf.setBackend('atelier-native'))) {
      return { ok: false, reason: "tf.setBackend('atelier-native') failed" };
    }
    await tf.ready();
    const details = (r.info ?? {}) as { gemmKernel?: string; simd?: string; threads?: number };
    const what = [
      details.gemmKernel ?? details.simd,
      details.threads ? `${details.threads} threads` : undefined,
    ];
    const description = `native CPU backend (${what.filter(Boolean).join(', ') || 'addon'})`;
    return { ok: true, info: { name: 'atelier-native', kind: 'native', description } };
  } catch (err) {
    return { ok: false, reason: firstLine(err) };
  }
}

let wasmPathsSet = false;

async function initWasm(): Promise<BackendInfo> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  if (!wasmPathsSet) {
    // Load the .wasm binaries from the installed package by file path (Node reads them with fs).
    const require = createRequire(import.meta.url);
    const dir = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
    wasm.setWasmPaths(`${dir}/`);
    wasmPathsSet = true;
  }
  if (!(await tf.setBackend('wasm'))) throw new Error("@atelier/tensor: tf.setBackend('wasm') failed");
  await tf.ready();
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  return {
    name: 'wasm',
    kind: 'wasm',
    description: `tfjs-backend-wasm (${simd ? 'SIMD' : 'no SIMD'}, 1 thread)`,
  };
}

// ---------------------------------------------------------------------------------------------------------
// WebGPU through Dawn (`webgpu` npm package)

/** The subset of GPUDevice this module uses (the `webgpu` package's types clash with tfjs's). */
interface GPUDeviceLike {
  destroy(): void;
  queue: { onSubmittedWorkDone(): Promise<void> };
  limits: Record<string, number>;
}
interface GPUAdapterLike {
  info?: { vendor?: string; architecture?: string; description?: string; isFallbackAdapter?: boolean };
  isFallbackAdapter?: boolean;
  features: Set<string>;
  limits: Record<string, number>;
  requestDevice(desc?: unknown): Promise<GPUDeviceLike>;
}
interface GPULike {
  requestAdapter(opts?: unknown): Promise<GPUAdapterLike | null>;
}

/** Keeps Dawn's `create()` object alive for the whole process: if it is collected, dawn.node crashes. */
const DAWN_KEY = Symbol.for('@atelier/tensor.dawn');

async function getGPU(): Promise<{ gpu: GPULike } | { gpu: null; reason: string }> {
  const g = globalThis as Record<symbol, unknown>;
  if (g[DAWN_KEY]) return { gpu: g[DAWN_KEY] as GPULike };
  setMesaDefaults();
  let webgpu: { create(flags: string[]): GPULike; globals: Record<string, unknown> };
  try {
    webgpu = (await import('webgpu')) as unknown as typeof webgpu;
  } catch (err) {
    return { gpu: null, reason: `cannot load the 'webgpu' package (Dawn): ${firstLine(err)}` };
  }
  for (const [k, v] of Object.entries(webgpu.globals)) {
    if (!(k in globalThis))
      Object.defineProperty(globalThis, k, { value: v, configurable: true, writable: true });
  }
  let gpu: GPULike;
  try {
    gpu = webgpu.create([]);
  } catch (err) {
    return { gpu: null, reason: `Dawn failed to start: ${firstLine(err)}` };
  }
  g[DAWN_KEY] = gpu;
  // tfjs-backend-webgpu looks for navigator.gpu; Node 21+ has a read-only navigator, Node 20 none.
  const nav = (globalThis as { navigator?: object }).navigator ?? {};
  if (!('gpu' in nav) || (nav as { gpu?: unknown }).gpu !== gpu) {
    const patched = Object.create(nav, { gpu: { value: gpu, enumerable: true } });
    Object.defineProperty(globalThis, 'navigator', { value: patched, configurable: true, writable: true });
  }
  return { gpu };
}

/** Mesa complains without XDG_RUNTIME_DIR and caches shaders under ~/.cache without MESA_SHADER_CACHE_DIR. */
function setMesaDefaults(): void {
  const uid = process.getuid?.() ?? 0;
  if (!process.env.XDG_RUNTIME_DIR) {
    const dir = join(tmpdir(), `atelier-runtime-${uid}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    process.env.XDG_RUNTIME_DIR = dir;
  }
  if (!process.env.MESA_SHADER_CACHE_DIR) {
    const dir = join(tmpdir(), `atelier-mesa-shader-cache-${uid}`);
    mkdirSync(dir, { recursive: true });
    process.env.MESA_SHADER_CACHE_DIR = dir;
  }
}

function summarize(adapter: GPUAdapterLike): AdapterSummary {
  const info = adapter.info ?? {};
  return {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    description: info.description ?? '',
    isFallbackAdapter: Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter),
  };
}

/**
 * Looks for a WebGPU adapter without creating a device. `adapter` is null (with `reason`) where WebGPU is
 * unavailable: no `webgpu` package for this platform, or no Vulkan/GL driver (see tools/setup-system.sh).
 */
export async function probeWebGPU(): Promise<{ adapter: AdapterSummary | null; reason?: string }> {
  const r = await getGPU();
  if (!r.gpu) return { adapter: null, reason: r.reason };
  let adapter: GPUAdapterLike | null;
  try {
    adapter = await r.gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (err) {
    return { adapter: null, reason: `requestAdapter failed: ${firstLine(err)}` };
  }
  if (!adapter) return { adapter: null, reason: 'no WebGPU adapter (no GPU driver, nor Mesa lavapipe ≥ 25)' };
  return { adapter: summarize(adapter) };
}

async function initWebGPU(): Promise<BackendInfo> {
  const r = await getGPU();
  if (!r.gpu) throw new Error(`@atelier/tensor: WebGPU unavailable: ${r.reason}`);
  const adapter = await r.gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    throw new Error(
      '@atelier/tensor: WebGPU unavailable: no adapter (install a GPU driver or Mesa lavapipe ≥ 25; see tools/setup-system.sh)',
    );
  }
  // Ask for the adapter's maxima: GPT-2's token embedding alone (154 MB) exceeds the default 128 MiB binding.
  const names = [
    'maxStorageBufferBindingSize',
    'maxBufferSize',
    'maxComputeWorkgroupStorageSize',
    'maxComputeWorkgroupsPerDimension',
    'maxComputeWorkgroupSizeX',
    'maxComputeInvocationsPerWorkgroup',
    'maxStorageBuffersPerShaderStage',
  ];
  const requiredLimits: Record<string, number> = {};
  for (const n of names) if (adapter.limits[n] !== undefined) requiredLimits[n] = adapter.limits[n];
  const requiredFeatures = ['timestamp-query'].filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu');
  if (tf.engine().registryFactory.webgpu) tf.removeBackend('webgpu');
  const backend = new WebGPUBackend(device as never, adapter.info as never);
  tf.registerBackend('webgpu', () => backend);
  if (!(await tf.setBackend('webgpu'))) {
    device.destroy();
    throw new Error("@atelier/tensor: tf.setBackend('webgpu') failed");
  }
  await tf.ready();
  gpuDevice = device;
  const summary = summarize(adapter);
  const description = `WebGPU: ${summary.description || summary.vendor || 'adapter'}${summary.isFallbackAdapter ? ' (software)' : ''}`;
  return { name: 'webgpu', kind: 'webgpu', adapter: summary, description };
}

function firstLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0];
}
