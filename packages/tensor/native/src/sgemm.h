// Single-precision GEMM, row-major: C = alpha · op(A) · op(B) + beta · C, op(X) = X or Xᵀ.
// A is [M,K] (or [K,M] when transA), B is [K,N] (or [N,K] when transB), C is [M,N]; lda/ldb/ldc are row strides.
// beta == 0 overwrites C without reading it. Packed, cache-blocked BLIS-style loops around an AVX-512 or
// AVX2/FMA micro-kernel picked at run time (scalar C++ otherwise), multi-threaded on the pool.
#pragma once
#include <cstdint>

namespace atelier {

void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

/** `batch` independent GEMMs; matrix b uses A + b·strideA, B + b·strideB, C + b·strideC (stride 0 = shared). */
void sgemm_batched(int64_t batch, bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
                   const float* A, int64_t lda, int64_t strideA, const float* B, int64_t ldb, int64_t strideB,
                   float beta, float* C, int64_t ldc, int64_t strideC);

/** Micro-kernel shape in use ("avx512 6x64" …), for diagnostics. */
const char* sgemm_kernel_name();

}  // namespace atelier
