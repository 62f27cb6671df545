// The Dice-loss passes (dice/): Float predictions with integer-label or dense (one-hot, soft)
// targets, fused sigmoid/softmax, optional cross-entropy. Reached from Swift only through
// Sources/DiceKit/Losses/DiceLoss+CKernels.swift.
#ifndef DK_DICE_H
#define DK_DICE_H

#include <stdint.h>
#include "dk_limits.h"

#ifdef __cplusplus
extern "C" {
#endif

/// The activation applied to the logits inside the kernel (Swift: `DiceLoss.Activation`).
typedef enum {
    DK_ACTIVATION_NONE = 0,     ///< the predictions are probabilities already
    DK_ACTIVATION_SIGMOID = 1,  ///< p = 1 / (1 + e^(−z)) per element
    DK_ACTIVATION_SOFTMAX = 2   ///< max-subtracted softmax over the channel axis
} dk_activation;

/// The cross-entropy term accumulated beside the Dice statistics (Swift: `CrossEntropyTerm`).
typedef enum {
    DK_CROSS_ENTROPY_NONE = 0,     ///< no cross-entropy
    DK_CROSS_ENTROPY_SOFTMAX = 1,  ///< softmax cross-entropy against the labels (needs DK_ACTIVATION_SOFTMAX)
    DK_CROSS_ENTROPY_BINARY = 2    ///< binary cross-entropy with logits per element (needs DK_ACTIVATION_SIGMOID)
} dk_cross_entropy;

/// Geometry and options of one call (one sample, positions s0..<s1).
typedef struct {
    long spatial;          ///< positions per sample (S)
    long s0, s1;           ///< the position range of this call
    int channels;          ///< C (1…DK_MAX_CHANNELS)
    int channels_last;     ///< 1: element (s, c) at s*C + c; 0: at c*S + s
    dk_activation activation;
    int squared;           ///< P = Σp² (G = Σg² = Σg for labels); the gradient uses 2b·p
    dk_cross_entropy cross_entropy;
    float ce_scale;        ///< pass 2: the factor of (p − g) added for the cross-entropy
    const float *ce_weight;  ///< per channel, C values, or NULL (all 1): softmax class weights / binary pos_weight
    float ce_smoothing;    ///< softmax: label smoothing ε in [0, 1], targets (1 − ε)·g + ε/C (0: none)
    int soft;              ///< dense targets: also accumulate D = Σ|p − g| (soft-label TP); pass 2 uses f·sign(p − g)
    int has_ignore;        ///< whether `ignore` is in effect
    int32_t ignore;        ///< the ignore index
    int32_t label_offset;  ///< g_c = (label == c + label_offset)
    int32_t label_limit;   ///< valid labels: 0 <= label < label_limit
} dk_geometry;

/// Pass-1 outputs of one call: sums per channel (in double), the counted positions, and flags.
typedef struct {
    double tp[DK_MAX_CHANNELS], p[DK_MAX_CHANNELS], g[DK_MAX_CHANNELS];
    double d[DK_MAX_CHANNELS];  ///< Σ|p − g| (dense targets with `soft`)
    double counted;
    double ce;             ///< Σ of the cross-entropy over counted positions (softmax) or elements (binary)
    double ce_norm;        ///< the mean's denominator: Σ of the label's class weight (softmax, labels), else counted
    int nonfinite;         ///< a prediction was NaN or infinite
    int bad_label;         ///< a label (not ignored) was outside 0..<label_limit
} dk_stats;

/// Whether the cross-entropy carries class weights or label smoothing: its weighted form
/// (Docs/DiceMath.md, "Weighted cross-entropy"). Per position, with q_c = w_c·((1 − ε)·g_c + ε/C):
/// softmax CE = Σ_c q_c·(lse − z_c), gradient (Σ_c q_c)·p_k − q_k; binary CE (pos_weight w_c)
/// = w·g·softplus(−z) + (1 − g)·softplus(z), gradient p·(1 + (w − 1)·g) − w·g.
static inline int dk_ce_weighted(const dk_geometry *geo) {
    return geo->cross_entropy != DK_CROSS_ENTROPY_NONE && (geo->ce_weight != 0 || geo->ce_smoothing != 0.0f);
}

/// Pass 1. `x`, `labels`, `probs` point at the sample's first element; `probs` may be NULL.
void dk_stats_f32(const dk_geometry *geo, const float *x, const int32_t *labels, float *probs, dk_stats *out);

/// Pass 2. `grad` holds the probabilities on entry and dL/dz on exit; a[c], b[c] are the
/// coefficients of g and of 1 (of 2p when squared) in dL/dp = a·g + b.
void dk_grad_f32(const dk_geometry *geo, const int32_t *labels, float *grad, const float *a, const float *b);

/// Pass 1 with a dense target `t` (one-hot or soft, the prediction's layout) instead of labels.
void dk_stats_dense_f32(const dk_geometry *geo, const float *x, const float *t, float *probs, dk_stats *out);

/// Pass 2 with a dense target; f[c] is the coefficient of sign(p − g) (soft labels).
void dk_grad_dense_f32(const dk_geometry *geo, const float *t, float *grad, const float *a, const float *b, const float *f);

#ifdef __cplusplus
}
#endif

#endif
