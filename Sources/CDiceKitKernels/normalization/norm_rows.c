// The normalisation passes (dk_normalization.h), built three times from norm_rows_body.h
// (AVX-512, AVX2 and baseline; on CPUs other than x86-64 the baseline only) and chosen at run
// time by the level in use. Swift compiles its loops for the baseline x86-64 target (SSE2: two
// Doubles or four Floats per instruction); these run sixteen Floats or eight Doubles (AVX2:
// eight or four).
// Contraction into FMA is off, so every product and sum rounds as in the Swift reference
// (Sources/DiceKit/NN/Normalization/NormalizationKernels.swift): the same bits at every level.

#include "dk_normalization.h"
#include "dk_dispatch.h"
#include "../convolution/bf16_round.h"

#pragma clang fp contract(off)

/// What the gradient sums read of a ReLU's output (norm_rows_body.h, sums_body): none, Float, or
/// bfloat16 bits.
enum { NR_KEPT_NONE, NR_KEPT_F32, NR_KEPT_BF16 };

/// A ReLU's backward pass for element i: g where the kept output is > 0, else +0, or with `leaky`
/// slope·g (a NaN kept passes nothing, or slope·g: as dk_rectify_backward_inplace_f32).
static inline __attribute__((always_inline)) float nr_rectified(float g, const void *kept, int kept_kind, float slope,
                                                                int leaky, long i) {
    const float y =
        kept_kind == NR_KEPT_BF16 ? dk_bf16_value(((const unsigned short *)kept)[i]) : ((const float *)kept)[i];
    return y > 0 ? g : (leaky ? slope * g : 0.0f);
}

#define NR_NAME(name) nr_##name##_portable
#include "norm_rows_body.h"
#undef NR_NAME

#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq"))), apply_to = function)
#define NR_NAME(name) nr_##name##_avx512
#include "norm_rows_body.h"
#undef NR_NAME
#pragma clang attribute pop

#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#define NR_NAME(name) nr_##name##_avx2
#include "norm_rows_body.h"
#undef NR_NAME
#pragma clang attribute pop

/// Calls the instance of `name` for the level in use.
#define NR_DISPATCH(name, ...)                                                                    \
    (dk_isa() >= DK_ISA_AVX512 ? nr_##name##_avx512(__VA_ARGS__)                                  \
     : dk_isa() >= DK_ISA_AVX2 ? nr_##name##_avx2(__VA_ARGS__)                                    \
                               : nr_##name##_portable(__VA_ARGS__))
#else
/// CPUs other than x86-64: the baseline instance.
#define NR_DISPATCH(name, ...) nr_##name##_portable(__VA_ARGS__)
#endif

void dk_norm_moments_f32(const float *x, long rows, long channels, double *mean, double *variance) {
    NR_DISPATCH(moments, x, rows, channels, mean, variance);
}

void dk_norm_gradient_sums_f32(const float *dy, const float *xhat, long rows, long channels, double *dbeta,
                               double *dgamma) {
    NR_DISPATCH(gradient_sums, dy, xhat, rows, channels, dbeta, dgamma);
}

void dk_norm_rectified_gradient_sums_f32(float *dy, const float *xhat, const float *kept, float slope, int leaky,
                                         long rows, long channels, double *dbeta, double *dgamma) {
    NR_DISPATCH(rectified_gradient_sums_f32, dy, xhat, kept, slope, leaky, rows, channels, dbeta, dgamma);
}

void dk_norm_rectified_gradient_sums_bf16(float *dy, const float *xhat, const unsigned short *kept, float slope,
                                          int leaky, long rows, long channels, double *dbeta, double *dgamma) {
    NR_DISPATCH(rectified_gradient_sums_bf16, dy, xhat, kept, slope, leaky, rows, channels, dbeta, dgamma);
}

void dk_channel_sums_f32(const float *dy, long rows, long channels, double *sums) {
    NR_DISPATCH(channel_sums, dy, rows, channels, sums);
}

void dk_rectified_channel_sums_f32(float *dy, const float *kept, float slope, int leaky, long rows, long channels,
                                   double *sums) {
    NR_DISPATCH(rectified_channel_sums_f32, dy, kept, slope, leaky, rows, channels, sums);
}

void dk_rectified_channel_sums_bf16(float *dy, const unsigned short *kept, float slope, int leaky, long rows,
                                    long channels, double *sums) {
    NR_DISPATCH(rectified_channel_sums_bf16, dy, kept, slope, leaky, rows, channels, sums);
}

void dk_norm_normalize_f32(const float *x, long rows, long channels, const float *shift, const float *scale,
                           const float *gamma, const float *beta, int activation, float slope, float *xhat,
                           float *y) {
    NR_DISPATCH(normalize, x, rows, channels, shift, scale, gamma, beta, activation, slope, xhat, y);
}

void dk_norm_normalize_bf16(const float *x, long rows, long channels, const float *shift, const float *scale,
                            const float *gamma, const float *beta, int activation, float slope, float *xhat,
                            unsigned short *y) {
    NR_DISPATCH(normalize_bf16, x, rows, channels, shift, scale, gamma, beta, activation, slope, xhat, y);
}

void dk_norm_batch_input_gradient_f32(const float *dy, const float *xhat, long rows, long channels,
                                      const float *scale, const float *gamma, const float *mean_dy,
                                      const float *mean_dy_xhat, float *dx) {
    NR_DISPATCH(batch_input_gradient, dy, xhat, rows, channels, scale, gamma, mean_dy, mean_dy_xhat, dx);
}

void dk_norm_group_input_gradient_f32(const float *dy, const float *xhat, long rows, long channels,
                                      const float *scale, const float *gamma, const float *mean_d,
                                      const float *mean_dh, float *dx) {
    NR_DISPATCH(group_input_gradient, dy, xhat, rows, channels, scale, gamma, mean_d, mean_dh, dx);
}

void dk_norm_input_gradient_inplace_f32(int group, float *g, const float *xhat, long rows, long channels,
                                        const float *scale, const float *gamma, const float *mean_dy,
                                        const float *mean_dy_xhat) {
    NR_DISPATCH(input_gradient_inplace, group, g, xhat, rows, channels, scale, gamma, mean_dy, mean_dy_xhat);
}
