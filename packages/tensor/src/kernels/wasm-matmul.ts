/**
 * tfjs-backend-wasm sends only untransposed matmuls to XNNPACK; a transposed operand falls to a loop about
 * 8× slower. This wraps its BatchMatMul so transposed operands are first transposed explicitly (one O(n²)
 * copy) and the product always takes the fast path.
 */
import { tf } from '../tf.js';

const WRAPPED = Symbol.for('@atelier/tensor.wasmMatMulWrapped');
let stock: tf.KernelConfig | undefined;

/**
 * Turns the explicit-transpose wrapper of wasm's BatchMatMul on (default once the wasm backend is
 * initialised) or off (tfjs's stock kernel, e.g. to benchmark against it).
 */
export function setWasmMatMulFastPath(enabled: boolean): void {
  if (enabled) {
    registerWasmMatMul();
    return;
  }
  const current = tf.getKernel('BatchMatMul', 'wasm');
  if (!stock || !current || !(current as unknown as Record<symbol, boolean>)[WRAPPED]) return;
  tf.unregisterKernel('BatchMatMul', 'wasm');
  tf.registerKernel(stock);
}

export function registerWasmMatMul(): void {
  const original = stock ?? tf.getKernel('BatchMatMul', 'wasm');
  const transpose = tf.getKernel('Transpose', 'wasm');
  if (!original || !transpose) return;
  const kernelFunc: tf.KernelFunc = (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const attrs = args.attrs as { transposeA: boolean; transposeB: boolean };
    if (!attrs.transposeA && !attrs.transposeB) return original.kernelFunc(args);
    const backend = args.backend as { disposeData(id: unknown): void };
    const temps: tf.TensorInfo[] = [];
    const swapLast = (t: tf.TensorInfo): tf.TensorInfo => {
      const perm = t.shape.map((_, i) => i);
      [perm[perm.length - 2], perm[perm.length - 1]] = [perm[perm.length - 1], perm[perm.length - 2]];
      const out = transpose.kernelFunc({
        inputs: { x: t },
        backend: args.backend,
        attrs: { perm },
      }) as tf.TensorInfo;
      temps.push(out);
      return out;
    };
    const a2 = attrs.transposeA ? swapLast(a) : a;
    const b2 = attrs.transposeB ? swapLast(b) : b;
    const out = original.kernelFunc({
      ...args,
      inputs: { ...args.inputs, a: a2, b: b2 },
      attrs: { ...args.attrs, transposeA: false, transposeB: false },
    });
    for (const t of temps) backend.disposeData(t.dataId);
    return out;
  };
  const current = tf.getKernel('BatchMatMul', 'wasm');
  if (current && (current as unknown as Record<symbol, boolean>)[WRAPPED]) return;
  stock = original;
  tf.unregisterKernel('BatchMatMul', 'wasm');
  const config = { ...original, kernelFunc };
  (config as unknown as Record<symbol, boolean>)[WRAPPED] = true;
  tf.registerKernel(config);
}
