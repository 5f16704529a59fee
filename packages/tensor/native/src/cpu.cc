#include "cpu.h"

#include <cstdlib>
#include <cstring>

namespace atelier {
namespace {

CpuLevel detect() {
#if ATELIER_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw"))
    return CpuLevel::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return CpuLevel::Avx2;
#endif
  return CpuLevel::Scalar;
}

CpuLevel initial() {
  CpuLevel best = detect();
  if (const char* env = std::getenv("ATELIER_SIMD")) {
    CpuLevel want = best;
    if (!std::strcmp(env, "scalar")) want = CpuLevel::Scalar;
    else if (!std::strcmp(env, "avx2")) want = CpuLevel::Avx2;
    if (want < best) best = want;
  }
  return best;
}

CpuLevel& current() {
  static CpuLevel level = initial();
  return level;
}

}  // namespace

CpuLevel cpu_level_max() {
  static CpuLevel best = detect();
  return best;
}
CpuLevel cpu_level() { return current(); }
void set_cpu_level(CpuLevel level) { current() = level < cpu_level_max() ? level : cpu_level_max(); }
const char* cpu_level_name(CpuLevel level) {
  switch (level) {
    case CpuLevel::Avx512: return "avx512";
    case CpuLevel::Avx2: return "avx2";
    default: return "scalar";
  }
}

}  // namespace atelier
