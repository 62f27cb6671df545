// The AVX-512 Dice-loss passes for integer-label targets (avx512f/bw/dq + FMA): 16 positions per
// step. Channels-first rows are contiguous; channels-last blocks of 16·C floats become C channel
// vectors (and back) in registers (dice_avx512.h). exp and log are the Cephes-style polynomials
// of math/dk_polynomials.h (exp scaled by vscalefps); the sigmoid's e^(−z) the cheaper degree-6
// minimax form (expneg512). Specialised per channel count (1–6, 8), with squared/cross-entropy
// code compiled out of the common case, and for one sigmoid channel. Positions past the last
// whole step run the per-position loops of dice_scalar.h.

#include "dice_variants.h"

// x86-64 code only: on other CPUs dice_dispatch.c runs the portable path instead.
#if defined(__x86_64__)

#include "dice_avx512.h"
#include "dice_scalar.h"
#include "dice_variants.h"

DK512 static inline __attribute__((always_inline))
void stats_avx512_body(const dk_geometry *geo, const float *x, const int32_t *labels, float *probs, dk_stats *out, const int C,
                       const int general, const int fixed_activation) {
    const int interleaved = geo->channels_last && C > 1;
    dk_tables tables;
    if (interleaved && C != 2 && C != 3 && C != 4) build_tables(&tables, C);
    __m512 tp[DK_MAX_CHANNELS], pp[DK_MAX_CHANNELS], ce = _mm512_setzero_ps();
    long gcount[DK_MAX_CHANNELS];
    for (int c = 0; c < C; c++) { tp[c] = _mm512_setzero_ps(); pp[c] = _mm512_setzero_ps(); gcount[c] = 0; }
    // general == 0 (plain statistics, no cross-entropy: the common case) makes these constants.
    const int squared = general && geo->squared, xent = general ? geo->cross_entropy : 0;
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512i ignore = _mm512_set1_epi32(geo->ignore), limit = _mm512_set1_epi32(geo->label_limit);
    // Options in locals: vector stores (probs) may alias anything, `geo` included, so the loop
    // would reload every field it reads after each store. fixed_activation ≥ 0 makes it a constant.
    const int activation = fixed_activation >= 0 ? fixed_activation : geo->activation;
    const int has_ignore = geo->has_ignore;
    const int32_t label_offset = geo->label_offset;
    const long S = geo->spatial;
    __mmask16 bad_pred = 0, bad_label = 0;
    long counted = 0;
    long s = geo->s0;
    const long end = geo->s0 + (geo->s1 - geo->s0) / 16 * 16;
    int steps = 0;
    // One channel: the next step's logits and labels are loaded before this step's probabilities
    // are stored. When `probs` lies just past `x` modulo 4 KiB (two equal buffers that malloc
    // placed back to back), a load issued after the previous store would wait for it (4K
    // aliasing: 34 instead of 22 µs per 65536 positions); loaded one step ahead, it does not.
    __m512 next_x = _mm512_setzero_ps();
    __m512i next_lab = _mm512_setzero_si512();
    if (C == 1 && s < end) { next_x = _mm512_loadu_ps(x + s); next_lab = _mm512_loadu_si512(labels + s); }
    for (; s < end; s += 16) {
        __m512 v[DK_MAX_CHANNELS];
        __m512i lab;
        if (C == 1) {
            v[0] = next_x;
            lab = next_lab;
            if (s + 16 < end) { next_x = _mm512_loadu_ps(x + s + 16); next_lab = _mm512_loadu_si512(labels + s + 16); }
        } else {
            load_channels(&tables, C, interleaved, x, s, S, v);
            lab = label_order(C, interleaved, _mm512_loadu_si512(labels + s));
        }
        __mmask16 kv = has_ignore ? _mm512_cmpneq_epi32_mask(lab, ignore) : (__mmask16)0xFFFF;
        // Unsigned: negative labels compare as huge values, so one test covers 0 ≤ label < limit.
        __mmask16 kb = _mm512_mask_cmpge_epu32_mask(kv, lab, limit);
        bad_label |= kb;
        kv &= (__mmask16)~kb;
        __m512 zy = _mm512_setzero_ps(), z0[DK_MAX_CHANNELS], m, sum;
        if (xent == DK_CROSS_ENTROPY_SOFTMAX)
            for (int c = 0; c < C; c++) zy = _mm512_mask_mov_ps(zy, _mm512_cmpeq_epi32_mask(lab, _mm512_set1_epi32(c)), v[c]);
        if (xent == DK_CROSS_ENTROPY_BINARY)
            for (int c = 0; c < C; c++) z0[c] = v[c];
        bad_pred |= activate512(activation, C, v, &m, &sum);
        if (probs) store_channels(&tables, C, interleaved, probs, s, S, v);
        counted += __builtin_popcount(kv);
        if (xent == DK_CROSS_ENTROPY_SOFTMAX)   // log-sum-exp − z_label
            ce = _mm512_mask_add_ps(ce, kv, ce, _mm512_sub_ps(_mm512_add_ps(m, log512(sum)), zy));
        for (int c = 0; c < C; c++) {
            __mmask16 kg = _mm512_mask_cmpeq_epi32_mask(kv, lab, _mm512_set1_epi32(c + label_offset));
            tp[c] = _mm512_mask_add_ps(tp[c], kg, tp[c], v[c]);
            pp[c] = _mm512_mask_add_ps(pp[c], kv, pp[c], squared ? _mm512_mul_ps(v[c], v[c]) : v[c]);
            gcount[c] += __builtin_popcount(kg);
            if (xent == DK_CROSS_ENTROPY_BINARY) {   // max(z, 0) − z·g + log1p(e^(−|z|)), with log1p(e^(−|z|)) = −ln max(p, 1 − p)
                __m512 q = _mm512_max_ps(v[c], _mm512_sub_ps(one, v[c]));
                __m512 term = _mm512_sub_ps(_mm512_max_ps(z0[c], _mm512_setzero_ps()), log512(q));
                term = _mm512_mask_sub_ps(term, kg, term, z0[c]);
                ce = _mm512_mask_add_ps(ce, kv, ce, term);
            }
        }
        if (++steps == DK_ACCUMULATION_BLOCK / 16) {
            for (int c = 0; c < C; c++) {
                out->tp[c] += _mm512_reduce_add_ps(tp[c]); out->p[c] += _mm512_reduce_add_ps(pp[c]);
                tp[c] = _mm512_setzero_ps(); pp[c] = _mm512_setzero_ps();
            }
            out->ce += _mm512_reduce_add_ps(ce);
            ce = _mm512_setzero_ps();
            steps = 0;
        }
    }
    for (int c = 0; c < C; c++) {
        out->tp[c] += _mm512_reduce_add_ps(tp[c]); out->p[c] += _mm512_reduce_add_ps(pp[c]);
        out->g[c] += (double)gcount[c];
    }
    out->ce += _mm512_reduce_add_ps(ce);
    out->counted += (double)counted;
    if (bad_pred) out->nonfinite = 1;
    if (bad_label) out->bad_label = 1;
    stats_portable(geo, x, labels, probs, out, s, geo->s1);
}

