// bfloat16 conversion (convolution/bf16_convert.c), the packings (convolution/bf16_pack.c), the
// AVX512-BF16 direct convolutions (convolution/conv_bf16.c) and the AMX-BF16 tile convolutions
// (convolution/conv_amx.c), with
// their own levels (platform/bf16_dispatch.c); reached from Sources/DiceKit/Support/BFloat16.swift
// and Sources/DiceKit/Convolution/BFloat16Convolution.swift.
#ifndef DK_BF16_H
#define DK_BF16_H

#include <stdint.h>
#include "dk_convolution.h"
#include "dk_platform.h"

#ifdef __cplusplus
extern "C" {
#endif

/// The bfloat16 levels: none, AVX512-BF16 (vdpbf16ps), AMX-BF16 (tiles, permission granted).
typedef enum {
    DK_BF16_AUTOMATIC = -1, ///< dk_force_bf16: no forced level (the detected one is used)
    DK_BF16_NONE = 0,      ///< no bfloat16 dot product: bfloat16 requests run in Float
    DK_BF16_AVX512 = 1,    ///< AVX512-BF16 with AVX-512 F/BW/VL
    DK_BF16_AMX = 2        ///< AMX-BF16 + AMX-TILE, tile data permitted by the kernel (the tile kernels of conv_amx.c)
} dk_bf16_level;

/// The best bfloat16 level of this CPU, detected once (pthread_once); requests the AMX tile
/// permission once when the CPU has AMX.
dk_bf16_level dk_bf16_detected(void);

/// 1 when the AMX tile-data permission was granted, 0 when refused, -1 when never asked (no AMX,
/// or a tile unit smaller than the kernels' tiles).
int dk_amx_permission(void);

/// Whether a tile unit whose CPUID leaves read `palettes` (0x1D, subleaf 0), `palette1` (0x1D,
/// subleaf 1) and `tmul` (0x1E, subleaf 0) holds the tiles the kernels configure: palette 1 with
/// at least 8 tiles of 16 rows × 64 bytes, and products of K = 16 rows into N = 64-byte rows.
/// Returns 1, or 0 with the first shortfall described in `detail` (`size` bytes; may be NULL).
/// Detection asks for the tile data only when it returns 1.
int dk_amx_tiles_fit(const dk_cpuid_regs *palettes, const dk_cpuid_regs *palette1, const dk_cpuid_regs *tmul,
                     char *detail, long size);

/// Runs both tile kernels (conv_amx.c) over small problems whose sums are exact in Float
/// (convolution/conv_amx_check.c), on the tile unit (`hardware` non-zero) or on the software model
/// (0), and compares every output with its exact sum, bit for bit. Returns 0 when all match, else
/// the number of mismatches, the first described in `detail` (`size` bytes; may be NULL); -1
/// without running when the tile unit is asked for and Linux did not grant this process the tile data.
int dk_amx_self_check(int hardware, char *detail, long size);

/// The self-check that detection runs on the tile unit once Linux grants the tile data: 1 passed
/// (the AMX level is detected), 0 failed (the AVX512-BF16 level is detected instead; also when
/// the tile unit is smaller than the kernels' tiles, dk_amx_tiles_fit, and was never used), -1
/// not run (no AMX, or the tile data refused).
int dk_amx_self_check_status(void);

/// The first mismatch of a failed detection self-check (dk_amx_self_check_status() == 0), else "".
const char *dk_amx_self_check_detail(void);

/// The level in use: the forced one, else the detected one; NONE when the Float level in use is below AVX-512.
dk_bf16_level dk_bf16_level_in_use(void);

/// Forces a bfloat16 level (DK_BF16_AUTOMATIC, -1: automatic). Returns -1 (and changes nothing) above the detected level.
int dk_force_bf16(int level);

/// Measures, on the calling thread, the multiply–adds per nanosecond of vdpbf16ps (32 per
/// instruction) and of Float vfmadd231ps (16 per instruction), each over `iterations` × 12
/// independent instructions, the fastest of five alternated runs (platform/bf16_rate.c; about
/// 5·10⁻⁸ × iterations seconds, 3.5 ms at 2¹⁶, on a Xeon family 6 model 207). Returns 0, or -1
/// without measuring where the CPU has no AVX512-BF16.
int dk_bf16_multiply_add_rates(long iterations, double *dot_per_ns, double *fma_per_ns);

/// Measures, on the calling thread, the multiply–adds per nanosecond of tdpbf16ps (8192 per
/// instruction) in the tile kernels' 2 × 2 blocks: `rounds` × 4 products on operands loaded once,
/// the fastest of five runs (platform/bf16_rate.c; about 64 cycles a round at the published 16
/// cycles per product). Returns 0, or -1 without measuring where the detected level is not
/// DK_BF16_AMX (no tile data granted), `rounds` is outside [1, 2¹⁹), or the sums are not exact.
int dk_amx_tile_rate(long rounds, double *tile_per_ns);

/// Round-to-nearest-even Float → bfloat16 bits (NaN stays NaN, quiet; subnormals rounded, not flushed).
void dk_f32_to_bf16(const float *src, uint16_t *dst, long n);

/// dst[r·dst_stride + i] = bfloat16(src[r·run + i]) for r < runs, i < run: consecutive runs of
/// Float rounded (as dk_f32_to_bf16) into rows `dst_stride` elements apart.
void dk_f32_to_bf16_runs(const float *src, uint16_t *dst, long runs, long run, long dst_stride);

/// dst[r·dst_stride + i] = src[r·run + i] for r < runs, i < run: consecutive runs of bfloat16
/// bits copied as they are into rows `dst_stride` elements apart (a part of a channel
/// concatenation already rounded, beside parts that dk_f32_to_bf16_runs rounds).
void dk_bf16_runs(const uint16_t *src, uint16_t *dst, long runs, long run, long dst_stride);

/// dst[i] = the Float value of bfloat16(src[i]), rounded as dk_f32_to_bf16 (the low 16 bits
/// cleared): the operands of the rounded-operand path, which the Float kernels multiply exactly.
/// `src` and `dst` may be the same array.
void dk_f32_round_bf16(const float *src, float *dst, long n);

/// bfloat16 bits → Float (exact).
void dk_bf16_to_f32(const uint16_t *src, float *dst, long n);

/// Packs the [kd·kh·kw·cin, cout] Float kernel (kw·cin even) as bfloat16 row pairs in blocks of
/// 64 output channels, each block contiguous over the K = kd·kh·kw·cin rows (the last block
/// cout mod 64 wide), so that a forward tile streams one run of memory: with b = 64·⌊co/64⌋ and
/// width = min(64, cout − b), packed[b·K + ((k/2)·width + co − b)·2 + (k mod 2)] = w[k][co];
/// with cout = 16 and kw·cin a multiple of 4, in quads for the 16-channel kernel:
/// packed[(((k/4)·2 + co/8)·16 + 2·(co mod 8) + (k mod 4)/2)·2 + (k mod 2)] = w[k][co] (the
/// same number of elements).
void dk_bf16_pack_weight(const dk_conv_geometry *g, const float *w, uint16_t *packed);

/// Output channels [c0, c1) of dk_bf16_pack_weight's packing (multiples of 16 when cout is one,
/// else even; [0, 16) in quads), the same bits, from the kernel in DiceKit's layout
/// [kd·kh·kw, cin, cout], or with `pytorch` non-zero in PyTorch's [cout, cin, kd·kh·kw]:
/// callers split a packing between workers by channels, and pack a layer's parameter as it is.
void dk_bf16_pack_weight_channels(const dk_conv_geometry *g, const float *w, int pytorch, uint16_t *packed, long c0,
                                  long c1);

/// Packs the input-gradient kernel of the [kd·kh·kw·cin, cout] Float kernel `w` (cout even) as
/// bfloat16 row pairs, as dk_bf16_pack_weight packs [kd·kh·kw·cout, cin] = W'[t][co][ci] =
/// w[taps − 1 − t][ci][co], the flipped, transposed kernel; `g` is the forward geometry (in quads
/// when cin = 16 and kw·cout is a multiple of 4).
void dk_bf16_pack_weight_flipped(const dk_conv_geometry *g, const float *w, uint16_t *packed);

/// Rows t·cout + co, co in [c0, c1), of dk_bf16_pack_weight_flipped's packing for every tap t
/// (c0 and c1 multiples of 16 when cout is one, else even), the same bits, from `w` in
/// DiceKit's layout or with `pytorch` in PyTorch's (as dk_bf16_pack_weight_channels).
void dk_bf16_pack_weight_flipped_channels(const dk_conv_geometry *g, const float *w, int pytorch, uint16_t *packed,
                                          long c0, long c1);

/// y = conv(xp, w) (+ bias), max(0, ·) of it with g->relu, at output positions [q0, q1) of one sample as dk_conv_forward_f32,
/// with `xp` the padded sample in bfloat16 (cin a multiple of 16) and `wp` the packed kernel.
/// `y` is a float array, or with g->round_output a uint16_t one that receives the values' bfloat16 bits.
void dk_conv_forward_bf16(const dk_conv_geometry *g, const uint16_t *xp, const uint16_t *wp, const float *bias,
                          void *y, long q0, long q1);

/// xq[p][c] = (xp[p][c], xp[p + 1][c]) for the `positions` positions of a padded bfloat16 sample
/// (the last pairs with 0).
void dk_bf16_pack_pairs(const dk_conv_geometry *g, const uint16_t *xp, uint16_t *xq, long positions);

/// dyp[line][x/2][co] = (dy[line][x][co], dy[line][x + 1][co]) in bfloat16, 0 past an odd width.
void dk_bf16_pack_gradient(const dk_conv_geometry *g, const float *dy, uint16_t *dyp);

/// dk_bf16_pack_gradient of a gradient given as its bfloat16 bits `dy` (a kept activation:
/// a transposed convolution's input, the dy of its lowered backward pass): the same packing,
/// the bits copied as they are (the same result as packing their Float values).
void dk_bf16_pack_gradient_bits(const dk_conv_geometry *g, const uint16_t *dy, uint16_t *dyp);

/// dw[kernel rows r0..<r1 (multiples of 16), co0..<co1 (co0 a multiple of DK_CONV_CHANNEL_BLOCK)]
/// += Σ over every output position of `samples` samples (= with `accumulate` zero: that block
/// of dw is then only written, with the bits of a zeroed dw plus the sum),
/// from the pair-packed inputs `xq` (`xq_stride` elements apart) and packed gradients `dyp`
/// (`dy_stride` apart); the summation order of each element depends on the geometry only.
void dk_conv_weight_grad_bf16(const dk_conv_geometry *g, const uint16_t *xq, long xq_stride, const uint16_t *dyp,
                              long dy_stride, long samples, float *dw, long r0, long r1, int co0, int co1,
                              int accumulate);

/// Packs the [kd·kh·kw·cin, cout] Float kernel (cin and cout multiples of 16) for the tile
/// kernels: 16-channel blocks one after the other, each its K/2 row pairs of 16 channels × 2,
/// packed[((b·K/2 + k/2)·16 + c)·2 + (k mod 2)] = w[k][16·b + c] (K = kd·kh·kw·cin). With
/// `flipped` non-zero, the flipped, transposed kernel of the input gradient instead (K =
/// kd·kh·kw·cout rows W'[t·cout + co][ci] = w[taps − 1 − t][ci][co], cin columns), as
/// dk_bf16_pack_weight_flipped; `g` is the forward geometry either way.
void dk_bf16_pack_weight_tiles(const dk_conv_geometry *g, const float *w, uint16_t *packed, int flipped);

/// dk_bf16_pack_weight_tiles of `w` in DiceKit's layout, or with `pytorch` non-zero in
/// PyTorch's [cout, cin, kd·kh·kw] (the same bits), element by element: the reference form.
void dk_bf16_pack_weight_tiles_from(const dk_conv_geometry *g, const float *w, int pytorch, uint16_t *packed,
                                    int flipped);

/// dk_bf16_pack_weight_tiles_from for output channels [c0, c1) only (multiples of 16; forward:
/// those columns, flipped: those kernel rows of every tap), 16 channels per vector with AVX-512
/// (convolution/bf16_pack.c: the dot products' packers, each 64-byte run of a row pair placed
/// where the tiles read it), so that workers may take a range each. The same bits.
void dk_bf16_pack_weight_tiles_channels(const dk_conv_geometry *g, const float *w, int pytorch, uint16_t *packed,
                                        int flipped, long c0, long c1);

/// y = conv(xp, wt) (+ bias), max(0, ·) of it with g->relu, at output positions [q0, q1) of one
/// sample, as dk_conv_forward_bf16 but on AMX tiles (cin and cout multiples of 16, stride 1, one
/// input part, output not a window or scattered): `wt` packed by dk_bf16_pack_weight_tiles, `xp`
/// readable for DK_CONV_SLACK_POSITIONS positions past the padded sample. Runs on the tile unit
/// when the bfloat16 level in use is DK_BF16_AMX, else on the software model of conv_amx.c (the
/// tests' way to run the tile arithmetic on a CPU without AMX; at -O2 about 25 times slower than
/// dk_conv_forward_bf16). `y` as dk_conv_forward_bf16's (bfloat16 bits with g->round_output; a
/// 1×1 head's logits with g->head_classes, the same bits as the dot-product kernels' head gives
/// on this pass's outputs).
void dk_conv_forward_tiles(const dk_conv_geometry *g, const uint16_t *xp, const uint16_t *wt, const float *bias,
                           void *y, long q0, long q1);

/// dk_conv_forward_tiles on the tile unit (`hardware` non-zero) or on the software model (0),
/// whatever the level in use. Returns -1 without running when the tile unit is asked for and the
/// detected level is not DK_BF16_AMX, else 0. For tests.
int dk_conv_forward_tiles_on(int hardware, const dk_conv_geometry *g, const uint16_t *xp, const uint16_t *wt,
                             const float *bias, void *y, long q0, long q1);

/// Grid positions one sample's weight gradient sums over on tiles: the padded grid up to the last
/// output position, rounded up to a multiple of 32 (zero gradients off the output grid).
long dk_conv_tile_grid_length(const dk_conv_geometry *g);

/// Elements per channel row of dk_bf16_transpose_grid's transpose: the padded grid of one sample
/// ((od + kd − 1)·hp·wp positions) and 32 zeros the tiles read ahead.
long dk_conv_tile_transpose_row(const dk_conv_geometry *g);

/// xt[c·row + p] = xp[p·cin + c] for the grid positions p of one padded bfloat16 sample, zero
/// for p up to row = dk_conv_tile_transpose_row(g): the channel-major input of the tile weight gradient.
void dk_bf16_transpose_grid(const dk_conv_geometry *g, const uint16_t *xp, uint16_t *xt);

/// dyg[(p/2)·cout·2 + 2·co + p mod 2] = bfloat16(dy[q][co]) for the grid positions p <
/// dk_conv_tile_grid_length(g) of output positions q, 0 for grid positions off the output grid:
/// one sample's output gradient on the padded grid, in pairs of positions.
void dk_bf16_pack_gradient_grid(const dk_conv_geometry *g, const float *dy, uint16_t *dyg);

/// dk_bf16_pack_gradient_grid of a gradient given as its bfloat16 bits (a kept activation), read
/// as they are: the same pairs as from the Floats they round.
void dk_bf16_pack_gradient_grid_bits(const dk_conv_geometry *g, const uint16_t *dy, uint16_t *dyg);

/// dw[16·kb0 ..< 16·kb1][16·cb0 ..< 16·cb1] += Σ over `samples` samples and their grid positions of
/// X[p][k]·dY[p][co] on AMX tiles, from the transposes `xt` (dk_bf16_transpose_grid, `xt_stride`
/// elements apart) and gradients `dyg` (dk_bf16_pack_gradient_grid, `dyg_stride` apart); cin
/// and cout multiples of 16, stride 1. Each element sums the samples in order, each over its grid
/// in order: the bits depend on the geometry only. The batch's grid positions run in chunks of
/// `positions` (rounded up to a multiple of 32; all at once when ≤ 0), each through every block
/// of the call before the next: the caller sizes a chunk's inputs and gradients to stay in cache
/// while the blocks re-read them; the result does not depend on it. On the tile unit when the
/// bfloat16 level in use is DK_BF16_AMX, else on the software model (as dk_conv_forward_tiles).
/// With `accumulate` zero the blocks of dw are only written (the sums start from zero: the bits
/// of a zeroed dw).
void dk_conv_weight_grad_tiles(const dk_conv_geometry *g, const uint16_t *xt, long xt_stride, const uint16_t *dyg,
                               long dyg_stride, long samples, float *dw, long kb0, long kb1, long cb0, long cb1,
                               long positions, int accumulate);

/// dk_conv_weight_grad_tiles on the tile unit (`hardware` non-zero) or the model (0), as
/// dk_conv_forward_tiles_on: -1 without running when the tile unit is asked for without AMX.
int dk_conv_weight_grad_tiles_on(int hardware, const dk_conv_geometry *g, const uint16_t *xt, long xt_stride,
                                 const uint16_t *dyg, long dyg_stride, long samples, float *dw, long kb0, long kb1,
                                 long cb0, long cb1, long positions, int accumulate);

/// For the tests' trap emulator (Tests/AMXTrapEmulator): non-zero makes dk_conv_forward_tiles and
/// dk_conv_weight_grad_tiles run the tile unit's compilation of the kernels, and the `_on` forms
/// accept `hardware`, whatever the level detected; 0 (the default) restores the rule. On a CPU
/// without AMX tiles in use, a process without the emulator's SIGILL handler then stops at the
/// first tile instruction.
void dk_amx_route_to_tile_unit(int on);

/// How many calls with work ran a tile kernel (forward or weight gradient) on the tile unit (`hardware`
/// non-zero) or on the software model (0) in this process (tests: which one ran).
long dk_conv_tile_calls(int hardware);

#ifdef __cplusplus
}
#endif

#endif
