// Winograd F(2×2, 3×3) and F(2×2×2, 3×3×3) at the AVX2 and AVX-512 levels (Float): the forward pass (a
// convolution's, and its input gradient's, the forward pass of the flipped kernel) and the weight
// gradient of a 3×3, stride-1 convolution of a zero-padded channels-last input, 2×2 outputs at a
// time with 16 multiplications per input and output channel pair where the direct kernels
// (conv_avx2.c) make 36.
//
// For a tile d of 4×4 padded positions (rows 2i … 2i + 3, columns 2j … 2j + 3) and one kernel g
// of 3×3 taps (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016):
//
//   V = Bᵀ d B,   U = G g Gᵀ,   y (2×2) = Aᵀ [ Σ over input channels of V ⊙ U ] A
//
//   Bᵀ = | 1  0 −1  0 |    G = | 1    0    0  |    Aᵀ = | 1  1  1  0 |
//        | 0  1  1  0 |        | ½    ½    ½  |         | 0  1 −1 −1 |
//        | 0 −1  1  0 |        | ½   −½    ½  |
//        | 0  1  0 −1 |        | 0    0    1  |
//
// so the sum over input channels is 16 matrix products, one per element ξ of the 4×4 transform:
// M[ξ] (tiles × cout) = V[ξ] (tiles × cin) · U[ξ] (cin × cout). A block of tiles is transformed
// into V (its size from L2 or L1d, by the caller: dk_winograd_geometry.block), the 16 products run on
// the 6 × 16 micro-kernel of the direct forward tile (12 accumulators), and each 16 output
// channels' M goes back through Aᵀ · A, with the bias and the evaluation-mode ReLU, to the output.
// The weight gradient runs the same map backwards (below, "Weight gradient"). At the AVX-512
// level the products run on 16-lane register tiles instead (conv_winograd_avx512.c, the same sums
// in the same order: the same bits), and the transforms on 16-lane vectors (the same operations).
//
// A 3×3×3 kernel over a 3-D input takes F(2×2×2, 3×3×3): the same matrices along the depth too
// (a tile of 4×4×4 padded positions, 2×2×2 outputs), so 64 products, 64 multiplications per
// channel pair where the direct kernels make 216. The transforms of the tiles (input, products,
// output gradient) apply the depth's combination of planes as they load their values, then the
// 2-D transform; the kernel's transform and the weight gradient's back-transform make each
// plane's 2-D one, then combine the planes.
//
// The passes take `volume` as a constant (0: 2-D, 1: 3-D) and are compiled once for each
// (dk_conv_winograd_forward_f32, dk_conv_winograd_weight_grad_f32): a 16-channel 2-D tile's
// transforms are a few dozen cycles, and code shared at run time with the 3-D paths cost the
// 2-D ones 10–15 % (registers spilled, three divisions per tile for two).
//
// Every forward output is a fixed sequence of operations on its own tile and the transformed
// kernel: its bits do not depend on the blocks, the tile ranges or the workers. They are not the
// direct kernels' bits (the sums are other sums); the transforms' ±1 and ½ coefficients keep the
// rounding error of the same order (Docs/Convolution.md, "Winograd F(2×2, 3×3)").

#include "dk_convolution.h"
#include "dk_dispatch.h"
#include "winograd_products.h"
#include "bf16_round.h"

// x86-64 code only: other CPUs take the lowered path instead (dk_conv_winograd_enabled).
#if defined(__x86_64__)

#include <immintrin.h>
#include <string.h>

#define DKW256 __attribute__((target("avx2,fma")))
#define DK_UNROLL _Pragma("clang loop unroll(full)")

/// Elements ξ of the transform: 16 (4 × 4) for a 2-D pass, 64 (4 × 4 × 4) for a 3-D one.
static inline long transform_points(const dk_winograd_geometry *g) { return g->od > 1 ? 64 : 16; }

/// Element (ξ, channel block cb, input channel ci, lane) of the transformed kernel.
static inline long u_index(long xi, long cb, long ci, long blocks, long cin) {
    return ((xi * blocks + cb) * cin + ci) * 16;
}

/// `tiles` rounded up to a multiple of WINO_ROWS: the rows a block of them takes in the scratch.
static inline long micro_rows(long tiles) { return (tiles + WINO_ROWS - 1) / WINO_ROWS * WINO_ROWS; }

/// G g Gᵀ of one plane of 3 × 3 taps (from tap `t0`, row by row), output channels [co, co + 8)
/// of input channel ci: out[4a + b].
DKW256 static inline void kernel_plane(const float *packed, long taps, long cin, long cout, long t0, long ci, long co,
                                       __m256 out[16]) {
    __m256 g[3][3];
    DK_UNROLL for (int i = 0; i < 3; i++) DK_UNROLL for (int j = 0; j < 3; j++)
        g[i][j] = _mm256_loadu_ps(dk_winograd_packed_weight(packed, taps, cin, cout, t0 + i * 3 + j, ci, co));
    // t = G g (4 × 3), then U = t Gᵀ (4 × 4): rows 1 and 2 of G are ½ (g0 ± g1 + g2).
    const __m256 half = _mm256_set1_ps(0.5f);
    __m256 t[4][3];
    DK_UNROLL for (int j = 0; j < 3; j++) {
        const __m256 outer = _mm256_add_ps(g[0][j], g[2][j]);
        t[0][j] = g[0][j];
        t[1][j] = _mm256_mul_ps(half, _mm256_add_ps(outer, g[1][j]));
        t[2][j] = _mm256_mul_ps(half, _mm256_sub_ps(outer, g[1][j]));
        t[3][j] = g[2][j];
    }
    DK_UNROLL for (int a = 0; a < 4; a++) {
        const __m256 outer = _mm256_add_ps(t[a][0], t[a][2]);
        out[4 * a] = t[a][0];
        out[4 * a + 1] = _mm256_mul_ps(half, _mm256_add_ps(outer, t[a][1]));
        out[4 * a + 2] = _mm256_mul_ps(half, _mm256_sub_ps(outer, t[a][1]));
        out[4 * a + 3] = t[a][2];
    }
}

