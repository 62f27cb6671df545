// AMX-BF16 convolutions: the forward pass (and so the input gradient, a forward pass with the
// flipped kernel) and the weight gradient as tile products, tdpbf16ps: C[16 × 16 Float] +=
// A[16 × 32 bfloat16] · B[16 pairs × 16 × 2 bfloat16], each C element summing pairs of products
// in Float (conv_amx_kernel.h has the blocking). Operands are rounded to bfloat16 to nearest,
// ties to even, as for the AVX512-BF16 kernels (conv_bf16.c), so the error bound of
// BFloat16Convolution.swift holds; the tile unit treats subnormal inputs as zero and flushes
// subnormal sums, as vdpbf16ps does.
//
// The kernels are compiled twice from conv_amx_kernel.h: once on the tile unit, which a process
// may use only after Linux grants it the tile data state (bf16_dispatch.c asks once), and once
// on amx_model (amx_model.h), a software model of the tile operations that follows the pseudo-code
// of Intel's instruction set reference for ldtilecfg, tileloadd, tilestored, tilezero and
// tdpbf16ps, including the shape checks that raise #UD (the model stops the process). It lets the
// tests check the kernels' addressing, blocking and packing on every CPU with AVX512-BF16, and the
// tests' trap emulator runs the tile unit's compilation on it; on a CPU with AMX the tests check
// the tile unit against it and against Double.

#include "dk_bf16.h"
#include "dk_dispatch.h"
#include "conv_internal.h"
#include "bf16_round.h"
#include "amx_model.h"
#include "head_store.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <stdatomic.h>
#include <stdlib.h>

#if defined(__x86_64__)
#define DKA512 __attribute__((target("avx512f,avx512bw")))
#endif

// MARK: - Shared by both compilations

/// The outputs of the 32 grid positions from `p`: for an output position q in [q0, q1) (grid
/// positions before `end`), out[r] = the element offset in y of its first channel (q times the
/// channels per position; for a scattered output, dk_conv_geometry.ud/uh/uw, that of the first
/// pixel of its up-sampled block: dk_conv_output_offsets), to which the stores add
/// dk_conv_output_column; −1 for one off the output grid or out of range. The coordinates of `p`
/// are divided out once and then stepped (four divisions per position took about a third as long
/// as a block's tile products at 32 input channels).
static void amx_block_outputs(const dk_conv_geometry *g, long p, long end, long q0, long q1, long out[32]) {
    const long line = p / g->wp;
    long x = p % g->wp, row = line % g->hp, z = line / g->hp;
    const int scatters = dk_conv_scatters(g);
    const long channels = scatters ? dk_conv_scattered_channels(g) : dk_conv_position_channels(g);
    for (int r = 0; r < 32; r++) {
        const long q = (z * g->oh + row) * g->ow + x;
        const long at = scatters ? ((g->ud * z * g->uh * g->oh + g->uh * row) * g->uw * g->ow + g->uw * x) * channels
                                 : q * channels;
        out[r] = p + r < end && x < g->ow && row < g->oh && q >= q0 && q < q1 ? at : -1;
        if (++x == g->wp) {
            x = 0;
            if (++row == g->hp) row = 0, z++;
        }
    }
}

/// Output channel c's value of a tile sum: the sum plus the bias (+0 without one), max(0, ·) of it
/// with g->relu (+0 for −0, NaN kept).
static inline float amx_output(const dk_conv_geometry *g, float sum, const float *bias, long c) {
    const float v = sum + (bias ? bias[c] : 0.0f);
    return !g->relu || v > 0.0f || v != v ? v : 0.0f;
}

#if defined(__x86_64__)
/// amx_output of 16 channels (the same bits), the bias's vector `add` (zero without one).
DKA512 static inline __m512 amx_output16(const dk_conv_geometry *g, const float *sums, __m512 add) {
    const __m512 v = _mm512_add_ps(_mm512_load_ps(sums), add);
    // v > 0 or unordered (NaN): kept; else +0.
    return g->relu ? _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_NLE_UQ), v) : v;
}
#endif

