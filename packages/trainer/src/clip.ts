import { tf } from '@atelier/tensor';

/** Global L2 norm of all gradients, sqrt(Σ‖g‖²), as a scalar tensor (one read-back per step). */
export function globalNorm(grads: Iterable<tf.Tensor>): tf.Scalar {
  return tf.tidy(() => tf.sqrt(tf.addN([...grads].map((g) => tf.sum(tf.square(g))))) as tf.Scalar);
}

/**
 * Factor that clips gradients of global norm `norm` to at most `maxNorm`
 * (as torch.nn.utils.clip_grad_norm_: maxNorm / (norm + 1e-6), capped at 1; maxNorm 0 disables).
 */
export function clipFactor(norm: number, maxNorm: number): number {
  if (maxNorm <= 0) return 1;
  return Math.min(1, maxNorm / (norm + 1e-6));
}
