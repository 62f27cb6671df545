// The optimisers' passes over one Float tensor. The Adam (and AdamW) update, element by element as
// the Swift reference (Sources/DiceKit/NN/Optimizers/Adam.swift, `referenceAdamUpdate`), with the
// same operations in the same order and no contraction into FMA: the same bits at every
// instruction set. The sum of squares of gradient-norm clipping, in a fixed order of its own.
#ifndef DK_OPTIMIZER_H
#define DK_OPTIMIZER_H

/// The constants of one Adam step (Adam.swift's AdamConstants).
typedef struct {
    float step_size, root2, beta1, beta2, epsilon, decay, shrink;
} dk_adam_constants;

/// For i < n: x = p·shrink; d = g + decay·x; m' = m + (1 − β₁)·(d − m);
/// v' = β₂·v + (1 − β₂)·d·d; p' = x − step_size·(m' / (√v' / root2 + ε)); m, v and p overwritten.
void dk_adam_update_f32(float *p, const float *g, float *m, float *v, long n, const dk_adam_constants *k);

/// Σ x[i]² in Double over 16 interleaved partial sums: element i (i < n rounded down to 16) goes
/// to partial i mod 16, each of the last n mod 16 elements to the partial of its offset past that
/// point, each partial in order; then partial 0 + partial 1 + … + partial 15, left to right. The
/// same bits at every instruction set (gradient-norm clipping's sum of squares).
double dk_sum_squares_f32(const float *x, long n);

#endif
