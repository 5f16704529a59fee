/**
 * Cross-entropy kernels for tfjs-backend-wasm that leave the V exponentials per row (the whole cost over a
 * 50257-word vocabulary) to the WASM backend's own Max/Sub/Exp/Sum kernels, which are faster than
 * JavaScript's Math.exp, and do the rest (log, target pick, scaling, the one-hot subtraction) in one JS pass.
 */
import { tf } from '../tf.js';

type TensorInfo = tf.TensorInfo;
interface Wasm {
  makeOutput(shape: number[], dtype: string): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array;
  disposeData(id: unknown): void;
}

function call(
  name: string,
  backend: unknown,
  inputs: Record<string, TensorInfo>,
  attrs: object = {},
): TensorInfo {
  const k = tf.getKernel(name, 'wasm');
  if (!k) throw new Error(`wasm kernel ${name} missing`);
  return k.kernelFunc({
    inputs,
    backend: backend as tf.KernelBackend,
    attrs: attrs as tf.NamedAttrMap,
  }) as TensorInfo;
}

/** True when the wasm kernels this module builds on are registered. */
export function wasmCrossEntropyAvailable(): boolean {
  return ['Max', 'Sub', 'Exp', 'Sum'].every((n) => tf.getKernel(n, 'wasm'));
}

/** logits [N,V], targets [N] → losses [N], lse [N] (targets outside [0, V) give loss 0). */
export const wasmCrossEntropy: tf.KernelFunc = ({ inputs, backend }) => {
  const wasm = backend as unknown as Wasm;
  const { logits, targets } = inputs as Record<string, TensorInfo>;
  const [N, V] = logits.shape;
  const mx = call('Max', backend, { x: logits }, { reductionIndices: [1], keepDims: true }); // [N,1]
  const shifted = call('Sub', backend, { a: logits, b: mx });
  const ex = call('Exp', backend, { x: shifted });
  wasm.disposeData(shifted.dataId);
  const sum = call('Sum', backend, { x: ex }, { axis: [1], keepDims: false }); // [N]
  wasm.disposeData(ex.dataId);
  const losses = wasm.makeOutput([N], 'float32');
  const lse = wasm.makeOutput([N], 'float32');
  // Heap views only after the last allocation (allocation may grow the heap and detach views).
  const m = wasm.typedArrayFromHeap(mx);
  const s = wasm.typedArrayFromHeap(sum);
  const l = wasm.typedArrayFromHeap(logits);
  const t = wasm.typedArrayFromHeap(targets);
  const lossV = wasm.typedArrayFromHeap(losses);
  const lseV = wasm.typedArrayFromHeap(lse);
  for (let n = 0; n < N; n++) {
    const v = m[n] + Math.log(s[n]);
    lseV[n] = v;
    const target = t[n];
    lossV[n] = target >= 0 && target < V ? v - l[n * V + target] : 0;
  }
  wasm.disposeData(mx.dataId);
  wasm.disposeData(sum.dataId);
  return [losses, lse];
};

/** dlosses [N], logits [N,V], targets [N], lse [N] → dlogits = dlosses·(softmax − onehot). */
export const wasmCrossEntropyGrad: tf.KernelFunc = ({ inputs, backend }) => {
  const wasm = backend as unknown as Wasm;
  const { dlosses, logits, targets, lse } = inputs as Record<string, TensorInfo>;
  const [N, V] = logits.shape;
  const lseCol: TensorInfo = { dataId: lse.dataId, shape: [N, 1], dtype: 'float32' };
  const shifted = call('Sub', backend, { a: logits, b: lseCol });
  const out = call('Exp', backend, { x: shifted }); // softmax, becomes dlogits in place
  wasm.disposeData(shifted.dataId);
  const g = wasm.typedArrayFromHeap(out);
  const d = wasm.typedArrayFromHeap(dlosses);
  const t = wasm.typedArrayFromHeap(targets);
  for (let n = 0; n < N; n++) {
    const target = t[n];
    const scale = target >= 0 && target < V ? d[n] : 0;
    const o = n * V;
    if (scale === 0) {
      g.fill(0, o, o + V);
      continue;
    }
    for (let v = 0; v < V; v++) g[o + v] *= scale;
    g[o + target] -= scale;
  }
  return out;
};
