// The AVX2 + FMA Dice-loss passes for dense targets (one-hot or soft values with the prediction's
// layout): 8 positions per step, the structure of dice_dense_avx512.c with lane-mask vectors. The
// prediction and the target move through the same in-register transposes (dice_avx2.h), so their
// slots match. Specialised per channel count (1–6, 8) so that the channel loops unroll. A
// weighted cross-entropy (class weights, label smoothing), and the positions past the last whole
// step of 8, run the per-position loops of dice_scalar.h compiled for AVX2 + FMA.
//
// Before these bodies every dense pass below AVX-512 was that per-position code: the target of a
// region loss (one sigmoid channel per region, RegionLoss) and every one-hot or soft target on
// an AVX2 CPU went through it.

#include "dice_variants.h"

// x86-64 code only: on other CPUs dice_dispatch.c runs the portable path instead.
#if defined(__x86_64__)

#include "dice_avx2.h"
#include "dice_scalar.h"
#include "dice_variants.h"

DK256 static inline __attribute__((always_inline))
void stats_dense_avx2_body(const dk_geometry *geo, const float *x, const float *t, float *probs, dk_stats *out,
                           const int C) {
    const int interleaved = geo->channels_last && C > 1;
    dk_tables256 tables;
    if (interleaved && C > 4) build_tables256(&tables, C);
    __m256 tp[DK_MAX_CHANNELS], pp[DK_MAX_CHANNELS], gg[DK_MAX_CHANNELS], dd[DK_MAX_CHANNELS], ce = _mm256_setzero_ps();
    for (int c = 0; c < C; c++) tp[c] = pp[c] = gg[c] = dd[c] = _mm256_setzero_ps();
    // Options in locals: vector stores (probs) may alias anything, `geo` included.
    const int squared = geo->squared, xent = geo->cross_entropy, soft = geo->soft, activation = geo->activation;
    const long S = geo->spatial;
    const __m256 one = _mm256_set1_ps(1.0f), magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 bad = _mm256_setzero_ps();
    long s = geo->s0;
    const long end = geo->s0 + (geo->s1 - geo->s0) / 8 * 8;
    int steps = 0;
    for (; s < end; s += 8) {
        __m256 v[DK_MAX_CHANNELS], g[DK_MAX_CHANNELS], z0[DK_MAX_CHANNELS], m, sum;
        load_channels256(&tables, C, interleaved, x, s, S, v);
        load_channels256(&tables, C, interleaved, t, s, S, g);   // the same slot order as v
        if (xent) for (int c = 0; c < C; c++) z0[c] = v[c];
        bad = _mm256_or_ps(bad, activate256(activation, C, v, &m, &sum));
        if (probs) store_channels256(&tables, C, interleaved, probs, s, S, v);
        const __m256 lse = xent == DK_CROSS_ENTROPY_SOFTMAX ? _mm256_add_ps(m, log256(sum)) : _mm256_setzero_ps();
        for (int c = 0; c < C; c++) {
            tp[c] = _mm256_fmadd_ps(v[c], g[c], tp[c]);
            pp[c] = squared ? _mm256_fmadd_ps(v[c], v[c], pp[c]) : _mm256_add_ps(pp[c], v[c]);
            gg[c] = squared ? _mm256_fmadd_ps(g[c], g[c], gg[c]) : _mm256_add_ps(gg[c], g[c]);
            if (soft) dd[c] = _mm256_add_ps(dd[c], _mm256_and_ps(magnitude, _mm256_sub_ps(v[c], g[c])));
            if (xent == DK_CROSS_ENTROPY_SOFTMAX) ce = _mm256_fmadd_ps(g[c], _mm256_sub_ps(lse, z0[c]), ce);
            if (xent == DK_CROSS_ENTROPY_BINARY) {   // max(z, 0) − z·g − ln max(p, 1 − p)
                const __m256 q = _mm256_max_ps(v[c], _mm256_sub_ps(one, v[c]));
                const __m256 term = _mm256_sub_ps(_mm256_max_ps(z0[c], _mm256_setzero_ps()), log256(q));
                ce = _mm256_add_ps(ce, _mm256_fnmadd_ps(z0[c], g[c], term));
            }
        }
        if (++steps == DK_ACCUMULATION_BLOCK / 8 || s + 8 >= end) {
            for (int c = 0; c < C; c++) {
                out->tp[c] += reduce_add256(tp[c]); out->p[c] += reduce_add256(pp[c]);
                out->g[c] += reduce_add256(gg[c]); out->d[c] += reduce_add256(dd[c]);
                tp[c] = pp[c] = gg[c] = dd[c] = _mm256_setzero_ps();
            }
            out->ce += reduce_add256(ce);
            ce = _mm256_setzero_ps();
            steps = 0;
        }
    }
    out->counted += (double)(end - geo->s0);
    if (_mm256_movemask_ps(bad)) out->nonfinite = 1;
    stats_dense_portable(geo, x, t, probs, out, s, geo->s1);
}

