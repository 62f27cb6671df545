// The hot loops of DiceKit's Dice losses for Float predictions, with integer-label targets
// (dk_stats_f32 / dk_grad_f32) or dense one-hot / soft targets (dk_stats_dense_f32 / dk_grad_dense_f32).
//
// Goals, in order: (1) the same numbers as the Swift passes (DiceLoss+Passes.swift) to Float
// rounding; (2) memory-bound speed: one read of the logits and labels in pass 1 (probabilities
// written to the gradient buffer), one read of probabilities and labels and one write in pass 2.
//
// Three variants of each pass, chosen once at run time with __builtin_cpu_supports (no build
// flags, so SwiftPM consumers can link the package):
//   AVX-512 (avx512f/bw/dq + FMA): 16 positions per step. Channels-first rows are contiguous;
//     channels-last blocks of 16·C floats become C channel vectors (and back) in registers:
//     unpack/shuffle transposes for C = 2 and 4 (which permute positions; the labels are permuted
//     alike), two-source permutes for C = 3, masked vpermps with per-call index tables otherwise.
//     exp and log are Cephes-style polynomials (exp scaled by vscalefps); the sigmoid's e^(−z) a
//     cheaper degree-6 minimax form (expneg512). Specialised per channel count (1–6, 8), with
//     squared/cross-entropy code compiled out of the common case, and for one sigmoid channel.
//   AVX2 + FMA and portable: the same C code in blocks of 16 positions with loops over the
//     lanes, compiled for AVX2/FMA or for the baseline (SSE2), which the compiler vectorises;
//     the same polynomials, written branch-free. (Dense targets: plain per-position loops.)
// Accumulation: per lane in float over at most 512 positions, then added into double (see
// Docs/DiceMath.md, "Accumulation").

#include "CDiceKernels.h"
#include <immintrin.h>
#include <math.h>
#include <string.h>

#define DK_BLOCK 512

// MARK: - Portable code

// Branch-free so that loops over lanes vectorise (floorf would be a libm call without SSE4.1).
static inline __attribute__((always_inline)) float dk_expf(float x) {
    x = x < -87.3f ? -87.3f : x;
    x = x > 88.3f ? 88.3f : x;
    float t = x * 1.44269504088896341f + 0.5f;
    float fx = (float)(int32_t)t;
    fx = fx > t ? fx - 1.0f : fx;                 // floor(t)
    float r = x - fx * 0.693359375f;
    r = r + fx * 2.12194440e-4f;
    float r2 = r * r;
    float y = 1.9875691500e-4f;
    y = y * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * r2 + r + 1.0f;
    uint32_t bits = (uint32_t)((int32_t)fx + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return y * scale;
}

// ln x for normal x > 0 (Cephes logf: x = m·2^e, m in [√½, √2), degree-8 polynomial), branch-free.
static inline __attribute__((always_inline)) float dk_logf(float x) {
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    int32_t e = (int32_t)((bits >> 23) & 0xff) - 126;
    bits = (bits & 0x807fffffu) | 0x3f000000u;           // m in [0.5, 1)
    float m;
    memcpy(&m, &bits, sizeof m);
    int small = m < 0.707106781186547524f;
    e = small ? e - 1 : e;
    float t = small ? m + m - 1.0f : m - 1.0f;
    float z = t * t;
    float y = 7.0376836292e-2f;
    y = y * t - 1.1514610310e-1f;
    y = y * t + 1.1676998740e-1f;
    y = y * t - 1.2420140846e-1f;
    y = y * t + 1.4249322787e-1f;
    y = y * t - 1.6668057665e-1f;
    y = y * t + 2.0000714765e-1f;
    y = y * t - 2.4999993993e-1f;
    y = y * t + 3.3333331174e-1f;
    y = y * t * z;
    float fe = (float)e;
    y += fe * -2.12194440e-4f;
    y += -0.5f * z;
    return t + y + fe * 0.693359375f;
}

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
    if (geo->activation == 2) {
        for (int c = 0; c < C; c++) { p[c] = dk_expf(z[c] - m); sum += p[c]; }
        float r = 1.0f / sum;
        for (int c = 0; c < C; c++) p[c] *= r;
    } else if (geo->activation == 1) {
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
    float btp[16] = {0}, bp[16] = {0}, bg[16] = {0}, bce = 0;
    float z[16], p[16];
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
        if (geo->cross_entropy == 1) bce += m + dk_logf(sum) - z[label];
        if (geo->cross_entropy == 2)
            for (int c = 0; c < C; c++) {
                float g = label == c + geo->label_offset ? 1.0f : 0.0f;
                float q = p[c] > 0.5f ? p[c] : 1.0f - p[c];     // σ(|z|): log1p(e^(−|z|)) = −ln σ(|z|)
                bce += (z[c] > 0 ? z[c] : 0.0f) - z[c] * g - dk_logf(q);
            }
        if (++in_block == DK_BLOCK) {
            for (int c = 0; c < C; c++) { out->tp[c] += btp[c]; out->p[c] += bp[c]; out->g[c] += bg[c]; btp[c] = bp[c] = bg[c] = 0; }
            out->ce += bce; bce = 0;
            in_block = 0;
        }
    }
    for (int c = 0; c < C; c++) { out->tp[c] += btp[c]; out->p[c] += bp[c]; out->g[c] += bg[c]; }
    out->ce += bce;
}

