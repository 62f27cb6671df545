// The matrix products of the Winograd passes (conv_winograd.c), one element ξ of the transform at
// a time, at the level in use: AVX2 in conv_winograd.c, AVX-512 in conv_winograd_avx512.c. Both
// levels add the same products in the same order into each sum (input channel by input channel,
// tile by tile), so a pass gives the same bits at either. Also the transforms' interfaces, where
// a tile starts (`tile_origin`, or walking the tiles: `dk_tile_place`) and one row of the input
// transform at 16 lanes (`dk_winograd_window_row`), which the 16-lane transforms of
// conv_winograd_avx512.c, conv_winograd_bf16.c and conv_winograd_bf16_weight.c share. Not part of
// the public header.
#ifndef DK_WINOGRAD_PRODUCTS_H
#define DK_WINOGRAD_PRODUCTS_H

#include "dk_convolution.h"

/// Rows of the AVX2 micro-kernel (tiles per product step); a block's rows are a multiple of it
/// (the AVX-512 kernels take 12 at a time, then 6).
enum { WINO_ROWS = 6 };

/// The forward pass's input transform: V[ξ][t][·] of tiles [first, first + count) of the batch,
/// `rows` rows per ξ (a multiple of WINO_ROWS; those past `count` zero), at v + ξ · rows · cin
/// floats: Floats, or for the bfloat16 products (dk_winograd_transform_input_bf16) their bfloat16
/// values in the first half of that room.
typedef void (*dk_winograd_transform)(const dk_winograd_geometry *g, const float *xp, long first, long count,
                                      long rows, float *v);

/// The forward pass's products of element ξ = `xi`: m[cb][t][16] = Σ over ci of v[t][ci] · u[ξ][cb][ci][16]
/// for the `blocks` panels of 16 output channels (m's rows · 16 floats apart) and `rows` tiles, a
/// multiple of WINO_ROWS; `u` the whole transformed kernel (Float, or bfloat16 pairs for the
/// bfloat16 products, whose v is bfloat16 too: dk_winograd_transform), u and m 64-byte aligned.
typedef void (*dk_winograd_multiply)(float *v, const void *u, long xi, long cin, long rows, long blocks, float *m);

/// The forward pass's output transform of a block (every 16-channel panel): y = Aᵀ m A of
/// tiles [first, first + count) from m[ξ][cb][t][16] (`rows` rows per panel), plus the bias, then
/// the ReLU where g->relu, stored as g->round_output says.
typedef void (*dk_winograd_output)(const dk_winograd_geometry *g, const float *m, long first, long count, long rows,
                                   const float *bias, void *y);

/// The weight gradient's sums of one element ξ: du[ci][co] += Σ over `count` tiles t, in order, of
/// v[t][ci] · dm[t][co] (v rows `cin` floats, dm and du rows `cout`; cin and cout multiples of 16);
/// with `fresh`, du = that sum (du not read: the same bits as from a zeroed du).
typedef void (*dk_winograd_accumulate)(const float *v, const float *dm, long cin, long cout, long count, float *du,
                                       int fresh);

/// The offset of tile `index` of the batch (numbered sample by sample, plane by plane in a
/// `volume`, row by row) in a tensor of `sample` floats per sample, `plane` per plane, `line`
/// per row and `position` per position: its first position.
static inline __attribute__((always_inline)) long tile_origin(const dk_winograd_geometry *g, long index,
                                                              long sample, long plane, long line, long position,
                                                              const int volume) {
    const long tiles_per_row = g->ow / 2, per_plane = g->oh / 2 * tiles_per_row;
    if (!volume) {
        const long n = index / per_plane, r = index % per_plane;
        return n * sample + 2 * (r / tiles_per_row) * line + 2 * (r % tiles_per_row) * position;
    }
    const long per_sample = g->od / 2 * per_plane;
    const long n = index / per_sample, tile = index % per_sample, z = tile / per_plane, r = tile % per_plane;
    return n * sample + 2 * z * plane + 2 * (r / tiles_per_row) * line + 2 * (r % tiles_per_row) * position;
}

/// How the transforms read a value: from one plane, or the depth transform of a 3-D tile applied
/// on load: the sum or difference of two planes', or one plane's negated.
enum { FROM_ONE, FROM_SUM, FROM_DIFFERENCE, FROM_NEGATED };

/// How the output transform reads an element: from one plane of products, or (3-D) a row of Aᵀ
/// along the depth over the 4 planes 16 elements apart: ROW0 = m₀ + m₁ + m₂, ROW1 = m₁ − m₂ − m₃.
enum { PLANE, ROW0, ROW1 };

/// How the output transform stores (dk_winograd_geometry.round_output): Floats, bfloat16 bits, or
/// Floats rounded to bfloat16 values.
enum { STORE_FLOATS = 0, STORE_BITS = 1, STORE_ROUNDED = 2 };

