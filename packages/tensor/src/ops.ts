import { tf } from './tf.js';

/** Layer norm over the last axis. x [..., C], gamma [C], beta [C] → [..., C]. */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon = 1e-5): tf.Tensor {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, -1, true);
    const xhat = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, epsilon)));
    return tf.add(tf.mul(xhat, gamma), beta);
  });
}

/** GELU, tanh approximation ("gelu_new" in Hugging Face GPT-2). */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const c = Math.sqrt(2 / Math.PI);
    const inner = tf.mul(c, tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
    return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
  });
}

/**
 * Causal multi-head self-attention from the fused projection (GPT-2's c_attn output).
 * qkv [B, T, 3C] laid out q | k | v along the last axis, each split into nHead heads of C/nHead.
 * keyMask [B, T] (optional): 1 for real tokens, 0 for padding; padded keys get no attention.
 * Returns [B, T, C] (heads merged, before c_proj). Scale 1/sqrt(head_dim).
 */
export function causalSelfAttention(qkv: tf.Tensor3D, nHead: number, keyMask?: tf.Tensor2D): tf.Tensor3D {
  return tf.tidy(() => {
    const [B, T, C3] = qkv.shape;
    const C = C3 / 3;
    const hs = C / nHead;
    const [q, k, v] = tf
      .split(qkv, 3, 2)
      .map((t) => tf.transpose(tf.reshape(t, [B, T, nHead, hs]), [0, 2, 1, 3]));
    const q3 = tf.reshape(q, [B * nHead, T, hs]);
    const k3 = tf.reshape(k, [B * nHead, T, hs]);
    const v3 = tf.reshape(v, [B * nHead, T, hs]);
    let att: tf.Tensor = tf.reshape(tf.mul(tf.matMul(q3, k3, false, true), 1 / Math.sqrt(hs)), [
      B,
      nHead,
      T,
      T,
    ]);
    const causal = tf.linalg.bandPart(tf.ones([T, T]), -1, 0); // lower triangle
    let allowed: tf.Tensor = tf.reshape(causal, [1, 1, T, T]);
    if (keyMask) allowed = tf.mul(allowed, tf.reshape(tf.cast(keyMask, 'float32'), [B, 1, 1, T]));
    att = tf.where(tf.greater(allowed, 0), att, tf.fill(att.shape, -1e9));
    const probs = tf.reshape(tf.softmax(att, -1), [B * nHead, T, T]);
    const y = tf.reshape(tf.matMul(probs, v3), [B, nHead, T, hs]);
    return tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [B, T, C]) as tf.Tensor3D;
  });
}

/**
 * Softmax cross-entropy over the vocabulary. logits [N, V], targets [N] int32, mask [N] float (optional,
 * 1 = counts). reduction 'mean' (default): scalar mean over masked positions; 'none': per-position losses [N]
 * (masked positions are 0).
 */
export function softmaxCrossEntropy(
  logits: tf.Tensor2D,
  targets: tf.Tensor1D,
  mask?: tf.Tensor1D,
  reduction: 'mean' | 'none' = 'mean',
): tf.Tensor {
  return tf.tidy(() => {
    const [, V] = logits.shape;
    const logp = tf.logSoftmax(logits, -1);
    const onehot = tf.cast(tf.oneHot(tf.cast(targets, 'int32'), V), 'float32');
    let losses: tf.Tensor = tf.neg(tf.sum(tf.mul(logp, onehot), -1));
    if (mask) losses = tf.mul(losses, mask);
    if (reduction === 'none') return losses;
    const denom = mask ? tf.maximum(tf.sum(mask), 1) : tf.scalar(targets.shape[0]);
    return tf.div(tf.sum(losses), denom);
  });
}

/** Embedding lookup. weight [V, C], ids int32 [...] → [..., C]. */
export function embedding(weight: tf.Tensor2D, ids: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const flat = tf.gather(weight, tf.cast(tf.reshape(ids, [-1]), 'int32'));
    return tf.reshape(flat, [...ids.shape, weight.shape[1]]);
  });
}

/** Matrix multiply with either operand transposed; 2-D or batched 3-D. */
export function matmul(a: tf.Tensor, b: tf.Tensor, transposeA = false, transposeB = false): tf.Tensor {
  return tf.matMul(a, b, transposeA, transposeB);
}
