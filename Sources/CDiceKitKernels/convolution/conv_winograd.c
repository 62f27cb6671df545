// Winograd F(2×2, 3×3) for AVX2 + FMA (Float): the forward pass (a convolution's, and its input
// gradient's, the forward pass of the flipped kernel) and the weight gradient of a 3×3, stride-1
// convolution of a zero-padded channels-last input, 2×2 outputs at a time with 16
// multiplications per input and output channel pair where the direct kernels (conv_avx2.c) make 36.
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
// into V (its size from L2, by the caller: dk_winograd_geometry.block), the 16 products run on
// the 6 × 16 micro-kernel of the direct forward tile (12 accumulators), and each 16 output
// channels' M goes back through Aᵀ · A, with the bias and the evaluation-mode ReLU, to the output.
// The weight gradient runs the same map backwards (below, "Weight gradient").
//
// Every forward output is a fixed sequence of operations on its own tile and the transformed
// kernel: its bits do not depend on the blocks, the tile ranges or the workers. They are not the
// direct kernels' bits (the sums are other sums); the transforms' ±1 and ½ coefficients keep the
// rounding error of the same order (Docs/Convolution.md, "Winograd F(2×2, 3×3) at the AVX2 level").

#include "dk_convolution.h"
#include "dk_dispatch.h"

// x86-64 code only: other CPUs take the lowered path instead (dk_conv_winograd_enabled).
#if defined(__x86_64__)

#include <immintrin.h>
#include <string.h>

#define DKW256 __attribute__((target("avx2,fma")))
#define DK_UNROLL _Pragma("clang loop unroll(full)")

/// Rows of the micro-kernel (tiles per product step); the block of tiles is a multiple of it.
enum { WINO_ROWS = 6 };

/// Element (ξ = 4a + b, channel block cb, input channel ci, lane) of the transformed kernel.
static inline long u_index(long xi, long cb, long ci, long blocks, long cin) {
    return ((xi * blocks + cb) * cin + ci) * 16;
}

/// `tiles` rounded up to a multiple of WINO_ROWS: the rows a block of them takes in the scratch.
static inline long micro_rows(long tiles) { return (tiles + WINO_ROWS - 1) / WINO_ROWS * WINO_ROWS; }

/// The offset of tile `index` of the batch (numbered sample by sample, row by row) in a tensor of
/// `sample` floats per sample, `line` per row and `position` per position: its first position.
static inline long tile_origin(const dk_winograd_geometry *g, long index, long sample, long line, long position) {
    const long tiles_per_row = g->ow / 2, per_sample = g->oh / 2 * tiles_per_row;
    const long n = index / per_sample, tile = index % per_sample;
    return n * sample + 2 * (tile / tiles_per_row) * line + 2 * (tile % tiles_per_row) * position;
}

/// The address of weight (tap t, input channel ci, output channel co) in the packed kernel
/// (dk_conv_pack_weights: 64-channel blocks, each 9·cin rows of min(64, cout − 64·b) floats); the
/// 16 channels from a multiple of 16 are contiguous there.
static inline const float *packed_weight(const float *packed, long cin, long cout, long t, long ci, long co) {
    const long block = co / 64, width = cout - 64 * block < 64 ? cout - 64 * block : 64;
    return packed + 64 * block * 9 * cin + (t * cin + ci) * width + co % 64;
}

DKW256 void dk_conv_winograd_transform_kernel_f32(const float *packed, long cin, long cout, float *u, long ci0,
                                                  long ci1) {
    const long blocks = cout / 16;
    for (long ci = ci0; ci < ci1; ci++)
        for (long cb = 0; cb < blocks; cb++)
            for (int h = 0; h < 16; h += 8) {
                __m256 g[3][3];
                DK_UNROLL for (int i = 0; i < 3; i++) DK_UNROLL for (int j = 0; j < 3; j++)
                    g[i][j] = _mm256_loadu_ps(packed_weight(packed, cin, cout, i * 3 + j, ci, cb * 16 + h));
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
                    const __m256 row[4] = {t[a][0], _mm256_mul_ps(half, _mm256_add_ps(outer, t[a][1])),
                                           _mm256_mul_ps(half, _mm256_sub_ps(outer, t[a][1])), t[a][2]};
                    DK_UNROLL for (int b = 0; b < 4; b++)
                        _mm256_storeu_ps(u + u_index(a * 4 + b, cb, ci, blocks, cin) + h, row[b]);
                }
            }
}