/// Writes the rows of a block of 32 grid positions whose outputs `out` places (≥ 0) ×
/// 32 (or 16 when `both` is 0) output channels from 16·nb: the tile sums plus the bias, max(0, ·)
/// of them with g->relu (NaN kept); their bfloat16 bits with g->round_output; in the part of
/// their channels for an output of two parts (g->cout_a), or of their up-sampled pixels for a
/// scattered one (amx_block_outputs; `column[j]` = dk_conv_output_column of channel 16·(nb + j),
/// found once per pass by the caller: a scattered output's take several divisions each, about
/// as long as a block's tile products at few input channels). The model's compilation stores with
/// this scalar form, the tile unit's with amx_store_block_avx512: the trap emulator's tests
/// compare the two bit for bit.
static void amx_store_block(const dk_conv_geometry *g, float sums[4][16][16], const float *bias, void *y,
                            const long out[32], int nb, int both, const long *column) {
    for (int r = 0; r < 32; r++) {
        if (out[r] < 0) continue;
        for (int j = 0; j <= both; j++) {
            const float *s = sums[2 * (r / 16) + j][r % 16];
            const long c0 = 16 * (nb + j), at = out[r] + column[j];
            for (int c = 0; c < 16; c++) {
                const float v = amx_output(g, s[c], bias, c0 + c);
                if (g->round_output)
                    ((uint16_t *)y)[at + c] = dk_bf16_bits(v);
                else
                    ((float *)y)[at + c] = v;
            }
        }
    }
}

#if defined(__x86_64__)
/// amx_store_block, 16 channels at a time (the same bits: the same Float addition of the bias, or
/// of +0 without one; the same ReLU, +0 for −0 and NaN kept; the same rounding to bfloat16). With
/// bfloat16 outputs the scalar form took about 0.6 µs per block of 32 positions × 32 channels,
/// more than twice the block's tile products at 32 input channels (Docs/MixedPrecision.md, "Not
/// yet run on AMX hardware"). Two blocks side by side in y are rounded into one 64-byte store.
DKA512 static void amx_store_block_avx512(const dk_conv_geometry *g, float sums[4][16][16], const float *bias,
                                          void *y, const long out[32], int nb, int both, const long *column) {
    __m512 add[2];
    for (int j = 0; j <= both; j++) add[j] = bias ? _mm512_loadu_ps(bias + 16 * (nb + j)) : _mm512_setzero_ps();
    // The upper 16-bit halves of 32-bit lanes 0–15 of one vector, then of the other.
    static const int16_t upper_words[32] = {1,  3,  5,  7,  9,  11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31,
                                            33, 35, 37, 39, 41, 43, 45, 47, 49, 51, 53, 55, 57, 59, 61, 63};
    const __m512i upper = _mm512_loadu_si512(upper_words);
    // Whether the two 16-channel blocks lie side by side in y (not split between two parts, nor
    // between two up-sampled pixels).
    const int adjacent = both && column[1] == column[0] + 16;
    for (int r = 0; r < 32; r++) {
        if (out[r] < 0) continue;
        __m512 v[2];
        for (int j = 0; j <= both; j++) v[j] = amx_output16(g, sums[2 * (r / 16) + j][r % 16], add[j]);
        if (g->round_output && adjacent) {
            // Both blocks' 32 bfloat16 values in one store.
            const __m512i a = dk_bf16_round_bits(_mm512_castps_si512(v[0]));
            const __m512i b = dk_bf16_round_bits(_mm512_castps_si512(v[1]));
            _mm512_storeu_si512((uint16_t *)y + out[r] + column[0],
                                _mm512_permutex2var_epi16(a, upper, b));
            continue;
        }
        for (int j = 0; j <= both; j++) {
            const long at = out[r] + column[j];
            if (g->round_output) {
                const __m512i bits = _mm512_srli_epi32(dk_bf16_round_bits(_mm512_castps_si512(v[j])), 16);
                _mm256_storeu_si256((__m256i *)((uint16_t *)y + at), _mm512_cvtepi32_epi16(bits));
            } else {
                _mm512_storeu_ps((float *)y + at, v[j]);
            }
        }
    }
}
#endif

