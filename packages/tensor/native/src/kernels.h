// Fused llm.c-style kernels for GPT-2 training (float32, row-major). Shapes in the argument names; contracts
// match KERNELS.md. Embedding ids are validated by the caller; cross-entropy targets outside [0, V) mark
// ignored positions (loss 0, gradient 0), like torch's ignore_index = -100.
#pragma once
#include <cstdint>

namespace atelier {

void layernorm_forward(const float* x, const float* gamma, const float* beta, float eps, int64_t N, int64_t C,
                       float* y, float* mean, float* rstd);
void layernorm_backward(const float* dy, const float* x, const float* gamma, const float* mean,
                        const float* rstd, int64_t N, int64_t C, float* dx, float* dgamma, float* dbeta);
void gelu_forward(const float* x, int64_t n, float* y);
void gelu_backward(const float* dy, const float* x, int64_t n, float* dx);
/** keyMask may be null (no padding). att [B,nH,T,T] gets softmax probs (0 for future/masked keys). */
void attention_forward(const float* qkv, const float* keyMask, int64_t B, int64_t T, int64_t C, int64_t nHead,
                       float* out, float* att);
void attention_backward(const float* dout, const float* qkv, const float* att, int64_t B, int64_t T, int64_t C,
                        int64_t nHead, float* dqkv);
void crossentropy_forward(const float* logits, const int32_t* targets, int64_t N, int64_t V, float* losses,
                          float* lse);
void crossentropy_backward(const float* dlosses, const float* logits, const int32_t* targets, const float* lse,
                           int64_t N, int64_t V, float* dlogits);
/** Accumulates (+=) into dweight [V, C]; pass zeroed memory for a plain gradient. */
void embedding_backward(const float* dout, const int32_t* ids, int64_t N, int64_t C, int64_t V, float* dweight);
/** torch.optim.AdamW step in place. bc1 = 1 − β1^t, bc2 = 1 − β2^t. */
void adamw_step(float* param, const float* grad, float* m, float* v, int64_t n, float lr, float beta1,
                float beta2, float eps, float weightDecay, double bc1, double bc2);
/**
 * out[i] = a[i mod na] (op) b[i mod nb], i < n; na, nb ∈ {1, n, a divisor of n (row broadcast)}.
 * op: 0 add, 1 sub, 2 mul, 3 div.
 */
void binary_forward(int op, const float* a, int64_t na, const float* b, int64_t nb, float* out, int64_t n);
/** x as [R, C]: columns → out[C] = Σ over rows; else out[R] = Σ over columns. */
void sum_forward(const float* x, int64_t R, int64_t C, bool columns, float* out);
/** Softmax over the last axis of [N, C]. */
void softmax_forward(const float* x, int64_t N, int64_t C, float* y);

}  // namespace atelier
