// GELU (erf form) and LayerNorm in one pass each. wasm runs GELU's forward as 5 kernels and its
// gradient as 9, each a full sweep over [tokens, 4·hidden] with a scalar exp/erf (~10 ns per
// element); here exp and erf are branch-free polynomials the compiler vectorises. Accuracy: exp
// within 2 ulp, erf within 1.5e-7 absolute (Abramowitz & Stegun 7.1.26), far below the 1e-4 the
// engine's parity tests hold against PyTorch.
#include "fused.h"

#include <math.h>
#include <string.h>

// e^x for x ≤ 0 (the only use here): x = n·ln2 + r, |r| ≤ ln2/2, e^r by a degree-6 polynomial,
// 2^n built in the exponent bits. Inputs below −87 flush to ~0. Written without branches or libm
// calls (rounding by the 1.5·2²³ trick) so the loops around it vectorise.
static inline float exp_nonpositive(float x) {
  x = x < -87.0f ? -87.0f : x;
  const float round = 12582912.0f;
  const float n = (x * 1.44269504f + round) - round;
  const float r = x - n * 0.693145751953125f - n * 1.428606765330187e-06f;
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t bits = ((int32_t)n + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

// Φ(x) = ½(1 + erf(x/√2)) and φ(x) = e^{−x²/2}/√(2π), sharing one exponential.
static inline void normal_cdf_pdf(float x, float *cdf, float *pdf) {
  const float e = exp_nonpositive(-0.5f * x * x);
  const float z = fabsf(x) * 0.70710678118654752f;
  const float t = 1.0f / (1.0f + 0.3275911f * z);
  const float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
  *cdf = 0.5f + copysignf(0.5f, x) * (1.0f - poly * e);
  *pdf = e * 0.3989422804014327f;
}

void gelu_erf_forward(int64_t n, const float *x, float *y) {
  for (int64_t i = 0; i < n; i++) {
    float cdf, pdf;
    normal_cdf_pdf(x[i], &cdf, &pdf);
    y[i] = x[i] * cdf;
  }
}

void gelu_erf_backward(int64_t n, const float *x, const float *dy, float *dx) {
  for (int64_t i = 0; i < n; i++) {
    float cdf, pdf;
    normal_cdf_pdf(x[i], &cdf, &pdf);
    dx[i] = dy[i] * (cdf + x[i] * pdf);
  }
}

void layer_norm_forward(int64_t rows, int64_t d, float eps, const float *x, const float *gamma, const float *beta,
                        float *y, float *normed, float *rstd) {
  for (int64_t r = 0; r < rows; r++) {
    const float *row = x + r * d;
    float sum = 0.0f;
    for (int64_t j = 0; j < d; j++) sum += row[j];
    const float mean = sum / (float)d;
    float squares = 0.0f;
    for (int64_t j = 0; j < d; j++) squares += (row[j] - mean) * (row[j] - mean);
    const float inv = 1.0f / sqrtf(squares / (float)d + eps);
    rstd[r] = inv;
    float *n = normed + r * d;
    float *out = y + r * d;
    for (int64_t j = 0; j < d; j++) {
      n[j] = (row[j] - mean) * inv;
      out[j] = n[j] * gamma[j] + beta[j];
    }
  }
}

// dx = r·(g − mean(g) − n·mean(g·n)) with g = dy·γ; dγ = Σ dy·n and dβ = Σ dy over rows.
void layer_norm_backward(int64_t rows, int64_t d, const float *dy, const float *normed, const float *rstd,
                         const float *gamma, float *dx, float *dgamma, float *dbeta) {
  for (int64_t j = 0; j < d; j++) dgamma[j] = dbeta[j] = 0.0f;
  for (int64_t r = 0; r < rows; r++) {
    const float *g = dy + r * d;
    const float *n = normed + r * d;
    float sum_g = 0.0f, sum_gn = 0.0f;
    for (int64_t j = 0; j < d; j++) {
      const float scaled = g[j] * gamma[j];
      sum_g += scaled;
      sum_gn += scaled * n[j];
      dgamma[j] += g[j] * n[j];
      dbeta[j] += g[j];
    }
    const float mean_g = sum_g / (float)d, mean_gn = sum_gn / (float)d;
    float *out = dx + r * d;
    for (int64_t j = 0; j < d; j++) out[j] = rstd[r] * (g[j] * gamma[j] - mean_g - n[j] * mean_gn);
  }
}

// Column sums of [rows, d]: a bias's or scale's gradient. wasm's Sum transposes the whole input
// first when the reduced axes lead.
void sum_rows(int64_t rows, int64_t d, const float *x, float *out) {
  for (int64_t j = 0; j < d; j++) out[j] = 0.0f;
  for (int64_t r = 0; r < rows; r++) {
    const float *row = x + r * d;
    for (int64_t j = 0; j < d; j++) out[j] += row[j];
  }
}

// Σ a[j]·b[j] in LANES interleaved partial sums: one running sum would wait on each add's latency
// (~4 cycles per element); lanes also let the compiler use vector registers.
#define LANES 8
static inline float row_dot(int64_t d, const float *a, const float *b) {
  float lane[LANES] = {0};
  int64_t j = 0;
  for (; j + LANES <= d; j += LANES)
    for (int k = 0; k < LANES; k++) lane[k] += a[j + k] * b[j + k];
  for (; j < d; j++) lane[0] += a[j] * b[j];
  float sum = 0.0f;
  for (int k = 0; k < LANES; k++) sum += lane[k];
  return sum;
}

// Softmax's gradient dx = y·(dy − Σ dy·y) per row of [rows, d]: tfjs runs it as four kernels over
// an attention's [batch·heads, N, N] probabilities. (wasm's own softmax forward, XNNPACK's, is as
// fast as a native one here.)
void softmax_rows_backward(int64_t rows, int64_t d, const float *y, const float *dy, float *dx) {
  for (int64_t r = 0; r < rows; r++) {
    const float *p = y + r * d;
    const float *g = dy + r * d;
    float *out = dx + r * d;
    const float dot = row_dot(d, g, p);
    for (int64_t j = 0; j < d; j++) out[j] = p[j] * (g[j] - dot);
  }
}

// out = x with its axes permuted (out axis i is x axis perm[i]), 4-byte elements, rank ≤ 6, the
// last axis staying last: whole runs of it are copied, where wasm's Transpose moves every element
// through an index computation (~1.3 ns each: 1.6 ms for an attention's [2080, 3, 3, 64] qkv).
void transpose_runs4(int64_t rank, const int64_t *shape, const int64_t *perm, const uint32_t *x, uint32_t *out) {
  int64_t stride[6], out_shape[6], in_stride[6], index[6] = {0};
  int64_t total = 1;
  for (int64_t a = rank - 1, s = 1; a >= 0; a--) {
    stride[a] = s;
    s *= shape[a];
  }
  for (int64_t a = 0; a < rank; a++) {
    out_shape[a] = shape[perm[a]];
    in_stride[a] = stride[perm[a]];
    total *= out_shape[a];
  }
  const int64_t run = out_shape[rank - 1];
  if (total == 0) return;
  int64_t from = 0;
  for (int64_t at = 0; at < total; at += run) {
    memcpy(out + at, x + from, (size_t)run * sizeof *x);
    for (int64_t a = rank - 2; a >= 0; a--) {
      from += in_stride[a];
      if (++index[a] < out_shape[a]) break;
      from -= in_stride[a] * out_shape[a];
      index[a] = 0;
    }
  }
}
