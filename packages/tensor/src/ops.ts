/**
 * GPT-2's heavy ops, fused where the active backend has a kernel for them (see kernels/names.ts) and an
 * equivalent composition of stock tfjs ops otherwise. Gradients are registered once for each forward kernel
 * and run the matching backward kernel (or its composition), so forward and backward are both fused on any
 * backend that registers both.
 */

import { embeddingBackward as embeddingScatterAdd } from './kernels/math.js';
import {
  ATTENTION,
  ATTENTION_GRAD,
  CROSS_ENTROPY,
  CROSS_ENTROPY_GRAD,
  EMBEDDING_GRAD,
  GELU,
  GELU_GRAD,
  LAYER_NORM,
  LAYER_NORM_GRAD,
} from './kernels/names.js';
import { tf } from './tf.js';

type Tensor = tf.Tensor;

/** True when the active backend registers `kernel`. */
export function hasKernel(kernel: string): boolean {
  return tf.getKernel(kernel, tf.getBackend()) != null;
}

function run(kernel: string, inputs: Record<string, Tensor>, attrs: Record<string, unknown> = {}): Tensor[] {
  const out = tf.engine().runKernel(kernel, inputs as tf.NamedTensorMap, attrs as tf.NamedAttrMap);
  return Array.isArray(out) ? (out as Tensor[]) : [out as Tensor];
}

// ---------------------------------------------------------------------------------------------------------
// Layer norm

/** Layer norm over the last axis. x [..., C], gamma [C], beta [C] → [..., C]. */
export function layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, epsilon = 1e-5): Tensor {
  return tf.tidy(() => {
    const C = x.shape[x.rank - 1];
    const x2 = tf.reshape(x, [-1, C]); // [N, C]
    const y = hasKernel(LAYER_NORM)
      ? run(LAYER_NORM, { x: x2, gamma, beta }, { epsilon })[0]
      : layerNormComposite(x2, gamma, beta, epsilon);
    return tf.reshape(y, x.shape);
  });
}

function layerNormComposite(x: Tensor, gamma: Tensor, beta: Tensor, epsilon: number): Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  const xhat = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, epsilon)));
  return tf.add(tf.mul(xhat, gamma), beta);
}

/** dx, dgamma, dbeta from dy [N,C] and the saved x, gamma, mean [N], rstd [N]. */
function layerNormBackward(dy: Tensor, x: Tensor, gamma: Tensor, mean: Tensor, rstd: Tensor): Tensor[] {
  if (hasKernel(LAYER_NORM_GRAD)) return run(LAYER_NORM_GRAD, { dy, x, gamma, mean, rstd });
  const m = tf.expandDims(mean, 1);
  const r = tf.expandDims(rstd, 1);
  const xhat = tf.mul(tf.sub(x, m), r);
  const dnorm = tf.mul(dy, gamma);
  const dx = tf.mul(
    tf.sub(tf.sub(dnorm, tf.mean(dnorm, -1, true)), tf.mul(xhat, tf.mean(tf.mul(dnorm, xhat), -1, true))),
    r,
  );
  return [dx, tf.sum(tf.mul(dy, xhat), 0), tf.sum(dy, 0)];
}

// ---------------------------------------------------------------------------------------------------------
// GELU

const GELU_S = Math.sqrt(2 / Math.PI);

