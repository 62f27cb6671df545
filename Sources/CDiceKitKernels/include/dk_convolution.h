// The direct Float convolution kernels (convolution/: AVX-512 and AVX2 + FMA variants, chosen by
// the entry points from the level in use), reached from Sources/DiceKit/Convolution
// (DirectConvolution.swift, ConvEngine.swift).
#ifndef DK_CONVOLUTION_H
#define DK_CONVOLUTION_H

#include "dk_limits.h"
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// A direct convolution (convolution/conv_avx512.c for AVX-512, conv_avx2.c for AVX2): stride 1
/// (or any stride for the forward pass and the weight gradient), no dilation, one group, `cout` a multiple of DK_CONV_CHANNEL_MULTIPLE, `cin` a multiple of it
/// or kw·cin a multiple of 3, on one zero-padded channels-last sample of extents
/// (od + kd − 1, hp, wp).
typedef struct {
    long hp, wp;           ///< padded rows and columns of the input (per depth slice)
    long od, oh, ow;       ///< output extents
    int kd, kh, kw;        ///< kernel extents
    int cin, cout;         ///< channels
    long weight_block;     ///< bytes of weights one K block of the forward pass may hold (0: 128 KiB);
                           ///< DiceKit derives it from L2 (Convolution/ConvBlocking.swift)
    int relu;              ///< forward: 1 stores max(0, y) in the output pass, NaN kept (evaluation-mode fusion)
    int sd, sh, sw;        ///< strides (0 means 1): output position (z, y, x) reads the padded input from
                           ///< (sd·z, sh·y, sw·x). Only the forward pass (its per-position tiles) and the
                           ///< weight gradient take strides above 1; the input gradient, the grid tiles and
                           ///< the bfloat16 and few-channel kernels need 1.
    int ud, uh, uw;        ///< up-sampling factors of a scattered output (0: none). With them the forward
                           ///< pass is a 1×1 one whose cout = ud·uh·uw·C columns (a, b, c, channel) of output
                           ///< position (z, y, x) go to position (ud·z + a, uh·y + b, uw·x + c) of a
                           ///< [ud·od, uh·oh, uw·ow, C] output: the forward pass of a transposed convolution
                           ///< whose kernel equals its stride (the input gradient of a convolution that
                           ///< tiles its input exactly). C must be a multiple of 16. On the Float kernels,
                           ///< per-position tiles only; the bfloat16 forward passes (dot products and AMX
                           ///< tiles) take it too, adding the bias after the sum, as the lowered path's
                           ///< scatter adds its fill.
    long yw, yh;           ///< the output around this pass's window (0: none, the output is od × oh × ow):
                           ///< positions per output line and lines per output plane of a larger output
                           ///< that the pass writes a box of, given `y` at the box's first position. DiceKit's
                           ///< forward passes that read their input in place write an interior box and
                           ///< border strips of one output that way (Convolution/InPlaceForward.swift). Not
                           ///< with a scattered output.
    int per_position;      ///< 1: per-position tiles where grid tiles would serve (16 or 32 output channels),
                           ///< for a pass a few columns wide (a border strip: its grid would be mostly
                           ///< positions computed and not stored) or one whose input has no slack after it.
                           ///< They sum in the grid tiles' order: the bits are the same.
    uintptr_t xb;          ///< forward: the input as two parts (a channel concatenation read in place, a U-Net
    int cin_a;             ///< decoder's up-sampled tensor and skip): channels [0, cin_a) of a position at `xp`
                           ///< (cin_a per position), channels [cin_a, cin) at address `xb` (cin − cin_a per
                           ///< position), same grid; 0: one part. An address, not a pointer, so that the
                           ///< geometry stays a plain value (Swift: Sendable). The sums are those of the
                           ///< joined input, in its order. Float forward tiles only (not the first-layer ones).
    int round_output;      ///< forward passes: 1 stores each value's bfloat16 rounding (dk_bf16_bits: to nearest,
                           ///< ties to even), after the ReLU. The bfloat16 ones (dk_conv_forward_bf16,
                           ///< dk_conv_forward_tiles) then write `y` as a uint16_t array of the bits: the
                           ///< activation the next bfloat16 convolution reads, with no Float copy between; the
                           ///< Float ones (dk_conv_forward_f32) write the rounded values as Floats, which the
                           ///< next rounded-operand convolution reads as they are (no rounded copy). Not the
                           ///< few-channel kernels (dk_conv_forward_narrow_f32).
    int cout_a;            ///< forward kernels (Float, bfloat16 dot-product and tile; not 16 output channels, not the
    long yb_offset;        ///< few-channel or scattered ones): the output as two parts of cout_a = cout / 2 channels
                           ///< each (a multiple of 16), channels
                           ///< [0, cout_a) of a position at `y` (cout_a per position), channels [cout_a, cout)
                           ///< `yb_offset` elements further (the same place in the second part): a U-Net
                           ///< decoder's input gradient stored as its up-sampled and skip parts. 0: one part.
    int head_classes;      ///< bfloat16 forward passes (dk_conv_forward_bf16, dk_conv_forward_tiles) of at most
    uintptr_t head_weight; ///< 64 output channels, one part, not scattered: 0, or the class count of a 1×1 head
    uintptr_t head_bias;   ///< (1 … 15) applied in the stores. Each position's cout outputs (after the ReLU) are
                           ///< then not stored: y holds, at position·head_classes + c, the sum of those outputs
                           ///< times the head's kernel `head_weight` (Floats, transposed: [head_classes][cout])
                           ///< plus `head_bias` (Floats, [head_classes], or 0 for none), summed as
                           ///< dk_conv_forward_narrow_f32 sums it at AVX-512 (the same bits as that kernel run on
                           ///< the stored outputs). Addresses, as `xb`.
} dk_conv_geometry;

