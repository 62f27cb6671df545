// The AVX2 + FMA Dice-loss passes. Label targets: 8 positions per step, the structure of the
// AVX-512 passes (dice_avx512.c) with lane-mask vectors instead of mask registers, and the
// polynomials exp256, expneg256 and log256 (math/dk_polynomials.h); channels-last blocks become
// channel vectors in registers (dice_avx2.h). Specialised per channel count (1–6, 8), with
// squared/cross-entropy code compiled out of the common case, and for one sigmoid channel.
// Positions past the last whole step run the per-position loops of dice_scalar.h. Dense
// targets: dice_dense_avx2.c.
//
// Before these bodies the label passes were the blocked lane loops of dice_blocked.h compiled
// for AVX2: their 16-lane arrays per channel did not fit the 16 ymm registers, and on an AMD
// EPYC family 25 model 17 with AVX-512 disabled they ran at half the single-core triad bandwidth
// (Docs/Benchmarks/AMD-Zen4.md, "The AVX2 Dice bodies").

#include "dice_variants.h"

// x86-64 code only: on other CPUs dice_dispatch.c runs the portable path instead.
#if defined(__x86_64__)

#include "dice_avx2.h"
#include "dice_scalar.h"
#include "dice_variants.h"

DK256 static inline __attribute__((always_inline))
void stats_avx2_body(const dk_geometry *geo, const float *x, const int32_t *labels, float *probs, dk_stats *out,
                     const int C, const int general, const int fixed_activation) {
    const int interleaved = geo->channels_last && C > 1;
    dk_tables256 tables;
    if (interleaved && C > 4) build_tables256(&tables, C);
    __m256 tp[DK_MAX_CHANNELS], pp[DK_MAX_CHANNELS], ce = _mm256_setzero_ps(), ce_norm = _mm256_setzero_ps();
    long gcount[DK_MAX_CHANNELS];
    for (int c = 0; c < C; c++) { tp[c] = _mm256_setzero_ps(); pp[c] = _mm256_setzero_ps(); gcount[c] = 0; }
    // general == 0 (plain statistics, no cross-entropy: the common case) makes these constants.
    const int squared = general && geo->squared, xent = general ? geo->cross_entropy : 0;
    const int weighted = general && dk_ce_weighted(geo);
    // Weighted cross-entropy (dice_scalar.h): w_c, w_c − 1 (binary), (1 − ε) and ε/C (softmax).
    __m256 wv[DK_MAX_CHANNELS], wm1[DK_MAX_CHANNELS];
    for (int c = 0; c < C; c++) {
        const float w = weighted ? ce_class_weight(geo, c) : 1.0f;
        wv[c] = _mm256_set1_ps(w); wm1[c] = _mm256_set1_ps(w - 1.0f);
    }
    const float eps = weighted ? geo->ce_smoothing : 0.0f;
    const __m256 kept = _mm256_set1_ps(1.0f - eps), spread = _mm256_set1_ps(eps / (float)C);
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256i ignore = _mm256_set1_epi32(geo->ignore), limit = _mm256_set1_epi32(geo->label_limit);
    const __m256i all = _mm256_set1_epi32(-1);
    // Options in locals: vector stores (probs) may alias anything, `geo` included.
    const int activation = fixed_activation >= 0 ? fixed_activation : geo->activation;
    const int has_ignore = geo->has_ignore;
    const int32_t label_offset = geo->label_offset;
    const long S = geo->spatial;
    __m256 bad_pred = _mm256_setzero_ps();
    __m256i bad_label = _mm256_setzero_si256();
    long counted = 0;
    long s = geo->s0;
    const long end = geo->s0 + (geo->s1 - geo->s0) / 8 * 8;
    int steps = 0;
    // One channel: the next step's logits and labels are loaded before this step's probabilities
    // are stored (4K aliasing, as in dice_avx512.c).
    __m256 next_x = _mm256_setzero_ps();
    __m256i next_lab = _mm256_setzero_si256();
    if (C == 1 && s < end) {
        next_x = _mm256_loadu_ps(x + s);
        next_lab = _mm256_loadu_si256((const __m256i *)(labels + s));
    }
    for (; s < end; s += 8) {
        __m256 v[DK_MAX_CHANNELS];
        __m256i lab;
        if (C == 1) {
            v[0] = next_x;
            lab = next_lab;
            if (s + 8 < end) {
                next_x = _mm256_loadu_ps(x + s + 8);
                next_lab = _mm256_loadu_si256((const __m256i *)(labels + s + 8));
            }
        } else {
            load_channels256(&tables, C, interleaved, x, s, S, v);
            lab = label_order256(C, interleaved, _mm256_loadu_si256((const __m256i *)(labels + s)));
        }
        __m256i kv = has_ignore ? _mm256_xor_si256(_mm256_cmpeq_epi32(lab, ignore), all) : all;
        // Unsigned: negative labels compare as huge values, so one test covers 0 ≤ label < limit.
        __m256i kb = _mm256_and_si256(kv, _mm256_cmpeq_epi32(_mm256_max_epu32(lab, limit), lab));
        bad_label = _mm256_or_si256(bad_label, kb);
        kv = _mm256_andnot_si256(kb, kv);
        const __m256 kvf = _mm256_castsi256_ps(kv);
        __m256 zy = _mm256_setzero_ps(), wy = _mm256_setzero_ps(), z0[DK_MAX_CHANNELS], m, sum;
        if (xent == DK_CROSS_ENTROPY_SOFTMAX)
            for (int c = 0; c < C; c++) {
                const __m256 is_label = _mm256_castsi256_ps(_mm256_cmpeq_epi32(lab, _mm256_set1_epi32(c)));
                zy = _mm256_blendv_ps(zy, v[c], is_label);
                if (weighted) wy = _mm256_blendv_ps(wy, wv[c], is_label);
            }
        if (xent == DK_CROSS_ENTROPY_BINARY || weighted)
            for (int c = 0; c < C; c++) z0[c] = v[c];
        bad_pred = _mm256_or_ps(bad_pred, activate256(activation, C, v, &m, &sum));
        if (probs) store_channels256(&tables, C, interleaved, probs, s, S, v);
        counted += __builtin_popcount((unsigned)lane_bits(kv));
        if (xent == DK_CROSS_ENTROPY_SOFTMAX && !weighted)   // log-sum-exp − z_label
            ce = _mm256_add_ps(ce, _mm256_and_ps(kvf, _mm256_sub_ps(_mm256_add_ps(m, log256(sum)), zy)));
        if (xent == DK_CROSS_ENTROPY_SOFTMAX && weighted) {   // (1 − ε)·w_y·(lse − z_y) + (ε/C)·Σ w_c·(lse − z_c)
            const __m256 lse = _mm256_add_ps(m, log256(sum));
            __m256 smoothed = _mm256_setzero_ps();
            if (eps != 0.0f)
                for (int c = 0; c < C; c++) smoothed = _mm256_fmadd_ps(wv[c], _mm256_sub_ps(lse, z0[c]), smoothed);
            const __m256 term = _mm256_fmadd_ps(_mm256_mul_ps(kept, wy), _mm256_sub_ps(lse, zy),
                                                _mm256_mul_ps(spread, smoothed));
            ce = _mm256_add_ps(ce, _mm256_and_ps(kvf, term));
            ce_norm = _mm256_add_ps(ce_norm, _mm256_and_ps(kvf, wy));
        }
        for (int c = 0; c < C; c++) {
            __m256i kg = _mm256_and_si256(kv, _mm256_cmpeq_epi32(lab, _mm256_set1_epi32(c + label_offset)));
            const __m256 kgf = _mm256_castsi256_ps(kg);
            tp[c] = _mm256_add_ps(tp[c], _mm256_and_ps(kgf, v[c]));
            pp[c] = _mm256_add_ps(pp[c], _mm256_and_ps(kvf, squared ? _mm256_mul_ps(v[c], v[c]) : v[c]));
            gcount[c] += __builtin_popcount((unsigned)lane_bits(kg));
            if (xent == DK_CROSS_ENTROPY_BINARY) {   // max(z, 0) − z·g − ln max(p, 1 − p), as dice_avx512.c
                __m256 q = _mm256_max_ps(v[c], _mm256_sub_ps(one, v[c]));
                const __m256 softplus = _mm256_sub_ps(_mm256_max_ps(z0[c], _mm256_setzero_ps()), log256(q));
                __m256 term = _mm256_sub_ps(softplus, _mm256_and_ps(kgf, z0[c]));
                // pos_weight: + (w − 1)·g·(softplus(z) − z)
                if (weighted) term = _mm256_fmadd_ps(_mm256_and_ps(kgf, wm1[c]), _mm256_sub_ps(softplus, z0[c]), term);
                ce = _mm256_add_ps(ce, _mm256_and_ps(kvf, term));
            }
        }
        if (++steps == DK_ACCUMULATION_BLOCK / 8) {
            for (int c = 0; c < C; c++) {
                out->tp[c] += reduce_add256(tp[c]); out->p[c] += reduce_add256(pp[c]);
                tp[c] = _mm256_setzero_ps(); pp[c] = _mm256_setzero_ps();
            }
            out->ce += reduce_add256(ce); out->ce_norm += reduce_add256(ce_norm);
            ce = _mm256_setzero_ps(); ce_norm = _mm256_setzero_ps();
            steps = 0;
        }
    }
    for (int c = 0; c < C; c++) {
        out->tp[c] += reduce_add256(tp[c]); out->p[c] += reduce_add256(pp[c]);
        out->g[c] += (double)gcount[c];
    }
    out->ce += reduce_add256(ce);
    out->ce_norm += reduce_add256(ce_norm);
    out->counted += (double)counted;
    if (_mm256_movemask_ps(bad_pred)) out->nonfinite = 1;
    if (lane_bits(bad_label)) out->bad_label = 1;
    stats_portable(geo, x, labels, probs, out, s, geo->s1);
}

