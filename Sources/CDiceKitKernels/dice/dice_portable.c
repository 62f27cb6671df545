// The portable Dice-loss passes: baseline x86-64 (SSE2) code that the compiler vectorises, for
// CPUs without AVX2 + FMA. Label targets run the blocked lane loops (dice_blocked.h), or the
// per-position loops with a weighted cross-entropy; dense targets the per-position loops
// (dice_scalar.h).

#include "dice_blocked.h"
#include "dice_scalar.h"
#include "dice_variants.h"

void dk_dice_stats_portable(const dk_geometry *geo, const float *x, const int32_t *labels, float *probs, dk_stats *out) {
    if (dk_ce_weighted(geo)) stats_portable(geo, x, labels, probs, out, geo->s0, geo->s1);
    else stats_blocked(geo, x, labels, probs, out);
}

void dk_dice_grad_portable(const dk_geometry *geo, const int32_t *labels, float *grad, const float *a, const float *b) {
    if (dk_ce_weighted(geo)) grad_portable(geo, labels, grad, a, b, geo->s0, geo->s1);
    else grad_blocked(geo, labels, grad, a, b);
}

void dk_dice_stats_dense_portable(const dk_geometry *geo, const float *x, const float *t, float *probs, dk_stats *out) {
    stats_dense_portable(geo, x, t, probs, out, geo->s0, geo->s1);
}

void dk_dice_grad_dense_portable(const dk_geometry *geo, const float *t, float *grad, const float *a, const float *b,
                                 const float *f) {
    grad_dense_portable(geo, t, grad, a, b, f, geo->s0, geo->s1);
}
