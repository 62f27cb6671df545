// The weight gradient of a 2-D 3×3 convolution as Winograd F(2×2, 3×3) with bfloat16 products
// (AVX512-BF16; BFloat16Winograd.swift runs it): per element ξ of the 4 × 4 transform,
//
//   dU[ξ] (cin × cout) += Σ over the batch's tiles t of V[ξ][t]ᵀ · dM[ξ][t],
//   V = Bᵀ d₁₆ B (the padded input, rounded already),   dM = A dy₁₆ Aᵀ (dy rounded as it is read),
//
// V and dM computed in Float and rounded to bfloat16 (vcvtne2ps2bf16: to nearest, ties to even;
// a Float below the least normal bfloat16 to zero, as vdpbf16ps reads it anyway; dy itself as
// dk_bf16_bits rounds it), then summed in Float by vdpbf16ps, which multiplies pairs: acc[i] += a[2i]·b[2i] + a[2i+1]·b[2i+1].
// The pairs run along the tiles: tiles 2k and 2k + 1 of the batch make pair k, so one 32-bit
// broadcast of V[ξ][k][ci] (both tiles' values) meets 16 output channels' pairs of dM[ξ][k], and
// each sum is the same chain over the batch's pairs whatever the blocks or workers.
//
// The transforms produce the pairs directly, 16 channels at a time: each row i of a tile's Bᵀ d B
// (or of A dY Aᵀ) for both tiles of a pair, their 4 elements rounded and interleaved into one
// 64-byte store each. The arithmetic, operation for operation, is conv_winograd.c's Float
// transforms' (store_window_transform, store_gradient_transform).

#include "dk_convolution.h"
#include "winograd_products.h"

#if defined(__x86_64__)

#include "bf16_round.h"
#include <immintrin.h>

#define DKWB __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#define DK_UNROLL _Pragma("clang loop unroll(full)")

/// 16 channels' pairs: a's bfloat16 values (vcvtne2ps2bf16: to nearest, ties to even, a NaN
/// kept quiet; a Float below the least normal bfloat16 to zero, as vdpbf16ps reads it anyway) in
/// the low halves of the lanes, b's in the high halves.
DKWB static inline __m512i pair_bits(__m512 a, __m512 b) {
    // Lane l of the result takes a's channel l (bfloat16 element l) and b's (element 16 + l).
    const __m512i order = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6,
                                           21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    return _mm512_permutexvar_epi16(order, (__m512i)_mm512_cvtne2ps_pbh(b, a));
}

/// 16 values at `p` rounded to bfloat16, as Floats.
DKWB static inline __m512 rounded(const float *p) {
    const __m512i bits = dk_bf16_round_bits(_mm512_loadu_si512((const void *)p));
    return _mm512_castsi512_ps(_mm512_and_si512(bits, _mm512_set1_epi32((int)0xFFFF0000)));
}

/// Row i of A dY₁₆ Aᵀ for the 2 × 2 output gradients at `y` (rows `line` floats apart,
/// positions `cout`), 16 channels, as store_gradient_transform.
DKWB static inline __attribute__((always_inline)) void gradient_row(const float *y, long line, long cout, const int i,
                                                                    __m512 out[4]) {
    const __m512 zero = _mm512_setzero_ps();
    __m512 r0, r1;
    if (i == 0) {
        r0 = rounded(y), r1 = rounded(y + cout);
    } else {
        const __m512 y00 = rounded(y), y01 = rounded(y + cout), y10 = rounded(y + line), y11 = rounded(y + line + cout);
        r0 = i == 1 ? _mm512_add_ps(y00, y10) : i == 2 ? _mm512_sub_ps(y00, y10) : _mm512_sub_ps(zero, y10);
        r1 = i == 1 ? _mm512_add_ps(y01, y11) : i == 2 ? _mm512_sub_ps(y01, y11) : _mm512_sub_ps(zero, y11);
    }
    out[0] = r0;
    out[1] = _mm512_add_ps(r0, r1);
    out[2] = _mm512_sub_ps(r0, r1);
    out[3] = _mm512_sub_ps(zero, r1);
}

/// Pair k's 16 elements ξ = 4i + j of channels [c, c + 16): tiles `a` and `b` (NULL: a zero tile)
/// through ROW (dk_winograd_window_row or gradient_row), rounded and paired into out[ξ · xs + c].
#define DK_PAIR_ROWS(ROW, a, b, line, width, c, out, xs)                                                             \
    DK_UNROLL for (int i = 0; i < 4; i++) {                                                                            \
        __m512 first[4], second[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),                   \
                                      _mm512_setzero_ps()};                                                            \
        ROW((a) + (c), line, width, i, first);                                                                         \
        if (b) ROW((b) + (c), line, width, i, second);                                                                 \
        DK_UNROLL for (int j = 0; j < 4; j++)                                                                          \
            _mm512_storeu_si512((void *)((out) + (4 * i + j) * (xs) + (c)), pair_bits(first[j], second[j]));           \
    }

