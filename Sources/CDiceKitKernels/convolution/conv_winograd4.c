// Winograd F(4×4, 3×3) for the 2-D Float forward passes at the AVX-512 level (Winograd.swift
// chooses it over F(2×2, 3×3) for the layers whose products outweigh their transforms): each
// 4 × 4 block of outputs (a tile) reads a 6 × 6 window of the padded input, and the sum over
// input channels becomes 36 products of [tiles × Cin] by [Cin × Cout] matrices, one per element
// of the 6 × 6 transform: 36 multiplications for 16 outputs and a channel pair, where F(2×2, 3×3)
// makes 64 and the direct kernels 144. With the interpolation points 0, ±1, ±2 and ∞ (Lavin and
// Gray, "Fast Algorithms for Convolutional Neural Networks", 2016):
//
//   Bᵀ = [4  0 −5  0  1  0]    G = [ 1/4     0     0 ]    Aᵀ = [1  1  1  1  1  0]
//        [0 −4 −4  1  1  0]        [−1/6  −1/6  −1/6 ]         [0  1 −1  2 −2  0]
//        [0  4 −4 −1  1  0]        [−1/6   1/6  −1/6 ]         [0  1  1  4  4  0]
//        [0 −2 −1  2  1  0]        [1/24  1/12   1/6 ]         [0  1 −1  8 −8  1]
//        [0  2 −1 −2  1  0]        [1/24 −1/12   1/6 ]
//        [0  4  0 −5  0  1]        [  0     0     1  ]
//
// y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A. The larger coefficients make a larger rounding error than
// F(2×2, 3×3)'s (Docs/Convolution.md, "Winograd F(4×4, 3×3)", bounds it). The products are
// F(2×2, 3×3)'s (dk_winograd_multiply_avx512, over 36 elements ξ). Every output is a fixed
// sequence of operations on its own window and the transformed kernel, whatever the workers and
// blocks: the same bits for any thread count.

#include "dk_convolution.h"
#include "dk_dispatch.h"
#include "winograd_products.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <string.h>

#define DKW512 __attribute__((target("avx512f")))
#define DKW512BW __attribute__((target("avx512f,avx512bw")))
#define DK_UNROLL _Pragma("clang loop unroll(full)")

enum { POINTS4 = 36 };

/// `tiles` rounded up to a multiple of WINO_ROWS: the rows a block of them takes in the scratch.
static inline long rows4(long tiles) { return (tiles + WINO_ROWS - 1) / WINO_ROWS * WINO_ROWS; }

/// G (g0, g1, g2): the 6 values of one column (or row) of G g.
DKW512 static inline __attribute__((always_inline)) void kernel_line(__m512 g0, __m512 g1, __m512 g2, __m512 u[6]) {
    // The rows of G: g0 / 4; −(g0 ± g1 + g2) / 6; (g0 / 24 + g2 / 6) ± g1 / 12; g2.
    const __m512 outer = _mm512_add_ps(g0, g2), minus_sixth = _mm512_set1_ps(-1.f / 6);
    const __m512 ends = _mm512_fmadd_ps(_mm512_set1_ps(1.f / 24), g0, _mm512_mul_ps(_mm512_set1_ps(1.f / 6), g2));
    const __m512 twelfth = _mm512_mul_ps(_mm512_set1_ps(1.f / 12), g1);
    u[0] = _mm512_mul_ps(_mm512_set1_ps(0.25f), g0);
    u[1] = _mm512_mul_ps(minus_sixth, _mm512_add_ps(outer, g1));
    u[2] = _mm512_mul_ps(minus_sixth, _mm512_sub_ps(outer, g1));
    u[3] = _mm512_add_ps(ends, twelfth);
    u[4] = _mm512_sub_ps(ends, twelfth);
    u[5] = g2;
}

DKW512 void dk_conv_winograd4_transform_kernel_f32(const float *packed, long cin, long cout, float *u, long ci0,
                                                   long ci1) {
    const long blocks = cout / 16, stride = blocks * cin * 16;
    for (long ci = ci0; ci < ci1; ci++)
        for (long cb = 0; cb < blocks; cb++) {
            __m512 g[3][3], t[6][3];
            DK_UNROLL for (int i = 0; i < 3; i++) DK_UNROLL for (int j = 0; j < 3; j++)
                g[i][j] = _mm512_loadu_ps(dk_winograd_packed_weight(packed, 9, cin, cout, i * 3 + j, ci, cb * 16));
            // t = G g (6 × 3), column by column, then U = t Gᵀ (6 × 6), row by row.
            DK_UNROLL for (int j = 0; j < 3; j++) {
                __m512 column[6];
                kernel_line(g[0][j], g[1][j], g[2][j], column);
                DK_UNROLL for (int a = 0; a < 6; a++) t[a][j] = column[a];
            }
            float *const out = u + (cb * cin + ci) * 16;
            DK_UNROLL for (int a = 0; a < 6; a++) {
                __m512 row[6];
                kernel_line(t[a][0], t[a][1], t[a][2], row);
                DK_UNROLL for (int b = 0; b < 6; b++) _mm512_storeu_ps(out + (6 * a + b) * stride, row[b]);
            }
        }
}