DK512 static inline __attribute__((always_inline))
void grad_avx512_body(const dk_geometry *geo, const int32_t *labels, float *grad, const float *a, const float *b, const int C,
                      const int general, const int fixed_activation) {
    const int interleaved = geo->channels_last && C > 1;
    dk_tables tables;
    if (interleaved && C != 2 && C != 3 && C != 4) build_tables(&tables, C);
    __m512 bv[DK_MAX_CHANNELS], abv[DK_MAX_CHANNELS], av[DK_MAX_CHANNELS], b2v[DK_MAX_CHANNELS];
    for (int c = 0; c < C; c++) {
        bv[c] = _mm512_set1_ps(b[c]); abv[c] = _mm512_set1_ps(a[c] + b[c]);
        av[c] = _mm512_set1_ps(a[c]); b2v[c] = _mm512_set1_ps(2.0f * b[c]);
    }
    const __m512i ignore = _mm512_set1_epi32(geo->ignore);
    const __m512 one = _mm512_set1_ps(1.0f), cev = _mm512_set1_ps(geo->ce_scale);
    const int squared = general && geo->squared, xent = general ? geo->cross_entropy : 0;
    const int activation = fixed_activation >= 0 ? fixed_activation : geo->activation;
    // In locals: vector stores may alias anything, so the loop would otherwise reload them.
    const int has_ignore = geo->has_ignore;
    const int32_t label_offset = geo->label_offset;
    const long S = geo->spatial;
    long s = geo->s0;
    const long end = geo->s0 + (geo->s1 - geo->s0) / 16 * 16;
    for (; s < end; s += 16) {
        __m512 p[DK_MAX_CHANNELS], u[DK_MAX_CHANNELS];
        load_channels(&tables, C, interleaved, grad, s, S, p);
        __m512i lab = label_order(C, interleaved, _mm512_loadu_si512(labels + s));
        __mmask16 kv = has_ignore ? _mm512_cmpneq_epi32_mask(lab, ignore) : (__mmask16)0xFFFF;
        __m512 dot = _mm512_setzero_ps();
        __mmask16 kg[DK_MAX_CHANNELS];
        for (int c = 0; c < C; c++) {
            kg[c] = _mm512_cmpeq_epi32_mask(lab, _mm512_set1_epi32(c + label_offset));
            u[c] = squared ? _mm512_fmadd_ps(b2v[c], p[c], _mm512_maskz_mov_ps(kg[c], av[c]))
                           : _mm512_mask_blend_ps(kg[c], bv[c], abv[c]);
            dot = _mm512_fmadd_ps(p[c], u[c], dot);
        }
        for (int c = 0; c < C; c++) {
            __m512 d = activation == DK_ACTIVATION_SOFTMAX ? _mm512_mul_ps(p[c], _mm512_sub_ps(u[c], dot))
                     : activation == DK_ACTIVATION_SIGMOID ? _mm512_mul_ps(_mm512_mul_ps(u[c], p[c]), _mm512_sub_ps(one, p[c])) : u[c];
            if (xent) d = _mm512_fmadd_ps(cev, _mm512_mask_sub_ps(p[c], kg[c], p[c], one), d);
            p[c] = _mm512_maskz_mov_ps(kv, d);
        }
        store_channels(&tables, C, interleaved, grad, s, S, p);
    }
    grad_portable(geo, labels, grad, a, b, s, geo->s1);
}

