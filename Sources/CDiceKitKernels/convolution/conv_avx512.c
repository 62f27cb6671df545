// Direct convolution kernels (AVX-512, Float; the AVX2 variant is conv_avx2.c, chosen
// by the entry points at the end of this file): stride 1, no dilation, one group, output channels
// a multiple of 16 and input channels a multiple of 16 (or kw·cin a multiple of 3, for a first
// layer on 1 or 3 channels), on a zero-padded channels-last sample. They replace im2col + GEMM
// where the lowered GEMM is narrow (16–64 output channels) and the copy into the lowered matrix
// costs as much as the multiply; see Docs/Convolution.md, "Direct kernels". On CPUs other than
// x86-64 only the packing (dk_conv_pack_weights) is built: the entry points are unreachable
// there (dk_no_vector_kernel), as the Swift layer takes the lowered path.
//
// The padded-grid trick: output position (z, y, x) is computed at grid position
// o = (z·hp + y)·wp + x of the padded input, so kernel tap (kz, ky, kx) and input channel ci read
// xp[(o + (kz·hp + ky)·wp + kx)·cin + ci]. For fixed (kz, ky) — a "segment" — the taps kx and
// channels ci of consecutive positions are consecutive floats, and so are the weight rows
// ((kz·kh + ky)·kw + kx)·cin + ci of the DiceKit kernel layout [kd, kh, kw, cin, cout]. Every
// position of the grid is thus one row of a GEMM whose rows are regularly spaced in memory: a
// register tile of MR positions × NV·16 output channels accumulates kd·kh segments of kw·cin
// broadcast-FMAs. With 16 or 32 output channels the tiles are 24 or 12 consecutive grid
// positions, one row pointer for all, and grid positions with x ≥ ow or y ≥ oh are computed and
// not stored (kw − 1 columns per row: 2 of 130 at 128²). With ≥ 48 output channels (small
// images in a U-Net) the tiles are 6–12 consecutive valid positions with a pointer each, so
// nothing is computed twice (a fifth of the grid at 8²). A geometry with per_position set (a
// border strip one column wide, or chunks whose grid tiles would read past the input) takes
// the per-position tiles at 16 and 32 channels too, summing in the grid tiles' order.
//
// The forward pass reads the kernel packed by dk_conv_pack_weights (64-channel blocks, each
// block's rows contiguous and 64-byte aligned): a K block of it is contiguous, so the prefetchers
// stream it from L2 and no cache's associativity matters, where the rows of a wide kernel, cout
// floats apart, fell into a fraction of the sets (Docs/Convolution.md, "Direct kernels").
//
// A forward pass may read its input as two parts (dk_conv_geometry.xb: a channel concatenation
// read in place): every tile then takes each tap's channels from the first part, then from the
// second, the joined input's order (PARTS: a second instance of each tile, so that the one-part
// tiles are compiled as before).
//
// The weight gradient walks the valid output positions line by line: a tile of KR weight rows
// (within one segment, or across a first layer's 3- and 9-row segments) × NV·16 output channels
// accumulates xp-row broadcasts times dy vectors.

#include "dk_convolution.h"
#include "dk_dispatch.h"
#include "conv_internal.h"
#include "bf16_round.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#define DKC512 __attribute__((target("avx512f,avx512bw,avx512dq,fma")))
#define DK_UNROLL _Pragma("clang loop unroll(full)")

/// A value as stored: max(floor, v) (floor 0 for a ReLU, −∞ without: store_grid_tile), and with
/// ROUND its bfloat16 rounding kept as a Float (the upper half of dk_bf16_round_bits, the same
/// value as dk_f32_round_bf16 of the Float store): an output that the next convolution reads
/// only through its rounding (rounded operands, BFloat16RoundedOperands.swift) is then read as
/// it is, with no rounded copy.
DKC512 static inline __attribute__((always_inline)) __m512 output_value(__m512 floor, __m512 v, const int ROUND) {
    v = _mm512_max_ps(floor, v);
    if (!ROUND) return v;
    const __m512i high = _mm512_set1_epi32((int)0xFFFF0000u);
    return _mm512_castsi512_ps(_mm512_and_si512(dk_bf16_round_bits(_mm512_castps_si512(v)), high));
}

