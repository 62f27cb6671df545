// The label-target Dice-loss passes in blocks of DK_W positions with loops over the lanes, for
// the portable variant (dice_portable.c, compiled for SSE2). Static inline; internal to dice/.
#ifndef DK_DICE_BLOCKED_H
#define DK_DICE_BLOCKED_H

#include "dice_scalar.h"

// Blocks of DK_W positions with loops over the lanes, which the compiler vectorises for the
// target of the caller.
#define DK_W 16

static inline __attribute__((always_inline))
void stats_blocked_body(const dk_geometry *geo, const float *restrict x, const int32_t *restrict labels,
                        float *restrict probs, dk_stats *out, const int C, const int last) {
    const long ps = last ? C : 1, cs = last ? 1 : geo->spatial;
    const int32_t offset = geo->label_offset, limit = geo->label_limit, ignore = geo->ignore;
    const int has_ignore = geo->has_ignore, activation = geo->activation, squared = geo->squared, xent = geo->cross_entropy;
    float acc_tp[DK_MAX_CHANNELS][DK_W], acc_p[DK_MAX_CHANNELS][DK_W], acc_g[DK_MAX_CHANNELS][DK_W], acc_n[DK_W], acc_ce[DK_W];
    memset(acc_tp, 0, sizeof acc_tp); memset(acc_p, 0, sizeof acc_p); memset(acc_g, 0, sizeof acc_g);
    memset(acc_n, 0, sizeof acc_n); memset(acc_ce, 0, sizeof acc_ce);
    int bad_pred = 0, bad_label = 0, steps = 0;
    long s = geo->s0;
    const long end = geo->s0 + (geo->s1 - geo->s0) / DK_W * DK_W;
    for (; s < end; s += DK_W) {
        float z[DK_MAX_CHANNELS][DK_W], z0[DK_MAX_CHANNELS][DK_W], m[DK_W], sum[DK_W], valid[DK_W], zy[DK_W];
        int32_t lab[DK_W];
        for (int j = 0; j < DK_W; j++) lab[j] = labels[s + j];
        for (int j = 0; j < DK_W; j++) {
            int ignored = has_ignore & (lab[j] == ignore);
            int outside = !ignored & ((lab[j] < 0) | (lab[j] >= limit));
            bad_label |= outside;
            valid[j] = (ignored | outside) ? 0.0f : 1.0f;
        }
        for (int c = 0; c < C; c++)
            for (int j = 0; j < DK_W; j++) z[c][j] = x[(s + j) * ps + c * cs];
        for (int c = 0; c < C; c++)
            for (int j = 0; j < DK_W; j++) bad_pred |= !(fabsf(z[c][j]) < INFINITY);
        if (xent) {
            for (int j = 0; j < DK_W; j++) zy[j] = 0;
            for (int c = 0; c < C; c++)
                for (int j = 0; j < DK_W; j++) { z0[c][j] = z[c][j]; zy[j] += lab[j] == c ? z[c][j] : 0.0f; }
        }
        if (activation == DK_ACTIVATION_SOFTMAX) {
            for (int j = 0; j < DK_W; j++) { m[j] = z[0][j]; sum[j] = 0; }
            for (int c = 1; c < C; c++)
                for (int j = 0; j < DK_W; j++) m[j] = z[c][j] > m[j] ? z[c][j] : m[j];
            for (int c = 0; c < C; c++)
                for (int j = 0; j < DK_W; j++) { z[c][j] = dk_expf(z[c][j] - m[j]); sum[j] += z[c][j]; }
            if (xent == DK_CROSS_ENTROPY_SOFTMAX)
                for (int j = 0; j < DK_W; j++) acc_ce[j] += valid[j] * (m[j] + dk_logf(sum[j]) - zy[j]);
            for (int j = 0; j < DK_W; j++) sum[j] = 1.0f / sum[j];
            for (int c = 0; c < C; c++)
                for (int j = 0; j < DK_W; j++) z[c][j] *= sum[j];
        } else if (activation == DK_ACTIVATION_SIGMOID) {
            for (int c = 0; c < C; c++)
                for (int j = 0; j < DK_W; j++) z[c][j] = 1.0f / (1.0f + dk_expf(-z[c][j]));
            if (xent == DK_CROSS_ENTROPY_BINARY)
                for (int c = 0; c < C; c++)
                    for (int j = 0; j < DK_W; j++) {
                        float g = lab[j] == c + offset ? 1.0f : 0.0f, q = z[c][j] > 0.5f ? z[c][j] : 1.0f - z[c][j];
                        acc_ce[j] += valid[j] * ((z0[c][j] > 0 ? z0[c][j] : 0.0f) - z0[c][j] * g - dk_logf(q));
                    }
        }
        if (probs)
            for (int c = 0; c < C; c++)
                for (int j = 0; j < DK_W; j++) probs[(s + j) * ps + c * cs] = z[c][j];
        for (int j = 0; j < DK_W; j++) acc_n[j] += valid[j];
        for (int c = 0; c < C; c++)
            for (int j = 0; j < DK_W; j++) {
                float g = lab[j] == c + offset ? valid[j] : 0.0f;
                acc_tp[c][j] += z[c][j] * g;
                acc_p[c][j] += (squared ? z[c][j] * z[c][j] : z[c][j]) * valid[j];
                acc_g[c][j] += g;
            }
        if (++steps == DK_ACCUMULATION_BLOCK / DK_W || s + DK_W >= end) {
            for (int c = 0; c < C; c++) {
                double tp = 0, pp = 0, gg = 0;
                for (int j = 0; j < DK_W; j++) { tp += acc_tp[c][j]; pp += acc_p[c][j]; gg += acc_g[c][j]; acc_tp[c][j] = acc_p[c][j] = acc_g[c][j] = 0; }
                out->tp[c] += tp; out->p[c] += pp; out->g[c] += gg;
            }
            double n = 0, ce = 0;
            for (int j = 0; j < DK_W; j++) { n += acc_n[j]; acc_n[j] = 0; ce += acc_ce[j]; acc_ce[j] = 0; }
            out->counted += n;
            out->ce += ce;
            steps = 0;
        }
    }
    if (bad_pred) out->nonfinite = 1;
    if (bad_label) out->bad_label = 1;
    stats_portable(geo, x, labels, probs, out, s, geo->s1);
}