static inline __attribute__((always_inline))
void grad_portable(const dk_geometry *geo, const int32_t *labels, float *grad, const float *a, const float *b,
                   long s_begin, long s_end) {
    const int C = geo->channels;
    const long ps = geo->channels_last ? C : 1, cs = geo->channels_last ? 1 : geo->spatial;
    float u[16];
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
            float d = geo->activation == 2 ? pc * (u[c] - dot) : geo->activation == 1 ? u[c] * pc * (1.0f - pc) : u[c];
            grad[base + c * cs] = d + ce * (pc - g);
        }
    }
}

// Blocks of DK_W positions with loops over the lanes, which the compiler vectorises for the
// target of the caller (SSE2 for the portable variant, AVX2 + FMA for the AVX2 variant).
#define DK_W 16

static inline __attribute__((always_inline))
void stats_blocked_body(const dk_geometry *geo, const float *restrict x, const int32_t *restrict labels,
                        float *restrict probs, dk_stats *out, const int C, const int last) {
    const long ps = last ? C : 1, cs = last ? 1 : geo->spatial;
    const int32_t offset = geo->label_offset, limit = geo->label_limit, ignore = geo->ignore;
    const int has_ignore = geo->has_ignore, activation = geo->activation, squared = geo->squared, xent = geo->cross_entropy;
    float acc_tp[16][DK_W], acc_p[16][DK_W], acc_g[16][DK_W], acc_n[DK_W], acc_ce[DK_W];
    memset(acc_tp, 0, sizeof acc_tp); memset(acc_p, 0, sizeof acc_p); memset(acc_g, 0, sizeof acc_g);
    memset(acc_n, 0, sizeof acc_n); memset(acc_ce, 0, sizeof acc_ce);
    int bad_pred = 0, bad_label = 0, steps = 0;
    long s = geo->s0;
    const long end = geo->s0 + (geo->s1 - geo->s0) / DK_W * DK_W;
    for (; s < end; s += DK_W) {
        float z[16][DK_W], z0[16][DK_W], m[DK_W], sum[DK_W], valid[DK_W], zy[DK_W];
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
        if (activation == 2) {
            for (int j = 0; j < DK_W; j++) { m[j] = z[0][j]; sum[j] = 0; }
            for (int c = 1; c < C; c++)
                for (int j = 0; j < DK_W; j++) m[j] = z[c][j] > m[j] ? z[c][j] : m[j];
            for (int c = 0; c < C; c++)
                for (int j = 0; j < DK_W; j++) { z[c][j] = dk_expf(z[c][j] - m[j]); sum[j] += z[c][j]; }
            if (xent == 1)
                for (int j = 0; j < DK_W; j++) acc_ce[j] += valid[j] * (m[j] + dk_logf(sum[j]) - zy[j]);
            for (int j = 0; j < DK_W; j++) sum[j] = 1.0f / sum[j];
            for (int c = 0; c < C; c++)
                for (int j = 0; j < DK_W; j++) z[c][j] *= sum[j];
        } else if (activation == 1) {
            for (int c = 0; c < C; c++)
                for (int j = 0; j < DK_W; j++) z[c][j] = 1.0f / (1.0f + dk_expf(-z[c][j]));
            if (xent == 2)
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
        if (++steps == DK_BLOCK / DK_W || s + DK_W >= end) {
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
    float a[16], b[16];
    for (int c = 0; c < C; c++) { a[c] = a_in[c]; b[c] = b_in[c]; }
    const int32_t offset = geo->label_offset, ignore = geo->ignore;
    const int has_ignore = geo->has_ignore, activation = geo->activation, squared = geo->squared;
    const float ce = geo->ce_scale;
    long s = geo->s0;
    const long end = geo->s0 + (geo->s1 - geo->s0) / DK_W * DK_W;
    for (; s < end; s += DK_W) {
        float p[16][DK_W], u[16][DK_W], dot[DK_W], valid[DK_W];
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
                float d = activation == 2 ? p[c][j] * (u[c][j] - dot[j])
                        : activation == 1 ? u[c][j] * p[c][j] * (1.0f - p[c][j]) : u[c][j];
                p[c][j] = valid[j] * (d + ce * (p[c][j] - g));
            }
        for (int c = 0; c < C; c++)
            for (int j = 0; j < DK_W; j++) grad[(s + j) * ps + c * cs] = p[c][j];
    }
    grad_portable(geo, labels, grad, a_in, b_in, s, geo->s1);
}

// Constant channel counts and strides, so that channels-last accesses become interleaved
// vector loads and stores with shuffles.
#define DK_BLOCKED_STATS_CASE(n) case n: geo->channels_last ? stats_blocked_body(geo, x, labels, probs, out, n, 1) \
                                                            : stats_blocked_body(geo, x, labels, probs, out, n, 0); break;
#define DK_BLOCKED_GRAD_CASE(n) case n: geo->channels_last ? grad_blocked_body(geo, labels, grad, a, b, n, 1) \
                                                           : grad_blocked_body(geo, labels, grad, a, b, n, 0); break;

static inline __attribute__((always_inline))
void stats_blocked(const dk_geometry *geo, const float *x, const int32_t *labels, float *probs, dk_stats *out) {
    switch (geo->channels) {
    DK_BLOCKED_STATS_CASE(1) DK_BLOCKED_STATS_CASE(2) DK_BLOCKED_STATS_CASE(3) DK_BLOCKED_STATS_CASE(4)
    default: stats_blocked_body(geo, x, labels, probs, out, geo->channels, geo->channels_last); break;
    }
}

static inline __attribute__((always_inline))
void grad_blocked(const dk_geometry *geo, const int32_t *labels, float *grad, const float *a, const float *b) {
    switch (geo->channels) {
    DK_BLOCKED_GRAD_CASE(1) DK_BLOCKED_GRAD_CASE(2) DK_BLOCKED_GRAD_CASE(3) DK_BLOCKED_GRAD_CASE(4)
    default: grad_portable(geo, labels, grad, a, b, geo->s0, geo->s1); break;  // faster than lane loops for runtime C
    }
}

static void stats_generic(const dk_geometry *geo, const float *x, const int32_t *labels, float *probs, dk_stats *out) {
    stats_blocked(geo, x, labels, probs, out);
}
static void grad_generic(const dk_geometry *geo, const int32_t *labels, float *grad, const float *a, const float *b) {
    grad_blocked(geo, labels, grad, a, b);
}

// MARK: - AVX2 + FMA (the blocked portable code compiled for AVX2)

__attribute__((target("avx2,fma")))
static void stats_avx2(const dk_geometry *geo, const float *x, const int32_t *labels, float *probs, dk_stats *out) {
    stats_blocked(geo, x, labels, probs, out);
}
__attribute__((target("avx2,fma")))
static void grad_avx2(const dk_geometry *geo, const int32_t *labels, float *grad, const float *a, const float *b) {
    grad_blocked(geo, labels, grad, a, b);
}

// MARK: - AVX-512

#define DK512 __attribute__((target("avx512f,avx512bw,avx512dq,fma")))

DK512 static inline __attribute__((always_inline)) __m512 exp512(__m512 x) {
    x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.3f)), _mm512_set1_ps(-87.3f));
    __m512 fx = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fmadd_ps(fx, _mm512_set1_ps(2.12194440e-4f), r);
    __m512 r2 = _mm512_mul_ps(r, r);
    __m512 y = _mm512_set1_ps(1.9875691500e-4f);
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.3981999507e-3f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(8.3334519073e-3f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.1665795894e-2f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.6666665459e-1f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(5.0000001201e-1f));
    y = _mm512_fmadd_ps(y, r2, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(y, fx);
}

