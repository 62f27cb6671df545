// The AVX-512 Dice-loss passes for dense targets (one-hot or soft values with the prediction's
// layout): the prediction and the target move through the same in-register transposes
// (dice_avx512.h), so their slots match. Positions past the last whole step of 16 run the
// per-position loops of dice_scalar.h.

#include "dice_variants.h"

// x86-64 code only: on other CPUs dice_dispatch.c runs the portable path instead.
#if defined(__x86_64__)

#include "dice_avx512.h"
#include "dice_scalar.h"
#include "dice_variants.h"

DK512 void dk_dice_stats_dense_avx512(const dk_geometry *geo, const float *x, const float *t, float *probs, dk_stats *out) {
    const int C = geo->channels;
    const int interleaved = geo->channels_last && C > 1;
    dk_tables tables;
    if (interleaved && C != 2 && C != 3 && C != 4) build_tables(&tables, C);
    __m512 tp[DK_MAX_CHANNELS], pp[DK_MAX_CHANNELS], gg[DK_MAX_CHANNELS], dd[DK_MAX_CHANNELS], ce = _mm512_setzero_ps();
    for (int c = 0; c < C; c++) tp[c] = pp[c] = gg[c] = dd[c] = _mm512_setzero_ps();
    const int squared = geo->squared, xent = geo->cross_entropy, soft = geo->soft;
    const __m512 one = _mm512_set1_ps(1.0f);
    __mmask16 bad = 0;
    long s = geo->s0;
    const long end = geo->s0 + (geo->s1 - geo->s0) / 16 * 16;
    int steps = 0;
    for (; s < end; s += 16) {
        __m512 v[DK_MAX_CHANNELS], g[DK_MAX_CHANNELS], z0[DK_MAX_CHANNELS], m, sum;
        load_channels(&tables, C, interleaved, x, s, geo->spatial, v);
        load_channels(&tables, C, interleaved, t, s, geo->spatial, g);   // the same slot order as v
        if (xent) for (int c = 0; c < C; c++) z0[c] = v[c];
        bad |= activate512(geo->activation, C, v, &m, &sum);
        if (probs) store_channels(&tables, C, interleaved, probs, s, geo->spatial, v);
        __m512 lse = xent == DK_CROSS_ENTROPY_SOFTMAX ? _mm512_add_ps(m, log512(sum)) : _mm512_setzero_ps();
        for (int c = 0; c < C; c++) {
            tp[c] = _mm512_fmadd_ps(v[c], g[c], tp[c]);
            pp[c] = squared ? _mm512_fmadd_ps(v[c], v[c], pp[c]) : _mm512_add_ps(pp[c], v[c]);
            gg[c] = squared ? _mm512_fmadd_ps(g[c], g[c], gg[c]) : _mm512_add_ps(gg[c], g[c]);
            if (soft) dd[c] = _mm512_add_ps(dd[c], _mm512_abs_ps(_mm512_sub_ps(v[c], g[c])));
            if (xent == DK_CROSS_ENTROPY_SOFTMAX) ce = _mm512_fmadd_ps(g[c], _mm512_sub_ps(lse, z0[c]), ce);
            if (xent == DK_CROSS_ENTROPY_BINARY) {
                __m512 q = _mm512_max_ps(v[c], _mm512_sub_ps(one, v[c]));
                __m512 term = _mm512_sub_ps(_mm512_max_ps(z0[c], _mm512_setzero_ps()), log512(q));
                ce = _mm512_add_ps(ce, _mm512_fnmadd_ps(z0[c], g[c], term));
            }
        }
        if (++steps == DK_ACCUMULATION_BLOCK / 16 || s + 16 >= end) {
            for (int c = 0; c < C; c++) {
                out->tp[c] += _mm512_reduce_add_ps(tp[c]); out->p[c] += _mm512_reduce_add_ps(pp[c]);
                out->g[c] += _mm512_reduce_add_ps(gg[c]); out->d[c] += _mm512_reduce_add_ps(dd[c]);
                tp[c] = pp[c] = gg[c] = dd[c] = _mm512_setzero_ps();
            }
            out->ce += _mm512_reduce_add_ps(ce);
            ce = _mm512_setzero_ps();
            steps = 0;
        }
    }
    out->counted += (double)(end - geo->s0);
    if (bad) out->nonfinite = 1;
    stats_dense_portable(geo, x, t, probs, out, s, geo->s1);
}

DK512 void dk_dice_grad_dense_avx512(const dk_geometry *geo, const float *t, float *grad, const float *a, const float *b, const float *f) {
    const int C = geo->channels;
    const int interleaved = geo->channels_last && C > 1;
    dk_tables tables;
    if (interleaved && C != 2 && C != 3 && C != 4) build_tables(&tables, C);
    const int squared = geo->squared, soft = geo->soft, activation = geo->activation;
    const __m512 one = _mm512_set1_ps(1.0f), cev = _mm512_set1_ps(geo->ce_scale);
    long s = geo->s0;
    const long end = geo->s0 + (geo->s1 - geo->s0) / 16 * 16;
    for (; s < end; s += 16) {
        __m512 p[DK_MAX_CHANNELS], g[DK_MAX_CHANNELS], u[DK_MAX_CHANNELS], dot = _mm512_setzero_ps(), gsum = _mm512_setzero_ps();
        load_channels(&tables, C, interleaved, grad, s, geo->spatial, p);
        load_channels(&tables, C, interleaved, t, s, geo->spatial, g);
        for (int c = 0; c < C; c++) {
            __m512 bterm = squared ? _mm512_mul_ps(_mm512_set1_ps(2.0f * b[c]), p[c]) : _mm512_set1_ps(b[c]);
            u[c] = _mm512_fmadd_ps(_mm512_set1_ps(a[c]), g[c], bterm);
            if (soft) {
                __m512 fv = _mm512_set1_ps(f[c]);
                u[c] = _mm512_mask_add_ps(u[c], _mm512_cmp_ps_mask(p[c], g[c], _CMP_GT_OQ), u[c], fv);
                u[c] = _mm512_mask_sub_ps(u[c], _mm512_cmp_ps_mask(p[c], g[c], _CMP_LT_OQ), u[c], fv);
            }
            dot = _mm512_fmadd_ps(p[c], u[c], dot);
            gsum = _mm512_add_ps(gsum, g[c]);
        }
        for (int c = 0; c < C; c++) {
            __m512 d;
            if (activation == DK_ACTIVATION_SOFTMAX)
                d = _mm512_fmadd_ps(cev, _mm512_fmsub_ps(p[c], gsum, g[c]), _mm512_mul_ps(p[c], _mm512_sub_ps(u[c], dot)));
            else if (activation == DK_ACTIVATION_SIGMOID)
                d = _mm512_fmadd_ps(cev, _mm512_sub_ps(p[c], g[c]), _mm512_mul_ps(_mm512_mul_ps(u[c], p[c]), _mm512_sub_ps(one, p[c])));
            else
                d = u[c];
            p[c] = d;
        }
        store_channels(&tables, C, interleaved, grad, s, geo->spatial, p);
    }
    grad_dense_portable(geo, t, grad, a, b, f, s, geo->s1);
}

#endif // defined(__x86_64__)