DKW256 void dk_conv_winograd_transform_kernel_f32(const float *packed, int kd, long cin, long cout, float *u,
                                                  long ci0, long ci1) {
    const long blocks = cout / 16, taps = 9L * kd;
    const __m256 half = _mm256_set1_ps(0.5f);
    for (long ci = ci0; ci < ci1; ci++)
        for (long cb = 0; cb < blocks; cb++)
            for (int h = 0; h < 16; h += 8) {
                float *const out = u + u_index(0, cb, ci, blocks, cin) + h;
                const long stride = u_index(1, 0, 0, blocks, cin);
                if (kd == 1) {
                    __m256 p[16];
                    kernel_plane(packed, taps, cin, cout, 0, ci, cb * 16 + h, p);
                    DK_UNROLL for (int k = 0; k < 16; k++) _mm256_storeu_ps(out + k * stride, p[k]);
                    continue;
                }
                // Each depth slice's plane, then G along the depth: g0, ½ (g0 ± g1 + g2), g2.
                __m256 p[3][16];
                DK_UNROLL for (int z = 0; z < 3; z++)
                    kernel_plane(packed, taps, cin, cout, 9 * z, ci, cb * 16 + h, p[z]);
                DK_UNROLL for (int k = 0; k < 16; k++) {
                    const __m256 outer = _mm256_add_ps(p[0][k], p[2][k]);
                    _mm256_storeu_ps(out + k * stride, p[0][k]);
                    _mm256_storeu_ps(out + (16 + k) * stride, _mm256_mul_ps(half, _mm256_add_ps(outer, p[1][k])));
                    _mm256_storeu_ps(out + (32 + k) * stride, _mm256_mul_ps(half, _mm256_sub_ps(outer, p[1][k])));
                    _mm256_storeu_ps(out + (48 + k) * stride, p[2][k]);
                }
            }
}

/// The value at `at` of plane `p`, combined with plane `q` as `how` says (a constant after inlining).
DKW256 static inline __attribute__((always_inline)) __m256 load_combined(const float *p, const float *q, long at,
                                                                        const int how) {
    const __m256 x = _mm256_loadu_ps(p + at);
    return how == FROM_ONE          ? x
           : how == FROM_SUM        ? _mm256_add_ps(x, _mm256_loadu_ps(q + at))
           : how == FROM_DIFFERENCE ? _mm256_sub_ps(x, _mm256_loadu_ps(q + at))
                                    : _mm256_sub_ps(_mm256_setzero_ps(), x);
}

/// Bᵀ d B of the 4 × 4 window d at `p` (combined with `q` as `how` says; rows `line` floats
/// apart, positions `cin`), channels [c, c + 8), stored at out + (4i + j)·stride + c.
DKW256 static inline __attribute__((always_inline)) void
store_window_transform(const float *p, const float *q, const int how, long line, long cin, long c, float *out,
                       long stride) {
    // Bᵀ d over the 4 rows, column by column, then (Bᵀ d) B along each row.
    __m256 col[4][4];
    DK_UNROLL for (int j = 0; j < 4; j++) {
        const __m256 d0 = load_combined(p, q, j * cin + c, how), d1 = load_combined(p, q, line + j * cin + c, how),
                     d2 = load_combined(p, q, 2 * line + j * cin + c, how),
                     d3 = load_combined(p, q, 3 * line + j * cin + c, how);
        col[0][j] = _mm256_sub_ps(d0, d2);
        col[1][j] = _mm256_add_ps(d1, d2);
        col[2][j] = _mm256_sub_ps(d2, d1);
        col[3][j] = _mm256_sub_ps(d1, d3);
    }
    DK_UNROLL for (int i = 0; i < 4; i++) {
        float *row = out + (long)(4 * i) * stride + c;
        _mm256_storeu_ps(row, _mm256_sub_ps(col[i][0], col[i][2]));
        _mm256_storeu_ps(row + stride, _mm256_add_ps(col[i][1], col[i][2]));
        _mm256_storeu_ps(row + 2 * stride, _mm256_sub_ps(col[i][2], col[i][1]));
        _mm256_storeu_ps(row + 3 * stride, _mm256_sub_ps(col[i][1], col[i][3]));
    }
}

/// V[ξ][t][·] of tiles [first, first + count) of the batch (`tile_origin`); rows past `count` up
/// to `rows`, a multiple of WINO_ROWS, are zeroed.
DKW256 static inline __attribute__((always_inline)) void
transform_input(const dk_winograd_geometry *g, const float *xp, long first, long count, long rows, float *v,
                const int volume) {
    const long cin = g->cin, line = g->wp * cin, plane = (g->oh + 2) * line, stride = rows * cin;
    const long points = volume ? 64 : 16;
    for (long t = 0; t < rows; t++) {
        float *const out = v + t * cin;
        if (t >= count) {
            for (long xi = 0; xi < points; xi++) memset(out + xi * stride, 0, sizeof(float) * cin);
            continue;
        }
        const float *d = xp + tile_origin(g, first + t, g->sample_floats, plane, line, cin, volume);
        if (!volume) {
            for (long c = 0; c < cin; c += 8) store_window_transform(d, d, FROM_ONE, line, cin, c, out, stride);
            continue;
        }
        // Bᵀ along the depth on load (planes 0 − 2, 1 + 2, 2 − 1, 1 − 3), then each combination's window.
        const float *const d1 = d + plane, *const d2 = d + 2 * plane, *const d3 = d + 3 * plane;
        for (long c = 0; c < cin; c += 8) {
            store_window_transform(d, d2, FROM_DIFFERENCE, line, cin, c, out, stride);
            store_window_transform(d1, d2, FROM_SUM, line, cin, c, out + 16 * stride, stride);
            store_window_transform(d2, d1, FROM_DIFFERENCE, line, cin, c, out + 32 * stride, stride);
            store_window_transform(d1, d3, FROM_DIFFERENCE, line, cin, c, out + 48 * stride, stride);
        }
    }
}

