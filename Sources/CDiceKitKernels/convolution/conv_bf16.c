// bfloat16 kernels: round-to-nearest-even conversion from Float, and direct convolutions with
// bfloat16 operands and Float accumulation (vdpbf16ps, AVX512-BF16) for the shapes of the Float
// direct kernels (conv_avx512.c) whose input channels are a multiple of 16.
//
// Conversion: bits(bf16) = (bits(f) + 0x7FFF + bit 16 of bits(f)) >> 16, the rounding of the
// upper half to nearest with ties to even, which also rounds subnormals exactly (they are not
// flushed) and overflows to infinity past the largest bfloat16 (0x7F7F, 3.3895e38); a NaN keeps
// its sign and upper payload and has the quiet bit (0x0040) set, so it never turns into an
// infinity. The vector loop (AVX-512 F/BW, integer arithmetic: the same bits as the scalar one)
// serves every CPU with AVX-512; vcvtneps2bf16 is not used because it flushes subnormal inputs.
//
// vdpbf16ps multiplies pairs: acc[i] += a[2i]·b[2i] + a[2i+1]·b[2i+1] in Float, for 16 lanes.
// Forward (and input gradient, which is a forward pass with the flipped kernel, as in
// DirectConvolution.swift): the reduction index k of a segment (kw·cin taps, consecutive in the
// padded input, see conv_avx512.c) is taken two at a time, so the 32-bit broadcast of
// xp[pos·cin + k .. k+1] pairs with the packed weights wp[s][k/2][co][2] (32 bf16 = 16 output
// channels per vector). With 16 output channels (the pair kernel then does one broadcast per
// product) the reduction is taken four at a time instead: a 64-bit broadcast feeds two vectors of
// weights packed in quads (forward_tile16, quad_index). Weight gradient: the reduction runs over output positions, taken two
// at a time along a row (x, x + 1): the output gradient is packed as dyp[line][x/2][co][2]
// (zero past an odd width), the padded input as overlapping pairs xq[pos][ci][2] =
// (xp[pos][ci], xp[pos + 1][ci]), so that tap k = kx·cin + ci of the pair (x, x + 1) is the
// 32-bit element (x·cin + k) of the row of xq.

#include "dk_bf16.h"
#include "dk_dispatch.h"
#include "conv_internal.h"
#include "lane_sums.h"
#include "bf16_round.h"
#include "transpose16.h"
#include <immintrin.h>

#define DKB512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#define DKI512 __attribute__((target("avx512f,avx512bw")))
#define DK_UNROLL _Pragma("clang loop unroll(full)")

static inline uint16_t bf16_scalar(float f) { return dk_bf16_bits(f); }


DKI512 static inline __attribute__((always_inline)) void bf16_vector(const float *src, uint16_t *dst, long n) {
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512i r = dk_bf16_round_bits(_mm512_loadu_si512((const void *)(src + i)));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm512_cvtepi32_epi16(_mm512_srli_epi32(r, 16)));
    }
    for (; i < n; i++) dst[i] = bf16_scalar(src[i]);
}

DKI512 static void bf16_vector_call(const float *src, uint16_t *dst, long n) { bf16_vector(src, dst, n); }

/// Every run in one call: a run is often one vector (16 channels of a position), and a call per
/// run would cost as much as its conversion.
DKI512 static void bf16_runs_vector(const float *src, uint16_t *dst, long runs, long run, long dst_stride) {
    for (long r = 0; r < runs; r++) bf16_vector(src + r * run, dst + r * dst_stride, run);
}

void dk_f32_to_bf16(const float *src, uint16_t *dst, long n) {
    if (dk_isa() == DK_ISA_AVX512) {
        bf16_vector_call(src, dst, n);
        return;
    }
    for (long i = 0; i < n; i++) dst[i] = bf16_scalar(src[i]);
}

void dk_f32_to_bf16_runs(const float *src, uint16_t *dst, long runs, long run, long dst_stride) {
    if (dk_isa() == DK_ISA_AVX512) {
        bf16_runs_vector(src, dst, runs, run, dst_stride);
        return;
    }
    for (long r = 0; r < runs; r++)
        for (long i = 0; i < run; i++) dst[r * dst_stride + i] = bf16_scalar(src[r * run + i]);
}

/// Runs of 16 bits at a time (a run is a part's channels at one position, often 32 to 256), with
/// no call per run.
DKI512 static void bf16_runs_copy_vector(const uint16_t *src, uint16_t *dst, long runs, long run, long dst_stride) {
    for (long r = 0; r < runs; r++) {
        const uint16_t *from = src + r * run;
        uint16_t *to = dst + r * dst_stride;
        long i = 0;
        for (; i + 16 <= run; i += 16)
            _mm256_storeu_si256((__m256i *)(to + i), _mm256_loadu_si256((const __m256i *)(from + i)));
        for (; i < run; i++) to[i] = from[i];
    }
}

void dk_bf16_runs(const uint16_t *src, uint16_t *dst, long runs, long run, long dst_stride) {
    if (dk_isa() == DK_ISA_AVX512) {
        bf16_runs_copy_vector(src, dst, runs, run, dst_stride);
        return;
    }
    for (long r = 0; r < runs; r++)
        __builtin_memcpy(dst + r * dst_stride, src + r * run, (size_t)run * sizeof(uint16_t));
}

/// dst[i] = the Float value of bf16_scalar(src[i]) for i in [from, n).
static void round_scalar(const float *src, float *dst, long from, long n) {
    for (long i = from; i < n; i++) {
        uint32_t u = (uint32_t)bf16_scalar(src[i]) << 16;
        __builtin_memcpy(dst + i, &u, 4);
    }
}

DKI512 static void round_vector(const float *src, float *dst, long n) {
    const __m512i high = _mm512_set1_epi32((int)0xFFFF0000u);
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512i r = dk_bf16_round_bits(_mm512_loadu_si512((const void *)(src + i)));
        _mm512_storeu_si512((void *)(dst + i), _mm512_and_si512(r, high));
    }
    round_scalar(src, dst, i, n);
}

void dk_f32_round_bf16(const float *src, float *dst, long n) {
    if (dk_isa() == DK_ISA_AVX512) {
        round_vector(src, dst, n);
        return;
    }
    round_scalar(src, dst, 0, n);
}

/// dst[i] = the Float value of the bfloat16 bits src[i] for i in [from, n).
static void widen_scalar(const uint16_t *src, float *dst, long from, long n) {
    for (long i = from; i < n; i++) dst[i] = dk_bf16_value(src[i]);
}

