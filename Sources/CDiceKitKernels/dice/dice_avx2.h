// Helpers of the AVX2 + FMA Dice-loss passes (dice_avx2.c): the in-register transposes between
// channels-last blocks of 8 positions and per-channel vectors, the slot order of the labels, and
// the activation. The counterpart of dice_avx512.h for 8 lanes and without mask registers: a
// lane mask is a vector whose lanes are all ones or all zeros. Static inline; internal to dice/
// and focal/ (the softmax focal pass reuses the transposes).
#ifndef DK_DICE_AVX2_H
#define DK_DICE_AVX2_H

#include "dk_dice.h"
#include "../math/dk_polynomials.h"
#include <math.h>

/// Permutations and lane masks that move 8 positions × C channels between interleaved
/// (channels-last) order in C consecutive vectors and C per-channel vectors, for the channel
/// counts without a fixed transpose (5 and up). `*_used` marks the pairs with a lane to move (the
/// role of a non-zero mask register in dice_avx512.h), so the steps skip the others without
/// reading their masks.
typedef struct {
    int32_t gather_idx[DK_MAX_CHANNELS][DK_MAX_CHANNELS][8];    // [channel][source vector][lane]
    int32_t gather_mask[DK_MAX_CHANNELS][DK_MAX_CHANNELS][8];
    uint8_t gather_used[DK_MAX_CHANNELS][DK_MAX_CHANNELS];
    int32_t scatter_idx[DK_MAX_CHANNELS][DK_MAX_CHANNELS][8];   // [destination vector][channel][lane]
    int32_t scatter_mask[DK_MAX_CHANNELS][DK_MAX_CHANNELS][8];
    uint8_t scatter_used[DK_MAX_CHANNELS][DK_MAX_CHANNELS];
} dk_tables256;

static inline void build_tables256(dk_tables256 *t, int C) {
    // Only the masks and flags need zeros (as in dice_avx512.h): an index row is read only where
    // its pair is used, and a lane its mask does not select is dropped by the blend.
    memset(t->gather_mask, 0, sizeof t->gather_mask);
    memset(t->gather_used, 0, sizeof t->gather_used);
    memset(t->scatter_mask, 0, sizeof t->scatter_mask);
    memset(t->scatter_used, 0, sizeof t->scatter_used);
    for (int c = 0; c < C; c++)
        for (int j = 0; j < 8; j++) {
            int e = j * C + c, k = e / 8;
            t->gather_mask[c][k][j] = -1;
            t->gather_idx[c][k][j] = e % 8;
            t->gather_used[c][k] = 1;
        }
    for (int k = 0; k < C; k++)
        for (int l = 0; l < 8; l++) {
            int e = 8 * k + l, c = e % C, j = e / C;
            t->scatter_mask[k][c][l] = -1;
            t->scatter_idx[k][c][l] = j;
            t->scatter_used[k][c] = 1;
        }
}

/// One vector assembled from the C vectors `src`: from each used source i, its lanes permuted by
/// idx[i] where mask[i] selects them (a row of dk_tables256).
DK256 static inline __attribute__((always_inline))
__m256 assemble256(int C, const __m256 *src, const int32_t (*idx)[8], const int32_t (*mask)[8], const uint8_t *used) {
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < C; i++) {
        if (!used[i]) continue;
        __m256 moved = _mm256_permutevar8x32_ps(src[i], _mm256_loadu_si256((const __m256i *)idx[i]));
        acc = _mm256_blendv_ps(acc, moved, _mm256_loadu_ps((const float *)mask[i]));
    }
    return acc;
}

