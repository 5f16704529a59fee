/**
 * Kernel names of the contract between @atelier/tensor's ops and every backend (see docs: KERNELS.md).
 * All float32 and row-major; `targets`/`ids` are int32.
 */
/** x [N,C], gamma [C], beta [C]; attrs {epsilon} → y [N,C], mean [N], rstd [N]. */
export const LAYER_NORM = 'AtelierLayerNorm';
/** dy [N,C], x [N,C], gamma [C], mean [N], rstd [N] → dx [N,C], dgamma [C], dbeta [C]. */
export const LAYER_NORM_GRAD = 'AtelierLayerNormGrad';
/** x [any] → y, tanh-approximated GELU (HF "gelu_new"). */
export const GELU = 'AtelierGelu';
/** dy, x → dx. */
export const GELU_GRAD = 'AtelierGeluGrad';
/** qkv [B,T,3C], keyMask [B,T] (optional); attrs {nHead} → out [B,T,C], att [B,nHead,T,T]. */
export const ATTENTION = 'AtelierAttention';
/** dout [B,T,C], qkv [B,T,3C], att [B,nHead,T,T]; attrs {nHead} → dqkv [B,T,3C]. */
export const ATTENTION_GRAD = 'AtelierAttentionGrad';
/** logits [N,V], targets [N] → losses [N], lse [N]. */
export const CROSS_ENTROPY = 'AtelierCrossEntropy';
/** dlosses [N], logits [N,V], targets [N], lse [N] → dlogits [N,V]. */
export const CROSS_ENTROPY_GRAD = 'AtelierCrossEntropyGrad';
/** dout [N,C], ids [N]; attrs {vocabSize} → dweight [V,C]. */
export const EMBEDDING_GRAD = 'AtelierEmbeddingGrad';

export const ALL_KERNELS = [
  LAYER_NORM,
  LAYER_NORM_GRAD,
  GELU,
  GELU_GRAD,
  ATTENTION,
  ATTENTION_GRAD,
  CROSS_ENTROPY,
  CROSS_ENTROPY_GRAD,
  EMBEDDING_GRAD,
] as const;
