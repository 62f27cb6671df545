// The 1×1 head that a forward pass applies in its stores (dk_conv_geometry.head_classes): the
// dot-product kernels (conv_bf16.c) call it with a tile's outputs still in registers, the AMX
// tile kernels (conv_amx.c) with a block's outputs after the bias and ReLU. It sums each logit as
// the few-channel kernel sums the head run on its own (conv_narrow.c, lane_sums.h), so that the
// logits are the same bits either way. Not part of the public header.
#ifndef DK_HEAD_STORE_H
#define DK_HEAD_STORE_H

// x86-64 only (the kernels that use it are).
#if defined(__x86_64__)
#include "dk_convolution.h"
#include "lane_sums.h"
#include <immintrin.h>

#define DK_HEAD_TARGET __attribute__((target("avx512f,avx512bw,avx512vl")))
#ifndef DK_UNROLL
#define DK_UNROLL _Pragma("clang loop unroll(full)")
#endif

/// The 1×1 head (dk_conv_geometry.head_classes) of the `count` (≤ MR) output positions from q
/// whose outputs, after the ReLU, are v: position i's output channels 16j … 16j + 15 at
/// v[i·NV + j], NV·16 = cout. Logit c of position q + i goes to y[(q + i)·classes + c], summed as
/// the few-channel kernel sums it over the stored outputs (narrow_avx512: the products of each
/// 16-channel step added into one vector from zero in channel order, its two halves added, then
/// the lanes by dk_sum8_avx2's tree, eight logits at a time, and the bias added last): the same
/// bits as the head run after the pass, without the cout Floats per position written and read.
/// Every position's halves are made first (a loop the compiler unrolls), then summed in output
/// order; a logit's tree does not depend on the logits beside it.
DK_HEAD_TARGET static inline __attribute__((always_inline)) void dk_store_head(
    const dk_conv_geometry *g, float *y, long q, int count, const __m512 *v, const int MR, const int NV) {
    const int classes = g->head_classes;
    const float *wt = (const float *)g->head_weight, *bias = (const float *)g->head_bias;
    __m256 halves[16 * 15 + 8];
    for (int c = 0; c < classes; c++) {
        __m512 w[4];
        DK_UNROLL for (int j = 0; j < NV; j++) w[j] = _mm512_loadu_ps(wt + (c * NV + j) * 16);
        DK_UNROLL for (int i = 0; i < MR; i++) {
            __m512 a = _mm512_setzero_ps();
            DK_UNROLL for (int j = 0; j < NV; j++) a = _mm512_fmadd_ps(v[i * NV + j], w[j], a);
            const __m256 high = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1));
            halves[i * classes + c] = _mm256_add_ps(_mm512_castps512_ps256(a), high);
        }
    }
    const int logits = count * classes;
    for (int k = logits; k < logits + 8; k++) halves[k] = _mm256_setzero_ps();
    float *out = y + q * classes;
    for (int t = 0, c = 0; t < logits; t += 8) {
        float shift[8];
        for (int k = 0; k < 8; k++, c = c + 1 == classes ? 0 : c + 1) shift[k] = bias ? bias[c] : 0.0f;
        const __m256 sums = _mm256_add_ps(_mm256_loadu_ps(shift), dk_sum8_avx2(halves + t));
        const int n = logits - t < 8 ? logits - t : 8;
        _mm256_mask_storeu_ps(out + t, (__mmask8)((1u << n) - 1), sums);
    }
}

#endif // defined(__x86_64__)

#endif
