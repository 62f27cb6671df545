// The 16 × 16 transpose of Float vectors in registers, and the blocks of a kernel in PyTorch's
// layout turned by it, shared by the kernel layout conversions and the Float packings
// (weight_layout.c) and the bfloat16 weight packings (bf16_pack.c). Not part of the public header.
#ifndef DK_TRANSPOSE16_H
#define DK_TRANSPOSE16_H

#if defined(__x86_64__)
#include <immintrin.h>

/// The transpose of the 16 × 16 matrix whose rows are r[0…15]: afterwards r[i] holds element i
/// of every former row, in order (64 shuffles: 32-bit and 64-bit interleaves, then two rounds
/// of 128-bit lane moves).
__attribute__((target("avx512f"))) static inline __attribute__((always_inline)) void dk_transpose16(__m512 r[16]) {
    __m512 t[16], c[16];
    for (int p = 0; p < 8; p++) {
        t[2 * p] = _mm512_unpacklo_ps(r[2 * p], r[2 * p + 1]);
        t[2 * p + 1] = _mm512_unpackhi_ps(r[2 * p], r[2 * p + 1]);
    }
    // c[4g + m], lane L: element 4L + m of rows 4g … 4g + 3.
    for (int g = 0; g < 4; g++) {
        const __m512d lo0 = _mm512_castps_pd(t[4 * g]), hi0 = _mm512_castps_pd(t[4 * g + 1]);
        const __m512d lo1 = _mm512_castps_pd(t[4 * g + 2]), hi1 = _mm512_castps_pd(t[4 * g + 3]);
        c[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(lo0, lo1));
        c[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(lo0, lo1));
        c[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(hi0, hi1));
        c[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(hi0, hi1));
    }
    // Element 4L + m of all rows: lane L of c[m], c[4 + m], c[8 + m], c[12 + m].
    for (int m = 0; m < 4; m++) {
        const __m512 p0 = _mm512_shuffle_f32x4(c[m], c[4 + m], 0x44), p1 = _mm512_shuffle_f32x4(c[m], c[4 + m], 0xEE);
        const __m512 p2 = _mm512_shuffle_f32x4(c[8 + m], c[12 + m], 0x44);
        const __m512 p3 = _mm512_shuffle_f32x4(c[8 + m], c[12 + m], 0xEE);
        r[m] = _mm512_shuffle_f32x4(p0, p2, 0x88);
        r[4 + m] = _mm512_shuffle_f32x4(p0, p2, 0xDD);
        r[8 + m] = _mm512_shuffle_f32x4(p1, p3, 0x88);
        r[12 + m] = _mm512_shuffle_f32x4(p1, p3, 0xDD);
    }
}
#endif

/// Kernels of at most this many taps (3 × 3 × 3) are packed from PyTorch's layout in blocks
/// transposed in registers (`dk_pytorch_block`); larger ones by gathers.
enum { DK_BLOCK_TAPS = 27 };

#if defined(__x86_64__)

/// The kernels of 16 output channels co … co + 15 over 16 input channels ci … ci + 15, from
/// PyTorch's layout [cout, cin, taps] (`w` at the block's first, output channels `stride` Floats
/// apart: each a run of 16·taps Floats), turned by 16 × 16 transposes into column[c] = the 16
/// output channels' values of column c = (ci − ci₀)·taps + t: whole-line loads instead of gathers.
__attribute__((target("avx512f"))) static inline __attribute__((always_inline))
void dk_pytorch_block(const float *w, long stride, long taps, __m512 column[16 * DK_BLOCK_TAPS]) {
    for (long j = 0; j < taps; j++) {
        __m512 r[16];
        for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(w + i * stride + 16 * j);
        dk_transpose16(r);
        for (int m = 0; m < 16; m++) column[16 * j + m] = r[m];
    }
}

/// Tap t of a block of `dk_pytorch_block`, transposed back: r[m] = output channel co + m's values
/// at tap t for the block's 16 input channels (the packings of the input gradient's kernel).
__attribute__((target("avx512f"))) static inline __attribute__((always_inline))
void dk_pytorch_block_tap(const __m512 column[16 * DK_BLOCK_TAPS], long taps, long t, __m512 r[16]) {
    for (int i = 0; i < 16; i++) r[i] = column[i * taps + t];
    dk_transpose16(r);
}

#endif // defined(__x86_64__)

#endif