/// Writes the [kd·kh·kw·cin, cout] kernel `w` in the layout the forward pass reads: blocks of
/// DK_CONV_CHANNEL_BLOCK output channels one after the other, each block (width
/// min(64, cout − 64·b)) its kd·kh·kw·cin rows of that many floats, contiguous. With cout ≤ 64
/// that is a plain copy. `packed` should be 64-byte aligned (the kernels' vector loads then
/// never straddle a cache line) and holds kd·kh·kw·cin·cout floats.
void dk_conv_pack_weights(const dk_conv_geometry *g, const float *w, float *packed);

/// Rows [r0, r1) of every block of dk_conv_pack_weights (0 ≤ r0 ≤ r1 ≤ kd·kh·kw·cin): callers
/// that split the rows between threads write the whole packing, the same bits.
void dk_conv_pack_weight_rows(const dk_conv_geometry *g, const float *w, float *packed, long r0, long r1);

/// dk_conv_pack_weight_rows of the same kernel given in PyTorch's layout [cout, cin, kd·kh·kw]
/// (`w`; row r = t·cin + ci of DiceKit's layout is element (co, ci, t) there): the same bits,
/// without the kernel in DiceKit's layout (convolution/weight_layout.c).
void dk_conv_pack_weight_rows_pytorch(const dk_conv_geometry *g, const float *w, float *packed, long r0, long r1);

/// Whether the channel-range forms below apply to a kernel of `taps` taps, cin input and cout
/// output channels: AVX-512 in use, both channel counts multiples of 16, at most 27 taps.
int dk_conv_packs_pytorch_blocks(long taps, long cin, long cout);

/// Output channels [c0, c1) (multiples of 16) of dk_conv_pack_weight_rows_pytorch's packing,
/// every row, made in blocks of 16 × 16 channels transposed in registers instead of gathers:
/// the same bits, in ranges that workers may take one each (precondition:
/// dk_conv_packs_pytorch_blocks).
void dk_conv_pack_weight_channels_pytorch(const dk_conv_geometry *g, const float *w, float *packed, long c0, long c1);