/// 16 values per step: zero-extended to 32 bits and shifted into the upper halves (the padded
/// copies of kept activations widen every value the rounded-operand kernels read).
DKI512 static void widen_vector(const uint16_t *src, float *dst, long n) {
    long i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, dk_bf16_widen16(src + i));
    widen_scalar(src, dst, i, n);
}

void dk_bf16_to_f32(const uint16_t *src, float *dst, long n) {
    if (dk_isa() == DK_ISA_AVX512) {
        widen_vector(src, dst, n);
        return;
    }
    widen_scalar(src, dst, 0, n);
}

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

/// bf16(a) in the low and bf16(b) in the high half of each 32-bit lane: a row pair of the packings.
DKI512 static inline __attribute__((always_inline)) __m512i pair_bits(__m512 a, __m512 b) {
    const __m512i low = _mm512_srli_epi32(dk_bf16_round_bits(_mm512_castps_si512(a)), 16);
    return _mm512_or_si512(low, _mm512_and_si512(dk_bf16_round_bits(_mm512_castps_si512(b)),
                                                  _mm512_set1_epi32((int)0xFFFF0000)));
}

/// pack_weight_avx512 from PyTorch's layout with cin a multiple of 16 and at most DK_BLOCK_TAPS
/// taps, in blocks of 16 × 16 channels (`dk_pytorch_block`): row k = t·cin + ci pairs with row
/// k + 1 (ci + 1, the same tap), as the gathers pair them: the same bits.
DKI512 static void pack_weight_blocks(const float *w, uint16_t *packed, long taps, long cin, long cout, long c0,
                                      long c1, int tiles) {
    const long rows = taps * cin;
    __m512 column[16 * DK_BLOCK_TAPS];
    for (long co = c0; co < c1; co += 16)
        for (long ci = 0; ci < cin; ci += 16) {
            dk_pytorch_block(w + (co * cin + ci) * taps, cin * taps, taps, column);
            for (long t = 0; t < taps; t++)
                for (int p = 0; p < 8; p++) {
                    const long k = t * cin + ci + 2 * p;
                    _mm512_storeu_si512((void *)(packed + pair_run_offset(tiles, k / 2, co, cout, rows)),
                                        pair_bits(column[2 * p * taps + t], column[(2 * p + 1) * taps + t]));
                }
        }
}

/// Output channels [c0, c1) (multiples of 16) of the forward packing, 16 channels per vector:
/// each vector of row k and the one of row k + 1 rounded and interleaved into 16 pairs (64
/// bytes), placed as the dot products or (`tiles`) the tile kernels read them. DiceKit's layout
/// loads the rows; PyTorch's gathers them (16 channels cin·taps apart) with the 16 channels'
/// kernels (16 × cin·taps Floats) staying in L2 over every row.
DKI512 static void pack_weight_avx512(const float *w, int pytorch, uint16_t *packed, long taps, long cin, long cout,
                                      long c0, long c1, int tiles) {
    const __m512i high = _mm512_set1_epi32((int)0xFFFF0000);
    const __m512i lanes = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                             _mm512_set1_epi32((int)(cin * taps)));
    const long rows = taps * cin;
    if (pytorch && cin % 16 == 0 && taps <= DK_BLOCK_TAPS) {
        pack_weight_blocks(w, packed, taps, cin, cout, c0, c1, tiles);
        return;
    }
    for (long co = c0; co < c1; co += 16)
        for (long k = 0; k < rows; k += 2) {
            __m512i a, b;
            if (pytorch) {
                // Rows k and k + 1 are input channels ci and ci + 1 of tap t (cin is even).
                const float *base = w + co * cin * taps + (k % cin) * taps + k / cin;
                a = _mm512_i32gather_epi32(lanes, base, 4);
                b = _mm512_i32gather_epi32(lanes, base + taps, 4);
            } else {
                a = _mm512_loadu_si512((const void *)(w + k * cout + co));
                b = _mm512_loadu_si512((const void *)(w + (k + 1) * cout + co));
            }
            a = dk_bf16_round_bits(a);
            b = dk_bf16_round_bits(b);
            const __m512i pairs = _mm512_or_si512(_mm512_srli_epi32(a, 16), _mm512_and_si512(b, high));
            _mm512_storeu_si512((void *)(packed + pair_run_offset(tiles, k / 2, co, cout, rows)), pairs);
        }
}

void dk_bf16_pack_weight_channels(const dk_conv_geometry *g, const float *w, int pytorch, uint16_t *packed, long c0,
                                  long c1) {
    const long taps = (long)g->kd * g->kh * g->kw, cin = g->cin, cout = g->cout, rows = taps * cin;
    if (quad_layout(cout, (long)g->kw * cin)) {
        for (long k = 0; k < rows; k++)
            for (long c = c0; c < c1; c++)
                packed[quad_index(k, c)] = bf16_scalar(dk_kernel_element(w, pytorch, taps, cin, cout, k / cin, k % cin, c));
        return;
    }
    if (dk_isa() == DK_ISA_AVX512 && cout % 16 == 0) {
        pack_weight_avx512(w, pytorch, packed, taps, cin, cout, c0, c1, 0);
        return;
    }
    for (long k = 0; k < rows; k += 2)
        for (long co = c0; co < c1; co++) {
            const long t = k / cin, ci = k % cin, at = dot_pair_offset(k / 2, co, cout, rows);
            packed[at] = bf16_scalar(dk_kernel_element(w, pytorch, taps, cin, cout, t, ci, co));
            packed[at + 1] = bf16_scalar(dk_kernel_element(w, pytorch, taps, cin, cout, t, ci + 1, co));
        }
}

void dk_bf16_pack_weight(const dk_conv_geometry *g, const float *w, uint16_t *packed) {
    dk_bf16_pack_weight_channels(g, w, 0, packed, 0, g->cout);
}

