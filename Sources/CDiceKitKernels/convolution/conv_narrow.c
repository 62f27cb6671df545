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
// the input serving 3 FMAs and each load of the kernel 4 (16-float vectors with AVX-512, 8-float
// ones with AVX2). The 12 accumulators are summed across their lanes together at the end of the
// reduction (narrow_store: a fixed tree, the same bits on every run).
// Positions past the end repeat the last one (computed, not stored). The segmentation head (1×1,
// 16–48 features to 1–3 logits) runs on these kernels too.

// x86-64 code only: other CPUs take the lowered path instead (dk_conv_direct_enabled).
#if defined(__x86_64__)

#include "dk_convolution.h"
#include "dk_dispatch.h"
#include "conv_internal.h"
#include "lane_sums.h"
#include <immintrin.h>

#define DKN512 __attribute__((target("avx512f")))
#define DKN256 __attribute__((target("avx2,fma")))
#define DK_UNROLL _Pragma("clang loop unroll(full)")

/// The padded rows and the output offsets of positions q .. q + mr − 1 (the last valid one
/// repeated past `end`), `at` the coordinates of q: stepped, not divided (dk_conv_tile_offsets,
/// dk_conv_output_offsets), or for positions on one output line (most tiles) constant steps from
/// the first (a few per cent of the AVX2 input gradient of a first layer).
static inline __attribute__((always_inline)) void narrow_tile(const dk_conv_geometry *g, const float *xp,
                                                              dk_conv_position at, long q, long end,
                                                              const float **rows, long *out, int mr) {
    long offsets[4];
    if (at.x + mr <= g->ow && q + mr <= end && !dk_conv_scatters(g)) {
        // All on one output line: constant steps from the first.
        dk_conv_tile_offsets(g, at, q, end, offsets, 1);
        dk_conv_output_offsets(g, at, q, end, out, 1);
        for (int i = 0; i < mr; i++) {
            rows[i] = xp + offsets[0] + i * dk_conv_stride_w(g) * g->cin;
            out[i] = out[0] + i * g->cout;
        }
        return;
    }
    dk_conv_tile_offsets(g, at, q, end, offsets, mr);
    for (int i = 0; i < mr; i++) rows[i] = xp + offsets[i];
    dk_conv_output_offsets(g, at, q, end, out, mr);
}

/// Stores output channels co … co + nc − 1 of the 4 positions at `out` (those before `end`, the
/// first at q): the lane sums of acc (position i, channel c at i·NC + c, c < NC) plus the bias,
/// summed together in the order of the outputs. When the 4 positions are consecutive outputs of a
/// 3-channel output (a first layer's input gradient on one line) the 12 results are two vector
/// stores. Reducing the 12 accumulators one by one had taken a quarter of a first layer's input
/// gradient (3 → 32 at 128²) outside the multiply–add loop.
DKN256 static inline __attribute__((always_inline))
void narrow_store(const dk_conv_geometry *g, const __m256 *acc, const float *bias, float *y, const long *out, long q,
                  long end, long co, int nc, const int NC) {
    float sums[12], shift[12];
    DK_UNROLL for (int i = 0; i < 4 * NC; i++) shift[i] = bias && i % NC < nc ? bias[co + i % NC] : 0.0f;
    if (NC == 3) {
        _mm256_storeu_ps(sums, _mm256_add_ps(_mm256_loadu_ps(shift), dk_sum8_avx2(acc)));
        _mm_storeu_ps(sums + 8, _mm_add_ps(_mm_loadu_ps(shift + 8), dk_sum4_avx2(acc + 8)));
    } else if (NC == 2) {
        _mm256_storeu_ps(sums, _mm256_add_ps(_mm256_loadu_ps(shift), dk_sum8_avx2(acc)));
    } else {
        _mm_storeu_ps(sums, _mm_add_ps(_mm_loadu_ps(shift), dk_sum4_avx2(acc)));
    }
    if (NC == 3 && nc == 3 && g->cout == 3 && q + 4 <= end && out[3] == out[0] + 9) {
        _mm256_storeu_ps(y + out[0], _mm256_loadu_ps(sums));
        _mm_storeu_ps(y + out[0] + 8, _mm_loadu_ps(sums + 8));
        return;
    }
    for (int i = 0; i < 4 && q + i < end; i++)
        for (int c = 0; c < nc; c++) y[out[i] + co + c] = sums[i * NC + c];
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
            // Each accumulator's two 8-float halves added, then summed as the AVX2 tile's.
            __m256 halves[12];
            DK_UNROLL for (int i = 0; i < 12; i++) {
                const __m256 high = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[i]), 1));
                halves[i] = _mm256_add_ps(_mm512_castps512_ps256(acc[i]), high);
            }
            narrow_store(g, halves, bias, y, out, q, q1, co, nc, 3);
        }
    }
}

