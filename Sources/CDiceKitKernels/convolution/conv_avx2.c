// Direct convolution kernels for AVX2 + FMA (Float): the same passes, layout and padded-grid
// addressing as the AVX-512 kernels of conv_avx512.c (read its header comment first), for CPUs
// without AVX-512 (AMD Zen 2/3, Intel client cores). Chosen at run time by conv_avx512.c's
// entry points when the level in use (cpu_dispatch.c) is DK_ISA_AVX2.
//
// Register budget: 16 ymm registers of 8 floats. The forward tile is 6 output positions × 16
// output channels (12 accumulators, 2 weight vectors, 1 broadcast), the 6×16 micro-kernel shape
// of OpenBLAS's Haswell sgemm. Every tile has one row pointer per valid output position, so no
// grid padding is computed (a first layer's tiles inside one output line: one pointer for all,
// see forward_tile). The weight-gradient tile is KR kernel rows × 16 output channels
// with KR = 6 or 4 (whichever divides the segment length kw·cin), or for a first layer 6 rows
// across its 3- or 9-row segments and 3 for the rest: at most 12 accumulators.

// x86-64 code only: other CPUs take the lowered path instead (conv_avx512.c).
#if defined(__x86_64__)

#include "dk_convolution.h"
#include "dk_dispatch.h"
#include "conv_internal.h"
#include <immintrin.h>

#define DKC256 __attribute__((target("avx2,fma")))
#define DK_UNROLL _Pragma("clang loop unroll(full)")

/// The bfloat16 rounding of 8 Floats (to nearest, ties to even), kept as Floats
/// (dk_bf16_round_bits8, bf16_round.h); a NaN keeps its sign and payload with the quiet bit set.
DKC256 static inline __attribute__((always_inline)) __m256 round_bf16(__m256 v) {
    const __m256i kept = dk_bf16_round_bits8(_mm256_castps_si256(v));
    return _mm256_castsi256_ps(_mm256_and_si256(kept, _mm256_set1_epi32((int)0xFFFF0000u)));
}

/// One multiply–add step of a forward tile: the 16 weights at b times element `at` of each of
/// the MR rows, into 2·MR accumulators.
DKC256 static inline __attribute__((always_inline))
void multiply_add_step(__m256 *acc, const float *b, const float *const *rows, long at, const int MR) {
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
    DK_UNROLL for (int i = 0; i < MR; i++) {
        const __m256 av = _mm256_broadcast_ss(rows[i] + at);
        acc[i * 2] = _mm256_fmadd_ps(av, b0, acc[i * 2]);
        acc[i * 2 + 1] = _mm256_fmadd_ps(av, b1, acc[i * 2 + 1]);
    }
}