/// Output channels [c0, c1) (multiples of 16) of the flipped packing, every tap, placed as the
/// dot products or (`tiles`) the tile kernels read them. DiceKit's layout: blocks of 16 kernel
/// rows (co) × 16 input channels, each row's 16 channels rounded to 8 pairs (co, co + 1) in a
/// buffer, the buffer transposed by gathers into 8 runs of 16 pairs, one per pair of rows (64
/// bytes each). PyTorch's: for each pair of output channels (two contiguous kernels of
/// cin·taps Floats, in L1 across the taps), 16 input channels of each gathered (taps apart) and
/// interleaved.
DKI512 static void pack_weight_flipped_avx512(const float *w, int pytorch, uint16_t *packed, long taps, long cin,
                                              long cout, long c0, long c1, int tiles) {
    const long rows = taps * cout;  // of the flipped kernel: row t·cout + co, cin columns
    if (pytorch && taps <= DK_BLOCK_TAPS) {
        // Blocks of 16 × 16 channels (`dk_pytorch_block`), each tap transposed back
        // (`dk_pytorch_block_tap`): output channel co + m's 16 input channels, paired with co + m + 1's.
        __m512 column[16 * DK_BLOCK_TAPS];
        for (long co = c0; co < c1; co += 16)
            for (long ci = 0; ci < cin; ci += 16) {
                dk_pytorch_block(w + (co * cin + ci) * taps, cin * taps, taps, column);
                for (long t = 0; t < taps; t++) {
                    __m512 r[16];
                    dk_pytorch_block_tap(column, taps, t, r);
                    for (int m = 0; m < 16; m += 2) {
                        const long kp = ((taps - 1 - t) * cout + co + m) / 2;
                        _mm512_storeu_si512((void *)(packed + pair_run_offset(tiles, kp, ci, cin, rows)),
                                            pair_bits(r[m], r[m + 1]));
                    }
                }
            }
        return;
    }
    if (pytorch) {
        const __m512i high = _mm512_set1_epi32((int)0xFFFF0000);
        const __m512i lanes = _mm512_mullo_epi32(
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32((int)taps));
        for (long co = c0; co < c1; co += 2)
            for (long t = 0; t < taps; t++) {
                // Row (taps − 1 − t)·cout + co of the flipped kernel is W[t][·][co].
                const long kp = ((taps - 1 - t) * cout + co) / 2;
                for (long ci = 0; ci < cin; ci += 16) {
                    const float *base = w + (co * cin + ci) * taps + t;
                    const __m512i a = dk_bf16_round_bits(_mm512_i32gather_epi32(lanes, base, 4));
                    const __m512i b = dk_bf16_round_bits(_mm512_i32gather_epi32(lanes, base + cin * taps, 4));
                    _mm512_storeu_si512((void *)(packed + pair_run_offset(tiles, kp, ci, cin, rows)),
                                        _mm512_or_si512(_mm512_srli_epi32(a, 16), _mm512_and_si512(b, high)));
                }
            }
        return;
    }
    uint32_t block[16 * 8];
    const __m512i lanes = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                             _mm512_set1_epi32(8));
    for (long t = 0; t < taps; t++)
        for (long co = c0; co < c1; co += 16) {
            const float *source = w + (taps - 1 - t) * cin * cout + co;
            const long kp = (t * cout + co) / 2;
            for (long ci = 0; ci < cin; ci += 16) {
                for (int i = 0; i < 16; i++) {
                    const __m512i v = dk_bf16_round_bits(_mm512_loadu_si512((const void *)(source + (ci + i) * cout)));
                    _mm256_storeu_si256((__m256i *)(block + 8 * i), _mm512_cvtepi32_epi16(_mm512_srli_epi32(v, 16)));
                }
                for (int p = 0; p < 8; p++) {
                    const __m512i column = _mm512_i32gather_epi32(_mm512_add_epi32(lanes, _mm512_set1_epi32(p)), block, 4);
                    _mm512_storeu_si512((void *)(packed + pair_run_offset(tiles, kp + p, ci, cin, rows)), column);
                }
            }
        }
}

void dk_bf16_pack_weight_flipped_channels(const dk_conv_geometry *g, const float *w, int pytorch, uint16_t *packed,
                                          long c0, long c1) {
    // Row k = t·cout + co of the flipped, transposed kernel is W[taps − 1 − t][·][co] (length cin);
    // cout is even, so the pair (k, k + 1) shares the tap t.
    const long taps = (long)g->kd * g->kh * g->kw, cin = g->cin, cout = g->cout;
    if (quad_layout(cin, (long)g->kw * cout)) {
        for (long t = 0; t < taps; t++)
            for (long co = c0; co < c1; co++)
                for (long ci = 0; ci < 16; ci++)
                    packed[quad_index(t * cout + co, ci)] =
                        bf16_scalar(dk_kernel_element(w, pytorch, taps, cin, cout, taps - 1 - t, ci, co));
        return;
    }
    if (dk_isa() == DK_ISA_AVX512 && cin % 16 == 0 && cout % 16 == 0) {
        pack_weight_flipped_avx512(w, pytorch, packed, taps, cin, cout, c0, c1, 0);
        return;
    }
    for (long t = 0; t < taps; t++)
        for (long co = c0; co < c1; co += 2)
            for (long ci = 0; ci < cin; ci++) {
                const long at = dot_pair_offset((t * cout + co) / 2, ci, cin, taps * cout);
                packed[at] = bf16_scalar(dk_kernel_element(w, pytorch, taps, cin, cout, taps - 1 - t, ci, co));
                packed[at + 1] = bf16_scalar(dk_kernel_element(w, pytorch, taps, cin, cout, taps - 1 - t, ci, co + 1));
            }
}

void dk_bf16_pack_weight_tiles_channels(const dk_conv_geometry *g, const float *w, int pytorch, uint16_t *packed,
                                        int flipped, long c0, long c1) {
    const long taps = (long)g->kd * g->kh * g->kw, cin = g->cin, cout = g->cout;
    if (dk_isa() != DK_ISA_AVX512 || cin % 16 != 0 || cout % 16 != 0) {
        dk_bf16_pack_weight_tiles_range(g, w, pytorch, packed, flipped, c0, c1);
        return;
    }
    if (flipped)
        pack_weight_flipped_avx512(w, pytorch, packed, taps, cin, cout, c0, c1, 1);
    else
        pack_weight_avx512(w, pytorch, packed, taps, cin, cout, c0, c1, 1);
}

void dk_bf16_pack_weight_flipped(const dk_conv_geometry *g, const float *w, uint16_t *packed) {
    dk_bf16_pack_weight_flipped_channels(g, w, 0, packed, 0, g->cout);
}

/// Stores 16 output values at element `at` of `y`: max(0, v) with g->relu (max(0, NaN) keeps the
/// NaN, the second operand), as Floats, or as their bfloat16 bits with g->round_output (the same
/// bits as dk_f32_to_bf16 of the Float store).
DKB512 static inline __attribute__((always_inline)) void store_output(const dk_conv_geometry *g, void *y, long at, __m512 v) {
    if (g->relu) v = _mm512_max_ps(_mm512_setzero_ps(), v);
    if (g->round_output) {
        const __m512i r = dk_bf16_round_bits(_mm512_castps_si512(v));
        _mm256_storeu_si256((__m256i *)((uint16_t *)y + at), _mm512_cvtepi32_epi16(_mm512_srli_epi32(r, 16)));
    } else {
        _mm512_storeu_ps((float *)y + at, v);
    }
}

