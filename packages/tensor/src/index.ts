/**
 * @atelier/tensor — the tensor layer every Atelier package runs on.
 *
 * CONTRACT (stub, written by the foundation; @atelier/tensor's owner replaces the internals with
 * fused kernels + custom gradients, keeping these names and signatures):
 *  - `tf`: the tfjs-core namespace. Other packages import tfjs ONLY through this re-export.
 *  - `initBackend(kind)`: picks and initialises a backend.
 *  - fused ops: `layerNorm`, `gelu`, `causalSelfAttention`, `softmaxCrossEntropy`, `embedding`, `matmul`.
 */

export * from './backend.js';
export * as kernelNames from './kernels/names.js';
export { setWasmMatMulFastPath } from './kernels/wasm-matmul.js';
export * from './ops.js';
export * from './safetensors.js';
export { tf } from './tf.js';
