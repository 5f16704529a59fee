/**
 * Native kernel implementations for the `atelier-native` tfjs backend. Each reads and writes the backend's
 * TypedArray storage directly (zero-copy) and calls into the addon. Contracts: coord KERNELS.md.
 */
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { tf } from '../tf.js';
import type { NativeAddon } from './addon.js';

type TensorInfo = tf.TensorInfo;
type Inputs = Record<string, TensorInfo | undefined>;
type Attrs = Record<string, unknown>;
export type NativeKernelFunc = (args: {
  inputs: Inputs;
  backend: MathBackendCPU;
  attrs?: Attrs;
}) => TensorInfo | TensorInfo[];

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** The tensor's Float32Array (zero-copy); other dtypes are converted (copied). */
export function f32(backend: MathBackendCPU, t: TensorInfo): Float32Array {
  const values = backend.data.get(t.dataId)?.values;
  if (values instanceof Float32Array) return values;
  if (values === undefined) throw new Error(`atelier-native: tensor ${String(t.dataId)} has no data`);
  return Float32Array.from(values as ArrayLike<number>);
}

/** The tensor's values as Int32Array (zero-copy when int32; float ids are truncated). */
export function i32(backend: MathBackendCPU, t: TensorInfo): Int32Array {
  const values = backend.data.get(t.dataId)?.values;
  if (values instanceof Int32Array) return values;
  if (values === undefined) throw new Error(`atelier-native: tensor ${String(t.dataId)} has no data`);
  return Int32Array.from(values as ArrayLike<number>, (v) => Math.trunc(v));
}

function need(inputs: Inputs, name: string, kernel: string): TensorInfo {
  const t = inputs[name];
  if (!t) throw new Error(`${kernel}: input '${name}' is missing`);
  return t;
}

function output(backend: MathBackendCPU, shape: number[], values?: Float32Array): TensorInfo {
  return backend.makeTensorInfo(shape, 'float32', values ?? new Float32Array(size(shape)));
}

function cpuKernel(name: string) {
  const k = tf.getKernel(name, 'cpu');
  if (!k) throw new Error(`atelier-native: tfjs-backend-cpu kernel ${name} is not registered`);
  return k.kernelFunc as unknown as NativeKernelFunc;
}

/** Broadcast of two batch shapes (numpy rules), or throws naming both. */
function broadcastShape(a: number[], b: number[], kernel: string): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1)
      throw new Error(`${kernel}: batch shapes [${a}] and [${b}] do not broadcast`);
    out.push(Math.max(da, db));
  }
  return out;
}

/** True when `shape` (leading 1s ignored) equals the trailing dimensions of `out`. */
function isTrailing(shape: number[], out: number[]): boolean {
  let i = 0;
  while (i < shape.length && shape[i] === 1) i++;
  const core = shape.slice(i);
  if (core.length > out.length) return false;
  return core.every((d, j) => d === out[out.length - core.length + j]);
}

/** Offset (in matrices) of output batch index `bi` inside an operand whose batch shape is `shape`. */
function batchOffset(bi: number, outer: number[], shape: number[]): number {
  let off = 0;
  let stride = 1;
  let rest = bi;
  for (let i = outer.length - 1; i >= 0; i--) {
    const idx = rest % outer[i];
    rest = Math.floor(rest / outer[i]);
    const j = shape.length - outer.length + i; // the operand's axis (right-aligned)
    if (j < 0) continue;
    if (shape[j] !== 1) off += idx * stride;
    stride *= shape[j];
  }
  return off;
}