/// The 1×1 head (dk_conv_geometry.head_classes) of the `count` (≤ MR) output positions from q
/// whose outputs, after the ReLU, are v: position i's output channels 16j … 16j + 15 at
/// v[i·NV + j], NV·16 = cout. Logit c of position q + i goes to y[(q + i)·classes + c], summed as
/// the few-channel kernel sums it over the stored outputs (narrow_avx512: the products of each
/// 16-channel step added into one vector from zero in channel order, its two halves added, then
/// the lanes by dk_sum8_avx2's tree, eight logits at a time, and the bias added last): the same
/// bits as the head run after the pass, without the cout Floats per position written and read.
/// Every position's halves are made first (a loop the compiler unrolls), then summed in output
/// order; a logit's tree does not depend on the logits beside it.
DKB512 static inline __attribute__((always_inline))
void store_head(const dk_conv_geometry *g, float *y, long q, int count, const __m512 *v, const int MR, const int NV) {
    const int classes = g->head_classes;
    const float *wt = (const float *)g->head_weight, *bias = (const float *)g->head_bias;
    __m256 halves[16 * 15 + 8];
    for (int c = 0; c < classes; c++) {
        __m512 w[4];
        DK_UNROLL for (int j = 0; j < NV; j++) w[j] = _mm512_loadu_ps(wt + (c * NV + j) * 16);
        DK_UNROLL for (int i = 0; i < MR; i++) {
            __m512 a = _mm512_setzero_ps();
            DK_UNROLL for (int j = 0; j < NV; j++) a = _mm512_fmadd_ps(v[i * NV + j], w[j], a);
            const __m256 high = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1));
            halves[i * classes + c] = _mm256_add_ps(_mm512_castps512_ps256(a), high);
        }
    }
    const int logits = count * classes;
    for (int k = logits; k < logits + 8; k++) halves[k] = _mm256_setzero_ps();
    float *out = y + q * classes;
    for (int t = 0, c = 0; t < logits; t += 8) {
        float shift[8];
        for (int k = 0; k < 8; k++, c = c + 1 == classes ? 0 : c + 1) shift[k] = bias ? bias[c] : 0.0f;
        const __m256 sums = _mm256_add_ps(_mm256_loadu_ps(shift), dk_sum8_avx2(halves + t));
        const int n = logits - t < 8 ? logits - t : 8;
        _mm256_mask_storeu_ps(out + t, (__mmask8)((1u << n) - 1), sums);
    }
}

/// rows[i] = the input row of output position q + i (i < MR; `offsets` their offsets,
/// dk_conv_tile_offsets). With STEP, the caller has checked that the MR positions lie in one
/// output row, STEP input elements apart: the rows are then constant displacements from one base,
/// which the compiler keeps in one register (twelve separate pointers left three spilled and
/// reloaded at every step of the reduction, at 16 and 32 output channels).
DKB512 static inline __attribute__((always_inline))
void dk_conv_tile_rows(const dk_conv_geometry *g, const uint16_t *xp, dk_conv_position at, long q, long end,
                       long *offsets, const uint16_t **rows, const int MR, const int STEP) {
    if (STEP) {
        dk_conv_tile_offsets(g, at, q, end, offsets, 1);
        DK_UNROLL for (int i = 0; i < MR; i++) rows[i] = xp + offsets[0] + i * STEP;
    } else {
        dk_conv_tile_offsets(g, at, q, end, offsets, MR);
        DK_UNROLL for (int i = 0; i < MR; i++) rows[i] = xp + offsets[i];
    }
}

/// MR valid output positions from q × NV·16 output channels from `co`, one row pointer each.
/// A scattered output (dk_conv_geometry.ud/uh/uw: an up-sampling) is stored where each vector
/// belongs (`columns`: dk_conv_output_column of the vectors' channels), with the bias added after
/// the sum, as the lowered path's scatter adds its fill (ExactTiling.swift): the same bits as that
/// path. With HEAD (no scatter, every output channel in the tile) the outputs go through the 1×1
/// head instead of being stored (store_head).
DKB512 static inline __attribute__((always_inline))
void forward_tile(const dk_conv_geometry *g, const uint16_t *xp, const uint16_t *wp, const float *bias, void *y,
                  long q, dk_conv_position at, long end, int co, const long *columns, const int MR, const int NV,
                  const int STEP, const int HEAD) {
    __m512 acc[28];
    const long pairs = (long)g->kw * g->cin / 2, cout = g->cout, reduction = (long)g->kd * g->kh * 2 * pairs;
    // The block's columns in the packing (dot_pair_offset): `width` wide, one run over the reduction.
    const long width = dot_block_width(cout, co);
    const int scatters = dk_conv_scatters(g);
    DK_UNROLL for (int i = 0; i < MR; i++)
        DK_UNROLL for (int j = 0; j < NV; j++)
            acc[i * NV + j] = bias && !scatters ? _mm512_loadu_ps(bias + co + 16 * j) : _mm512_setzero_ps();
    // Row pointers stepped along the grid from q's coordinates `at` (no division per row: at 16
    // channels they cost as much as the products; dk_conv_tile_offsets).
    const uint16_t *rows[16];
    long offsets[16];
    dk_conv_tile_rows(g, xp, at, q, end, offsets, rows, MR, STEP);
    const int segments = g->kd * g->kh;
    // Segment offsets stepped, not divided (the segment cursor counts elements, bf16 here).
    dk_conv_segment_cursor segment = dk_conv_segment_start(g, 0);
    for (int s = 0; s < segments; s++, dk_conv_next_segment(g, &segment)) {
        const long offset = segment.offset;
        const uint16_t *b = wp + co * reduction + s * pairs * width * 2;
        for (long k = 0; k < pairs; k++) {
            __m512bh bv[4];
            const uint16_t *bk = b + k * width * 2;
            DK_UNROLL for (int j = 0; j < NV; j++) bv[j] = (__m512bh)_mm512_loadu_si512((const void *)(bk + 32 * j));
            DK_UNROLL for (int i = 0; i < MR; i++) {
                int32_t pair;
                __builtin_memcpy(&pair, rows[i] + offset + 2 * k, 4);
                const __m512bh av = (__m512bh)_mm512_set1_epi32(pair);
                DK_UNROLL for (int j = 0; j < NV; j++) acc[i * NV + j] = _mm512_dpbf16_ps(acc[i * NV + j], av, bv[j]);
            }
        }
    }
    if (scatters) {
        long out[16];
        __m512 add[4];
        dk_conv_output_offsets(g, at, q, end, out, MR);
        DK_UNROLL for (int j = 0; j < NV; j++)
            add[j] = bias ? _mm512_loadu_ps(bias + co + 16 * j) : _mm512_setzero_ps();
        // bias + sum, or 0 + sum without a bias, as the scatter stores them (a −0 sum becomes +0).
        DK_UNROLL for (int i = 0; i < MR; i++) {
            if (q + i >= end) break;
            DK_UNROLL for (int j = 0; j < NV; j++)
                store_output(g, y, out[i] + columns[j], _mm512_add_ps(add[j], acc[i * NV + j]));
        }
        return;
    }
    if (HEAD) {
        DK_UNROLL for (int i = 0; i < MR * NV; i++)
            if (g->relu) acc[i] = _mm512_max_ps(_mm512_setzero_ps(), acc[i]);
        store_head(g, (float *)y, q, end - q < MR ? (int)(end - q) : MR, acc, MR, NV);
        return;
    }
    DK_UNROLL for (int i = 0; i < MR; i++) {
        if (q + i >= end) break;
        DK_UNROLL for (int j = 0; j < NV; j++) store_output(g, y, dk_conv_output_index(g, q + i, co + 16 * j), acc[i * NV + j]);
    }
}

