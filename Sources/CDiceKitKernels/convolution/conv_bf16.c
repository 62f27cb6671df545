// bfloat16 direct convolutions with bfloat16 operands and Float accumulation (vdpbf16ps,
// AVX512-BF16) for the shapes of the Float direct kernels (conv_avx512.c) whose input channels
// are a multiple of 16. The conversions are in bf16_convert.c, the packings of the weights, the
// input pairs and the output gradient in bf16_pack.c, the layouts they share in bf16_layout.h.
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

// x86-64 code only: on other CPUs bfloat16 runs in Float (dk_bf16_level_in_use is none).
#if defined(__x86_64__)

#include "dk_bf16.h"
#include "dk_dispatch.h"
#include "conv_internal.h"
#include "head_store.h"
#include "bf16_round.h"
#include "bf16_layout.h"
#include <immintrin.h>

#define DKB512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#define DK_UNROLL _Pragma("clang loop unroll(full)")

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
/// head instead of being stored (dk_store_head).
DKB512 static inline __attribute__((always_inline))
void forward_tile(const dk_conv_geometry *g, const uint16_t *xp, const uint16_t *wp, const float *bias, void *y,
                  long q, dk_conv_position at, long end, int co, const long *columns, const int MR, const int NV,
                  const int STEP, const int HEAD) {
    __m512 acc[28];
    const long pairs = (long)g->kw * g->cin / 2, cout = g->cout, reduction = (long)g->kd * g->kh * 2 * pairs;
    // The block's columns in the packing (dot_pair_offset): `width` wide, one run over the reduction.
    const long width = dk_conv_block_width(cout, co);
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
        dk_store_head(g, (float *)y, q, end - q < MR ? (int)(end - q) : MR, acc, MR, NV);
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
/// the end, then the bias. With HEAD the outputs go through the 1×1 head (dk_store_head).
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
        dk_store_head(g, (float *)y, q, end - q < MR ? (int)(end - q) : MR, v, MR, 1);
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

#else
#include "dk_bf16.h"
#include "conv_internal.h"

void dk_conv_forward_bf16(const dk_conv_geometry *g, const uint16_t *xp, const uint16_t *wp, const float *bias,
                          void *y, long q0, long q1) {
    dk_no_vector_kernel("dk_conv_forward_bf16");
}

void dk_conv_weight_grad_bf16(const dk_conv_geometry *g, const uint16_t *xq, long xq_stride, const uint16_t *dyp,
                              long dy_stride, long samples, float *dw, long r0, long r1, int co0, int co1,
                              int accumulate) {
    dk_no_vector_kernel("dk_conv_weight_grad_bf16");
}
#endif // defined(__x86_64__)
