// Direct convolutions with few output channels (cout < 16) and input channels in multiples of
// 16: the input gradient of a first layer on 1 or 3 channels, which is a forward pass over the
// padded output gradient (cin' = the layer's output channels) with the flipped kernel
// (cout' = the layer's 1 or 3 input channels). The channel-vector kernels of conv_avx512.c would
// leave 13 of 16 lanes idle there, and the lowered path (GEMM into a [P × 9·Cin] tile, then an
// accumulating col2im of 3-float runs) took five times the forward pass's time.
//
// Vectors run along the reduction instead: the patch of output position q in segment s (a
// kernel row kz, ky) is kw·cin consecutive floats of the padded input (the padded-grid layout of
// conv_avx512.c), and the kernel is given transposed, wt[co][s·kw·cin + k], so both operands of
//   y[q][co] = Σ_s Σ_k xp[grid(q)·cin + offset(s) + k] · wt[co][s·kw·cin + k]
// are contiguous. A tile is 4 positions × 3 output channels: 12 vector accumulators, each load of
// the input serving 3 FMAs and each load of the kernel 4. Each accumulator is summed across its
// lanes once at the end of the reduction (a fixed tree: same bits on every run). Positions past
// the end repeat the last one (computed, not stored).

#include "dk_convolution.h"
#include "dk_dispatch.h"
#include "conv_internal.h"
#include <immintrin.h>

#define DKN512 __attribute__((target("avx512f")))
#define DKN256 __attribute__((target("avx2,fma")))
#define DK_UNROLL _Pragma("clang loop unroll(full)")

/// The padded rows and the output offsets of positions q .. q + mr − 1 (the last valid one
/// repeated past `end`), `at` the coordinates of q: stepped, not divided (dk_conv_tile_offsets,
/// dk_conv_output_offsets).
static inline __attribute__((always_inline)) void narrow_tile(const dk_conv_geometry *g, const float *xp,
                                                              dk_conv_position at, long q, long end,
                                                              const float **rows, long *out, int mr) {
    long offsets[4];
    dk_conv_tile_offsets(g, at, q, end, offsets, mr);
    for (int i = 0; i < mr; i++) rows[i] = xp + offsets[i];
    dk_conv_output_offsets(g, at, q, end, out, mr);
}

DKN512 static void narrow_avx512(const dk_conv_geometry *g, const float *xp, const float *wt, const float *bias,
                                 float *y, long q0, long q1) {
    const long seg = (long)g->kw * g->cin, cout = g->cout, k_total = (long)g->kd * g->kh * seg;
    const int segments = g->kd * g->kh;
    dk_conv_position at = dk_conv_position_of(g, q0);
    for (long q = q0; q < q1; q += 4, dk_conv_position_advance(g, &at, 4)) {
        const float *rows[4];
        long out[4];
        narrow_tile(g, xp, at, q, q1, rows, out, 4);
        for (int co = 0; co < cout; co += 3) {
            const int nc = cout - co < 3 ? (int)(cout - co) : 3;
            __m512 acc[12];
            DK_UNROLL for (int i = 0; i < 12; i++) acc[i] = _mm512_setzero_ps();
            dk_conv_segment_cursor segment = dk_conv_segment_start(g, 0);
            for (int s = 0; s < segments; s++, dk_conv_next_segment(g, &segment)) {
                const long offset = segment.offset;
                const float *w0 = wt + co * k_total + s * seg;
                for (long k = 0; k < seg; k += 16) {
                    __m512 xv[4];
                    DK_UNROLL for (int i = 0; i < 4; i++) xv[i] = _mm512_loadu_ps(rows[i] + offset + k);
                    DK_UNROLL for (int c = 0; c < 3; c++) {
                        if (c >= nc) break;
                        const __m512 wv = _mm512_loadu_ps(w0 + c * k_total + k);
                        DK_UNROLL for (int i = 0; i < 4; i++) acc[i * 3 + c] = _mm512_fmadd_ps(xv[i], wv, acc[i * 3 + c]);
                    }
                }
            }
            for (int i = 0; i < 4 && q + i < q1; i++)
                for (int c = 0; c < nc; c++)
                    y[out[i] + co + c] = (bias ? bias[co + c] : 0.0f) + _mm512_reduce_add_ps(acc[i * 3 + c]);
        }
    }
}

/// The AVX2 form: 8-float halves of the same 16-float steps, added in the same lane tree.
DKN256 static inline float reduce256(__m256 a, __m256 b) {
    const __m256 s = _mm256_add_ps(a, b);
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

DKN256 static void narrow_avx2(const dk_conv_geometry *g, const float *xp, const float *wt, const float *bias,
                               float *y, long q0, long q1) {
    const long seg = (long)g->kw * g->cin, cout = g->cout, k_total = (long)g->kd * g->kh * seg;
    const int segments = g->kd * g->kh;
    dk_conv_position at = dk_conv_position_of(g, q0);
    for (long q = q0; q < q1; q += 2, dk_conv_position_advance(g, &at, 2)) {
        const float *rows[2];
        long out[2];
        narrow_tile(g, xp, at, q, q1, rows, out, 2);
        for (int co = 0; co < cout; co += 3) {
            const int nc = cout - co < 3 ? (int)(cout - co) : 3;
            // 2 positions × 3 channels × two halves: 12 accumulators of 16 ymm registers.
            __m256 acc[12];
            DK_UNROLL for (int i = 0; i < 12; i++) acc[i] = _mm256_setzero_ps();
            dk_conv_segment_cursor segment = dk_conv_segment_start(g, 0);
            for (int s = 0; s < segments; s++, dk_conv_next_segment(g, &segment)) {
                const long offset = segment.offset;
                const float *w0 = wt + co * k_total + s * seg;
                for (long k = 0; k < seg; k += 16) {
                    DK_UNROLL for (int h = 0; h < 2; h++) {
                        const __m256 x0 = _mm256_loadu_ps(rows[0] + offset + k + 8 * h);
                        const __m256 x1 = _mm256_loadu_ps(rows[1] + offset + k + 8 * h);
                        DK_UNROLL for (int c = 0; c < 3; c++) {
                            if (c >= nc) break;
                            const __m256 wv = _mm256_loadu_ps(w0 + c * k_total + k + 8 * h);
                            acc[(0 * 3 + c) * 2 + h] = _mm256_fmadd_ps(x0, wv, acc[(0 * 3 + c) * 2 + h]);
                            acc[(1 * 3 + c) * 2 + h] = _mm256_fmadd_ps(x1, wv, acc[(1 * 3 + c) * 2 + h]);
                        }
                    }
                }
            }
            for (int i = 0; i < 2 && q + i < q1; i++)
                for (int c = 0; c < nc; c++)
                    y[out[i] + co + c] =
                        (bias ? bias[co + c] : 0.0f) + reduce256(acc[(i * 3 + c) * 2], acc[(i * 3 + c) * 2 + 1]);
        }
    }
}

void dk_conv_forward_narrow_f32(const dk_conv_geometry *g, const float *xp, const float *wt, const float *bias,
                                float *y, long q0, long q1) {
    if (q1 <= q0) return;
    if (dk_isa() == DK_ISA_AVX512) {
        dk_note_isa(DK_KERNEL_CONV, DK_ISA_AVX512);
        narrow_avx512(g, xp, wt, bias, y, q0, q1);
    } else {
        dk_note_isa(DK_KERNEL_CONV, DK_ISA_AVX2);
        narrow_avx2(g, xp, wt, bias, y, q0, q1);
    }
}