/// With a 1×1 head (dk_conv_geometry.head_classes): the outputs of a block of 32 grid positions ×
/// 32 (or 16 when `both` is 0) output channels from 16·nb, as amx_store_block makes them
/// (amx_output), kept in rows[r][16·nb …] for amx_store_head instead of stored. The model's
/// compilation keeps them with this scalar form, the tile unit's with amx_head_rows_avx512.
static void amx_head_rows(const dk_conv_geometry *g, float sums[4][16][16], const float *bias, float rows[32][64],
                          int nb, int both) {
    for (int r = 0; r < 32; r++)
        for (int j = 0; j <= both; j++)
            for (int c = 0; c < 16; c++)
                rows[r][16 * (nb + j) + c] = amx_output(g, sums[2 * (r / 16) + j][r % 16][c], bias, 16 * (nb + j) + c);
}

#if defined(__x86_64__)
/// amx_head_rows, 16 channels at a time (amx_output16: the same bits).
DKA512 static void amx_head_rows_avx512(const dk_conv_geometry *g, float sums[4][16][16], const float *bias,
                                        float rows[32][64], int nb, int both) {
    for (int j = 0; j <= both; j++) {
        const __m512 add = bias ? _mm512_loadu_ps(bias + 16 * (nb + j)) : _mm512_setzero_ps();
        for (int r = 0; r < 32; r++)
            _mm512_store_ps(rows[r] + 16 * (nb + j), amx_output16(g, sums[2 * (r / 16) + j][r % 16], add));
    }
}

/// The 1×1 head of a block of 32 grid positions whose outputs `out` places (≥ 0; cout ≤ 64, one
/// part, not scattered), their outputs in `rows` (amx_head_rows): each run of up to 16
/// consecutive output positions goes through dk_store_head (head_store.h), the dot-product
/// kernels' head, so that logit c of output position q lands at y[q·classes + c] with the bits
/// of the few-channel kernel run on the stored outputs. Both compilations use it.
DK_HEAD_TARGET static void amx_store_head(const dk_conv_geometry *g, float rows[32][64], float *y, const long out[32]) {
    const long cout = g->cout;
    const int vectors = (int)(cout / 16);
    for (int r = 0; r < 32;) {
        if (out[r] < 0) {
            r++;
            continue;
        }
        int n = 1;
        while (r + n < 32 && n < 16 && out[r + n] == out[r] + n * cout) n++;
        __m512 v[16 * 4];
        for (int i = 0; i < 16; i++)
            for (int j = 0; j < vectors; j++)
                v[i * vectors + j] = i < n ? _mm512_load_ps(rows[r + i] + 16 * j) : _mm512_setzero_ps();
        const long q = out[r] / cout;
        switch (vectors) {
        case 1: dk_store_head(g, y, q, n, v, 16, 1); break;
        case 2: dk_store_head(g, y, q, n, v, 16, 2); break;
        case 3: dk_store_head(g, y, q, n, v, 16, 3); break;
        default: dk_store_head(g, y, q, n, v, 16, 4); break;
        }
        r += n;
    }
}
#else
/// On CPUs other than x86-64: unreachable (dk_no_vector_kernel), as the tile kernels run only
/// where the bfloat16 level is AMX (the model only in tests of x86-64 CPUs with AVX-512).
static void amx_store_head(const dk_conv_geometry *g, float rows[32][64], float *y, const long out[32]) {
    dk_no_vector_kernel("amx_store_head");
}
#endif