/// Copies `positions` positions of `channels` floats from the packed `src` to `dst`, `stride`
/// floats apart (one part of a channel concatenation into a padded row: `stride` is the joined
/// channel count), rounding each value to bfloat16 (kept as Float) when `round` is non-zero.
void dk_conv_join_channels(const float *src, long channels, float *dst, long stride, long positions, int round);

/// dk_conv_join_channels of a part given as bfloat16 bits: each value widened to the Float it
/// stands for (exact).
void dk_conv_join_channels_bf16(const uint16_t *src, long channels, float *dst, long stride, long positions);

/// y = conv(xp, w) (+ bias) at output positions [q0, q1) of one sample, q = (z·oh + y)·ow + x.
/// `y` is the sample's [od, oh, ow, cout] output (or the first position of a window of a larger
/// one: dk_conv_geometry.yw/yh), `w` the [kd, kh, kw, cin, cout] kernel packed
/// by dk_conv_pack_weights, `bias` [cout] or NULL. `xp` must be readable for kw + 24 positions past the padded sample (zeros;
/// callers provide kw + DK_CONV_SLACK_POSITIONS).
void dk_conv_forward_f32(const dk_conv_geometry *g, const float *xp, const float *w, const float *bias,
                         float *y, long q0, long q1);

/// A Winograd F(2×2, 3×3) forward pass (convolution/conv_winograd.c): a 3×3 convolution of
/// stride 1 over a batch of zero-padded channels-last 2-D samples, (oh + 2) × (ow + 2) positions
/// each, output in tiles of 2 × 2 positions, numbered across the batch (sample by sample, row by
/// row); or F(2×2×2, 3×3×3): a 3×3×3 one over 3-D samples of (od + 2) planes of such positions,
/// output in tiles of 2 × 2 × 2 (sample by sample, plane by plane, row by row).
typedef struct {
    long wp;                   ///< padded columns of the input (ow + 2)
    long od;                   ///< output planes: 0 or 1 for a 2-D pass (a 4 × 4 transform, 16 elements ξ);
                               ///< even for a 3-D pass (4 × 4 × 4, 64 elements ξ)
    long oh, ow;               ///< output rows and columns (even)
    long sample_floats;        ///< floats from one padded sample to the next
    long output_sample_floats; ///< floats from one sample's output to the next (in each part)
    int cin, cout;             ///< channels: multiples of 8 and of 16
    int relu;                  ///< 1 stores max(0, y), NaN kept (evaluation-mode fusion)
    int round_output;          ///< 0 stores Floats; 1 (dk_conv_winograd_forward_bf16) y's bfloat16 bits
                               ///< (dk_bf16_bits); 2 Floats rounded to bfloat16 values
    int cout_a;                ///< the output as two parts of cout_a = cout / 2 channels (a multiple of 16),
    long yb_offset;            ///< the second `yb_offset` floats after the first (dk_conv_geometry's); 0: one part
    long block;                ///< tiles transformed at a time (DiceKit sizes it from L2: ConvBlocking.swift)
    int round_gradient;        ///< 1: dk_conv_winograd_weight_grad_f32 reads each dy value rounded to bfloat16
                               ///< (dk_bf16_bits: the rounded-operand arithmetic's dy); 0 as it is
} dk_winograd_geometry;

/// Whether the Winograd pass runs at the level in use: AVX2 or AVX-512 (whose products take
/// 16-lane vectors, conv_winograd_avx512.c, and give the same bits).
int dk_conv_winograd_enabled(void);

/// Input channels [ci0, ci1) of the transformed kernel u = G g Gᵀ (G along each axis),
/// [ξ][cout / 16][cin][16] floats (64-byte aligned; 16 or 64 elements ξ), from the
/// [kd, 3, 3, cin, cout] kernel (kd 1 or 3) packed by dk_conv_pack_weights (or the input
/// gradient's flipped one): ranges that workers may take one each.
void dk_conv_winograd_transform_kernel_f32(const float *packed, int kd, long cin, long cout, float *u, long ci0,
                                           long ci1);

