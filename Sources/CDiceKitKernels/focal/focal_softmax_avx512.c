// The softmax focal loss's position loop with AVX-512: 16 positions per step, the C channels of
// each gathered into C vectors, so that the softmax, log-softmax, focal weight and closed-form
// gradient (Docs/DiceMath.md §9.1) are lane-wise (C = 4 by an in-register transpose of contiguous
// loads and stores instead); the last partial step runs masked. One exp
// polynomial per element and one log per position (math/dk_polynomials.h). Only the common case
// lives here (channels-last, label targets, C ≤ 16, whole γ); everything else runs in Swift
// (FocalLoss+Passes.swift), which is also the portable fallback. Sums are accumulated in float
// for blocks of 256 steps, then in double.

#include "focal_variants.h"

// x86-64 code only: on other CPUs focal_dispatch.c runs the portable path instead.
#if defined(__x86_64__)

#include "focal_variants.h"
#include "../math/dk_polynomials.h"
#include <math.h>

DK512 void dk_focal_softmax_avx512(const float *x, const int32_t *labels, long positions, int C, int first,
                                   const float *w, int gamma, float scale, float *grad, double *sums) {
    const __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
    const __m512 gammav = _mm512_set1_ps((float)gamma), scalev = _mm512_set1_ps(scale);
    const __m512i stride = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(C));
    __m512 xk[DK_FOCAL_LANES], ek[DK_FOCAL_LANES], dk[DK_FOCAL_LANES];
    // C = 4 (full steps): 4 contiguous vectors transposed in registers instead of gathers and
    // scatters. Stage 1 splits 8 positions' pairs (ch0|ch1, ch2|ch3), stage 2 joins the halves.
    int split_lo[16], split_hi[16], join_lo[16], join_hi[16];
    for (int i = 0; i < 16; i++) {
        split_lo[i] = 4 * (i % 8) + i / 8;      // [ch0 p0…7, ch1 p0…7] of v0|v1
        split_hi[i] = split_lo[i] + 2;          // [ch2 p0…7, ch3 p0…7]
        join_lo[i] = (i % 4 < 2 ? 0 : 16) + (i % 4 % 2) * 8 + i / 4;  // flat 0…15 from a'|b'
        join_hi[i] = join_lo[i] + 4;                                  // flat 16…31
    }
    const __m512i split_lo_v = _mm512_loadu_si512(split_lo), split_hi_v = _mm512_loadu_si512(split_hi);
    const __m512i join_lo_v = _mm512_loadu_si512(join_lo), join_hi_v = _mm512_loadu_si512(join_hi);
    double lane_sums[DK_FOCAL_LANES][DK_FOCAL_LANES] = {{0}};  // [class][lane]
    long p0 = 0;
    while (p0 < positions) {
        __m512 acc[DK_FOCAL_LANES];
        for (int k = first; k < C; k++) acc[k] = zero;
        for (int step = 0; step < 256 && p0 < positions; step++, p0 += 16) {
            const long left = positions - p0;
            const __mmask16 live = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
            const float *xp = x + p0 * C;
            const __m512i lab = _mm512_mask_loadu_epi32(_mm512_set1_epi32(-1), live, labels + p0);
            __m512 m = _mm512_set1_ps(-INFINITY);
            const int transpose = C == 4 && live == 0xFFFF;
            if (transpose) {
                const __m512 v0 = _mm512_loadu_ps(xp), v1 = _mm512_loadu_ps(xp + 16);
                const __m512 v2 = _mm512_loadu_ps(xp + 32), v3 = _mm512_loadu_ps(xp + 48);
                const __m512 a = _mm512_permutex2var_ps(v0, split_lo_v, v1), b = _mm512_permutex2var_ps(v0, split_hi_v, v1);
                const __m512 c = _mm512_permutex2var_ps(v2, split_lo_v, v3), d = _mm512_permutex2var_ps(v2, split_hi_v, v3);
                xk[0] = _mm512_shuffle_f32x4(a, c, _MM_SHUFFLE(1, 0, 1, 0));
                xk[1] = _mm512_shuffle_f32x4(a, c, _MM_SHUFFLE(3, 2, 3, 2));
                xk[2] = _mm512_shuffle_f32x4(b, d, _MM_SHUFFLE(1, 0, 1, 0));
                xk[3] = _mm512_shuffle_f32x4(b, d, _MM_SHUFFLE(3, 2, 3, 2));
            } else {
                for (int k = first; k < C; k++) xk[k] = _mm512_mask_i32gather_ps(zero, live, stride, xp + k, 4);
            }
            for (int k = first; k < C; k++) m = _mm512_max_ps(m, xk[k]);
            __m512 total = zero;
            for (int k = first; k < C; k++) {
                xk[k] = _mm512_sub_ps(xk[k], m);  // from here on: z_k − m
                ek[k] = exp512(xk[k]);
                total = _mm512_add_ps(total, ek[k]);
            }
            const __m512 log_total = log512(total), inv = _mm512_div_ps(one, total);
            // The labelled class's log-probability, probability and weight.
            __m512 l = zero, prob = zero, wl = zero;
            __mmask16 labelled = 0;
            for (int k = first; k < C; k++) {
                const __mmask16 g = _mm512_cmpeq_epi32_mask(lab, _mm512_set1_epi32(k));
                l = _mm512_mask_mov_ps(l, g, _mm512_sub_ps(xk[k], log_total));
                prob = _mm512_mask_mov_ps(prob, g, ek[k]);
                wl = _mm512_mask_mov_ps(wl, g, _mm512_set1_ps(w[k]));
                labelled |= g;
            }
            prob = _mm512_mul_ps(prob, inv);
            const __m512 q = _mm512_sub_ps(one, prob);
            __m512 qg1 = one;  // q^(γ−1) for γ ≥ 1
            for (int i = 1; i < gamma; i++) qg1 = _mm512_mul_ps(qg1, q);
            const __m512 qg = gamma == 0 ? one : _mm512_mul_ps(qg1, q);
            const __m512 value = _mm512_maskz_mul_ps(labelled, _mm512_mul_ps(_mm512_xor_ps(wl, _mm512_set1_ps(-0.0f)), qg), l);
            for (int k = first; k < C; k++) {
                const __mmask16 g = _mm512_cmpeq_epi32_mask(lab, _mm512_set1_epi32(k));
                acc[k] = _mm512_mask_add_ps(acc[k], g, acc[k], value);
            }
            if (grad) {
                // h = w·(γ·q^(γ−1)·p·l − q^γ)·scale at the labelled class (0 where q ≤ 0 or γ = 0
                // for the first term); dℓ/dz_k = [k = label]·h − p_k·h.
                const __mmask16 focusing = gamma == 0 ? 0 : _mm512_cmp_ps_mask(q, zero, _CMP_GT_OQ);
                const __m512 focal = _mm512_maskz_mul_ps(focusing, _mm512_mul_ps(_mm512_mul_ps(gammav, qg1), prob), l);
                const __m512 h = _mm512_maskz_mul_ps(labelled, _mm512_mul_ps(wl, _mm512_sub_ps(focal, qg)), scalev);
                float *gp = grad + p0 * C;
                for (int k = 0; k < first; k++) dk[k] = zero;
                for (int k = first; k < C; k++) {
                    const __mmask16 g = _mm512_cmpeq_epi32_mask(lab, _mm512_set1_epi32(k));
                    const __m512 pk = _mm512_mul_ps(ek[k], inv);
                    dk[k] = _mm512_fnmadd_ps(pk, h, _mm512_maskz_mov_ps(g, h));
                }
                if (transpose) {
                    const __m512 a = _mm512_shuffle_f32x4(dk[0], dk[1], _MM_SHUFFLE(1, 0, 1, 0));
                    const __m512 b = _mm512_shuffle_f32x4(dk[2], dk[3], _MM_SHUFFLE(1, 0, 1, 0));
                    const __m512 c = _mm512_shuffle_f32x4(dk[0], dk[1], _MM_SHUFFLE(3, 2, 3, 2));
                    const __m512 d = _mm512_shuffle_f32x4(dk[2], dk[3], _MM_SHUFFLE(3, 2, 3, 2));
                    _mm512_storeu_ps(gp, _mm512_permutex2var_ps(a, join_lo_v, b));
                    _mm512_storeu_ps(gp + 16, _mm512_permutex2var_ps(a, join_hi_v, b));
                    _mm512_storeu_ps(gp + 32, _mm512_permutex2var_ps(c, join_lo_v, d));
                    _mm512_storeu_ps(gp + 48, _mm512_permutex2var_ps(c, join_hi_v, d));
                } else {
                    for (int k = 0; k < C; k++) _mm512_mask_i32scatter_ps(gp + k, live, stride, dk[k], 4);
                }
            }
        }
        for (int k = first; k < C; k++) {
            float t[16];
            _mm512_storeu_ps(t, acc[k]);
            for (int lane = 0; lane < 16; lane++) lane_sums[k][lane] += t[lane];
        }
    }
    for (int k = first; k < C; k++) {
        double s = 0;
        for (int lane = 0; lane < 16; lane++) s += lane_sums[k][lane];
        sums[k] += s;
    }
}

#endif // defined(__x86_64__)