DKC512 static inline __attribute__((always_inline))
void store_grid_tile_as(const dk_conv_geometry *g, const __m512 *acc, float *y, long o, long end, int co, const int MR,
                        const int NV, const int ROUND) {
    const __m512 floor = g->relu ? _mm512_setzero_ps() : _mm512_set1_ps(-__builtin_inff());
    const long plane = g->hp * g->wp, r0 = o % plane, pc = dk_conv_position_channels(g), ow = g->ow, oh = g->oh;
    const long yw = dk_conv_output_width(g), yh = dk_conv_output_height(g);
    long z = o / plane, yy = r0 / g->wp, x = r0 % g->wp, column[2];
    DK_UNROLL for (int j = 0; j < NV; j++) column[j] = dk_conv_part_column(g, co + 16 * j);
    float *line = y + (z * yh + yy) * yw * pc;
    if (o + MR <= end && yy < oh && x + MR <= ow) {
        DK_UNROLL for (int i = 0; i < MR; i++)
            DK_UNROLL for (int j = 0; j < NV; j++)
                _mm512_storeu_ps(line + (x + i) * pc + column[j], output_value(floor, acc[i * NV + j], ROUND));
        return;
    }
    DK_UNROLL for (int i = 0; i < MR; i++) {
        if (o + i < end && yy < oh && x < ow) {
            float *dst = y + ((z * yh + yy) * yw + x) * pc;
            DK_UNROLL for (int j = 0; j < NV; j++)
                _mm512_storeu_ps(dst + column[j], output_value(floor, acc[i * NV + j], ROUND));
        }
        dk_conv_step(&z, &yy, &x, g->wp, g->hp);
    }
}

/// Stores a grid tile's MR × NV accumulators (positions o, o + 1, … of the padded grid, output
/// channels from `co`, each 16 to their part in an output of two parts: dk_conv_part_column),
/// skipping grid positions outside the output and at or past `end`, with max(0, ·) when g->relu. A
/// tile inside one output line (most of them: 10 of the 11 tiles of 12 positions on a 130-wide grid
/// line) stores its rows one after the other without a test; otherwise the grid coordinates of o,
/// then a branch-free step per position (two divisions per tile, not per position). The ReLU is a
/// max with a floor of 0, or of −∞ without it (which returns every value, NaN included, as it is):
/// no branch per vector. The per-position tests and the reloads of g they caused (all 32 vector
/// registers busy) took a fifth of a first layer's forward time on Emerald Rapids.
/// With g->round_output each value stored is its bfloat16 rounding, kept as a Float (output_value).
DKC512 static inline __attribute__((always_inline))
void store_grid_tile(const dk_conv_geometry *g, const __m512 *acc, float *y, long o, long end, int co, const int MR,
                     const int NV) {
    if (g->round_output) {
        store_grid_tile_as(g, acc, y, o, end, co, MR, NV, 1);
    } else {
        store_grid_tile_as(g, acc, y, o, end, co, MR, NV, 0);
    }
}

/// One multiply–add step of a grid tile: acc[i][j] += a[i·stride] · brow[16·j ..] for MR
/// positions `stride` floats apart.
DKC512 static inline __attribute__((always_inline))
void grid_step(__m512 *acc, const float *brow, const float *a, long stride, const int MR, const int NV) {
    __m512 bv[4];
    DK_UNROLL for (int j = 0; j < NV; j++) bv[j] = _mm512_loadu_ps(brow + 16 * j);
    DK_UNROLL for (int i = 0; i < MR; i++) {
        const __m512 av = _mm512_set1_ps(a[i * stride]);
        DK_UNROLL for (int j = 0; j < NV; j++) acc[i * NV + j] = _mm512_fmadd_ps(av, bv[j], acc[i * NV + j]);
    }
}

/// MR grid positions from `o` × NV·16 output channels from `co`, over every segment (cout ≤ 32:
/// the packed kernel is the plain one). With PARTS (dk_conv_geometry.xb), each tap's channels
/// are read from the two parts in turn: the joined input's order.
DKC512 static inline __attribute__((always_inline))
void forward_tile(const dk_conv_geometry *g, const float *xp, const float *w, const float *bias, float *y,
                  long o, long end, int co, const int MR, const int NV, const int PARTS) {
    __m512 acc[28];
    DK_UNROLL for (int i = 0; i < MR; i++)
        DK_UNROLL for (int j = 0; j < NV; j++)
            acc[i * NV + j] = bias ? _mm512_loadu_ps(bias + co + 16 * j) : _mm512_setzero_ps();
    const long seg = (long)g->kw * g->cin, cin = g->cin, cout = g->cout;
    const int segments = g->kd * g->kh;
    const dk_conv_parts parts = dk_conv_input_parts(g, xp);
    for (int s = 0; s < segments; s++) {
        const float *b = w + s * seg * cout + co;
        if (!PARTS) {
            const float *a = xp + o * cin + dk_conv_segment_offset(g, s);
            for (long k = 0; k < seg; k++) grid_step(acc, b + k * cout, a + k, cin, MR, NV);
            continue;
        }
        const long cells = o + dk_conv_segment_cells(g, s);
        for (long kx = 0; kx < g->kw; kx++)
            for (int part = 0; part < 2; part++) {
                const long pc = parts.channels[part], row = kx * cin + parts.first[part];
                const float *a = parts.base[part] + (cells + kx) * pc;
                for (long ci = 0; ci < pc; ci++) grid_step(acc, b + (row + ci) * cout, a + ci, pc, MR, NV);
            }
    }
    store_grid_tile(g, acc, y, o, end, co, MR, NV);
}

