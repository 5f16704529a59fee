// Packed, cache-blocked SGEMM in the style of BLIS / GotoBLAS (Van Zee & van de Geijn, "BLIS: A Framework for
// Rapidly Instantiating BLAS Functionality", 2015):
//
//   for jc in N step NC            B panel  (KC x NC) packed once per (jc, pc), lives in L2/L3
//     for pc in K step KC
//       pack B[pc:pc+KC, jc:jc+NC] into NR-wide micro-panels
//       for ic in M step MC        A block  (MC x KC) packed, lives in L2
//         pack A[ic:ic+MC, pc:pc+KC] into MR-tall micro-panels
//         for jr in NC step NR     B micro-panel (KC x NR) stays in L1 across the ir loop
//           for ir in MC step MR
//             micro-kernel: C[MR x NR] (+)= A-panel · B-panel, accumulators in registers
//
// Transposes are absorbed by the packing routines, so all four variants run the same micro-kernel. Threads
// split C into disjoint slabs (along M or N, whichever keeps the bigger operand packed once) and each runs the
// loops above on its slab; batched GEMMs with many small matrices run one matrix per task instead.
#include "sgemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "cpu.h"
#include "pool.h"

#if ATELIER_X86
#include <immintrin.h>
#endif

namespace atelier {
namespace {

// acc = Σ_k Ap[k·MR + i] · Bp[k·NR + j];  C[i·ldc + j] = alpha·acc (+ beta·C when beta != 0).
using MicroKernel = void (*)(int64_t K, const float* Ap, const float* Bp, float* C, int64_t ldc, float alpha,
                             float beta);

struct KernelSpec {
  const char* name;
  int MR, NR, MC, KC, NC;
  MicroKernel ukr;
};

// ---------------------------------------------------------------------------------------------------------
// Micro-kernels
// ---------------------------------------------------------------------------------------------------------

template <int MR, int NR>
void ukr_scalar(int64_t K, const float* __restrict Ap, const float* __restrict Bp, float* C, int64_t ldc,
                float alpha, float beta) {
  float acc[MR][NR] = {};
  for (int64_t k = 0; k < K; ++k) {
    for (int i = 0; i < MR; ++i) {
      const float a = Ap[i];
      for (int j = 0; j < NR; ++j) acc[i][j] += a * Bp[j];
    }
    Ap += MR;
    Bp += NR;
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j)
      C[i * ldc + j] = beta == 0.f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * C[i * ldc + j];
}

#if ATELIER_X86
template <int MR, int NV>
ATELIER_TARGET_AVX2 void ukr_avx2(int64_t K, const float* __restrict Ap, const float* __restrict Bp, float* C,
                                  int64_t ldc, float alpha, float beta) {
  __m256 acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    __m256 b[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) b[v] = _mm256_load_ps(Bp + 8 * v);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m256 a = _mm256_broadcast_ss(Ap + i);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_fmadd_ps(a, b[v], acc[i][v]);
    }
    Ap += MR;
    Bp += 8 * NV;
  }
  const __m256 va = _mm256_set1_ps(alpha);
  if (beta == 0.f) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) _mm256_storeu_ps(C + i * ldc + 8 * v, _mm256_mul_ps(va, acc[i][v]));
  } else {
    const __m256 vb = _mm256_set1_ps(beta);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) {
        float* c = C + i * ldc + 8 * v;
        _mm256_storeu_ps(c, _mm256_fmadd_ps(vb, _mm256_loadu_ps(c), _mm256_mul_ps(va, acc[i][v])));
      }
  }
}

template <int MR, int NV>
ATELIER_TARGET_AVX512 void ukr_avx512(int64_t K, const float* __restrict Ap, const float* __restrict Bp,
                                      float* C, int64_t ldc, float alpha, float beta) {
  __m512 acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    __m512 b[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) b[v] = _mm512_load_ps(Bp + 16 * v);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m512 a = _mm512_set1_ps(Ap[i]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(a, b[v], acc[i][v]);
    }
    Ap += MR;
    Bp += 16 * NV;
  }
  const __m512 va = _mm512_set1_ps(alpha);
  if (beta == 0.f) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) _mm512_storeu_ps(C + i * ldc + 16 * v, _mm512_mul_ps(va, acc[i][v]));
  } else {
    const __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) {
        float* c = C + i * ldc + 16 * v;
        _mm512_storeu_ps(c, _mm512_fmadd_ps(vb, _mm512_loadu_ps(c), _mm512_mul_ps(va, acc[i][v])));
      }
  }
}
#endif