/// e^(−z) for the sigmoid, with z clamped to [−87.3, 87.3] (−z in exp512's range). Cheaper than
/// exp512(0 − z): the negation folds into the reduction (fnmsub), and the polynomial is a
/// degree-6 minimax fit of e^r on [−ln2/2, ln2/2] in Horner form (6 FMAs instead of Cephes'
/// 8 operations; fit error 0.05·2⁻²⁴; degree 5 would reach 2.2 ulp). Measured against double
/// exp on every third float of the range: at most 0.91 ulp (exp512: 1.26 ulp).
DK512 static inline __attribute__((always_inline)) __m512 expneg512(__m512 z) {
    // One vrangeps instead of a min and a max: imm 0b00_10 takes the smaller magnitude with the
    // sign of the first operand, i.e. sign(z)·min(|z|, 87.3).
    z = _mm512_range_ps(z, _mm512_set1_ps(87.3f), 0x02);
    __m512 fx = _mm512_roundscale_ps(_mm512_mul_ps(z, _mm512_set1_ps(-1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmsub_ps(fx, _mm512_set1_ps(0.693359375f), z);   // −z − fx·ln2_hi, exact
    r = _mm512_fmadd_ps(fx, _mm512_set1_ps(2.12194440e-4f), r);         // + fx·(ln2_hi − ln2)
    __m512 y = _mm512_fmadd_ps(_mm512_set1_ps(1.38146128e-3f), r, _mm512_set1_ps(8.36871006e-3f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.16683890e-2f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.66665211e-1f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.99999940e-1f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.0f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(y, fx);
}

/// Index tables that move 16 positions × C channels between interleaved (channels-last) order
/// in C consecutive vectors and C per-channel vectors.
typedef struct {
    int32_t gather_idx[16][16][16];   // [channel][source vector][lane]
    uint16_t gather_mask[16][16];
    int32_t scatter_idx[16][16][16];  // [destination vector][channel][lane]
    uint16_t scatter_mask[16][16];
} dk_tables;

static void build_tables(dk_tables *t, int C) {
    memset(t->gather_mask, 0, sizeof t->gather_mask);
    memset(t->scatter_mask, 0, sizeof t->scatter_mask);
    for (int c = 0; c < C; c++)
        for (int j = 0; j < 16; j++) {
            int e = j * C + c, k = e / 16;
            t->gather_mask[c][k] |= (uint16_t)(1u << j);
            t->gather_idx[c][k][j] = e % 16;
        }
    for (int k = 0; k < C; k++)
        for (int l = 0; l < 16; l++) {
            int e = 16 * k + l, c = e % C, j = e / C;
            t->scatter_mask[k][c] |= (uint16_t)(1u << l);
            t->scatter_idx[k][c][l] = j;
        }
}

DK512 static inline __attribute__((always_inline)) void load_channels(const dk_tables *t, int C, int interleaved, const float *x, long s, long S, __m512 *v) {
    if (!interleaved) {
        for (int c = 0; c < C; c++) v[c] = _mm512_loadu_ps(x + (long)c * S + s);
        return;
    }
    __m512 raw[16];
    for (int k = 0; k < C; k++) raw[k] = _mm512_loadu_ps(x + s * C + 16 * k);
    if (C == 2) {
        // Slot 4i + k of a channel vector holds position (2i, 2i+1, 8+2i, 9+2i)[k] (see label_order).
        v[0] = _mm512_shuffle_ps(raw[0], raw[1], 0x88);
        v[1] = _mm512_shuffle_ps(raw[0], raw[1], 0xDD);
        return;
    }
    if (C == 3) {
        // Element 3j + c of the 48 is lane (3j + c) mod 16 of raw[(3j + c) / 16]: a two-source
        // permute takes what lies in raw[0..1], a masked permute the rest from raw[2].
        const __m512i a0 = _mm512_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 0, 0, 0, 0, 0);
        const __m512i a1 = _mm512_setr_epi32(1, 4, 7, 10, 13, 16, 19, 22, 25, 28, 31, 0, 0, 0, 0, 0);
        const __m512i a2 = _mm512_setr_epi32(2, 5, 8, 11, 14, 17, 20, 23, 26, 29, 0, 0, 0, 0, 0, 0);
        const __m512i b0 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 4, 7, 10, 13);
        const __m512i b1 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 5, 8, 11, 14);
        const __m512i b2 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 6, 9, 12, 15);
        v[0] = _mm512_mask_permutexvar_ps(_mm512_permutex2var_ps(raw[0], a0, raw[1]), 0xF800, b0, raw[2]);
        v[1] = _mm512_mask_permutexvar_ps(_mm512_permutex2var_ps(raw[0], a1, raw[1]), 0xF800, b1, raw[2]);
        v[2] = _mm512_mask_permutexvar_ps(_mm512_permutex2var_ps(raw[0], a2, raw[1]), 0xFC00, b2, raw[2]);
        return;
    }
    if (C == 4) {
        // A 4×4 transpose in every 128-bit lane: slot 4i + k holds position 4k + i.
        __m512 t0 = _mm512_unpacklo_ps(raw[0], raw[1]), t1 = _mm512_unpackhi_ps(raw[0], raw[1]);
        __m512 t2 = _mm512_unpacklo_ps(raw[2], raw[3]), t3 = _mm512_unpackhi_ps(raw[2], raw[3]);
        v[0] = _mm512_shuffle_ps(t0, t2, 0x44); v[1] = _mm512_shuffle_ps(t0, t2, 0xEE);
        v[2] = _mm512_shuffle_ps(t1, t3, 0x44); v[3] = _mm512_shuffle_ps(t1, t3, 0xEE);
        return;
    }
    for (int c = 0; c < C; c++) {
        __m512 acc = _mm512_setzero_ps();
        for (int k = 0; k < C; k++) {
            __mmask16 m = t->gather_mask[c][k];
            if (m) acc = _mm512_mask_permutexvar_ps(acc, m, _mm512_loadu_si512(t->gather_idx[c][k]), raw[k]);
        }
        v[c] = acc;
    }
}

DK512 static inline __attribute__((always_inline)) void store_channels(const dk_tables *t, int C, int interleaved, float *y, long s, long S, const __m512 *v) {
    if (!interleaved) {
        for (int c = 0; c < C; c++) _mm512_storeu_ps(y + (long)c * S + s, v[c]);
        return;
    }
    if (C == 2) {
        _mm512_storeu_ps(y + s * C, _mm512_unpacklo_ps(v[0], v[1]));
        _mm512_storeu_ps(y + s * C + 16, _mm512_unpackhi_ps(v[0], v[1]));
        return;
    }
    if (C == 3) {
        // Lane l of output vector k is element e = 16k + l: channel e mod 3 of position e / 3.
        _mm512_storeu_ps(y + s * C + 0, _mm512_mask_permutexvar_ps(
            _mm512_permutex2var_ps(v[0], _mm512_setr_epi32(0, 16, 0, 1, 17, 0, 2, 18, 0, 3, 19, 0, 4, 20, 0, 5), v[1]),
            0x4924, _mm512_setr_epi32(0, 0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 3, 0, 0, 4, 0), v[2]));
        _mm512_storeu_ps(y + s * C + 16, _mm512_mask_permutexvar_ps(
            _mm512_permutex2var_ps(v[0], _mm512_setr_epi32(21, 0, 6, 22, 0, 7, 23, 0, 8, 24, 0, 9, 25, 0, 10, 26), v[1]),
            0x2492, _mm512_setr_epi32(0, 5, 0, 0, 6, 0, 0, 7, 0, 0, 8, 0, 0, 9, 0, 0), v[2]));
        _mm512_storeu_ps(y + s * C + 32, _mm512_mask_permutexvar_ps(
            _mm512_permutex2var_ps(v[0], _mm512_setr_epi32(0, 11, 27, 0, 12, 28, 0, 13, 29, 0, 14, 30, 0, 15, 31, 0), v[1]),
            0x9249, _mm512_setr_epi32(10, 0, 0, 11, 0, 0, 12, 0, 0, 13, 0, 0, 14, 0, 0, 15), v[2]));
        return;
    }
    if (C == 4) {
        __m512 t0 = _mm512_unpacklo_ps(v[0], v[1]), t1 = _mm512_unpackhi_ps(v[0], v[1]);
        __m512 t2 = _mm512_unpacklo_ps(v[2], v[3]), t3 = _mm512_unpackhi_ps(v[2], v[3]);
        _mm512_storeu_ps(y + s * C, _mm512_shuffle_ps(t0, t2, 0x44));
        _mm512_storeu_ps(y + s * C + 16, _mm512_shuffle_ps(t0, t2, 0xEE));
        _mm512_storeu_ps(y + s * C + 32, _mm512_shuffle_ps(t1, t3, 0x44));
        _mm512_storeu_ps(y + s * C + 48, _mm512_shuffle_ps(t1, t3, 0xEE));
        return;
    }
    for (int k = 0; k < C; k++) {
        __m512 acc = _mm512_setzero_ps();
        for (int c = 0; c < C; c++) {
            __mmask16 m = t->scatter_mask[k][c];
            if (m) acc = _mm512_mask_permutexvar_ps(acc, m, _mm512_loadu_si512(t->scatter_idx[k][c]), v[c]);
        }
        _mm512_storeu_ps(y + s * C + 16 * k, acc);
    }
}

/// The labels of 16 positions in the slot order that load_channels produces for C = 2 and 4
/// (the in-register transposes permute positions; every per-position operation is indifferent).
DK512 static inline __attribute__((always_inline)) __m512i label_order(int C, int interleaved, __m512i lab) {
    if (interleaved && C == 4)
        return _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), lab);
    if (interleaved && C == 2)
        return _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15), lab);
    return lab;
}