DKWB void dk_conv_winograd_weight_pairs_bf16(const dk_winograd_geometry *g, const float *xp, const float *dy,
                                             long first, long count, long capacity, uint32_t *vp, uint32_t *dmp) {
    const long cin = g->cin, cout = g->cout;
    const long line = g->wp * cin, out_line = g->ow * cout;
    for (long k = 0; 2 * k < count; k++) {
        const long t = first + 2 * k;
        const int both = 2 * k + 1 < count;
        const float *const d0 = xp + tile_origin(g, t, g->sample_floats, 0, line, cin, 0);
        const float *const d1 = both ? xp + tile_origin(g, t + 1, g->sample_floats, 0, line, cin, 0) : NULL;
        const float *const y0 = dy + tile_origin(g, t, g->output_sample_floats, 0, out_line, cout, 0);
        const float *const y1 = both ? dy + tile_origin(g, t + 1, g->output_sample_floats, 0, out_line, cout, 0) : NULL;
        uint32_t *const v = vp + k * cin, *const m = dmp + k * cout;
        for (long c = 0; c < cin; c += 16) DK_PAIR_ROWS(dk_winograd_window_row, d0, d1, line, cin, c, v, capacity * cin)
        for (long c = 0; c < cout; c += 16) DK_PAIR_ROWS(gradient_row, y0, y1, out_line, cout, c, m, capacity * cout)
    }
}

/// du[r][16·p …] += Σ over `pairs` pairs of vp[k][r] · dmp[k][16·p …] for input channels r < MR
/// and panels p < NP of 16 output channels: a 32-bit broadcast of tile pair k's V against 16
/// output channels' pairs of dM.
DKWB static inline __attribute__((always_inline)) void
accumulate_pairs(const uint32_t *vp, const uint32_t *dmp, long cin, long cout, long pairs, float *du, int fresh,
                 const int MR, const int NP) {
    __m512 acc[12][2];
    DK_UNROLL for (int r = 0; r < MR; r++) DK_UNROLL for (int p = 0; p < NP; p++)
        acc[r][p] = fresh ? _mm512_setzero_ps() : _mm512_loadu_ps(du + r * cout + 16 * p);
    for (long k = 0; k < pairs; k++) {
        __m512bh b[2];
        DK_UNROLL for (int p = 0; p < NP; p++)
            b[p] = (__m512bh)_mm512_loadu_si512((const void *)(dmp + k * cout + 16 * p));
        DK_UNROLL for (int r = 0; r < MR; r++) {
            const __m512bh a = (__m512bh)_mm512_set1_epi32((int)vp[k * cin + r]);
            DK_UNROLL for (int p = 0; p < NP; p++) acc[r][p] = _mm512_dpbf16_ps(acc[r][p], a, b[p]);
        }
    }
    DK_UNROLL for (int r = 0; r < MR; r++) DK_UNROLL for (int p = 0; p < NP; p++)
        _mm512_storeu_ps(du + r * cout + 16 * p, acc[r][p]);
}

/// Input channels [ci, ci + MR) against every output channel: pairs of panels, then an odd one.
DKWB static inline __attribute__((always_inline)) void accumulate_rows(const uint32_t *vp, const uint32_t *dmp,
                                                                      long cin, long cout, long pairs, float *du,
                                                                      int fresh, const int MR) {
    long co = 0;
    for (; co + 32 <= cout; co += 32) accumulate_pairs(vp, dmp + co, cin, cout, pairs, du + co, fresh, MR, 2);
    if (co < cout) accumulate_pairs(vp, dmp + co, cin, cout, pairs, du + co, fresh, MR, 1);
}

DKWB void dk_conv_winograd_accumulate_bf16(const uint32_t *vp, const uint32_t *dmp, long cin, long cout, long pairs,
                                           long ci0, long ci1, int fresh, float *du) {
    // Runs of 12 input channels, then 8 or 4 left.
    long ci = ci0;
    for (; ci + 12 <= ci1; ci += 12) accumulate_rows(vp + ci, dmp, cin, cout, pairs, du + ci * cout, fresh, 12);
    if (ci1 - ci == 8) accumulate_rows(vp + ci, dmp, cin, cout, pairs, du + ci * cout, fresh, 8);
    if (ci1 - ci == 4) accumulate_rows(vp + ci, dmp, cin, cout, pairs, du + ci * cout, fresh, 4);
}

#else

// Never called: bfloat16 runs in Float on other CPUs (dk_bf16_level_in_use).
void dk_conv_winograd_weight_pairs_bf16(const dk_winograd_geometry *g, const float *xp, const float *dy, long first,
                                        long count, long capacity, uint32_t *vp, uint32_t *dmp) {
    (void)g, (void)xp, (void)dy, (void)first, (void)count, (void)capacity, (void)vp, (void)dmp;
}
void dk_conv_winograd_accumulate_bf16(const uint32_t *vp, const uint32_t *dmp, long cin, long cout, long pairs,
                                      long ci0, long ci1, int fresh, float *du) {
    (void)vp, (void)dmp, (void)cin, (void)cout, (void)pairs, (void)ci0, (void)ci1, (void)fresh, (void)du;
}

#endif
