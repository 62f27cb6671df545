// The AVX2 + FMA Dice-loss passes: the portable code (dice_blocked.h for label targets,
// dice_scalar.h for dense ones) compiled for AVX2 + FMA through the target attribute (no build
// flags), so the lane loops become 8-wide vectors.

#include "dice_blocked.h"
#include "dice_variants.h"

#define DK256 __attribute__((target("avx2,fma")))

DK256 void dk_dice_stats_avx2(const dk_geometry *geo, const float *x, const int32_t *labels, float *probs,
                              dk_stats *out) {
    stats_blocked(geo, x, labels, probs, out);
}

DK256 void dk_dice_grad_avx2(const dk_geometry *geo, const int32_t *labels, float *grad, const float *a,
                             const float *b) {
    grad_blocked(geo, labels, grad, a, b);
}

DK256 void dk_dice_stats_dense_avx2(const dk_geometry *geo, const float *x, const float *t, float *probs,
                                    dk_stats *out) {
    stats_dense_portable(geo, x, t, probs, out, geo->s0, geo->s1);
}

DK256 void dk_dice_grad_dense_avx2(const dk_geometry *geo, const float *t, float *grad, const float *a, const float *b,
                                   const float *f) {
    grad_dense_portable(geo, t, grad, a, b, f, geo->s0, geo->s1);
}