/** GELU, tanh approximation ("gelu_new" in Hugging Face GPT-2). */
export function gelu(x: Tensor): Tensor {
  if (hasKernel(GELU)) return run(GELU, { x })[0];
  return tf.tidy(() => {
    const inner = tf.mul(GELU_S, tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
    return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
  });
}

function geluBackward(dy: Tensor, x: Tensor): Tensor {
  if (hasKernel(GELU_GRAD)) return run(GELU_GRAD, { dy, x })[0];
  const x2 = tf.square(x);
  const t = tf.tanh(tf.mul(GELU_S, tf.mul(x, tf.add(1, tf.mul(0.044715, x2)))));
  const sech2 = tf.sub(1, tf.square(t));
  const local = tf.add(
    tf.mul(0.5, tf.add(1, t)),
    tf.mul(tf.mul(tf.mul(0.5 * GELU_S, x), sech2), tf.add(1, tf.mul(3 * 0.044715, x2))),
  );
  return tf.mul(dy, local);
}

// ---------------------------------------------------------------------------------------------------------
// Causal self-attention

/**
 * Causal multi-head self-attention from the fused projection (GPT-2's c_attn output).
 * qkv [B, T, 3C] laid out q | k | v along the last axis, each split into nHead heads of C/nHead.
 * keyMask [B, T] (optional): 1 for real tokens, 0 for padding; padded keys get no attention, and a query
 * with no visible key outputs zeros. Returns [B, T, C] (heads merged, before c_proj). Scale 1/sqrt(head_dim).
 */
export function causalSelfAttention(qkv: tf.Tensor3D, nHead: number, keyMask?: tf.Tensor2D): tf.Tensor3D {
  const [, , C3] = qkv.shape;
  if (C3 % 3 !== 0 || (C3 / 3) % nHead !== 0) {
    throw new Error(`causalSelfAttention: last dim ${C3} is not 3·C with C divisible by nHead=${nHead}`);
  }
  if (hasKernel(ATTENTION)) {
    return tf.tidy(() => {
      const inputs: Record<string, Tensor> = { qkv };
      if (keyMask) inputs.keyMask = tf.cast(keyMask, 'float32');
      return run(ATTENTION, inputs, { nHead })[0] as tf.Tensor3D;
    });
  }
  return attentionComposite(qkv, nHead, keyMask);
}

/** [B, T, C] → [B, nHead, T, hs] */
function splitHeads(t: Tensor, B: number, T: number, nHead: number, hs: number): Tensor {
  return tf.transpose(tf.reshape(t, [B, T, nHead, hs]), [0, 2, 1, 3]);
}
/** [B, nHead, T, hs] → [B, T, C] */
function mergeHeads(t: Tensor, B: number, T: number, C: number): Tensor {
  return tf.reshape(tf.transpose(t, [0, 2, 1, 3]), [B, T, C]);
}

function attentionComposite(qkv: tf.Tensor3D, nHead: number, keyMask?: tf.Tensor2D): tf.Tensor3D {
  return tf.tidy(() => {
    const [B, T, C3] = qkv.shape;
    const C = C3 / 3;
    const hs = C / nHead;
    const [q, k, v] = tf
      .split(qkv, 3, 2)
      .map((t) => tf.reshape(splitHeads(t, B, T, nHead, hs), [B * nHead, T, hs]));
    const scores = tf.reshape(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(hs)), [B, nHead, T, T]);
    let allowed: Tensor = tf.reshape(tf.linalg.bandPart(tf.ones([T, T]), -1, 0), [1, 1, T, T]);
    if (keyMask) allowed = tf.mul(allowed, tf.reshape(tf.cast(keyMask, 'float32'), [B, 1, 1, T]));
    const masked = tf.where(tf.greater(allowed, 0), scores, tf.fill(scores.shape, -1e9));
    // × allowed: exact zeros where masked, and an all-zero row where a query sees no key.
    const probs = tf.reshape(tf.mul(tf.softmax(masked, -1), allowed), [B * nHead, T, T]);
    const y = tf.reshape(tf.matMul(probs, v), [B, nHead, T, hs]);
    return mergeHeads(y, B, T, C) as tf.Tensor3D;
  });
}

function attentionBackward(dout: Tensor, qkv: Tensor, att: Tensor, nHead: number): Tensor {
  if (hasKernel(ATTENTION_GRAD)) return run(ATTENTION_GRAD, { dout, qkv, att }, { nHead })[0];
  const [B, T, C3] = qkv.shape;
  const C = C3 / 3;
  const hs = C / nHead;
  const BH = B * nHead;
  const [q, k, v] = tf.split(qkv, 3, 2).map((t) => tf.reshape(splitHeads(t, B, T, nHead, hs), [BH, T, hs]));
  const d = tf.reshape(splitHeads(dout, B, T, nHead, hs), [BH, T, hs]);
  const p = tf.reshape(att, [BH, T, T]);
  const dv = tf.matMul(p, d, true, false);
  const datt = tf.matMul(d, v, false, true);
  const dpre = tf.mul(tf.mul(p, tf.sub(datt, tf.sum(tf.mul(p, datt), -1, true))), 1 / Math.sqrt(hs));
  const dq = tf.matMul(dpre, k);
  const dk = tf.matMul(dpre, q, true, false);
  const merge = (t: Tensor) => mergeHeads(tf.reshape(t, [B, nHead, T, hs]), B, T, C);
  return tf.concat([merge(dq), merge(dk), merge(dv)], 2);
}