/// The three-tap steps of forward_tile_taps for `count` input channels, read `stride` floats
/// apart per grid position from `a` (the input, or one of its two parts): channel ci's kernel row
/// for tap kx at b + (kx·cin + ci)·cout (`b`: the segment's row of the part's first channel).
DKC512 static inline __attribute__((always_inline))
void taps_steps(__m512 *acc, const float *a, long stride, long count, const float *b, long cin, long cout,
                const int MR, const int NV) {
    for (long ci = 0; ci < count; ci++) {
        __m512 bv[3][2];
        DK_UNROLL for (int kx = 0; kx < 3; kx++)
            DK_UNROLL for (int j = 0; j < NV; j++) bv[kx][j] = _mm512_loadu_ps(b + (kx * cin + ci) * cout + 16 * j);
        DK_UNROLL for (int p = 0; p < MR + 2; p++) {
            const __m512 av = _mm512_set1_ps(a[p * stride + ci]);
            DK_UNROLL for (int kx = 0; kx < 3; kx++) {
                if (p - kx < 0 || p - kx >= MR) continue;
                DK_UNROLL for (int j = 0; j < NV; j++)
                    acc[(p - kx) * NV + j] = _mm512_fmadd_ps(av, bv[kx][j], acc[(p - kx) * NV + j]);
            }
        }
    }
}

/// forward_tile for a kernel 3 wide, all output channels (16 or 32): each broadcast input value
/// serves the three taps that read it. In a segment, position i's tap kx reads grid position
/// i + kx, so the value at grid position p (channel ci) multiplies kernel row kx·cin + ci into
/// accumulator p − kx for kx = 0, 1, 2. Per input channel: 3·NV weight loads and MR + 2
/// broadcasts for 3·MR·NV multiply–adds, where forward_tile needs a broadcast per MR·NV·… of
/// them (at 16 output channels, one load per multiply–add: the load ports, not the FMA units,
/// set its pace). Each accumulator adds its terms by segment, input channel, then tap.
DKC512 static inline __attribute__((always_inline))
void forward_tile_taps(const dk_conv_geometry *g, const float *xp, const float *w, const float *bias, float *y,
                       long o, long end, const int MR, const int NV, const int PARTS) {
    __m512 acc[24];
    DK_UNROLL for (int i = 0; i < MR; i++)
        DK_UNROLL for (int j = 0; j < NV; j++)
            acc[i * NV + j] = bias ? _mm512_loadu_ps(bias + 16 * j) : _mm512_setzero_ps();
    const long cin = g->cin, cout = g->cout;
    const int segments = g->kd * g->kh;
    const dk_conv_parts parts = dk_conv_input_parts(g, xp);
    for (int s = 0; s < segments; s++) {
        const float *b = w + s * 3 * cin * cout;
        if (!PARTS) {
            taps_steps(acc, xp + o * cin + dk_conv_segment_offset(g, s), cin, cin, b, cin, cout, MR, NV);
            continue;
        }
        // The joined input's channels in order: the first part's, then the second's.
        const long cells = o + dk_conv_segment_cells(g, s);
        for (int part = 0; part < 2; part++) {
            const long pc = parts.channels[part];
            taps_steps(acc, parts.base[part] + cells * pc, pc, pc, b + parts.first[part] * cout, cin, cout, MR, NV);
        }
    }
    store_grid_tile(g, acc, y, o, end, 0, MR, NV);
}