#define DK_BF16_FORWARD(MR, NV)                                                              \
    for (long q = q0; q < q1; q += MR, dk_conv_position_advance(g, &at, MR))                  \
        forward_tile(g, xp, wp, bias, y, q, at, q1, co, columns, MR, NV, 0, HEAD);

/// Whether the MR output positions from q (at `at`) all lie in one output row before `end`:
/// their input rows are then stride_w · cin elements apart (dk_conv_tile_rows' STEP).
static inline int dk_tile_in_row(const dk_conv_geometry *g, dk_conv_position at, long q, long end, int MR) {
    return at.x + MR <= g->ow && q + MR <= end;
}

/// DK_BF16_FORWARD where a tile's positions lie in one output row, STEP input elements apart
/// (stride_w · cin == STEP), with the row pointers at constant displacements from one base.
#define DK_BF16_FORWARD_STEP(MR, NV, STEP)                                                   \
    for (long q = q0; q < q1; q += MR, dk_conv_position_advance(g, &at, MR)) {                \
        if (dk_tile_in_row(g, at, q, q1, MR))                                                 \
            forward_tile(g, xp, wp, bias, y, q, at, q1, co, columns, MR, NV, STEP, HEAD);      \
        else                                                                                  \
            forward_tile(g, xp, wp, bias, y, q, at, q1, co, columns, MR, NV, 0, HEAD);         \
    }

/// 16 output channels: MR valid output positions from q, the reduction taken four at a time.
/// One 64-bit broadcast of x[k .. k+3] pairs (k, k+1) with the even lanes and (k+2, k+3) with the
/// odd lanes of the two quad-packed weight vectors (output channels 0–7 and 8–15, two lanes
/// each), so each broadcast feeds two products instead of one: at 16 channels the broadcasts,
/// not the products, bound the pair kernel. The two partial sums of each channel are added at
/// the end, then the bias. With HEAD the outputs go through the 1×1 head (store_head).
DKB512 static inline __attribute__((always_inline))
void forward_tile16(const dk_conv_geometry *g, const uint16_t *xp, const uint16_t *wp, const float *bias, void *y,
                    long q, dk_conv_position at, long end, const int MR, const int STEP, const int HEAD) {
    __m512 acc[24];
    const long quads = (long)g->kw * g->cin / 4;
    DK_UNROLL for (int i = 0; i < 2 * MR; i++) acc[i] = _mm512_setzero_ps();
    const uint16_t *rows[16];
    long offsets[16];
    dk_conv_tile_rows(g, xp, at, q, end, offsets, rows, MR, STEP);
    const int segments = g->kd * g->kh;
    dk_conv_segment_cursor segment = dk_conv_segment_start(g, 0);
    for (int s = 0; s < segments; s++, dk_conv_next_segment(g, &segment)) {
        const long offset = segment.offset;
        const uint16_t *b = wp + s * quads * 64;
        for (long k = 0; k < quads; k++) {
            const __m512bh b0 = (__m512bh)_mm512_loadu_si512((const void *)(b + k * 64));
            const __m512bh b1 = (__m512bh)_mm512_loadu_si512((const void *)(b + k * 64 + 32));
            DK_UNROLL for (int i = 0; i < MR; i++) {
                long long quad;
                __builtin_memcpy(&quad, rows[i] + offset + 4 * k, 8);
                const __m512bh av = (__m512bh)_mm512_set1_epi64(quad);
                acc[2 * i] = _mm512_dpbf16_ps(acc[2 * i], av, b0);
                acc[2 * i + 1] = _mm512_dpbf16_ps(acc[2 * i + 1], av, b1);
            }
        }
    }
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512 b = bias ? _mm512_loadu_ps(bias) : _mm512_setzero_ps();
    if (HEAD) {
        __m512 v[12];
        DK_UNROLL for (int i = 0; i < MR; i++) {
            const __m512 sum = _mm512_add_ps(_mm512_permutex2var_ps(acc[2 * i], even, acc[2 * i + 1]),
                                             _mm512_permutex2var_ps(acc[2 * i], odd, acc[2 * i + 1]));
            v[i] = _mm512_add_ps(sum, b);
            if (g->relu) v[i] = _mm512_max_ps(_mm512_setzero_ps(), v[i]);
        }
        store_head(g, (float *)y, q, end - q < MR ? (int)(end - q) : MR, v, MR, 1);
        return;
    }
    DK_UNROLL for (int i = 0; i < MR; i++) {
        if (q + i >= end) break;
        const __m512 sum = _mm512_add_ps(_mm512_permutex2var_ps(acc[2 * i], even, acc[2 * i + 1]),
                                         _mm512_permutex2var_ps(acc[2 * i], odd, acc[2 * i + 1]));
        store_output(g, y, (q + i) * 16, _mm512_add_ps(sum, b));
    }
}

