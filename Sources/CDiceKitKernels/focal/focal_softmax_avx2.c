// The softmax focal loss's position loop with AVX2 + FMA: the counterpart of
// focal_softmax_avx512.c for a CPU without AVX-512. A step covers 8 positions, their C channels
// moved into C per-channel vectors by the Dice passes' in-register transposes
// (dice/dice_avx2.h: fixed shuffles for C = 2, 3 and 4, permute + blend tables above), so the
// softmax, log-softmax, focal weight and closed-form gradient (Docs/DiceMath.md §9.1) are
// lane-wise. The last partial step runs on a zero-padded copy whose labels select no class. One
// exp polynomial per element and one log per position (math/dk_polynomials.h). Sums are
// accumulated in float for blocks of 256 steps, then in double.

#include "focal_variants.h"

// x86-64 code only: on other CPUs focal_dispatch.c runs the portable path instead.
#if defined(__x86_64__)

#include "focal_variants.h"
#include "../dice/dice_avx2.h"

/// One step: 8 positions of `xp` (channels-last) with labels `lab`; adds each labelled value to
/// acc[label] and writes scale·dℓ/dz to `gp` when it is not null.
DK256 static inline __attribute__((always_inline)) void
focal_step(const dk_tables256 *t, int C, int first, const float *w, int gamma, __m256 scalev, const float *xp,
           __m256i lab, float *gp, __m256 *acc) {
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    __m256 xk[DK_FOCAL_LANES], ek[DK_FOCAL_LANES], gk[DK_FOCAL_LANES];
    load_channels256(t, C, 1, xp, 0, 0, xk);
    lab = label_order256(C, 1, lab);
    __m256 m = xk[first];
    for (int k = first + 1; k < C; k++) m = _mm256_max_ps(m, xk[k]);
    __m256 total = zero;
    for (int k = first; k < C; k++) {
        xk[k] = _mm256_sub_ps(xk[k], m);  // from here on: z_k − m
        ek[k] = exp256(xk[k]);
        total = _mm256_add_ps(total, ek[k]);
    }
    const __m256 log_total = log256(total), inv = _mm256_div_ps(one, total);
    // The labelled class's log-probability, probability and weight (0 where no class is labelled).
    __m256 l = zero, prob = zero, wl = zero, labelled = zero;
    for (int k = first; k < C; k++) {
        gk[k] = _mm256_castsi256_ps(_mm256_cmpeq_epi32(lab, _mm256_set1_epi32(k)));
        l = _mm256_blendv_ps(l, _mm256_sub_ps(xk[k], log_total), gk[k]);
        prob = _mm256_blendv_ps(prob, ek[k], gk[k]);
        wl = _mm256_blendv_ps(wl, _mm256_set1_ps(w[k]), gk[k]);
        labelled = _mm256_or_ps(labelled, gk[k]);
    }
    prob = _mm256_mul_ps(prob, inv);
    const __m256 q = _mm256_sub_ps(one, prob);
    __m256 qg1 = one;  // q^(γ−1) for γ ≥ 1
    for (int i = 1; i < gamma; i++) qg1 = _mm256_mul_ps(qg1, q);
    const __m256 qg = gamma == 0 ? one : _mm256_mul_ps(qg1, q);
    const __m256 value =
        _mm256_and_ps(labelled, _mm256_mul_ps(_mm256_xor_ps(wl, _mm256_set1_ps(-0.0f)), _mm256_mul_ps(qg, l)));
    for (int k = first; k < C; k++) acc[k] = _mm256_add_ps(acc[k], _mm256_and_ps(gk[k], value));
    if (!gp) return;
    // h = w·(γ·q^(γ−1)·p·l − q^γ)·scale at the labelled class (the first term 0 where q ≤ 0 or
    // γ = 0); dℓ/dz_k = [k = label]·h − p_k·h.
    const __m256 focusing = gamma == 0 ? zero : _mm256_cmp_ps(q, zero, _CMP_GT_OQ);
    const __m256 focal = _mm256_and_ps(focusing, _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps((float)gamma), qg1),
                                                               _mm256_mul_ps(prob, l)));
    const __m256 h = _mm256_and_ps(labelled, _mm256_mul_ps(_mm256_mul_ps(wl, _mm256_sub_ps(focal, qg)), scalev));
    for (int k = 0; k < first; k++) xk[k] = zero;
    for (int k = first; k < C; k++)
        xk[k] = _mm256_fnmadd_ps(_mm256_mul_ps(ek[k], inv), h, _mm256_and_ps(gk[k], h));
    store_channels256(t, C, 1, gp, 0, 0, xk);
}