/// Where a tile of the batch is (tile_origin's numbering: sample by sample, plane by plane in a
/// volume, row by row), kept as the tiles are walked in order, so that the 16-lane transforms
/// divide once per block, not per tile.
typedef struct {
    long n, z, r, c; ///< sample, tile plane (od / 2 per volume; 0 in 2-D), tile row, tile column
} dk_tile_place;

/// Tile planes per sample: od / 2 in a volume, 1 in 2-D.
static inline long dk_tile_planes(const dk_winograd_geometry *g) { return g->od > 1 ? g->od / 2 : 1; }

/// The place of tile `index` of the batch.
static inline dk_tile_place dk_tile_place_of(const dk_winograd_geometry *g, long index) {
    const long per_row = g->ow / 2, per_plane = g->oh / 2 * per_row, per_sample = dk_tile_planes(g) * per_plane;
    const long tile = index % per_sample, r = tile % per_plane;
    return (dk_tile_place){index / per_sample, tile / per_plane, r / per_row, r % per_row};
}

/// The next tile's place.
static inline void dk_tile_place_next(const dk_winograd_geometry *g, dk_tile_place *p) {
    if (++p->c < g->ow / 2) return;
    p->c = 0;
    if (++p->r < g->oh / 2) return;
    p->r = 0;
    if (++p->z < dk_tile_planes(g)) return;
    p->z = 0;
    p->n++;
}

/// tile_origin of the tile at `p`.
static inline long dk_tile_place_offset(const dk_tile_place *p, long sample, long plane, long line, long position) {
    return p->n * sample + 2 * p->z * plane + 2 * p->r * line + 2 * p->c * position;
}

/// The address of weight (tap t, input channel ci, output channel co) of a kernel of `taps` taps
/// packed by dk_conv_pack_weights (64-channel blocks, each taps·cin rows of min(64, cout − 64·b)
/// floats); the 16 channels from a multiple of 16 are contiguous there.
static inline const float *dk_winograd_packed_weight(const float *packed, long taps, long cin, long cout, long t,
                                                     long ci, long co) {
    const long block = co / 64, width = cout - 64 * block < 64 ? cout - 64 * block : 64;
    return packed + 64 * block * taps * cin + (t * cin + ci) * width + co % 64;
}

/// The walk of both 16-lane product kernels (AVX-512 and bfloat16) over one element ξ: pairs of
/// 16-channel panels, then an odd one, each against the block's `rows` tiles 12 at a time, then
/// a last 6 (rows are a multiple of WINO_ROWS). TILE(cb, t, MR, NP) multiplies MR tiles from t by
/// NP panels from cb.
#define DK_WINOGRAD_PANELS(TILE, rows, blocks)                                                                         \
    for (long cb = 0; cb < (blocks); cb += 2) {                                                                        \
        long t = 0;                                                                                                    \
        if ((blocks) - cb >= 2) {                                                                                      \
            for (; t + 12 <= (rows); t += 12) TILE(cb, t, 12, 2);                                                      \
            if (t < (rows)) TILE(cb, t, 6, 2);                                                                         \
        } else {                                                                                                       \
            for (; t + 12 <= (rows); t += 12) TILE(cb, t, 12, 1);                                                      \
            if (t < (rows)) TILE(cb, t, 6, 1);                                                                         \
        }                                                                                                              \
    }

#if defined(__x86_64__)
#include <immintrin.h>

#include "bf16_round.h"

/// The AVX-512 products (conv_winograd_avx512.c): 12 tiles × 32 output channels at a time.
void dk_winograd_multiply_avx512(float *v, const void *u, long xi, long cin, long rows, long blocks, float *m);

/// The bfloat16 input transform (AVX512-BF16, conv_winograd_bf16.c; 2-D): V = Bᵀ d B in Float,
/// 16 channels at a time, each value then rounded to bfloat16 (vcvtneps2bf16).
void dk_winograd_transform_input_bf16(const dk_winograd_geometry *g, const float *xp, long first, long count,
                                      long rows, float *v);

/// The bfloat16 products (AVX512-BF16, conv_winograd_bf16.c): vdpbf16ps of v's bfloat16 rows
/// against the kernel's pairs, 12 tiles × 32 output channels at a time.
void dk_winograd_multiply_bf16(float *v, const void *u, long xi, long cin, long rows, long blocks, float *m);

/// 16 values at `at` of plane `p` (AVX-512), combined with plane `q` as `how` says (FROM_ONE,
/// FROM_SUM, FROM_DIFFERENCE, FROM_NEGATED; a constant after inlining).
__attribute__((target("avx512f"))) static inline __attribute__((always_inline)) __m512
dk_winograd_load16(const float *p, const float *q, long at, const int how) {
    const __m512 x = _mm512_loadu_ps(p + at);
    return how == FROM_ONE          ? x
           : how == FROM_SUM        ? _mm512_add_ps(x, _mm512_loadu_ps(q + at))
           : how == FROM_DIFFERENCE ? _mm512_sub_ps(x, _mm512_loadu_ps(q + at))
                                    : _mm512_sub_ps(_mm512_setzero_ps(), x);
}

