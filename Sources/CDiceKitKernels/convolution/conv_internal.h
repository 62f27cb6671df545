// Shared by the direct convolution kernel files (conv_avx512.c for AVX-512, conv_avx2.c):
// the padded-grid addressing of conv_avx512.c's header comment, the K blocking rule, and the
// AVX2 entry points that conv_avx512.c dispatches to. Not part of the public header.
#ifndef DK_CONV_KERNELS_INTERNAL_H
#define DK_CONV_KERNELS_INTERNAL_H

#include "dk_convolution.h"
#include "dk_dispatch.h"
#include "bf16_round.h"

/// Element (tap t, input channel ci, output channel co) of a Float kernel in DiceKit's layout
/// [taps, cin, cout], or with `pytorch` in PyTorch's [cout, cin, taps] (the bfloat16 packers).
static inline float dk_kernel_element(const float *w, int pytorch, long taps, long cin, long cout, long t, long ci,
                                      long co) {
    return pytorch ? w[(co * cin + ci) * taps + t] : w[(t * cin + ci) * cout + co];
}

/// Output channels stored per output position in `y`: cout, or cout_a in an output of two parts
/// (dk_conv_geometry.cout_a), whose second part holds the other cout_a at the same offset plus
/// yb_offset.
static inline long dk_conv_position_channels(const dk_conv_geometry *g) { return g->cout_a ? g->cout_a : g->cout; }

/// The offset of output channels c … c + 15 (c a multiple of 16) from their position's offset
/// (p·dk_conv_position_channels): c, or in an output of two parts, for c ≥ cout_a, c − cout_a in
/// the second part, yb_offset further.
static inline long dk_conv_part_column(const dk_conv_geometry *g, long c) {
    return g->cout_a && c >= g->cout_a ? g->yb_offset + (c - g->cout_a) : c;
}

/// The element of `y` that receives output channels c … c + 15 (c a multiple of 16) of output
/// position p: p·cout + c, or in an output of two parts (g->cout_a) that of the part the channels
/// belong to (the bfloat16 dot-product and tile kernels' stores).
static inline long dk_conv_output_index(const dk_conv_geometry *g, long p, long c) {
    return p * dk_conv_position_channels(g) + dk_conv_part_column(g, c);
}

/// Grid positions from a padded sample's first to segment s = kz·kh + ky's first row.
static inline long dk_conv_segment_cells(const dk_conv_geometry *g, int s) {
    return ((long)(s / g->kh) * g->hp + s % g->kh) * g->wp;
}

/// Element offset (Float or bf16 elements) in the padded sample of segment s = kz·kh + ky.
static inline long dk_conv_segment_offset(const dk_conv_geometry *g, int s) {
    return dk_conv_segment_cells(g, s) * g->cin;
}

/// Segment s's offset in the padded sample (dk_conv_segment_offset) and its kernel row ky = s mod
/// kh, stepped to segment s + 1 by dk_conv_next_segment without a division. A tile's loop over
/// a first layer's segments (9 multiply–add steps each) spent a third of its time on the two
/// divisions per segment of dk_conv_segment_offset.
typedef struct {
    long offset;
    int ky;
} dk_conv_segment_cursor;

/// The cursor at segment s.
static inline dk_conv_segment_cursor dk_conv_segment_start(const dk_conv_geometry *g, int s) {
    return (dk_conv_segment_cursor){dk_conv_segment_offset(g, s), s % g->kh};
}

/// Moves `cursor` to the next segment: the next kernel row, or the first row of the next depth slice.
static inline __attribute__((always_inline)) void dk_conv_next_segment(const dk_conv_geometry *g,
                                                                       dk_conv_segment_cursor *cursor) {
    const long row = g->wp * g->cin;
    const int wrap = ++cursor->ky == g->kh;
    cursor->ky = wrap ? 0 : cursor->ky;
    cursor->offset += row + (wrap ? (g->hp - g->kh) * row : 0);
}

/// The parts a forward pass reads its input from: one (xp, cin floats per position), or two
/// (dk_conv_geometry.xb): base, channels per position, and first joined channel of each.
typedef struct {
    const float *base[2];
    long channels[2], first[2];
} dk_conv_parts;

/// The parts of `g`'s input, the first at `xp` (with one part, the second is empty).
static inline dk_conv_parts dk_conv_input_parts(const dk_conv_geometry *g, const float *xp) {
    if (!g->xb) return (dk_conv_parts){{xp, xp}, {g->cin, 0}, {0, g->cin}};
    return (dk_conv_parts){{xp, (const float *)g->xb}, {g->cin_a, g->cin - g->cin_a}, {0, g->cin_a}};
}