// ---------------------------------------------------------------------------------------------------------
// Softmax cross-entropy

/**
 * Softmax cross-entropy over the vocabulary. logits [N, V], targets [N] int32, mask [N] float (optional,
 * 1 = counts). Targets outside [0, V) (e.g. Hugging Face's -100) count as masked. reduction 'mean'
 * (default): scalar mean over counted positions; 'none': per-position losses [N] (0 where not counted).
 */
export function softmaxCrossEntropy(
  logits: tf.Tensor2D,
  targets: tf.Tensor1D,
  mask?: tf.Tensor1D,
  reduction: 'mean' | 'none' = 'mean',
): Tensor {
  return tf.tidy(() => {
    const [, V] = logits.shape;
    const t = tf.cast(targets, 'int32');
    let losses: Tensor;
    if (hasKernel(CROSS_ENTROPY)) {
      losses = run(CROSS_ENTROPY, { logits, targets: t })[0];
    } else {
      // oneHot as int32 then cast (wasm's float32 oneHot writes int32 bits); out-of-range → zero row.
      const onehot = tf.cast(tf.oneHot(t, V), 'float32');
      losses = tf.neg(tf.sum(tf.mul(tf.logSoftmax(logits, -1), onehot), -1));
    }
    let counted: Tensor = tf.cast(tf.logicalAnd(tf.greaterEqual(t, 0), tf.less(t, V)), 'float32');
    if (mask) counted = tf.mul(counted, tf.cast(mask, 'float32'));
    losses = tf.mul(losses, counted);
    if (reduction === 'none') return losses;
    return tf.div(tf.sum(losses), tf.maximum(tf.sum(counted), 1));
  });
}

function crossEntropyBackward(dlosses: Tensor, logits: Tensor, targets: Tensor, lse: Tensor): Tensor {
  if (hasKernel(CROSS_ENTROPY_GRAD)) return run(CROSS_ENTROPY_GRAD, { dlosses, logits, targets, lse })[0];
  const [, V] = logits.shape;
  const valid = tf.cast(tf.logicalAnd(tf.greaterEqual(targets, 0), tf.less(targets, V)), 'float32');
  const probs = tf.exp(tf.sub(logits, tf.expandDims(lse, 1)));
  const onehot = tf.cast(tf.oneHot(targets, V), 'float32');
  return tf.mul(tf.sub(probs, onehot), tf.expandDims(tf.mul(dlosses, valid), 1));
}

// ---------------------------------------------------------------------------------------------------------
// Embedding

/** Embedding lookup. weight [V, C], ids int32 [...] → [..., C]. Gradient: scatter-add in linear time. */
export function embedding(weight: tf.Tensor2D, ids: Tensor): Tensor {
  const [V, C] = weight.shape;
  const lookup = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
    const [w, flatIds, save] = args as [Tensor, Tensor, tf.GradSaveFunc];
    save([flatIds]);
    return {
      value: tf.gather(w, flatIds),
      gradFunc: (dy: Tensor | Tensor[], saved: Tensor[]) => [
        embeddingBackward(dy as Tensor, saved[0], V),
        tf.zerosLike(saved[0]),
      ],
    };
  });
  return tf.tidy(() => {
    const flat = tf.cast(tf.reshape(ids, [-1]), 'int32');
    return tf.reshape(lookup(weight, flat), [...ids.shape, C]);
  });
}