const KernelSpec kScalar{"scalar 4x16", 4, 16, 128, 256, 1024, ukr_scalar<4, 16>};
#if ATELIER_X86
const KernelSpec kAvx2{"avx2 6x16", 6, 16, 96, 256, 2048, ukr_avx2<6, 2>};
// 4x96: 24 zmm accumulators + 6 B vectors + 1 broadcast (31 of 32 registers). Measured on Zen 4 against
// 6x64, 8x48, 12x32 and 14x32: best at GPT-2's M = B·T = 128 (no ragged row tile) and as good elsewhere.
// KC = 512: C is read and written once per 512 of K; NC a multiple of NR.
const KernelSpec kAvx512{"avx512 4x96", 4, 96, 128, 512, 1536, ukr_avx512<4, 6>};
#endif

const KernelSpec& spec() {
#if ATELIER_X86
  switch (cpu_level()) {
    case CpuLevel::Avx512: return kAvx512;
    case CpuLevel::Avx2: return kAvx2;
    default: return kScalar;
  }
#else
  return kScalar;
#endif
}

// ---------------------------------------------------------------------------------------------------------
// Packing
// ---------------------------------------------------------------------------------------------------------

struct Gemm {
  bool ta, tb;
  int64_t M, N, K;
  float alpha;
  const float* A;
  int64_t lda;
  const float* B;
  int64_t ldb;
  float beta;
  float* C;
  int64_t ldc;
};

// A[ic:ic+mc, pc:pc+kc] → MR-tall micro-panels: dst[panel][k][i], zero-padded to a multiple of MR rows.
void pack_a(const Gemm& g, int64_t ic, int64_t mc, int64_t pc, int64_t kc, int MR, float* dst) {
  for (int64_t ir = 0; ir < mc; ir += MR) {
    const int64_t mr = std::min<int64_t>(MR, mc - ir);
    float* d = dst + ir * kc;
    if (!g.ta) {
      for (int64_t i = 0; i < mr; ++i) {
        const float* src = g.A + (ic + ir + i) * g.lda + pc;
        for (int64_t k = 0; k < kc; ++k) d[k * MR + i] = src[k];
      }
    } else {
      for (int64_t k = 0; k < kc; ++k) {
        const float* src = g.A + (pc + k) * g.lda + ic + ir;
        for (int64_t i = 0; i < mr; ++i) d[k * MR + i] = src[i];
      }
    }
    if (mr < MR)
      for (int64_t k = 0; k < kc; ++k)
        for (int64_t i = mr; i < MR; ++i) d[k * MR + i] = 0.f;
  }
}

#if ATELIER_X86
// In-register 16x16 transpose (unpack → 64-bit shuffles → two rounds of 128-bit lane shuffles).
ATELIER_TARGET_AVX512 inline void transpose16x16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int h = 0; h < 16; h += 8)
    for (int i = 0; i < 4; ++i) {
      t[h + i] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0x88);
      t[h + i + 4] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0xDD);
    }
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
  }
}

// The transposed-B case of pack_b with 16x16 register transposes: B is [N, K] row-major, so a panel's
// column j is a contiguous row of B; 16 rows x 16 k become 16 contiguous 64-byte stores.
ATELIER_TARGET_AVX512 void pack_b_trans_avx512(const float* B, int64_t ldb, int64_t kc, int64_t nr, int NR,
                                               float* d) {
  const int64_t nr16 = nr & ~int64_t{15}, kc16 = kc & ~int64_t{15};
  for (int64_t j = 0; j < nr16; j += 16) {
    for (int64_t k = 0; k < kc16; k += 16) {
      __m512 r[16];
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(B + (j + i) * ldb + k);
      transpose16x16(r);
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i) _mm512_storeu_ps(d + (k + i) * NR + j, r[i]);
    }
    for (int64_t i = 0; i < 16; ++i) {
      const float* src = B + (j + i) * ldb;
      for (int64_t k = kc16; k < kc; ++k) d[k * NR + j + i] = src[k];
    }
  }
  for (int64_t j = nr16; j < nr; ++j) {
    const float* src = B + j * ldb;
    for (int64_t k = 0; k < kc; ++k) d[k * NR + j] = src[k];
  }
}
#endif

// B[pc:pc+kc, jc:jc+nc] → NR-wide micro-panels: dst[panel][k][j], zero-padded to a multiple of NR columns.
void pack_b(const Gemm& g, int64_t pc, int64_t kc, int64_t jc, int64_t nc, int NR, float* dst) {
  for (int64_t jr = 0; jr < nc; jr += NR) {
    const int64_t nr = std::min<int64_t>(NR, nc - jr);
    float* d = dst + jr * kc;
    if (!g.tb) {
      for (int64_t k = 0; k < kc; ++k) {
        const float* src = g.B + (pc + k) * g.ldb + jc + jr;
        std::memcpy(d + k * NR, src, nr * sizeof(float));
        for (int64_t j = nr; j < NR; ++j) d[k * NR + j] = 0.f;
      }
    } else {
#if ATELIER_X86
      if (cpu_level() == CpuLevel::Avx512) {
        pack_b_trans_avx512(g.B + (jc + jr) * g.ldb + pc, g.ldb, kc, nr, NR, d);
      } else
#endif
        for (int64_t j = 0; j < nr; ++j) {
          const float* src = g.B + (jc + jr + j) * g.ldb + pc;
          for (int64_t k = 0; k < kc; ++k) d[k * NR + j] = src[k];
        }
      if (nr < NR)
        for (int64_t k = 0; k < kc; ++k)
          for (int64_t j = nr; j < NR; ++j) d[k * NR + j] = 0.f;
    }
  }
}

