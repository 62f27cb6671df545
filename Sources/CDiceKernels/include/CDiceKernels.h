// CDiceKernels: the hot inner loops of DiceKit's Dice losses (Float, integer label targets,
// fused sigmoid/softmax), of 2×2 max pooling and of direct convolutions, with AVX-512 (and for
// the losses and convolutions AVX2) variants chosen at run time and a portable fallback (the
// direct convolutions have none: DiceKit uses im2col + GEMM without AVX2). The CPU is detected once,
// thread-safely, in cpu_dispatch.c, which also sets flush-to-zero for kernel threads. Internal to
// DiceKit: reached only through Sources/DiceKit/Losses/DiceLoss+CKernels.swift,
// Sources/DiceKit/Convolution/PoolingKernels+Tiling.swift,
// Sources/DiceKit/Convolution/DirectConvolution.swift, BFloat16Convolution.swift and ConvEngine.swift, and
// Sources/DiceKit/Support (InstructionSet.swift, BFloat16.swift, WorkerPool.swift).
#ifndef CDICEKERNELS_H
#define CDICEKERNELS_H

#include <stdint.h>
#include "dk_platform.h"

#ifdef __cplusplus
extern "C" {
#endif

/// Geometry and options of one call (one sample, positions s0..<s1).
typedef struct {
    long spatial;          ///< positions per sample (S)
    long s0, s1;           ///< the position range of this call
    int channels;          ///< C (1…16)
    int channels_last;     ///< 1: element (s, c) at s*C + c; 0: at c*S + s
    int activation;        ///< 0 none, 1 sigmoid, 2 softmax
    int squared;           ///< P = Σp² (G = Σg² = Σg for labels); the gradient uses 2b·p
    int cross_entropy;     ///< 0 none, 1 softmax CE (needs activation 2), 2 binary CE with logits (activation 1)
    float ce_scale;        ///< pass 2: the factor of (p − g) added for the cross-entropy
    int soft;              ///< dense targets: also accumulate D = Σ|p − g| (soft-label TP); pass 2 uses f·sign(p − g)
    int has_ignore;        ///< whether `ignore` is in effect
    int32_t ignore;        ///< the ignore index
    int32_t label_offset;  ///< g_c = (label == c + label_offset)
    int32_t label_limit;   ///< valid labels: 0 <= label < label_limit
} dk_geometry;

/// Pass-1 outputs of one call: sums per channel (in double), the counted positions, and flags.
typedef struct {
    double tp[16], p[16], g[16];
    double d[16];          ///< Σ|p − g| (dense targets with `soft`)
    double counted;
    double ce;             ///< Σ of the cross-entropy over counted positions (softmax) or elements (binary)
    int nonfinite;         ///< a prediction was NaN or infinite
    int bad_label;         ///< a label (not ignored) was outside 0..<label_limit
} dk_stats;

/// Pass 1. `x`, `labels`, `probs` point at the sample's first element; `probs` may be NULL.
void dk_stats_f32(const dk_geometry *geo, const float *x, const int32_t *labels, float *probs, dk_stats *out);

/// Pass 2. `grad` holds the probabilities on entry and dL/dz on exit; a[c], b[c] are the
/// coefficients of g and of 1 (of 2p when squared) in dL/dp = a·g + b.
void dk_grad_f32(const dk_geometry *geo, const int32_t *labels, float *grad, const float *a, const float *b);

/// Pass 1 with a dense target `t` (one-hot or soft, the prediction's layout) instead of labels.
void dk_stats_dense_f32(const dk_geometry *geo, const float *x, const float *t, float *probs, dk_stats *out);

/// Pass 2 with a dense target; f[c] is the coefficient of sign(p − g) (soft labels).
void dk_grad_dense_f32(const dk_geometry *geo, const float *t, float *grad, const float *a, const float *b, const float *f);

/// 2×2, stride-2 max pooling of channels-last Float images (pooling_kernels.c): `lines` pairs
/// of input rows of `in_w` pixels (= 2·out_w, or one more) and `c` channels become `lines` output
/// rows; taps[i] ∈ 0…3 records the winning tap of output element i (row-major window order).
void dk_maxpool2x2_f32(const float *x, float *y, uint8_t *taps, long lines, long out_w, long in_w, long c);

/// Its backward pass: writes every input element of the windows (dy where the tap won, else 0),
/// plus `addend` (the input's layout) when it is not NULL.
void dk_maxpool2x2_back_f32(const float *dy, const uint8_t *taps, const float *addend, float *dx,
                            long lines, long out_w, long in_w, long c);

/// A direct convolution (conv_kernels.c for AVX-512, conv_kernels_avx2.c for AVX2): stride 1, no dilation, one group, `cout` a multiple
/// of 16, `cin` a multiple of 16 or kw·cin a multiple of 3, on one zero-padded channels-last
/// sample of extents (od + kd − 1, hp, wp).
typedef struct {
    long hp, wp;           ///< padded rows and columns of the input (per depth slice)
    long od, oh, ow;       ///< output extents
    int kd, kh, kw;        ///< kernel extents
    int cin, cout;         ///< channels
    long weight_block;     ///< bytes of weights one K block of the forward pass may hold (0: 128 KiB);
                           ///< DiceKit derives it from L1d (Convolution/ConvBlocking.swift)
    int relu;              ///< forward: 1 stores max(0, y) in the output pass, NaN kept (evaluation-mode fusion)
} dk_conv_geometry;

/// y = conv(xp, w) (+ bias) at output positions [q0, q1) of one sample, q = (z·oh + y)·ow + x.
/// `y` is the sample's [od, oh, ow, cout] output, `w` the [kd, kh, kw, cin, cout] kernel, `bias`
/// [cout] or NULL. `xp` must be readable for kw + 24 positions past the padded sample (zeros).
void dk_conv_forward_f32(const dk_conv_geometry *g, const float *xp, const float *w, const float *bias,
                         float *y, long q0, long q1);

/// dw[kd·kh·kw·cin, cout] += the weight gradient from output lines [l0, l1) of one sample
/// (line l = z·oh + y), with `dy` the sample's [od, oh, ow, cout] output gradient.
void dk_conv_weight_grad_f32(const dk_conv_geometry *g, const float *xp, const float *dy, float *dw, long l0, long l1);

/// dw += the weight gradient of kernel segments [s0, s1) (segment = kz·kh + ky: rows
/// [s·kw·cin, (s + 1)·kw·cin)) and output channels [co0, co1) (co0 a multiple of 64), over every
/// output line of `samples` samples: padded inputs `xp_stride` floats apart, output gradients
/// od·oh·ow·cout apart. Disjoint blocks can run in parallel into one dw (small images, where a
/// per-sample accumulator would be streamed once per sample).
void dk_conv_weight_grad_block_f32(const dk_conv_geometry *g, const float *xp, long xp_stride, const float *dy, long samples,
                                   float *dw, int s0, int s1, int co0, int co1);

// MARK: - Run-time dispatch (cpu_dispatch.c)

/// Instruction-set levels of the kernels, named alike in Swift (`InstructionSet`).
typedef enum {
    DK_ISA_PORTABLE = 0,   ///< baseline x86-64 (SSE2) C code; for convolutions, the lowered im2col + GEMM path
    DK_ISA_AVX2 = 1,       ///< AVX2 + FMA
    DK_ISA_AVX512 = 2      ///< AVX-512 F/BW/DQ + FMA (pooling also needs VL)
} dk_isa_level;

/// The kernel families whose last-used level is recorded.
typedef enum {
    DK_KERNEL_LOSS = 0,    ///< the Dice-loss passes (dice_kernels.c)
    DK_KERNEL_POOL = 1,    ///< 2×2 max pooling (pooling_kernels.c)
    DK_KERNEL_CONV = 2,    ///< convolutions: AVX-512 or AVX2 direct kernels, or PORTABLE for the lowered path
    DK_KERNEL_CONV_BF16 = 3, ///< bfloat16 convolutions (conv_kernels_bf16.c): AVX512 for the AVX512-BF16 kernels
    DK_KERNEL_FAMILIES = 4
} dk_kernel_family;

/// The best level this CPU runs, detected once (thread-safe: pthread_once).
dk_isa_level dk_isa_detected(void);

/// The level in use: the forced one, else the detected one.
dk_isa_level dk_isa(void);

/// Forces `level` (a dk_isa_level) for every kernel family; -1 restores automatic choice.
/// Returns 0, or -1 (and changes nothing) when the CPU lacks that level.
int dk_force_isa(int level);

/// Whether 2×2 max pooling runs its AVX-512 loop (the level in use is AVX-512 and the CPU has VL).
int dk_pool_avx512_enabled(void);

/// Whether convolutions may take the direct kernels (the level in use is AVX2 or AVX-512; the
/// entry points run the variant of the level in use).
int dk_conv_direct_enabled(void);

/// Records the level a kernel family ran at (the kernels call it; Swift for the lowered path).
void dk_note_isa(dk_kernel_family family, dk_isa_level level);

/// The level the family's last call ran at, or -1 before any call.
int dk_last_isa(dk_kernel_family family);

/// Sets flush-to-zero and denormals-are-zero in this thread's MXCSR; returns the previous
/// control word for dk_fp_restore. Non-x86: does nothing.
unsigned dk_fp_flush_begin(void);

/// Restores the control word returned by dk_fp_flush_begin.
void dk_fp_restore(unsigned previous);

/// This thread's MXCSR (0 on non-x86), and a setter for tests.
unsigned dk_fp_control(void);
void dk_fp_set_control(unsigned value);

/// Whether this thread flushes subnormals (FTZ and DAZ both set).
int dk_fp_flushes(void);

// MARK: - bfloat16 (bf16_dispatch.c, conv_kernels_bf16.c)

/// The bfloat16 levels: none, AVX512-BF16 (vdpbf16ps), AMX-BF16 (tiles, permission granted).
typedef enum {
    DK_BF16_NONE = 0,      ///< no bfloat16 dot product: bfloat16 requests run in Float
    DK_BF16_AVX512 = 1,    ///< AVX512-BF16 with AVX-512 F/BW/VL
    DK_BF16_AMX = 2        ///< AMX-BF16 + AMX-TILE, tile data permitted by the kernel (no tile kernel yet: runs level 1)
} dk_bf16_level;

/// The best bfloat16 level of this CPU, detected once (pthread_once); requests the AMX tile
/// permission once when the CPU has AMX.
dk_bf16_level dk_bf16_detected(void);

/// 1 when the AMX tile-data permission was granted, 0 when refused, -1 when never asked (no AMX).
int dk_amx_permission(void);

/// The level in use: the forced one, else the detected one; NONE when the Float level in use is below AVX-512.
dk_bf16_level dk_bf16_level_in_use(void);

/// Forces a bfloat16 level (-1: automatic). Returns -1 (and changes nothing) above the detected level.
int dk_force_bf16(int level);

/// Round-to-nearest-even Float → bfloat16 bits (NaN stays NaN, quiet; subnormals rounded, not flushed).
void dk_f32_to_bf16(const float *src, uint16_t *dst, long n);

/// bfloat16 bits → Float (exact).
void dk_bf16_to_f32(const uint16_t *src, float *dst, long n);

/// Packs the [kd·kh·kw·cin, cout] Float kernel (kw·cin even) as bfloat16 row pairs:
/// packed[(k/2)·cout·2 + 2·co + (k mod 2)] = w[k][co].
void dk_bf16_pack_weight(const dk_conv_geometry *g, const float *w, uint16_t *packed);

/// y = conv(xp, w) (+ bias) at output positions [q0, q1) of one sample as dk_conv_forward_f32,
/// with `xp` the padded sample in bfloat16 (cin a multiple of 16) and `wp` the packed kernel.
void dk_conv_forward_bf16(const dk_conv_geometry *g, const uint16_t *xp, const uint16_t *wp, const float *bias,
                          float *y, long q0, long q1);

/// xq[p][c] = (xp[p][c], xp[p + 1][c]) for the `positions` positions of a padded bfloat16 sample
/// (the last pairs with 0).
void dk_bf16_pack_pairs(const dk_conv_geometry *g, const uint16_t *xp, uint16_t *xq, long positions);

/// dyp[line][x/2][co] = (dy[line][x][co], dy[line][x + 1][co]) in bfloat16, 0 past an odd width.
void dk_bf16_pack_gradient(const dk_conv_geometry *g, const float *dy, uint16_t *dyp);

/// dw[kernel rows r0..<r1 (multiples of 16), co0..<co1] += Σ over every output position of `samples` samples,
/// from the pair-packed inputs `xq` (`xq_stride` elements apart) and packed gradients `dyp`
/// (`dy_stride` apart); the summation order of each element depends on the geometry only.
void dk_conv_weight_grad_bf16(const dk_conv_geometry *g, const uint16_t *xq, long xq_stride, const uint16_t *dyp,
                              long dy_stride, long samples, float *dw, long r0, long r1, int co0, int co1);

#ifdef __cplusplus
}
#endif

#include "dk_focal.h"

#endif