/// Floats of the scratch (64-byte aligned) that dk_conv_winograd_forward_f32 needs for `g`.
long dk_conv_winograd_scratch_floats(const dk_winograd_geometry *g);

/// y = conv(xp, w) (+ bias) at tiles [t0, t1) of the batch: `xp` the padded batch, `u` the
/// transformed kernel, `y` the output (positions of cout floats, or cout_a in each part; with
/// g->round_output 2 each rounded to a bfloat16 value), `scratch` dk_conv_winograd_scratch_floats(g)
/// floats. Each output's bits are the same whatever the tile range that computes it.
void dk_conv_winograd_forward_f32(const dk_winograd_geometry *g, const float *xp, long t0, long t1, const float *u,
                                  const float *bias, float *y, float *scratch);

/// Whether Winograd F(4×4, 3×3) runs at the level in use: AVX-512 (conv_winograd4.c).
int dk_conv_winograd4_enabled(void);

/// Input channels [ci0, ci1) of the F(4×4, 3×3) transformed kernel u = G g Gᵀ, [36][cout / 16][cin][16]
/// floats (64-byte aligned), from the [3, 3, cin, cout] kernel packed by dk_conv_pack_weights (or
/// the input gradient's flipped one): ranges that workers may take one each.
void dk_conv_winograd4_transform_kernel_f32(const float *packed, long cin, long cout, float *u, long ci0, long ci1);

/// Floats of the scratch (64-byte aligned) that dk_conv_winograd4_forward_f32 needs for `g`.
long dk_conv_winograd4_scratch_floats(const dk_winograd_geometry *g);

/// dk_conv_winograd_forward_f32 as F(4×4, 3×3) over a 2-D batch whose output rows and columns are
/// multiples of 4: tiles [t0, t1) of 4 × 4 outputs (numbered sample by sample, row by row), `u`
/// the transform of dk_conv_winograd4_transform_kernel_f32, g->round_output 0 or 2. Each
/// output's bits are the same whatever the tile range that computes it.
void dk_conv_winograd4_forward_f32(const dk_winograd_geometry *g, const float *xp, long t0, long t1, const float *u,
                                   const float *bias, float *y, float *scratch);

/// A forward pass split by elements (for passes of few tiles and large kernels: the transformed
/// kernel read once per pass), in three phases run one after another, each worker on its own
/// chunk of tiles [first, first + count) and its chunk buffer of
/// dk_conv_winograd_chunk_floats(g, count) floats (64-byte aligned): (1) the chunk's transformed
/// input; (2) the products of elements ξ [x0, x1) of every chunk, the workers taking disjoint
/// ranges of ξ; (3) the chunk's output transform into `y`, as dk_conv_winograd_forward_f32
/// stores it. The same bits as dk_conv_winograd_forward_f32 (each output's sums are the same).
long dk_conv_winograd_chunk_floats(const dk_winograd_geometry *g, long count);
/// Phase 1 of a forward pass split by elements: the chunk's transformed input.
void dk_conv_winograd_chunk_input_f32(const dk_winograd_geometry *g, const float *xp, long first, long count,
                                      float *chunk);
/// Phase 2: the products of elements ξ [x0, x1) of a chunk of `count` tiles by the transformed kernel `u`.
void dk_conv_winograd_chunk_products_f32(const dk_winograd_geometry *g, float *chunk, long count, const float *u,
                                         long x0, long x1);
/// Phase 3: the output transform of the chunk of tiles [first, first + count) into `y`.
void dk_conv_winograd_chunk_output_f32(const dk_winograd_geometry *g, float *chunk, long first, long count,
                                       const float *bias, float *y);

/// Elements ξ [x0, x1) of the transformed kernel `u` (dk_conv_winograd_transform_kernel_f32's,
/// `points` elements ξ) rounded to bfloat16 (dk_bf16_bits) in input-channel pairs,
/// [ξ][cout / 16][cin / 2][16][2] (64-byte aligned), for dk_conv_winograd_forward_bf16: ranges
/// that workers may take one each. x86-64 with AVX512-BF16 only.
void dk_conv_winograd_round_kernel_bf16(const float *u, long points, long cin, long cout, uint16_t *ub, long x0,
                                        long x1);