/// ln x for normal x > 0, the same Cephes polynomial as dk_logf.
DK512 static inline __attribute__((always_inline)) __m512 log512(__m512 x) {
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512i bits = _mm512_castps_si512(x);
    __m512i e = _mm512_sub_epi32(_mm512_and_si512(_mm512_srli_epi32(bits, 23), _mm512_set1_epi32(0xff)), _mm512_set1_epi32(126));
    __m512 m = _mm512_castsi512_ps(_mm512_or_si512(_mm512_and_si512(bits, _mm512_set1_epi32((int)0x807fffff)),
                                                   _mm512_set1_epi32(0x3f000000)));
    __mmask16 small = _mm512_cmp_ps_mask(m, _mm512_set1_ps(0.707106781186547524f), _CMP_LT_OQ);
    __m512 fe = _mm512_cvtepi32_ps(e);
    fe = _mm512_mask_sub_ps(fe, small, fe, one);
    __m512 t = _mm512_sub_ps(m, one);
    t = _mm512_mask_add_ps(t, small, t, m);
    __m512 z = _mm512_mul_ps(t, t);
    __m512 y = _mm512_set1_ps(7.0376836292e-2f);
    y = _mm512_fmadd_ps(y, t, _mm512_set1_ps(-1.1514610310e-1f));
    y = _mm512_fmadd_ps(y, t, _mm512_set1_ps(1.1676998740e-1f));
    y = _mm512_fmadd_ps(y, t, _mm512_set1_ps(-1.2420140846e-1f));
    y = _mm512_fmadd_ps(y, t, _mm512_set1_ps(1.4249322787e-1f));
    y = _mm512_fmadd_ps(y, t, _mm512_set1_ps(-1.6668057665e-1f));
    y = _mm512_fmadd_ps(y, t, _mm512_set1_ps(2.0000714765e-1f));
    y = _mm512_fmadd_ps(y, t, _mm512_set1_ps(-2.4999993993e-1f));
    y = _mm512_fmadd_ps(y, t, _mm512_set1_ps(3.3333331174e-1f));
    y = _mm512_mul_ps(_mm512_mul_ps(y, t), z);
    y = _mm512_fmadd_ps(fe, _mm512_set1_ps(-2.12194440e-4f), y);
    y = _mm512_fmadd_ps(z, _mm512_set1_ps(-0.5f), y);
    return _mm512_fmadd_ps(fe, _mm512_set1_ps(0.693359375f), _mm512_add_ps(t, y));
}