/// The AVX2 tile: 4 positions × NC output channels (NC ≤ 3) over 8-float steps of the
/// reduction, 4·NC accumulators. The NC kernel vectors of a step are loaded first and each input
/// vector serves NC multiply–adds as it arrives: 12 accumulators, 3 kernel vectors and 1 input
/// vector fill the 16 ymm registers (a 2 × 3 tile over 16-float steps loaded 10 vectors per 12
/// multiply–adds). The accumulators are then summed together (narrow_store). Its lanes sum other
/// products than the AVX-512 tile's, so the two levels round differently (each the same on every
/// run).
DKN256 static inline __attribute__((always_inline))
void narrow_tile_avx2(const dk_conv_geometry *g, const float *const *rows, const float *wt, const float *bias,
                      float *y, const long *out, long q, long end, long co, const int NC) {
    const long seg = (long)g->kw * g->cin, k_total = (long)g->kd * g->kh * seg;
    __m256 acc[12];
    DK_UNROLL for (int i = 0; i < 4 * NC; i++) acc[i] = _mm256_setzero_ps();
    dk_conv_segment_cursor segment = dk_conv_segment_start(g, 0);
    for (int s = 0; s < g->kd * g->kh; s++, dk_conv_next_segment(g, &segment)) {
        const long offset = segment.offset;
        const float *w0 = wt + co * k_total + s * seg;
        for (long k = 0; k < seg; k += 8) {
            __m256 wv[3];
            DK_UNROLL for (int c = 0; c < NC; c++) wv[c] = _mm256_loadu_ps(w0 + c * k_total + k);
            DK_UNROLL for (int i = 0; i < 4; i++) {
                const __m256 xv = _mm256_loadu_ps(rows[i] + offset + k);
                DK_UNROLL for (int c = 0; c < NC; c++) acc[i * NC + c] = _mm256_fmadd_ps(xv, wv[c], acc[i * NC + c]);
            }
        }
    }
    narrow_store(g, acc, bias, y, out, q, end, co, NC, NC);
}

DKN256 static void narrow_avx2(const dk_conv_geometry *g, const float *xp, const float *wt, const float *bias,
                               float *y, long q0, long q1) {
    dk_conv_position at = dk_conv_position_of(g, q0);
    for (long q = q0; q < q1; q += 4, dk_conv_position_advance(g, &at, 4)) {
        const float *rows[4];
        long out[4];
        narrow_tile(g, xp, at, q, q1, rows, out, 4);
        long co = 0;
        for (; co + 3 <= g->cout; co += 3) narrow_tile_avx2(g, rows, wt, bias, y, out, q, q1, co, 3);
        if (g->cout - co == 2) narrow_tile_avx2(g, rows, wt, bias, y, out, q, q1, co, 2);
        if (g->cout - co == 1) narrow_tile_avx2(g, rows, wt, bias, y, out, q, q1, co, 1);
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

#else
#include "conv_internal.h"

void dk_conv_forward_narrow_f32(const dk_conv_geometry *g, const float *xp, const float *wt, const float *bias,
                                float *y, long q0, long q1) {
    dk_no_vector_kernel("dk_conv_forward_narrow_f32");
}
#endif // defined(__x86_64__)