/// The grid position of valid output position q = (z·oh + y)·ow + x.
static inline long dk_conv_grid_position(const dk_conv_geometry *g, long q) {
    const long plane = g->oh * g->ow, z = q / plane, r = q % plane;
    return (z * g->hp + r / g->ow) * g->wp + r % g->ow;
}

/// The strides of `g` along depth, height and width (a 0 field counts as 1).
static inline long dk_conv_stride_d(const dk_conv_geometry *g) { return g->sd > 1 ? g->sd : 1; }
static inline long dk_conv_stride_h(const dk_conv_geometry *g) { return g->sh > 1 ? g->sh : 1; }
static inline long dk_conv_stride_w(const dk_conv_geometry *g) { return g->sw > 1 ? g->sw : 1; }

/// Whether every stride of `g` is 1 (the grid tiles need it: consecutive output positions one
/// position apart in the padded input).
static inline int dk_conv_unit_stride(const dk_conv_geometry *g) {
    return dk_conv_stride_d(g) == 1 && dk_conv_stride_h(g) == 1 && dk_conv_stride_w(g) == 1;
}

/// Moves (z, y, x) one position along lines `width` long in planes of `height` lines, without
/// a branch: the step the tiles take from one position to the next.
static inline __attribute__((always_inline)) void dk_conv_step(long *z, long *y, long *x, long width, long height) {
    const long wrap_x = ++*x == width;
    *x = wrap_x ? 0 : *x;
    *y += wrap_x;
    const long wrap_y = *y == height;
    *y = wrap_y ? 0 : *y;
    *z += wrap_y;
}

/// Valid output position q = (z·oh + y)·ow + x as its coordinates: the cursor a run of tiles
/// carries from one tile to the next (dk_conv_position_advance), so that no tile divides.
typedef struct {
    long z, y, x;
} dk_conv_position;

/// The coordinates of valid output position q (two divisions: once per run of tiles).
static inline dk_conv_position dk_conv_position_of(const dk_conv_geometry *g, long q) {
    const long plane = g->oh * g->ow, r = q % plane;
    return (dk_conv_position){q / plane, r / g->ow, r % g->ow};
}

/// Moves `at` n positions on (n ≥ 0), the next tile's first position; past the last position
/// it counts on into further planes, which no tile reads.
static inline __attribute__((always_inline)) void dk_conv_position_advance(const dk_conv_geometry *g,
                                                                           dk_conv_position *at, long n) {
    at->x += n;
    while (at->x >= g->ow) {
        at->x -= g->ow;
        const int wrap = ++at->y == g->oh;
        at->y = wrap ? 0 : at->y;
        at->z += wrap;
    }
}

/// out[i] = z·dz + y·dy + x·dx for valid output position q + i = (z·oh + y)·ow + x, i < mr, from
/// `at`, the coordinates of q; the last position (end − 1) repeated past the end (computed, not
/// stored, so that every read is valid). Branch-free steps along the output lines: with AVX2,
/// a first layer's forward went from 0.44–0.46 to 0.53–0.56 of the Haswell sgemm when they
/// replaced two divisions per position, and from 50 to 64 GFLOP/s (one thread, Emerald Rapids)
/// when the cursor replaced the two per tile and the segment cursor the two per segment.
/// Serves the input rows and the output positions of the tiles.
static inline __attribute__((always_inline)) void dk_conv_position_offsets(const dk_conv_geometry *g,
                                                                           dk_conv_position at, long q, long end,
                                                                           long dz, long dy, long dx, long *out,
                                                                           int mr) {
    long z = at.z, y = at.y, x = at.x, last = 0;
    for (int i = 0; i < mr; i++) {
        const long offset = z * dz + y * dy + x * dx;
        last = q + i < end ? offset : last;
        out[i] = last;
        dk_conv_step(&z, &y, &x, g->ow, g->oh);
    }
}

/// offsets[i] = the element offset in the padded sample of the row of valid output position
/// q + i (at the strides of `g`; `at` the coordinates of q), as dk_conv_position_offsets. Shared
/// by the Float and bfloat16 tiles.
static inline __attribute__((always_inline)) void dk_conv_tile_offsets(const dk_conv_geometry *g, dk_conv_position at,
                                                                       long q, long end, long *offsets, int mr) {
    const long row = g->wp * g->cin;
    dk_conv_position_offsets(g, at, q, end, dk_conv_stride_d(g) * g->hp * row, dk_conv_stride_h(g) * row,
                             dk_conv_stride_w(g) * g->cin, offsets, mr);
}

