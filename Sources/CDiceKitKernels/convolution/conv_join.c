// The copy that joins a channel concatenation's parts inside the direct kernels' padded input or
// border strips (Sources/DiceKit/Convolution/PaddedSource.swift): a U-Net decoder's up-sampled tensor and skip,
// each with 16–256 channels per position, written side by side into one padded row. A copy per
// position of a few cache lines: whole 64-byte blocks when the part's channels allow, which the
// compiler turns into vector moves at any instruction-set level.

#include "dk_convolution.h"
#include "dk_bf16.h"
#include <string.h>

void dk_conv_join_channels(const float *src, long channels, float *dst, long stride, long positions, int round) {
    if (round) {
        for (long p = 0; p < positions; p++) dk_f32_round_bf16(src + p * channels, dst + p * stride, channels);
    } else if (channels % 16 == 0) {
        for (long p = 0; p < positions; p++) {
            const float *s = src + p * channels;
            float *d = dst + p * stride;
            for (long c = 0; c < channels; c += 16) memcpy(d + c, s + c, 16 * sizeof(float));
        }
    } else {
        for (long p = 0; p < positions; p++) memcpy(dst + p * stride, src + p * channels, (size_t)channels * sizeof(float));
    }
}

void dk_conv_join_channels_bf16(const uint16_t *src, long channels, float *dst, long stride, long positions) {
    for (long p = 0; p < positions; p++) dk_bf16_to_f32(src + p * channels, dst + p * stride, channels);
}
