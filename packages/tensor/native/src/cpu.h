// Run-time CPU feature dispatch. One binary runs on any x86-64 (and compiles elsewhere with scalar code):
// the SIMD code paths carry per-function target attributes and are chosen by `cpu_level()`.
#pragma once

namespace atelier {

enum class CpuLevel { Scalar = 0, Avx2 = 1, Avx512 = 2 };

/** Best level this CPU supports, capped by the env var ATELIER_SIMD (scalar | avx2 | avx512). */
CpuLevel cpu_level();
/** Forces a level (tests exercise every path); clamps to what the CPU supports. */
void set_cpu_level(CpuLevel level);
const char* cpu_level_name(CpuLevel level);
CpuLevel cpu_level_max();

// ATELIER_NO_X86 builds the portable path only (what non-x86 targets get; used to check it compiles).
#if (defined(__x86_64__) || defined(__i386__)) && !defined(ATELIER_NO_X86)
#define ATELIER_X86 1
#define ATELIER_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define ATELIER_TARGET_AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")))
#else
#define ATELIER_X86 0
#endif

}  // namespace atelier