struct Buffers {
  float* a = nullptr;
  float* b = nullptr;
  size_t a_size = 0, b_size = 0;
  ~Buffers() {
    std::free(a);
    std::free(b);
  }
  static float* grow(float*& p, size_t& have, size_t need) {
    if (have < need) {
      std::free(p);
      p = static_cast<float*>(std::aligned_alloc(64, ((need * sizeof(float) + 63) / 64) * 64));
      have = need;
    }
    return p;
  }
};

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};

Buffers& buffers() {
  static thread_local Buffers b;
  return b;
}

// C = beta·C (K == 0 or alpha == 0).
void scale_c(const Gemm& g) {
  for (int64_t i = 0; i < g.M; ++i) {
    float* c = g.C + i * g.ldc;
    for (int64_t j = 0; j < g.N; ++j) c[j] = g.beta == 0.f ? 0.f : g.beta * c[j];
  }
}

// Where A block (pc, ic) lives in a buffer holding all of A packed: pc blocks of Mpad·kc floats, within
// which the MC-row blocks follow one another (every block but the last has MC rows, a multiple of MR).
inline int64_t prepacked_offset(int64_t pc, int64_t ic, int64_t kc, int64_t Mpad) { return pc * Mpad + ic * kc; }

// The five loops on one thread. `packedA` (optional) holds all of A already packed (see prepacked_offset).
void gemm_serial(const Gemm& g, const float* packedA = nullptr) {
  if (g.M <= 0 || g.N <= 0) return;
  if (g.K <= 0) return scale_c(g);
  const KernelSpec& ks = spec();
  const int MR = ks.MR, NR = ks.NR;
  const int64_t KC = ks.KC;
  const int64_t MC = ks.MC;
  const int64_t NC = ks.NC;
  Buffers& buf = buffers();
  const int64_t kcmax = std::min(KC, g.K);
  float* pa = Buffers::grow(buf.a, buf.a_size, static_cast<size_t>(((std::min(MC, g.M) + MR - 1) / MR) * MR * kcmax));
  float* pb = Buffers::grow(buf.b, buf.b_size, static_cast<size_t>(((std::min(NC, g.N) + NR - 1) / NR) * NR * kcmax));
  alignas(64) float tile[16 * 64];

  for (int64_t jc = 0; jc < g.N; jc += NC) {
    const int64_t nc = std::min(NC, g.N - jc);
    for (int64_t pc = 0; pc < g.K; pc += KC) {
      const int64_t kc = std::min(KC, g.K - pc);
      const float beta = pc == 0 ? g.beta : 1.f;
      pack_b(g, pc, kc, jc, nc, NR, pb);
      for (int64_t ic = 0; ic < g.M; ic += MC) {
        const int64_t mc = std::min(MC, g.M - ic);
        const float* ablock = pa;
        if (packedA) ablock = packedA + prepacked_offset(pc, ic, kc, ((g.M + MR - 1) / MR) * MR);
        else pack_a(g, ic, mc, pc, kc, MR, pa);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int64_t nr = std::min<int64_t>(NR, nc - jr);
          const float* bp = pb + jr * kc;
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int64_t mr = std::min<int64_t>(MR, mc - ir);
            const float* ap = ablock + ir * kc;
            float* c = g.C + (ic + ir) * g.ldc + jc + jr;
            if (mr == MR && nr == NR) {
              ks.ukr(kc, ap, bp, c, g.ldc, g.alpha, beta);
            } else {
              ks.ukr(kc, ap, bp, tile, NR, g.alpha, 0.f);
              for (int64_t i = 0; i < mr; ++i)
                for (int64_t j = 0; j < nr; ++j) {
                  float* cij = c + i * g.ldc + j;
                  *cij = beta == 0.f ? tile[i * NR + j] : tile[i * NR + j] + beta * *cij;
                }
            }
          }
        }
      }
    }
  }
}

