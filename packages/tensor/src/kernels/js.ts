/**
 * Registers the fused kernels of ./math.ts for backends whose tensors live in CPU memory: tfjs-backend-wasm
 * (data in the WASM heap) and tfjs-backend-cpu-like backends (data as TypedArrays).
 */
import { tf } from '../tf.js';
import * as math from './math.js';
import * as K from './names.js';
import { wasmCrossEntropy, wasmCrossEntropyAvailable, wasmCrossEntropyGrad } from './wasm-ce.js';

type TensorInfo = tf.TensorInfo;
type Typed = Float32Array | Int32Array;
interface OutSpec {
  shape: number[];
  dtype: 'float32' | 'int32';
}

/** The backend methods used here (tfjs-backend-wasm's BackendWasm / tfjs-backend-cpu's MathBackendCPU). */
interface WasmLike {
  makeOutput(shape: number[], dtype: string): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Typed;
}
interface CpuLike {
  data: { get(id: unknown): { values: unknown } };
  makeTensorInfo(shape: number[], dtype: string, values: Typed): TensorInfo;
}

/**
 * Runs `compute` on input/output arrays of whatever backend this is. WASM: outputs are allocated first,
 * then heap views are taken (allocation can grow the heap and detach earlier views).
 */
function run(
  backend: unknown,
  inputs: (TensorInfo | undefined)[],
  outs: OutSpec[],
  compute: (ins: (Typed | null)[], outs: Typed[]) => void,
): TensorInfo[] {
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  if (typeof (backend as WasmLike).typedArrayFromHeap === 'function') {
    const wasm = backend as WasmLike;
    const infos = outs.map((o) => wasm.makeOutput(o.shape, o.dtype));
    const ins = inputs.map((t) => (t ? wasm.typedArrayFromHeap(t) : null));
    compute(
      ins,
      infos.map((o) => wasm.typedArrayFromHeap(o)),
    );
    return infos;
  }
  const cpu = backend as CpuLike;
  const ins = inputs.map((t) => (t ? (cpu.data.get(t.dataId).values as Typed) : null));
  const arrays = outs.map((o) =>
    o.dtype === 'int32' ? new Int32Array(size(o.shape)) : new Float32Array(size(o.shape)),
  );
  compute(ins, arrays);
  return outs.map((o, i) => cpu.makeTensorInfo(o.shape, o.dtype, arrays[i]));
}

const f32 = (a: Typed | null) => a as Float32Array;

/** int32 view of an id/target tensor that may be stored as float32 (cast when needed). */
function asInt(a: Typed | null): Int32Array {
  if (a instanceof Int32Array) return a;
  return Int32Array.from(a as Float32Array);
}

type KernelFn = tf.KernelFunc;

