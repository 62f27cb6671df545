// The weight average's update passes (dk_average.h). A Swift loop of `addingProduct` compiles, for
// the baseline x86-64 target, into a call of fmaf per element; here the AVX2 + FMA body runs 8
// fused multiply-adds per instruction, and the remainder and CPUs without FMA call fmaf, which
// rounds once as well. The equal average's pass divides (no contraction applies to a division,
// and without -ffast-math no compiler turns it into a multiplication), so it rounds as PyTorch's.

#include "dk_average.h"
#include "dk_dispatch.h"
#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2,fma"))) static long lerp_avx2_f32(
    float *a, const float *p, long n, float coefficient, int from_target) {
    const __m256 w = _mm256_set1_ps(coefficient);
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 av = _mm256_loadu_ps(a + i), pv = _mm256_loadu_ps(p + i);
        __m256 base = from_target ? pv : av;
        _mm256_storeu_ps(a + i, _mm256_fmadd_ps(w, _mm256_sub_ps(pv, av), base));
    }
    return i;
}

__attribute__((target("avx2,fma"))) static long lerp_avx2_f64(
    double *a, const double *p, long n, double coefficient, int from_target) {
    const __m256d w = _mm256_set1_pd(coefficient);
    long i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256d av = _mm256_loadu_pd(a + i), pv = _mm256_loadu_pd(p + i);
        __m256d base = from_target ? pv : av;
        _mm256_storeu_pd(a + i, _mm256_fmadd_pd(w, _mm256_sub_pd(pv, av), base));
    }
    return i;
}

__attribute__((target("avx2"))) static long mean_avx2_f32(float *a, const float *p, long n, float count) {
    const __m256 k = _mm256_set1_ps(count);
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 av = _mm256_loadu_ps(a + i), pv = _mm256_loadu_ps(p + i);
        _mm256_storeu_ps(a + i, _mm256_add_ps(av, _mm256_div_ps(_mm256_sub_ps(pv, av), k)));
    }
    return i;
}

__attribute__((target("avx2"))) static long mean_avx2_f64(double *a, const double *p, long n, double count) {
    const __m256d k = _mm256_set1_pd(count);
    long i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256d av = _mm256_loadu_pd(a + i), pv = _mm256_loadu_pd(p + i);
        _mm256_storeu_pd(a + i, _mm256_add_pd(av, _mm256_div_pd(_mm256_sub_pd(pv, av), k)));
    }
    return i;
}
#endif

void dk_mean_update_f32(float *a, const float *p, long n, float count) {
    long i = 0;
#if defined(__x86_64__)
    if (dk_isa() >= DK_ISA_AVX2) i = mean_avx2_f32(a, p, n, count);
#endif
    for (; i < n; i++) a[i] = a[i] + (p[i] - a[i]) / count;
}

void dk_mean_update_f64(double *a, const double *p, long n, double count) {
    long i = 0;
#if defined(__x86_64__)
    if (dk_isa() >= DK_ISA_AVX2) i = mean_avx2_f64(a, p, n, count);
#endif
    for (; i < n; i++) a[i] = a[i] + (p[i] - a[i]) / count;
}

void dk_lerp_inplace_f32(float *a, const float *p, long n, float coefficient, int from_target) {
    long i = 0;
#if defined(__x86_64__)
    if (dk_isa() >= DK_ISA_AVX2) i = lerp_avx2_f32(a, p, n, coefficient, from_target);
#endif
    for (; i < n; i++) a[i] = fmaf(coefficient, p[i] - a[i], from_target ? p[i] : a[i]);
}

void dk_lerp_inplace_f64(double *a, const double *p, long n, double coefficient, int from_target) {
    long i = 0;
#if defined(__x86_64__)
    if (dk_isa() >= DK_ISA_AVX2) i = lerp_avx2_f64(a, p, n, coefficient, from_target);
#endif
    for (; i < n; i++) a[i] = fma(coefficient, p[i] - a[i], from_target ? p[i] : a[i]);
}
