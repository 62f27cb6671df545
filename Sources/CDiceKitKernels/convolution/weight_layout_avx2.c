// The kernel layout conversions of weight_layout.c for CPUs without AVX-512 (AVX2): the same
// values, and in the additions the same operands in the same order as the scalar loops.
//
// Toward PyTorch and back, in blocks of 8 values of i × 8 columns c = j·k + t: 8 loads of
// 8 floats, an 8 × 8 transpose in registers, 8 stores; the row and column tails element by
// element. On a Zen 3 this took the conversion toward PyTorch (each training step's kernel
// gradients) from 0.96 % to 0.43 % of a base-16 U-Net's Float training step. The flipped and
// packed kernels stay scalar there: two 8-lane gathers per row of 16 were no faster.

// x86-64 code only: on other CPUs weight_layout.c runs the portable path instead.
#if defined(__x86_64__)

#include "dk_convolution.h"
#include "conv_internal.h"
#include <immintrin.h>

#define DKL256 __attribute__((target("avx2")))

/// r[0 … 7] transposed in place: r[i] becomes the lanes i of the eight inputs.
DKL256 static inline void transpose8(__m256 r[8]) {
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20), r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20), r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31), r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31), r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

/// The DiceKit rows (t·b + j)·a of the 8 columns from c.
static inline void dicekit_rows(long c, long a, long b, long k, long rows[8]) {
    for (long l = 0, j = c / k, t = c % k; l < 8; l++) {
        rows[l] = (t * b + j) * a;
        if (++t == k) t = 0, j++;
    }
}

DKL256 void dk_kernel_to_pytorch_avx2(const float *src, float *dst, long a, long b, long k, long j0, long j1,
                                      dk_layout_store store) {
    const long c0 = j0 * k, c1 = j1 * k, row = b * k, whole = a - a % 8;
    for (long i0 = 0; i0 < whole; i0 += 8) {
        long c = c0;
        for (; c + 8 <= c1; c += 8) {
            long rows[8];
            dicekit_rows(c, a, b, k, rows);
            __m256 block[8];
            for (int l = 0; l < 8; l++) block[l] = _mm256_loadu_ps(src + rows[l] + i0);
            transpose8(block);
            for (int i = 0; i < 8; i++) {
                float *to = dst + (i0 + i) * row + c;
                __m256 v = block[i];
                if (store == DK_LAYOUT_ADD) v = _mm256_add_ps(_mm256_loadu_ps(to), v);
                if (store == DK_LAYOUT_ADD_TO_ZERO) v = _mm256_add_ps(_mm256_setzero_ps(), v);
                _mm256_storeu_ps(to, v);
            }
        }
        for (long i = i0; i < i0 + 8; i++)
            for (long cc = c; cc < c1; cc++)
                dk_layout_store_scalar(dst + i * row + cc, src[(cc % k * b + cc / k) * a + i], store);
    }
    for (long i = whole; i < a; i++)
        for (long c = c0; c < c1; c++)
            dk_layout_store_scalar(dst + i * row + c, src[(c % k * b + c / k) * a + i], store);
}

DKL256 void dk_kernel_from_pytorch_avx2(const float *src, float *dst, long a, long b, long k, long j0, long j1) {
    const long c0 = j0 * k, c1 = j1 * k, row = b * k, whole = a - a % 8;
    for (long i0 = 0; i0 < whole; i0 += 8) {
        long c = c0;
        for (; c + 8 <= c1; c += 8) {
            __m256 block[8];
            for (int i = 0; i < 8; i++) block[i] = _mm256_loadu_ps(src + (i0 + i) * row + c);
            transpose8(block);
            long rows[8];
            dicekit_rows(c, a, b, k, rows);
            for (int l = 0; l < 8; l++) _mm256_storeu_ps(dst + rows[l] + i0, block[l]);
        }
        for (long i = i0; i < i0 + 8; i++)
            for (long cc = c; cc < c1; cc++) dst[(cc % k * b + cc / k) * a + i] = src[i * row + cc];
    }
    for (long i = whole; i < a; i++)
        for (long c = c0; c < c1; c++) dst[(c % k * b + c / k) * a + i] = src[i * row + c];
}

#endif // defined(__x86_64__)