/// V[ξ][t][·] of tiles [first, first + count) of the batch (`tile_origin`); rows past `count` up
/// to `rows`, a multiple of WINO_ROWS, are zeroed.
DKW256 static void transform_input(const dk_winograd_geometry *g, const float *xp, long first, long count,
                                   long rows, float *v) {
    const long cin = g->cin, row_floats = g->wp * cin;
    for (long t = 0; t < rows; t++) {
        if (t >= count) {
            DK_UNROLL for (int xi = 0; xi < 16; xi++) memset(v + (xi * rows + t) * cin, 0, sizeof(float) * cin);
            continue;
        }
        const float *d = xp + tile_origin(g, first + t, g->sample_floats, row_floats, cin);
        for (long c = 0; c < cin; c += 8) {
            // Bᵀ d over the 4 rows, column by column, then (Bᵀ d) B along each row.
            __m256 col[4][4];
            DK_UNROLL for (int j = 0; j < 4; j++) {
                const __m256 d0 = _mm256_loadu_ps(d + j * cin + c), d1 = _mm256_loadu_ps(d + row_floats + j * cin + c),
                             d2 = _mm256_loadu_ps(d + 2 * row_floats + j * cin + c),
                             d3 = _mm256_loadu_ps(d + 3 * row_floats + j * cin + c);
                col[0][j] = _mm256_sub_ps(d0, d2);
                col[1][j] = _mm256_add_ps(d1, d2);
                col[2][j] = _mm256_sub_ps(d2, d1);
                col[3][j] = _mm256_sub_ps(d1, d3);
            }
            DK_UNROLL for (int i = 0; i < 4; i++) {
                float *out = v + ((long)(4 * i) * rows + t) * cin + c;
                _mm256_storeu_ps(out, _mm256_sub_ps(col[i][0], col[i][2]));
                _mm256_storeu_ps(out + rows * cin, _mm256_add_ps(col[i][1], col[i][2]));
                _mm256_storeu_ps(out + 2 * rows * cin, _mm256_sub_ps(col[i][2], col[i][1]));
                _mm256_storeu_ps(out + 3 * rows * cin, _mm256_sub_ps(col[i][1], col[i][3]));
            }
        }
    }
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

/// Output channels [16·cb, 16·cb + 16) of tiles [first, first + count) from m[ξ][cb][t][16]:
/// Aᵀ m A, plus the bias, then the ReLU (a max with 0, NaN kept, as conv_avx2.c's stores).
DKW256 static void transform_output(const dk_winograd_geometry *g, const float *m, long first, long count, long rows,
                                    long cb, const float *bias, float *y) {
    const long cout = g->cout, blocks = cout / 16;
    const long part = g->cout_a ? g->cout_a : cout, co = 16 * cb;
    // Channels past the first part go to the second, yb_offset floats on.
    float *const base = y + (co < part ? co : g->yb_offset + co - part);
    const long row_floats = g->ow * part;
    const __m256 floor = g->relu ? _mm256_setzero_ps() : _mm256_set1_ps(-__builtin_inff());
    for (long t = 0; t < count; t++) {
        float *out = base + tile_origin(g, first + t, g->output_sample_floats, row_floats, part);
        DK_UNROLL for (int h = 0; h < 16; h += 8) {
            const __m256 b = bias ? _mm256_loadu_ps(bias + co + h) : _mm256_setzero_ps();
            __m256 s[2][4];
            DK_UNROLL for (int j = 0; j < 4; j++) {
                const __m256 m0 = _mm256_load_ps(m + (((long)j * blocks + cb) * rows + t) * 16 + h),
                             m1 = _mm256_load_ps(m + (((long)(4 + j) * blocks + cb) * rows + t) * 16 + h),
                             m2 = _mm256_load_ps(m + (((long)(8 + j) * blocks + cb) * rows + t) * 16 + h),
                             m3 = _mm256_load_ps(m + (((long)(12 + j) * blocks + cb) * rows + t) * 16 + h);
                s[0][j] = _mm256_add_ps(_mm256_add_ps(m0, m1), m2);
                s[1][j] = _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3);
            }
            DK_UNROLL for (int i = 0; i < 2; i++) {
                const __m256 o0 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s[i][0], s[i][1]), s[i][2]), b);
                const __m256 o1 = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(s[i][1], s[i][2]), s[i][3]), b);
                _mm256_storeu_ps(out + i * row_floats + h, _mm256_max_ps(floor, o0));
                _mm256_storeu_ps(out + i * row_floats + part + h, _mm256_max_ps(floor, o1));
            }
        }
    }
}

long dk_conv_winograd_scratch_floats(const dk_winograd_geometry *g) {
    return 16 * micro_rows(g->block) * (g->cin + g->cout) + 16;
}