/// Elements ξ [x0, x1) of the input gradient's rounded transformed kernel from the forward
/// pass's (`ub`, dk_conv_winograd_round_kernel_bf16's layout for a forward kernel of `cin` →
/// `cout` channels, 2-D): the flipped, transposed kernel's transform is the forward one's with its
/// channels transposed and element (a, b) taken from (σ(a), σ(b)), σ swapping 0 and 3 (G's rows
/// 0 and 3 swap when the taps are reversed, rows 1 and 2 are symmetric, and the transform sums
/// taps 0 and 2 first, so the Float values, and their roundings, are the same bits). `ut` in that
/// layout for a kernel of `cout` → `cin` channels. Portable.
void dk_conv_winograd_transpose_kernel_bf16(const uint16_t *ub, long cin, long cout, uint16_t *ut, long x0, long x1);

/// dk_conv_winograd_forward_f32 with bfloat16 products (AVX512-BF16): each block's transformed
/// input and the transformed kernel `u` (dk_conv_winograd_round_kernel_bf16's) rounded to
/// bfloat16, their products summed in Float (vdpbf16ps); y as Floats, or with g->round_output
/// their bfloat16 bits. The same bits whatever the tile range. Only where the bfloat16 level in
/// use is AVX512-BF16 or AMX (dk_bf16_level_in_use).
void dk_conv_winograd_forward_bf16(const dk_winograd_geometry *g, const float *xp, long t0, long t1, const uint16_t *u,
                                   const float *bias, void *y, float *scratch);

/// Floats of the scratch that dk_conv_winograd_weight_grad_f32 needs for `g`.
long dk_conv_winograd_weight_grad_scratch_floats(const dk_winograd_geometry *g);

/// du[ξ][ci][co] += Σ over tiles [t0, t1) of the batch of (Bᵀ d B)[ξ][ci] · (A dy Aᵀ)[ξ][co]: the
/// weight gradient in the transform's domain (`xp` the padded batch as the forward pass reads it,
/// `dy` the output gradient [batch, od, oh, ow, cout], each value rounded to bfloat16 as it is
/// read where g->round_gradient is 1, `du` 16 · cin · cout floats, or 64 for a 3-D pass, a
/// worker's own). Its bits depend on the tile range (the sums are in tile order within it).
/// With `fresh` (and t0 < t1) du = that sum: du is neither read nor zeroed first (the same bits as
/// from a zeroed du).
void dk_conv_winograd_weight_grad_f32(const dk_winograd_geometry *g, const float *xp, const float *dy, long t0,
                                      long t1, float *du, float *scratch, int fresh);

/// The bfloat16 weight gradient's operands (2-D) of tiles [first, first + count) of the batch:
/// V = Bᵀ d B from `xp` (the padded batch, its values rounded to bfloat16 already) and
/// dM = A dy₁₆ Aᵀ from `dy` (each value rounded to bfloat16 as it is read), both in Float, then
/// rounded to bfloat16 and paired along the tiles: vp[ξ][k][ci] holds tile first + 2k's bits in
/// its low half and tile first + 2k + 1's in its high half (zero past the last tile), dmp[ξ][k][co]
/// the same, ξ's pairs `capacity` pairs apart (conv_winograd_bf16_weight.c). `count` is even
/// unless the range ends the batch. AVX512-BF16 only (dk_bf16_level_in_use).
void dk_conv_winograd_weight_pairs_bf16(const dk_winograd_geometry *g, const float *xp, const float *dy, long first,
                                        long count, long capacity, uint32_t *vp, uint32_t *dmp);