/// Applies the activation in place; returns the lanes holding a NaN or infinity. For softmax,
/// *max and *sum receive m and Σ e^(z − m) (the log-sum-exp is m + ln Σ).
DK512 static inline __attribute__((always_inline)) __mmask16 activate512(int activation, int C, __m512 *v, __m512 *max, __m512 *sum_out) {
    __mmask16 bad = 0;
    // vfpclassps: quiet NaN (0x01), +∞ (0x08), −∞ (0x10), signalling NaN (0x80).
    for (int c = 0; c < C; c++) bad |= _mm512_fpclass_ps_mask(v[c], 0x99);
    if (activation == 2) {
        __m512 m = v[0];
        for (int c = 1; c < C; c++) m = _mm512_max_ps(m, v[c]);
        __m512 sum = _mm512_setzero_ps();
        for (int c = 0; c < C; c++) { v[c] = exp512(_mm512_sub_ps(v[c], m)); sum = _mm512_add_ps(sum, v[c]); }
        __m512 r = _mm512_div_ps(_mm512_set1_ps(1.0f), sum);
        for (int c = 0; c < C; c++) v[c] = _mm512_mul_ps(v[c], r);
        *max = m;
        *sum_out = sum;
    } else if (activation == 1) {
        const __m512 one = _mm512_set1_ps(1.0f);
        for (int c = 0; c < C; c++)
            v[c] = _mm512_div_ps(one, _mm512_add_ps(one, expneg512(v[c])));
    }
    return bad;
}