/// The C channel vectors of positions s … s + 7: contiguous rows of stride S, or channels-last
/// blocks transposed in registers (C = 2, 3 and 4 with fixed shuffles; those of 2 and 4 permute
/// the positions, see label_order256).
DK256 static inline __attribute__((always_inline))
void load_channels256(const dk_tables256 *t, int C, int interleaved, const float *x, long s, long S, __m256 *v) {
    if (!interleaved) {
        for (int c = 0; c < C; c++) v[c] = _mm256_loadu_ps(x + (long)c * S + s);
        return;
    }
    __m256 raw[DK_MAX_CHANNELS];
    for (int k = 0; k < C; k++) raw[k] = _mm256_loadu_ps(x + s * C + 8 * k);
    if (C == 2) {
        // Slot 4i + k (i: 128-bit half) holds position (0, 1, 4, 5 | 2, 3, 6, 7)[4i + k].
        v[0] = _mm256_shuffle_ps(raw[0], raw[1], 0x88);
        v[1] = _mm256_shuffle_ps(raw[0], raw[1], 0xDD);
        return;
    }
    if (C == 3) {
        // Element 3j + c lies in lane (3j + c) mod 8 of raw[(3j + c) / 8], and the three lane sets
        // of a channel ({0, 3, 6}, {1, 4, 7}, {2, 5} in some order) are disjoint: two blends
        // gather a channel's 8 elements into one vector, one permute puts them in position order.
        v[0] = _mm256_permutevar8x32_ps(_mm256_blend_ps(_mm256_blend_ps(raw[0], raw[1], 0x92), raw[2], 0x24),
                                        _mm256_setr_epi32(0, 3, 6, 1, 4, 7, 2, 5));
        v[1] = _mm256_permutevar8x32_ps(_mm256_blend_ps(_mm256_blend_ps(raw[0], raw[1], 0x24), raw[2], 0x49),
                                        _mm256_setr_epi32(1, 4, 7, 2, 5, 0, 3, 6));
        v[2] = _mm256_permutevar8x32_ps(_mm256_blend_ps(_mm256_blend_ps(raw[0], raw[1], 0x49), raw[2], 0x92),
                                        _mm256_setr_epi32(2, 5, 0, 3, 6, 1, 4, 7));
        return;
    }
    if (C == 4) {
        // A 4×4 transpose in each 128-bit half: slot order (0, 2, 4, 6 | 1, 3, 5, 7).
        __m256 t0 = _mm256_unpacklo_ps(raw[0], raw[1]), t1 = _mm256_unpackhi_ps(raw[0], raw[1]);
        __m256 t2 = _mm256_unpacklo_ps(raw[2], raw[3]), t3 = _mm256_unpackhi_ps(raw[2], raw[3]);
        v[0] = _mm256_shuffle_ps(t0, t2, 0x44); v[1] = _mm256_shuffle_ps(t0, t2, 0xEE);
        v[2] = _mm256_shuffle_ps(t1, t3, 0x44); v[3] = _mm256_shuffle_ps(t1, t3, 0xEE);
        return;
    }
    for (int c = 0; c < C; c++) v[c] = assemble256(C, raw, t->gather_idx[c], t->gather_mask[c], t->gather_used[c]);
}

