// Helpers of the AVX-512 Dice-loss passes (dice_avx512.c for label targets,
// dice_dense_avx512.c for dense ones): the in-register transposes between channels-last blocks
// and per-channel vectors, and the activation. Static inline; internal to dice/.
#ifndef DK_DICE_AVX512_H
#define DK_DICE_AVX512_H

#include "dk_dice.h"
#include "../math/dk_polynomials.h"

/// Index tables that move 16 positions × C channels between interleaved (channels-last) order
/// in C consecutive vectors and C per-channel vectors.
typedef struct {
    int32_t gather_idx[DK_MAX_CHANNELS][DK_MAX_CHANNELS][16];   // [channel][source vector][lane]
    uint16_t gather_mask[DK_MAX_CHANNELS][DK_MAX_CHANNELS];
    int32_t scatter_idx[DK_MAX_CHANNELS][DK_MAX_CHANNELS][16];  // [destination vector][channel][lane]
    uint16_t scatter_mask[DK_MAX_CHANNELS][DK_MAX_CHANNELS];
} dk_tables;

static inline void build_tables(dk_tables *t, int C) {
    memset(t->gather_mask, 0, sizeof t->gather_mask);
    memset(t->scatter_mask, 0, sizeof t->scatter_mask);
    for (int c = 0; c < C; c++)
        for (int j = 0; j < 16; j++) {
            int e = j * C + c, k = e / 16;
            t->gather_mask[c][k] |= (uint16_t)(1u << j);
            t->gather_idx[c][k][j] = e % 16;
        }
    for (int k = 0; k < C; k++)
        for (int l = 0; l < 16; l++) {
            int e = 16 * k + l, c = e % C, j = e / C;
            t->scatter_mask[k][c] |= (uint16_t)(1u << l);
            t->scatter_idx[k][c][l] = j;
        }
}

DK512 static inline __attribute__((always_inline)) void load_channels(const dk_tables *t, int C, int interleaved, const float *x, long s, long S, __m512 *v) {
    if (!interleaved) {
        for (int c = 0; c < C; c++) v[c] = _mm512_loadu_ps(x + (long)c * S + s);
        return;
    }
    __m512 raw[DK_MAX_CHANNELS];
    for (int k = 0; k < C; k++) raw[k] = _mm512_loadu_ps(x + s * C + 16 * k);
    if (C == 2) {
        // Slot 4i + k of a channel vector holds position (2i, 2i+1, 8+2i, 9+2i)[k] (see label_order).
        v[0] = _mm512_shuffle_ps(raw[0], raw[1], 0x88);
        v[1] = _mm512_shuffle_ps(raw[0], raw[1], 0xDD);
        return;
    }
    if (C == 3) {
        // Element 3j + c of the 48 is lane (3j + c) mod 16 of raw[(3j + c) / 16]: a two-source
        // permute takes what lies in raw[0..1], a masked permute the rest from raw[2].
        const __m512i a0 = _mm512_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 0, 0, 0, 0, 0);
        const __m512i a1 = _mm512_setr_epi32(1, 4, 7, 10, 13, 16, 19, 22, 25, 28, 31, 0, 0, 0, 0, 0);
        const __m512i a2 = _mm512_setr_epi32(2, 5, 8, 11, 14, 17, 20, 23, 26, 29, 0, 0, 0, 0, 0, 0);
        const __m512i b0 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 4, 7, 10, 13);
        const __m512i b1 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 5, 8, 11, 14);
        const __m512i b2 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 6, 9, 12, 15);
        v[0] = _mm512_mask_permutexvar_ps(_mm512_permutex2var_ps(raw[0], a0, raw[1]), 0xF800, b0, raw[2]);
        v[1] = _mm512_mask_permutexvar_ps(_mm512_permutex2var_ps(raw[0], a1, raw[1]), 0xF800, b1, raw[2]);
        v[2] = _mm512_mask_permutexvar_ps(_mm512_permutex2var_ps(raw[0], a2, raw[1]), 0xFC00, b2, raw[2]);
        return;
    }
    if (C == 4) {
        // A 4×4 transpose in every 128-bit lane: slot 4i + k holds position 4k + i.
        __m512 t0 = _mm512_unpacklo_ps(raw[0], raw[1]), t1 = _mm512_unpackhi_ps(raw[0], raw[1]);
        __m512 t2 = _mm512_unpacklo_ps(raw[2], raw[3]), t3 = _mm512_unpackhi_ps(raw[2], raw[3]);
        v[0] = _mm512_shuffle_ps(t0, t2, 0x44); v[1] = _mm512_shuffle_ps(t0, t2, 0xEE);
        v[2] = _mm512_shuffle_ps(t1, t3, 0x44); v[3] = _mm512_shuffle_ps(t1, t3, 0xEE);
        return;
    }
    for (int c = 0; c < C; c++) {
        __m512 acc = _mm512_setzero_ps();
        for (int k = 0; k < C; k++) {
            __mmask16 m = t->gather_mask[c][k];
            if (m) acc = _mm512_mask_permutexvar_ps(acc, m, _mm512_loadu_si512(t->gather_idx[c][k]), raw[k]);
        }
        v[c] = acc;
    }
}