/// Bᵀ (d0 … d5): one column (or row) of the input transform.
DKW512 static inline __attribute__((always_inline)) void input_line(const __m512 d[6], __m512 r[6]) {
    const __m512 four = _mm512_set1_ps(4.f), five = _mm512_set1_ps(-5.f), two = _mm512_set1_ps(2.f);
    const __m512 s12 = _mm512_add_ps(d[1], d[2]), d12 = _mm512_sub_ps(d[1], d[2]);
    const __m512 d31 = _mm512_sub_ps(d[3], d[1]), d42 = _mm512_sub_ps(d[4], d[2]);
    r[0] = _mm512_fmadd_ps(four, d[0], _mm512_fmadd_ps(five, d[2], d[4]));
    r[1] = _mm512_fnmadd_ps(four, s12, _mm512_add_ps(d[3], d[4]));
    r[2] = _mm512_fmadd_ps(four, d12, _mm512_sub_ps(d[4], d[3]));
    r[3] = _mm512_fmadd_ps(two, d31, d42);
    r[4] = _mm512_fnmadd_ps(two, d31, d42);
    r[5] = _mm512_fmadd_ps(four, d[1], _mm512_fmadd_ps(five, d[3], d[5]));
}

/// The tile of the batch at `index`: its sample, tile row and column (4 × 4 outputs each).
typedef struct {
    long n, r, c;
} tile4;

static inline tile4 tile4_of(const dk_winograd_geometry *g, long index) {
    const long per_row = g->ow / 4, per_sample = g->oh / 4 * per_row, tile = index % per_sample;
    return (tile4){index / per_sample, tile / per_row, tile % per_row};
}

static inline void tile4_next(const dk_winograd_geometry *g, tile4 *p) {
    if (++p->c < g->ow / 4) return;
    p->c = 0;
    if (++p->r < g->oh / 4) return;
    p->r = 0;
    p->n++;
}

/// V[ξ][t][·] = Bᵀ d B of tiles [first, first + count) of the batch, `rows` rows per ξ (those
/// past `count` zero), 16 channels at a time: Bᵀ along each column of the 6 × 6 window, then
/// along each row.
DKW512 static void transform_input4(const dk_winograd_geometry *g, const float *xp, long first, long count, long rows,
                                    float *v) {
    const long cin = g->cin, line = g->wp * cin, xs = rows * cin;
    tile4 place = tile4_of(g, first);
    for (long t = 0; t < count; t++, tile4_next(g, &place)) {
        const float *const d = xp + place.n * g->sample_floats + 4 * place.r * line + 4 * place.c * cin;
        float *const out = v + t * cin;
        for (long c = 0; c < cin; c += 16) {
            __m512 columns[6][6];
            DK_UNROLL for (int j = 0; j < 6; j++) {
                __m512 x[6];
                DK_UNROLL for (int i = 0; i < 6; i++) x[i] = _mm512_loadu_ps(d + i * line + j * cin + c);
                input_line(x, columns[j]);
            }
            DK_UNROLL for (int i = 0; i < 6; i++) {
                __m512 x[6], r[6];
                DK_UNROLL for (int j = 0; j < 6; j++) x[j] = columns[j][i];
                input_line(x, r);
                DK_UNROLL for (int j = 0; j < 6; j++) _mm512_storeu_ps(out + (6 * i + j) * xs + c, r[j]);
            }
        }
    }
    for (long t = count; t < rows; t++)
        for (long xi = 0; xi < POINTS4; xi++) memset(v + xi * xs + t * cin, 0, sizeof(float) * (size_t)cin);
}

/// Aᵀ (m0 … m5): one column (or row) of the output transform.
DKW512 static inline __attribute__((always_inline)) void output_line(const __m512 m[6], __m512 o[4]) {
    const __m512 s12 = _mm512_add_ps(m[1], m[2]), d12 = _mm512_sub_ps(m[1], m[2]);
    const __m512 s34 = _mm512_add_ps(m[3], m[4]), d34 = _mm512_sub_ps(m[3], m[4]);
    o[0] = _mm512_add_ps(_mm512_add_ps(m[0], s12), s34);
    o[1] = _mm512_fmadd_ps(_mm512_set1_ps(2.f), d34, d12);
    o[2] = _mm512_fmadd_ps(_mm512_set1_ps(4.f), s34, s12);
    o[3] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8.f), d34, d12), m[5]);
}

