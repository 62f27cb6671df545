// The Winograd forward pass's input transform and products in bfloat16 (AVX512-BF16;
// winograd_products.h, conv_winograd.c's forward pass runs them): the transformed input V, 16
// channels at a time, rounded to bfloat16 as it is stored (vcvtneps2bf16: to nearest, ties to
// even; a Float below the least normal bfloat16 to zero, as vdpbf16ps reads it anyway) and the
// transformed kernel U rounded (dk_bf16_bits), their products summed in Float by vdpbf16ps, which
// multiplies pairs:
// acc[i] += a[2i]·b[2i] + a[2i+1]·b[2i+1] for 16 lanes. The pairs run along the input channels:
// a 32-bit broadcast of V[t][2k … 2k + 1] against U[ξ][cb][k][16][2], the kernel's pairs
// interleaved per output channel (dk_conv_winograd_round_kernel_bf16). Register tiles as the
// Float AVX-512 products (conv_winograd_avx512.c): 12 tiles × 32 output channels, a last odd
// panel 12 × 16, a last 6 tiles 6 × 32 or 6 × 16.
//
// Each output's sum is a fixed chain over its own tile's V and the kernel, whatever the block,
// so the pass keeps the Float pass's property: the same bits whatever the tile range.

#include "dk_convolution.h"
#include "winograd_products.h"

#if defined(__x86_64__)

#include "bf16_round.h"
#include <immintrin.h>
#include <string.h>

#define DKWB __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#define DK_UNROLL _Pragma("clang loop unroll(full)")

/// The bfloat16 bits (dk_bf16_bits) of 16 Floats at `p`, as 16-bit lanes.
DKWB static inline __m256i round16(const float *p) { return _mm512_cvtepi32_epi16(dk_bf16_lanes(p, NULL, 0)); }

DKWB void dk_conv_winograd_round_kernel_bf16(const float *u, long points, long cin, long cout, uint16_t *ub, long x0,
                                             long x1) {
    (void)points;
    const long blocks = cout / 16;
    // Lane 2l of the result takes input channel 2k's output channel l, lane 2l + 1 channel 2k + 1's.
    __m512i order;
    {
        uint16_t lanes[32];
        for (int l = 0; l < 16; l++) lanes[2 * l] = (uint16_t)l, lanes[2 * l + 1] = (uint16_t)(16 + l);
        order = _mm512_loadu_si512((const void *)lanes);
    }
    for (long xi = x0; xi < x1; xi++)
        for (long cb = 0; cb < blocks; cb++) {
            const float *const in = u + (xi * blocks + cb) * cin * 16;
            uint16_t *const out = ub + (xi * blocks + cb) * cin * 16;
            for (long k = 0; k < cin / 2; k++) {
                const __m512i both = _mm512_inserti64x4(_mm512_castsi256_si512(round16(in + 32 * k)),
                                                        round16(in + 32 * k + 16), 1);
                _mm512_storeu_si512((void *)(out + 32 * k), _mm512_permutexvar_epi16(order, both));
            }
        }
}

/// m[p][t][16] = Σ over pairs k of vb[t][2k … 2k + 1] · ub[p][k][16][2] for tiles t < MR and
/// panels p < NP (NP 1 or 2).
DKWB static inline __attribute__((always_inline)) void
multiply_tile(const uint16_t *vb, const uint16_t *ub, long cin, long panel_u, float *m, long panel_m, const int MR,
              const int NP) {
    __m512 acc[2][12];
    DK_UNROLL for (int p = 0; p < NP; p++) DK_UNROLL for (int i = 0; i < MR; i++) acc[p][i] = _mm512_setzero_ps();
    for (long k = 0; k < cin / 2; k++) {
        __m512bh b[2];
        DK_UNROLL for (int p = 0; p < NP; p++)
            b[p] = (__m512bh)_mm512_load_si512((const void *)(ub + p * panel_u + 32 * k));
        DK_UNROLL for (int i = 0; i < MR; i++) {
            int pair;
            __builtin_memcpy(&pair, vb + i * cin + 2 * k, 4);
            const __m512bh a = (__m512bh)_mm512_set1_epi32(pair);
            DK_UNROLL for (int p = 0; p < NP; p++) acc[p][i] = _mm512_dpbf16_ps(acc[p][i], a, b[p]);
        }
    }
    DK_UNROLL for (int p = 0; p < NP; p++) DK_UNROLL for (int i = 0; i < MR; i++)
        _mm512_store_ps(m + p * panel_m + 16 * i, acc[p][i]);
}