DKW256 void dk_conv_winograd_forward_f32(const dk_winograd_geometry *g, const float *xp, long t0, long t1,
                                         const float *u, const float *bias, float *y, float *scratch) {
    const long blocks = g->cout / 16, cin = g->cin;
    dk_note_isa(DK_KERNEL_CONV, DK_ISA_AVX2);
    // The products m[ξ][cb][t][16], 64-byte aligned, after the transformed input v[ξ][t][cin].
    float *const v = scratch;
    float *const m = (float *)(((uintptr_t)(scratch + 16 * micro_rows(g->block) * cin) + 63) & ~(uintptr_t)63);
    for (long first = t0; first < t1; first += g->block) {
        const long count = t1 - first < g->block ? t1 - first : g->block;
        const long rows = micro_rows(count);
        transform_input(g, xp, first, count, rows, v);
        // One ξ's kernel (cin × cout) at a time against every tile of the block; each 16 channels'
        // panel (cin × 16) stays in L1 while the block's rows stream past it.
        for (long xi = 0; xi < 16; xi++)
            for (long cb = 0; cb < blocks; cb++)
                multiply(v + xi * rows * cin, u + u_index(xi, cb, 0, blocks, cin), cin, rows,
                         m + (xi * blocks + cb) * rows * 16);
        for (long cb = 0; cb < blocks; cb++) transform_output(g, m, first, count, rows, cb, bias, y);
    }
}

// MARK: - Weight gradient
//
// With y = Aᵀ [U ⊙ V] A and U = G g Gᵀ, the gradient of a kernel is
//   dg = Gᵀ [ Σ over tiles of V ⊙ (A dy Aᵀ) ] G
// for each input and output channel pair: per ξ, dU[ξ] (cin × cout) = Σ over tiles of
// V[ξ][t]ᵀ · dM[ξ][t], a product whose inner dimension is the tiles, accumulated block by block.

/// dM[ξ][t][·] = (A dY Aᵀ)[ξ] of the output-gradient tiles [first, first + count) (2 × 2
/// positions each, at the places transform_output writes), `count` rows per ξ.
DKW256 static void transform_gradient(const dk_winograd_geometry *g, const float *dy, long first, long count,
                                      float *dm) {
    const long cout = g->cout, rows = count, row_floats = g->ow * cout;
    for (long t = 0; t < count; t++) {
        const float *d = dy + tile_origin(g, first + t, g->output_sample_floats, row_floats, cout);
        for (long c = 0; c < cout; c += 8) {
            // A = [1 0; 1 1; 1 −1; 0 −1]: rows of A dY, then (A dY) Aᵀ along each row.
            const __m256 y00 = _mm256_loadu_ps(d + c), y01 = _mm256_loadu_ps(d + cout + c),
                         y10 = _mm256_loadu_ps(d + row_floats + c), y11 = _mm256_loadu_ps(d + row_floats + cout + c);
            const __m256 r[4][2] = {{y00, y01},
                                    {_mm256_add_ps(y00, y10), _mm256_add_ps(y01, y11)},
                                    {_mm256_sub_ps(y00, y10), _mm256_sub_ps(y01, y11)},
                                    {_mm256_sub_ps(_mm256_setzero_ps(), y10), _mm256_sub_ps(_mm256_setzero_ps(), y11)}};
            DK_UNROLL for (int i = 0; i < 4; i++) {
                float *out = dm + ((long)(4 * i) * rows + t) * cout + c;
                _mm256_storeu_ps(out, r[i][0]);
                _mm256_storeu_ps(out + rows * cout, _mm256_add_ps(r[i][0], r[i][1]));
                _mm256_storeu_ps(out + 2 * rows * cout, _mm256_sub_ps(r[i][0], r[i][1]));
                _mm256_storeu_ps(out + 3 * rows * cout, _mm256_sub_ps(_mm256_setzero_ps(), r[i][1]));
            }
        }
    }
}

