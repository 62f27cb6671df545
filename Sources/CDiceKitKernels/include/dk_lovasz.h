#ifndef DK_LOVASZ_H
#define DK_LOVASZ_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The Lovász extension Σ_i e_(i)·Δ_i over the positive errors of `keys` (m < 2³¹ finite Floats)
/// in decreasing order, ties by increasing index, with foreground flags `fg` (Berman et al. 2018,
/// Alg. 1; Docs/DiceMath.md "Lovász losses"). When `slope` is not null it receives, in input
/// order, the signed slope −Δ_rank(j) where fg[j] ≠ 0 and +Δ_rank(j) elsewhere (as Float), and
/// ∓0 where e_j ≤ 0. `scratch` holds 2·m words. Bit for bit the Swift loop's value and slopes.
double dk_lovasz_extension_f32(const float *keys, const uint8_t *fg, long m, float *slope, uint64_t *scratch);

#ifdef __cplusplus
}
#endif

#endif
