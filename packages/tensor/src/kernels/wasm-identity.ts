/**
 * tfjs saves every tensor needed for backprop through `clone`, which runs the Identity kernel; on
 * tfjs-backend-wasm that is a full copy in the 4 GB WASM heap. Tensors are immutable in tfjs (variables swap
 * their data on assign), so Identity can share the data and count a reference instead, as tfjs-backend-cpu does.
 */
import { tf } from '../tf.js';

const SHARED = Symbol.for('@atelier/tensor.wasmIdentityShared');

export function registerWasmIdentity(): void {
  const original = tf.getKernel('Identity', 'wasm');
  if (!original || (original as unknown as Record<symbol, boolean>)[SHARED]) return;
  const kernelFunc: tf.KernelFunc = (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    if (x.dtype === 'string') return original.kernelFunc(args);
    (args.backend as unknown as { incRef(id: unknown): void }).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
  tf.unregisterKernel('Identity', 'wasm');
  const config = { ...original, kernelFunc };
  (config as unknown as Record<symbol, boolean>)[SHARED] = true;
  tf.registerKernel(config);
}
