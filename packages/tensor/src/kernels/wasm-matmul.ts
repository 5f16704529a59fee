/**
 * tfjs-backend-wasm sends only untransposed matmuls to XNNPACK; a transposed operand falls to a loop about
 * 8× slower. This wraps its BatchMatMul and _FusedMatMul so transposed operands are first transposed
 * explicitly (one O(n²) copy) and the product always takes the fast path.
 */
import { tf } from '../tf.js';

const WRAPPED = Symbol.for('@atelier/tensor.wasmMatMulWrapped');
const KERNELS = ['BatchMatMul', '_FusedMatMul'];
const stock = new Map<string, tf.KernelConfig>();

const isWrapped = (k: tf.KernelConfig | undefined) =>
  !!k && !!(k as unknown as Record<symbol, boolean>)[WRAPPED];

/**
 * Turns the explicit-transpose wrappers of wasm's matmul kernels on (the default once the wasm backend is
 * initialised) or off (tfjs's stock kernels, e.g. to benchmark against them).
 */
export function setWasmMatMulFastPath(enabled: boolean): void {
  if (enabled) {
    registerWasmMatMul();
    return;
  }
  for (const name of KERNELS) {
    const original = stock.get(name);
    if (!original || !isWrapped(tf.getKernel(name, 'wasm'))) continue;
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel(original);
  }
}

export function registerWasmMatMul(): void {
  for (const name of KERNELS) wrap(name);
}

function wrap(name: string): void {
  const current = tf.getKernel(name, 'wasm');
  const transpose = tf.getKernel('Transpose', 'wasm');
  if (!current || !transpose || isWrapped(current)) return;
  const original = stock.get(name) ?? current;
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
  stock.set(name, original);
  tf.unregisterKernel(name, 'wasm');
  const config = { ...original, kernelFunc };
  (config as unknown as Record<symbol, boolean>)[WRAPPED] = true;
  tf.registerKernel(config);
}