/// first[i] and second[i] = the rows of valid output position q + i (i < mr, `at` the
/// coordinates of q) in the two parts of `g`'s input (dk_conv_input_parts): each part's base plus
/// the position's grid position times the part's channels (dk_conv_tile_offsets for one part).
static inline __attribute__((always_inline)) void dk_conv_part_rows(const dk_conv_geometry *g, dk_conv_parts parts,
                                                                    dk_conv_position at, long q, long end,
                                                                    const float **first, const float **second, int mr) {
    long cells[12];
    dk_conv_position_offsets(g, at, q, end, dk_conv_stride_d(g) * g->hp * g->wp, dk_conv_stride_h(g) * g->wp,
                             dk_conv_stride_w(g), cells, mr);
    for (int i = 0; i < mr; i++) {
        first[i] = parts.base[0] + cells[i] * parts.channels[0];
        second[i] = parts.base[1] + cells[i] * parts.channels[1];
    }
}

/// Whether `g` scatters its output (an up-sampling pass, dk_conv_geometry.ud/uh/uw).
static inline int dk_conv_scatters(const dk_conv_geometry *g) { return g->ud > 0 && g->uh > 0 && g->uw > 0; }

/// The channels per up-sampled pixel of a scattered output: cout over the ud·uh·uw pixels of a block.
static inline long dk_conv_scattered_channels(const dk_conv_geometry *g) { return g->cout / (g->ud * g->uh * g->uw); }

/// Positions per line and lines per plane of the output that `g` writes (its own extents, or
/// those around its window: dk_conv_geometry.yw/yh).
static inline long dk_conv_output_width(const dk_conv_geometry *g) { return g->yw > 0 ? g->yw : g->ow; }
static inline long dk_conv_output_height(const dk_conv_geometry *g) { return g->yh > 0 ? g->yh : g->oh; }

/// out[i] = the offset in the sample's output of valid output position q + i for i < mr (the
/// last position, end − 1, repeated past the end; `at` the coordinates of q): (q + i) times the
/// channels per position (dk_conv_position_channels), its place in the output around a window, or
/// for a scattered output the first element of the position's up-sampled block (column offsets,
/// dk_conv_output_column, are added to it).
static inline __attribute__((always_inline)) void dk_conv_output_offsets(const dk_conv_geometry *g,
                                                                         dk_conv_position at, long q, long end,
                                                                         long *out, int mr) {
    if (!dk_conv_scatters(g)) {
        const long channels = dk_conv_position_channels(g), line = dk_conv_output_width(g) * channels;
        dk_conv_position_offsets(g, at, q, end, dk_conv_output_height(g) * line, line, channels, out, mr);
        return;
    }
    const long channels = dk_conv_scattered_channels(g), row = g->uw * g->ow * channels;
    dk_conv_position_offsets(g, at, q, end, g->ud * g->uh * g->oh * row, g->uh * row, g->uw * channels, out, mr);
}

/// The offset of output column c from its position's offset (dk_conv_output_offsets): c (in an
/// output of two parts, dk_conv_part_column), or for a scattered output, with
/// c = ((a·uh + b)·uw + cc)·C + channel, that of up-sampled position (a, b, cc) of the block,
/// channel `channel`.
static inline long dk_conv_output_column(const dk_conv_geometry *g, long c) {
    if (!dk_conv_scatters(g)) return dk_conv_part_column(g, c);
    const long channels = dk_conv_scattered_channels(g), h2 = g->uh * g->oh, w2 = g->uw * g->ow;
    const long t = c / channels, cc = t % g->uw, b = (t / g->uw) % g->uh, a = t / (g->uw * g->uh);
    return ((a * h2 + b) * w2 + cc) * channels + c % channels;
}

/// columns[j] = dk_conv_output_column(g, co + 16·j) for the vectors of the 64-channel block from
/// co (0 past cout). Found once per block by the forward passes: a scattered output's take several
/// divisions each, which per tile cost as much as an up-sampling's short reduction.
static inline void dk_conv_block_columns(const dk_conv_geometry *g, long co, long columns[4]) {
    for (int j = 0; j < 4; j++) columns[j] = co + 16 * j < g->cout ? dk_conv_output_column(g, co + 16 * j) : 0;
}

/// The offset of column c's first element in a packing of `rows` rows × `columns` columns laid
/// out in blocks of DK_CONV_CHANNEL_BLOCK columns (each block its rows of its width, the blocks one
/// after another: the forward and the flipped kernel packings), and through `width` the floats
/// from one row of c's block to the next: the block's width (the last one as wide as the columns
/// left).
static inline long dk_conv_block_column(long rows, long columns, long c, long *width) {
    const long first = c / DK_CONV_CHANNEL_BLOCK * DK_CONV_CHANNEL_BLOCK, rest = columns - first;
    *width = rest < DK_CONV_CHANNEL_BLOCK ? rest : DK_CONV_CHANNEL_BLOCK;
    return first * rows + (c - first);
}

