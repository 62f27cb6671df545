// The per-position Dice-loss passes: every option, one position at a time. The portable
// variant of dense targets, and the tail (positions past the last whole block of 16) of every
// variant, compiled for the caller's target. Static inline; internal to dice/.
#ifndef DK_DICE_SCALAR_H
#define DK_DICE_SCALAR_H

#include "dk_dice.h"
#include "../math/dk_polynomials.h"
#include <math.h>

// MARK: - Weighted cross-entropy (class weights, label smoothing; dk_ce_weighted)

/// The cross-entropy weight of channel c: 1 without weights.
static inline __attribute__((always_inline)) float ce_class_weight(const dk_geometry *geo, int c) {
    return geo->ce_weight ? geo->ce_weight[c] : 1.0f;
}

/// Σ_c w_c: the weight of a position's smoothed target mass, ε·W/C of Q.
static inline __attribute__((always_inline)) float ce_weight_total(const dk_geometry *geo) {
    float total = 0;
    for (int c = 0; c < geo->channels; c++) total += ce_class_weight(geo, c);
    return total;
}

/// Softmax CE of one position with its target weights q_c = w_c·((1 − ε)·g_c + ε/C), label targets:
/// (1 − ε)·w_y·(lse − z_y) + (ε/C)·Σ_c w_c·(lse − z_c).
static inline __attribute__((always_inline))
float softmax_ce_label_weighted(const dk_geometry *geo, const float *z, float lse, int y) {
    const float eps = geo->ce_smoothing;
    float v = (1.0f - eps) * ce_class_weight(geo, y) * (lse - z[y]);
    if (eps != 0.0f) {
        float smoothed = 0;
        for (int c = 0; c < geo->channels; c++) smoothed += ce_class_weight(geo, c) * (lse - z[c]);
        v += eps / (float)geo->channels * smoothed;
    }
    return v;
}

/// Binary CE with logits of one element (channel c, logit z, probability p, target g):
/// softplus(z) − z·g = max(z, 0) − z·g − ln max(p, 1 − p) (σ(|z|): log1p(e^(−|z|)) = −ln σ(|z|)); with
/// pos_weight w (`weighted`), w·g·softplus(−z) + (1 − g)·softplus(z), that is + (w − 1)·g·(softplus(z) − z).
static inline __attribute__((always_inline))
float binary_ce_term(const dk_geometry *geo, int weighted, int c, float z, float p, float g) {
    const float relu = z > 0 ? z : 0.0f, log_q = dk_logf(p > 0.5f ? p : 1.0f - p);
    const float plain = relu - z * g - log_q;
    return weighted ? plain + (ce_class_weight(geo, c) - 1.0f) * g * (relu - log_q - z) : plain;
}

// MARK: - Integer-label targets

/// One position of the portable passes: reads the C logits at x[base + c·cs] into z (flagging
/// non-finite ones), applies the activation into p (and probs, when not NULL), and returns the
/// softmax's max m and Σ e^(z − m) for the log-sum-exp.
static inline __attribute__((always_inline))
void activate_position(const dk_geometry *geo, const float *x, long base, long cs, float *probs,
                       float *z, float *p, float *max, float *sum_out, dk_stats *out) {
    const int C = geo->channels;
    float m = -INFINITY, sum = 0;
    for (int c = 0; c < C; c++) {
        float v = x[base + c * cs];
        if (!(fabsf(v) < INFINITY)) out->nonfinite = 1;
        z[c] = v;
        m = v > m ? v : m;
    }
    if (geo->activation == DK_ACTIVATION_SOFTMAX) {
        for (int c = 0; c < C; c++) { p[c] = dk_expf(z[c] - m); sum += p[c]; }
        float r = 1.0f / sum;
        for (int c = 0; c < C; c++) p[c] *= r;
    } else if (geo->activation == DK_ACTIVATION_SIGMOID) {
        for (int c = 0; c < C; c++) p[c] = 1.0f / (1.0f + dk_expf(-z[c]));
    } else {
        for (int c = 0; c < C; c++) p[c] = z[c];
    }
    if (probs) for (int c = 0; c < C; c++) probs[base + c * cs] = p[c];
    *max = m;
    *sum_out = sum;
}