static inline __attribute__((always_inline))
void grad_blocked_body(const dk_geometry *geo, const int32_t *restrict labels, float *restrict grad,
                       const float *restrict a_in, const float *restrict b_in, const int C, const int last) {
    const long ps = last ? C : 1, cs = last ? 1 : geo->spatial;
    float a[DK_MAX_CHANNELS], b[DK_MAX_CHANNELS];
    for (int c = 0; c < C; c++) { a[c] = a_in[c]; b[c] = b_in[c]; }
    const int32_t offset = geo->label_offset, ignore = geo->ignore;
    const int has_ignore = geo->has_ignore, activation = geo->activation, squared = geo->squared;
    const float ce = geo->ce_scale;
    long s = geo->s0;
    const long end = geo->s0 + (geo->s1 - geo->s0) / DK_W * DK_W;
    for (; s < end; s += DK_W) {
        float p[DK_MAX_CHANNELS][DK_W], u[DK_MAX_CHANNELS][DK_W], dot[DK_W], valid[DK_W];
        int32_t lab[DK_W];
        for (int j = 0; j < DK_W; j++) { lab[j] = labels[s + j]; valid[j] = (has_ignore & (lab[j] == ignore)) ? 0.0f : 1.0f; dot[j] = 0; }
        for (int c = 0; c < C; c++)
            for (int j = 0; j < DK_W; j++) {
                p[c][j] = grad[(s + j) * ps + c * cs];
                u[c][j] = (lab[j] == c + offset ? a[c] : 0.0f) + (squared ? 2.0f * b[c] * p[c][j] : b[c]);
                dot[j] += p[c][j] * u[c][j];
            }
        for (int c = 0; c < C; c++)
            for (int j = 0; j < DK_W; j++) {
                float g = lab[j] == c + offset ? 1.0f : 0.0f;
                float d = activation == DK_ACTIVATION_SOFTMAX ? p[c][j] * (u[c][j] - dot[j])
                        : activation == DK_ACTIVATION_SIGMOID ? u[c][j] * p[c][j] * (1.0f - p[c][j]) : u[c][j];
                p[c][j] = valid[j] * (d + ce * (p[c][j] - g));
            }
        for (int c = 0; c < C; c++)
            for (int j = 0; j < DK_W; j++) grad[(s + j) * ps + c * cs] = p[c][j];
    }
    grad_portable(geo, labels, grad, a_in, b_in, s, geo->s1);
}

// Constant channel counts and strides, so that channels-last accesses become interleaved
// vector loads and stores with shuffles.
#define DK_ACCUMULATION_BLOCKED_STATS_CASE(n) case n: geo->channels_last ? stats_blocked_body(geo, x, labels, probs, out, n, 1) \
                                                            : stats_blocked_body(geo, x, labels, probs, out, n, 0); break;
#define DK_ACCUMULATION_BLOCKED_GRAD_CASE(n) case n: geo->channels_last ? grad_blocked_body(geo, labels, grad, a, b, n, 1) \
                                                           : grad_blocked_body(geo, labels, grad, a, b, n, 0); break;

static inline __attribute__((always_inline))
void stats_blocked(const dk_geometry *geo, const float *x, const int32_t *labels, float *probs, dk_stats *out) {
    switch (geo->channels) {
    DK_ACCUMULATION_BLOCKED_STATS_CASE(1) DK_ACCUMULATION_BLOCKED_STATS_CASE(2) DK_ACCUMULATION_BLOCKED_STATS_CASE(3) DK_ACCUMULATION_BLOCKED_STATS_CASE(4)
    default: stats_blocked_body(geo, x, labels, probs, out, geo->channels, geo->channels_last); break;
    }
}

static inline __attribute__((always_inline))
void grad_blocked(const dk_geometry *geo, const int32_t *labels, float *grad, const float *a, const float *b) {
    switch (geo->channels) {
    DK_ACCUMULATION_BLOCKED_GRAD_CASE(1) DK_ACCUMULATION_BLOCKED_GRAD_CASE(2) DK_ACCUMULATION_BLOCKED_GRAD_CASE(3) DK_ACCUMULATION_BLOCKED_GRAD_CASE(4)
    default: grad_portable(geo, labels, grad, a, b, geo->s0, geo->s1); break;  // faster than lane loops for runtime C
    }
}

#endif