DK512 static inline __attribute__((always_inline)) void store_channels(const dk_tables *t, int C, int interleaved, float *y, long s, long S, const __m512 *v) {
    if (!interleaved) {
        for (int c = 0; c < C; c++) _mm512_storeu_ps(y + (long)c * S + s, v[c]);
        return;
    }
    if (C == 2) {
        _mm512_storeu_ps(y + s * C, _mm512_unpacklo_ps(v[0], v[1]));
        _mm512_storeu_ps(y + s * C + 16, _mm512_unpackhi_ps(v[0], v[1]));
        return;
    }
    if (C == 3) {
        // Lane l of output vector k is element e = 16k + l: channel e mod 3 of position e / 3.
        _mm512_storeu_ps(y + s * C + 0, _mm512_mask_permutexvar_ps(
            _mm512_permutex2var_ps(v[0], _mm512_setr_epi32(0, 16, 0, 1, 17, 0, 2, 18, 0, 3, 19, 0, 4, 20, 0, 5), v[1]),
            0x4924, _mm512_setr_epi32(0, 0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 3, 0, 0, 4, 0), v[2]));
        _mm512_storeu_ps(y + s * C + 16, _mm512_mask_permutexvar_ps(
            _mm512_permutex2var_ps(v[0], _mm512_setr_epi32(21, 0, 6, 22, 0, 7, 23, 0, 8, 24, 0, 9, 25, 0, 10, 26), v[1]),
            0x2492, _mm512_setr_epi32(0, 5, 0, 0, 6, 0, 0, 7, 0, 0, 8, 0, 0, 9, 0, 0), v[2]));
        _mm512_storeu_ps(y + s * C + 32, _mm512_mask_permutexvar_ps(
            _mm512_permutex2var_ps(v[0], _mm512_setr_epi32(0, 11, 27, 0, 12, 28, 0, 13, 29, 0, 14, 30, 0, 15, 31, 0), v[1]),
            0x9249, _mm512_setr_epi32(10, 0, 0, 11, 0, 0, 12, 0, 0, 13, 0, 0, 14, 0, 0, 15), v[2]));
        return;
    }
    if (C == 4) {
        __m512 t0 = _mm512_unpacklo_ps(v[0], v[1]), t1 = _mm512_unpackhi_ps(v[0], v[1]);
        __m512 t2 = _mm512_unpacklo_ps(v[2], v[3]), t3 = _mm512_unpackhi_ps(v[2], v[3]);
        _mm512_storeu_ps(y + s * C, _mm512_shuffle_ps(t0, t2, 0x44));
        _mm512_storeu_ps(y + s * C + 16, _mm512_shuffle_ps(t0, t2, 0xEE));
        _mm512_storeu_ps(y + s * C + 32, _mm512_shuffle_ps(t1, t3, 0x44));
        _mm512_storeu_ps(y + s * C + 48, _mm512_shuffle_ps(t1, t3, 0xEE));
        return;
    }
    for (int k = 0; k < C; k++) {
        __m512 acc = _mm512_setzero_ps();
        for (int c = 0; c < C; c++) {
            __mmask16 m = t->scatter_mask[k][c];
            if (m) acc = _mm512_mask_permutexvar_ps(acc, m, _mm512_loadu_si512(t->scatter_idx[k][c]), v[c]);
        }
        _mm512_storeu_ps(y + s * C + 16 * k, acc);
    }
}

/// The labels of 16 positions in the slot order that load_channels produces for C = 2 and 4
/// (the in-register transposes permute positions; every per-position operation is indifferent).
DK512 static inline __attribute__((always_inline)) __m512i label_order(int C, int interleaved, __m512i lab) {
    if (interleaved && C == 4)
        return _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), lab);
    if (interleaved && C == 2)
        return _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15), lab);
    return lab;
}

/// Applies the activation in place; returns the lanes holding a NaN or infinity. For softmax,
/// *max and *sum receive m and Σ e^(z − m) (the log-sum-exp is m + ln Σ).
DK512 static inline __attribute__((always_inline)) __mmask16 activate512(int activation, int C, __m512 *v, __m512 *max, __m512 *sum_out) {
    __mmask16 bad = 0;
    // vfpclassps: quiet NaN (0x01), +∞ (0x08), −∞ (0x10), signalling NaN (0x80).
    for (int c = 0; c < C; c++) bad |= _mm512_fpclass_ps_mask(v[c], 0x99);
    if (activation == DK_ACTIVATION_SOFTMAX) {
        __m512 m = v[0];
        for (int c = 1; c < C; c++) m = _mm512_max_ps(m, v[c]);
        __m512 sum = _mm512_setzero_ps();
        for (int c = 0; c < C; c++) { v[c] = exp512(_mm512_sub_ps(v[c], m)); sum = _mm512_add_ps(sum, v[c]); }
        __m512 r = _mm512_div_ps(_mm512_set1_ps(1.0f), sum);
        for (int c = 0; c < C; c++) v[c] = _mm512_mul_ps(v[c], r);
        *max = m;
        *sum_out = sum;
    } else if (activation == DK_ACTIVATION_SIGMOID) {
        const __m512 one = _mm512_set1_ps(1.0f);
        for (int c = 0; c < C; c++)
            v[c] = _mm512_div_ps(one, _mm512_add_ps(one, expneg512(v[c])));
    }
    return bad;
}

#endif