static inline __attribute__((always_inline))
void stats_portable(const dk_geometry *geo, const float *x, const int32_t *labels, float *probs,
                    dk_stats *out, long s_begin, long s_end) {
    const int C = geo->channels;
    const long ps = geo->channels_last ? C : 1, cs = geo->channels_last ? 1 : geo->spatial;
    float btp[DK_MAX_CHANNELS] = {0}, bp[DK_MAX_CHANNELS] = {0}, bg[DK_MAX_CHANNELS] = {0}, bce = 0, bnorm = 0;
    float z[DK_MAX_CHANNELS], p[DK_MAX_CHANNELS];
    const int weighted = dk_ce_weighted(geo);
    int in_block = 0;
    for (long s = s_begin; s < s_end; s++) {
        const long base = s * ps;
        const int32_t label = labels[s];
        int ignored = geo->has_ignore && label == geo->ignore;
        if (!ignored && (label < 0 || label >= geo->label_limit)) { out->bad_label = 1; ignored = 1; }
        float m, sum;
        activate_position(geo, x, base, cs, probs, z, p, &m, &sum, out);
        if (ignored) continue;
        out->counted += 1;
        for (int c = 0; c < C; c++) {
            float g = label == c + geo->label_offset ? 1.0f : 0.0f;
            btp[c] += p[c] * g; bp[c] += geo->squared ? p[c] * p[c] : p[c]; bg[c] += g;
        }
        if (geo->cross_entropy == DK_CROSS_ENTROPY_SOFTMAX) {
            if (!weighted) {
                bce += m + dk_logf(sum) - z[label];
            } else {
                bce += softmax_ce_label_weighted(geo, z, m + dk_logf(sum), label);
                bnorm += ce_class_weight(geo, label);
            }
        }
        if (geo->cross_entropy == DK_CROSS_ENTROPY_BINARY)
            for (int c = 0; c < C; c++)
                bce += binary_ce_term(geo, weighted, c, z[c], p[c], label == c + geo->label_offset ? 1.0f : 0.0f);
        if (++in_block == DK_ACCUMULATION_BLOCK) {
            for (int c = 0; c < C; c++) { out->tp[c] += btp[c]; out->p[c] += bp[c]; out->g[c] += bg[c]; btp[c] = bp[c] = bg[c] = 0; }
            out->ce += bce; out->ce_norm += bnorm; bce = bnorm = 0;
            in_block = 0;
        }
    }
    for (int c = 0; c < C; c++) { out->tp[c] += btp[c]; out->p[c] += bp[c]; out->g[c] += bg[c]; }
    out->ce += bce;
    out->ce_norm += bnorm;
}

static inline __attribute__((always_inline))
void grad_portable(const dk_geometry *geo, const int32_t *labels, float *grad, const float *a, const float *b,
                   long s_begin, long s_end) {
    const int C = geo->channels;
    const long ps = geo->channels_last ? C : 1, cs = geo->channels_last ? 1 : geo->spatial;
    float u[DK_MAX_CHANNELS];
    const int weighted = dk_ce_weighted(geo);
    const float eps = geo->ce_smoothing, smoothed_total = eps / (float)C * ce_weight_total(geo);
    for (long s = s_begin; s < s_end; s++) {
        const long base = s * ps;
        const int32_t label = labels[s];
        if (geo->has_ignore && label == geo->ignore) {
            for (int c = 0; c < C; c++) grad[base + c * cs] = 0;
            continue;
        }
        float dot = 0;
        const float ce = geo->ce_scale;
        for (int c = 0; c < C; c++) {
            float g = label == c + geo->label_offset ? 1.0f : 0.0f;
            float pc = grad[base + c * cs];
            u[c] = a[c] * g + (geo->squared ? 2.0f * b[c] * pc : b[c]);
            dot += pc * u[c];
        }
        for (int c = 0; c < C; c++) {
            float pc = grad[base + c * cs], g = label == c + geo->label_offset ? 1.0f : 0.0f;
            float d = geo->activation == DK_ACTIVATION_SOFTMAX ? pc * (u[c] - dot) : geo->activation == DK_ACTIVATION_SIGMOID ? u[c] * pc * (1.0f - pc) : u[c];
            if (!weighted) {
                grad[base + c * cs] = d + ce * (pc - g);
            } else if (geo->cross_entropy == DK_CROSS_ENTROPY_SOFTMAX) {   // Q·p − q_c
                const float w = ce_class_weight(geo, c);
                const float q_total = (1.0f - eps) * ce_class_weight(geo, label) + smoothed_total;
                grad[base + c * cs] = d + ce * (q_total * pc - w * ((1.0f - eps) * g + eps / (float)C));
            } else {                                                       // p·(1 + (w − 1)·g) − w·g
                const float w = ce_class_weight(geo, c);
                grad[base + c * cs] = d + ce * (pc * (1.0f + (w - 1.0f) * g) - w * g);
            }
        }
    }
}

// MARK: - Dense targets (one-hot or soft values with the prediction's layout)