DK512 static inline __attribute__((always_inline))
void stats_avx512_body(const dk_geometry *geo, const float *x, const int32_t *labels, float *probs, dk_stats *out, const int C,
                       const int general, const int fixed_activation) {
    const int interleaved = geo->channels_last && C > 1;
    dk_tables tables;
    if (interleaved && C != 2 && C != 3 && C != 4) build_tables(&tables, C);
    __m512 tp[16], pp[16], ce = _mm512_setzero_ps();
    long gcount[16];
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
        __m512 v[16];
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
        __m512 zy = _mm512_setzero_ps(), z0[16], m, sum;
        if (xent == 1)
            for (int c = 0; c < C; c++) zy = _mm512_mask_mov_ps(zy, _mm512_cmpeq_epi32_mask(lab, _mm512_set1_epi32(c)), v[c]);
        if (xent == 2)
            for (int c = 0; c < C; c++) z0[c] = v[c];
        bad_pred |= activate512(activation, C, v, &m, &sum);
        if (probs) store_channels(&tables, C, interleaved, probs, s, S, v);
        counted += __builtin_popcount(kv);
        if (xent == 1)   // log-sum-exp − z_label
            ce = _mm512_mask_add_ps(ce, kv, ce, _mm512_sub_ps(_mm512_add_ps(m, log512(sum)), zy));
        for (int c = 0; c < C; c++) {
            __mmask16 kg = _mm512_mask_cmpeq_epi32_mask(kv, lab, _mm512_set1_epi32(c + label_offset));
            tp[c] = _mm512_mask_add_ps(tp[c], kg, tp[c], v[c]);
            pp[c] = _mm512_mask_add_ps(pp[c], kv, pp[c], squared ? _mm512_mul_ps(v[c], v[c]) : v[c]);
            gcount[c] += __builtin_popcount(kg);
            if (xent == 2) {   // max(z, 0) − z·g + log1p(e^(−|z|)), with log1p(e^(−|z|)) = −ln max(p, 1 − p)
                __m512 q = _mm512_max_ps(v[c], _mm512_sub_ps(one, v[c]));
                __m512 term = _mm512_sub_ps(_mm512_max_ps(z0[c], _mm512_setzero_ps()), log512(q));
                term = _mm512_mask_sub_ps(term, kg, term, z0[c]);
                ce = _mm512_mask_add_ps(ce, kv, ce, term);
            }
        }
        if (++steps == DK_BLOCK / 16) {
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
    __m512 bv[16], abv[16], av[16], b2v[16];
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
        __m512 p[16], u[16];
        load_channels(&tables, C, interleaved, grad, s, S, p);
        __m512i lab = label_order(C, interleaved, _mm512_loadu_si512(labels + s));
        __mmask16 kv = has_ignore ? _mm512_cmpneq_epi32_mask(lab, ignore) : (__mmask16)0xFFFF;
        __m512 dot = _mm512_setzero_ps();
        __mmask16 kg[16];
        for (int c = 0; c < C; c++) {
            kg[c] = _mm512_cmpeq_epi32_mask(lab, _mm512_set1_epi32(c + label_offset));
            u[c] = squared ? _mm512_fmadd_ps(b2v[c], p[c], _mm512_maskz_mov_ps(kg[c], av[c]))
                           : _mm512_mask_blend_ps(kg[c], bv[c], abv[c]);
            dot = _mm512_fmadd_ps(p[c], u[c], dot);
        }
        for (int c = 0; c < C; c++) {
            __m512 d = activation == 2 ? _mm512_mul_ps(p[c], _mm512_sub_ps(u[c], dot))
                     : activation == 1 ? _mm512_mul_ps(_mm512_mul_ps(u[c], p[c]), _mm512_sub_ps(one, p[c])) : u[c];
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

DK512 static void stats_avx512(const dk_geometry *geo, const float *x, const int32_t *labels, float *probs, dk_stats *out) {
    const int general = geo->squared || geo->cross_entropy;
    // Binary segmentation (one sigmoid channel) is compute-bound on the exponential: a body
    // with the activation compiled in keeps the loop free of option branches.
    if (geo->channels == 1 && geo->activation == 1 && !general) {
        stats_avx512_body(geo, x, labels, probs, out, 1, 0, 1);
        return;
    }
    switch (geo->channels) {
    DK_CASES(DK_STATS_CASE)
    default: stats_avx512_body(geo, x, labels, probs, out, geo->channels, 1, -1); break;
    }
}

DK512 static void grad_avx512(const dk_geometry *geo, const int32_t *labels, float *grad, const float *a, const float *b) {
    const int general = geo->squared || geo->cross_entropy;
    if (geo->channels == 1 && geo->activation == 1 && !general) {   // as in stats_avx512
        grad_avx512_body(geo, labels, grad, a, b, 1, 0, 1);
        return;
    }
    switch (geo->channels) {
    DK_CASES(DK_GRAD_CASE)
    default: grad_avx512_body(geo, labels, grad, a, b, geo->channels, 1, -1); break;
    }
}


// MARK: - Dense targets (one-hot or soft values with the prediction's layout)

static inline __attribute__((always_inline))
void stats_dense_portable(const dk_geometry *geo, const float *x, const float *t, float *probs, dk_stats *out,
                          long s_begin, long s_end) {
    const int C = geo->channels;
    const long ps = geo->channels_last ? C : 1, cs = geo->channels_last ? 1 : geo->spatial;
    float btp[16] = {0}, bp[16] = {0}, bg[16] = {0}, bd[16] = {0}, bce = 0;
    float z[16], p[16];
    int in_block = 0;
    for (long s = s_begin; s < s_end; s++) {
        const long base = s * ps;
        float m, sum;
        activate_position(geo, x, base, cs, probs, z, p, &m, &sum, out);
        out->counted += 1;
        float lse = geo->cross_entropy == 1 ? m + dk_logf(sum) : 0.0f;
        for (int c = 0; c < C; c++) {
            float g = t[base + c * cs];
            btp[c] += p[c] * g;
            bp[c] += geo->squared ? p[c] * p[c] : p[c];
            bg[c] += geo->squared ? g * g : g;
            if (geo->soft) bd[c] += fabsf(p[c] - g);
            if (geo->cross_entropy == 1) bce += g * (lse - z[c]);
            if (geo->cross_entropy == 2) {
                float q = p[c] > 0.5f ? p[c] : 1.0f - p[c];
                bce += (z[c] > 0 ? z[c] : 0.0f) - z[c] * g - dk_logf(q);
            }
        }
        if (++in_block == DK_BLOCK) {
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
    float u[16];
    for (long s = s_begin; s < s_end; s++) {
        const long base = s * ps;
        float dot = 0, gsum = 0;
        for (int c = 0; c < C; c++) {
            float g = t[base + c * cs], pc = grad[base + c * cs];
            u[c] = a[c] * g + (geo->squared ? 2.0f * b[c] * pc : b[c]);
            if (geo->soft) u[c] += f[c] * (pc > g ? 1.0f : (pc < g ? -1.0f : 0.0f));
            dot += pc * u[c];
            gsum += g;
        }
        for (int c = 0; c < C; c++) {
            float g = t[base + c * cs], pc = grad[base + c * cs];
            if (geo->activation == 2) grad[base + c * cs] = pc * (u[c] - dot) + ce * (pc * gsum - g);
            else if (geo->activation == 1) grad[base + c * cs] = u[c] * pc * (1.0f - pc) + ce * (pc - g);
            else grad[base + c * cs] = u[c];
        }
    }
}

__attribute__((target("avx2,fma")))
static void stats_dense_avx2(const dk_geometry *geo, const float *x, const float *t, float *probs, dk_stats *out) {
    stats_dense_portable(geo, x, t, probs, out, geo->s0, geo->s1);
}
__attribute__((target("avx2,fma")))
static void grad_dense_avx2(const dk_geometry *geo, const float *t, float *grad, const float *a, const float *b, const float *f) {
    grad_dense_portable(geo, t, grad, a, b, f, geo->s0, geo->s1);
}

DK512 static void stats_dense_avx512(const dk_geometry *geo, const float *x, const float *t, float *probs, dk_stats *out) {
    const int C = geo->channels;
    const int interleaved = geo->channels_last && C > 1;
    dk_tables tables;
    if (interleaved && C != 2 && C != 3 && C != 4) build_tables(&tables, C);
    __m512 tp[16], pp[16], gg[16], dd[16], ce = _mm512_setzero_ps();
    for (int c = 0; c < C; c++) tp[c] = pp[c] = gg[c] = dd[c] = _mm512_setzero_ps();
    const int squared = geo->squared, xent = geo->cross_entropy, soft = geo->soft;
    const __m512 one = _mm512_set1_ps(1.0f);
    __mmask16 bad = 0;
    long s = geo->s0;
    const long end = geo->s0 + (geo->s1 - geo->s0) / 16 * 16;
    int steps = 0;
    for (; s < end; s += 16) {
        __m512 v[16], g[16], z0[16], m, sum;
        load_channels(&tables, C, interleaved, x, s, geo->spatial, v);
        load_channels(&tables, C, interleaved, t, s, geo->spatial, g);   // the same slot order as v
        if (xent) for (int c = 0; c < C; c++) z0[c] = v[c];
        bad |= activate512(geo->activation, C, v, &m, &sum);
        if (probs) store_channels(&tables, C, interleaved, probs, s, geo->spatial, v);
        __m512 lse = xent == 1 ? _mm512_add_ps(m, log512(sum)) : _mm512_setzero_ps();
        for (int c = 0; c < C; c++) {
            tp[c] = _mm512_fmadd_ps(v[c], g[c], tp[c]);
            pp[c] = squared ? _mm512_fmadd_ps(v[c], v[c], pp[c]) : _mm512_add_ps(pp[c], v[c]);
            gg[c] = squared ? _mm512_fmadd_ps(g[c], g[c], gg[c]) : _mm512_add_ps(gg[c], g[c]);
            if (soft) dd[c] = _mm512_add_ps(dd[c], _mm512_abs_ps(_mm512_sub_ps(v[c], g[c])));
            if (xent == 1) ce = _mm512_fmadd_ps(g[c], _mm512_sub_ps(lse, z0[c]), ce);
            if (xent == 2) {
                __m512 q = _mm512_max_ps(v[c], _mm512_sub_ps(one, v[c]));
                __m512 term = _mm512_sub_ps(_mm512_max_ps(z0[c], _mm512_setzero_ps()), log512(q));
                ce = _mm512_add_ps(ce, _mm512_fnmadd_ps(z0[c], g[c], term));
            }
        }
        if (++steps == DK_BLOCK / 16 || s + 16 >= end) {
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

DK512 static void grad_dense_avx512(const dk_geometry *geo, const float *t, float *grad, const float *a, const float *b, const float *f) {
    const int C = geo->channels;
    const int interleaved = geo->channels_last && C > 1;
    dk_tables tables;
    if (interleaved && C != 2 && C != 3 && C != 4) build_tables(&tables, C);
    const int squared = geo->squared, soft = geo->soft, activation = geo->activation;
    const __m512 one = _mm512_set1_ps(1.0f), cev = _mm512_set1_ps(geo->ce_scale);
    long s = geo->s0;
    const long end = geo->s0 + (geo->s1 - geo->s0) / 16 * 16;
    for (; s < end; s += 16) {
        __m512 p[16], g[16], u[16], dot = _mm512_setzero_ps(), gsum = _mm512_setzero_ps();
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
            if (activation == 2)
                d = _mm512_fmadd_ps(cev, _mm512_fmsub_ps(p[c], gsum, g[c]), _mm512_mul_ps(p[c], _mm512_sub_ps(u[c], dot)));
            else if (activation == 1)
                d = _mm512_fmadd_ps(cev, _mm512_sub_ps(p[c], g[c]), _mm512_mul_ps(_mm512_mul_ps(u[c], p[c]), _mm512_sub_ps(one, p[c])));
            else
                d = u[c];
            p[c] = d;
        }
        store_channels(&tables, C, interleaved, grad, s, geo->spatial, p);
    }
    grad_dense_portable(geo, t, grad, a, b, f, s, geo->s1);
}

// MARK: - Dispatch

// The level comes from cpu_dispatch.c (detected once, thread-safely; forced by tests), and each
// call records the level it ran at.

static dk_isa_level loss_level(void) {
    dk_isa_level level = dk_isa();
    dk_note_isa(DK_KERNEL_LOSS, level);
    return level;
}

void dk_stats_f32(const dk_geometry *geo, const float *x, const int32_t *labels, float *probs, dk_stats *out) {
    memset(out, 0, sizeof *out);
    switch (loss_level()) {
    case DK_ISA_AVX512: stats_avx512(geo, x, labels, probs, out); break;
    case DK_ISA_AVX2: stats_avx2(geo, x, labels, probs, out); break;
    default: stats_generic(geo, x, labels, probs, out); break;
    }
}

void dk_grad_f32(const dk_geometry *geo, const int32_t *labels, float *grad, const float *a, const float *b) {
    switch (loss_level()) {
    case DK_ISA_AVX512: grad_avx512(geo, labels, grad, a, b); break;
    case DK_ISA_AVX2: grad_avx2(geo, labels, grad, a, b); break;
    default: grad_generic(geo, labels, grad, a, b); break;
    }
}

void dk_stats_dense_f32(const dk_geometry *geo, const float *x, const float *t, float *probs, dk_stats *out) {
    memset(out, 0, sizeof *out);
    switch (loss_level()) {
    case DK_ISA_AVX512: stats_dense_avx512(geo, x, t, probs, out); break;
    case DK_ISA_AVX2: stats_dense_avx2(geo, x, t, probs, out); break;
    default: stats_dense_portable(geo, x, t, probs, out, geo->s0, geo->s1); break;
    }
}

void dk_grad_dense_f32(const dk_geometry *geo, const float *t, float *grad, const float *a, const float *b, const float *f) {
    switch (loss_level()) {
    case DK_ISA_AVX512: grad_dense_avx512(geo, t, grad, a, b, f); break;
    case DK_ISA_AVX2: grad_dense_avx2(geo, t, grad, a, b, f); break;
    default: grad_dense_portable(geo, t, grad, a, b, f, geo->s0, geo->s1); break;
    }
}