function embeddingBackward(dout: Tensor, ids: Tensor, vocabSize: number): Tensor {
  if (hasKernel(EMBEDDING_GRAD)) return run(EMBEDDING_GRAD, { dout, ids }, { vocabSize })[0];
  // GPU memory: tfjs's own scatter (a sync read-back would need a canvas in Node).
  if (tf.getBackend() === 'webgpu') return tf.unsortedSegmentSum(dout, ids as tf.Tensor1D, vocabSize);
  // CPU memory: scatter-add on the host. (tfjs UnsortedSegmentSum is missing on wasm and quadratic on cpu.)
  const [N, C] = dout.shape;
  const dweight = new Float32Array(vocabSize * C);
  embeddingScatterAdd(
    dout.dataSync() as Float32Array,
    ids.dataSync() as Int32Array,
    N,
    C,
    vocabSize,
    dweight,
  );
  return tf.tensor2d(dweight, [vocabSize, C]);
}

// ---------------------------------------------------------------------------------------------------------
// Matmul

/** Matrix multiply with either operand transposed; 2-D or batched 3-D. */
export function matmul(a: Tensor, b: Tensor, transposeA = false, transposeB = false): Tensor {
  return tf.matMul(a, b, transposeA, transposeB);
}

// ---------------------------------------------------------------------------------------------------------
// Gradients of the forward kernels (registered once per process).

function registerGradients(): void {
  const grads: tf.GradConfig[] = [
    {
      kernelName: LAYER_NORM,
      inputsToSave: ['x', 'gamma'],
      outputsToSave: [false, true, true],
      gradFunc: (dy, saved) => {
        const [x, gamma, mean, rstd] = saved;
        const [dx, dgamma, dbeta] = layerNormBackward(first(dy), x, gamma, mean, rstd);
        return { x: () => dx, gamma: () => dgamma, beta: () => dbeta };
      },
    },
    {
      kernelName: GELU,
      inputsToSave: ['x'],
      gradFunc: (dy, saved) => ({ x: () => geluBackward(first(dy), saved[0]) }),
    },
    {
      kernelName: ATTENTION,
      inputsToSave: ['qkv'],
      outputsToSave: [false, true],
      gradFunc: (dy, saved, attrs) => {
        const [qkv, att] = saved;
        const dqkv = attentionBackward(first(dy), qkv, att, (attrs as { nHead: number }).nHead);
        const [B, T] = qkv.shape;
        return { qkv: () => dqkv, keyMask: () => tf.zeros([B, T]) };
      },
    },
    {
      kernelName: CROSS_ENTROPY,
      inputsToSave: ['logits', 'targets'],
      outputsToSave: [false, true],
      gradFunc: (dy, saved) => {
        const [logits, targets, lse] = saved;
        const dlogits = crossEntropyBackward(first(dy), logits, targets, lse);
        return { logits: () => dlogits, targets: () => tf.zerosLike(targets) };
      },
    },
  ];
  for (const g of grads) {
    if (!tf.getGradient(g.kernelName)) tf.registerGradient(g);
  }
  // Replaces tfjs 4.22's BatchMatMul gradient, which forgets to sum over broadcast batch dimensions
  // (x [B,T,C] · W [C,N] fails with "gradient of input 'b' has shape [B,C,N]").
  tf.registerGradient({
    kernelName: 'BatchMatMul',
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved, attrs) => {
      const [a, b] = saved;
      const d = first(dy);
      const { transposeA: ta, transposeB: tb } = attrs as { transposeA: boolean; transposeB: boolean };
      const [da, db] =
        !ta && !tb
          ? [tf.matMul(d, b, false, true), tf.matMul(a, d, true, false)]
          : !ta && tb
            ? [tf.matMul(d, b, false, false), tf.matMul(d, a, true, false)]
            : ta && !tb
              ? [tf.matMul(b, d, false, true), tf.matMul(a, d, false, false)]
              : [tf.matMul(b, d, true, true), tf.matMul(d, a, true, true)];
      return { a: () => sumToShape(da, a.shape), b: () => sumToShape(db, b.shape) };
    },
  });
}

/** Sums a broadcast gradient back to `shape` (leading batch axes, and batch axes of size 1). */
function sumToShape(g: Tensor, shape: number[]): Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank - 2; i++)
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  return tf.reshape(axes.length ? tf.sum(g, axes) : g, shape);
}

function first(dy: Tensor | Tensor[]): Tensor {
  return Array.isArray(dy) ? dy[0] : dy;
}

registerGradients();
