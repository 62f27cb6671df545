// The Adam update (dk_optimizer.h): AVX-512 or AVX2 bodies by the level in use, and the scalar
// expression for the remainder and the baseline. Swift compiles its loop for baseline x86-64,
// four square roots and divisions per instruction; a base-32 U-Net's 7.8 M weights made it a few
// per cent of a training step. Every operation is the reference's, in its order, with
// contraction off; the square root and the division are correctly rounded in every form.

#include "dk_optimizer.h"
#include "dk_dispatch.h"

#pragma clang fp contract(off)

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx512f"))) static long adam_avx512(float *p, const float *g, float *m, float *v, long n,
                                                           const dk_adam_constants *k) {
    const __m512 shrink = _mm512_set1_ps(k->shrink), decay = _mm512_set1_ps(k->decay);
    const __m512 keep1 = _mm512_set1_ps(1 - k->beta1), beta2 = _mm512_set1_ps(k->beta2);
    const __m512 keep2 = _mm512_set1_ps(1 - k->beta2), root2 = _mm512_set1_ps(k->root2);
    const __m512 epsilon = _mm512_set1_ps(k->epsilon), step = _mm512_set1_ps(k->step_size);
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 x = _mm512_mul_ps(_mm512_loadu_ps(p + i), shrink);
        __m512 d = _mm512_add_ps(_mm512_loadu_ps(g + i), _mm512_mul_ps(decay, x));
        __m512 m0 = _mm512_loadu_ps(m + i), v0 = _mm512_loadu_ps(v + i);
        __m512 m1 = _mm512_add_ps(m0, _mm512_mul_ps(keep1, _mm512_sub_ps(d, m0)));
        __m512 v1 = _mm512_add_ps(_mm512_mul_ps(beta2, v0), _mm512_mul_ps(_mm512_mul_ps(keep2, d), d));
        _mm512_storeu_ps(m + i, m1);
        _mm512_storeu_ps(v + i, v1);
        __m512 denominator = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(v1), root2), epsilon);
        _mm512_storeu_ps(p + i, _mm512_sub_ps(x, _mm512_mul_ps(step, _mm512_div_ps(m1, denominator))));
    }
    return i;
}

__attribute__((target("avx2"))) static long adam_avx2(float *p, const float *g, float *m, float *v, long n,
                                                       const dk_adam_constants *k) {
    const __m256 shrink = _mm256_set1_ps(k->shrink), decay = _mm256_set1_ps(k->decay);
    const __m256 keep1 = _mm256_set1_ps(1 - k->beta1), beta2 = _mm256_set1_ps(k->beta2);
    const __m256 keep2 = _mm256_set1_ps(1 - k->beta2), root2 = _mm256_set1_ps(k->root2);
    const __m256 epsilon = _mm256_set1_ps(k->epsilon), step = _mm256_set1_ps(k->step_size);
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_mul_ps(_mm256_loadu_ps(p + i), shrink);
        __m256 d = _mm256_add_ps(_mm256_loadu_ps(g + i), _mm256_mul_ps(decay, x));
        __m256 m0 = _mm256_loadu_ps(m + i), v0 = _mm256_loadu_ps(v + i);
        __m256 m1 = _mm256_add_ps(m0, _mm256_mul_ps(keep1, _mm256_sub_ps(d, m0)));
        __m256 v1 = _mm256_add_ps(_mm256_mul_ps(beta2, v0), _mm256_mul_ps(_mm256_mul_ps(keep2, d), d));
        _mm256_storeu_ps(m + i, m1);
        _mm256_storeu_ps(v + i, v1);
        __m256 denominator = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(v1), root2), epsilon);
        _mm256_storeu_ps(p + i, _mm256_sub_ps(x, _mm256_mul_ps(step, _mm256_div_ps(m1, denominator))));
    }
    return i;
}
#endif

void dk_adam_update_f32(float *p, const float *g, float *m, float *v, long n, const dk_adam_constants *k) {
    long i = 0;
#if defined(__x86_64__)
    if (dk_isa() >= DK_ISA_AVX512) i = adam_avx512(p, g, m, v, n, k);
    else if (dk_isa() >= DK_ISA_AVX2) i = adam_avx2(p, g, m, v, n, k);
#endif
    const float keep1 = 1 - k->beta1, keep2 = 1 - k->beta2;
    for (; i < n; i++) {
        float x = p[i] * k->shrink;
        float d = g[i] + k->decay * x;
        float m1 = m[i] + keep1 * (d - m[i]);
        float v1 = k->beta2 * v[i] + keep2 * d * d;
        m[i] = m1;
        v[i] = v1;
        p[i] = x - k->step_size * (m1 / (__builtin_sqrtf(v1) / k->root2 + k->epsilon));
    }
}