/// One multiply–add step of forward_tile_compact: acc[i][j] += rows[i][offset + k] · b[k][16·j ..],
/// kernel row k of the block (rows `width` floats apart), element k of a segment `offset` into
/// every position's row.
DKC512 static inline __attribute__((always_inline))
void compact_step(__m512 *acc, const float *b, long width, const float *const *rows, long offset, long k,
                  const int MR, const int NV) {
    __m512 bv[4];
    DK_UNROLL for (int j = 0; j < NV; j++) bv[j] = _mm512_loadu_ps(b + k * width + 16 * j);
    DK_UNROLL for (int i = 0; i < MR; i++) {
        const __m512 av = _mm512_set1_ps(rows[i][offset + k]);
        DK_UNROLL for (int j = 0; j < NV; j++) acc[i * NV + j] = _mm512_fmadd_ps(av, bv[j], acc[i * NV + j]);
    }
}

/// The multiply–add steps of forward_tile_compact over one segment of a two-part input
/// (dk_conv_geometry.xb), kernel rows [k0, k1) of it, in the joined input's order: per tap, the
/// first part's channels, then the second's (with TAPS, by joined channel, then tap). `rows`:
/// each part's row of each tile position (dk_conv_part_rows); `segment`: grid positions from a
/// position to its receptive field's first in this segment (dk_conv_segment_cells); `b`: the
/// segment's first kernel row.
DKC512 static inline __attribute__((always_inline))
void compact_parts(__m512 *acc, const dk_conv_geometry *g, dk_conv_parts parts, const float *(*rows)[12],
                   long segment, const float *b, long width, long k0, long k1, const int MR, const int NV,
                   const int TAPS) {
    const long cin = g->cin;
    if (TAPS) {
        for (int part = 0; part < 2; part++) {
            const long pc = parts.channels[part], c0 = parts.first[part];
            for (long ci = 0; ci < pc; ci++)
                DK_UNROLL for (int kx = 0; kx < 3; kx++)
                    compact_step(acc, b + (kx * cin + c0) * width, width, rows[part], (segment + kx) * pc, ci, MR, NV);
        }
        return;
    }
    for (long kx = 0; kx < g->kw; kx++)
        for (int part = 0; part < 2; part++) {
            const long pc = parts.channels[part], row = kx * cin + parts.first[part];
            // This tap's channels of this part whose kernel rows lie in [k0, k1).
            const long from = k0 > row ? k0 - row : 0, to = k1 - row < pc ? k1 - row : pc;
            for (long ci = from; ci < to; ci++)
                compact_step(acc, b + row * width, width, rows[part], (segment + kx) * pc, ci, MR, NV);
        }
}

/// MR valid output positions from q × NV·16 output channels from `co` (`column`: their columns,
/// dk_conv_block_columns), with one row pointer per position: no grid padding is computed, which
/// pays at small widths (a fifth of the grid at 8²) and costs registers, so it serves the tiles of
/// ≥ 48 output channels (MR ≤ 12).
/// Segments s0..<s1, rows k0..<k1 of each, only: the first block starts from the bias, later ones
/// from y (K blocking, so that the block of weights the tiles share stays in L2). Blocking does
/// not change the result: the accumulators are Float either way, in the same k order.
/// With TAPS (a kernel 3 wide, whole segments), the terms of a segment are added by input channel,
/// then tap, the order of forward_tile_taps: a pass on per-position tiles (dk_conv_geometry.
/// per_position) then gives the bits of the grid tiles.
DKC512 static inline __attribute__((always_inline))
void forward_tile_compact(const dk_conv_geometry *g, const float *xp, const float *w, const float *bias, float *y,
                          long q, dk_conv_position at, long end, int co, const long *column, int s0, int s1,
                          dk_conv_segment_cursor segment, long k0, long k1, const int MR, const int NV, const int TAPS,
                          const int PARTS) {
    __m512 acc[28];
    const long seg = (long)g->kw * g->cin, cin = g->cin;
    long out[12];
    dk_conv_output_offsets(g, at, q, end, out, MR);
    DK_UNROLL for (int i = 0; i < MR; i++)
        DK_UNROLL for (int j = 0; j < NV; j++)
            acc[i * NV + j] = s0 > 0 || k0 > 0 ? (q + i < end ? _mm512_loadu_ps(y + out[i] + column[j]) : _mm512_setzero_ps())
                            : bias ? _mm512_loadu_ps(bias + co + 16 * j) : _mm512_setzero_ps();
    // Each position's row: in the input, or with two parts in each part.
    const float *rows[12], *part_rows[2][12];
    const dk_conv_parts parts = dk_conv_input_parts(g, xp);
    if (PARTS) {
        dk_conv_part_rows(g, parts, at, q, end, part_rows[0], part_rows[1], MR);
    } else {
        long offsets[12];
        dk_conv_tile_offsets(g, at, q, end, offsets, MR);
        DK_UNROLL for (int i = 0; i < MR; i++) rows[i] = xp + offsets[i];
    }
    long width;
    const float *block = dk_conv_packed_block(g, w, co, &width);
    for (int s = s0; s < s1; s++, dk_conv_next_segment(g, &segment)) {
        const long offset = segment.offset;
        const float *b = block + s * seg * width;
        if (PARTS) {
            compact_parts(acc, g, parts, part_rows, dk_conv_segment_cells(g, s), b, width,
                          k0, k1, MR, NV, TAPS);
            continue;
        }
        if (TAPS) {
            for (long ci = 0; ci < cin; ci++)
                DK_UNROLL for (int kx = 0; kx < 3; kx++) compact_step(acc, b, width, rows, offset, kx * cin + ci, MR, NV);
            continue;
        }
        for (long k = k0; k < k1; k++) compact_step(acc, b, width, rows, offset, k, MR, NV);
    }
    // ReLU and rounding in the output pass: after the last K block only.
    const int last = s1 == g->kd * g->kh && k1 == seg;
    const __m512 floor = last && g->relu ? _mm512_setzero_ps() : _mm512_set1_ps(-__builtin_inff());
    if (last && g->round_output) {
        DK_UNROLL for (int i = 0; i < MR; i++) {
            if (q + i >= end) break;
            DK_UNROLL for (int j = 0; j < NV; j++) _mm512_storeu_ps(y + out[i] + column[j], output_value(floor, acc[i * NV + j], 1));
        }
        return;
    }
    DK_UNROLL for (int i = 0; i < MR; i++) {
        if (q + i >= end) break;
        DK_UNROLL for (int j = 0; j < NV; j++) _mm512_storeu_ps(y + out[i] + column[j], output_value(floor, acc[i * NV + j], 0));
    }
}