/// transform_input compiled once for each kind of pass, apart from the passes (as the products
/// and the output transform are not: the three inlined together spill more registers).
DKW256 __attribute__((noinline)) static void transform_input_plane(const dk_winograd_geometry *g, const float *xp,
                                                                   long first, long count, long rows, float *v) {
    transform_input(g, xp, first, count, rows, v, 0);
}

DKW256 __attribute__((noinline)) static void transform_input_volume(const dk_winograd_geometry *g, const float *xp,
                                                                    long first, long count, long rows, float *v) {
    transform_input(g, xp, first, count, rows, v, 1);
}

/// m[t][16] = Σ over ci of v[t][ci] · u[ci][16], for `rows` tiles (a multiple of WINO_ROWS).
DKW256 static void multiply(const float *v, const float *u, long cin, long rows, float *m) {
    for (long t = 0; t < rows; t += WINO_ROWS) {
        __m256 acc[2 * WINO_ROWS];
        DK_UNROLL for (int i = 0; i < 2 * WINO_ROWS; i++) acc[i] = _mm256_setzero_ps();
        const float *a = v + t * cin;
        for (long k = 0; k < cin; k++) {
            const __m256 b0 = _mm256_load_ps(u + 16 * k), b1 = _mm256_load_ps(u + 16 * k + 8);
            DK_UNROLL for (int i = 0; i < WINO_ROWS; i++) {
                const __m256 x = _mm256_broadcast_ss(a + i * cin + k);
                acc[2 * i] = _mm256_fmadd_ps(x, b0, acc[2 * i]);
                acc[2 * i + 1] = _mm256_fmadd_ps(x, b1, acc[2 * i + 1]);
            }
        }
        DK_UNROLL for (int i = 0; i < 2 * WINO_ROWS; i++) _mm256_store_ps(m + 16 * t + 8 * i, acc[i]);
    }
}

/// The AVX2 products of one element ξ (dk_winograd_multiply): each panel (cin × 16) stays in L1
/// while the block's rows stream past it.
DKW256 static void multiply_avx2(float *v, const void *kernel, long xi, long cin, long rows, long blocks, float *m) {
    const float *const u = (const float *)kernel + u_index(xi, 0, 0, blocks, cin);
    for (long cb = 0; cb < blocks; cb++) multiply(v, u + cb * 16 * cin, cin, rows, m + cb * rows * 16);
}

/// Element ξ of the products at `m` (elements `xs` floats apart), read as `how` says.
DKW256 static inline __attribute__((always_inline)) __m256 product(const float *m, long xs, long xi, const int how) {
    if (how == PLANE) return _mm256_load_ps(m + xi * xs);
    const __m256 m1 = _mm256_load_ps(m + (16 + xi) * xs), m2 = _mm256_load_ps(m + (32 + xi) * xs);
    return how == ROW0 ? _mm256_add_ps(_mm256_add_ps(_mm256_load_ps(m + xi * xs), m1), m2)
                       : _mm256_sub_ps(_mm256_sub_ps(m1, m2), _mm256_load_ps(m + (48 + xi) * xs));
}

/// Stores 8 outputs at element `at` of `out` as `how` says (rounding as dk_bf16_bits: to nearest,
/// ties to even, a NaN kept quiet).
DKW256 static inline __attribute__((always_inline)) void store_values(void *out, long at, __m256 v, const int how) {
    if (how == STORE_FLOATS) {
        _mm256_storeu_ps((float *)out + at, v);
        return;
    }
    const __m256i bits = _mm256_srli_epi32(dk_bf16_round_bits8(_mm256_castps_si256(v)), 16);
    if (how == STORE_ROUNDED) {
        _mm256_storeu_si256((__m256i *)((float *)out + at), _mm256_slli_epi32(bits, 16));
        return;
    }
    // 8 lanes' low halves, in order: pack within each 128-bit half, then join the halves.
    const __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(bits), _mm256_extracti128_si256(bits, 1));
    _mm_storeu_si128((__m128i *)((uint16_t *)out + at), packed);
}

/// Aᵀ m A of one 4 × 4 plane of products (`product`), plus `b`, then the max with `floor`: the
/// 2 × 2 outputs at element `at` of `out` (rows `line` elements apart, positions `part`), stored
/// as STORE says.
DKW256 static inline __attribute__((always_inline)) void store_output_plane(const float *m, long xs, const int how,
                                                                           __m256 b, __m256 floor, void *out, long at,
                                                                           long line, long part, const int STORE) {
    __m256 s[2][4];
    DK_UNROLL for (int j = 0; j < 4; j++) {
        const __m256 m0 = product(m, xs, j, how), m1 = product(m, xs, 4 + j, how), m2 = product(m, xs, 8 + j, how),
                     m3 = product(m, xs, 12 + j, how);
        s[0][j] = _mm256_add_ps(_mm256_add_ps(m0, m1), m2);
        s[1][j] = _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3);
    }
    DK_UNROLL for (int i = 0; i < 2; i++) {
        const __m256 o0 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s[i][0], s[i][1]), s[i][2]), b);
        const __m256 o1 = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(s[i][1], s[i][2]), s[i][3]), b);
        store_values(out, at + i * line, _mm256_max_ps(floor, o0), STORE);
        store_values(out, at + i * line + part, _mm256_max_ps(floor, o1), STORE);
    }
}

