// N-API bindings. Every function takes TypedArrays that alias tfjs tensor storage (zero-copy) plus sizes,
// validates that each array has the dtype and length the sizes imply, and throws a JS error otherwise.
// Kernels run synchronously on the calling (main) thread plus the pool's workers.
#include <node_api.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>

#include "cpu.h"
#include "kernels.h"
#include "pool.h"
#include "sgemm.h"

using namespace atelier;

namespace {

struct ArgError {
  std::string message;
};

class Args {
 public:
  Args(napi_env env, napi_callback_info info, const char* fn) : env_(env), fn_(fn) {
    size_t argc = kMax;
    napi_get_cb_info(env, info, &argc, argv_, nullptr, nullptr);
    argc_ = argc;
  }

  napi_value at(size_t i) {
    if (i >= argc_) fail(i, "is missing");
    return argv_[i];
  }

  [[noreturn]] void fail(size_t i, const std::string& what) {
    throw ArgError{std::string(fn_) + ": argument " + std::to_string(i) + " " + what};
  }

  double number(size_t i) {
    double v;
    if (napi_get_value_double(env_, at(i), &v) != napi_ok) fail(i, "must be a number");
    return v;
  }

  int64_t integer(size_t i, int64_t min = 0) {
    const double v = number(i);
    if (!std::isfinite(v) || v != std::floor(v) || v < static_cast<double>(min) || v > 9.0e15)
      fail(i, "must be an integer >= " + std::to_string(min) + " (got " + std::to_string(v) + ")");
    return static_cast<int64_t>(v);
  }

  bool boolean(size_t i) {
    bool v;
    if (napi_get_value_bool(env_, at(i), &v) != napi_ok) fail(i, "must be a boolean");
    return v;
  }

  bool is_null(size_t i) {
    if (i >= argc_) return true;
    napi_valuetype t;
    napi_typeof(env_, argv_[i], &t);
    return t == napi_null || t == napi_undefined;
  }

  template <typename T>
  T* typed(size_t i, napi_typedarray_type want, const char* want_name, int64_t min_len) {
    napi_value v = at(i);
    bool is = false;
    napi_is_typedarray(env_, v, &is);
    if (!is) fail(i, std::string("must be a ") + want_name);
    napi_typedarray_type type;
    size_t length;
    void* data;
    napi_value buffer;
    size_t offset;
    napi_get_typedarray_info(env_, v, &type, &length, &data, &buffer, &offset);
    if (type != want) fail(i, std::string("must be a ") + want_name);
    if (static_cast<int64_t>(length) < min_len)
      fail(i, "has " + std::to_string(length) + " elements, needs " + std::to_string(min_len));
    return static_cast<T*>(data);
  }

  float* f32(size_t i, int64_t len) { return typed<float>(i, napi_float32_array, "Float32Array", len); }
  int32_t* i32(size_t i, int64_t len) { return typed<int32_t>(i, napi_int32_array, "Int32Array", len); }

 private:
  static constexpr size_t kMax = 16;
  napi_env env_;
  const char* fn_;
  napi_value argv_[kMax];
  size_t argc_ = 0;
};

napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

template <typename F>
napi_value guarded(napi_env env, F&& body) {
  try {
    return body();
  } catch (const ArgError& e) {
    napi_throw_error(env, "ATELIER_NATIVE_ARG", e.message.c_str());
  } catch (const std::exception& e) {
    napi_throw_error(env, "ATELIER_NATIVE", e.what());
  }
  return nullptr;
}

void check_ids(Args& a, size_t i, const int32_t* ids, int64_t n, int64_t limit, const char* what) {
  for (int64_t k = 0; k < n; ++k)
    if (ids[k] < 0 || ids[k] >= limit)
      a.fail(i, std::string(what) + "[" + std::to_string(k) + "] = " + std::to_string(ids[k]) +
                    " is out of range [0, " + std::to_string(limit) + ")");
}

// info() → { simd, simdMax, threads, gemmKernel }
napi_value Info(napi_env env, napi_callback_info) {
  napi_value obj, v;
  napi_create_object(env, &obj);
  napi_create_string_utf8(env, cpu_level_name(cpu_level()), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, obj, "simd", v);
  napi_create_string_utf8(env, cpu_level_name(cpu_level_max()), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, obj, "simdMax", v);
  napi_create_int32(env, num_threads(), &v);
  napi_set_named_property(env, obj, "threads", v);
  napi_create_string_utf8(env, sgemm_kernel_name(), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, obj, "gemmKernel", v);
  return obj;
}

// setThreads(n)
napi_value SetThreads(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    Args a(env, info, "setThreads");
    set_num_threads(static_cast<int>(a.integer(0, 1)));
    return undefined(env);
  });
}

