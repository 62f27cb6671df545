// The sigmoid focal loss's element loop with AVX2 + FMA: the counterpart of focal_sigmoid_avx512.c
// for a CPU without AVX-512. A step covers the same 16 elements (C dividing 16) as two 8-lane
// halves, whose labels come from one masked load and one permute each (no gather). The
// polynomials are math/dk_polynomials.h's expneg256 and log256, and log(1 + e) is
// log w + (e − (w − 1))/w with w = 1 + e: the rounding of w corrected with the 1/w the sigmoid
// needs anyway, instead of a second division (Docs/DiceMath.md, "Focal loss"). Sums are
// accumulated in float for blocks of 256 steps, then in double.

#include "focal_variants.h"

// x86-64 code only: on other CPUs focal_dispatch.c runs the portable path instead.
#if defined(__x86_64__)

#include "focal_variants.h"
#include "../math/dk_polynomials.h"

/// 8 elements z whose target is 1 where `positive` is all ones. Adds w·F·bce to *acc_l and F to
/// *acc_f; returns scale·dℓ/dz.
DK256 static inline __attribute__((always_inline)) __m256
focal_elements(__m256 z, __m256 positive, __m256 w1v, __m256 w0v, int gamma, __m256 scalev, __m256 *acc_l,
               __m256 *acc_f) {
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps(), sign = _mm256_set1_ps(-0.0f);
    const __m256 u = _mm256_blendv_ps(_mm256_xor_ps(z, sign), z, positive);
    const __m256 e = expneg256(_mm256_andnot_ps(sign, u));  // e^(−|u|)
    const __m256 w = _mm256_add_ps(one, e);
    const __m256 inv = _mm256_div_ps(one, w);
    const __m256 small = _mm256_mul_ps(e, inv);
    const __m256 nonneg = _mm256_cmp_ps(u, zero, _CMP_GE_OQ);
    const __m256 sig_u = _mm256_blendv_ps(small, inv, nonneg);
    const __m256 sig_mu = _mm256_blendv_ps(inv, small, nonneg);
    // log(1 + e) = log w + log(1 + d), d = (e − (w − 1))/w: w − 1 and e − (w − 1) are exact, and
    // log(1 + d) ≈ d drops d²/2 < e·2⁻²⁵ (|d| ≤ min(e, 2⁻²⁴)).
    const __m256 log1pe = _mm256_fmadd_ps(_mm256_sub_ps(e, _mm256_sub_ps(w, one)), inv, log256(w));
    const __m256 bce = _mm256_add_ps(_mm256_max_ps(_mm256_xor_ps(u, sign), zero), log1pe);
    __m256 f = one;
    for (int g = 0; g < gamma; g++) f = _mm256_mul_ps(f, sig_mu);
    const __m256 df = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps((float)gamma), f), _mm256_xor_ps(sig_u, sign));
    const __m256 wt = _mm256_blendv_ps(w0v, w1v, positive);
    *acc_l = _mm256_fmadd_ps(_mm256_mul_ps(wt, f), bce, *acc_l);
    *acc_f = _mm256_add_ps(*acc_f, f);
    const __m256 dl = _mm256_mul_ps(wt, _mm256_fmsub_ps(df, bce, _mm256_mul_ps(f, sig_mu)));
    return _mm256_mul_ps(_mm256_blendv_ps(_mm256_xor_ps(dl, sign), dl, positive), scalev);
}

/// One half-step: the 8 elements z with labels `lab` (per lane) against the lanes' classes `kv`.
DK256 static inline __attribute__((always_inline)) __m256
focal_half(__m256 z, __m256i lab, __m256i kv, __m256 w1v, __m256 w0v, int gamma, __m256 scalev, __m256 *acc_l,
           __m256 *acc_f) {
    return focal_elements(z, _mm256_castsi256_ps(_mm256_cmpeq_epi32(lab, kv)), w1v, w0v, gamma, scalev, acc_l, acc_f);
}