/// Output channels [16·cb, 16·cb + 16) of tiles [first, first + count) from m[ξ][cb][t][16]:
/// Aᵀ m A, plus the bias, then the ReLU (a max with 0, NaN kept, as conv_avx2.c's stores); the
/// outputs stored as STORE (g->round_output) says.
DKW256 static inline __attribute__((always_inline)) void
transform_output(const dk_winograd_geometry *g, const float *m, long first, long count, long rows, long cb,
                 const float *bias, void *y, const int volume, const int STORE) {
    const long cout = g->cout, blocks = cout / 16, xs = blocks * rows * 16;
    const long part = g->cout_a ? g->cout_a : cout, co = 16 * cb;
    // Channels past the first part go to the second, yb_offset elements on.
    const long base = co < part ? co : g->yb_offset + co - part;
    const long line = g->ow * part, plane = g->oh * line;
    const __m256 floor = g->relu ? _mm256_setzero_ps() : _mm256_set1_ps(-__builtin_inff());
    for (long t = 0; t < count; t++) {
        const long at = base + tile_origin(g, first + t, g->output_sample_floats, plane, line, part, volume);
        const float *mt = m + (cb * rows + t) * 16;
        DK_UNROLL for (int h = 0; h < 16; h += 8) {
            const __m256 b = bias ? _mm256_loadu_ps(bias + co + h) : _mm256_setzero_ps();
            if (!volume) {
                store_output_plane(mt + h, xs, PLANE, b, floor, y, at + h, line, part, STORE);
            } else {
                // Aᵀ along the depth on load: the 2 output planes.
                store_output_plane(mt + h, xs, ROW0, b, floor, y, at + h, line, part, STORE);
                store_output_plane(mt + h, xs, ROW1, b, floor, y, at + plane + h, line, part, STORE);
            }
        }
    }
}

long dk_conv_winograd_scratch_floats(const dk_winograd_geometry *g) {
    return transform_points(g) * micro_rows(g->block) * (g->cin + g->cout) + 16;
}

/// The output transform of a block's products (tiles [first, first + count), `rows` rows per
/// panel): at the AVX-512 level `output`, 16 lanes (the same bits); else 8 lanes, panel by panel.
DKW256 static inline __attribute__((always_inline)) void output_block(const dk_winograd_geometry *g, const float *m,
                                                                     long first, long count, long rows,
                                                                     const float *bias, void *y,
                                                                     dk_winograd_output output, const int volume) {
    if (output) {
        output(g, m, first, count, rows, bias, y);
        return;
    }
    for (long cb = 0; cb < g->cout / 16; cb++) {
        if (g->round_output == STORE_BITS)
            transform_output(g, m, first, count, rows, cb, bias, y, volume, STORE_BITS);
        else if (g->round_output == STORE_ROUNDED)
            transform_output(g, m, first, count, rows, cb, bias, y, volume, STORE_ROUNDED);
        else
            transform_output(g, m, first, count, rows, cb, bias, y, volume, STORE_FLOATS);
    }
}

DKW256 static inline __attribute__((always_inline)) void
forward(const dk_winograd_geometry *g, const float *xp, long t0, long t1, const void *u, const float *bias,
        void *y, float *scratch, dk_winograd_transform transform, dk_winograd_multiply products,
        dk_winograd_output output, const int volume) {
    const long blocks = g->cout / 16, cin = g->cin, points = volume ? 64 : 16;
    // The products m[ξ][cb][t][16], 64-byte aligned, after the transformed input v[ξ][t][cin].
    float *const v = scratch;
    float *const m = (float *)(((uintptr_t)(scratch + points * micro_rows(g->block) * cin) + 63) & ~(uintptr_t)63);
    for (long first = t0; first < t1; first += g->block) {
        const long count = t1 - first < g->block ? t1 - first : g->block;
        const long rows = micro_rows(count);
        transform(g, xp, first, count, rows, v);
        // One ξ's kernel (cin × cout) at a time against every tile of the block.
        for (long xi = 0; xi < points; xi++)
            products(v + xi * rows * cin, u, xi, cin, rows, blocks, m + xi * blocks * rows * 16);
        output_block(g, m, first, count, rows, bias, y, output, volume);
    }
}

DKW256 __attribute__((noinline)) static void forward_plane(const dk_winograd_geometry *g, const float *xp, long t0,
                                                           long t1, const void *u, const float *bias, void *y,
                                                           float *scratch, dk_winograd_transform transform,
                                                           dk_winograd_multiply products,
                                                           dk_winograd_output output) {
    forward(g, xp, t0, t1, u, bias, y, scratch, transform, products, output, 0);
}

DKW256 __attribute__((noinline)) static void forward_volume(const dk_winograd_geometry *g, const float *xp, long t0,
                                                            long t1, const void *u, const float *bias, void *y,
                                                            float *scratch, dk_winograd_transform transform,
                                                            dk_winograd_multiply products,
                                                            dk_winograd_output output) {
    forward(g, xp, t0, t1, u, bias, y, scratch, transform, products, output, 1);
}

void dk_conv_winograd_forward_f32(const dk_winograd_geometry *g, const float *xp, long t0, long t1, const float *u,
                                  const float *bias, float *y, float *scratch) {
    const int wide = dk_isa() == DK_ISA_AVX512;
    dk_note_isa(DK_KERNEL_CONV, wide ? DK_ISA_AVX512 : DK_ISA_AVX2);
    if (g->od > 1)
        forward_volume(g, xp, t0, t1, u, bias, y, scratch,
                       wide ? dk_winograd_transform_input_avx512 : transform_input_volume,
                       wide ? dk_winograd_multiply_avx512 : multiply_avx2, wide ? dk_winograd_output_avx512 : NULL);
    else
        forward_plane(g, xp, t0, t1, u, bias, y, scratch,
                      wide ? dk_winograd_transform_input_avx512 : transform_input_plane,
                      wide ? dk_winograd_multiply_avx512 : multiply_avx2, wide ? dk_winograd_output_avx512 : NULL);
}