export function makeKernels(addon: NativeAddon): Record<string, NativeKernelFunc> {
  const batchMatMul: NativeKernelFunc = ({ inputs, backend, attrs }) => {
    const a = need(inputs, 'a', 'BatchMatMul');
    const b = need(inputs, 'b', 'BatchMatMul');
    const transposeA = Boolean(attrs?.transposeA);
    const transposeB = Boolean(attrs?.transposeB);
    if (a.dtype !== 'float32' || b.dtype !== 'float32')
      return cpuKernel('BatchMatMul')({ inputs: { a, b }, backend, attrs });
    const ra = a.shape.length;
    const rb = b.shape.length;
    if (ra < 2 || rb < 2)
      throw new Error(`BatchMatMul: inputs must be rank >= 2, got [${a.shape}] and [${b.shape}]`);
    const M = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
    const K = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
    const Kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
    const N = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
    if (K !== Kb)
      throw new Error(
        `BatchMatMul: inner dimensions differ: [${a.shape}]${transposeA ? 'ᵀ' : ''} · [${b.shape}]${transposeB ? 'ᵀ' : ''}`,
      );
    const outerA = a.shape.slice(0, -2);
    const outerB = b.shape.slice(0, -2);
    const outer = broadcastShape(outerA, outerB, 'BatchMatMul');
    const batch = size(outer);
    const out = new Float32Array(batch * M * N);
    const av = f32(backend, a);
    const bv = f32(backend, b);
    const batchA = size(outerA);
    const batchB = size(outerB);
    const simpleA = batchA === batch || batchA === 1;
    const simpleB = batchB === batch || batchB === 1;
    if (simpleA && simpleB) {
      addon.matmul(
        av,
        bv,
        out,
        batch,
        M,
        N,
        K,
        transposeA,
        transposeB,
        batchA === 1 ? 0 : M * K,
        batchB === 1 ? 0 : K * N,
      );
    } else {
      // General broadcasting ([2,1] × [1,3]): one GEMM per output matrix.
      for (let bi = 0; bi < batch; bi++) {
        const oa = batchOffset(bi, outer, outerA) * M * K;
        const ob = batchOffset(bi, outer, outerB) * K * N;
        addon.matmul(
          av.subarray(oa, oa + M * K),
          bv.subarray(ob, ob + K * N),
          out.subarray(bi * M * N, (bi + 1) * M * N),
          1,
          M,
          N,
          K,
          transposeA,
          transposeB,
          0,
          0,
        );
      }
    }
    return output(backend, [...outer, M, N], out);
  };

  const activations: Record<string, string> = {
    relu: 'Relu',
    relu6: 'Relu6',
    elu: 'Elu',
    sigmoid: 'Sigmoid',
    leakyrelu: 'LeakyRelu',
    prelu: 'Prelu',
  };

  const add = binary(0, 'Add');

  /** op(a)·op(b) + bias for 2-D b and a [M,K] or [1|B, M, K] (b shared across the batch). */
  function biasMatMul(inputs: Inputs, backend: MathBackendCPU, attrs?: Attrs): TensorInfo {
    const a = need(inputs, 'a', '_FusedMatMul');
    const b = need(inputs, 'b', '_FusedMatMul');
    const bias = need(inputs, 'bias', '_FusedMatMul');
    const tA = Boolean(attrs?.transposeA);
    const tB = Boolean(attrs?.transposeB);
    const ra = a.shape.length;
    const batch = ra === 3 ? a.shape[0] : 1;
    const M = tA ? a.shape[ra - 1] : a.shape[ra - 2];
    const K = tA ? a.shape[ra - 2] : a.shape[ra - 1];
    const N = tB ? b.shape[0] : b.shape[1];
    if (K !== (tB ? b.shape[1] : b.shape[0]))
      throw new Error(`_FusedMatMul: inner dimensions differ: [${a.shape}] · [${b.shape}]`);
    const out = new Float32Array(batch * M * N);
    const bv = f32(backend, bias);
    for (let r = 0; r < batch * M; r++) out.set(bv, r * N);
    addon.matmul(f32(backend, a), f32(backend, b), out, batch, M, N, K, tA, tB, M * K, 0, true);
    return output(backend, ra === 3 ? [batch, M, N] : [M, N], out);
  }

  /** Row gather along axis 0 (embedding lookup) by contiguous copies; other cases: tfjs-cpu. */
  const gather: NativeKernelFunc = ({ inputs, backend, attrs }) => {
    const x = need(inputs, 'x', 'GatherV2');
    const indices = need(inputs, 'indices', 'GatherV2');
    const axis = tf.util.parseAxisParam((attrs?.axis ?? 0) as number, x.shape)[0];
    if (x.dtype !== 'float32' || axis !== 0 || Number(attrs?.batchDims ?? 0) !== 0 || x.shape.length < 1)
      return cpuKernel('GatherV2')({ inputs, backend, attrs });
    const rows = x.shape[0];
    const row = size(x.shape.slice(1));
    const ids = i32(backend, indices);
    const xv = f32(backend, x);
    const out = new Float32Array(ids.length * row);
    for (let n = 0; n < ids.length; n++) {
      const id = ids[n];
      if (!(id >= 0 && id < rows))
        throw new Error(`GatherV2: index ${id} (position ${n}) is not in [0, ${rows})`);
      out.set(xv.subarray(id * row, (id + 1) * row), n * row);
    }
    return output(backend, [...indices.shape, ...x.shape.slice(1)], out);
  };

  const fusedMatMul: NativeKernelFunc = ({ inputs, backend, attrs }) => {
    const { a, b, bias, preluActivationWeights } = inputs;
    // A [N] bias on a 2-D/3-D float32 product (every Linear layer): start C from the broadcast bias and let
    // the GEMM accumulate into it — one pass and one allocation fewer than matmul-then-add.
    const fastBias =
      bias &&
      a?.dtype === 'float32' &&
      b?.dtype === 'float32' &&
      bias.dtype === 'float32' &&
      b.shape.length === 2 &&
      a.shape.length <= 3 &&
      size(bias.shape) === (attrs?.transposeB ? b.shape[0] : b.shape[1]) &&
      isTrailing(bias.shape, [size(bias.shape)]);
    let current = (
      fastBias ? biasMatMul(inputs, backend, attrs) : batchMatMul({ inputs: { a, b }, backend, attrs })
    ) as TensorInfo;
    if (bias && !fastBias) {
      const next = add({ inputs: { a: current, b: bias }, backend }) as TensorInfo;
      backend.disposeIntermediateTensorInfo(current);
      current = next;
    }
    const activation = attrs?.activation as string | undefined;
    if (activation && activation !== 'linear') {
      const name = activations[activation];
      if (!name) throw new Error(`_FusedMatMul: unknown activation '${activation}'`);
      const next = (
        name === 'Prelu'
          ? cpuKernel(name)({ inputs: { x: current, alpha: preluActivationWeights }, backend })
          : cpuKernel(name)({ inputs: { x: current }, backend, attrs: { alpha: attrs?.leakyreluAlpha } })
      ) as TensorInfo;
      backend.disposeIntermediateTensorInfo(current);
      current = next;
    }
    return current;
  };

  const layerNorm: NativeKernelFunc = ({ inputs, backend, attrs }) => {
    const x = need(inputs, 'x', 'AtelierLayerNorm');
    const gamma = need(inputs, 'gamma', 'AtelierLayerNorm');
    const beta = need(inputs, 'beta', 'AtelierLayerNorm');
    const C = x.shape[x.shape.length - 1];
    const N = size(x.shape) / C;
    if (size(gamma.shape) !== C || size(beta.shape) !== C)
      throw new Error(
        `AtelierLayerNorm: gamma [${gamma.shape}] / beta [${beta.shape}] must have ${C} elements`,
      );
    const y = new Float32Array(N * C);
    const mean = new Float32Array(N);
    const rstd = new Float32Array(N);
    const eps = (attrs?.epsilon as number | undefined) ?? 1e-5;
    addon.layerNormForward(
      f32(backend, x),
      f32(backend, gamma),
      f32(backend, beta),
      y,
      mean,
      rstd,
      N,
      C,
      eps,
    );
    return [output(backend, x.shape, y), output(backend, [N], mean), output(backend, [N], rstd)];
  };

  const layerNormGrad: NativeKernelFunc = ({ inputs, backend }) => {
    const k = 'AtelierLayerNormGrad';
    const dy = need(inputs, 'dy', k);
    const x = need(inputs, 'x', k);
    const gamma = need(inputs, 'gamma', k);
    const C = x.shape[x.shape.length - 1];
    const N = size(x.shape) / C;
    const dx = new Float32Array(N * C);
    const dgamma = new Float32Array(C);
    const dbeta = new Float32Array(C);
    addon.layerNormBackward(
      f32(backend, dy),
      f32(backend, x),
      f32(backend, gamma),
      f32(backend, need(inputs, 'mean', k)),
      f32(backend, need(inputs, 'rstd', k)),
      dx,
      dgamma,
      dbeta,
      N,
      C,
    );
    return [
      output(backend, x.shape, dx),
      output(backend, gamma.shape, dgamma),
      output(backend, gamma.shape, dbeta),
    ];
  };

  const gelu: NativeKernelFunc = ({ inputs, backend }) => {
    const x = need(inputs, 'x', 'AtelierGelu');
    const n = size(x.shape);
    const y = new Float32Array(n);
    addon.geluForward(f32(backend, x), y, n);
    return output(backend, x.shape, y);
  };

  const geluGrad: NativeKernelFunc = ({ inputs, backend }) => {
    const dy = need(inputs, 'dy', 'AtelierGeluGrad');
    const x = need(inputs, 'x', 'AtelierGeluGrad');
    const n = size(x.shape);
    const dx = new Float32Array(n);
    addon.geluBackward(f32(backend, dy), f32(backend, x), dx, n);
    return output(backend, x.shape, dx);
  };

  const attention: NativeKernelFunc = ({ inputs, backend, attrs }) => {
    const qkv = need(inputs, 'qkv', 'AtelierAttention');
    const nHead = Number(attrs?.nHead);
    if (qkv.shape.length !== 3 || qkv.shape[2] % 3 !== 0)
      throw new Error(`AtelierAttention: qkv must be [B, T, 3C], got [${qkv.shape}]`);
    const [B, T, C3] = qkv.shape;
    const C = C3 / 3;
    const mask = inputs.keyMask ? f32(backend, inputs.keyMask) : null;
    const out = new Float32Array(B * T * C);
    const att = new Float32Array(B * nHead * T * T);
    addon.attentionForward(f32(backend, qkv), mask, out, att, B, T, C, nHead);
    return [output(backend, [B, T, C], out), output(backend, [B, nHead, T, T], att)];
  };

  const attentionGrad: NativeKernelFunc = ({ inputs, backend, attrs }) => {
    const k = 'AtelierAttentionGrad';
    const qkv = need(inputs, 'qkv', k);
    const [B, T, C3] = qkv.shape;
    const nHead = Number(attrs?.nHead);
    const dqkv = new Float32Array(B * T * C3);
    addon.attentionBackward(
      f32(backend, need(inputs, 'dout', k)),
      f32(backend, qkv),
      f32(backend, need(inputs, 'att', k)),
      dqkv,
      B,
      T,
      C3 / 3,
      nHead,
    );
    return output(backend, qkv.shape, dqkv);
  };

  const crossEntropy: NativeKernelFunc = ({ inputs, backend }) => {
    const logits = need(inputs, 'logits', 'AtelierCrossEntropy');
    const targets = need(inputs, 'targets', 'AtelierCrossEntropy');
    const [N, V] = logits.shape;
    const losses = new Float32Array(N);
    const lse = new Float32Array(N);
    addon.crossEntropyForward(f32(backend, logits), i32(backend, targets), losses, lse, N, V);
    return [output(backend, [N], losses), output(backend, [N], lse)];
  };

  const crossEntropyGrad: NativeKernelFunc = ({ inputs, backend }) => {
    const k = 'AtelierCrossEntropyGrad';
    const logits = need(inputs, 'logits', k);
    const [N, V] = logits.shape;
    const dlogits = new Float32Array(N * V);
    addon.crossEntropyBackward(
      f32(backend, need(inputs, 'dlosses', k)),
      f32(backend, logits),
      i32(backend, need(inputs, 'targets', k)),
      f32(backend, need(inputs, 'lse', k)),
      dlogits,
      N,
      V,
    );
    return output(backend, [N, V], dlogits);
  };

  const embeddingGrad: NativeKernelFunc = ({ inputs, backend, attrs }) => {
    const dout = need(inputs, 'dout', 'AtelierEmbeddingGrad');
    const ids = need(inputs, 'ids', 'AtelierEmbeddingGrad');
    const V = Number(attrs?.vocabSize);
    const C = dout.shape[dout.shape.length - 1];
    const N = size(ids.shape);
    if (size(dout.shape) !== N * C)
      throw new Error(`AtelierEmbeddingGrad: dout [${dout.shape}] does not match ids [${ids.shape}]`);
    const dweight = new Float32Array(V * C);
    addon.embeddingBackward(f32(backend, dout), i32(backend, ids), dweight, N, C, V);
    return output(backend, [V, C], dweight);
  };

  const softmax: NativeKernelFunc = ({ inputs, backend, attrs }) => {
    const logits = need(inputs, 'logits', 'Softmax');
    const rank = logits.shape.length;
    const dim = (attrs?.dim as number | undefined) ?? -1;
    if (logits.dtype !== 'float32' || rank === 0 || (dim !== -1 && dim !== rank - 1))
      return cpuKernel('Softmax')({ inputs, backend, attrs });
    const C = logits.shape[rank - 1];
    const N = size(logits.shape) / C;
    const y = new Float32Array(N * C);
    if (N * C > 0) addon.softmax(f32(backend, logits), y, N, C);
    return output(backend, logits.shape, y);
  };

  /** Add/Sub/Mul/RealDiv on float32 for same-shape, scalar and trailing-row broadcasts; else tfjs-cpu's. */
  function binary(op: number, name: string): NativeKernelFunc {
    return ({ inputs, backend, attrs }) => {
      const a = need(inputs, 'a', name);
      const b = need(inputs, 'b', name);
      if (a.dtype !== 'float32' || b.dtype !== 'float32') return cpuKernel(name)({ inputs, backend, attrs });
      const out = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
      const n = size(out);
      const na = size(a.shape);
      const nb = size(b.shape);
      const fits = (shape: number[], m: number) => m === 1 || m === n || isTrailing(shape, out);
      if (
        n === 0 ||
        !fits(a.shape, na) ||
        !fits(b.shape, nb) ||
        (na !== n && nb !== n && na !== 1 && nb !== 1)
      )
        return cpuKernel(name)({ inputs, backend, attrs });
      const values = new Float32Array(n);
      addon.binary(op, f32(backend, a), f32(backend, b), values, n);
      return output(backend, out, values);
    };
  }

  const sum: NativeKernelFunc = ({ inputs, backend, attrs }) => {
    const x = need(inputs, 'x', 'Sum');
    const axes = tf.util
      .parseAxisParam((attrs?.axis ?? []) as number | number[], x.shape)
      .sort((p, q) => p - q);
    const rank = x.shape.length;
    const leading = axes.every((ax, i) => ax === i);
    const trailing = axes.every((ax, i) => ax === rank - axes.length + i);
    if (x.dtype !== 'float32' || axes.length === 0 || !(leading || trailing) || size(x.shape) === 0)
      return cpuKernel('Sum')({ inputs, backend, attrs });
    const k = axes.length;
    const columns = leading && k < rank;
    const R = size(x.shape.slice(0, columns ? k : rank - k));
    const C = size(x.shape.slice(columns ? k : rank - k));
    const values = new Float32Array(columns ? C : R);
    addon.sum(f32(backend, x), values, R, C, columns);
    let shape = x.shape.filter((_, i) => !axes.includes(i));
    if (attrs?.keepDims) shape = tf.backend_util.expandShapeToKeepDim(shape, axes);
    return output(backend, shape, values);
  };

  /** Constant padding (the gradient of Slice) by contiguous rows instead of tfjs-cpu's per-element loop. */
  const padV2: NativeKernelFunc = ({ inputs, backend, attrs }) => {
    const x = need(inputs, 'x', 'PadV2');
    const paddings = attrs?.paddings as [number, number][];
    const constant = Number(attrs?.constantValue ?? 0);
    const rank = x.shape.length;
    if (x.dtype !== 'float32' || rank === 0 || size(x.shape) === 0)
      return cpuKernel('PadV2')({ inputs, backend, attrs });
    const outShape = x.shape.map((d, i) => paddings[i][0] + d + paddings[i][1]);
    const out = new Float32Array(size(outShape));
    if (constant !== 0) out.fill(constant);
    const xv = f32(backend, x);
    const row = x.shape[rank - 1];
    const rows = size(x.shape) / row;
    const outStrides = outShape.map((_, i) => size(outShape.slice(i + 1)));
    const idx = new Array<number>(rank - 1).fill(0); // multi-index of the current input row
    for (let r = 0; r < rows; r++) {
      let off = paddings[rank - 1][0];
      for (let d = 0; d < rank - 1; d++) off += (idx[d] + paddings[d][0]) * outStrides[d];
      out.set(xv.subarray(r * row, (r + 1) * row), off);
      for (let d = rank - 2; d >= 0; d--) {
        if (++idx[d] < x.shape[d]) break;
        idx[d] = 0;
      }
    }
    return output(backend, outShape, out);
  };

  /** Slice by contiguous rows (tfjs-cpu copies element by element). */
  const slice: NativeKernelFunc = ({ inputs, backend, attrs }) => {
    const x = need(inputs, 'x', 'Slice');
    const rank = x.shape.length;
    if (x.dtype !== 'float32' || rank === 0) return cpuKernel('Slice')({ inputs, backend, attrs });
    const [begin, sizes] = tf.slice_util.parseSliceParams(
      x as unknown as tf.Tensor,
      attrs?.begin as number[],
      attrs?.size as number[],
    );
    tf.slice_util.assertParamsValid(x as unknown as tf.Tensor, begin, sizes);
    const out = new Float32Array(size(sizes));
    if (out.length > 0) {
      const xv = f32(backend, x);
      const row = sizes[rank - 1];
      const rows = out.length / row;
      const strides = x.shape.map((_, i) => size(x.shape.slice(i + 1)));
      const idx = new Array<number>(rank - 1).fill(0); // multi-index of the current output row
      for (let r = 0; r < rows; r++) {
        let off = begin[rank - 1];
        for (let d = 0; d < rank - 1; d++) off += (idx[d] + begin[d]) * strides[d];
        out.set(xv.subarray(off, off + row), r * row);
        for (let d = rank - 2; d >= 0; d--) {
          if (++idx[d] < sizes[d]) break;
          idx[d] = 0;
        }
      }
    }
    return output(backend, sizes, out);
  };

  return {
    Slice: slice,
    GatherV2: gather,
    PadV2: padV2,
    Add: binary(0, 'Add'),
    Sub: binary(1, 'Sub'),
    Multiply: binary(2, 'Multiply'),
    RealDiv: binary(3, 'RealDiv'),
    Sum: sum,
    BatchMatMul: batchMatMul,
    _FusedMatMul: fusedMatMul,
    Softmax: softmax,
    AtelierLayerNorm: layerNorm,
    AtelierLayerNormGrad: layerNormGrad,
    AtelierGelu: gelu,
    AtelierGeluGrad: geluGrad,
    AtelierAttention: attention,
    AtelierAttentionGrad: attentionGrad,
    AtelierCrossEntropy: crossEntropy,
    AtelierCrossEntropyGrad: crossEntropyGrad,
    AtelierEmbeddingGrad: embeddingGrad,
  };
}
