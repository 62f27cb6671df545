// bfloat16 packings for the dot-product and tile kernels (conv_bf16.c, conv_amx.c), in the
// layouts of bf16_layout.h and conv_bf16.c's header comment: the kernels' weights, forward and
// flipped, from DiceKit's layout or PyTorch's (by gathers, or in blocks of 16 × 16 channels
// turned by the transposes of transpose16.h); the weight gradient's overlapping pairs of input
// positions; and the output gradient in pairs of positions along a row, from Floats or from
// their bfloat16 bits as they are (a kept activation).

#include "dk_bf16.h"
#include "dk_dispatch.h"
#include "conv_internal.h"
#include "bf16_round.h"
#include "bf16_layout.h"
#include "transpose16.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <stddef.h>

#if defined(__x86_64__)
#define DKI512 __attribute__((target("avx512f,avx512bw")))

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
    const __m512i lanes = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                             _mm512_set1_epi32((int)(cin * taps)));
    const long rows = taps * cin;
    if (pytorch && cin % 16 == 0 && taps <= DK_BLOCK_TAPS) {
        pack_weight_blocks(w, packed, taps, cin, cout, c0, c1, tiles);
        return;
    }
    for (long co = c0; co < c1; co += 16)
        for (long k = 0; k < rows; k += 2) {
            __m512 a, b;
            if (pytorch) {
                // Rows k and k + 1 are input channels ci and ci + 1 of tap t (cin is even).
                const float *base = w + co * cin * taps + (k % cin) * taps + k / cin;
                a = _mm512_i32gather_ps(lanes, base, 4);
                b = _mm512_i32gather_ps(lanes, base + taps, 4);
            } else {
                a = _mm512_loadu_ps(w + k * cout + co);
                b = _mm512_loadu_ps(w + (k + 1) * cout + co);
            }
            _mm512_storeu_si512((void *)(packed + pair_run_offset(tiles, k / 2, co, cout, rows)), pair_bits(a, b));
        }
}
#endif

void dk_bf16_pack_weight_channels(const dk_conv_geometry *g, const float *w, int pytorch, uint16_t *packed, long c0,
                                  long c1) {
    const long taps = (long)g->kd * g->kh * g->kw, cin = g->cin, cout = g->cout, rows = taps * cin;
    if (quad_layout(cout, (long)g->kw * cin)) {
        for (long k = 0; k < rows; k++)
            for (long c = c0; c < c1; c++)
                packed[quad_index(k, c)] =
                    dk_bf16_bits(dk_kernel_element(w, pytorch, taps, cin, cout, k / cin, k % cin, c));
        return;
    }
#if defined(__x86_64__)
    if (dk_isa() == DK_ISA_AVX512 && cout % 16 == 0) {
        pack_weight_avx512(w, pytorch, packed, taps, cin, cout, c0, c1, 0);
        return;
    }
#endif
    for (long k = 0; k < rows; k += 2)
        for (long co = c0; co < c1; co++) {
            const long t = k / cin, ci = k % cin, at = dot_pair_offset(k / 2, co, cout, rows);
            packed[at] = dk_bf16_bits(dk_kernel_element(w, pytorch, taps, cin, cout, t, ci, co));
            packed[at + 1] = dk_bf16_bits(dk_kernel_element(w, pytorch, taps, cin, cout, t, ci + 1, co));
        }
}

void dk_bf16_pack_weight(const dk_conv_geometry *g, const float *w, uint16_t *packed) {
    dk_bf16_pack_weight_channels(g, w, 0, packed, 0, g->cout);
}

#if defined(__x86_64__)
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
        const __m512i lanes = _mm512_mullo_epi32(
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32((int)taps));
        for (long co = c0; co < c1; co += 2)
            for (long t = 0; t < taps; t++) {
                // Row (taps − 1 − t)·cout + co of the flipped kernel is W[t][·][co].
                const long kp = ((taps - 1 - t) * cout + co) / 2;
                for (long ci = 0; ci < cin; ci += 16) {
                    const float *base = w + (co * cin + ci) * taps + t;
                    _mm512_storeu_si512((void *)(packed + pair_run_offset(tiles, kp, ci, cin, rows)),
                                        pair_bits(_mm512_i32gather_ps(lanes, base, 4),
                                                  _mm512_i32gather_ps(lanes, base + cin * taps, 4)));
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
#endif

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
                        dk_bf16_bits(dk_kernel_element(w, pytorch, taps, cin, cout, taps - 1 - t, ci, co));
        return;
    }
#if defined(__x86_64__)
    if (dk_isa() == DK_ISA_AVX512 && cin % 16 == 0 && cout % 16 == 0) {
        pack_weight_flipped_avx512(w, pytorch, packed, taps, cin, cout, c0, c1, 0);
        return;
    }
#endif
    for (long t = 0; t < taps; t++)
        for (long co = c0; co < c1; co += 2)
            for (long ci = 0; ci < cin; ci++) {
                const long at = dot_pair_offset((t * cout + co) / 2, ci, cin, taps * cout);
                packed[at] = dk_bf16_bits(dk_kernel_element(w, pytorch, taps, cin, cout, taps - 1 - t, ci, co));
                packed[at + 1] = dk_bf16_bits(dk_kernel_element(w, pytorch, taps, cin, cout, taps - 1 - t, ci, co + 1));
            }
}