const kernels: Record<string, KernelFn> = {
  [K.LAYER_NORM]: ({ inputs, backend, attrs }) => {
    const { x, gamma, beta } = inputs as Record<string, TensorInfo>;
    const [N, C] = x.shape;
    const eps = (attrs as { epsilon: number }).epsilon;
    return run(
      backend,
      [x, gamma, beta],
      [
        { shape: [N, C], dtype: 'float32' },
        { shape: [N], dtype: 'float32' },
        { shape: [N], dtype: 'float32' },
      ],
      (i, o) =>
        math.layerNormForward(f32(i[0]), f32(i[1]), f32(i[2]), N, C, eps, f32(o[0]), f32(o[1]), f32(o[2])),
    );
  },
  [K.LAYER_NORM_GRAD]: ({ inputs, backend }) => {
    const { dy, x, gamma, mean, rstd } = inputs as Record<string, TensorInfo>;
    const [N, C] = x.shape;
    return run(
      backend,
      [dy, x, gamma, mean, rstd],
      [
        { shape: [N, C], dtype: 'float32' },
        { shape: [C], dtype: 'float32' },
        { shape: [C], dtype: 'float32' },
      ],
      (i, o) =>
        math.layerNormBackward(
          f32(i[0]),
          f32(i[1]),
          f32(i[2]),
          f32(i[3]),
          f32(i[4]),
          N,
          C,
          f32(o[0]),
          f32(o[1]),
          f32(o[2]),
        ),
    );
  },
  [K.GELU]: ({ inputs, backend }) => {
    const { x } = inputs as Record<string, TensorInfo>;
    return run(backend, [x], [{ shape: x.shape, dtype: 'float32' }], (i, o) =>
      math.geluForward(f32(i[0]), f32(o[0])),
    )[0];
  },
  [K.GELU_GRAD]: ({ inputs, backend }) => {
    const { dy, x } = inputs as Record<string, TensorInfo>;
    return run(backend, [dy, x], [{ shape: x.shape, dtype: 'float32' }], (i, o) =>
      math.geluBackward(f32(i[0]), f32(i[1]), f32(o[0])),
    )[0];
  },
  [K.ATTENTION]: ({ inputs, backend, attrs }) => {
    const { qkv, keyMask } = inputs as Record<string, TensorInfo | undefined>;
    const [B, T, C3] = qkv!.shape;
    const nHead = (attrs as { nHead: number }).nHead;
    return run(
      backend,
      [qkv, keyMask],
      [
        { shape: [B, T, C3 / 3], dtype: 'float32' },
        { shape: [B, nHead, T, T], dtype: 'float32' },
      ],
      (i, o) =>
        math.attentionForward(f32(i[0]), i[1] ? f32(i[1]) : null, B, T, C3 / 3, nHead, f32(o[0]), f32(o[1])),
    );
  },
  [K.ATTENTION_GRAD]: ({ inputs, backend, attrs }) => {
    const { dout, qkv, att } = inputs as Record<string, TensorInfo>;
    const [B, T, C3] = qkv.shape;
    const nHead = (attrs as { nHead: number }).nHead;
    return run(backend, [dout, qkv, att], [{ shape: qkv.shape, dtype: 'float32' }], (i, o) =>
      math.attentionBackward(f32(i[0]), f32(i[1]), f32(i[2]), B, T, C3 / 3, nHead, f32(o[0])),
    )[0];
  },
  [K.CROSS_ENTROPY]: ({ inputs, backend }) => {
    const { logits, targets } = inputs as Record<string, TensorInfo>;
    const [N, V] = logits.shape;
    return run(
      backend,
      [logits, targets],
      [
        { shape: [N], dtype: 'float32' },
        { shape: [N], dtype: 'float32' },
      ],
      (i, o) => math.crossEntropyForward(f32(i[0]), asInt(i[1]), N, V, f32(o[0]), f32(o[1])),
    );
  },
  [K.CROSS_ENTROPY_GRAD]: ({ inputs, backend }) => {
    const { dlosses, logits, targets, lse } = inputs as Record<string, TensorInfo>;
    const [N, V] = logits.shape;
    return run(backend, [dlosses, logits, targets, lse], [{ shape: [N, V], dtype: 'float32' }], (i, o) =>
      math.crossEntropyBackward(f32(i[0]), f32(i[1]), asInt(i[2]), f32(i[3]), N, V, f32(o[0])),
    )[0];
  },
  [K.EMBEDDING_GRAD]: ({ inputs, backend, attrs }) => {
    const { dout, ids } = inputs as Record<string, TensorInfo>;
    const [N, C] = dout.shape;
    const V = (attrs as { vocabSize: number }).vocabSize;
    return run(backend, [dout, ids], [{ shape: [V, C], dtype: 'float32' }], (i, o) =>
      math.embeddingBackward(f32(i[0]), asInt(i[1]), N, C, V, f32(o[0])),
    )[0];
  },
};

/**
 * Registers the JS kernels for `backendName` (a WASM or TypedArray-backed backend), skipping any kernel the
 * backend already has (e.g. the native backend's own). `names` limits which ones.
 */
export function registerJsKernels(backendName: string, names: readonly string[] = K.ALL_KERNELS): void {
  for (const name of names) {
    if (tf.getKernel(name, backendName)) continue;
    let kernelFunc = kernels[name];
    // On wasm, cross-entropy leans on the backend's own (faster) exp, once that backend has loaded.
    const wasmVariant = { [K.CROSS_ENTROPY]: wasmCrossEntropy, [K.CROSS_ENTROPY_GRAD]: wasmCrossEntropyGrad }[
      name
    ];
    if (backendName === 'wasm' && wasmVariant) {
      const js = kernelFunc;
      kernelFunc = (args) => (wasmCrossEntropyAvailable() ? wasmVariant(args) : js(args));
    }
    tf.registerKernel({ kernelName: name, backendName, kernelFunc });
  }
}