DKWB void dk_winograd_transform_input_bf16(const dk_winograd_geometry *g, const float *xp, long first, long count,
                                           long rows, float *v) {
    const long cin = g->cin, line = g->wp * cin, xs = 2 * rows * cin;
    uint16_t *const vb = (uint16_t *)v;
    dk_tile_place place = dk_tile_place_of(g, first);
    for (long t = 0; t < rows; t++, dk_tile_place_next(g, &place)) {
        if (t >= count) {
            for (long xi = 0; xi < 16; xi++) memset(vb + xi * xs + t * cin, 0, sizeof(uint16_t) * (size_t)cin);
            continue;
        }
        const float *const d = xp + dk_tile_place_offset(&place, g->sample_floats, 0, line, cin);
        for (long c = 0; c < cin; c += 16)
            DK_UNROLL for (int i = 0; i < 4; i++) {
                __m512 out[4];
                dk_winograd_window_row(d + c, line, cin, i, out);
                DK_UNROLL for (int j = 0; j < 4; j++)
                    _mm256_storeu_si256((__m256i *)(vb + (4 * i + j) * xs + t * cin + c),
                                        (__m256i)_mm512_cvtneps_pbh(out[j]));
            }
    }
}

DKWB void dk_winograd_multiply_bf16(float *v, const void *kernel, long xi, long cin, long rows, long blocks, float *m) {
    const uint16_t *const vb = (const uint16_t *)v;
    const long panel_u = 16 * cin, panel_m = 16 * rows;
    const uint16_t *const u = (const uint16_t *)kernel + xi * blocks * panel_u;
#define TILE(cb, t, MR, NP)                                                                                            \
    multiply_tile(vb + (t) * cin, u + (cb) * panel_u, cin, panel_u, m + (cb) * panel_m + 16 * (t), panel_m, MR, NP)
    DK_WINOGRAD_PANELS(TILE, rows, blocks)
#undef TILE
}

#else

// Never called: bfloat16 runs in Float on other CPUs (dk_bf16_level_in_use).
void dk_conv_winograd_round_kernel_bf16(const float *u, long points, long cin, long cout, uint16_t *ub, long x0,
                                        long x1) {
    (void)u, (void)points, (void)cin, (void)cout, (void)ub, (void)x0, (void)x1;
}

#endif

void dk_conv_winograd_transpose_kernel_bf16(const uint16_t *ub, long cin, long cout, uint16_t *ut, long x0, long x1) {
    // Within a 16 × 16 block of channels, both layouts are 512 contiguous bytes: element (input
    // channel i, output channel o) of the forward kernel at (i / 2)·32 + 2o + i % 2, of the
    // transposed one at (o / 2)·32 + 2i + o % 2.
    uint16_t from[256];
    for (int i = 0; i < 16; i++)
        for (int o = 0; o < 16; o++) from[(o / 2) * 32 + 2 * i + o % 2] = (uint16_t)((i / 2) * 32 + 2 * o + i % 2);
    // σ swaps 0 and 3 along each axis of the 4 × 4 element.
    static const int sigma[4] = {3, 1, 2, 0};
    const long iblocks = cin / 16, oblocks = cout / 16;
    for (long xi = x0; xi < x1; xi++) {
        const long source = 4 * sigma[xi / 4] + sigma[xi % 4];
        for (long ib = 0; ib < iblocks; ib++)
            for (long ob = 0; ob < oblocks; ob++) {
                // The forward kernel's block: element `source`, output panel ob, input pairs 8·ib…;
                // the transposed one's: element xi, output panel ib (its outputs are our inputs),
                // input pairs 8·ob….
                const uint16_t *const in = ub + ((source * oblocks + ob) * cin + 16 * ib) * 16;
                uint16_t *const out = ut + ((xi * iblocks + ib) * cout + 16 * ob) * 16;
                for (int p = 0; p < 256; p++) out[p] = in[from[p]];
            }
    }
}