void dk_bf16_pack_weight_tiles_channels(const dk_conv_geometry *g, const float *w, int pytorch, uint16_t *packed,
                                        int flipped, long c0, long c1) {
#if defined(__x86_64__)
    const long taps = (long)g->kd * g->kh * g->kw, cin = g->cin, cout = g->cout;
    if (dk_isa() != DK_ISA_AVX512 || cin % 16 != 0 || cout % 16 != 0) {
        dk_bf16_pack_weight_tiles_range(g, w, pytorch, packed, flipped, c0, c1);
        return;
    }
    if (flipped)
        pack_weight_flipped_avx512(w, pytorch, packed, taps, cin, cout, c0, c1, 1);
    else
        pack_weight_avx512(w, pytorch, packed, taps, cin, cout, c0, c1, 1);
#else
    dk_bf16_pack_weight_tiles_range(g, w, pytorch, packed, flipped, c0, c1);
#endif
}

void dk_bf16_pack_weight_flipped(const dk_conv_geometry *g, const float *w, uint16_t *packed) {
    dk_bf16_pack_weight_flipped_channels(g, w, 0, packed, 0, g->cout);
}

#if defined(__x86_64__)
/// Pairs 16 channels at a time (cin is a multiple of 16): lane c = xp[p][c] | xp[p + 1][c] << 16.
DKI512 static void pack_pairs_avx512(const uint16_t *xp, uint16_t *xq, long positions, long cin) {
    for (long p = 0; p + 1 < positions; p++)
        for (long c = 0; c < cin; c += 16) {
            const __m512i lo = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(xp + p * cin + c)));
            const __m512i hi = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(xp + (p + 1) * cin + c)));
            _mm512_storeu_si512((void *)(xq + (p * cin + c) * 2), _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
        }
}

/// dy rows x and x + 1, 16 channels at a time: lane co = bf16(dy[x][co]) | bf16(dy[x + 1][co]) << 16,
/// from dy's Floats (dyf) or its bits (dyb, when dyf is NULL).
DKI512 static void pack_gradient_avx512(const float *dyf, const uint16_t *dyb, uint16_t *dyp, long lines, long ow,
                                        long cout) {
    const long half = (ow + 1) / 2;
    for (long l = 0; l < lines; l++)
        for (long x = 0; x < half; x++)
            for (long co = 0; co < cout; co += 16) {
                const long at = (l * ow + 2 * x) * cout + co;
                const __m512i lo = dk_bf16_lanes(dyf, dyb, at);
                const __m512i hi = 2 * x + 1 < ow ? dk_bf16_lanes(dyf, dyb, at + cout) : _mm512_setzero_si512();
                _mm512_storeu_si512((void *)(dyp + ((l * half + x) * cout + co) * 2),
                                    _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
            }
}
#endif

void dk_bf16_pack_pairs(const dk_conv_geometry *g, const uint16_t *xp, uint16_t *xq, long positions) {
    const long cin = g->cin;
#if defined(__x86_64__)
    if (dk_isa() == DK_ISA_AVX512 && cin % 16 == 0) {
        pack_pairs_avx512(xp, xq, positions, cin);
    } else
#endif
    {
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

/// dk_bf16_pack_gradient of dy's Floats (dyf) or of its bits (dyb, when dyf is NULL).
static void pack_gradient(const dk_conv_geometry *g, const float *dyf, const uint16_t *dyb, uint16_t *dyp) {
    const long lines = g->od * g->oh, ow = g->ow, cout = g->cout, half = (ow + 1) / 2;
#if defined(__x86_64__)
    if (dk_isa() == DK_ISA_AVX512 && cout % 16 == 0) {
        pack_gradient_avx512(dyf, dyb, dyp, lines, ow, cout);
        return;
    }
#endif
    for (long l = 0; l < lines; l++)
        for (long x = 0; x < half; x++)
            for (long co = 0; co < cout; co++) {
                const long at = (l * ow + 2 * x) * cout + co;
                uint16_t *t = dyp + ((l * half + x) * cout + co) * 2;
                t[0] = dyf ? dk_bf16_bits(dyf[at]) : dyb[at];
                t[1] = 2 * x + 1 >= ow ? 0 : dyf ? dk_bf16_bits(dyf[at + cout]) : dyb[at + cout];
            }
}

void dk_bf16_pack_gradient(const dk_conv_geometry *g, const float *dy, uint16_t *dyp) {
    pack_gradient(g, dy, NULL, dyp);
}

void dk_bf16_pack_gradient_bits(const dk_conv_geometry *g, const uint16_t *dy, uint16_t *dyp) {
    pack_gradient(g, NULL, dy, dyp);
}