/// MR valid output positions from q × 16 output channels from `co`, over segments [s0, s1): the
/// first block starts from the bias, later ones from y (K blocking, see conv_avx512.c).
///
/// SEG > 0 is a first layer's tile (SEG = kw·cin and CIN = cin as constants; unit stride, output
/// not scattered) whose MR positions lie on one output line: its rows are one pointer with
/// constant steps of CIN, its outputs one offset with steps of cout. The general tile computes MR
/// row and output offsets per tile, which for a first layer (27 multiply–add steps per tile)
/// left a third of the forward pass's time outside the multiply–add loop (`perf annotate`,
/// Emerald Rapids): the one-line form went from 60 to 68–70 GFLOP/s on one thread (3 → 32 at
/// 128², Haswell sgemm 82). The line-crossing tiles (one in 21 at 128²) stay general. Same sums,
/// same order, same bits. Its loop over the SEG steps stays rolled: unrolled, clang hoisted the
/// weight loads (the same in every tile) out of the loop over tiles and spilled the accumulators.
///
/// PARTS: the input in two parts (dk_conv_geometry.xb), each tap's channels read from the first,
/// then from the second: the joined input's order.
DKC256 static inline __attribute__((always_inline))
void forward_tile(const dk_conv_geometry *g, const float *xp, const float *w, const float *bias, float *y,
                  long q, dk_conv_position at, long end, int co, long column, int s0, int s1,
                  dk_conv_segment_cursor segment, const int MR, const int SEG, const int CIN, const int PARTS) {
    __m256 acc[12];
    const long seg = SEG > 0 ? SEG : (long)g->kw * g->cin, cin = CIN > 0 ? CIN : g->cin;
    // The 16 channels from co are one vector of a scattered output's column layout (C is a multiple of 16).
    long out[6];
    if (SEG > 0) {
        dk_conv_output_offsets(g, at, q, end, out, 1);
        DK_UNROLL for (int i = 1; i < MR; i++) out[i] = out[0] + i * dk_conv_position_channels(g);
    } else {
        dk_conv_output_offsets(g, at, q, end, out, MR);
    }
    DK_UNROLL for (int i = 0; i < MR; i++)
        DK_UNROLL for (int j = 0; j < 2; j++)
            acc[i * 2 + j] = s0 > 0 ? (q + i < end ? _mm256_loadu_ps(y + out[i] + column + 8 * j) : _mm256_setzero_ps())
                           : bias ? _mm256_loadu_ps(bias + co + 8 * j) : _mm256_setzero_ps();
    // Each position's row: in the input (one pointer for a first layer's one-line tile), or with
    // two parts (dk_conv_geometry.xb) in each part.
    const float *rows[6], *part_rows[2][6];
    const dk_conv_parts parts = dk_conv_input_parts(g, xp);
    if (PARTS) {
        dk_conv_part_rows(g, parts, at, q, end, part_rows[0], part_rows[1], MR);
    } else {
        long offsets[6];
        dk_conv_tile_offsets(g, at, q, end, offsets, SEG > 0 ? 1 : MR);
        DK_UNROLL for (int i = 0; i < MR; i++) rows[i] = SEG > 0 ? xp + offsets[0] + i * cin : xp + offsets[i];
    }
    long width;
    const float *block = dk_conv_packed_block(g, w, co, &width);
    for (int s = s0; s < s1; s++, dk_conv_next_segment(g, &segment)) {
        const long offset = segment.offset;
        const float *b = block + s * seg * width;
        if (PARTS) {
            // The joined input's order: per tap, the first part's channels, then the second's.
            const long cells = dk_conv_segment_cells(g, s);
            for (long kx = 0; kx < g->kw; kx++)
                for (int part = 0; part < 2; part++) {
                    const long pc = parts.channels[part], row = kx * cin + parts.first[part];
                    for (long ci = 0; ci < pc; ci++)
                        multiply_add_step(acc, b + (row + ci) * width, part_rows[part], (cells + kx) * pc + ci, MR);
                }
            continue;
        }
        if (SEG > 0) {
            _Pragma("clang loop unroll(disable)") for (int k = 0; k < SEG; k++)
                multiply_add_step(acc, b + k * width, rows, offset + k, MR);
        } else {
            // Two steps per iteration: on a Zen 3 the loop's own three instructions per step had
            // held 128 → 128 at 32² to 84–87 % of the FMA peak and 256 → 256 at 16² to 77–82 %
            // (Scripts/conv_costs.c, one core); unrolled by 2, 90–92 % and 86–91 % (by 4, no
            // better). The same steps in the same order: the same bits.
            _Pragma("clang loop unroll_count(2)") for (long k = 0; k < seg; k++)
                multiply_add_step(acc, b + k * width, rows, offset + k, MR);
        }
    }
    // ReLU in the output pass, after the last K block only: a max with a floor of 0, or of −∞
    // (every value, NaN included, unchanged), as in conv_avx512.c's store_grid_tile; then with
    // g->round_output the bfloat16 rounding, kept as a Float (as conv_avx512.c's output_value).
    const int last = s1 == g->kd * g->kh;
    const __m256 floor = g->relu && last ? _mm256_setzero_ps() : _mm256_set1_ps(-__builtin_inff());
    const int rounds = last && g->round_output;
    const int valid = q + MR <= end ? MR : (int)(end - q);
    // Guarded rather than left early: with a break, clang could not unroll the loop (a warning).
    DK_UNROLL for (int i = 0; i < MR; i++)
        if (i < valid)
            DK_UNROLL for (int j = 0; j < 2; j++) {
                const __m256 v = _mm256_max_ps(floor, acc[i * 2 + j]);
                _mm256_storeu_ps(y + out[i] + column + 8 * j, rounds ? round_bf16(v) : v);
            }
}

DKC256 void dk_conv_forward_avx2(const dk_conv_geometry *g, const float *xp, const float *w, const float *bias,
                                 float *y, long q0, long q1) {
    const long segment_bytes = (long)g->kw * g->cin * 16 * 4;
    const int segments = g->kd * g->kh;
    const int per_block = dk_conv_segments_per_block(g, segment_bytes);
    // A first layer 3 wide on 3 channels (kw·cin = 9) or 1 channel (3) takes the one-line tiles.
    const int first_layer =
        dk_conv_unit_stride(g) && !dk_conv_scatters(g) && g->kw == 3 && (g->cin == 3 || g->cin == 1) ? 3 * g->cin : 0;
    for (int s0 = 0; s0 < segments; s0 += per_block) {
        const int s1 = s0 + per_block < segments ? s0 + per_block : segments;
        const dk_conv_segment_cursor first = dk_conv_segment_start(g, s0);
        for (int co = 0; co < g->cout; co += 16) {
            dk_conv_position at = dk_conv_position_of(g, q0);
            // Once per 16 channels, not per tile: a scattered output's takes several divisions.
            const long column = dk_conv_output_column(g, co);
            for (long q = q0; q < q1; q += 6, dk_conv_position_advance(g, &at, 6)) {
                const int line = first_layer > 0 && at.x + 6 <= g->ow && q + 6 <= q1;
                if (g->xb) {
                    forward_tile(g, xp, w, bias, y, q, at, q1, co, column, s0, s1, first, 6, 0, 0, 1);
                } else if (line && first_layer == 9) {
                    forward_tile(g, xp, w, bias, y, q, at, q1, co, column, s0, s1, first, 6, 9, 3, 0);
                } else if (line && first_layer == 3) {
                    forward_tile(g, xp, w, bias, y, q, at, q1, co, column, s0, s1, first, 6, 3, 1, 0);
                } else {
                    forward_tile(g, xp, w, bias, y, q, at, q1, co, column, s0, s1, first, 6, 0, 0, 0);
                }
            }
        }
    }
}

