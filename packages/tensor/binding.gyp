{
  "targets": [
    {
      "target_name": "atelier_native",
      "sources": [
        "native/src/addon.cc",
        "native/src/cpu.cc",
        "native/src/pool.cc",
        "native/src/sgemm.cc",
        "native/src/kernels.cc"
      ],
      "cflags!": ["-fno-exceptions", "-O2", "-O0"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20", "-O2", "-O0"],
      "cflags": ["-O3", "-fno-math-errno", "-fno-trapping-math", "-fopenmp-simd"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O3", "-fno-math-errno", "-fno-trapping-math", "-fopenmp-simd"],
      "defines": ["NAPI_VERSION=8"],
      "ldflags": ["-pthread"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "GCC_OPTIMIZATION_LEVEL": "3",
        "OTHER_CPLUSPLUSFLAGS": ["-fno-math-errno", "-fopenmp-simd"]
      }
    }
  ]
}