/// The position loop; inlined into bodies with C and `first` constant (see below), so that the
/// per-channel vectors stay in registers.
DK256 static inline __attribute__((always_inline)) void
focal_softmax_body(const dk_tables256 *t, const float *x, const int32_t *labels, long positions, int C, int first,
                   const float *w, int gamma, float scale, float *grad, double *sums) {
    const __m256 scalev = _mm256_set1_ps(scale);
    double lane_sums[DK_FOCAL_LANES][8] = {{0}};  // [class][lane]
    long p0 = 0;
    while (p0 < positions) {
        __m256 acc[DK_FOCAL_LANES];
        for (int k = first; k < C; k++) acc[k] = _mm256_setzero_ps();
        for (int step = 0; step < 256 && p0 < positions; step++, p0 += 8) {
            const long left = positions - p0;
            if (left >= 8) {
                const __m256i lab = _mm256_loadu_si256((const __m256i *)(labels + p0));
                focal_step(t, C, first, w, gamma, scalev, x + p0 * C, lab, grad ? grad + p0 * C : 0, acc);
            } else {
                // The last positions, padded: zeros score finitely, and label −1 selects no class.
                float xs[8 * DK_FOCAL_LANES] = {0}, gs[8 * DK_FOCAL_LANES];
                int32_t ls[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
                memcpy(xs, x + p0 * C, sizeof(float) * (size_t)(left * C));
                memcpy(ls, labels + p0, sizeof(int32_t) * (size_t)left);
                focal_step(t, C, first, w, gamma, scalev, xs, _mm256_loadu_si256((const __m256i *)ls),
                           grad ? gs : 0, acc);
                if (grad) memcpy(grad + p0 * C, gs, sizeof(float) * (size_t)(left * C));
            }
        }
        for (int k = first; k < C; k++) {
            float lanes[8];
            _mm256_storeu_ps(lanes, acc[k]);
            for (int lane = 0; lane < 8; lane++) lane_sums[k][lane] += lanes[lane];
        }
    }
    for (int k = first; k < C; k++) {
        double s = 0;
        for (int lane = 0; lane < 8; lane++) s += lane_sums[k][lane];
        sums[k] += s;
    }
}

// Bodies with C and `first` (0 or 1: the background kept or excluded) compiled in, as
// dice_avx2.c does for the Dice passes; other counts (≤ 16) take the generic body.
#define FOCAL_CASE(n)                                                                                                 \
    case n:                                                                                                           \
        first == 0 ? focal_softmax_body(t, x, labels, positions, n, 0, w, gamma, scale, grad, sums)                  \
                   : focal_softmax_body(t, x, labels, positions, n, 1, w, gamma, scale, grad, sums);                 \
        return;

DK256 void dk_focal_softmax_avx2(const float *x, const int32_t *labels, long positions, int C, int first,
                                 const float *w, int gamma, float scale, float *grad, double *sums) {
    dk_tables256 tables;
    if (C > 4) build_tables256(&tables, C);
    const dk_tables256 *t = &tables;
    if (first <= 1) {
        switch (C) {
        FOCAL_CASE(2) FOCAL_CASE(3) FOCAL_CASE(4) FOCAL_CASE(5) FOCAL_CASE(6) FOCAL_CASE(8)
        default: break;
        }
    }
    focal_softmax_body(t, x, labels, positions, C, first, w, gamma, scale, grad, sums);
}

#endif // defined(__x86_64__)