#define DK_FORWARD_GRID(MR, NV) \
    for (long o = p0; o < p1; o += MR) forward_tile(g, xp, w, bias, y, o, p1, co, MR, NV, PARTS);
#define DK_FORWARD_TAPS(MR, NV) \
    for (long o = p0; o < p1; o += MR) forward_tile_taps(g, xp, w, bias, y, o, p1, MR, NV, PARTS);
#define DK_FORWARD_COMPACT(MR, NV, TAPS)                                                 \
    for (long q = q0; q < q1; q += MR, dk_conv_position_advance(g, &at, MR))              \
        forward_tile_compact(g, xp, w, bias, y, q, at, q1, co, columns, s0, s1, first, k0, k1, MR, NV, TAPS, PARTS);

/// The forward pass on the tiles for one input (PARTS 0) or two (PARTS 1, dk_conv_geometry.xb).
DKC512 static inline __attribute__((always_inline))
void forward_avx512_parts(const dk_conv_geometry *g, const float *xp, const float *w, const float *bias, float *y,
                          long q0, long q1, const int PARTS) {
    if (g->cout < 48 && dk_conv_unit_stride(g) && !dk_conv_scatters(g)) {
        const int co = 0;
        if (g->per_position) {
            // 16 or 32 output channels on per-position tiles, whole segments in the grid tiles' order.
            const int s0 = 0, s1 = g->kd * g->kh;
            const long k0 = 0, k1 = (long)g->kw * g->cin;
            const dk_conv_segment_cursor first = dk_conv_segment_start(g, 0);
            dk_conv_position at = dk_conv_position_of(g, q0);
            long columns[4];
            dk_conv_block_columns(g, co, columns);
            if (g->kw == 3) {
                if (g->cout == 16) { DK_FORWARD_COMPACT(12, 1, 1) } else { DK_FORWARD_COMPACT(12, 2, 1) }
            } else if (g->cout == 16) { DK_FORWARD_COMPACT(12, 1, 0) } else { DK_FORWARD_COMPACT(12, 2, 0) }
            return;
        }
        // 16 or 32 output channels: tall tiles over the grid positions spanning q0..<q1.
        const long p0 = dk_conv_grid_position(g, q0), p1 = dk_conv_grid_position(g, q1 - 1) + 1;
        if (g->kw == 3) {
            if (g->cout == 16) { DK_FORWARD_TAPS(24, 1) } else { DK_FORWARD_TAPS(12, 2) }
        } else if (g->cout == 16) { DK_FORWARD_GRID(24, 1) } else { DK_FORWARD_GRID(12, 2) }
        return;
    }
    // K blocks with at most g->weight_block bytes of a 64-channel weight block each: whole
    // segments when one fits, else rows k0..<k1 of one segment at a time (a multiple of 16 rows).
    const long seg = (long)g->kw * g->cin, segment_bytes = seg * 64 * 4;
    const int segments = g->kd * g->kh, per_block = dk_conv_segments_per_block(g, segment_bytes);
    const long budget_rows = dk_conv_weight_block(g) / (64 * 4) / 16 * 16;
    const long rows = segment_bytes <= dk_conv_weight_block(g) || budget_rows < 16 ? seg : budget_rows;
    for (int co = 0; co < g->cout; co += 64) {
        long columns[4];
        dk_conv_block_columns(g, co, columns);
        for (int s0 = 0; s0 < segments; s0 += per_block) {
            const int s1 = s0 + per_block < segments ? s0 + per_block : segments;
            const dk_conv_segment_cursor first = dk_conv_segment_start(g, s0);
            for (long k0 = 0; k0 < seg; k0 += rows) {
                const long k1 = k0 + rows < seg ? k0 + rows : seg;
                dk_conv_position at = dk_conv_position_of(g, q0);
                switch ((g->cout - co) >= 64 ? 4 : (g->cout - co) / 16) {
                case 1: DK_FORWARD_COMPACT(12, 1, 0) break;
                case 2: DK_FORWARD_COMPACT(12, 2, 0) break;
                case 3: DK_FORWARD_COMPACT(8, 3, 0) break;
                default: DK_FORWARD_COMPACT(6, 4, 0) break;
                }
            }
        }
    }
}