// Specialised for the common channel counts, so that the channel loops unroll and the per-channel
// vectors stay in registers; other counts (≤ 16) take the generic body.
#define DK_CASES(F) F(1) F(2) F(3) F(4) F(5) F(6) F(8)
#define DK_STATS_CASE(n) case n: general ? stats_avx512_body(geo, x, labels, probs, out, n, 1, -1) \
                                          : stats_avx512_body(geo, x, labels, probs, out, n, 0, -1); break;
#define DK_GRAD_CASE(n) case n: general ? grad_avx512_body(geo, labels, grad, a, b, n, 1, -1) \
                                         : grad_avx512_body(geo, labels, grad, a, b, n, 0, -1); break;

DK512 void dk_dice_stats_avx512(const dk_geometry *geo, const float *x, const int32_t *labels, float *probs, dk_stats *out) {
    const int general = geo->squared || geo->cross_entropy;
    // Binary segmentation (one sigmoid channel) is compute-bound on the exponential: a body
    // with the activation compiled in keeps the loop free of option branches.
    if (geo->channels == 1 && geo->activation == DK_ACTIVATION_SIGMOID && !general) {
        stats_avx512_body(geo, x, labels, probs, out, 1, 0, DK_ACTIVATION_SIGMOID);
        return;
    }
    switch (geo->channels) {
    DK_CASES(DK_STATS_CASE)
    default: stats_avx512_body(geo, x, labels, probs, out, geo->channels, 1, -1); break;
    }
}

DK512 void dk_dice_grad_avx512(const dk_geometry *geo, const int32_t *labels, float *grad, const float *a, const float *b) {
    const int general = geo->squared || geo->cross_entropy;
    if (geo->channels == 1 && geo->activation == DK_ACTIVATION_SIGMOID && !general) {   // as in dk_dice_stats_avx512
        grad_avx512_body(geo, labels, grad, a, b, 1, 0, DK_ACTIVATION_SIGMOID);
        return;
    }
    switch (geo->channels) {
    DK_CASES(DK_GRAD_CASE)
    default: grad_avx512_body(geo, labels, grad, a, b, geo->channels, 1, -1); break;
    }
}

#endif // defined(__x86_64__)
