// Kernels for the wasm backend (issue #8), run in place on the wasm heap: matrix products on a
// system BLAS, opened at run time (dlopen) so the addon builds without BLAS headers and a machine
// without an optimised BLAS keeps wasm's products; and fused GELU / LayerNorm passes, which wasm
// runs as 5–10 separate elementwise kernels each (see fused.c).
#include <dlfcn.h>
#include <node_api.h>
#include "fused.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };

typedef void (*sgemm_fn)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                         const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);
typedef void (*set_threads_fn)(int threads);

static sgemm_fn sgemm = NULL;
static char library[512] = "";
static char failure[1024] = "";

// Only optimised BLAS builds: a reference BLAS would be slower than XNNPACK in wasm.
static const char *const CANDIDATES[] = {
#ifdef __APPLE__
    "/System/Library/Frameworks/Accelerate.framework/Accelerate",
    "libopenblas.dylib",
#else
    "libopenblas.so.0",
    "libopenblas.so",
    "libopenblasp.so.0",
    "libmkl_rt.so.2",
    "libmkl_rt.so",
#endif
};

static int try_open(const char *name, int threads) {
  void *handle = dlopen(name, RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    snprintf(failure + strlen(failure), sizeof failure - strlen(failure), "%s%s", failure[0] ? "; " : "", dlerror());
    return 0;
  }
  sgemm_fn found = (sgemm_fn)dlsym(handle, "cblas_sgemm");
  if (!found) {
    snprintf(failure + strlen(failure), sizeof failure - strlen(failure), "%s%s has no cblas_sgemm", failure[0] ? "; " : "", name);
    dlclose(handle);
    return 0;
  }
  set_threads_fn set_threads = (set_threads_fn)dlsym(handle, "openblas_set_num_threads");
  if (!set_threads) set_threads = (set_threads_fn)dlsym(handle, "MKL_Set_Num_Threads");
  if (set_threads) set_threads(threads);
  sgemm = found;
  snprintf(library, sizeof library, "%s", name);
  return 1;
}

static void open_blas(const char *explicit_path, int threads) {
  if (sgemm) return;
  failure[0] = '\0';
  if (explicit_path && explicit_path[0]) {
    try_open(explicit_path, threads);
    return;
  }
  for (size_t i = 0; i < sizeof CANDIDATES / sizeof CANDIDATES[0]; i++) {
    if (try_open(CANDIDATES[i], threads)) return;
  }
}

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, NULL, "peft_blas: bad arguments to " #call); \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

// open(path: string, threads: number) → {library} or {error}; path '' tries the known names.
static napi_value open_library(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char path[512] = "";
  size_t length = 0;
  int32_t threads = 1;
  if (argc >= 1) CHECK(napi_get_value_string_utf8(env, argv[0], path, sizeof path, &length));
  if (argc >= 2) CHECK(napi_get_value_int32(env, argv[1], &threads));
  if (threads < 1) threads = 1;
  open_blas(path, threads);
  napi_value result, text;
  CHECK(napi_create_object(env, &result));
  CHECK(napi_create_string_utf8(env, sgemm ? library : failure, NAPI_AUTO_LENGTH, &text));
  CHECK(napi_set_named_property(env, result, sgemm ? "library" : "error", text));
  return result;
}

// gemm(heap: ArrayBuffer, batch, m, n, k, transA, transB, aByte, bByte, cByte, aStride, bStride)
// C[i] = op(A[i]) · op(B[i]) for i < batch, row-major float32 at the given byte offsets; strides
// are elements between consecutive matrices of A and B (0 broadcasts one matrix).
static napi_value gemm(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value argv[12];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 12 || !sgemm) {
    napi_throw_error(env, NULL, sgemm ? "peft_blas.gemm takes 12 arguments" : "peft_blas: no BLAS opened");
    return NULL;
  }
  void *heap = NULL;
  size_t heap_bytes = 0;
  CHECK(napi_get_arraybuffer_info(env, argv[0], &heap, &heap_bytes));
  int64_t v[11];
  for (int i = 0; i < 11; i++) CHECK(napi_get_value_int64(env, argv[i + 1], &v[i]));
  const int64_t batch = v[0], m = v[1], n = v[2], k = v[3], a_byte = v[6], b_byte = v[7], c_byte = v[8];
  const int64_t a_stride = v[9], b_stride = v[10];
  const int trans_a = v[4] != 0, trans_b = v[5] != 0;
  const int64_t a_end = a_byte + 4 * ((batch - 1) * a_stride + m * k);
  const int64_t b_end = b_byte + 4 * ((batch - 1) * b_stride + k * n);
  const int64_t c_end = c_byte + 4 * batch * m * n;
  if (batch < 1 || m < 1 || n < 1 || k < 1 || a_byte < 0 || b_byte < 0 || c_byte < 0 || a_stride < 0 ||
      b_stride < 0 || (a_byte | b_byte | c_byte) % 4 != 0 || a_end > (int64_t)heap_bytes ||
      b_end > (int64_t)heap_bytes || c_end > (int64_t)heap_bytes) {
    napi_throw_range_error(env, NULL, "peft_blas.gemm: operands outside the heap");
    return NULL;
  }
  const float *a = (const float *)((char *)heap + a_byte);
  const float *b = (const float *)((char *)heap + b_byte);
  float *c = (float *)((char *)heap + c_byte);
  const int lda = trans_a ? (int)m : (int)k;
  const int ldb = trans_b ? (int)k : (int)n;
  for (int64_t i = 0; i < batch; i++) {
    sgemm(ROW_MAJOR, trans_a ? TRANS : NO_TRANS, trans_b ? TRANS : NO_TRANS, (int)m, (int)n, (int)k, 1.0f,
          a + i * a_stride, lda, b + i * b_stride, ldb, 0.0f, c + i * m * n, (int)n);
  }
  return NULL;
}