/// dw rows [r0, r0 + KR) of the kernel × 16 output channels from `co`, over output lines
/// [l0, l1) of one sample, its output gradient read through `dy`, its input's positions `xs`
/// floats apart; each row addressed on its own when SPANS (as weight_tile in conv_avx512.c).
DKC256 static inline __attribute__((always_inline))
void weight_tile(const dk_conv_geometry *g, const float *xp, long xs, dk_conv_dy_view dy, float *dw,
                 long r0, int co, long l0, long l1, const int KR, const int SPANS) {
    const long cout = g->cout, step = dk_conv_stride_w(g) * xs;
    float *row = dw + r0 * cout + co;
    __m256 acc[12];
    DK_UNROLL for (int r = 0; r < KR; r++) {
        acc[r * 2] = _mm256_loadu_ps(row + r * cout);
        acc[r * 2 + 1] = _mm256_loadu_ps(row + r * cout + 8);
    }
    long offset[6];
    dk_conv_weight_row_offsets(g, xs, r0, KR, SPANS, offset);
    for (long l = l0; l < l1; l++) {
        const float *a = dk_conv_weight_line(g, xp, xs, l), *d = dk_conv_dy_line(g, dy, l, co);
        for (long x = 0; x < g->ow; x++) {
            const __m256 d0 = _mm256_loadu_ps(d + x * dy.stride), d1 = _mm256_loadu_ps(d + x * dy.stride + 8);
            _mm_prefetch((const char *)(d + (x + DK_CONV_PREFETCH_POSITIONS) * dy.stride), _MM_HINT_T0);
            _mm_prefetch((const char *)(a + (x + DK_CONV_PREFETCH_POSITIONS) * step + offset[0]), _MM_HINT_T0);
            DK_UNROLL for (int r = 0; r < KR; r++) {
                const __m256 av = _mm256_broadcast_ss(a + x * step + offset[r]);
                acc[r * 2] = _mm256_fmadd_ps(av, d0, acc[r * 2]);
                acc[r * 2 + 1] = _mm256_fmadd_ps(av, d1, acc[r * 2 + 1]);
            }
        }
    }
    DK_UNROLL for (int r = 0; r < KR; r++) {
        _mm256_storeu_ps(row + r * cout, acc[r * 2]);
        _mm256_storeu_ps(row + r * cout + 8, acc[r * 2 + 1]);
    }
}

#define DK_WEIGHT_RUN(KR)                                                                     \
    for (long k = 0; k < seg; k += KR) {                                                      \
        if (dk_conv_weight_tile_spans(g, xs, k, KR))                                          \
            weight_tile(g, xp, xs, dy, dw, s * seg + k, co, l0, l1, KR, 1);                   \
        else                                                                                  \
            weight_tile(g, xp, xs, dy, dw, s * seg + k, co, l0, l1, KR, 0);                   \
    }

DKC256 void dk_conv_weight_grad_avx2(const dk_conv_geometry *g, const float *xp, long xs, dk_conv_dy_view dy,
                                     float *dw, long l0, long l1, int s0, int s1, int co0, int co1) {
    const long seg = (long)g->kw * g->cin;
    // Segment lengths are multiples of 16 (of 48 with a 3-wide kernel), or of 3 for a first
    // layer on 1 or 3 channels: then tiles of 6 rows span segments (tiles of 3 rows had 6
    // accumulators and waited on the FMA latency), with one of 3 for an odd rest.
    const int kr = seg % 6 == 0 ? 6 : seg % 4 == 0 ? 4 : 3;
    for (int co = co0; co < co1; co += 16) {
        if (kr == 3) {
            long r = s0 * seg;
            for (; r + 6 <= s1 * seg; r += 6) weight_tile(g, xp, xs, dy, dw, r, co, l0, l1, 6, 1);
            for (; r < s1 * seg; r += 3) weight_tile(g, xp, xs, dy, dw, r, co, l0, l1, 3, 1);
            continue;
        }
        for (int s = s0; s < s1; s++) {
            if (kr == 6) { DK_WEIGHT_RUN(6) } else { DK_WEIGHT_RUN(4) }
        }
    }
}

#endif // defined(__x86_64__)
