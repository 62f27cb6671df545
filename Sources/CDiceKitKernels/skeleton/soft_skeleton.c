// The soft skeleton (Shit et al. 2021, MONAI's `soft_skel`) of one channel image and its
// vector-Jacobian product for two cotangents at once, in C: the erosion (cross minimum) and the
// dilation (separable 3-tap maximum) are branch-free inner loops the compiler vectorises, built
// twice (AVX-512 and baseline) from soft_skeleton_body.h and chosen at run time. The forward pass
// with the gradient keeps x₀…x_{K+1}, δ₀…δ_K and S₀…S_{K−1}, so the backward pass recomputes
// nothing but the pooling winners, which it finds with branch-free, vectorised loops (missing
// window neighbours are ±∞ rows) before scattering the gradient in element order. Same values, tie rule and summation order as the reference
// loops in Sources/DiceKit/Losses/SoftSkeleton.swift (Docs/DiceMath.md §9.6); contraction into
// FMA is off so that δ and S round as there.

#include "dk_skeleton.h"
#include "dk_dispatch.h"
#include <math.h>

#pragma clang fp contract(off)

/// One image's extents.
typedef struct {
    long depth, height, width, count;
    int volumetric;
} sk_geometry;

long dk_soft_skeleton_work(long count, int iterations, int gradient) {
    return gradient ? (3L * iterations + 16) * count : 4 * count;
}

#define SK_T float
#define SK_NAME(name) sk_##name##_f32_portable
#include "soft_skeleton_body.h"
#undef SK_NAME
#undef SK_T

#define SK_T double
#define SK_NAME(name) sk_##name##_f64_portable
#include "soft_skeleton_body.h"
#undef SK_NAME
#undef SK_T

// The AVX-512 instances (on CPUs other than x86-64, never called: a second portable build).
#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl"))), apply_to = function)
#endif
#define SK_T float
#define SK_NAME(name) sk_##name##_f32_avx512
#include "soft_skeleton_body.h"
#undef SK_NAME
#undef SK_T

#define SK_T double
#define SK_NAME(name) sk_##name##_f64_avx512
#include "soft_skeleton_body.h"
#undef SK_NAME
#undef SK_T
#if defined(__x86_64__)
#pragma clang attribute pop
#endif

static sk_geometry sk_make(long depth, long height, long width, int volumetric) {
    sk_geometry g = {depth, height, width, depth * height * width, volumetric};
    return g;
}

void dk_soft_skeleton_f32(const float *image, long depth, long height, long width, int volumetric, int iterations,
                          float *skeleton, float *work) {
    sk_geometry g = sk_make(depth, height, width, volumetric);
    if (dk_isa() >= DK_ISA_AVX512) sk_skeleton_f32_avx512(image, &g, iterations, skeleton, work);
    else sk_skeleton_f32_portable(image, &g, iterations, skeleton, work);
}

void dk_soft_skeleton_f64(const double *image, long depth, long height, long width, int volumetric, int iterations,
                          double *skeleton, double *work) {
    sk_geometry g = sk_make(depth, height, width, volumetric);
    if (dk_isa() >= DK_ISA_AVX512) sk_skeleton_f64_avx512(image, &g, iterations, skeleton, work);
    else sk_skeleton_f64_portable(image, &g, iterations, skeleton, work);
}

void dk_soft_skeleton_vjp2_f32(const float *image, const float *cotangents, long depth, long height, long width,
                               int volumetric, int iterations, float *skeleton, float *products, float *work,
                               int32_t *integers) {
    sk_geometry g = sk_make(depth, height, width, volumetric);
    if (dk_isa() >= DK_ISA_AVX512)
        sk_vjp2_f32_avx512(image, cotangents, &g, iterations, skeleton, products, work, integers);
    else
        sk_vjp2_f32_portable(image, cotangents, &g, iterations, skeleton, products, work, integers);
}

void dk_soft_skeleton_vjp2_f64(const double *image, const double *cotangents, long depth, long height, long width,
                               int volumetric, int iterations, double *skeleton, double *products, double *work,
                               int32_t *integers) {
    sk_geometry g = sk_make(depth, height, width, volumetric);
    if (dk_isa() >= DK_ISA_AVX512)
        sk_vjp2_f64_avx512(image, cotangents, &g, iterations, skeleton, products, work, integers);
    else
        sk_vjp2_f64_portable(image, cotangents, &g, iterations, skeleton, products, work, integers);
}
