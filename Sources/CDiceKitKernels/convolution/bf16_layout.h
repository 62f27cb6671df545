// The packed layouts that the bfloat16 packings (bf16_pack.c) write and the dot-product kernels
// (conv_bf16.c) read: the dot products' blocks of 64 columns in row pairs, the 16-channel
// kernel's quads, and the tile kernels' 16-column runs (conv_bf16.c's header comment has the
// products they serve). Not part of the public header.
#ifndef DK_BF16_LAYOUT_H
#define DK_BF16_LAYOUT_H

/// Whether a product with `cout` results per position and `segment` reduction elements per
/// segment runs on the 16-channel kernel, whose weights are packed in quads (see below).
static inline int quad_layout(long cout, long segment) { return cout == 16 && segment % 4 == 0; }

/// Index in the quad packing of element (k, c) of a [K × 16] kernel: per quad of rows
/// q = k / 4, two vectors v = c / 8 of 16 lanes i = 2·(c mod 8) + (k mod 4) / 2, each lane the
/// pair (k rounded down to even, + 1).
static inline long quad_index(long k, long c) {
    return (((k / 4) * 2 + c / 8) * 16 + 2 * (c % 8) + (k % 4) / 2) * 2 + (k % 2);
}

/// Columns of the dot products' packing block that starts at column `block` (a multiple of 64) of
/// `columns`: 64, or for the last block the columns left.
static inline long dot_block_width(long columns, long block) { return columns - block < 64 ? columns - block : 64; }

/// Element offset of pair (row 2·kp, row 2·kp + 1) of column c in the dot products' packing of a
/// [rows × columns] kernel: blocks of 64 columns (dot_block_width wide), each [rows/2][width][2]
/// and contiguous, so that a forward tile's block of output channels streams one run of memory
/// through every step of its reduction.
static inline long dot_pair_offset(long kp, long c, long columns, long rows) {
    const long block = c / 64 * 64;
    return block * rows + (kp * dot_block_width(columns, block) + c - block) * 2;
}

/// Element offset of the 64 bytes that hold row pair kp (rows 2·kp, 2·kp + 1) × columns c … c + 15
/// (c a multiple of 16) of a packed [rows × columns] kernel: in the dot products' layout
/// (dot_pair_offset), or with `tiles` in the tile kernels' [columns/16][rows/2][16][2]
/// (dk_bf16_pack_weight_tiles). The same 64 bytes either way, only placed differently.
static inline long pair_run_offset(int tiles, long kp, long c, long columns, long rows) {
    return tiles ? ((c / 16) * (rows / 2) + kp) * 32 : dot_pair_offset(kp, c, columns, rows);
}

#endif