/// du[ci0 + r][16] += Σ over `rows` tiles of v[t][ci0 + r] · dm[t][16], r < MR (2·MR accumulators).
DKW256 static inline __attribute__((always_inline)) void
accumulate(const float *v, const float *dm, long cin, long cout, long rows, float *du, const int MR) {
    __m256 acc[12];
    DK_UNROLL for (int r = 0; r < MR; r++) {
        acc[2 * r] = _mm256_loadu_ps(du + r * cout);
        acc[2 * r + 1] = _mm256_loadu_ps(du + r * cout + 8);
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

long dk_conv_winograd_weight_grad_scratch_floats(const dk_winograd_geometry *g) {
    return 16 * g->block * (g->cin + g->cout);
}

DKW256 void dk_conv_winograd_weight_grad_f32(const dk_winograd_geometry *g, const float *xp, const float *dy,
                                             long t0, long t1, float *du, float *scratch) {
    const long cin = g->cin, cout = g->cout;
    float *const v = scratch, *const dm = scratch + 16 * g->block * cin;
    dk_note_isa(DK_KERNEL_CONV, DK_ISA_AVX2);
    for (long first = t0; first < t1; first += g->block) {
        const long count = t1 - first < g->block ? t1 - first : g->block;
        // `count` rows per ξ, not rounded up: here the tiles are the products' inner dimension.
        transform_input(g, xp, first, count, count, v);
        transform_gradient(g, dy, first, count, dm);
        for (long xi = 0; xi < 16; xi++) {
            const float *vx = v + xi * count * cin, *dmx = dm + xi * count * cout;
            float *dux = du + xi * cin * cout;
            for (long ci = 0; ci < cin; ci += 6) {
                const long left = cin - ci;
                for (long co = 0; co < cout; co += 16) {
                    if (left >= 6)
                        accumulate(vx + ci, dmx + co, cin, cout, count, dux + ci * cout + co, 6);
                    else if (left == 4)
                        accumulate(vx + ci, dmx + co, cin, cout, count, dux + ci * cout + co, 4);
                    else
                        accumulate(vx + ci, dmx + co, cin, cout, count, dux + ci * cout + co, 2);
                }
            }
        }
    }
}

DKW256 void dk_conv_winograd_weight_from_transform_f32(const float *du, long cin, long cout, float *dw, long ci0,
                                                       long ci1) {
    // dW = Gᵀ dU G, Gᵀ = [1 ½ ½ 0; 0 ½ −½ 0; 0 ½ ½ 1]: rows of Gᵀ dU, then along each row.
    const __m256 half = _mm256_set1_ps(0.5f);
    for (long ci = ci0; ci < ci1; ci++)
        for (long co = 0; co < cout; co += 8) {
            __m256 u[4][4];
            DK_UNROLL for (int a = 0; a < 4; a++) DK_UNROLL for (int b = 0; b < 4; b++)
                u[a][b] = _mm256_loadu_ps(du + ((long)(a * 4 + b) * cin + ci) * cout + co);
            __m256 r[3][4];
            DK_UNROLL for (int b = 0; b < 4; b++) {
                r[0][b] = _mm256_add_ps(u[0][b], _mm256_mul_ps(half, _mm256_add_ps(u[1][b], u[2][b])));
                r[1][b] = _mm256_mul_ps(half, _mm256_sub_ps(u[1][b], u[2][b]));
                r[2][b] = _mm256_add_ps(_mm256_mul_ps(half, _mm256_add_ps(u[1][b], u[2][b])), u[3][b]);
            }
            DK_UNROLL for (int i = 0; i < 3; i++) {
                const __m256 w0 = _mm256_add_ps(r[i][0], _mm256_mul_ps(half, _mm256_add_ps(r[i][1], r[i][2])));
                const __m256 w1 = _mm256_mul_ps(half, _mm256_sub_ps(r[i][1], r[i][2]));
                const __m256 w2 = _mm256_add_ps(_mm256_mul_ps(half, _mm256_add_ps(r[i][1], r[i][2])), r[i][3]);
                _mm256_storeu_ps(dw + ((long)(i * 3 + 0) * cin + ci) * cout + co, w0);
                _mm256_storeu_ps(dw + ((long)(i * 3 + 1) * cin + ci) * cout + co, w1);
                _mm256_storeu_ps(dw + ((long)(i * 3 + 2) * cin + ci) * cout + co, w2);
            }
        }
}

int dk_conv_winograd_enabled(void) { return dk_isa() == DK_ISA_AVX2; }

#else

// Never called: dk_conv_winograd_enabled is 0 here.
void dk_conv_winograd_transform_kernel_f32(const float *packed, long cin, long cout, float *u, long ci0, long ci1) {
    (void)packed, (void)cin, (void)cout, (void)u, (void)ci0, (void)ci1;
}
long dk_conv_winograd_scratch_floats(const dk_winograd_geometry *g) { return 16 * g->block * (g->cin + g->cout) + 16; }
void dk_conv_winograd_forward_f32(const dk_winograd_geometry *g, const float *xp, long t0, long t1, const float *u,
                                  const float *bias, float *y, float *scratch) {
    (void)g, (void)xp, (void)t0, (void)t1, (void)u, (void)bias, (void)y, (void)scratch;
}
long dk_conv_winograd_weight_grad_scratch_floats(const dk_winograd_geometry *g) {
    return 16 * g->block * (g->cin + g->cout);
}
void dk_conv_winograd_weight_grad_f32(const dk_winograd_geometry *g, const float *xp, const float *dy, long t0,
                                      long t1, float *du, float *scratch) {
    (void)g, (void)xp, (void)dy, (void)t0, (void)t1, (void)du, (void)scratch;
}
void dk_conv_winograd_weight_from_transform_f32(const float *du, long cin, long cout, float *dw, long ci0, long ci1) {
    (void)du, (void)cin, (void)cout, (void)dw, (void)ci0, (void)ci1;
}
int dk_conv_winograd_enabled(void) { return 0; }

#endif
