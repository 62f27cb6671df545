// Gradient-norm clipping's sum of squares (dk_optimizer.h): 16 Double partial sums, each over a
// fixed interleave of the elements and in order, combined left to right. A single running
// Double sum (the Swift loop it replaces) waits for each addition before the next: about four
// cycles per gradient value, 1–2 % of a U-Net training step. The AVX-512 (two vectors of eight)
// and AVX2 (four of four) bodies hold the same 16 partials as the scalar loop, and every square
// of a Float is exact in Double, so each level gives the same bits.

#include "dk_optimizer.h"
#include "dk_dispatch.h"

#pragma clang fp contract(off)

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx512f"))) static long squares_avx512(const float *x, long n, double *partials) {
    __m512d low = _mm512_setzero_pd(), high = _mm512_setzero_pd();
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512d a = _mm512_cvtps_pd(_mm256_loadu_ps(x + i)), b = _mm512_cvtps_pd(_mm256_loadu_ps(x + i + 8));
        low = _mm512_add_pd(low, _mm512_mul_pd(a, a));
        high = _mm512_add_pd(high, _mm512_mul_pd(b, b));
    }
    _mm512_storeu_pd(partials, low);
    _mm512_storeu_pd(partials + 8, high);
    return i;
}

__attribute__((target("avx2"))) static long squares_avx2(const float *x, long n, double *partials) {
    __m256d s[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd()};
    long i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 4; k++) {
            __m256d a = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4 * k));
            s[k] = _mm256_add_pd(s[k], _mm256_mul_pd(a, a));
        }
    for (int k = 0; k < 4; k++) _mm256_storeu_pd(partials + 4 * k, s[k]);
    return i;
}
#endif

double dk_sum_squares_f32(const float *x, long n) {
    double partials[16] = {0};
    long i = 0;
#if defined(__x86_64__)
    if (dk_isa() >= DK_ISA_AVX512) i = squares_avx512(x, n, partials);
    else if (dk_isa() >= DK_ISA_AVX2) i = squares_avx2(x, n, partials);
#endif
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; k++) partials[k] += (double)x[i + k] * (double)x[i + k];
    for (long k = 0; i + k < n; k++) partials[k] += (double)x[i + k] * (double)x[i + k];
    double total = partials[0];
    for (int k = 1; k < 16; k++) total += partials[k];
    return total;
}