DKC512 static void forward_avx512(const dk_conv_geometry *g, const float *xp, const float *w, const float *bias,
                                  float *y, long q0, long q1) {
    if (g->xb) {
        forward_avx512_parts(g, xp, w, bias, y, q0, q1, 1);
    } else {
        forward_avx512_parts(g, xp, w, bias, y, q0, q1, 0);
    }
}
#endif

void dk_conv_pack_weight_rows(const dk_conv_geometry *g, const float *w, float *packed, long r0, long r1) {
    const long rows = (long)g->kd * g->kh * g->kw * g->cin;
    for (int co = 0; co < g->cout; co += DK_CONV_CHANNEL_BLOCK) {
        const int width = g->cout - co < DK_CONV_CHANNEL_BLOCK ? g->cout - co : DK_CONV_CHANNEL_BLOCK;
        float *block = packed + co * rows;
        for (long r = r0; r < r1; r++) memcpy(block + r * width, w + r * g->cout + co, (size_t)width * sizeof(float));
    }
}

void dk_conv_pack_weights(const dk_conv_geometry *g, const float *w, float *packed) {
    dk_conv_pack_weight_rows(g, w, packed, 0, (long)g->kd * g->kh * g->kw * g->cin);
}

#if defined(__x86_64__)
void dk_conv_forward_f32(const dk_conv_geometry *g, const float *xp, const float *w, const float *bias,
                         float *y, long q0, long q1) {
    if (dk_isa() == DK_ISA_AVX512) {
        dk_note_isa(DK_KERNEL_CONV, DK_ISA_AVX512);
        if (q1 > q0) forward_avx512(g, xp, w, bias, y, q0, q1);
    } else {
        dk_note_isa(DK_KERNEL_CONV, DK_ISA_AVX2);
        if (q1 > q0) dk_conv_forward_avx2(g, xp, w, bias, y, q0, q1);
    }
}

