/**
 * Which fused kernels each backend gets. JS kernels (./math.ts) serve 'wasm', tfjs 'cpu', and fill any gap
 * of the native backend; WGSL kernels serve 'webgpu'. Registration never replaces an existing kernel.
 */
import { registerJsKernels } from './js.js';
import { registerWasmIdentity } from './wasm-identity.js';
import { registerWasmMatMul } from './wasm-matmul.js';

/** Registers Atelier's kernels for the backend named `backendName` (idempotent). */
export async function registerAtelierKernels(backendName: string): Promise<void> {
  if (backendName === 'webgpu') {
    const { registerWebGPUKernels } = await import('./webgpu.js');
    registerWebGPUKernels();
    return;
  }
  registerJsKernels(backendName);
  if (backendName === 'wasm') {
    registerWasmMatMul();
    registerWasmIdentity();
  }
}

// The CPU-memory backends need nothing at run time, so they get their kernels as soon as this loads.
registerJsKernels('wasm');
registerJsKernels('cpu');