// Sub-problem for rows [i0, i1) and columns [j0, j1) of C.
Gemm slab(const Gemm& g, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
  Gemm s = g;
  s.M = i1 - i0;
  s.N = j1 - j0;
  s.A = g.ta ? g.A + i0 : g.A + i0 * g.lda;
  s.B = g.tb ? g.B + j0 * g.ldb : g.B + j0;
  s.C = g.C + i0 * g.ldc + j0;
  return s;
}

void gemm_parallel(const Gemm& g) {
  const KernelSpec& ks = spec();
  const int nt = num_threads();
  const double flops = 2.0 * g.M * g.N * g.K;
  if (nt == 1 || flops < 1.0e6) return gemm_serial(g);
  const int64_t mtiles = (g.M + ks.MR - 1) / ks.MR;
  const int64_t ntiles = (g.N + ks.NR - 1) / ks.NR;
  // Split the dimension whose split duplicates less packing: along N each thread packs all of A (M·K),
  // along M each packs all of B (K·N). Need at least one tile per part.
  bool splitN = g.M < g.N ? ntiles >= nt : mtiles < nt;
  if (splitN && ntiles < 2) splitN = false;
  if (!splitN && mtiles < 2) return gemm_serial(g);
  const int64_t tiles = splitN ? ntiles : mtiles;
  // A few parts per thread, claimed dynamically: on a shared machine a descheduled thread then holds up only
  // a small part. Parts stay above ~4 MFLOP so the per-part packing and pool overhead remain a few percent.
  // Every part streams the whole unsplit operand (all of A when splitting N, all of B when splitting M):
  // when that operand is large (the LM head's 50257-long K or M), one part per thread.
  const int64_t unsplit = splitN ? g.M * g.K : g.K * g.N;
  const int64_t per_thread = unsplit > (int64_t{1} << 20) ? 1 : 4;
  const int64_t by_work = std::max<int64_t>(nt, static_cast<int64_t>(flops / 4.0e6));
  const int parts = static_cast<int>(std::min<int64_t>({tiles, static_cast<int64_t>(nt) * per_thread, by_work}));
  // Split along N, every part needs all of A: pack it once, in parallel, instead of once per part.
  const float* packedA = nullptr;
  std::unique_ptr<float, FreeDeleter> shared;
  const int64_t Mpad = ((g.M + ks.MR - 1) / ks.MR) * ks.MR;
  if (splitN && parts > 1 && Mpad * g.K <= (int64_t{1} << 23)) {
    shared.reset(static_cast<float*>(std::aligned_alloc(64, ((Mpad * g.K * sizeof(float) + 63) / 64) * 64)));
    const int64_t nkc = (g.K + ks.KC - 1) / ks.KC, nmc = (g.M + ks.MC - 1) / ks.MC;
    parallel_for(static_cast<int>(nkc * nmc), [&](int b, int) {
      const int64_t pc = (b / nmc) * ks.KC, ic = (b % nmc) * ks.MC;
      const int64_t kc = std::min<int64_t>(ks.KC, g.K - pc), mc = std::min<int64_t>(ks.MC, g.M - ic);
      pack_a(g, ic, mc, pc, kc, ks.MR, shared.get() + prepacked_offset(pc, ic, kc, Mpad));
    });
    packedA = shared.get();
  }
  parallel_for(parts, [&](int p, int) {
    const int64_t t0 = tiles * p / parts, t1 = tiles * (p + 1) / parts;
    if (splitN) {
      const int64_t j0 = t0 * ks.NR, j1 = std::min(g.N, t1 * ks.NR);
      gemm_serial(slab(g, 0, g.M, j0, j1), packedA);
    } else {
      const int64_t i0 = t0 * ks.MR, i1 = std::min(g.M, t1 * ks.MR);
      gemm_serial(slab(g, i0, i1, 0, g.N));
    }
  });
}

}  // namespace

const char* sgemm_kernel_name() { return spec().name; }

void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  gemm_parallel(Gemm{transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc});
}

void sgemm_batched(int64_t batch, bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
                   const float* A, int64_t lda, int64_t strideA, const float* B, int64_t ldb, int64_t strideB,
                   float beta, float* C, int64_t ldc, int64_t strideC) {
  if (batch <= 0) return;
  const int nt = num_threads();
  const double flops = 2.0 * M * N * K;
  auto one = [&](int64_t b) {
    return Gemm{transA, transB, M, N, K, alpha, A + b * strideA, lda, B + b * strideB, ldb, beta, C + b * strideC,
                ldc};
  };
  if (batch >= 2 * nt && flops < 3.0e7) {
    // Many small matrices (attention heads): one matrix per task.
    parallel_for(static_cast<int>(batch), [&](int b, int) { gemm_serial(one(b)); });
  } else {
    for (int64_t b = 0; b < batch; ++b) gemm_parallel(one(b));
  }
}

}  // namespace atelier
