/**
 * The `atelier-native` tfjs backend: tfjs-backend-cpu's storage (plain TypedArrays in ordinary ArrayBuffers,
 * no 4 GB heap ceiling) and its JavaScript kernels for light ops, with the heavy kernels replaced by the
 * native addon (packed AVX-512/AVX2 SGEMM, fused llm.c-style kernels) reading that storage zero-copy.
 */
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { tf } from '../tf.js';
import { loadNativeAddon, type NativeAddon } from './addon.js';
import { makeKernels } from './kernels.js';

/** tfjs backend name of the native CPU backend. */
export const NATIVE_BACKEND_NAME = 'atelier-native';

/** What the addon runs with. */
export interface NativeInfo {
  /** Instruction set in use: 'avx512' | 'avx2' | 'scalar'. */
  simd: string;
  /** Best instruction set the CPU supports. */
  simdMax: string;
  /** Threads in the addon's pool (caller included). */
  threads: number;
  /** SGEMM micro-kernel, e.g. "avx512 4x96". */
  gemmKernel: string;
  /** Path of the loaded .node file. */
  path: string;
  /** Names of the kernels implemented natively (the rest are tfjs-backend-cpu's). */
  kernels: string[];
}

export type NativeRegistration = { ok: true; info: NativeInfo } | { ok: false; reason: string };

/** tfjs-backend-cpu with native kernels; `addon` is the loaded binding. */
export class NativeBackend extends MathBackendCPU {
  readonly addon: NativeAddon;
  constructor(addon: NativeAddon) {
    super();
    this.addon = addon;
    // MathBackendCPU warns "install tfjs-node" on first write under Node; that advice does not apply here.
    (this as unknown as { firstUse: boolean }).firstUse = false;
  }
}

let registered: NativeRegistration | undefined;

/**
 * Registers the `atelier-native` tfjs backend (idempotent). Every tfjs-backend-cpu kernel is registered for
 * it too, then the native ones override BatchMatMul, _FusedMatMul, Softmax and the Atelier* fused kernels.
 * Does not switch backends: call `tf.setBackend('atelier-native')` (or `initBackend`). Never throws; when the
 * addon is missing or fails to load, returns `{ ok: false, reason }`.
 */
export function registerNativeBackend(): NativeRegistration {
  if (registered) return registered;
  const load = loadNativeAddon();
  if (!load.ok) return (registered = { ok: false, reason: load.reason });
  const { addon, path } = load;
  // Without AVX2/AVX-512 (e.g. ARM) only the portable C++ SGEMM is there (~10 GFLOP/s), slower than
  // tfjs-wasm's XNNPACK: decline, so 'cpu' falls back to WASM, unless ATELIER_NATIVE=force.
  if (addon.info().simdMax === 'scalar' && process.env.ATELIER_NATIVE !== 'force')
    return (registered = {
      ok: false,
      reason:
        'this CPU has no AVX2/AVX-512, and the portable kernels are slower than WASM (ATELIER_NATIVE=force to use them)',
    });
  try {
    const kernels = makeKernels(addon);
    tf.registerBackend(NATIVE_BACKEND_NAME, () => new NativeBackend(addon), 0);
    for (const config of tf.getKernelsForBackend('cpu')) {
      if (config.kernelName in kernels) continue;
      if (!tf.getKernel(config.kernelName, NATIVE_BACKEND_NAME))
        tf.registerKernel({ ...config, backendName: NATIVE_BACKEND_NAME });
    }
    for (const [kernelName, kernelFunc] of Object.entries(kernels)) {
      if (tf.getKernel(kernelName, NATIVE_BACKEND_NAME)) tf.unregisterKernel(kernelName, NATIVE_BACKEND_NAME);
      tf.registerKernel({
        kernelName,
        backendName: NATIVE_BACKEND_NAME,
        kernelFunc: kernelFunc as unknown as tf.KernelFunc,
      });
    }
    return (registered = { ok: true, info: { ...addon.info(), path, kernels: Object.keys(kernels) } });
  } catch (err) {
    return (registered = {
      ok: false,
      reason: `registering ${NATIVE_BACKEND_NAME} failed: ${err instanceof Error ? err.message : String(err)}`,
    });
  }
}

/** The loaded addon, or null (for code that updates tensor storage in place, e.g. AdamW). */
export function nativeAddon(): NativeAddon | null {
  const load = loadNativeAddon();
  return load.ok ? load.addon : null;
}