/// du[ci][co] += Σ over pairs k < `pairs`, in order, of vp[k][ci] · dmp[k][co] (two products
/// each, vdpbf16ps), input channels [ci0, ci1) (ci0 and ci1 multiples of 4): one element ξ of the
/// pairs of dk_conv_winograd_weight_pairs_bf16 (rows cin and cout pairs), `du` its cin × cout
/// floats; with `fresh` the sums start from zero (du's rows are only written: the same bits as
/// adding to zeros). AVX512-BF16 only (dk_bf16_level_in_use).
void dk_conv_winograd_accumulate_bf16(const uint32_t *vp, const uint32_t *dmp, long cin, long cout, long pairs,
                                      long ci0, long ci1, int fresh, float *du);

/// The weight gradient's sums split by elements, in two phases: (1) each worker's chunk of tiles
/// [first, first + count) transformed, x and dy (as dk_conv_winograd_weight_grad_f32 reads
/// them), into its buffer of dk_conv_winograd_weight_chunk_floats(g, count) floats; (2) for
/// elements ξ [x0, x1), du[ξ] += the chunk's sums (with `fresh`, du[ξ] = them), the workers taking
/// disjoint ranges of ξ and each adding the chunks in tile order: the bits of
/// dk_conv_winograd_weight_grad_f32 over the whole batch by one worker.
long dk_conv_winograd_weight_chunk_floats(const dk_winograd_geometry *g, long count);
/// Phase 1 of the weight gradient split by elements: the chunk's transformed x and dy.
void dk_conv_winograd_weight_chunk_f32(const dk_winograd_geometry *g, const float *xp, const float *dy, long first,
                                       long count, float *chunk);
/// Phase 2: du[ξ] (+)= the sums of a chunk of `count` tiles for elements ξ [x0, x1).
void dk_conv_winograd_weight_chunk_sums_f32(const dk_winograd_geometry *g, const float *chunk, long count, long x0,
                                            long x1, float *du, int fresh);

/// Input channels [ci0, ci1) of dW = Gᵀ du G (along each axis), the [kd, 3, 3, cin, cout] weight
/// gradient (overwritten; kd 1 or 3) from dk_conv_winograd_weight_grad_f32's sums.
void dk_conv_winograd_weight_from_transform_f32(const float *du, int kd, long cin, long cout, float *dw, long ci0,
                                                long ci1);

/// y = conv(xp, w) (+ bias) as dk_conv_forward_f32, for few output channels (cout < 16; cin a
/// multiple of 16), with the kernel given transposed: wt[co][k] = w[k][co], k over
/// kd·kh·kw·cin (convolution/conv_narrow.c: the input gradient of a first layer).
void dk_conv_forward_narrow_f32(const dk_conv_geometry *g, const float *xp, const float *wt, const float *bias,
                                float *y, long q0, long q1);

/// dw[kd·kh·kw·cin, cout] += the weight gradient from output lines [l0, l1) of one sample
/// (line l = z·oh + y), with `dy` the sample's [od, oh, ow, cout] output gradient.
void dk_conv_weight_grad_f32(const dk_conv_geometry *g, const float *xp, const float *dy, float *dw, long l0, long l1);

/// dw += the weight gradient of kernel segments [s0, s1) (segment = kz·kh + ky: rows
/// [s·kw·cin, (s + 1)·kw·cin)) and output channels [co0, co1) (co0 a multiple of DK_CONV_CHANNEL_BLOCK), over every
/// output line of `samples` samples: padded inputs `xp_stride` floats apart, output gradients
/// od·oh·ow·cout apart. Disjoint blocks can run in parallel into one dw (small images, where a
/// per-sample accumulator would be streamed once per sample). The block's tiles run over
/// `lines` output lines of one sample at a time (all lines when ≤ 0), which the caller sizes
/// to hold the lines' input and output-gradient rows in L2; the result does not depend on it.
/// The padded positions lie `xs` floats apart: cin, or a spread copy's
/// dk_conv_spread_position_floats(cin) (its floats past cin are never read). Same bits either way.
void dk_conv_weight_grad_block_f32(const dk_conv_geometry *g, const float *xp, long xp_stride, long xs,
                                   const float *dy, long samples, float *dw, int s0, int s1, int co0, int co1,
                                   long lines);