/// Output positions [q0, q1) with the head (dk_conv_geometry.head_classes) applied in the stores
/// when HEAD, else stored: the passes without a head run code with no trace of it.
DKB512 static inline __attribute__((always_inline))
void forward_bf16_positions(const dk_conv_geometry *g, const uint16_t *xp, const uint16_t *wp, const float *bias,
                            void *y, long q0, long q1, const int HEAD) {
    if (quad_layout(g->cout, (long)g->kw * g->cin)) {
        dk_conv_position at = dk_conv_position_of(g, q0);
        const long step = dk_conv_stride_w(g) * g->cin;
        for (long q = q0; q < q1; q += 12, dk_conv_position_advance(g, &at, 12)) {
            const int row = dk_tile_in_row(g, at, q, q1, 12);
            if (row && step == 16)
                forward_tile16(g, xp, wp, bias, y, q, at, q1, 12, 16, HEAD);
            else if (row && step == 32)
                forward_tile16(g, xp, wp, bias, y, q, at, q1, 12, 32, HEAD);
            else
                forward_tile16(g, xp, wp, bias, y, q, at, q1, 12, 0, HEAD);
        }
        return;
    }
    for (int co = 0; co < g->cout; co += 64) {
        dk_conv_position at = dk_conv_position_of(g, q0);
        long columns[4];
        dk_conv_block_columns(g, co, columns);
        switch ((g->cout - co) >= 64 ? 4 : (g->cout - co) / 16) {
        case 1: DK_BF16_FORWARD(16, 1) break;
        case 2:
            if (dk_conv_stride_w(g) * g->cin == 32) {
                DK_BF16_FORWARD_STEP(12, 2, 32)
            } else if (dk_conv_stride_w(g) * g->cin == 64) {
                DK_BF16_FORWARD_STEP(12, 2, 64)
            } else {
                DK_BF16_FORWARD(12, 2)
            }
            break;
        case 3: DK_BF16_FORWARD(8, 3) break;
        default: DK_BF16_FORWARD(6, 4) break;
        }
    }
}

DKB512 static void forward_bf16(const dk_conv_geometry *g, const uint16_t *xp, const uint16_t *wp, const float *bias,
                                void *y, long q0, long q1) {
    forward_bf16_positions(g, xp, wp, bias, y, q0, q1, 0);
}

DKB512 static void forward_bf16_head(const dk_conv_geometry *g, const uint16_t *xp, const uint16_t *wp,
                                     const float *bias, void *y, long q0, long q1) {
    forward_bf16_positions(g, xp, wp, bias, y, q0, q1, 1);
}

void dk_conv_forward_bf16(const dk_conv_geometry *g, const uint16_t *xp, const uint16_t *wp, const float *bias,
                          void *y, long q0, long q1) {
    dk_note_isa(DK_KERNEL_CONV_BF16, DK_ISA_AVX512);
    if (q1 <= q0) return;
    if (g->head_classes)
        forward_bf16_head(g, xp, wp, bias, y, q0, q1);
    else
        forward_bf16(g, xp, wp, bias, y, q0, q1);
}

/// Pairs 16 channels at a time (cin is a multiple of 16): lane c = xp[p][c] | xp[p + 1][c] << 16.
DKI512 static void pack_pairs_avx512(const uint16_t *xp, uint16_t *xq, long positions, long cin) {
    for (long p = 0; p + 1 < positions; p++)
        for (long c = 0; c < cin; c += 16) {
            const __m512i lo = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(xp + p * cin + c)));
            const __m512i hi = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(xp + (p + 1) * cin + c)));
            _mm512_storeu_si512((void *)(xq + (p * cin + c) * 2), _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
        }
}

/// dy rows x and x + 1, 16 channels at a time: lane co = bf16(dy[x][co]) | bf16(dy[x + 1][co]) << 16.
DKI512 static void pack_gradient_avx512(const float *dy, uint16_t *dyp, long lines, long ow, long cout) {
    const long half = (ow + 1) / 2;
    const __m512i high = _mm512_set1_epi32((int)0xFFFF0000);
    for (long l = 0; l < lines; l++)
        for (long x = 0; x < half; x++)
            for (long co = 0; co < cout; co += 16) {
                const float *d = dy + (l * ow + 2 * x) * cout + co;
                const __m512i lo = _mm512_srli_epi32(dk_bf16_round_bits(_mm512_loadu_si512((const void *)d)), 16);
                const __m512i hi = 2 * x + 1 < ow ? _mm512_and_si512(dk_bf16_round_bits(_mm512_loadu_si512((const void *)(d + cout))), high)
                                                  : _mm512_setzero_si512();
                _mm512_storeu_si512((void *)(dyp + ((l * half + x) * cout + co) * 2), _mm512_or_si512(lo, hi));
            }
}

/// dk_bf16_pack_gradient of a gradient given as its bfloat16 bits: rows x and x + 1, 16 channels
/// at a time, lane co = dy[x][co] | dy[x + 1][co] << 16.
DKI512 static void pack_gradient_bits_avx512(const uint16_t *dy, uint16_t *dyp, long lines, long ow, long cout) {
    const long half = (ow + 1) / 2;
    for (long l = 0; l < lines; l++)
        for (long x = 0; x < half; x++)
            for (long co = 0; co < cout; co += 16) {
                const uint16_t *d = dy + (l * ow + 2 * x) * cout + co;
                const __m256i next = 2 * x + 1 < ow ? _mm256_loadu_si256((const __m256i *)(d + cout))
                                                    : _mm256_setzero_si256();
                const __m512i lo = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)d));
                const __m512i hi = _mm512_cvtepu16_epi32(next);
                _mm512_storeu_si512((void *)(dyp + ((l * half + x) * cout + co) * 2),
                                    _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
            }
}

void dk_bf16_pack_pairs(const dk_conv_geometry *g, const uint16_t *xp, uint16_t *xq, long positions) {
    const long cin = g->cin;
    if (dk_isa() == DK_ISA_AVX512 && cin % 16 == 0) {
        pack_pairs_avx512(xp, xq, positions, cin);
    } else {
        for (long p = 0; p + 1 < positions; p++)
            for (long c = 0; c < cin; c++) {
                xq[(p * cin + c) * 2] = xp[p * cin + c];
                xq[(p * cin + c) * 2 + 1] = xp[(p + 1) * cin + c];
            }
    }
    for (long c = 0; c < cin; c++) {
        xq[((positions - 1) * cin + c) * 2] = xp[(positions - 1) * cin + c];
        xq[((positions - 1) * cin + c) * 2 + 1] = 0;
    }
}

void dk_bf16_pack_gradient(const dk_conv_geometry *g, const float *dy, uint16_t *dyp) {
    const long lines = g->od * g->oh, ow = g->ow, cout = g->cout, half = (ow + 1) / 2;
    if (dk_isa() == DK_ISA_AVX512 && cout % 16 == 0) {
        pack_gradient_avx512(dy, dyp, lines, ow, cout);
        return;
    }
    for (long l = 0; l < lines; l++)
        for (long x = 0; x < half; x++)
            for (long co = 0; co < cout; co++) {
                const float *d = dy + (l * ow + 2 * x) * cout + co;
                uint16_t *t = dyp + ((l * half + x) * cout + co) * 2;
                t[0] = bf16_scalar(d[0]);
                t[1] = 2 * x + 1 < ow ? bf16_scalar(d[cout]) : 0;
            }
}