/// Element offset in the transpose (dk_bf16_transpose_grid, `row` elements per channel) of
/// kernel row block kb's first grid position: kernel row k = 16·kb = s·segment + kx·cin + ci
/// reads channel ci from grid position cells(s) + kx on.
static long amx_kernel_row_origin(const dk_conv_geometry *g, long kb, long segment, long row) {
    const long k = 16 * kb, s = k / segment, j = k % segment;
    return (j % g->cin) * row + dk_conv_segment_cells(g, (int)s) + j / g->cin;
}

// MARK: - The two compilations

#if defined(__x86_64__)
#define AMX_NAME(name) name##_hardware
#define AMX_TARGET __attribute__((target("amx-tile,amx-bf16")))
#define AMX_STORE_BLOCK amx_store_block_avx512
#define AMX_HEAD_ROWS amx_head_rows_avx512
#define AMX_STATE
#define TILE_CONFIG(cfg) _tile_loadconfig(cfg)
#define TILE_RELEASE() _tile_release()
#define TILE_ZERO(t) _tile_zero(t)
#define TILE_LOAD(t, p, s) _tile_loadd(t, p, s)
#define TILE_STORE(t, p, s) _tile_stored(t, p, s)
#define TILE_DP(c, a, b) _tile_dpbf16ps(c, a, b)
#include "conv_amx_kernel.h"
#undef AMX_NAME
#undef AMX_TARGET
#undef AMX_STORE_BLOCK
#undef AMX_HEAD_ROWS
#undef AMX_STATE
#undef TILE_CONFIG
#undef TILE_RELEASE
#undef TILE_ZERO
#undef TILE_LOAD
#undef TILE_STORE
#undef TILE_DP
#endif

#define AMX_NAME(name) name##_model
#define AMX_TARGET
#define AMX_STORE_BLOCK amx_store_block
#define AMX_HEAD_ROWS amx_head_rows
#define AMX_STATE amx_model model;
#define TILE_CONFIG(cfg) model_config(&model, cfg)
#define TILE_RELEASE() ((void)0)
#define TILE_ZERO(t) model_zero(&model, t)
#define TILE_LOAD(t, p, s) model_load(&model, t, p, s)
#define TILE_STORE(t, p, s) model_store(&model, t, p, s)
#define TILE_DP(c, a, b) model_dp(&model, c, a, b)
#include "conv_amx_kernel.h"

// MARK: - Entry points

void dk_bf16_pack_weight_tiles_range(const dk_conv_geometry *g, const float *w, int pytorch, uint16_t *packed,
                                     int flipped, long c0, long c1) {
    const long taps = (long)g->kd * g->kh * g->kw, cin = g->cin, cout = g->cout;
    // The product's reduction length and result channels: [taps·cin, cout] forward, [taps·cout,
    // cin] flipped (row t·cout + co of W' is W[taps − 1 − t][·][co]).
    const long rows = flipped ? taps * cout : taps * cin, columns = flipped ? cin : cout;
    for (long block = 0; block < columns / 16; block++)
        for (long k = 0; k < rows; k++)
            for (long c = 0; c < 16; c++) {
                const long column = 16 * block + c;
                const long t = flipped ? taps - 1 - k / cout : k / cin, ci = flipped ? column : k % cin;
                const long co = flipped ? k % cout : column;
                if (co < c0 || co >= c1) continue;
                const float v = dk_kernel_element(w, pytorch, taps, cin, cout, t, ci, co);
                packed[((block * (rows / 2) + k / 2) * 16 + c) * 2 + k % 2] = dk_bf16_bits(v);
            }
}

void dk_bf16_pack_weight_tiles_from(const dk_conv_geometry *g, const float *w, int pytorch, uint16_t *packed,
                                    int flipped) {
    dk_bf16_pack_weight_tiles_range(g, w, pytorch, packed, flipped, 0, g->cout);
}

