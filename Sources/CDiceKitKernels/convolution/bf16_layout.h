// The packed layouts that the bfloat16 packings (bf16_pack.c) write and the dot-product kernels
// (conv_bf16.c) read: the dot products' blocks of 64 columns in row pairs, the 16-channel
// kernel's quads, and the tile kernels' 16-column runs (conv_bf16.c's header comment has the
// products they serve). Not part of the public header.
#ifndef DK_BF16_LAYOUT_H
#define DK_BF16_LAYOUT_H

#include "conv_internal.h"

/// Whether a product with `cout` results per position and `segment` reduction elements per
/// segment runs on the 16-channel kernel, whose weights are packed in quads (see below).
static inline int quad_layout(long cout, long segment) { return cout == 16 && segment % 4 == 0; }

/// Index in the quad packing of element (k, c) of a [K × 16] kernel: per quad of rows
/// q = k / 4, two vectors v = c / 8 of 16 lanes i = 2·(c mod 8) + (k mod 4) / 2, each lane the
/// pair (k rounded down to even, + 1).
static inline long quad_index(long k, long c) {
    return (((k / 4) * 2 + c / 8) * 16 + 2 * (c % 8) + (k % 4) / 2) * 2 + (k % 2);
}

/// Element offset of pair (row 2·kp, row 2·kp + 1) of column c in the dot products' packing of a
/// [rows × columns] kernel: the Float packings' blocks of DK_CONV_CHANNEL_BLOCK (64) columns
/// (dk_conv_block_column), each [rows/2][width][2] and contiguous, so that a forward tile's block
/// of output channels streams one run of memory through every step of its reduction.
static inline long dot_pair_offset(long kp, long c, long columns, long rows) {
    long width;
    // The block's first element (its first column × rows) + c's column in it, counted twice: pairs.
    const long column = dk_conv_block_column(rows, columns, c, &width);
    return column + c % DK_CONV_CHANNEL_BLOCK + 2 * kp * width;
}

/// Element offset of the 64 bytes that hold row pair kp (rows 2·kp, 2·kp + 1) × columns c … c + 15
/// (c a multiple of 16) of a packed [rows × columns] kernel: in the dot products' layout
/// (dot_pair_offset), or with `tiles` in the tile kernels' [columns/16][rows/2][16][2]
/// (dk_bf16_pack_weight_tiles). The same 64 bytes either way, only placed differently.
static inline long pair_run_offset(int tiles, long kp, long c, long columns, long rows) {
    return tiles ? ((c / 16) * (rows / 2) + kp) * 32 : dot_pair_offset(kp, c, columns, rows);
}

#endif