DK256 static inline __attribute__((always_inline))
void grad_avx2_body(const dk_geometry *geo, const int32_t *labels, float *grad, const float *a, const float *b,
                    const int C, const int general, const int fixed_activation) {
    const int interleaved = geo->channels_last && C > 1;
    dk_tables256 tables;
    if (interleaved && C > 4) build_tables256(&tables, C);
    __m256 bv[DK_MAX_CHANNELS], abv[DK_MAX_CHANNELS], av[DK_MAX_CHANNELS], b2v[DK_MAX_CHANNELS];
    for (int c = 0; c < C; c++) {
        bv[c] = _mm256_set1_ps(b[c]); abv[c] = _mm256_set1_ps(a[c] + b[c]);
        av[c] = _mm256_set1_ps(a[c]); b2v[c] = _mm256_set1_ps(2.0f * b[c]);
    }
    const __m256i ignore = _mm256_set1_epi32(geo->ignore), all = _mm256_set1_epi32(-1);
    const __m256 one = _mm256_set1_ps(1.0f), cev = _mm256_set1_ps(geo->ce_scale);
    const int squared = general && geo->squared, xent = general ? geo->cross_entropy : 0;
    const int weighted = general && dk_ce_weighted(geo);
    // Weighted cross-entropy (dice_scalar.h), scaled by ce_scale: softmax adds Q·p − (kept_c·g + spread_c),
    // binary p + g·((w − 1)·p − w).
    const float eps = weighted ? geo->ce_smoothing : 0.0f;
    __m256 wv[DK_MAX_CHANNELS], keptv[DK_MAX_CHANNELS], spreadv[DK_MAX_CHANNELS], wm1[DK_MAX_CHANNELS];
    for (int c = 0; c < C; c++) {
        const float w = weighted ? ce_class_weight(geo, c) : 1.0f;
        wv[c] = _mm256_set1_ps(geo->ce_scale * w);
        keptv[c] = _mm256_set1_ps(geo->ce_scale * w * (1.0f - eps));
        spreadv[c] = _mm256_set1_ps(geo->ce_scale * w * eps / (float)C);
        wm1[c] = _mm256_set1_ps(geo->ce_scale * (w - 1.0f));
    }
    const __m256 spread_total = _mm256_set1_ps(weighted ? geo->ce_scale * eps / (float)C * ce_weight_total(geo) : 0.0f);
    const __m256 kept = _mm256_set1_ps(1.0f - eps);
    const int activation = fixed_activation >= 0 ? fixed_activation : geo->activation;
    // In locals: vector stores may alias anything, so the loop would otherwise reload them.
    const int has_ignore = geo->has_ignore;
    const int32_t label_offset = geo->label_offset;
    const long S = geo->spatial;
    long s = geo->s0;
    const long end = geo->s0 + (geo->s1 - geo->s0) / 8 * 8;
    for (; s < end; s += 8) {
        __m256 p[DK_MAX_CHANNELS], u[DK_MAX_CHANNELS], kg[DK_MAX_CHANNELS];
        load_channels256(&tables, C, interleaved, grad, s, S, p);
        __m256i lab = label_order256(C, interleaved, _mm256_loadu_si256((const __m256i *)(labels + s)));
        const __m256 kv =
            _mm256_castsi256_ps(has_ignore ? _mm256_xor_si256(_mm256_cmpeq_epi32(lab, ignore), all) : all);
        __m256 dot = _mm256_setzero_ps(), wy = _mm256_setzero_ps();
        for (int c = 0; c < C; c++) {
            kg[c] = _mm256_castsi256_ps(_mm256_cmpeq_epi32(lab, _mm256_set1_epi32(c + label_offset)));
            u[c] = squared ? _mm256_fmadd_ps(b2v[c], p[c], _mm256_and_ps(kg[c], av[c]))
                           : _mm256_blendv_ps(bv[c], abv[c], kg[c]);
            dot = _mm256_fmadd_ps(p[c], u[c], dot);
            if (weighted && xent == DK_CROSS_ENTROPY_SOFTMAX) wy = _mm256_blendv_ps(wy, wv[c], kg[c]);
        }
        // Softmax, weighted: ce_scale·Q = (1 − ε)·(ce_scale·w_y) + ce_scale·ε·W/C.
        const __m256 q_total = _mm256_fmadd_ps(kept, wy, spread_total);
        for (int c = 0; c < C; c++) {
            __m256 d = u[c];
            if (activation == DK_ACTIVATION_SOFTMAX) d = _mm256_mul_ps(p[c], _mm256_sub_ps(u[c], dot));
            if (activation == DK_ACTIVATION_SIGMOID)
                d = _mm256_mul_ps(_mm256_mul_ps(u[c], p[c]), _mm256_sub_ps(one, p[c]));
            if (xent && !weighted) d = _mm256_fmadd_ps(cev, _mm256_sub_ps(p[c], _mm256_and_ps(kg[c], one)), d);
            if (weighted && xent == DK_CROSS_ENTROPY_SOFTMAX) {
                d = _mm256_fmadd_ps(q_total, p[c], d);
                d = _mm256_sub_ps(d, _mm256_add_ps(_mm256_and_ps(kg[c], keptv[c]), spreadv[c]));
            }
            if (weighted && xent == DK_CROSS_ENTROPY_BINARY) {
                d = _mm256_fmadd_ps(cev, p[c], d);
                d = _mm256_add_ps(d, _mm256_and_ps(kg[c], _mm256_fmsub_ps(wm1[c], p[c], wv[c])));
            }
            p[c] = _mm256_and_ps(kv, d);
        }
        store_channels256(&tables, C, interleaved, grad, s, S, p);
    }
    grad_portable(geo, labels, grad, a, b, s, geo->s1);
}

