// The instruction-set variants of the Dice-loss passes, one file each (dice_portable.c,
// dice_avx2.c, dice_dense_avx2.c, dice_avx512.c, dice_dense_avx512.c), chosen per call by
// dice_dispatch.c.
// Arguments as the public entry points of dk_dice.h (pass 1 zeroes nothing: the entry point
// clears `out`). Hidden: internal to the library.
#ifndef DK_DICE_VARIANTS_H
#define DK_DICE_VARIANTS_H

#include "dk_dice.h"

#define DK_DICE_INTERNAL __attribute__((visibility("hidden")))

// MARK: - Integer-label targets

DK_DICE_INTERNAL void dk_dice_stats_portable(const dk_geometry *geo, const float *x, const int32_t *labels, float *probs,
                                             dk_stats *out);
DK_DICE_INTERNAL void dk_dice_grad_portable(const dk_geometry *geo, const int32_t *labels, float *grad, const float *a,
                                            const float *b);
DK_DICE_INTERNAL void dk_dice_stats_avx2(const dk_geometry *geo, const float *x, const int32_t *labels, float *probs,
                                         dk_stats *out);
DK_DICE_INTERNAL void dk_dice_grad_avx2(const dk_geometry *geo, const int32_t *labels, float *grad, const float *a,
                                        const float *b);
DK_DICE_INTERNAL void dk_dice_stats_avx512(const dk_geometry *geo, const float *x, const int32_t *labels, float *probs,
                                           dk_stats *out);
DK_DICE_INTERNAL void dk_dice_grad_avx512(const dk_geometry *geo, const int32_t *labels, float *grad, const float *a,
                                          const float *b);

// MARK: - Dense targets

DK_DICE_INTERNAL void dk_dice_stats_dense_portable(const dk_geometry *geo, const float *x, const float *t, float *probs,
                                                   dk_stats *out);
DK_DICE_INTERNAL void dk_dice_grad_dense_portable(const dk_geometry *geo, const float *t, float *grad, const float *a,
                                                  const float *b, const float *f);
DK_DICE_INTERNAL void dk_dice_stats_dense_avx2(const dk_geometry *geo, const float *x, const float *t, float *probs,
                                               dk_stats *out);
DK_DICE_INTERNAL void dk_dice_grad_dense_avx2(const dk_geometry *geo, const float *t, float *grad, const float *a,
                                              const float *b, const float *f);
DK_DICE_INTERNAL void dk_dice_stats_dense_avx512(const dk_geometry *geo, const float *x, const float *t, float *probs,
                                                 dk_stats *out);
DK_DICE_INTERNAL void dk_dice_grad_dense_avx512(const dk_geometry *geo, const float *t, float *grad, const float *a,
                                                const float *b, const float *f);

#endif
