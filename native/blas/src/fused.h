// Fused elementwise passes over float32 rows (see fused.c).
#ifndef PEFT_FUSED_H
#define PEFT_FUSED_H
#include <stdint.h>

void gelu_erf_forward(int64_t n, const float *x, float *y);
void gelu_erf_backward(int64_t n, const float *x, const float *dy, float *dx);
void layer_norm_forward(int64_t rows, int64_t d, float eps, const float *x, const float *gamma, const float *beta,
                        float *y, float *normed, float *rstd);
void layer_norm_backward(int64_t rows, int64_t d, const float *dy, const float *normed, const float *rstd,
                         const float *gamma, float *dx, float *dgamma, float *dbeta);
void sum_rows(int64_t rows, int64_t d, const float *x, float *out);
void softmax_rows_backward(int64_t rows, int64_t d, const float *y, const float *dy, float *dx);
void transpose_runs4(int64_t rank, const int64_t *shape, const int64_t *perm, const uint32_t *x, uint32_t *out);
#endif