// setSimd('scalar' | 'avx2' | 'avx512'): clamps to what the CPU has.
napi_value SetSimd(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    Args a(env, info, "setSimd");
    char buf[16];
    size_t len = 0;
    if (napi_get_value_string_utf8(env, a.at(0), buf, sizeof(buf), &len) != napi_ok) a.fail(0, "must be a string");
    std::string s(buf, len);
    if (s == "scalar") set_cpu_level(CpuLevel::Scalar);
    else if (s == "avx2") set_cpu_level(CpuLevel::Avx2);
    else if (s == "avx512") set_cpu_level(CpuLevel::Avx512);
    else a.fail(0, "must be 'scalar', 'avx2' or 'avx512'");
    return undefined(env);
  });
}

// matmul(a, b, c, batch, M, N, K, transA, transB, batchStrideA, batchStrideB[, accumulate]):
// C[b] = op(A[b]) · op(B[b]) (+ C[b] when accumulate), C contiguous [batch, M, N]; A[b] is a + b·strideA
// laid out [M,K] ([K,M] if transA); strides may be 0.
napi_value Matmul(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    Args a(env, info, "matmul");
    const int64_t batch = a.integer(3), M = a.integer(4), N = a.integer(5), K = a.integer(6);
    const bool ta = a.boolean(7), tb = a.boolean(8);
    const int64_t sa = a.integer(9), sb = a.integer(10);
    const int64_t lastA = batch > 0 ? (batch - 1) * sa + M * K : 0;
    const int64_t lastB = batch > 0 ? (batch - 1) * sb + K * N : 0;
    const float* A = a.f32(0, lastA);
    const float* B = a.f32(1, lastB);
    float* C = a.f32(2, batch * M * N);
    const float beta = !a.is_null(11) && a.boolean(11) ? 1.0f : 0.0f;
    sgemm_batched(batch, ta, tb, M, N, K, 1.0f, A, ta ? M : K, sa, B, tb ? K : N, sb, beta, C, N, M * N);
    return undefined(env);
  });
}

// layerNormForward(x, gamma, beta, y, mean, rstd, N, C, eps)
napi_value LayerNormForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    Args a(env, info, "layerNormForward");
    const int64_t N = a.integer(6), C = a.integer(7, 1);
    const float eps = static_cast<float>(a.number(8));
    layernorm_forward(a.f32(0, N * C), a.f32(1, C), a.f32(2, C), eps, N, C, a.f32(3, N * C), a.f32(4, N),
                      a.f32(5, N));
    return undefined(env);
  });
}

// layerNormBackward(dy, x, gamma, mean, rstd, dx, dgamma, dbeta, N, C)
napi_value LayerNormBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    Args a(env, info, "layerNormBackward");
    const int64_t N = a.integer(8), C = a.integer(9, 1);
    layernorm_backward(a.f32(0, N * C), a.f32(1, N * C), a.f32(2, C), a.f32(3, N), a.f32(4, N), N, C,
                       a.f32(5, N * C), a.f32(6, C), a.f32(7, C));
    return undefined(env);
  });
}

// geluForward(x, y, n) / geluBackward(dy, x, dx, n)
napi_value GeluForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    Args a(env, info, "geluForward");
    const int64_t n = a.integer(2);
    gelu_forward(a.f32(0, n), n, a.f32(1, n));
    return undefined(env);
  });
}
napi_value GeluBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    Args a(env, info, "geluBackward");
    const int64_t n = a.integer(3);
    gelu_backward(a.f32(0, n), a.f32(1, n), n, a.f32(2, n));
    return undefined(env);
  });
}

// attentionForward(qkv, keyMask | null, out, att, B, T, C, nHead)
napi_value AttentionForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    Args a(env, info, "attentionForward");
    const int64_t B = a.integer(4), T = a.integer(5), C = a.integer(6, 1), nH = a.integer(7, 1);
    if (C % nH != 0) a.fail(7, "nHead must divide C (" + std::to_string(C) + ")");
    const float* mask = a.is_null(1) ? nullptr : a.f32(1, B * T);
    attention_forward(a.f32(0, B * T * 3 * C), mask, B, T, C, nH, a.f32(2, B * T * C), a.f32(3, B * nH * T * T));
    return undefined(env);
  });
}

// attentionBackward(dout, qkv, att, dqkv, B, T, C, nHead)
napi_value AttentionBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    Args a(env, info, "attentionBackward");
    const int64_t B = a.integer(4), T = a.integer(5), C = a.integer(6, 1), nH = a.integer(7, 1);
    if (C % nH != 0) a.fail(7, "nHead must divide C (" + std::to_string(C) + ")");
    attention_backward(a.f32(0, B * T * C), a.f32(1, B * T * 3 * C), a.f32(2, B * nH * T * T), B, T, C, nH,
                       a.f32(3, B * T * 3 * C));
    return undefined(env);
  });
}