void dk_conv_winograd_forward_bf16(const dk_winograd_geometry *g, const float *xp, long t0, long t1, const uint16_t *u,
                                   const float *bias, void *y, float *scratch) {
    dk_note_isa(DK_KERNEL_CONV_BF16, DK_ISA_AVX512);
    // 2-D only (Winograd.qualifiesBFloat16): the input transform writes V as bfloat16 itself.
    forward_plane(g, xp, t0, t1, u, bias, y, scratch, dk_winograd_transform_input_bf16, dk_winograd_multiply_bf16,
                  dk_winograd_output_avx512);
}

// MARK: - A forward pass split by elements
//
// The same products as dk_conv_winograd_forward_f32, in three phases that the workers run one
// after another: each worker transforms its own chunk of the tiles (phase 1), then the workers
// divide the elements ξ between them, each multiplying its elements of every chunk by that
// element of the kernel (phase 2), then each worker transforms its chunk's products back (phase
// 3). The transformed kernel is then read once per pass, not once per block of tiles per worker.

long dk_conv_winograd_chunk_floats(const dk_winograd_geometry *g, long count) {
    return transform_points(g) * micro_rows(count) * (g->cin + g->cout) + 16;
}

/// The products of a chunk of `count` tiles: after its transformed input, 64-byte aligned.
static float *chunk_products(const dk_winograd_geometry *g, float *chunk, long count) {
    return (float *)(((uintptr_t)(chunk + transform_points(g) * micro_rows(count) * g->cin) + 63) & ~(uintptr_t)63);
}

void dk_conv_winograd_chunk_input_f32(const dk_winograd_geometry *g, const float *xp, long first, long count,
                                      float *chunk) {
    const int wide = dk_isa() == DK_ISA_AVX512;
    dk_note_isa(DK_KERNEL_CONV, wide ? DK_ISA_AVX512 : DK_ISA_AVX2);
    const dk_winograd_transform transform =
        wide ? dk_winograd_transform_input_avx512 : g->od > 1 ? transform_input_volume : transform_input_plane;
    transform(g, xp, first, count, micro_rows(count), chunk);
}

void dk_conv_winograd_chunk_products_f32(const dk_winograd_geometry *g, float *chunk, long count, const float *u,
                                         long x0, long x1) {
    const dk_winograd_multiply products = dk_isa() == DK_ISA_AVX512 ? dk_winograd_multiply_avx512 : multiply_avx2;
    const long rows = micro_rows(count), cin = g->cin, blocks = g->cout / 16;
    float *const m = chunk_products(g, chunk, count);
    for (long xi = x0; xi < x1; xi++)
        products(chunk + xi * rows * cin, u, xi, cin, rows, blocks, m + xi * blocks * rows * 16);
}

DKW256 void dk_conv_winograd_chunk_output_f32(const dk_winograd_geometry *g, float *chunk, long first, long count,
                                              const float *bias, float *y) {
    const dk_winograd_output output = dk_isa() == DK_ISA_AVX512 ? dk_winograd_output_avx512 : NULL;
    const float *const m = chunk_products(g, chunk, count);
    if (g->od > 1)
        output_block(g, m, first, count, micro_rows(count), bias, y, output, 1);
    else
        output_block(g, m, first, count, micro_rows(count), bias, y, output, 0);
}

// MARK: - Weight gradient
//
// With y = Aᵀ [U ⊙ V] A and U = G g Gᵀ, the gradient of a kernel is
//   dg = Gᵀ [ Σ over tiles of V ⊙ (A dy Aᵀ) ] G
// for each input and output channel pair (and along the depth too, for a 3-D pass): per ξ,
// dU[ξ] (cin × cout) = Σ over tiles of V[ξ][t]ᵀ · dM[ξ][t], a product whose inner dimension is
// the tiles, accumulated block by block.

/// load_combined of the output gradient: with ROUND each plane's 8 values rounded to bfloat16
/// first (to nearest, ties to even, a NaN kept quiet: dk_bf16_bits), as the rounded-operand
/// arithmetic's dy₁₆ (a constant after inlining).
DKW256 static inline __attribute__((always_inline)) __m256 load_gradient(const float *p, const float *q, long at,
                                                                        const int how, const int ROUND) {
    if (!ROUND) return load_combined(p, q, at, how);
    const __m256i high = _mm256_set1_epi32((int)0xFFFF0000u);
#define DK_ROUNDED8(v) _mm256_castsi256_ps(_mm256_and_si256(dk_bf16_round_bits8(_mm256_castps_si256(v)), high))
    const __m256 x = DK_ROUNDED8(_mm256_loadu_ps(p + at));
    if (how == FROM_ONE) return x;
    if (how == FROM_NEGATED) return _mm256_sub_ps(_mm256_setzero_ps(), x);
    const __m256 y = DK_ROUNDED8(_mm256_loadu_ps(q + at));
#undef DK_ROUNDED8
    return how == FROM_SUM ? _mm256_add_ps(x, y) : _mm256_sub_ps(x, y);
}

