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
  const reshapeKernel = tf.getKernel('Reshape', 'wasm');
  if (!reshapeKernel) return;
  const original = stock.get(name) ?? current;
  const kernelFunc: tf.KernelFunc = (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const attrs = args.attrs as { transposeA: boolean; transposeB: boolean };
    const batchA = a.shape.slice(0, -2).reduce((x, y) => x * y, 1);
    const batchB = b.shape.slice(0, -2).reduce((x, y) => x * y, 1);
    const inputs = args.inputs as Record<string, tf.TensorInfo | undefined>;
    // x [..., M, K] · W [K, N] (one shared b): one 2-D product over the flattened batch (bias over N only).
    const flatten =
      batchA > 1 && batchB === 1 && !inputs.preluActivationWeights && (inputs.bias?.shape.length ?? 0) <= 1;
    if (batchA * batchB > 1 && !flatten) return original.kernelFunc(args); // both batched: stock kernel
    if (!attrs.transposeA && !attrs.transposeB && !flatten) return original.kernelFunc(args);
    const backend = args.backend as { disposeData(id: unknown): void };
    const reshape = (t: tf.TensorInfo, shape: number[]) =>
      reshapeKernel.kernelFunc({
        inputs: { x: t },
        backend: args.backend,
        attrs: { shape },
      }) as tf.TensorInfo;
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
    const plain = (x: tf.TensorInfo, y: tf.TensorInfo) =>
      original.kernelFunc({
        ...args,
        inputs: { ...args.inputs, a: x, b: y },
        attrs: { ...args.attrs, transposeA: false, transposeB: false },
      }) as tf.TensorInfo;
    if (name === 'BatchMatMul' && attrs.transposeB && a.shape.length === 2 && b.shape.length === 2) {
      // XNNPACK packs its right operand. When b is large (the LM head: x·wteᵀ with wte [50257, 768]), compute
      // (a·bᵀ) = (b·aᵀ)ᵀ instead: pack the small aᵀ and transpose the output rather than b.
      const sizeA = a.shape[0] * a.shape[1];
      const sizeB = b.shape[0] * b.shape[1];
      const sizeOut = (attrs.transposeA ? a.shape[1] : a.shape[0]) * b.shape[0];
      const direct = (attrs.transposeA ? sizeA : 0) + 2 * sizeB;
      const swapped = (attrs.transposeA ? 0 : sizeA) + sizeA + sizeOut;
      if (swapped < direct) {
        const aT = attrs.transposeA ? a : swapLast(a); // [K, M]
        const product = plain(b, aT); // [N, M]
        temps.push(product);
        const out = swapLast(product);
        temps.pop(); // the result itself is not a temporary
        for (const t of temps) backend.disposeData(t.dataId);
        return out;
      }
    }
    const a2 = attrs.transposeA ? swapLast(a) : a;
    const b2 = attrs.transposeB ? swapLast(b) : b;
    if (flatten) {
      const [M, K] = a2.shape.slice(-2);
      const N = b2.shape[b2.shape.length - 1];
      const a2d = reshape(a2, [batchA * M, K]);
      const b2d = reshape(b2, [K, N]);
      const out2d = plain(a2d, b2d);
      const out = reshape(out2d, [...a.shape.slice(0, -2), M, N]);
      for (const t of [...temps, a2d, b2d, out2d]) backend.disposeData(t.dataId);
      return out;
    }
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