void dk_bf16_pack_weight_tiles(const dk_conv_geometry *g, const float *w, uint16_t *packed, int flipped) {
    dk_bf16_pack_weight_tiles_from(g, w, 0, packed, flipped);
}

long dk_conv_tile_grid_length(const dk_conv_geometry *g) {
    const long positions = g->od * g->oh * g->ow;
    return positions > 0 ? (dk_conv_grid_position(g, positions - 1) + 32) / 32 * 32 : 0;
}

/// Positions of one padded sample's grid ((od + kd − 1) planes of hp × wp, stride 1).
static long amx_padded_positions(const dk_conv_geometry *g) { return (g->od + g->kd - 1) * g->hp * g->wp; }

long dk_conv_tile_transpose_row(const dk_conv_geometry *g) { return amx_padded_positions(g) + 32; }

#if defined(__x86_64__)
/// Channels c and c + 1 of 32 grid positions at a time: two gathers of the 32-bit pairs (c, c + 1)
/// of 16 positions each, split into the two channels' rows by 16-bit permutes.
DKA512 static long transpose_avx512(const uint16_t *xp, uint16_t *xt, long grid, long row, long cin) {
    const __m512i index = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                             _mm512_set1_epi32((int)(cin / 2)));
    int16_t even_words[32], odd_words[32];
    for (int i = 0; i < 32; i++) even_words[i] = (int16_t)(2 * i), odd_words[i] = (int16_t)(2 * i + 1);
    const __m512i even = _mm512_loadu_si512((const void *)even_words), odd = _mm512_loadu_si512((const void *)odd_words);
    long p = 0;
    for (; p + 32 <= grid; p += 32)
        for (long c = 0; c < cin; c += 2) {
            const int *pairs = (const int *)(const void *)(xp + p * cin + c);
            const __m512i first = _mm512_i32gather_epi32(index, pairs, 4);
            const __m512i second = _mm512_i32gather_epi32(index, pairs + 8 * cin, 4);
            _mm512_storeu_si512((void *)(xt + c * row + p), _mm512_permutex2var_epi16(first, even, second));
            _mm512_storeu_si512((void *)(xt + (c + 1) * row + p), _mm512_permutex2var_epi16(first, odd, second));
        }
    return p;
}
#endif

void dk_bf16_transpose_grid(const dk_conv_geometry *g, const uint16_t *xp, uint16_t *xt) {
    const long grid = amx_padded_positions(g), row = dk_conv_tile_transpose_row(g), cin = g->cin;
#if defined(__x86_64__)
    const long done = dk_isa() == DK_ISA_AVX512 && cin % 2 == 0 ? transpose_avx512(xp, xt, grid, row, cin) : 0;
#else
    const long done = 0;
#endif
    for (long c = 0; c < cin; c++) {
        uint16_t *to = xt + c * row;
        for (long p = done; p < grid; p++) to[p] = xp[p * cin + c];
        for (long p = grid; p < row; p++) to[p] = 0;
    }
}

/// The next grid position's coordinates (x along the padded width, line, plane) and output
/// position q: q counts the positions on the output grid (x < ow, line < oh, plane < od).
typedef struct {
    long x, line, plane, q;
} amx_grid_cursor;

/// Whether the cursor's grid position is an output position; moves the cursor to the next one.
static inline int amx_grid_next(const dk_conv_geometry *g, amx_grid_cursor *c) {
    const int stored = c->x < g->ow && c->line < g->oh && c->plane < g->od;
    c->q += stored;
    if (++c->x == g->wp) {
        c->x = 0;
        if (++c->line == g->hp) c->line = 0, c->plane++;
    }
    return stored;
}