// crossEntropyForward(logits, targets, losses, lse, N, V)
napi_value CrossEntropyForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    Args a(env, info, "crossEntropyForward");
    const int64_t N = a.integer(4), V = a.integer(5, 1);
    const int32_t* targets = a.i32(1, N);  // out-of-range targets are ignored positions
    crossentropy_forward(a.f32(0, N * V), targets, N, V, a.f32(2, N), a.f32(3, N));
    return undefined(env);
  });
}

// crossEntropyBackward(dlosses, logits, targets, lse, dlogits, N, V)
napi_value CrossEntropyBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    Args a(env, info, "crossEntropyBackward");
    const int64_t N = a.integer(5), V = a.integer(6, 1);
    const int32_t* targets = a.i32(2, N);
    crossentropy_backward(a.f32(0, N), a.f32(1, N * V), targets, a.f32(3, N), N, V, a.f32(4, N * V));
    return undefined(env);
  });
}

// embeddingBackward(dout, ids, dweight, N, C, V)
napi_value EmbeddingBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    Args a(env, info, "embeddingBackward");
    const int64_t N = a.integer(3), C = a.integer(4), V = a.integer(5);
    const int32_t* ids = a.i32(1, N);
    check_ids(a, 1, ids, N, V, "ids");
    embedding_backward(a.f32(0, N * C), ids, N, C, V, a.f32(2, V * C));
    return undefined(env);
  });
}

// adamw(param, grad, m, v, n, lr, beta1, beta2, eps, weightDecay, step)
napi_value AdamW(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    Args a(env, info, "adamw");
    const int64_t n = a.integer(4);
    const double lr = a.number(5), b1 = a.number(6), b2 = a.number(7), eps = a.number(8), wd = a.number(9);
    const int64_t step = a.integer(10, 1);
    const double bc1 = 1.0 - std::pow(b1, static_cast<double>(step));
    const double bc2 = 1.0 - std::pow(b2, static_cast<double>(step));
    adamw_step(a.f32(0, n), a.f32(1, n), a.f32(2, n), a.f32(3, n), n, static_cast<float>(lr),
               static_cast<float>(b1), static_cast<float>(b2), static_cast<float>(eps), static_cast<float>(wd), bc1,
               bc2);
    return undefined(env);
  });
}

// binary(op, a, b, out, n): op 0 add, 1 sub, 2 mul, 3 div; a.length and b.length are each 1, n, or a
// divisor of n (row broadcast); out has n elements.
napi_value Binary(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    Args a(env, info, "binary");
    const int64_t op = a.integer(0);
    if (op > 3) a.fail(0, "must be 0 (add), 1 (sub), 2 (mul) or 3 (div)");
    const int64_t n = a.integer(4);
    float* out = a.f32(3, n);
    auto period = [&](size_t i) {
      napi_typedarray_type type;
      size_t len;
      void* data;
      napi_value buf;
      size_t off;
      float* p = a.f32(i, 1);
      napi_get_typedarray_info(env, a.at(i), &type, &len, &data, &buf, &off);
      const int64_t m = static_cast<int64_t>(len);
      if (m != 1 && m != n && (m == 0 || n % m != 0))
        a.fail(i, "has " + std::to_string(m) + " elements: must be 1, " + std::to_string(n) + " or divide it");
      return std::make_pair(p, m);
    };
    auto [pa, na] = period(1);
    auto [pb, nb] = period(2);
    if (na != n && nb != n && na != 1 && nb != 1) a.fail(1, "and argument 2 cannot both be broadcast rows");
    if (n > 0) binary_forward(static_cast<int>(op), pa, na, pb, nb, out, n);
    return undefined(env);
  });
}

// sum(x, out, R, C, columns)
napi_value Sum(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    Args a(env, info, "sum");
    const int64_t R = a.integer(2), C = a.integer(3);
    const bool columns = a.boolean(4);
    sum_forward(a.f32(0, R * C), R, C, columns, a.f32(1, columns ? C : R));
    return undefined(env);
  });
}

// softmax(x, y, N, C)
napi_value Softmax(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    Args a(env, info, "softmax");
    const int64_t N = a.integer(2), C = a.integer(3, 1);
    softmax_forward(a.f32(0, N * C), N, C, a.f32(1, N * C));
    return undefined(env);
  });
}

napi_value Init(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"info", nullptr, Info, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setSimd", nullptr, SetSimd, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"matmul", nullptr, Matmul, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"layerNormForward", nullptr, LayerNormForward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"layerNormBackward", nullptr, LayerNormBackward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"geluForward", nullptr, GeluForward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"geluBackward", nullptr, GeluBackward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"attentionForward", nullptr, AttentionForward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"attentionBackward", nullptr, AttentionBackward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"crossEntropyForward", nullptr, CrossEntropyForward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"crossEntropyBackward", nullptr, CrossEntropyBackward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"embeddingBackward", nullptr, EmbeddingBackward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"adamw", nullptr, AdamW, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"binary", nullptr, Binary, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sum", nullptr, Sum, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"softmax", nullptr, Softmax, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