/// Stores 16 outputs at element `at` of `out` as `how` says (STORE_FLOATS, STORE_ROUNDED or
/// STORE_BITS; rounding as dk_bf16_bits). For the 16-lane output transforms.
__attribute__((target("avx512f,avx512bw"))) static inline __attribute__((always_inline)) void
dk_winograd_store16(void *out, long at, __m512 v, const int how) {
    if (how == STORE_FLOATS) {
        _mm512_storeu_ps((float *)out + at, v);
        return;
    }
    const __m512i bits = _mm512_srli_epi32(dk_bf16_round_bits(_mm512_castps_si512(v)), 16);
    if (how == STORE_ROUNDED)
        _mm512_storeu_si512((void *)((float *)out + at), _mm512_slli_epi32(bits, 16));
    else
        _mm256_storeu_si256((__m256i *)((uint16_t *)out + at), _mm512_cvtepi32_epi16(bits));
}

/// Row i of Bᵀ d B for the 4 × 4 window at `p` (combined with `q` as `how` says: the depth
/// transform of a 3-D tile applied on load; rows `line` floats apart, positions `cin`), 16
/// channels (AVX-512): (Bᵀ d) row i, column by column, then along the row, operation for operation
/// as conv_winograd.c's store_window_transform. For the 16-lane transforms (Float and bfloat16).
__attribute__((target("avx512f"))) static inline __attribute__((always_inline)) void
dk_winograd_window_row_combined(const float *p, const float *q, const int how, long line, long cin, const int i,
                                __m512 out[4]) {
    __m512 col[4];
    for (int j = 0; j < 4; j++) {
        const long at = j * cin;
        col[j] = i == 0   ? _mm512_sub_ps(dk_winograd_load16(p, q, at, how), dk_winograd_load16(p, q, at + 2 * line, how))
                 : i == 1 ? _mm512_add_ps(dk_winograd_load16(p, q, at + line, how),
                                          dk_winograd_load16(p, q, at + 2 * line, how))
                 : i == 2 ? _mm512_sub_ps(dk_winograd_load16(p, q, at + 2 * line, how),
                                          dk_winograd_load16(p, q, at + line, how))
                          : _mm512_sub_ps(dk_winograd_load16(p, q, at + line, how),
                                          dk_winograd_load16(p, q, at + 3 * line, how));
    }
    out[0] = _mm512_sub_ps(col[0], col[2]);
    out[1] = _mm512_add_ps(col[1], col[2]);
    out[2] = _mm512_sub_ps(col[2], col[1]);
    out[3] = _mm512_sub_ps(col[1], col[3]);
}

/// dk_winograd_window_row_combined of one plane's window at `d` (2-D).
__attribute__((target("avx512f"))) static inline __attribute__((always_inline)) void
dk_winograd_window_row(const float *d, long line, long cin, const int i, __m512 out[4]) {
    dk_winograd_window_row_combined(d, d, FROM_ONE, line, cin, i, out);
}

/// The Float input transform at 16 lanes (AVX-512, conv_winograd_avx512.c): a
/// dk_winograd_transform, V = Bᵀ d B (and along the depth in a volume) operation for operation as
/// conv_winograd.c's 8-lane one (the same bits), 16 channels at a time.
void dk_winograd_transform_input_avx512(const dk_winograd_geometry *g, const float *xp, long first, long count,
                                        long rows, float *v);

/// The output transform at 16 lanes (AVX-512 and AVX-512 BW; 2-D or 3-D): a dk_winograd_output,
/// operation for operation as conv_winograd.c's 8-lane one (the same bits), 16 channels at a time.
void dk_winograd_output_avx512(const dk_winograd_geometry *g, const float *m, long first, long count, long rows,
                               const float *bias, void *y);

/// The weight gradient's output-gradient transform at 16 lanes (AVX-512 and AVX-512 BW; 2-D or 3-D):
/// dM[ξ][t][·] = (A dY Aᵀ)[ξ] of tiles [first, first + count), `count` rows per ξ, each dy value
/// rounded to bfloat16 first where g->round_gradient is 1; operation for operation as
/// conv_winograd.c's 8-lane transform (the same bits).
void dk_winograd_transform_gradient_avx512(const dk_winograd_geometry *g, const float *dy, long first, long count,
                                           float *dm);

/// The AVX-512 sums (conv_winograd_avx512.c): 12 input channels × 32 output channels at a time.
void dk_winograd_accumulate_avx512(const float *v, const float *dm, long cin, long cout, long count, float *du,
                                   int fresh);
#endif

#endif
