// The Adam (and AdamW) update of one Float tensor, element by element as the Swift reference
// (Sources/DiceKit/NN/Optimizers/Adam.swift, `referenceAdamUpdate`), with the same operations in
// the same order and no contraction into FMA: the same bits at every instruction set.
#ifndef DK_OPTIMIZER_H
#define DK_OPTIMIZER_H

/// The constants of one Adam step (Adam.swift's AdamConstants).
typedef struct {
    float step_size, root2, beta1, beta2, epsilon, decay, shrink;
} dk_adam_constants;

/// For i < n: x = p·shrink; d = g + decay·x; m' = m + (1 − β₁)·(d − m);
/// v' = β₂·v + (1 − β₂)·d·d; p' = x − step_size·(m' / (√v' / root2 + ε)); m, v and p overwritten.
void dk_adam_update_f32(float *p, const float *g, float *m, float *v, long n, const dk_adam_constants *k);

#endif