DK256 void dk_focal_sigmoid_avx2(const float *x, const int32_t *labels, long positions, int C, int label_offset,
                                 const float *w1, const float *w0, int gamma, float scale, float *grad, double *sums) {
    const int per = 16 / C;  // positions per step
    // Lane l of the step holds element l: class l mod C of position l / C. The first half spans
    // positions 0 … span − 1 (span = max(8 / C, 1)), the second first1 … first1 + span − 1; one
    // masked load brings a half's labels (no read past them) and one permute spreads them.
    const int span = C <= 8 ? 8 / C : 1, first1 = 8 / C;
    int lane_k[16], spread[16], load[8];
    float lane_w1[16], lane_w0[16];
    for (int l = 0; l < 16; l++) {
        lane_k[l] = l % C;
        lane_w1[l] = w1[l % C]; lane_w0[l] = w0[l % C];
        spread[l] = l / C - (l < 8 ? 0 : first1);
    }
    for (int l = 0; l < 8; l++) load[l] = l < span ? -1 : 0;
    const __m256i loadv = _mm256_loadu_si256((const __m256i *)load);
    const __m256i offset = _mm256_set1_epi32(label_offset);
    const __m256i kv0 = _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)lane_k), offset);
    const __m256i kv1 = _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(lane_k + 8)), offset);
    const __m256i spread0 = _mm256_loadu_si256((const __m256i *)spread);
    const __m256i spread1 = _mm256_loadu_si256((const __m256i *)(spread + 8));
    const __m256 w1v0 = _mm256_loadu_ps(lane_w1), w1v1 = _mm256_loadu_ps(lane_w1 + 8);
    const __m256 w0v0 = _mm256_loadu_ps(lane_w0), w0v1 = _mm256_loadu_ps(lane_w0 + 8);
    const __m256 scalev = _mm256_set1_ps(scale), zero = _mm256_setzero_ps();
    double lane_l[16] = {0}, lane_f[16] = {0};
    const long steps = positions / per;
    long step = 0;
    while (step < steps) {
        const long end = step + 256 < steps ? step + 256 : steps;
        __m256 acc_l0 = zero, acc_f0 = zero, acc_l1 = zero, acc_f1 = zero;
        for (; step < end; step++) {
            const long p0 = step * per;
            const __m256i lab0 = _mm256_permutevar8x32_epi32(_mm256_maskload_epi32(labels + p0, loadv), spread0);
            const __m256i lab1 =
                _mm256_permutevar8x32_epi32(_mm256_maskload_epi32(labels + p0 + first1, loadv), spread1);
            const __m256 dz0 =
                focal_half(_mm256_loadu_ps(x + p0 * C), lab0, kv0, w1v0, w0v0, gamma, scalev, &acc_l0, &acc_f0);
            const __m256 dz1 =
                focal_half(_mm256_loadu_ps(x + p0 * C + 8), lab1, kv1, w1v1, w0v1, gamma, scalev, &acc_l1, &acc_f1);
            if (grad) {
                _mm256_storeu_ps(grad + p0 * C, dz0);
                _mm256_storeu_ps(grad + p0 * C + 8, dz1);
            }
        }
        float tl[16], tf[16];
        _mm256_storeu_ps(tl, acc_l0); _mm256_storeu_ps(tl + 8, acc_l1);
        _mm256_storeu_ps(tf, acc_f0); _mm256_storeu_ps(tf + 8, acc_f1);
        for (int l = 0; l < 16; l++) { lane_l[l] += tl[l]; lane_f[l] += tf[l]; }
    }
    for (int l = 0; l < 16; l++) { sums[lane_k[l]] += lane_l[l]; sums[C + lane_k[l]] += lane_f[l]; }
    // The remaining positions, scalar (libm).
    for (long p = steps * per; p < positions; p++)
        dk_focal_sigmoid_position(x + p * C, labels[p], C, label_offset, w1, w0, gamma, scale, grad ? grad + p * C : 0,
                                  sums);
}

DK256 void dk_focal_sigmoid_dense_avx2(const float *x, const float *t, long positions, int C, const float *w1,
                                       const float *w0, int gamma, float scale, float *grad, double *sums) {
    // Elements in order: element e has class e mod C. A block of C vectors (8·C elements) starts
    // at a multiple of C, so lane l of its vector j always has class (8j + l) mod C: the vector's
    // weights and accumulators are indexed by j alone.
    __m256 w1v[DK_FOCAL_LANES], w0v[DK_FOCAL_LANES];
    for (int j = 0; j < C; j++) {
        float a[8], b[8];
        for (int l = 0; l < 8; l++) { a[l] = w1[(8 * j + l) % C]; b[l] = w0[(8 * j + l) % C]; }
        w1v[j] = _mm256_loadu_ps(a);
        w0v[j] = _mm256_loadu_ps(b);
    }
    const __m256 scalev = _mm256_set1_ps(scale), zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
    double lane_l[DK_FOCAL_LANES][8] = {{0}}, lane_f[DK_FOCAL_LANES][8] = {{0}};
    const long elements = positions * C, blocks = elements / (8L * C);
    long block = 0;
    while (block < blocks) {
        // Float sums over at most 32 blocks, then Double (as the labels kernel's 256 steps).
        const long end = block + 32 < blocks ? block + 32 : blocks;
        __m256 acc_l[DK_FOCAL_LANES], acc_f[DK_FOCAL_LANES];
        for (int j = 0; j < C; j++) acc_l[j] = acc_f[j] = zero;
        for (; block < end; block++) {
            const long e0 = block * 8L * C;
            for (int j = 0; j < C; j++) {
                const long e = e0 + 8L * j;
                const __m256 positive = _mm256_cmp_ps(_mm256_loadu_ps(t + e), one, _CMP_EQ_OQ);
                const __m256 dz =
                    focal_elements(_mm256_loadu_ps(x + e), positive, w1v[j], w0v[j], gamma, scalev, &acc_l[j], &acc_f[j]);
                if (grad) _mm256_storeu_ps(grad + e, dz);
            }
        }
        for (int j = 0; j < C; j++) {
            float tl[8], tf[8];
            _mm256_storeu_ps(tl, acc_l[j]);
            _mm256_storeu_ps(tf, acc_f[j]);
            for (int l = 0; l < 8; l++) { lane_l[j][l] += tl[l]; lane_f[j][l] += tf[l]; }
        }
    }
    for (int j = 0; j < C; j++)
        for (int l = 0; l < 8; l++) {
            sums[(8 * j + l) % C] += lane_l[j][l];
            sums[C + (8 * j + l) % C] += lane_f[j][l];
        }
    // The remaining positions (fewer than 8), scalar (libm).
    for (long p = blocks * 8L; p < positions; p++)
        dk_focal_sigmoid_dense_position(x + p * C, t + p * C, C, w1, w0, gamma, scale, grad ? grad + p * C : 0, sums);
}

#endif // defined(__x86_64__)
