// 2×2, stride-2 max pooling of channels-last Float images (pooling/maxpool2x2.c), reached from
// Sources/DiceKit/Convolution/PoolingKernels+Tiling.swift.
#ifndef DK_POOLING_H
#define DK_POOLING_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// 2×2, stride-2 max pooling of channels-last Float images: `lines` pairs of input rows of
/// `in_w` pixels (= 2·out_w, or one more) and `c` channels become `lines` output rows;
/// taps[i] ∈ 0…3 records the winning tap of output element i (row-major window order).
void dk_maxpool2x2_f32(const float *x, float *y, uint8_t *taps, long lines, long out_w, long in_w, long c);

/// Its backward pass: writes every input element of the windows (dy where the tap won, else 0),
/// plus `addend` (the input's layout) when it is not NULL.
void dk_maxpool2x2_back_f32(const float *dy, const uint8_t *taps, const float *addend, float *dx,
                            long lines, long out_w, long in_w, long c);

#ifdef __cplusplus
}
#endif

#endif