/// The width of column c's block in dk_conv_block_column's layout.
static inline long dk_conv_block_width(long columns, long c) {
    long width;
    dk_conv_block_column(0, columns, c, &width);
    return width;
}

/// The first of output channel co's packed kernel rows (dk_conv_pack_weights), and through
/// `width` the floats from one row to the next: the width of co's 64-channel block.
static inline const float *dk_conv_packed_block(const dk_conv_geometry *g, const float *w, int co, long *width) {
    return w + dk_conv_block_column((long)g->kd * g->kh * g->kw * g->cin, g->cout, co, width);
}

/// Bytes of weights one K block of the forward pass may hold (g->weight_block, 128 KiB when 0).
static inline long dk_conv_weight_block(const dk_conv_geometry *g) {
    return g->weight_block > 0 ? g->weight_block : (128L << 10);
}

/// Kernel segments per K block: as many as fit in the weight block when one segment of the
/// block's output channels holds `segment_bytes` (at least one).
static inline int dk_conv_segments_per_block(const dk_conv_geometry *g, long segment_bytes) {
    const long budget = dk_conv_weight_block(g);
    return segment_bytes >= budget ? 1 : (int)(budget / segment_bytes);
}

/// One element of a kernel layout conversion toward PyTorch's layout written over `to` as `store`
/// says: the scalar store of weight_layout.c and of weight_layout_avx2.c's tails.
static inline void dk_layout_store_scalar(float *to, float v, dk_layout_store store) {
    *to = store == DK_LAYOUT_ADD ? *to + v : store == DK_LAYOUT_ADD_TO_ZERO ? 0.0f + v : v;
}

/// The layout conversions on AVX2 (weight_layout_avx2.c); arguments as dk_kernel_to_pytorch and
/// dk_kernel_from_pytorch.
void dk_kernel_to_pytorch_avx2(const float *src, float *dst, long a, long b, long k, long j0, long j1,
                               dk_layout_store store);
void dk_kernel_from_pytorch_avx2(const float *src, float *dst, long a, long b, long k, long j0, long j1);

/// The AVX2 + FMA forward pass (conv_avx2.c); arguments as dk_conv_forward_f32.
void dk_conv_forward_avx2(const dk_conv_geometry *g, const float *xp, const float *w, const float *bias,
                          float *y, long q0, long q1);

/// Where a weight-gradient pass reads one sample's output gradient: channel c at output position
/// q (= line·ow + x) is base[(q − q0)·stride + c − c0]. The sample's own [.., cout] array is
/// {dy, cout, 0, 0}; a copy of channels [c0, c0 + width) of positions from q0 is
/// {copy, width, q0, c0}.
typedef struct {
    const float *base;
    long stride, q0;
    int c0;
} dk_conv_dy_view;

/// The first element of output line l (= z·oh + y) of `dy`, channel co.
static inline __attribute__((always_inline)) const float *dk_conv_dy_line(const dk_conv_geometry *g,
                                                                          dk_conv_dy_view dy, long l, int co) {
    return dy.base + (l * g->ow - dy.q0) * dy.stride + (co - dy.c0);
}

/// The padded input row that output line l (= z·oh + y) starts from, at the strides of `g`, its
/// positions `xs` floats apart (cin, or more in a spread copy: dk_conv_weight_grad_block_f32): a
/// weight-gradient tile reads kernel row r of position x at row + x·stride_w·xs + offset[r].
static inline __attribute__((always_inline)) const float *dk_conv_weight_line(const dk_conv_geometry *g,
                                                                              const float *xp, long xs, long l) {
    const long z = l / g->oh, y = l % g->oh;
    return xp + ((dk_conv_stride_d(g) * z * g->hp + dk_conv_stride_h(g) * y) * g->wp) * xs;
}

/// Where kernel row `row` (element k = kx·cin + c of segment s = row / (kw·cin)) lies from the
/// start of an output position's padded input, positions `xs` floats apart: k itself when xs = cin.
static inline long dk_conv_weight_row_offset(const dk_conv_geometry *g, long xs, long row) {
    const long seg = (long)g->kw * g->cin, k = row % seg;
    return dk_conv_segment_cells(g, (int)(row / seg)) * xs + k / g->cin * xs + k % g->cin;
}

