// The sigmoid focal loss's element loop with AVX-512: one expf-like and one logf-like polynomial
// per element, 16 elements per step (Docs/DiceMath.md §9.1 for the formulas). Only the common
// case lives here (channels-last, label targets, C dividing 16, whole γ, no reduced threshold or
// normalization); everything else runs in Swift (FocalLoss+Passes.swift), which is also the
// portable fallback. Sums are accumulated in float for blocks of 256 steps, then in double.

#include "focal_variants.h"

// x86-64 code only: on other CPUs focal_dispatch.c runs the portable path instead.
#if defined(__x86_64__)

#include "focal_variants.h"
#include <math.h>
#include <immintrin.h>

#define DKF512 __attribute__((target("avx512f,avx512bw,avx512dq,fma")))

// e^x for x ≤ 0: x = n·ln2 + r, |r| ≤ ln2/2, e^r by its degree-6 Taylor polynomial, 2^n by scalef.
DKF512 static inline __m512 focal_exp(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.0f / 720);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

// log w for w in [1, 2]: w = m·2^k with m in [0.75, 1.5), s = (m − 1)/(m + 1),
// log m = 2s·(1 + s²/3 + s⁴/5 + s⁶/7 + s⁸/9) (|s| ≤ 0.2: truncation below 1e-8).
DKF512 static inline __m512 focal_log(__m512 w) {
    const __m512 m = _mm512_getmant_ps(w, _MM_MANT_NORM_p75_1p5, _MM_MANT_SIGN_src);
    const __m512 k = _mm512_getexp_ps(_mm512_mul_ps(w, _mm512_set1_ps(4.0f / 3.0f)));
    const __m512 s = _mm512_div_ps(_mm512_sub_ps(m, _mm512_set1_ps(1.0f)), _mm512_add_ps(m, _mm512_set1_ps(1.0f)));
    const __m512 s2 = _mm512_mul_ps(s, s);
    __m512 p = _mm512_set1_ps(1.0f / 9);
    p = _mm512_fmadd_ps(p, s2, _mm512_set1_ps(1.0f / 7));
    p = _mm512_fmadd_ps(p, s2, _mm512_set1_ps(1.0f / 5));
    p = _mm512_fmadd_ps(p, s2, _mm512_set1_ps(1.0f / 3));
    p = _mm512_fmadd_ps(p, s2, _mm512_set1_ps(1.0f));
    return _mm512_fmadd_ps(k, _mm512_set1_ps(0.693147180559945309f), _mm512_mul_ps(_mm512_add_ps(s, s), p));
}

DKF512 void dk_focal_sigmoid_avx512(const float *x, const int32_t *labels, long positions, int C, int label_offset,
                                    const float *w1, const float *w0, int gamma, float scale, float *grad,
                                    double *sums) {
    const int per = 16 / C;  // positions per step
    int lane_k[16], lane_p[16];
    float lane_w1[16], lane_w0[16];
    for (int l = 0; l < 16; l++) {
        lane_k[l] = l % C; lane_p[l] = l / C;
        lane_w1[l] = w1[l % C]; lane_w0[l] = w0[l % C];
    }
    const __m512i kv = _mm512_add_epi32(_mm512_loadu_si512(lane_k), _mm512_set1_epi32(label_offset));
    const __m512i pv = _mm512_loadu_si512(lane_p);
    const __m512 w1v = _mm512_loadu_ps(lane_w1), w0v = _mm512_loadu_ps(lane_w0);
    const __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps(), gammav = _mm512_set1_ps((float)gamma);
    const __m512 scalev = _mm512_set1_ps(scale), sign = _mm512_set1_ps(-0.0f);
    double lane_l[16] = {0}, lane_f[16] = {0};
    const long steps = positions / per;
    long step = 0;
    while (step < steps) {
        const long end = step + 256 < steps ? step + 256 : steps;
        __m512 acc_l = zero, acc_f = zero;
        for (; step < end; step++) {
            const long p0 = step * per;
            const __m512 z = _mm512_loadu_ps(x + p0 * C);
            const __m512i lab = _mm512_i32gather_epi32(_mm512_add_epi32(pv, _mm512_set1_epi32((int)p0)), labels, 4);
            const __mmask16 positive = _mm512_cmpeq_epi32_mask(lab, kv);
            const __m512 u = _mm512_mask_blend_ps(positive, _mm512_xor_ps(z, sign), z);
            const __m512 e = focal_exp(_mm512_or_ps(u, sign));  // e^(−|u|)
            const __m512 w = _mm512_add_ps(one, e);
            const __m512 inv = _mm512_div_ps(one, w);
            const __m512 small = _mm512_mul_ps(e, inv);
            const __mmask16 nonneg = _mm512_cmp_ps_mask(u, zero, _CMP_GE_OQ);
            const __m512 sig_u = _mm512_mask_blend_ps(nonneg, small, inv);
            const __m512 sig_mu = _mm512_mask_blend_ps(nonneg, inv, small);
            // log(1 + e) = log(w)·e/(w − 1), or e where w rounds to 1.
            const __mmask16 exact = _mm512_cmp_ps_mask(w, one, _CMP_EQ_OQ);
            const __m512 corrected = _mm512_div_ps(_mm512_mul_ps(focal_log(w), e), _mm512_sub_ps(w, one));
            const __m512 log1pe = _mm512_mask_blend_ps(exact, corrected, e);
            const __m512 bce = _mm512_add_ps(_mm512_max_ps(_mm512_xor_ps(u, sign), zero), log1pe);
            __m512 f = one;
            for (int g = 0; g < gamma; g++) f = _mm512_mul_ps(f, sig_mu);
            const __m512 df = _mm512_mul_ps(_mm512_mul_ps(gammav, f), _mm512_xor_ps(sig_u, sign));
            const __m512 wt = _mm512_mask_blend_ps(positive, w0v, w1v);
            acc_l = _mm512_fmadd_ps(_mm512_mul_ps(wt, f), bce, acc_l);
            acc_f = _mm512_add_ps(acc_f, f);
            if (grad) {
                const __m512 dl = _mm512_mul_ps(wt, _mm512_fmsub_ps(df, bce, _mm512_mul_ps(f, sig_mu)));
                const __m512 dz = _mm512_mask_blend_ps(positive, _mm512_xor_ps(dl, sign), dl);
                _mm512_storeu_ps(grad + p0 * C, _mm512_mul_ps(dz, scalev));
            }
        }
        float tl[16], tf[16];
        _mm512_storeu_ps(tl, acc_l); _mm512_storeu_ps(tf, acc_f);
        for (int l = 0; l < 16; l++) { lane_l[l] += tl[l]; lane_f[l] += tf[l]; }
    }
    for (int l = 0; l < 16; l++) { sums[lane_k[l]] += lane_l[l]; sums[C + lane_k[l]] += lane_f[l]; }
    // The remaining positions, scalar (libm).
    for (long p = steps * per; p < positions; p++)
        dk_focal_sigmoid_position(x + p * C, labels[p], C, label_offset, w1, w0, gamma, scale, grad ? grad + p * C : 0,
                                  sums);
}

#endif // defined(__x86_64__)
