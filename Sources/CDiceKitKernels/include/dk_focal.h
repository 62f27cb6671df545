#ifndef DK_FOCAL_H
#define DK_FOCAL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Floats per step of the sigmoid focal kernel (two 8-lane halves with AVX2): C must divide it.
#define DK_FOCAL_LANES 16

/// The largest whole γ the focal kernel (and the Swift passes' σ^γ by multiplication) takes.
#define DK_FOCAL_MAX_WHOLE_GAMMA 8

/// The sigmoid focal loss over `positions` channels-last positions of C channels with integer
/// labels (g_k = label == k + label_offset), AVX-512 or AVX2 + FMA, C dividing DK_FOCAL_LANES (1, 2, 4, 8, 16),
/// γ a whole number 0…DK_FOCAL_MAX_WHOLE_GAMMA. Per element, with weight w1[k] (target 1) or w0[k] (target 0): the value w·F·bce is added
/// to sums[k] and F to sums[C + k] (Double); grad (nullable) receives scale·dℓ/dz.
/// Returns 0, touching nothing, when the CPU or the arguments do not fit (the caller falls back).
int dk_focal_sigmoid_labels_f32(const float *x, const int32_t *labels, long positions, int C, int label_offset,
                                const float *w1, const float *w0, int gamma, float scale, float *grad, double *sums);

/// The sigmoid focal loss over `positions` channels-last positions of C channels (1 ≤ C ≤
/// DK_FOCAL_LANES) against a dense 0/1 target t (an element is positive where t is 1: region
/// targets, one-hot targets), AVX2 + FMA (also on AVX-512 CPUs), γ a whole number
/// 0…DK_FOCAL_MAX_WHOLE_GAMMA; otherwise as dk_focal_sigmoid_labels_f32: sums[k] += w·F·bce,
/// sums[C + k] += F, grad (nullable) = scale·dℓ/dz. Returns 0, touching nothing, when the CPU or
/// the arguments do not fit (the caller falls back).
int dk_focal_sigmoid_dense_f32(const float *x, const float *t, long positions, int C, const float *w1,
                               const float *w0, int gamma, float scale, float *grad, double *sums);

/// The softmax focal loss over `positions` channels-last positions of C channels (2 ≤ C ≤
/// DK_FOCAL_LANES) with integer labels in 0..<C, AVX-512 or AVX2 + FMA, γ a whole number
/// 0…DK_FOCAL_MAX_WHOLE_GAMMA. The softmax runs over channels first..<C (first ≤ C − 2; MONAI's
/// excluded background is channel 0). At each position with label k ≥ first, the value
/// −w[k]·(1 − p_k)^γ·log p_k is added to sums[k] (Double); grad (nullable) receives scale·dℓ/dz
/// (0 for the channels below `first`). Returns 0, touching nothing, when the CPU or the arguments
/// do not fit (the caller falls back).
int dk_focal_softmax_labels_f32(const float *x, const int32_t *labels, long positions, int C, int first,
                                const float *w, int gamma, float scale, float *grad, double *sums);

#ifdef __cplusplus
}
#endif

#endif
