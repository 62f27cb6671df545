// The soft skeleton of clDice (skeleton/soft_skeleton.c), reached from
// Sources/DiceKit/Losses/SoftSkeleton+CKernel.swift. Semantics, tie rule and derivation:
// Docs/DiceMath.md §9.6 (the same values and gradients as SoftSkeleton.swift's reference loops).
#ifndef DK_SKELETON_H
#define DK_SKELETON_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Scalars of workspace `dk_soft_skeleton_*` needs for an image of `count` elements and
/// `iterations` (K) steps: 4·count without the gradient, (3K + 16)·count with it.
long dk_soft_skeleton_work(long count, int iterations, int gradient);

/// Integers of workspace `dk_soft_skeleton_vjp2_*` needs: 6·count.
#define DK_SKELETON_INTEGERS_PER_ELEMENT 6

/// The soft skeleton of one row-major image [depth, height, width] (depth 1 and volumetric 0 for
/// a 2-D image) after K = `iterations` erosions into `skeleton`; `work` holds
/// dk_soft_skeleton_work(count, K, 0) scalars.
void dk_soft_skeleton_f32(const float *image, long depth, long height, long width, int volumetric, int iterations,
                          float *skeleton, float *work);
void dk_soft_skeleton_f64(const double *image, long depth, long height, long width, int volumetric, int iterations,
                          double *skeleton, double *work);

/// The skeleton of `image` and its vector-Jacobian products with two cotangents at once:
/// `cotangents` and `products` hold pairs (element j's two values at 2j, 2j + 1); products[2j + c]
/// = Σ_q cotangents[2q + c]·∂skeleton_q/∂image_j (overwritten). `work` holds
/// dk_soft_skeleton_work(count, K, 1) scalars and `integers` DK_SKELETON_INTEGERS_PER_ELEMENT·count
/// integers (count < 2³¹).
void dk_soft_skeleton_vjp2_f32(const float *image, const float *cotangents, long depth, long height, long width,
                               int volumetric, int iterations, float *skeleton, float *products, float *work,
                               int32_t *integers);
void dk_soft_skeleton_vjp2_f64(const double *image, const double *cotangents, long depth, long height, long width,
                               int volumetric, int iterations, double *skeleton, double *products, double *work,
                               int32_t *integers);

#ifdef __cplusplus
}
#endif

#endif