// Specialised for the common channel counts, so that the channel loops unroll and the per-channel
// vectors stay in registers; other counts (≤ 16) take the generic body.
#define DK_CASES(F) F(1) F(2) F(3) F(4) F(5) F(6) F(8)
#define DK_STATS_CASE(n) case n: general ? stats_avx2_body(geo, x, labels, probs, out, n, 1, -1) \
                                          : stats_avx2_body(geo, x, labels, probs, out, n, 0, -1); break;
#define DK_GRAD_CASE(n) case n: general ? grad_avx2_body(geo, labels, grad, a, b, n, 1, -1) \
                                         : grad_avx2_body(geo, labels, grad, a, b, n, 0, -1); break;

DK256 void dk_dice_stats_avx2(const dk_geometry *geo, const float *x, const int32_t *labels, float *probs,
                              dk_stats *out) {
    const int general = geo->squared || geo->cross_entropy;
    // Binary segmentation (one sigmoid channel): the activation compiled in, as in dice_avx512.c.
    if (geo->channels == 1 && geo->activation == DK_ACTIVATION_SIGMOID && !general) {
        stats_avx2_body(geo, x, labels, probs, out, 1, 0, DK_ACTIVATION_SIGMOID);
        return;
    }
    switch (geo->channels) {
    DK_CASES(DK_STATS_CASE)
    default: stats_avx2_body(geo, x, labels, probs, out, geo->channels, 1, -1); break;
    }
}

DK256 void dk_dice_grad_avx2(const dk_geometry *geo, const int32_t *labels, float *grad, const float *a,
                             const float *b) {
    const int general = geo->squared || geo->cross_entropy;
    if (geo->channels == 1 && geo->activation == DK_ACTIVATION_SIGMOID && !general) {
        grad_avx2_body(geo, labels, grad, a, b, 1, 0, DK_ACTIVATION_SIGMOID);
        return;
    }
    switch (geo->channels) {
    DK_CASES(DK_GRAD_CASE)
    default: grad_avx2_body(geo, labels, grad, a, b, geo->channels, 1, -1); break;
    }
}

#endif // defined(__x86_64__)
