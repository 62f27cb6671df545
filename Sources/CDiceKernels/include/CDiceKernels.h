// CDiceKernels: the hot inner loops of DiceKit's Dice losses (Float, integer label targets,
// fused sigmoid/softmax), of 2×2 max pooling and of direct convolutions, with AVX-512 (and for
// the losses AVX2) variants chosen once at run time and a portable fallback (the direct
// convolutions have none: DiceKit uses im2col + GEMM without AVX-512). Internal to DiceKit:
// reached only through Sources/DiceKit/Losses/DiceLoss+CKernels.swift,
// Sources/DiceKit/Convolution/PoolingKernels+Tiling.swift and
// Sources/DiceKit/Convolution/DirectConvolution.swift.
#ifndef CDICEKERNELS_H
#define CDICEKERNELS_H

#include <stdint.h>
#include "dk_platform.h"

#ifdef __cplusplus
extern "C" {
#endif

/// Geometry and options of one call (one sample, positions s0..<s1).
typedef struct {
    long spatial;          ///< positions per sample (S)
    long s0, s1;           ///< the position range of this call
    int channels;          ///< C (1…16)
    int channels_last;     ///< 1: element (s, c) at s*C + c; 0: at c*S + s
    int activation;        ///< 0 none, 1 sigmoid, 2 softmax
    int squared;           ///< P = Σp² (G = Σg² = Σg for labels); the gradient uses 2b·p
    int cross_entropy;     ///< 0 none, 1 softmax CE (needs activation 2), 2 binary CE with logits (activation 1)
    float ce_scale;        ///< pass 2: the factor of (p − g) added for the cross-entropy
    int soft;              ///< dense targets: also accumulate D = Σ|p − g| (soft-label TP); pass 2 uses f·sign(p − g)
    int has_ignore;        ///< whether `ignore` is in effect
    int32_t ignore;        ///< the ignore index
    int32_t label_offset;  ///< g_c = (label == c + label_offset)
    int32_t label_limit;   ///< valid labels: 0 <= label < label_limit
} dk_geometry;

/// Pass-1 outputs of one call: sums per channel (in double), the counted positions, and flags.
typedef struct {
    double tp[16], p[16], g[16];
    double d[16];          ///< Σ|p − g| (dense targets with `soft`)
    double counted;
    double ce;             ///< Σ of the cross-entropy over counted positions (softmax) or elements (binary)
    int nonfinite;         ///< a prediction was NaN or infinite
    int bad_label;         ///< a label (not ignored) was outside 0..<label_limit
} dk_stats;

/// Pass 1. `x`, `labels`, `probs` point at the sample's first element; `probs` may be NULL.
void dk_stats_f32(const dk_geometry *geo, const float *x, const int32_t *labels, float *probs, dk_stats *out);

/// Pass 2. `grad` holds the probabilities on entry and dL/dz on exit; a[c], b[c] are the
/// coefficients of g and of 1 (of 2p when squared) in dL/dp = a·g + b.
void dk_grad_f32(const dk_geometry *geo, const int32_t *labels, float *grad, const float *a, const float *b);

/// Pass 1 with a dense target `t` (one-hot or soft, the prediction's layout) instead of labels.
void dk_stats_dense_f32(const dk_geometry *geo, const float *x, const float *t, float *probs, dk_stats *out);

/// Pass 2 with a dense target; f[c] is the coefficient of sign(p − g) (soft labels).
void dk_grad_dense_f32(const dk_geometry *geo, const float *t, float *grad, const float *a, const float *b, const float *f);

/// 2×2, stride-2 max pooling of channels-last Float images (pooling_kernels.c): `lines` pairs
/// of input rows of `in_w` pixels (= 2·out_w, or one more) and `c` channels become `lines` output
/// rows; taps[i] ∈ 0…3 records the winning tap of output element i (row-major window order).
void dk_maxpool2x2_f32(const float *x, float *y, uint8_t *taps, long lines, long out_w, long in_w, long c);

/// Its backward pass: writes every input element of the windows (dy where the tap won, else 0),
/// plus `addend` (the input's layout) when it is not NULL.
void dk_maxpool2x2_back_f32(const float *dy, const uint8_t *taps, const float *addend, float *dx,
                            long lines, long out_w, long in_w, long c);

/// A direct convolution (conv_kernels.c): stride 1, no dilation, one group, `cout` a multiple
/// of 16, `cin` a multiple of 16 or kw·cin a multiple of 3, on one zero-padded channels-last
/// sample of extents (od + kd − 1, hp, wp).
typedef struct {
    long hp, wp;           ///< padded rows and columns of the input (per depth slice)
    long od, oh, ow;       ///< output extents
    int kd, kh, kw;        ///< kernel extents
    int cin, cout;         ///< channels
} dk_conv_geometry;

/// Whether the CPU runs the direct convolution kernels (AVX-512 F/BW/DQ and FMA).
int dk_conv_direct_supported(void);

/// y = conv(xp, w) (+ bias) at output positions [q0, q1) of one sample, q = (z·oh + y)·ow + x.
/// `y` is the sample's [od, oh, ow, cout] output, `w` the [kd, kh, kw, cin, cout] kernel, `bias`
/// [cout] or NULL. `xp` must be readable for kw + 24 positions past the padded sample (zeros).
void dk_conv_forward_f32(const dk_conv_geometry *g, const float *xp, const float *w, const float *bias,
                         float *y, long q0, long q1);

/// dw[kd·kh·kw·cin, cout] += the weight gradient from output lines [l0, l1) of one sample
/// (line l = z·oh + y), with `dy` the sample's [od, oh, ow, cout] output gradient.
void dk_conv_weight_grad_f32(const dk_conv_geometry *g, const float *xp, const float *dy, float *dw, long l0, long l1);

/// dw += the weight gradient of kernel segments [s0, s1) (segment = kz·kh + ky: rows
/// [s·kw·cin, (s + 1)·kw·cin)) and output channels [co0, co1) (co0 a multiple of 64), over every
/// output line of `samples` samples: padded inputs `xp_stride` floats apart, output gradients
/// od·oh·ow·cout apart. Disjoint blocks can run in parallel into one dw (small images, where a
/// per-sample accumulator would be streamed once per sample).
void dk_conv_weight_grad_block_f32(const dk_conv_geometry *g, const float *xp, long xp_stride, const float *dy, long samples,
                                   float *dw, int s0, int s1, int co0, int co1);

/// The instruction set in use: 2 AVX-512, 1 AVX2+FMA, 0 portable.
int dk_isa(void);

/// Forces an instruction set (clamped to what the CPU supports); -1 restores automatic choice.
/// For tests that compare the variants.
void dk_force_isa(int isa);

#ifdef __cplusplus
}
#endif

#include "dk_focal.h"

#endif