void dk_bf16_pack_gradient_bits(const dk_conv_geometry *g, const uint16_t *dy, uint16_t *dyp) {
    const long lines = g->od * g->oh, ow = g->ow, cout = g->cout, half = (ow + 1) / 2;
    if (dk_isa() == DK_ISA_AVX512 && cout % 16 == 0) {
        pack_gradient_bits_avx512(dy, dyp, lines, ow, cout);
        return;
    }
    for (long l = 0; l < lines; l++)
        for (long x = 0; x < half; x++)
            for (long co = 0; co < cout; co++) {
                const uint16_t *d = dy + (l * ow + 2 * x) * cout + co;
                uint16_t *t = dyp + ((l * half + x) * cout + co) * 2;
                t[0] = d[0];
                t[1] = 2 * x + 1 < ow ? d[cout] : 0;
            }
}

/// The pair-packed input row that output line l (plane l / oh, row l % oh) of a sample at `xq`
/// reads from kernel row `offset` on: element 2·(x·cin + k) holds the pair of rows k at
/// positions x and x + 1.
static inline const uint16_t *weight_input_row(const dk_conv_geometry *g, const uint16_t *xq, long l, long offset) {
    const long z = l / g->oh, yy = l % g->oh;
    return xq + (((z * g->hp + yy) * g->wp) * g->cin + offset) * 2;
}

/// dw rows [k0, k0 + KR) of segment s × NV·16 output channels from `co`, over output lines
/// [l0, l1) of `samples` samples in order (pair-packed input `xq`, packed gradient `dyp`, samples
/// `xq_stride` and `dy_stride` apart): the accumulators stay in registers across the samples,
/// and start from dw's values, or from zero when `fresh` (dw is then only written).
DKB512 static inline __attribute__((always_inline))
void weight_tile(const dk_conv_geometry *g, const uint16_t *xq, long xq_stride, const uint16_t *dyp, long dy_stride,
                 long samples, long l0, long l1, float *dw, int s, long k0, int co, int fresh, const int KR,
                 const int NV) {
    const long cin = g->cin, cout = g->cout, seg = (long)g->kw * cin, half = (g->ow + 1) / 2;
    float *row = dw + (s * seg + k0) * cout + co;
    __m512 acc[24];
    DK_UNROLL for (int r = 0; r < KR; r++)
        DK_UNROLL for (int j = 0; j < NV; j++) acc[r * NV + j] = fresh ? _mm512_setzero_ps() : _mm512_loadu_ps(row + r * cout + 16 * j);
    const long offset = dk_conv_segment_offset(g, s) + k0;
    for (long n = 0; n < samples; n++) {
        for (long l = l0; l < l1; l++) {
            // 32-bit pairs of the row of xq; element x·cin + k pairs positions x and x + 1.
            const uint16_t *a = weight_input_row(g, xq + n * xq_stride, l, offset);
            const uint16_t *d = dyp + n * dy_stride + (l * half * cout + co) * 2;
            for (long x = 0; x < half; x++) {
                __m512bh dv[4];
                DK_UNROLL for (int j = 0; j < NV; j++) dv[j] = (__m512bh)_mm512_loadu_si512((const void *)(d + (x * cout + 16 * j) * 2));
                DK_UNROLL for (int r = 0; r < KR; r++) {
                    int32_t pair;
                    __builtin_memcpy(&pair, a + (2 * x * cin + r) * 2, 4);
                    const __m512bh av = (__m512bh)_mm512_set1_epi32(pair);
                    DK_UNROLL for (int j = 0; j < NV; j++) acc[r * NV + j] = _mm512_dpbf16_ps(acc[r * NV + j], av, dv[j]);
                }
            }
        }
    }
    DK_UNROLL for (int r = 0; r < KR; r++)
        DK_UNROLL for (int j = 0; j < NV; j++) _mm512_storeu_ps(row + r * cout + 16 * j, acc[r * NV + j]);
}

/// A block of 16 output channels (weight_tile's NV = 1), the rows taken two at a time, as
/// forward_tile16 takes its reduction: one 64-bit broadcast of the pairs of rows k and k + 1
/// (positions 2x, 2x + 1) meets dy's channels 0–7 and 8–15 with each channel's pair repeated in
/// two adjacent lanes (`low`, `high`), so each broadcast feeds two products instead of one (at
/// 16 channels the broadcasts bound the pair kernel). Even lanes accumulate row k, odd lanes row
/// k + 1; the store separates them. Each dw element is the same lane operation on the same
/// pairs in the same order as weight_tile's: the same bits. Rows [k0, k0 + 16).
DKB512 static inline __attribute__((always_inline))
void weight_tile16(const dk_conv_geometry *g, const uint16_t *xq, long xq_stride, const uint16_t *dyp, long dy_stride,
                   long samples, long l0, long l1, float *dw, int s, long k0, int co, int fresh) {
    enum { row_pairs = 8 };
    const long cin = g->cin, cout = g->cout, seg = (long)g->kw * cin, half = (g->ow + 1) / 2;
    float *row = dw + (s * seg + k0) * cout + co;
    const __m512i low = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    const __m512i high = _mm512_setr_epi32(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    // acc[2i] holds channels 0–7 of rows 2i (even lanes) and 2i + 1 (odd lanes); acc[2i + 1] channels 8–15.
    __m512 acc[16];
    DK_UNROLL for (int i = 0; i < row_pairs; i++) {
        if (fresh) {
            acc[2 * i] = acc[2 * i + 1] = _mm512_setzero_ps();
        } else {
            const __m512 r0 = _mm512_loadu_ps(row + 2 * i * cout), r1 = _mm512_loadu_ps(row + (2 * i + 1) * cout);
            acc[2 * i] = _mm512_permutex2var_ps(
                r0, _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23), r1);
            acc[2 * i + 1] = _mm512_permutex2var_ps(
                r0, _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31), r1);
        }
    }
    const long offset = dk_conv_segment_offset(g, s) + k0;
    for (long n = 0; n < samples; n++) {
        for (long l = l0; l < l1; l++) {
            const uint16_t *a = weight_input_row(g, xq + n * xq_stride, l, offset);
            const uint16_t *d = dyp + n * dy_stride + (l * half * cout + co) * 2;
            for (long x = 0; x < half; x++) {
                const __m512i dv = _mm512_loadu_si512((const void *)(d + x * cout * 2));
                const __m512bh d0 = (__m512bh)_mm512_permutexvar_epi32(low, dv);
                const __m512bh d1 = (__m512bh)_mm512_permutexvar_epi32(high, dv);
                DK_UNROLL for (int i = 0; i < row_pairs; i++) {
                    long long quad;
                    __builtin_memcpy(&quad, a + (2 * x * cin + 2 * i) * 2, 8);
                    const __m512bh av = (__m512bh)_mm512_set1_epi64(quad);
                    acc[2 * i] = _mm512_dpbf16_ps(acc[2 * i], av, d0);
                    acc[2 * i + 1] = _mm512_dpbf16_ps(acc[2 * i + 1], av, d1);
                }
            }
        }
    }
    DK_UNROLL for (int i = 0; i < row_pairs; i++) {
        _mm512_storeu_ps(row + 2 * i * cout, _mm512_permutex2var_ps(acc[2 * i], even, acc[2 * i + 1]));
        _mm512_storeu_ps(row + (2 * i + 1) * cout, _mm512_permutex2var_ps(acc[2 * i], odd, acc[2 * i + 1]));
    }
}

