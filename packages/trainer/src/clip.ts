import { tf } from '@atelier/tensor';

/** Global L2 norm of all gradients, sqrt(Σ‖g‖²), as a scalar tensor (one read-back per step). */
export function globalNorm(grads: Iterable<tf.Tensor>): tf.Scalar {
  return tf.tidy(() => {
    // ‖g‖² as a [1,n]·[n,1] dot product: one pass in the backend's matmul, no squared temporary.
    const squares = [...grads].map((g) => {
      const flat = tf.reshape(g, [1, -1]);
      return tf.reshape(tf.matMul(flat, flat, false, true), []);
    });
    return tf.sqrt(squares.length === 1 ? squares[0] : tf.addN(squares)) as tf.Scalar;
  });
}

/**
 * Factor that clips gradients of global norm `norm` to at most `maxNorm`
 * (as torch.nn.utils.clip_grad_norm_: maxNorm / (norm + 1e-6), capped at 1; maxNorm 0 disables).
 */
export function clipFactor(norm: number, maxNorm: number): number {
  if (maxNorm <= 0) return 1;
  return Math.min(1, maxNorm / (norm + 1e-6));
}
