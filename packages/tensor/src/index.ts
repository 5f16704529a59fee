/**
 * @atelier/tensor — the tensor layer every Atelier package runs on.
 *
 *  - `tf`: the tfjs-core namespace (gradients and chained ops registered). Other packages import tfjs ONLY
 *    through this re-export, so there is one engine.
 *  - `initBackend(kind)`: picks and initialises a backend (WebGPU, native CPU, WASM).
 *  - fused ops: `layerNorm`, `gelu`, `causalSelfAttention`, `softmaxCrossEntropy`, `embedding`, `matmul`.
 *  - `AdamW`: decoupled-weight-decay Adam, in place on the native backend.
 *  - safetensors read/write.
 */

export * from './backend.js';
export * as kernelNames from './kernels/names.js';
export { setWasmMatMulFastPath } from './kernels/wasm-matmul.js';
export { registerNativeBackend } from './native/index.js';
export * from './ops.js';
export { AdamW, type AdamWConfig, type AdamWSlotState, type AdamWState } from './optim/index.js';
export * from './safetensors.js';
export { tf } from './tf.js';