DK256 static inline __attribute__((always_inline))
void grad_dense_avx2_body(const dk_geometry *geo, const float *t, float *grad, const float *a, const float *b,
                          const float *f, const int C) {
    const int interleaved = geo->channels_last && C > 1;
    dk_tables256 tables;
    if (interleaved && C > 4) build_tables256(&tables, C);
    __m256 av[DK_MAX_CHANNELS], bv[DK_MAX_CHANNELS], fv[DK_MAX_CHANNELS];
    for (int c = 0; c < C; c++) {
        av[c] = _mm256_set1_ps(a[c]);
        bv[c] = _mm256_set1_ps(geo->squared ? 2.0f * b[c] : b[c]);
        fv[c] = _mm256_set1_ps(geo->soft ? f[c] : 0.0f);
    }
    const int squared = geo->squared, soft = geo->soft, activation = geo->activation;
    const long S = geo->spatial;
    const __m256 one = _mm256_set1_ps(1.0f), cev = _mm256_set1_ps(geo->ce_scale);
    long s = geo->s0;
    const long end = geo->s0 + (geo->s1 - geo->s0) / 8 * 8;
    for (; s < end; s += 8) {
        __m256 p[DK_MAX_CHANNELS], g[DK_MAX_CHANNELS], u[DK_MAX_CHANNELS];
        __m256 dot = _mm256_setzero_ps(), gsum = _mm256_setzero_ps();
        load_channels256(&tables, C, interleaved, grad, s, S, p);
        load_channels256(&tables, C, interleaved, t, s, S, g);
        for (int c = 0; c < C; c++) {
            u[c] = _mm256_fmadd_ps(av[c], g[c], squared ? _mm256_mul_ps(bv[c], p[c]) : bv[c]);
            if (soft) {   // + f·sign(p − g)
                u[c] = _mm256_add_ps(u[c], _mm256_and_ps(_mm256_cmp_ps(p[c], g[c], _CMP_GT_OQ), fv[c]));
                u[c] = _mm256_sub_ps(u[c], _mm256_and_ps(_mm256_cmp_ps(p[c], g[c], _CMP_LT_OQ), fv[c]));
            }
            dot = _mm256_fmadd_ps(p[c], u[c], dot);
            gsum = _mm256_add_ps(gsum, g[c]);
        }
        for (int c = 0; c < C; c++) {
            __m256 d = u[c];
            if (activation == DK_ACTIVATION_SOFTMAX)
                d = _mm256_fmadd_ps(cev, _mm256_fmsub_ps(p[c], gsum, g[c]), _mm256_mul_ps(p[c], _mm256_sub_ps(u[c], dot)));
            else if (activation == DK_ACTIVATION_SIGMOID)
                d = _mm256_fmadd_ps(cev, _mm256_sub_ps(p[c], g[c]),
                                    _mm256_mul_ps(_mm256_mul_ps(u[c], p[c]), _mm256_sub_ps(one, p[c])));
            p[c] = d;
        }
        store_channels256(&tables, C, interleaved, grad, s, S, p);
    }
    grad_dense_portable(geo, t, grad, a, b, f, s, geo->s1);
}

// Specialised for the common channel counts, as dice_avx2.c; other counts (≤ 16) take the
// generic body.
#define DK_DENSE_CASES(F) F(1) F(2) F(3) F(4) F(5) F(6) F(8)
#define DK_DENSE_STATS_CASE(n) case n: stats_dense_avx2_body(geo, x, t, probs, out, n); break;
#define DK_DENSE_GRAD_CASE(n) case n: grad_dense_avx2_body(geo, t, grad, a, b, f, n); break;

DK256 void dk_dice_stats_dense_avx2(const dk_geometry *geo, const float *x, const float *t, float *probs,
                                    dk_stats *out) {
    if (dk_ce_weighted(geo)) {
        stats_dense_portable(geo, x, t, probs, out, geo->s0, geo->s1);
        return;
    }
    switch (geo->channels) {
    DK_DENSE_CASES(DK_DENSE_STATS_CASE)
    default: stats_dense_avx2_body(geo, x, t, probs, out, geo->channels); break;
    }
}

DK256 void dk_dice_grad_dense_avx2(const dk_geometry *geo, const float *t, float *grad, const float *a, const float *b,
                                   const float *f) {
    if (dk_ce_weighted(geo)) {
        grad_dense_portable(geo, t, grad, a, b, f, geo->s0, geo->s1);
        return;
    }
    switch (geo->channels) {
    DK_DENSE_CASES(DK_DENSE_GRAD_CASE)
    default: grad_dense_avx2_body(geo, t, grad, a, b, f, geo->channels); break;
    }
}

#endif // defined(__x86_64__)