/// A dY Aᵀ of the 2 × 2 output gradients dY at `p` (combined with `q` as `how` says; rows
/// `line` floats apart, positions `cout`; rounded to bfloat16 first with ROUND), channels
/// [c, c + 8), stored at out + (4i + j)·stride + c.
DKW256 static inline __attribute__((always_inline)) void
store_gradient_transform(const float *p, const float *q, const int how, long line, long cout, long c, float *out,
                         long stride, const int ROUND) {
    // A = [1 0; 1 1; 1 −1; 0 −1]: rows of A dY, then (A dY) Aᵀ along each row.
    const __m256 y00 = load_gradient(p, q, c, how, ROUND), y01 = load_gradient(p, q, cout + c, how, ROUND),
                 y10 = load_gradient(p, q, line + c, how, ROUND),
                 y11 = load_gradient(p, q, line + cout + c, how, ROUND);
    const __m256 r[4][2] = {{y00, y01},
                            {_mm256_add_ps(y00, y10), _mm256_add_ps(y01, y11)},
                            {_mm256_sub_ps(y00, y10), _mm256_sub_ps(y01, y11)},
                            {_mm256_sub_ps(_mm256_setzero_ps(), y10), _mm256_sub_ps(_mm256_setzero_ps(), y11)}};
    DK_UNROLL for (int i = 0; i < 4; i++) {
        float *row = out + (long)(4 * i) * stride + c;
        _mm256_storeu_ps(row, r[i][0]);
        _mm256_storeu_ps(row + stride, _mm256_add_ps(r[i][0], r[i][1]));
        _mm256_storeu_ps(row + 2 * stride, _mm256_sub_ps(r[i][0], r[i][1]));
        _mm256_storeu_ps(row + 3 * stride, _mm256_sub_ps(_mm256_setzero_ps(), r[i][1]));
    }
}

/// dM[ξ][t][·] = (A dY Aᵀ)[ξ] of the output-gradient tiles [first, first + count) (2 × 2
/// positions each, or 2 × 2 × 2, at the places transform_output writes), `count` rows per ξ.
DKW256 static inline __attribute__((always_inline)) void
transform_gradient(const dk_winograd_geometry *g, const float *dy, long first, long count, float *dm,
                   const int volume, const int ROUND) {
    const long cout = g->cout, stride = count * cout, line = g->ow * cout, plane = g->oh * line;
    for (long t = 0; t < count; t++) {
        const float *d = dy + tile_origin(g, first + t, g->output_sample_floats, plane, line, cout, volume);
        float *const out = dm + t * cout;
        if (!volume) {
            for (long c = 0; c < cout; c += 8) store_gradient_transform(d, d, FROM_ONE, line, cout, c, out, stride, ROUND);
            continue;
        }
        // A along the depth on load (planes 0, 0 + 1, 0 − 1, −1), then each combination's.
        const float *const d1 = d + plane;
        for (long c = 0; c < cout; c += 8) {
            store_gradient_transform(d, d, FROM_ONE, line, cout, c, out, stride, ROUND);
            store_gradient_transform(d, d1, FROM_SUM, line, cout, c, out + 16 * stride, stride, ROUND);
            store_gradient_transform(d, d1, FROM_DIFFERENCE, line, cout, c, out + 32 * stride, stride, ROUND);
            store_gradient_transform(d1, d1, FROM_NEGATED, line, cout, c, out + 48 * stride, stride, ROUND);
        }
    }
}

/// du[ci0 + r][16] += Σ over `rows` tiles of v[t][ci0 + r] · dm[t][16], r < MR (2·MR accumulators;
/// with `fresh`, = that sum).
DKW256 static inline __attribute__((always_inline)) void
accumulate(const float *v, const float *dm, long cin, long cout, long rows, float *du, const int MR, int fresh) {
    __m256 acc[12];
    DK_UNROLL for (int r = 0; r < MR; r++) {
        acc[2 * r] = fresh ? _mm256_setzero_ps() : _mm256_loadu_ps(du + r * cout);
        acc[2 * r + 1] = fresh ? _mm256_setzero_ps() : _mm256_loadu_ps(du + r * cout + 8);
    }
    for (long t = 0; t < rows; t++) {
        const __m256 b0 = _mm256_loadu_ps(dm + t * cout), b1 = _mm256_loadu_ps(dm + t * cout + 8);
        DK_UNROLL for (int r = 0; r < MR; r++) {
            const __m256 x = _mm256_broadcast_ss(v + t * cin + r);
            acc[2 * r] = _mm256_fmadd_ps(x, b0, acc[2 * r]);
            acc[2 * r + 1] = _mm256_fmadd_ps(x, b1, acc[2 * r + 1]);
        }
    }
    DK_UNROLL for (int r = 0; r < MR; r++) {
        _mm256_storeu_ps(du + r * cout, acc[2 * r]);
        _mm256_storeu_ps(du + r * cout + 8, acc[2 * r + 1]);
    }
}

/// The AVX2 sums of one element ξ (dk_winograd_accumulate): 6 input channels × 16 output
/// channels at a time (cin a multiple of 16: then 4 or 2 left).
DKW256 static void accumulate_avx2(const float *v, const float *dm, long cin, long cout, long count, float *du,
                                   int fresh) {
    for (long ci = 0; ci < cin; ci += 6) {
        const long left = cin - ci;
        for (long co = 0; co < cout; co += 16) {
            if (left >= 6)
                accumulate(v + ci, dm + co, cin, cout, count, du + ci * cout + co, 6, fresh);
            else if (left == 4)
                accumulate(v + ci, dm + co, cin, cout, count, du + ci * cout + co, 4, fresh);
            else
                accumulate(v + ci, dm + co, cin, cout, count, du + ci * cout + co, 2, fresh);
        }
    }
}

long dk_conv_winograd_weight_grad_scratch_floats(const dk_winograd_geometry *g) {
    return transform_points(g) * g->block * (g->cin + g->cout);
}