/// Stores the C channel vectors of load_channels256 back in the layout they came from.
DK256 static inline __attribute__((always_inline))
void store_channels256(const dk_tables256 *t, int C, int interleaved, float *y, long s, long S, const __m256 *v) {
    if (!interleaved) {
        for (int c = 0; c < C; c++) _mm256_storeu_ps(y + (long)c * S + s, v[c]);
        return;
    }
    if (C == 2) {
        _mm256_storeu_ps(y + s * C, _mm256_unpacklo_ps(v[0], v[1]));
        _mm256_storeu_ps(y + s * C + 8, _mm256_unpackhi_ps(v[0], v[1]));
        return;
    }
    if (C == 3) {
        // The inverse of load_channels256's: each channel permuted back, then blended.
        const __m256 u0 = _mm256_permutevar8x32_ps(v[0], _mm256_setr_epi32(0, 3, 6, 1, 4, 7, 2, 5));
        const __m256 u1 = _mm256_permutevar8x32_ps(v[1], _mm256_setr_epi32(5, 0, 3, 6, 1, 4, 7, 2));
        const __m256 u2 = _mm256_permutevar8x32_ps(v[2], _mm256_setr_epi32(2, 5, 0, 3, 6, 1, 4, 7));
        _mm256_storeu_ps(y + s * C, _mm256_blend_ps(_mm256_blend_ps(u0, u1, 0x92), u2, 0x24));
        _mm256_storeu_ps(y + s * C + 8, _mm256_blend_ps(_mm256_blend_ps(u0, u1, 0x24), u2, 0x49));
        _mm256_storeu_ps(y + s * C + 16, _mm256_blend_ps(_mm256_blend_ps(u0, u1, 0x49), u2, 0x92));
        return;
    }
    if (C == 4) {
        __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]), t1 = _mm256_unpackhi_ps(v[0], v[1]);
        __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]), t3 = _mm256_unpackhi_ps(v[2], v[3]);
        _mm256_storeu_ps(y + s * C, _mm256_shuffle_ps(t0, t2, 0x44));
        _mm256_storeu_ps(y + s * C + 8, _mm256_shuffle_ps(t0, t2, 0xEE));
        _mm256_storeu_ps(y + s * C + 16, _mm256_shuffle_ps(t1, t3, 0x44));
        _mm256_storeu_ps(y + s * C + 24, _mm256_shuffle_ps(t1, t3, 0xEE));
        return;
    }
    for (int k = 0; k < C; k++)
        _mm256_storeu_ps(y + s * C + 8 * k,
                         assemble256(C, v, t->scatter_idx[k], t->scatter_mask[k], t->scatter_used[k]));
}

/// The labels of 8 positions in the slot order that load_channels256 produces for C = 2 and 4
/// (every per-position operation is indifferent to the order).
DK256 static inline __attribute__((always_inline)) __m256i label_order256(int C, int interleaved, __m256i lab) {
    if (interleaved && C == 4) return _mm256_permutevar8x32_epi32(lab, _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
    if (interleaved && C == 2) return _mm256_permutevar8x32_epi32(lab, _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7));
    return lab;
}

/// Applies the activation in place; returns the lanes (all ones) holding a NaN or an infinity.
/// For softmax, *max and *sum receive m and Σ e^(z − m) (the log-sum-exp is m + ln Σ).
DK256 static inline __attribute__((always_inline))
__m256 activate256(int activation, int C, __m256 *v, __m256 *max, __m256 *sum_out) {
    const __m256 magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)), infinity = _mm256_set1_ps(INFINITY);
    __m256 bad = _mm256_setzero_ps();
    // Not (|z| < ∞): unordered (NaN) or infinite.
    for (int c = 0; c < C; c++)
        bad = _mm256_or_ps(bad, _mm256_cmp_ps(_mm256_and_ps(v[c], magnitude), infinity, _CMP_NLT_UQ));
    if (activation == DK_ACTIVATION_SOFTMAX) {
        __m256 m = v[0];
        for (int c = 1; c < C; c++) m = _mm256_max_ps(m, v[c]);
        __m256 sum = _mm256_setzero_ps();
        for (int c = 0; c < C; c++) { v[c] = exp256(_mm256_sub_ps(v[c], m)); sum = _mm256_add_ps(sum, v[c]); }
        __m256 r = _mm256_div_ps(_mm256_set1_ps(1.0f), sum);
        for (int c = 0; c < C; c++) v[c] = _mm256_mul_ps(v[c], r);
        *max = m;
        *sum_out = sum;
    } else if (activation == DK_ACTIVATION_SIGMOID) {
        const __m256 one = _mm256_set1_ps(1.0f);
        for (int c = 0; c < C; c++) v[c] = _mm256_div_ps(one, _mm256_add_ps(one, expneg256(v[c])));
    }
    return bad;
}

/// The lanes of a mask vector as bits (lane j: bit j).
DK256 static inline __attribute__((always_inline)) int lane_bits(__m256i mask) {
    return _mm256_movemask_ps(_mm256_castsi256_ps(mask));
}

/// The sum of the 8 lanes, in Float (halves, then pairs).
DK256 static inline __attribute__((always_inline)) float reduce_add256(__m256 v) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

#endif
