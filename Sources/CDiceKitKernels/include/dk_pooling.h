// 2×2 and 2×2×2, stride-2 max pooling of channels-last Float (and bfloat16) images and volumes
// (pooling/maxpool2x2.c), reached from
// Sources/DiceKit/Convolution/PoolingKernels+Tiling.swift.
#ifndef DK_POOLING_H
#define DK_POOLING_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// 2×2 (planes 1) or 2×2×2 (planes 2), stride-2 max pooling of channels-last Float images or
/// volumes, in `units` of `unit_lines` output lines of `out_w` pixels and `c` channels, each unit
/// reading planes × 2·unit_lines input rows of `in_w` pixels (= 2·out_w, or one more): an image's
/// output line (unit_lines 1), or a volume's output plane (unit_lines = out_h). taps[i] ∈
/// 0…4·planes − 1 records the winning tap of output element i (window order kd, kh, kw).
void dk_maxpool_halving_f32(const float *x, float *y, uint8_t *taps, long units, long unit_lines, long out_w,
                            long in_w, long c, int planes);

/// The same pooling of bfloat16 bits (an evaluation pass, no taps kept): each window's values
/// compared as the Float values the bits stand for, with the Float kernel's rule (the first
/// maximum in window order wins; the first NaN, once one is met), its winner's bits stored. As
/// rounding to bfloat16 never reverses an order, these are the bits of the rounded Float pooling
/// wherever no two distinct values of a window round to zeros of opposite signs.
void dk_maxpool_halving_bf16(const uint16_t *x, uint16_t *y, long units, long unit_lines, long out_w, long in_w,
                             long c, int planes);

/// Its backward pass: writes every input element of the windows (dy where the tap won, else 0),
/// plus `addend` (the input's layout) when it is not NULL.
void dk_maxpool_halving_back_f32(const float *dy, const uint8_t *taps, const float *addend, float *dx, long units,
                                 long unit_lines, long out_w, long in_w, long c, int planes);

#ifdef __cplusplus
}
#endif

#endif