/// V (`v`) and dM (`dm`) of tiles [first, first + count), `count` rows per ξ, not rounded up:
/// here the tiles are the products' inner dimension. dy as it is, or (the rounded-operand
/// arithmetic, g->round_gradient) rounded to bfloat16 as it is read. With `wide16` (the AVX-512
/// level) the transforms take 16 lanes (the same bits).
DKW256 static inline __attribute__((always_inline)) void weight_transforms(const dk_winograd_geometry *g,
                                                                          const float *xp, const float *dy,
                                                                          long first, long count, float *v, float *dm,
                                                                          int wide16, const int volume) {
    if (wide16) {
        dk_winograd_transform_input_avx512(g, xp, first, count, count, v);
        dk_winograd_transform_gradient_avx512(g, dy, first, count, dm);
        return;
    }
    (volume ? transform_input_volume : transform_input_plane)(g, xp, first, count, count, v);
    if (g->round_gradient)
        transform_gradient(g, dy, first, count, dm, volume, 1);
    else
        transform_gradient(g, dy, first, count, dm, volume, 0);
}

DKW256 static inline __attribute__((always_inline)) void
weight_grad(const dk_winograd_geometry *g, const float *xp, const float *dy, long t0, long t1, float *du,
            float *scratch, dk_winograd_accumulate sums, int fresh, int wide16, const int volume) {
    const long cin = g->cin, cout = g->cout, points = volume ? 64 : 16;
    float *const v = scratch, *const dm = scratch + points * g->block * cin;
    for (long first = t0; first < t1; first += g->block) {
        const long count = t1 - first < g->block ? t1 - first : g->block;
        weight_transforms(g, xp, dy, first, count, v, dm, wide16, volume);
        for (long xi = 0; xi < points; xi++)
            sums(v + xi * count * cin, dm + xi * count * cout, cin, cout, count, du + xi * cin * cout,
                 fresh && first == t0);
    }
}

DKW256 __attribute__((noinline)) static void weight_grad_plane(const dk_winograd_geometry *g, const float *xp,
                                                               const float *dy, long t0, long t1, float *du,
                                                               float *scratch, dk_winograd_accumulate sums,
                                                               int fresh, int wide16) {
    weight_grad(g, xp, dy, t0, t1, du, scratch, sums, fresh, wide16, 0);
}

DKW256 __attribute__((noinline)) static void weight_grad_volume(const dk_winograd_geometry *g, const float *xp,
                                                                const float *dy, long t0, long t1, float *du,
                                                                float *scratch, dk_winograd_accumulate sums,
                                                                int fresh, int wide16) {
    weight_grad(g, xp, dy, t0, t1, du, scratch, sums, fresh, wide16, 1);
}

void dk_conv_winograd_weight_grad_f32(const dk_winograd_geometry *g, const float *xp, const float *dy, long t0, long t1,
                                      float *du, float *scratch, int fresh) {
    const int wide = dk_isa() == DK_ISA_AVX512;
    dk_note_isa(DK_KERNEL_CONV, wide ? DK_ISA_AVX512 : DK_ISA_AVX2);
    (g->od > 1 ? weight_grad_volume : weight_grad_plane)(
        g, xp, dy, t0, t1, du, scratch, wide ? dk_winograd_accumulate_avx512 : accumulate_avx2, fresh, wide);
}

// MARK: - A weight gradient split by elements
//
// The sums of dk_conv_winograd_weight_grad_f32 in two phases: each worker transforms its own
// chunk of the tiles, x and dy (phase 1), then the workers divide the elements ξ between them,
// each summing its elements over every chunk in order into the one du (phase 2). Each sum then
// runs over the batch's tiles in order, whatever the workers.

long dk_conv_winograd_weight_chunk_floats(const dk_winograd_geometry *g, long count) {
    return transform_points(g) * count * (g->cin + g->cout);
}

DKW256 void dk_conv_winograd_weight_chunk_f32(const dk_winograd_geometry *g, const float *xp, const float *dy,
                                              long first, long count, float *chunk) {
    const int wide = dk_isa() == DK_ISA_AVX512;
    dk_note_isa(DK_KERNEL_CONV, wide ? DK_ISA_AVX512 : DK_ISA_AVX2);
    float *const dm = chunk + transform_points(g) * count * g->cin;
    if (g->od > 1)
        weight_transforms(g, xp, dy, first, count, chunk, dm, wide, 1);
    else
        weight_transforms(g, xp, dy, first, count, chunk, dm, wide, 0);
}

void dk_conv_winograd_weight_chunk_sums_f32(const dk_winograd_geometry *g, const float *chunk, long count, long x0,
                                            long x1, float *du, int fresh) {
    const dk_winograd_accumulate sums = dk_isa() == DK_ISA_AVX512 ? dk_winograd_accumulate_avx512 : accumulate_avx2;
    const long cin = g->cin, cout = g->cout;
    const float *const dm = chunk + transform_points(g) * count * cin;
    for (long xi = x0; xi < x1; xi++)
        sums(chunk + xi * count * cin, dm + xi * count * cout, cin, cout, count, du + xi * cin * cout, fresh);
}

/// Gᵀ u G of one 4 × 4 plane (u[4a + b]) into 3 × 3 taps (w[3i + j]).
DKW256 static inline void weight_plane(const __m256 u[16], __m256 w[9]) {
    // Gᵀ = [1 ½ ½ 0; 0 ½ −½ 0; 0 ½ ½ 1]: rows of Gᵀ u, then along each row.
    const __m256 half = _mm256_set1_ps(0.5f);
    __m256 r[3][4];
    DK_UNROLL for (int b = 0; b < 4; b++) {
        r[0][b] = _mm256_add_ps(u[b], _mm256_mul_ps(half, _mm256_add_ps(u[4 + b], u[8 + b])));
        r[1][b] = _mm256_mul_ps(half, _mm256_sub_ps(u[4 + b], u[8 + b]));
        r[2][b] = _mm256_add_ps(_mm256_mul_ps(half, _mm256_add_ps(u[4 + b], u[8 + b])), u[12 + b]);
    }
    DK_UNROLL for (int i = 0; i < 3; i++) {
        w[3 * i] = _mm256_add_ps(r[i][0], _mm256_mul_ps(half, _mm256_add_ps(r[i][1], r[i][2])));
        w[3 * i + 1] = _mm256_mul_ps(half, _mm256_sub_ps(r[i][1], r[i][2]));
        w[3 * i + 2] = _mm256_add_ps(_mm256_mul_ps(half, _mm256_add_ps(r[i][1], r[i][2])), r[i][3]);
    }
}