#if defined(__x86_64__)
/// Two grid positions at a time, 16 channels at a time: lane co = bf16(dy[first][co]) |
/// bf16(dy[second][co]) << 16, zero for a position off the output grid; dy's Floats (dyf) or its
/// bits (dyb, when dyf is NULL).
DKA512 static void gradient_grid_avx512(const dk_conv_geometry *g, const float *dyf, const uint16_t *dyb,
                                        uint16_t *dyg, long length) {
    const long cout = g->cout;
    amx_grid_cursor cursor = {0, 0, 0, 0};
    for (long p = 0; p < length; p += 2) {
        const long first = cursor.q * cout;
        const int first_stored = amx_grid_next(g, &cursor);
        const long second = cursor.q * cout;
        const int second_stored = amx_grid_next(g, &cursor);
        uint16_t *to = dyg + p * cout;
        for (long co = 0; co < cout; co += 16) {
            const __m512i lo = first_stored ? dk_bf16_lanes(dyf, dyb, first + co) : _mm512_setzero_si512();
            const __m512i hi = second_stored ? dk_bf16_lanes(dyf, dyb, second + co) : _mm512_setzero_si512();
            _mm512_storeu_si512((void *)(to + 2 * co), _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
        }
    }
}
#endif

/// dk_bf16_pack_gradient_grid of dy's Floats (dyf) or of its bits (dyb, when dyf is NULL).
static void pack_gradient_grid(const dk_conv_geometry *g, const float *dyf, const uint16_t *dyb, uint16_t *dyg) {
    const long length = dk_conv_tile_grid_length(g), cout = g->cout;
#if defined(__x86_64__)
    if (dk_isa() == DK_ISA_AVX512 && cout % 16 == 0) {
        gradient_grid_avx512(g, dyf, dyb, dyg, length);
        return;
    }
#endif
    amx_grid_cursor cursor = {0, 0, 0, 0};
    for (long p = 0; p < length; p++) {
        const long q = cursor.q;
        const int stored = amx_grid_next(g, &cursor);
        uint16_t *to = dyg + (p / 2) * cout * 2 + p % 2;
        for (long co = 0; co < cout; co++)
            to[2 * co] = !stored ? 0 : dyf ? dk_bf16_bits(dyf[q * cout + co]) : dyb[q * cout + co];
    }
}

void dk_bf16_pack_gradient_grid(const dk_conv_geometry *g, const float *dy, uint16_t *dyg) {
    pack_gradient_grid(g, dy, NULL, dyg);
}

void dk_bf16_pack_gradient_grid_bits(const dk_conv_geometry *g, const uint16_t *dy, uint16_t *dyg) {
    pack_gradient_grid(g, NULL, dy, dyg);
}

void dk_amx_forward_run(int hardware, const dk_conv_geometry *g, const uint16_t *xp, const uint16_t *wt,
                        const float *bias, void *y, long q0, long q1) {
    if (q1 <= q0) return;
#if defined(__x86_64__)
    if (hardware)
        forward_tiles_hardware(g, xp, wt, bias, y, q0, q1);
    else
        forward_tiles_model(g, xp, wt, bias, y, q0, q1);
#else
    if (hardware) dk_no_vector_kernel("dk_amx_forward_run");
    forward_tiles_model(g, xp, wt, bias, y, q0, q1);
#endif
}

void dk_amx_weight_grad_run(int hardware, const dk_conv_geometry *g, const uint16_t *xt, long xt_stride,
                            const uint16_t *dyg, long dyg_stride, long samples, float *dw, long kb0, long kb1,
                            long cb0, long cb1, long positions, int accumulate) {
    if (kb1 <= kb0 || cb1 <= cb0) return;
    const long row = dk_conv_tile_transpose_row(g);
#if defined(__x86_64__)
    if (hardware)
        weight_grad_tiles_hardware(g, xt, xt_stride, row, dyg, dyg_stride, samples, dw, kb0, kb1, cb0, cb1,
                                   positions, accumulate);
    else
        weight_grad_tiles_model(g, xt, xt_stride, row, dyg, dyg_stride, samples, dw, kb0, kb1, cb0, cb1, positions,
                                accumulate);
#else
    if (hardware) dk_no_vector_kernel("dk_amx_weight_grad_run");
    weight_grad_tiles_model(g, xt, xt_stride, row, dyg, dyg_stride, samples, dw, kb0, kb1, cb0, cb1, positions,
                            accumulate);
#endif
}

double dk_amx_tile_products_run(int hardware, long rounds) {
#if defined(__x86_64__)
    return hardware ? tile_products_hardware(rounds) : tile_products_model(rounds);
#else
    if (hardware) dk_no_vector_kernel("dk_amx_tile_products_run");
    return tile_products_model(rounds);
#endif
}

/// Calls of the tile kernel on the model [0] and on the tile unit [1] (dk_conv_tile_calls).
static _Atomic long tile_calls[2];
/// Set by dk_amx_route_to_tile_unit (the tests' trap emulator).
static _Atomic int tile_unit_routed;

void dk_amx_route_to_tile_unit(int on) { atomic_store_explicit(&tile_unit_routed, on != 0, memory_order_relaxed); }

/// Whether the tile unit's compilation may run: the AMX level detected, or a test routed it there.
static int tile_unit_allowed(void) {
    return dk_bf16_detected() == DK_BF16_AMX || atomic_load_explicit(&tile_unit_routed, memory_order_relaxed);
}

/// Whether the tile arithmetic runs on the tile unit rather than the model: the AMX level in use,
/// or a test routed it there.
static int tile_unit_in_use(void) {
    return dk_bf16_level_in_use() == DK_BF16_AMX || atomic_load_explicit(&tile_unit_routed, memory_order_relaxed);
}

int dk_conv_forward_tiles_on(int hardware, const dk_conv_geometry *g, const uint16_t *xp, const uint16_t *wt,
                             const float *bias, void *y, long q0, long q1) {
    if (hardware && !tile_unit_allowed()) return -1;
    if (q1 <= q0) return 0;
    atomic_fetch_add_explicit(&tile_calls[hardware ? 1 : 0], 1, memory_order_relaxed);
    dk_amx_forward_run(hardware, g, xp, wt, bias, y, q0, q1);
    return 0;
}

void dk_conv_forward_tiles(const dk_conv_geometry *g, const uint16_t *xp, const uint16_t *wt, const float *bias,
                           void *y, long q0, long q1) {
    dk_conv_forward_tiles_on(tile_unit_in_use(), g, xp, wt, bias, y, q0, q1);
}

long dk_conv_tile_calls(int hardware) { return atomic_load_explicit(&tile_calls[hardware ? 1 : 0], memory_order_relaxed); }

int dk_conv_weight_grad_tiles_on(int hardware, const dk_conv_geometry *g, const uint16_t *xt, long xt_stride,
                                 const uint16_t *dyg, long dyg_stride, long samples, float *dw, long kb0, long kb1,
                                 long cb0, long cb1, long positions, int accumulate) {
    if (hardware && !tile_unit_allowed()) return -1;
    if (kb1 <= kb0 || cb1 <= cb0) return 0;
    atomic_fetch_add_explicit(&tile_calls[hardware ? 1 : 0], 1, memory_order_relaxed);
    dk_amx_weight_grad_run(hardware, g, xt, xt_stride, dyg, dyg_stride, samples, dw, kb0, kb1, cb0, cb1, positions,
                           accumulate);
    return 0;
}

void dk_conv_weight_grad_tiles(const dk_conv_geometry *g, const uint16_t *xt, long xt_stride, const uint16_t *dyg,
                               long dyg_stride, long samples, float *dw, long kb0, long kb1, long cb0, long cb1,
                               long positions, int accumulate) {
    dk_conv_weight_grad_tiles_on(tile_unit_in_use(), g, xt, xt_stride, dyg, dyg_stride, samples,
                                 dw, kb0, kb1, cb0, cb1, positions, accumulate);
}