/// y = Aᵀ m A of tiles [first, first + count) from m[ξ][cb][t][16] (`rows` rows per panel), plus
/// the bias, then the ReLU where g->relu (a max with 0, NaN kept), stored as STORE says; channels
/// past the first part of a two-part output go to the second.
DKW512BW static inline __attribute__((always_inline)) void output4(const dk_winograd_geometry *g, const float *m,
                                                                  long first, long count, long rows,
                                                                  const float *bias, void *y, const int STORE) {
    const long cout = g->cout, blocks = cout / 16, xs = blocks * rows * 16;
    const long part = g->cout_a ? g->cout_a : cout, line = g->ow * part;
    const __m512 floor = g->relu ? _mm512_setzero_ps() : _mm512_set1_ps(-__builtin_inff());
    for (long cb = 0; cb < blocks; cb++) {
        const long co = 16 * cb, base = co < part ? co : g->yb_offset + co - part;
        const __m512 b = bias ? _mm512_loadu_ps(bias + co) : _mm512_setzero_ps();
        tile4 place = tile4_of(g, first);
        for (long t = 0; t < count; t++, tile4_next(g, &place)) {
            const long at = base + place.n * g->output_sample_floats + 4 * place.r * line + 4 * place.c * part;
            const float *const mt = m + (cb * rows + t) * 16;
            __m512 columns[6][4];
            DK_UNROLL for (int j = 0; j < 6; j++) {
                __m512 x[6];
                DK_UNROLL for (int i = 0; i < 6; i++) x[i] = _mm512_load_ps(mt + (6 * i + j) * xs);
                output_line(x, columns[j]);
            }
            DK_UNROLL for (int i = 0; i < 4; i++) {
                __m512 x[6], o[4];
                DK_UNROLL for (int j = 0; j < 6; j++) x[j] = columns[j][i];
                output_line(x, o);
                DK_UNROLL for (int j = 0; j < 4; j++)
                    dk_winograd_store16(y, at + i * line + j * part, _mm512_max_ps(floor, _mm512_add_ps(o[j], b)),
                                        STORE);
            }
        }
    }
}

long dk_conv_winograd4_scratch_floats(const dk_winograd_geometry *g) {
    return POINTS4 * rows4(g->block) * (g->cin + g->cout) + 16;
}

DKW512BW void dk_conv_winograd4_forward_f32(const dk_winograd_geometry *g, const float *xp, long t0, long t1,
                                            const float *u, const float *bias, float *y, float *scratch) {
    dk_note_isa(DK_KERNEL_CONV, DK_ISA_AVX512);
    const long blocks = g->cout / 16, cin = g->cin;
    // The products m[ξ][cb][t][16], 64-byte aligned, after the transformed input v[ξ][t][cin].
    float *const v = scratch;
    float *const m = (float *)(((uintptr_t)(scratch + POINTS4 * rows4(g->block) * cin) + 63) & ~(uintptr_t)63);
    for (long first = t0; first < t1; first += g->block) {
        const long count = t1 - first < g->block ? t1 - first : g->block, rows = rows4(count);
        transform_input4(g, xp, first, count, rows, v);
        for (long xi = 0; xi < POINTS4; xi++)
            dk_winograd_multiply_avx512(v + xi * rows * cin, u, xi, cin, rows, blocks, m + xi * blocks * rows * 16);
        if (g->round_output == STORE_ROUNDED)
            output4(g, m, first, count, rows, bias, y, STORE_ROUNDED);
        else
            output4(g, m, first, count, rows, bias, y, STORE_FLOATS);
    }
}

int dk_conv_winograd4_enabled(void) { return dk_isa() == DK_ISA_AVX512; }

#else

// Never called: dk_conv_winograd4_enabled is 0 here.
void dk_conv_winograd4_transform_kernel_f32(const float *packed, long cin, long cout, float *u, long ci0, long ci1) {
    (void)packed, (void)cin, (void)cout, (void)u, (void)ci0, (void)ci1;
}
long dk_conv_winograd4_scratch_floats(const dk_winograd_geometry *g) {
    return 36 * (g->block + 6) * (g->cin + g->cout) + 16;
}
void dk_conv_winograd4_forward_f32(const dk_winograd_geometry *g, const float *xp, long t0, long t1, const float *u,
                                   const float *bias, float *y, float *scratch) {
    (void)g, (void)xp, (void)t0, (void)t1, (void)u, (void)bias, (void)y, (void)scratch;
}
int dk_conv_winograd4_enabled(void) { return 0; }

#endif