// Reads (heap, count integers, then `floats` doubles) and checks that each of `spans` [byte,
// float count] pairs lies inside the heap. Returns the heap base or NULL after throwing.
static char *fused_args(napi_env env, napi_callback_info info, size_t ints, int64_t *v, size_t floats, double *f) {
  napi_value argv[16];
  size_t argc = 16;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 + ints + floats) {
    napi_throw_error(env, NULL, "peft_blas: wrong number of arguments");
    return NULL;
  }
  void *heap = NULL;
  size_t heap_bytes = 0;
  if (napi_get_arraybuffer_info(env, argv[0], &heap, &heap_bytes) != napi_ok) {
    napi_throw_type_error(env, NULL, "peft_blas: the heap must be an ArrayBuffer");
    return NULL;
  }
  for (size_t i = 0; i < ints; i++) {
    if (napi_get_value_int64(env, argv[1 + i], &v[i]) != napi_ok || v[i] < 0) {
      napi_throw_type_error(env, NULL, "peft_blas: sizes and offsets must be non-negative integers");
      return NULL;
    }
  }
  for (size_t i = 0; i < floats; i++) {
    if (napi_get_value_double(env, argv[1 + ints + i], &f[i]) != napi_ok) {
      napi_throw_type_error(env, NULL, "peft_blas: expected a number");
      return NULL;
    }
  }
  v[ints] = (int64_t)heap_bytes;
  return (char *)heap;
}

static int inside(napi_env env, int64_t heap_bytes, int64_t byte, int64_t count) {
  if (byte % 4 != 0 || byte + 4 * count > heap_bytes) {
    napi_throw_range_error(env, NULL, "peft_blas: operand outside the heap");
    return 0;
  }
  return 1;
}

// geluErf(heap, n, xByte, yByte)
static napi_value gelu_forward(napi_env env, napi_callback_info info) {
  int64_t v[4];
  char *heap = fused_args(env, info, 3, v, 0, NULL);
  if (!heap || !inside(env, v[3], v[1], v[0]) || !inside(env, v[3], v[2], v[0])) return NULL;
  gelu_erf_forward(v[0], (const float *)(heap + v[1]), (float *)(heap + v[2]));
  return NULL;
}

// geluErfGrad(heap, n, xByte, dyByte, dxByte)
static napi_value gelu_backward(napi_env env, napi_callback_info info) {
  int64_t v[5];
  char *heap = fused_args(env, info, 4, v, 0, NULL);
  if (!heap || !inside(env, v[4], v[1], v[0]) || !inside(env, v[4], v[2], v[0]) || !inside(env, v[4], v[3], v[0])) return NULL;
  gelu_erf_backward(v[0], (const float *)(heap + v[1]), (const float *)(heap + v[2]), (float *)(heap + v[3]));
  return NULL;
}

// layerNorm(heap, rows, d, xByte, gammaByte, betaByte, yByte, normedByte, rstdByte, eps)
static napi_value layer_norm_forward_call(napi_env env, napi_callback_info info) {
  int64_t v[9];
  double eps = 0;
  char *heap = fused_args(env, info, 8, v, 1, &eps);
  if (!heap) return NULL;
  const int64_t rows = v[0], d = v[1], bytes = v[8];
  if (d < 1 || !inside(env, bytes, v[2], rows * d) || !inside(env, bytes, v[3], d) || !inside(env, bytes, v[4], d) ||
      !inside(env, bytes, v[5], rows * d) || !inside(env, bytes, v[6], rows * d) || !inside(env, bytes, v[7], rows))
    return NULL;
  layer_norm_forward(rows, d, (float)eps, (const float *)(heap + v[2]), (const float *)(heap + v[3]),
                     (const float *)(heap + v[4]), (float *)(heap + v[5]), (float *)(heap + v[6]), (float *)(heap + v[7]));
  return NULL;
}