DKW256 void dk_conv_winograd_weight_from_transform_f32(const float *du, int kd, long cin, long cout, float *dw,
                                                       long ci0, long ci1) {
    const __m256 half = _mm256_set1_ps(0.5f);
    for (long ci = ci0; ci < ci1; ci++)
        for (long co = 0; co < cout; co += 8) {
            const float *const in = du + ci * cout + co;
            float *const out = dw + ci * cout + co;
            const long stride = cin * cout;
            if (kd == 1) {
                __m256 u[16], w[9];
                DK_UNROLL for (int k = 0; k < 16; k++) u[k] = _mm256_loadu_ps(in + k * stride);
                weight_plane(u, w);
                DK_UNROLL for (int k = 0; k < 9; k++) _mm256_storeu_ps(out + k * stride, w[k]);
                continue;
            }
            // Each depth element's plane, then Gᵀ along the depth.
            __m256 w[4][9];
            DK_UNROLL for (int a = 0; a < 4; a++) {
                __m256 u[16];
                DK_UNROLL for (int k = 0; k < 16; k++) u[k] = _mm256_loadu_ps(in + (16 * a + k) * stride);
                weight_plane(u, w[a]);
            }
            DK_UNROLL for (int k = 0; k < 9; k++) {
                const __m256 inner = _mm256_add_ps(w[1][k], w[2][k]);
                _mm256_storeu_ps(out + k * stride, _mm256_add_ps(w[0][k], _mm256_mul_ps(half, inner)));
                _mm256_storeu_ps(out + (9 + k) * stride, _mm256_mul_ps(half, _mm256_sub_ps(w[1][k], w[2][k])));
                _mm256_storeu_ps(out + (18 + k) * stride, _mm256_add_ps(_mm256_mul_ps(half, inner), w[3][k]));
            }
        }
}

int dk_conv_winograd_enabled(void) { return dk_isa() == DK_ISA_AVX2 || dk_isa() == DK_ISA_AVX512; }

#else

// Never called: dk_conv_winograd_enabled is 0 here.
void dk_conv_winograd_transform_kernel_f32(const float *packed, int kd, long cin, long cout, float *u, long ci0,
                                           long ci1) {
    (void)packed, (void)kd, (void)cin, (void)cout, (void)u, (void)ci0, (void)ci1;
}
long dk_conv_winograd_scratch_floats(const dk_winograd_geometry *g) { return 64 * g->block * (g->cin + g->cout) + 16; }
void dk_conv_winograd_forward_f32(const dk_winograd_geometry *g, const float *xp, long t0, long t1, const float *u,
                                  const float *bias, float *y, float *scratch) {
    (void)g, (void)xp, (void)t0, (void)t1, (void)u, (void)bias, (void)y, (void)scratch;
}
long dk_conv_winograd_weight_grad_scratch_floats(const dk_winograd_geometry *g) {
    return 64 * g->block * (g->cin + g->cout);
}
void dk_conv_winograd_forward_bf16(const dk_winograd_geometry *g, const float *xp, long t0, long t1, const uint16_t *u,
                                   const float *bias, void *y, float *scratch) {
    (void)g, (void)xp, (void)t0, (void)t1, (void)u, (void)bias, (void)y, (void)scratch;
}
void dk_conv_winograd_weight_grad_f32(const dk_winograd_geometry *g, const float *xp, const float *dy, long t0,
                                      long t1, float *du, float *scratch, int fresh) {
    (void)g, (void)xp, (void)dy, (void)t0, (void)t1, (void)du, (void)scratch, (void)fresh;
}
void dk_conv_winograd_weight_from_transform_f32(const float *du, int kd, long cin, long cout, float *dw, long ci0,
                                                long ci1) {
    (void)du, (void)kd, (void)cin, (void)cout, (void)dw, (void)ci0, (void)ci1;
}
long dk_conv_winograd_chunk_floats(const dk_winograd_geometry *g, long count) {
    return 64 * (count + 6) * (g->cin + g->cout) + 16;
}
void dk_conv_winograd_chunk_input_f32(const dk_winograd_geometry *g, const float *xp, long first, long count,
                                      float *chunk) {
    (void)g, (void)xp, (void)first, (void)count, (void)chunk;
}
void dk_conv_winograd_chunk_products_f32(const dk_winograd_geometry *g, float *chunk, long count, const float *u,
                                         long x0, long x1) {
    (void)g, (void)chunk, (void)count, (void)u, (void)x0, (void)x1;
}
void dk_conv_winograd_chunk_output_f32(const dk_winograd_geometry *g, float *chunk, long first, long count,
                                       const float *bias, float *y) {
    (void)g, (void)chunk, (void)first, (void)count, (void)bias, (void)y;
}
long dk_conv_winograd_weight_chunk_floats(const dk_winograd_geometry *g, long count) {
    return 64 * count * (g->cin + g->cout);
}
void dk_conv_winograd_weight_chunk_f32(const dk_winograd_geometry *g, const float *xp, const float *dy, long first,
                                       long count, float *chunk) {
    (void)g, (void)xp, (void)dy, (void)first, (void)count, (void)chunk;
}
void dk_conv_winograd_weight_chunk_sums_f32(const dk_winograd_geometry *g, const float *chunk, long count, long x0,
                                            long x1, float *du, int fresh) {
    (void)g, (void)chunk, (void)count, (void)x0, (void)x1, (void)du, (void)fresh;
}
int dk_conv_winograd_enabled(void) { return 0; }

#endif