/// A block of 16 output channels: tiles of 16 rows, two per broadcast (weight_tile16). (Tiles of
/// 24 rows measured the same on a Zen 4: the rounding and pairing copies, not the products,
/// bound a 16-channel weight gradient there.)
#define DK_BF16_WEIGHT16 \
    for (long k = k0; k < k1; k += 16) weight_tile16(g, a, xq_stride, d, dy_stride, batch, l0, l1, dw, s, k, co, fresh);

#define DK_BF16_WEIGHT(KR, NV) \
    for (long k = k0; k < k1; k += KR) weight_tile(g, a, xq_stride, d, dy_stride, batch, l0, l1, dw, s, k, co, fresh, KR, NV);

/// A full 64-channel block: tiles of 6 rows (24 accumulators, each vector of dy feeding six
/// products), then the 2 or 4 rows left of a multiple of 16 in tiles of 2.
#define DK_BF16_WEIGHT_BLOCK                                                                                    \
    {                                                                                                          \
        long k = k0;                                                                                           \
        for (; k + 6 <= k1; k += 6) weight_tile(g, a, xq_stride, d, dy_stride, batch, l0, l1, dw, s, k, co, fresh, 6, 4); \
        for (; k < k1; k += 2) weight_tile(g, a, xq_stride, d, dy_stride, batch, l0, l1, dw, s, k, co, fresh, 2, 4);      \
    }

/// Samples in order, over every kernel row of [r0, r1) (multiples of 16). A chunk of output lines
/// stays in L2 while every tile reads it: its pair-packed input rows (4 bytes per channel and
/// position) and packed output gradient (2 bytes per channel and position) within three quarters
/// of L2 (three of the forward pass's K blocks, g->weight_block, which DiceKit sets to a quarter
/// of L2: ConvBlocking.swift). When a sample is one chunk (small images), each tile runs through
/// a group of whole samples with its accumulators in registers: as many as one chunk holds, or,
/// where a 64-channel block of dw (rows × 256 bytes) would not stay in those three quarters of L2
/// beside them, as many as keep their 64-channel blocks of packed gradient (128 bytes per
/// position) within an eighth of L2 (half a K block). Larger samples run one at a time in
/// chunks. The tiles reload their sums from dw at each group or chunk after the first.
/// Until 2026-12-06 a register pass took the whole batch, and only for the large blocks of dw
/// (8² and 16² with 512 channels): at 16² every tile read the batch's 256 KiB of gradient from
/// L3, while elsewhere each small sample (64 positions at 8²) reloaded the sums
/// (Docs/Benchmarks/AMD-Zen5.md, "The same Zen 5 on 2026-12-06 (10:25–)"). The sums into each
/// dw element are in the same order either way (samples, then lines, then pairs of positions),
/// fixed by the geometry alone. Without `accumulate`, the first group or chunk starts from zero
/// instead of reading dw: the same bits as zeroing dw first.
DKB512 static void weight_grad_bf16(const dk_conv_geometry *g, const uint16_t *xq, long xq_stride, const uint16_t *dyp,
                                    long dy_stride, long samples, float *dw, long r0, long r1, int co0, int co1,
                                    int accumulate) {
    const long seg = (long)g->kw * g->cin, lines = g->od * g->oh;
    const int s0 = (int)(r0 / seg), s1 = (int)((r1 + seg - 1) / seg);
    const long block = dk_conv_weight_block(g), room = 3 * block, half_block = block / 2;
    const long positions = room / (4L * g->cin + 2L * g->cout), per_chunk = positions > g->ow ? positions / g->ow : 1;
    const long sample_positions = lines * g->ow, chunk = lines <= per_chunk ? lines : per_chunk;
    const long block_bytes = sample_positions * DK_CONV_CHANNEL_BLOCK * (long)sizeof(uint16_t);
    const long fitting = positions / sample_positions, streaming = half_block / block_bytes;
    const int large_dw = (r1 - r0) * DK_CONV_CHANNEL_BLOCK * (long)sizeof(float) > room;
    const long wanted = large_dw ? streaming : fitting, group = lines <= per_chunk && wanted > 1 ? wanted : 1;
    for (long n0 = 0; n0 < samples; n0 += group) {
        const uint16_t *a = xq + n0 * xq_stride, *d = dyp + n0 * dy_stride;
        const long batch = samples - n0 < group ? samples - n0 : group;
        for (long l0 = 0; l0 < lines; l0 += chunk) {
            const long l1 = l0 + chunk < lines ? l0 + chunk : lines;
            const int fresh = !accumulate && n0 == 0 && l0 == 0;
            for (int co = co0; co < co1; co += DK_CONV_CHANNEL_BLOCK)
                for (int s = s0; s < s1; s++) {
                    const long k0 = r0 > s * seg ? r0 - s * seg : 0, k1 = r1 < (s + 1) * seg ? r1 - s * seg : seg;
                    switch ((co1 - co) >= DK_CONV_CHANNEL_BLOCK ? 4 : (co1 - co) / 16) {
                    case 1: DK_BF16_WEIGHT16 break;
                    case 2: DK_BF16_WEIGHT(8, 2) break;
                    case 3: DK_BF16_WEIGHT(8, 3) break;
                    default: DK_BF16_WEIGHT_BLOCK break;
                    }
                }
        }
    }
}

void dk_conv_weight_grad_bf16(const dk_conv_geometry *g, const uint16_t *xq, long xq_stride, const uint16_t *dyp,
                              long dy_stride, long samples, float *dw, long r0, long r1, int co0, int co1,
                              int accumulate) {
    dk_note_isa(DK_KERNEL_CONV_BF16, DK_ISA_AVX512);
    weight_grad_bf16(g, xq, xq_stride, dyp, dy_stride, samples, dw, r0, r1, co0, co1, accumulate);
}