/// dw rows [r0, r0 + KR) of the kernel × NV·16 output channels from `co`, accumulated over the
/// output lines [l0, l1) (line l = z·oh + y) of one sample, its output gradient read through `dy`,
/// its input's positions `xs` floats apart. The rows are consecutive in the input unless SPANS;
/// with SPANS (a first layer's segments are 3 or 9 rows, so that a tile can hold enough
/// accumulators; a spread input's tiles that cross a kernel column) each row is addressed on its own.
DKC512 static inline __attribute__((always_inline))
void weight_tile(const dk_conv_geometry *g, const float *xp, long xs, dk_conv_dy_view dy, float *dw,
                 long r0, int co, long l0, long l1, const int KR, const int NV, const int SPANS) {
    const long cout = g->cout, step = dk_conv_stride_w(g) * xs;
    float *row = dw + r0 * cout + co;
    __m512 acc[24];
    DK_UNROLL for (int r = 0; r < KR; r++)
        DK_UNROLL for (int j = 0; j < NV; j++) acc[r * NV + j] = _mm512_loadu_ps(row + r * cout + 16 * j);
    long offset[24];
    dk_conv_weight_row_offsets(g, xs, r0, KR, SPANS, offset);
    for (long l = l0; l < l1; l++) {
        const float *a = dk_conv_weight_line(g, xp, xs, l), *d = dk_conv_dy_line(g, dy, l, co);
        for (long x = 0; x < g->ow; x++) {
            __m512 dv[4];
            DK_UNROLL for (int j = 0; j < NV; j++) dv[j] = _mm512_loadu_ps(d + x * dy.stride + 16 * j);
            // The vectors and the input row of a position DK_CONV_PREFETCH_POSITIONS ahead.
            const long ahead = x + DK_CONV_PREFETCH_POSITIONS;
            DK_UNROLL for (int j = 0; j < NV; j++) _mm_prefetch((const char *)(d + ahead * dy.stride + 16 * j), _MM_HINT_T0);
            _mm_prefetch((const char *)(a + ahead * step + offset[0]), _MM_HINT_T0);
            DK_UNROLL for (int r = 0; r < KR; r++) {
                const __m512 av = _mm512_set1_ps(a[x * step + offset[r]]);
                DK_UNROLL for (int j = 0; j < NV; j++) acc[r * NV + j] = _mm512_fmadd_ps(av, dv[j], acc[r * NV + j]);
            }
        }
    }
    DK_UNROLL for (int r = 0; r < KR; r++)
        DK_UNROLL for (int j = 0; j < NV; j++) _mm512_storeu_ps(row + r * cout + 16 * j, acc[r * NV + j]);
}

#define DK_WEIGHT_RUN(KR, NV)                                                                         \
    for (long k = 0; k < seg; k += KR) {                                                              \
        if (dk_conv_weight_tile_spans(g, xs, k, KR))                                                  \
            weight_tile(g, xp, xs, dy, dw, s * seg + k, co, l0, l1, KR, NV, 1);                       \
        else                                                                                          \
            weight_tile(g, xp, xs, dy, dw, s * seg + k, co, l0, l1, KR, NV, 0);                       \
    }
#define DK_WEIGHT_SPAN(KR, NV)                                                                        \
    {                                                                                                 \
        long r = s0 * seg;                                                                            \
        for (; r + KR <= s1 * seg; r += KR) weight_tile(g, xp, xs, dy, dw, r, co, l0, l1, KR, NV, 1); \
        for (; r < s1 * seg; r += 3) weight_tile(g, xp, xs, dy, dw, r, co, l0, l1, 3, NV, 1);          \
    }

/// Segments [s0, s1) × output channels [co0, co1) (co0 a multiple of DK_CONV_CHANNEL_BLOCK) over
/// lines [l0, l1) of one sample, its output gradient read through `dy`, its input's positions
/// `xs` floats apart.
DKC512 static void weight_grad_avx512(const dk_conv_geometry *g, const float *xp, long xs, dk_conv_dy_view dy,
                                      float *dw, long l0, long l1, int s0, int s1, int co0, int co1) {
    const long seg = (long)g->kw * g->cin;
    // Segment lengths are multiples of 16 (the larger tiles need multiples of 48), or of 3 for
    // a first layer on 1 or 3 channels: then the tiles span segments (12, 9 or 6 rows, as many
    // accumulators as the wider tiles, where tiles of one 3-row segment had 3–12 and waited on
    // the FMA latency), with tiles of 3 rows for the rest.
    const int wide = seg % 48 == 0, tiny = seg % 16 != 0;
    for (int co = co0; co < co1; co += DK_CONV_CHANNEL_BLOCK) {
        const int nv = (co1 - co) >= DK_CONV_CHANNEL_BLOCK ? 4 : (co1 - co) / 16;
        if (tiny) {
            switch (nv) {
            case 1: DK_WEIGHT_SPAN(12, 1) break;
            case 2: DK_WEIGHT_SPAN(9, 2) break;
            case 3: DK_WEIGHT_SPAN(6, 3) break;
            default: DK_WEIGHT_SPAN(6, 4) break;
            }
            continue;
        }
        for (int s = s0; s < s1; s++) {
            switch (nv) {
            case 1: if (wide) { DK_WEIGHT_RUN(24, 1) } else { DK_WEIGHT_RUN(16, 1) } break;
            case 2: if (wide) { DK_WEIGHT_RUN(12, 2) } else { DK_WEIGHT_RUN(8, 2) } break;
            case 3: DK_WEIGHT_RUN(8, 3) break;
            default: if (wide) { DK_WEIGHT_RUN(6, 4) } else { DK_WEIGHT_RUN(4, 4) } break;
            }
        }
    }
}

