// The fixed trees that sum the lanes of several vectors at once, shared by the few-channel
// kernels (conv_narrow.c) and the 1×1 head the bfloat16 forward pass applies in its stores
// (conv_bf16.c, store_head), so that the two give the same bits. Not part of the public header.
#ifndef DK_LANE_SUMS_H
#define DK_LANE_SUMS_H

// x86-64 only (the kernels that use it are).
#if defined(__x86_64__)
#include <immintrin.h>

/// The sums of the 8 lanes of a[0] … a[7], in order, in one vector: a fixed tree of pairwise
/// additions (horizontal adds, then the two 128-bit halves), the same on every run. Lane k is
/// ((a[k]₀ + a[k]₁) + (a[k]₂ + a[k]₃)) + ((a[k]₄ + a[k]₅) + (a[k]₆ + a[k]₇)).
__attribute__((target("avx2,fma"))) static inline __attribute__((always_inline)) __m256 dk_sum8_avx2(const __m256 *a) {
    const __m256 t0 = _mm256_hadd_ps(a[0], a[1]), t1 = _mm256_hadd_ps(a[2], a[3]);
    const __m256 t2 = _mm256_hadd_ps(a[4], a[5]), t3 = _mm256_hadd_ps(a[6], a[7]);
    const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

/// The sums of the 8 lanes of a[0] … a[3], in order, in one 4-float vector (the tree of dk_sum8_avx2).
__attribute__((target("avx2,fma"))) static inline __attribute__((always_inline)) __m128 dk_sum4_avx2(const __m256 *a) {
    const __m256 u = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
    return _mm_add_ps(_mm256_castps256_ps128(u), _mm256_extractf128_ps(u, 1));
}

#endif // defined(__x86_64__)

#endif