/// Floats per position of the padded input that DiceKit spreads for dk_conv_weight_grad_block_f32
/// at the level in use: at AVX2, cin + 16 when cin is a multiple of 32; else cin. A
/// weight-gradient tile reads a few floats of each of its positions' input (6 of cin) per pass,
/// and the next tiles read the rest of the same cache lines. With positions an even number of
/// 64-byte lines apart (cin·4 bytes: a power of two in a U-Net) they fall into a fraction of L1's
/// 64 sets (2 of them at 512 channels, holding 16 of an 8² image's 64 positions), so every tile
/// read them from L2 again; an odd number of lines apart, they spread over every set and stay in
/// L1 for the next tiles. Not a cache size: x86-64 cores index L1 by the address's bits 6–11
/// (4 KiB per way, the page offset), whatever its size. The AVX-512 tiles read a spread input
/// (the same bits), but their speed with it has not been measured yet, so they get cin.
long dk_conv_spread_position_floats(int cin);

/// How dk_kernel_to_pytorch stores a value v: as it is; added to what `dst` holds; or as 0 + v,
/// the bits of adding it to a zero, without reading `dst` (a gradient zeroed but not yet written).
typedef enum { DK_LAYOUT_WRITE = 0, DK_LAYOUT_ADD = 1, DK_LAYOUT_ADD_TO_ZERO = 2 } dk_layout_store;

/// Values (i, j, t) with j in [j0, j1) of a Float kernel in DiceKit's layout [k, b, a] (`src`,
/// element (t·b + j)·a + i) stored, as `store` says, to PyTorch's [a, b, k] (`dst`, element
/// (i·b + j)·k + t) (convolution/weight_layout.c). Ranges of j are disjoint in both layouts, so
/// workers may take one each.
void dk_kernel_to_pytorch(const float *src, float *dst, long a, long b, long k, long j0, long j1,
                          dk_layout_store store);

/// The inverse of dk_kernel_to_pytorch (without adding): values with j in [j0, j1) of `src` in
/// PyTorch's layout [a, b, k] written to `dst` in DiceKit's [k, b, a].
void dk_kernel_from_pytorch(const float *src, float *dst, long a, long b, long k, long j0, long j1);

/// The input gradient's kernel of the direct path: W'[t][co][ci] = w[taps − 1 − t][ci][co] for
/// a kernel `w` [taps, cin, cout] (DiceKit's layout), written in dk_conv_pack_weights' layout
/// of a [taps·cout, cin] kernel (blocks of DK_CONV_CHANNEL_BLOCK columns ci, each block's rows
/// contiguous) to `flipped` (convolution/weight_layout.c). cin is a multiple of 16; unit u
/// covers tap u / (cin / 16) and the 16 input channels from 16·(u mod (cin / 16)), and this call
/// writes units [u0, u1): disjoint ranges, so workers may take one each.
void dk_conv_pack_weights_flipped(const float *w, float *flipped, long taps, long cin, long cout, long u0, long u1);

/// dk_conv_pack_weights_flipped of the same kernel given in PyTorch's layout [cout, cin, taps]
/// (W'[t][co][ci] = w[co][ci][taps − 1 − t]): the same bits.
void dk_conv_pack_weights_flipped_pytorch(const float *w, float *flipped, long taps, long cin, long cout, long u0,
                                          long u1);

/// The rows of output channels [c0, c1) (multiples of 16) of every tap of
/// dk_conv_pack_weights_flipped_pytorch's packing, made in blocks of 16 × 16 channels
/// transposed in registers instead of gathers: the same bits, in ranges that workers may take
/// one each (precondition: dk_conv_packs_pytorch_blocks).
void dk_conv_pack_weights_flipped_channels_pytorch(const float *w, float *flipped, long taps, long cin, long cout,
                                                   long c0, long c1);

#ifdef __cplusplus
}
#endif

#endif