void dk_conv_weight_grad_f32(const dk_conv_geometry *g, const float *xp, const float *dy, float *dw, long l0, long l1) {
    if (dk_isa() == DK_ISA_AVX512) {
        dk_note_isa(DK_KERNEL_CONV, DK_ISA_AVX512);
        weight_grad_avx512(g, xp, g->cin, (dk_conv_dy_view){dy, g->cout, 0, 0}, dw, l0, l1, 0, g->kd * g->kh, 0, g->cout);
    } else {
        dk_note_isa(DK_KERNEL_CONV, DK_ISA_AVX2);
        dk_conv_weight_grad_avx2(g, xp, g->cin, (dk_conv_dy_view){dy, g->cout, 0, 0}, dw, l0, l1, 0, g->kd * g->kh, 0, g->cout);
    }
}

long dk_conv_spread_position_floats(int cin) {
    // An odd number of 64-byte lines per position (dk_convolution.h).
    return dk_isa() == DK_ISA_AVX2 && cin % 32 == 0 ? cin + 16 : cin;
}

void dk_conv_weight_grad_block_f32(const dk_conv_geometry *g, const float *xp, long xp_stride, long xs,
                                   const float *dy, long samples, float *dw, int s0, int s1, int co0, int co1,
                                   long lines) {
    // Sample by sample and `lines` output lines at a time, every tile of the block: the
    // chunk's input and output-gradient rows stay in cache for all the block's tiles, where
    // streaming the whole batch per tile read them from memory once per tile. Each dw element
    // still sums its terms in (sample, line, x) order from the value it had, so the bits are
    // those of one pass over the batch.
    //
    // When the block is narrower than the output gradient's rows (128 or more channels), the
    // chunk's block of channels is first copied out, contiguous: in place, its rows sit cout·4
    // bytes apart (512 at 128 channels, every eighth set of L1), so a chunk of them filled a
    // fraction of L1's sets and was read from L2 by every tile (the 128 → 128 weight gradient at
    // 32² ran at 0.7 of the forward pass's rate).
    const long total = g->od * g->oh, step = lines > 0 && lines < total ? lines : total;
    const long dy_stride = total * g->ow * g->cout, width = co1 - co0;
    const int avx512 = dk_isa() == DK_ISA_AVX512, repack = width < g->cout;
    float *block = repack ? aligned_alloc(64, (size_t)((step * g->ow * width * 4 + 63) / 64 * 64)) : NULL;
    dk_note_isa(DK_KERNEL_CONV, avx512 ? DK_ISA_AVX512 : DK_ISA_AVX2);
    for (long n = 0; n < samples; n++) {
        for (long l0 = 0; l0 < total; l0 += step) {
            const long l1 = l0 + step < total ? l0 + step : total;
            const float *x = xp + n * xp_stride, *d = dy + n * dy_stride;
            dk_conv_dy_view view = {d, g->cout, 0, 0};
            if (block) {
                // The block's channels of lines [l0, l1).
                const long q0 = l0 * g->ow, positions = (l1 - l0) * g->ow;
                for (long q = 0; q < positions; q++)
                    memcpy(block + q * width, d + (q0 + q) * g->cout + co0, (size_t)width * sizeof(float));
                view = (dk_conv_dy_view){block, width, q0, co0};
            }
            if (avx512) {
                weight_grad_avx512(g, x, xs, view, dw, l0, l1, s0, s1, co0, co1);
            } else {
                dk_conv_weight_grad_avx2(g, x, xs, view, dw, l0, l1, s0, s1, co0, co1);
            }
        }
    }
    free(block);
}
#else
void dk_conv_forward_f32(const dk_conv_geometry *g, const float *xp, const float *w, const float *bias, float *y,
                         long q0, long q1) {
    dk_no_vector_kernel("dk_conv_forward_f32");
}

void dk_conv_weight_grad_f32(const dk_conv_geometry *g, const float *xp, const float *dy, float *dw, long l0, long l1) {
    dk_no_vector_kernel("dk_conv_weight_grad_f32");
}

long dk_conv_spread_position_floats(int cin) { return cin; }

void dk_conv_weight_grad_block_f32(const dk_conv_geometry *g, const float *xp, long xp_stride, long xs,
                                   const float *dy, long samples, float *dw, int s0, int s1, int co0, int co1,
                                   long lines) {
    dk_no_vector_kernel("dk_conv_weight_grad_block_f32");
}
#endif // defined(__x86_64__)