// layerNormGrad(heap, rows, d, dyByte, normedByte, rstdByte, gammaByte, dxByte, dGammaByte, dBetaByte)
static napi_value layer_norm_backward_call(napi_env env, napi_callback_info info) {
  int64_t v[10];
  char *heap = fused_args(env, info, 9, v, 0, NULL);
  if (!heap) return NULL;
  const int64_t rows = v[0], d = v[1], bytes = v[9];
  if (d < 1 || !inside(env, bytes, v[2], rows * d) || !inside(env, bytes, v[3], rows * d) || !inside(env, bytes, v[4], rows) ||
      !inside(env, bytes, v[5], d) || !inside(env, bytes, v[6], rows * d) || !inside(env, bytes, v[7], d) || !inside(env, bytes, v[8], d))
    return NULL;
  layer_norm_backward(rows, d, (const float *)(heap + v[2]), (const float *)(heap + v[3]), (const float *)(heap + v[4]),
                      (const float *)(heap + v[5]), (float *)(heap + v[6]), (float *)(heap + v[7]), (float *)(heap + v[8]));
  return NULL;
}

// sumRows(heap, rows, d, xByte, outByte)
static napi_value sum_rows_call(napi_env env, napi_callback_info info) {
  int64_t v[5];
  char *heap = fused_args(env, info, 4, v, 0, NULL);
  if (!heap || !inside(env, v[4], v[2], v[0] * v[1]) || !inside(env, v[4], v[3], v[1])) return NULL;
  sum_rows(v[0], v[1], (const float *)(heap + v[2]), (float *)(heap + v[3]));
  return NULL;
}

// softmaxRowsGrad(heap, rows, d, yByte, dyByte, dxByte)
static napi_value softmax_rows_grad_call(napi_env env, napi_callback_info info) {
  int64_t v[6];
  char *heap = fused_args(env, info, 5, v, 0, NULL);
  if (!heap) return NULL;
  const int64_t rows = v[0], d = v[1], bytes = v[5];
  if (d < 1 || !inside(env, bytes, v[2], rows * d) || !inside(env, bytes, v[3], rows * d) || !inside(env, bytes, v[4], rows * d))
    return NULL;
  softmax_rows_backward(rows, d, (const float *)(heap + v[2]), (const float *)(heap + v[3]), (float *)(heap + v[4]));
  return NULL;
}

// transposeRuns(heap, rank, xByte, outByte, shape0..shape5, perm0..perm5): 4-byte elements, rank
// 2 to 6, perm[rank − 1] = rank − 1 (unused shape and perm slots are ignored).
static napi_value transpose_call(napi_env env, napi_callback_info info) {
  int64_t v[16];
  char *heap = fused_args(env, info, 15, v, 0, NULL);
  if (!heap) return NULL;
  const int64_t rank = v[0], bytes = v[15];
  const int64_t *shape = v + 3, *perm = v + 9;
  if (rank < 2 || rank > 6 || perm[rank - 1] != rank - 1) {
    napi_throw_range_error(env, NULL, "peft_blas: transposeRuns takes ranks 2 to 6 that keep the last axis last");
    return NULL;
  }
  int64_t size = 1, seen = 0;
  for (int64_t a = 0; a < rank; a++) {
    if (perm[a] >= rank || (seen >> perm[a]) & 1) {
      napi_throw_range_error(env, NULL, "peft_blas: transpose needs a permutation of the axes");
      return NULL;
    }
    seen |= (int64_t)1 << perm[a];
    size *= shape[a];
  }
  if (!inside(env, bytes, v[1], size) || !inside(env, bytes, v[2], size)) return NULL;
  transpose_runs4(rank, shape, perm, (const uint32_t *)(heap + v[1]), (uint32_t *)(heap + v[2]));
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"open", NULL, open_library, NULL, NULL, NULL, napi_default, NULL},
      {"gemm", NULL, gemm, NULL, NULL, NULL, napi_default, NULL},
      {"geluErf", NULL, gelu_forward, NULL, NULL, NULL, napi_default, NULL},
      {"geluErfGrad", NULL, gelu_backward, NULL, NULL, NULL, napi_default, NULL},
      {"layerNorm", NULL, layer_norm_forward_call, NULL, NULL, NULL, napi_default, NULL},
      {"layerNormGrad", NULL, layer_norm_backward_call, NULL, NULL, NULL, napi_default, NULL},
      {"sumRows", NULL, sum_rows_call, NULL, NULL, NULL, napi_default, NULL},
      {"softmaxRowsGrad", NULL, softmax_rows_grad_call, NULL, NULL, NULL, napi_default, NULL},
      {"transposeRuns", NULL, transpose_call, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