/// offset[r] for kernel rows r0 .. r0 + kr − 1 of a weight-gradient tile, positions `xs` floats
/// apart: consecutive when the rows lie in one segment and, with xs > cin, one kernel column; each
/// row's own when `spans` (a first layer's tiles cross its 3- or 9-row segments, and a spread
/// copy's tiles that cross a kernel column: dk_conv_weight_tile_spans). Shared by the AVX-512 and
/// AVX2 tiles.
static inline __attribute__((always_inline)) void dk_conv_weight_row_offsets(const dk_conv_geometry *g, long xs,
                                                                             long r0, int kr, int spans,
                                                                             long *offset) {
    const long first = dk_conv_weight_row_offset(g, xs, r0);
    for (int r = 0; r < kr; r++) offset[r] = spans ? dk_conv_weight_row_offset(g, xs, r0 + r) : first + r;
}

/// Whether a tile of kernel rows [k, k + kr) of one segment crosses from one kernel column's
/// channels to the next's in an input whose positions are xs > cin floats apart (so that its
/// rows are not consecutive there).
static inline int dk_conv_weight_tile_spans(const dk_conv_geometry *g, long xs, long k, int kr) {
    return xs != g->cin && k % g->cin + kr > g->cin;
}

/// How many output positions ahead a weight-gradient tile prefetches its output-gradient
/// vectors and input row (into L1). Every tile re-reads its chunk's rows from L2, a few cache lines
/// per position, and the hardware prefetchers did not keep up: on Emerald Rapids the weight
/// gradient went from 245–281 to 279–327 GFLOP/s (AVX-512) and from 124–140 to 131–147 (AVX2)
/// at 32 → 32, 64 → 64 and 128 → 128, alternated runs (Docs/Convolution.md). Not a cache size:
/// 8 positions are about 100 cycles of a tile's multiply–adds ahead, more than an L2 hit takes on
/// current x86-64 cores; 4 and 16 measured the same. A prefetch past the data never faults.
#define DK_CONV_PREFETCH_POSITIONS 8

/// The tile kernels of conv_amx.c on the tile unit (`hardware` non-zero) or its software model,
/// as dk_conv_forward_tiles_on and dk_conv_weight_grad_tiles_on but without their level check and
/// call count: for the self-check (conv_amx_check.c) that runs while the level is being detected.
/// The tile unit only where Linux granted the tile data.
void dk_amx_forward_run(int hardware, const dk_conv_geometry *g, const uint16_t *xp, const uint16_t *wt,
                        const float *bias, void *y, long q0, long q1);
void dk_amx_weight_grad_run(int hardware, const dk_conv_geometry *g, const uint16_t *xt, long xt_stride,
                            const uint16_t *dyg, long dyg_stride, long samples, float *dw, long kb0, long kb1,
                            long cb0, long cb1, long positions, int accumulate);
/// dk_bf16_pack_weight_tiles_from element by element, only the elements of output channels
/// [c0, c1) (the reference form; dk_bf16_pack_weight_tiles_channels falls back to it without AVX-512).
void dk_bf16_pack_weight_tiles_range(const dk_conv_geometry *g, const float *w, int pytorch, uint16_t *packed,
                                     int flipped, long c0, long c1);
/// `rounds` of the four products of a 2 × 2 tile block on constant operands (A = 1, B = 2⁻¹⁰):
/// the total of the 1024 sums, exactly 32 · rounds below 2¹⁹ rounds. bf16_rate.c times it on the
/// tile unit; the tests run it on the model and under the trap emulator.
double dk_amx_tile_products_run(int hardware, long rounds);

/// dk_amx_self_check without its permission check, for bf16_dispatch.c's detection (which runs it
/// on the tile unit right after Linux grants the tile data, inside its pthread_once).
int dk_amx_self_check_run(int hardware, char *detail, long size);

/// The AVX2 + FMA weight gradient of segments [s0, s1) × channels [co0, co1) (co0 a multiple of
/// 16) over lines [l0, l1) of one sample, its padded input's positions `xs` floats apart.
void dk_conv_weight_grad_avx2(const dk_conv_geometry *g, const float *xp, long xs, dk_conv_dy_view dy,
                              float *dw, long l0, long l1, int s0, int s1, int co0, int co1);

#if !defined(__x86_64__)
/// On CPUs other than x86-64, the body of every entry point of the vector kernels (the direct
/// and bfloat16 convolutions, the AMX tiles): unreachable, since the Swift layer calls them only
/// at the levels that have them (dk_conv_direct_enabled, dk_bf16_level_in_use), which such a CPU
/// never reports. Says which kernel was called and aborts (cpu_dispatch.c).
_Noreturn void dk_no_vector_kernel(const char *name);
#endif

#endif