static inline __attribute__((always_inline))
void stats_dense_portable(const dk_geometry *geo, const float *x, const float *t, float *probs, dk_stats *out,
                          long s_begin, long s_end) {
    const int C = geo->channels;
    const long ps = geo->channels_last ? C : 1, cs = geo->channels_last ? 1 : geo->spatial;
    float btp[DK_MAX_CHANNELS] = {0}, bp[DK_MAX_CHANNELS] = {0}, bg[DK_MAX_CHANNELS] = {0}, bd[DK_MAX_CHANNELS] = {0}, bce = 0;
    float z[DK_MAX_CHANNELS], p[DK_MAX_CHANNELS];
    const int weighted = dk_ce_weighted(geo);
    const float eps = geo->ce_smoothing;
    int in_block = 0;
    for (long s = s_begin; s < s_end; s++) {
        const long base = s * ps;
        float m, sum;
        activate_position(geo, x, base, cs, probs, z, p, &m, &sum, out);
        out->counted += 1;
        float lse = geo->cross_entropy == DK_CROSS_ENTROPY_SOFTMAX ? m + dk_logf(sum) : 0.0f;
        for (int c = 0; c < C; c++) {
            float g = t[base + c * cs];
            btp[c] += p[c] * g;
            bp[c] += geo->squared ? p[c] * p[c] : p[c];
            bg[c] += geo->squared ? g * g : g;
            if (geo->soft) bd[c] += fabsf(p[c] - g);
            if (geo->cross_entropy == DK_CROSS_ENTROPY_SOFTMAX) {
                if (!weighted) bce += g * (lse - z[c]);
                else bce += ce_class_weight(geo, c) * ((1.0f - eps) * g + eps / (float)C) * (lse - z[c]);
            }
            if (geo->cross_entropy == DK_CROSS_ENTROPY_BINARY) bce += binary_ce_term(geo, weighted, c, z[c], p[c], g);
        }
        if (++in_block == DK_ACCUMULATION_BLOCK) {
            for (int c = 0; c < C; c++) {
                out->tp[c] += btp[c]; out->p[c] += bp[c]; out->g[c] += bg[c]; out->d[c] += bd[c];
                btp[c] = bp[c] = bg[c] = bd[c] = 0;
            }
            out->ce += bce; bce = 0;
            in_block = 0;
        }
    }
    for (int c = 0; c < C; c++) { out->tp[c] += btp[c]; out->p[c] += bp[c]; out->g[c] += bg[c]; out->d[c] += bd[c]; }
    out->ce += bce;
}

static inline __attribute__((always_inline))
void grad_dense_portable(const dk_geometry *geo, const float *t, float *grad, const float *a, const float *b, const float *f,
                         long s_begin, long s_end) {
    const int C = geo->channels;
    const long ps = geo->channels_last ? C : 1, cs = geo->channels_last ? 1 : geo->spatial;
    const float ce = geo->ce_scale;
    const int weighted = dk_ce_weighted(geo);
    const float eps = geo->ce_smoothing;
    float u[DK_MAX_CHANNELS], q[DK_MAX_CHANNELS];
    for (long s = s_begin; s < s_end; s++) {
        const long base = s * ps;
        float dot = 0, gsum = 0;
        for (int c = 0; c < C; c++) {
            float g = t[base + c * cs], pc = grad[base + c * cs];
            u[c] = a[c] * g + (geo->squared ? 2.0f * b[c] * pc : b[c]);
            if (geo->soft) u[c] += f[c] * (pc > g ? 1.0f : (pc < g ? -1.0f : 0.0f));
            dot += pc * u[c];
            // Weighted softmax CE: the target weights q_c, summed into Q in place of Σg.
            q[c] = weighted ? ce_class_weight(geo, c) * ((1.0f - eps) * g + eps / (float)C) : g;
            gsum += q[c];
        }
        for (int c = 0; c < C; c++) {
            float g = t[base + c * cs], pc = grad[base + c * cs];
            if (geo->activation == DK_ACTIVATION_SOFTMAX) {
                grad[base + c * cs] = pc * (u[c] - dot) + ce * (pc * gsum - q[c]);
            } else if (geo->activation == DK_ACTIVATION_SIGMOID) {
                const float w = weighted ? ce_class_weight(geo, c) : 1.0f;
                float d = u[c] * pc * (1.0f - pc);
                grad[base + c * cs] = weighted ? d + ce * (pc * (1.0f + (w - 1.0f) * g) - w * g) : d + ce * (pc - g);
            } else {
                grad[base + c * cs] = u[c];
            }
        }
    }
}

#endif
