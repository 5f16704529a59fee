// Compiles kernels_body.inc three times — baseline, AVX2/FMA and AVX-512 — and dispatches on cpu_level().
#include "kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "cpu.h"
#include "pool.h"

namespace atelier {

namespace k_base {
#include "kernels_body.inc"
}  // namespace k_base

#if ATELIER_X86
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
namespace k_avx2 {
#include "kernels_body.inc"
}  // namespace k_avx2
#if defined(__clang__)
#pragma clang attribute pop
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma"))), \
                             apply_to = function)
#else
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")
#endif
namespace k_avx512 {
#include "kernels_body.inc"
}  // namespace k_avx512
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#define ATELIER_DISPATCH(fn, ...)                                  \
  switch (cpu_level()) {                                           \
    case CpuLevel::Avx512: return k_avx512::fn(__VA_ARGS__);       \
    case CpuLevel::Avx2: return k_avx2::fn(__VA_ARGS__);           \
    default: return k_base::fn(__VA_ARGS__);                       \
  }
#else
#define ATELIER_DISPATCH(fn, ...) return k_base::fn(__VA_ARGS__);
#endif

void layernorm_forward(const float* x, const float* gamma, const float* beta, float eps, int64_t N, int64_t C,
                       float* y, float* mean, float* rstd) {
  ATELIER_DISPATCH(layernorm_forward, x, gamma, beta, eps, N, C, y, mean, rstd)
}
void layernorm_backward(const float* dy, const float* x, const float* gamma, const float* mean,
                        const float* rstd, int64_t N, int64_t C, float* dx, float* dgamma, float* dbeta) {
  ATELIER_DISPATCH(layernorm_backward, dy, x, gamma, mean, rstd, N, C, dx, dgamma, dbeta)
}
void gelu_forward(const float* x, int64_t n, float* y) { ATELIER_DISPATCH(gelu_forward, x, n, y) }
void gelu_backward(const float* dy, const float* x, int64_t n, float* dx) {
  ATELIER_DISPATCH(gelu_backward, dy, x, n, dx)
}
void attention_forward(const float* qkv, const float* keyMask, int64_t B, int64_t T, int64_t C, int64_t nHead,
                       float* out, float* att) {
  ATELIER_DISPATCH(attention_forward, qkv, keyMask, B, T, C, nHead, out, att)
}
void attention_backward(const float* dout, const float* qkv, const float* att, int64_t B, int64_t T, int64_t C,
                        int64_t nHead, float* dqkv) {
  ATELIER_DISPATCH(attention_backward, dout, qkv, att, B, T, C, nHead, dqkv)
}
void crossentropy_forward(const float* logits, const int32_t* targets, int64_t N, int64_t V, float* losses,
                          float* lse) {
  ATELIER_DISPATCH(crossentropy_forward, logits, targets, N, V, losses, lse)
}
void crossentropy_backward(const float* dlosses, const float* logits, const int32_t* targets, const float* lse,
                           int64_t N, int64_t V, float* dlogits) {
  ATELIER_DISPATCH(crossentropy_backward, dlosses, logits, targets, lse, N, V, dlogits)
}
void embedding_backward(const float* dout, const int32_t* ids, int64_t N, int64_t C, int64_t V, float* dweight) {
  ATELIER_DISPATCH(embedding_backward, dout, ids, N, C, V, dweight)
}
void adamw_step(float* param, const float* grad, float* m, float* v, int64_t n, float lr, float beta1,
                float beta2, float eps, float weightDecay, double bc1, double bc2) {
  ATELIER_DISPATCH(adamw_step, param, grad, m, v, n, lr, beta1, beta2, eps, weightDecay, bc1, bc2)
}
void binary_forward(int op, const float* a, int64_t na, const float* b, int64_t nb, float* out, int64_t n) {
  ATELIER_DISPATCH(binary_forward, op, a, na, b, nb, out, n)
}
void sum_forward(const float* x, int64_t R, int64_t C, bool columns, float* out) {
  ATELIER_DISPATCH(sum_forward, x, R, C, columns, out)
}
void softmax_forward(const float* x, int64_t N, int64_t C, float* y) {
  ATELIER_DISPATCH(softmax_forward, x, N, C, y)
}

}  // namespace atelier
