// The Winograd passes at the AVX-512 level (winograd_products.h): the forward pass's
// M[ξ] = V[ξ] · U[ξ] and the weight gradient's dU[ξ] += V[ξ]ᵀ · dM[ξ] on register tiles of
// 16-lane vectors, and the transforms (input, output gradient, output; 2-D and 3-D) on 16-lane
// vectors, operation for operation as conv_winograd.c's 8-lane ones; conv_winograd.c's passes
// call them in place of its AVX2 micro-kernels and transforms. On a core with two 16-lane FMA
// units the 8-lane transforms had taken about half of a 16-channel layer's time.
//
// Forward: 12 tiles × 32 output channels (two panels of 16) in 24 accumulators, one broadcast of
// V per tile and input channel for two FMAs (the AVX2 kernel's 6 × 16 make one for two 8-lane
// FMAs); a last odd panel takes 12 × 16, and a last 6 tiles 6 × 32 or 6 × 16. Weight gradient:
// 12 input channels × 32 output channels, one broadcast of V per input channel and tile for two
// FMAs, the rest in 8 or 4 input channels and 16 output channels.
//
// Each sum is a chain of FMAs in the AVX2 kernels' order (from zero, or from du, input channel by
// input channel or tile by tile), lane for lane: the same bits at either level.

#include "winograd_products.h"

#if defined(__x86_64__)

#include "bf16_round.h"
#include <immintrin.h>
#include <string.h>

#define DKW512 __attribute__((target("avx512f")))
#define DKW512BW __attribute__((target("avx512f,avx512bw")))
#define DK_UNROLL _Pragma("clang loop unroll(full)")

/// m[p][t][16] = Σ over ci of v[t][ci] · u[p][ci][16] for tiles t < MR and panels p < NP (NP 1 or 2).
DKW512 static inline __attribute__((always_inline)) void
multiply_tile(const float *v, const float *u, long cin, long panel_u, float *m, long panel_m, const int MR,
              const int NP) {
    __m512 acc[2][12];
    DK_UNROLL for (int p = 0; p < NP; p++) DK_UNROLL for (int i = 0; i < MR; i++) acc[p][i] = _mm512_setzero_ps();
    for (long k = 0; k < cin; k++) {
        __m512 b[2];
        DK_UNROLL for (int p = 0; p < NP; p++) b[p] = _mm512_load_ps(u + p * panel_u + 16 * k);
        DK_UNROLL for (int i = 0; i < MR; i++) {
            const __m512 x = _mm512_set1_ps(v[i * cin + k]);
            DK_UNROLL for (int p = 0; p < NP; p++) acc[p][i] = _mm512_fmadd_ps(x, b[p], acc[p][i]);
        }
    }
    DK_UNROLL for (int p = 0; p < NP; p++) DK_UNROLL for (int i = 0; i < MR; i++)
        _mm512_store_ps(m + p * panel_m + 16 * i, acc[p][i]);
}

DKW512 void dk_winograd_multiply_avx512(float *v, const void *kernel, long xi, long cin, long rows, long blocks,
                                        float *m) {
    const long panel_u = 16 * cin, panel_m = 16 * rows;
    const float *const u = (const float *)kernel + xi * blocks * panel_u;
    // Each pair of panels (32 · cin floats) stays in L1 while the block's tiles stream past it.
#define TILE(cb, t, MR, NP)                                                                                            \
    multiply_tile(v + (t) * cin, u + (cb) * panel_u, cin, panel_u, m + (cb) * panel_m + 16 * (t), panel_m, MR, NP)
    DK_WINOGRAD_PANELS(TILE, rows, blocks)
#undef TILE
}

/// 16 values at `at` of plane `p`, combined with plane `q` as `how` says; with ROUND each plane's
/// values rounded to bfloat16 first (dk_bf16_bits' value: the rounded operands' dy₁₆).
DKW512BW static inline __attribute__((always_inline)) __m512 load16(const float *p, const float *q, long at,
                                                                   const int how, const int ROUND) {
    if (!ROUND) return dk_winograd_load16(p, q, at, how);
    const __m512i high = _mm512_set1_epi32((int)0xFFFF0000u);
#define DK_ROUNDED16(a)                                                                                                \
    _mm512_castsi512_ps(_mm512_and_si512(dk_bf16_round_bits(_mm512_loadu_si512((const void *)(a))), high))
    const __m512 x = DK_ROUNDED16(p + at);
    if (how == FROM_ONE) return x;
    if (how == FROM_NEGATED) return _mm512_sub_ps(_mm512_setzero_ps(), x);
    const __m512 y = DK_ROUNDED16(q + at);
#undef DK_ROUNDED16
    return how == FROM_SUM ? _mm512_add_ps(x, y) : _mm512_sub_ps(x, y);
}

/// Bᵀ d B of the 4 × 4 window at `p` (combined with `q` as `how` says; rows `line` floats apart,
/// positions `cin`), channels [c, c + 16), stored at out + (4i + j)·stride + c.
DKW512BW static inline __attribute__((always_inline)) void window16(const float *p, const float *q, const int how,
                                                                   long line, long cin, long c, float *out,
                                                                   long stride) {
    __m512 rows[4][4];
    DK_UNROLL for (int i = 0; i < 4; i++) dk_winograd_window_row_combined(p + c, q + c, how, line, cin, i, rows[i]);
    DK_UNROLL for (int i = 0; i < 4; i++) DK_UNROLL for (int j = 0; j < 4; j++)
        _mm512_storeu_ps(out + (4 * i + j) * stride + c, rows[i][j]);
}

DKW512BW static inline __attribute__((always_inline)) void input16(const dk_winograd_geometry *g, const float *xp,
                                                                  long first, long count, long rows, float *v,
                                                                  const int volume) {
    const long cin = g->cin, line = g->wp * cin, plane = (g->oh + 2) * line, xs = rows * cin;
    const long points = volume ? 64 : 16;
    dk_tile_place place = dk_tile_place_of(g, first);
    for (long t = 0; t < count; t++, dk_tile_place_next(g, &place)) {
        const float *const d = xp + dk_tile_place_offset(&place, g->sample_floats, plane, line, cin);
        float *const out = v + t * cin;
        for (long c = 0; c < cin; c += 16) {
            if (!volume) {
                window16(d, d, FROM_ONE, line, cin, c, out, xs);
                continue;
            }
            // Bᵀ along the depth on load (planes 0 − 2, 1 + 2, 2 − 1, 1 − 3), then each combination's window.
            const float *const d1 = d + plane, *const d2 = d + 2 * plane, *const d3 = d + 3 * plane;
            window16(d, d2, FROM_DIFFERENCE, line, cin, c, out, xs);
            window16(d1, d2, FROM_SUM, line, cin, c, out + 16 * xs, xs);
            window16(d2, d1, FROM_DIFFERENCE, line, cin, c, out + 32 * xs, xs);
            window16(d1, d3, FROM_DIFFERENCE, line, cin, c, out + 48 * xs, xs);
        }
    }
    for (long t = count; t < rows; t++)
        for (long xi = 0; xi < points; xi++) memset(v + xi * xs + t * cin, 0, sizeof(float) * (size_t)cin);
}

DKW512BW void dk_winograd_transform_input_avx512(const dk_winograd_geometry *g, const float *xp, long first, long count,
                                                 long rows, float *v) {
    if (g->od > 1)
        input16(g, xp, first, count, rows, v, 1);
    else
        input16(g, xp, first, count, rows, v, 0);
}

/// Element ξ of the products at `m` (elements `xs` floats apart), read as `how` says.
DKW512BW static inline __attribute__((always_inline)) __m512 product16(const float *m, long xs, long xi, const int how) {
    if (how == PLANE) return _mm512_load_ps(m + xi * xs);
    const __m512 m1 = _mm512_load_ps(m + (16 + xi) * xs), m2 = _mm512_load_ps(m + (32 + xi) * xs);
    return how == ROW0 ? _mm512_add_ps(_mm512_add_ps(_mm512_load_ps(m + xi * xs), m1), m2)
                       : _mm512_sub_ps(_mm512_sub_ps(m1, m2), _mm512_load_ps(m + (48 + xi) * xs));
}

/// Aᵀ m A of one 4 × 4 plane of products (read as `how` says), plus `b`, then the max with
/// `floor`: the 2 × 2 outputs at element `at` of `y` (rows `line` elements apart, positions `part`).
DKW512BW static inline __attribute__((always_inline)) void output_plane16(const float *m, long xs, const int how,
                                                                         __m512 b, __m512 floor, void *y, long at,
                                                                         long line, long part, const int STORE) {
    // Aᵀ = [1 1 1 0; 0 1 −1 −1]: rows of Aᵀ m, then along each row.
    __m512 s[2][4];
    DK_UNROLL for (int j = 0; j < 4; j++) {
        const __m512 m0 = product16(m, xs, j, how), m1 = product16(m, xs, 4 + j, how),
                     m2 = product16(m, xs, 8 + j, how), m3 = product16(m, xs, 12 + j, how);
        s[0][j] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
        s[1][j] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
    }
    DK_UNROLL for (int i = 0; i < 2; i++) {
        const __m512 o0 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(s[i][0], s[i][1]), s[i][2]), b);
        const __m512 o1 = _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(s[i][1], s[i][2]), s[i][3]), b);
        dk_winograd_store16(y, at + i * line, _mm512_max_ps(floor, o0), STORE);
        dk_winograd_store16(y, at + i * line + part, _mm512_max_ps(floor, o1), STORE);
    }
}

DKW512BW static inline __attribute__((always_inline)) void output16(const dk_winograd_geometry *g, const float *m,
                                                                   long first, long count, long rows,
                                                                   const float *bias, void *y, const int volume,
                                                                   const int STORE) {
    const long cout = g->cout, blocks = cout / 16, xs = blocks * rows * 16;
    const long part = g->cout_a ? g->cout_a : cout, line = g->ow * part, plane = g->oh * line;
    const __m512 floor = g->relu ? _mm512_setzero_ps() : _mm512_set1_ps(-__builtin_inff());
    for (long cb = 0; cb < blocks; cb++) {
        // Channels past the first part go to the second, yb_offset elements on.
        const long co = 16 * cb, base = co < part ? co : g->yb_offset + co - part;
        const __m512 b = bias ? _mm512_loadu_ps(bias + co) : _mm512_setzero_ps();
        dk_tile_place place = dk_tile_place_of(g, first);
        for (long t = 0; t < count; t++, dk_tile_place_next(g, &place)) {
            const long at = base + dk_tile_place_offset(&place, g->output_sample_floats, plane, line, part);
            const float *const mt = m + (cb * rows + t) * 16;
            if (!volume) {
                output_plane16(mt, xs, PLANE, b, floor, y, at, line, part, STORE);
            } else {
                // Aᵀ along the depth on load: the 2 output planes.
                output_plane16(mt, xs, ROW0, b, floor, y, at, line, part, STORE);
                output_plane16(mt, xs, ROW1, b, floor, y, at + plane, line, part, STORE);
            }
        }
    }
}

DKW512BW void dk_winograd_output_avx512(const dk_winograd_geometry *g, const float *m, long first, long count,
                                        long rows, const float *bias, void *y) {
#define DK_OUTPUT(volume)                                                                                              \
    if (g->round_output == STORE_BITS)                                                                                 \
        output16(g, m, first, count, rows, bias, y, volume, STORE_BITS);                                               \
    else if (g->round_output == STORE_ROUNDED)                                                                         \
        output16(g, m, first, count, rows, bias, y, volume, STORE_ROUNDED);                                            \
    else                                                                                                               \
        output16(g, m, first, count, rows, bias, y, volume, STORE_FLOATS);
    if (g->od > 1) {
        DK_OUTPUT(1)
    } else {
        DK_OUTPUT(0)
    }
#undef DK_OUTPUT
}

/// A dY Aᵀ of the 2 × 2 output gradients at `p` (combined with `q` as `how` says; rows `line`
/// floats apart, positions `cout`; rounded to bfloat16 first with ROUND), channels [c, c + 16),
/// stored at out + (4i + j)·stride + c.
DKW512BW static inline __attribute__((always_inline)) void gradient16(const float *p, const float *q, const int how,
                                                                     long line, long cout, long c, float *out,
                                                                     long stride, const int ROUND) {
    // A = [1 0; 1 1; 1 −1; 0 −1]: rows of A dY, then (A dY) Aᵀ along each row.
    const __m512 zero = _mm512_setzero_ps();
    const __m512 y00 = load16(p, q, c, how, ROUND), y01 = load16(p, q, cout + c, how, ROUND),
                 y10 = load16(p, q, line + c, how, ROUND), y11 = load16(p, q, line + cout + c, how, ROUND);
    const __m512 r[4][2] = {{y00, y01},
                            {_mm512_add_ps(y00, y10), _mm512_add_ps(y01, y11)},
                            {_mm512_sub_ps(y00, y10), _mm512_sub_ps(y01, y11)},
                            {_mm512_sub_ps(zero, y10), _mm512_sub_ps(zero, y11)}};
    DK_UNROLL for (int i = 0; i < 4; i++) {
        float *const row = out + 4 * i * stride + c;
        _mm512_storeu_ps(row, r[i][0]);
        _mm512_storeu_ps(row + stride, _mm512_add_ps(r[i][0], r[i][1]));
        _mm512_storeu_ps(row + 2 * stride, _mm512_sub_ps(r[i][0], r[i][1]));
        _mm512_storeu_ps(row + 3 * stride, _mm512_sub_ps(zero, r[i][1]));
    }
}

DKW512BW static inline __attribute__((always_inline)) void
transform_gradient16(const dk_winograd_geometry *g, const float *dy, long first, long count, float *dm,
                     const int volume, const int ROUND) {
    const long cout = g->cout, stride = count * cout, line = g->ow * cout, plane = g->oh * line;
    dk_tile_place place = dk_tile_place_of(g, first);
    for (long t = 0; t < count; t++, dk_tile_place_next(g, &place)) {
        const float *const d = dy + dk_tile_place_offset(&place, g->output_sample_floats, plane, line, cout);
        float *const out = dm + t * cout;
        for (long c = 0; c < cout; c += 16) {
            if (!volume) {
                gradient16(d, d, FROM_ONE, line, cout, c, out, stride, ROUND);
                continue;
            }
            // A along the depth on load (planes 0, 0 + 1, 0 − 1, −1), then each combination's.
            const float *const d1 = d + plane;
            gradient16(d, d, FROM_ONE, line, cout, c, out, stride, ROUND);
            gradient16(d, d1, FROM_SUM, line, cout, c, out + 16 * stride, stride, ROUND);
            gradient16(d, d1, FROM_DIFFERENCE, line, cout, c, out + 32 * stride, stride, ROUND);
            gradient16(d1, d1, FROM_NEGATED, line, cout, c, out + 48 * stride, stride, ROUND);
        }
    }
}

DKW512BW void dk_winograd_transform_gradient_avx512(const dk_winograd_geometry *g, const float *dy, long first,
                                                    long count, float *dm) {
    const int volume = g->od > 1;
    if (volume && g->round_gradient)
        transform_gradient16(g, dy, first, count, dm, 1, 1);
    else if (volume)
        transform_gradient16(g, dy, first, count, dm, 1, 0);
    else if (g->round_gradient)
        transform_gradient16(g, dy, first, count, dm, 0, 1);
    else
        transform_gradient16(g, dy, first, count, dm, 0, 0);
}

/// du[r][16·p …] += Σ over `count` tiles of v[t][r] · dm[t][16·p …] for input channels r < MR and
/// panels p < NP of 16 output channels (with `fresh`: = that sum).
DKW512 static inline __attribute__((always_inline)) void
accumulate_tile(const float *v, const float *dm, long cin, long cout, long count, float *du, const int MR,
                const int NP, int fresh) {
    __m512 acc[16][2];
    DK_UNROLL for (int r = 0; r < MR; r++) DK_UNROLL for (int p = 0; p < NP; p++)
        acc[r][p] = fresh ? _mm512_setzero_ps() : _mm512_loadu_ps(du + r * cout + 16 * p);
    for (long t = 0; t < count; t++) {
        __m512 b[2];
        DK_UNROLL for (int p = 0; p < NP; p++) b[p] = _mm512_loadu_ps(dm + t * cout + 16 * p);
        DK_UNROLL for (int r = 0; r < MR; r++) {
            const __m512 x = _mm512_set1_ps(v[t * cin + r]);
            DK_UNROLL for (int p = 0; p < NP; p++) acc[r][p] = _mm512_fmadd_ps(x, b[p], acc[r][p]);
        }
    }
    DK_UNROLL for (int r = 0; r < MR; r++) DK_UNROLL for (int p = 0; p < NP; p++)
        _mm512_storeu_ps(du + r * cout + 16 * p, acc[r][p]);
}

/// Input channels [ci, ci + MR) against every output channel: pairs of panels, then an odd one.
DKW512 static inline __attribute__((always_inline)) void
accumulate_rows(const float *v, const float *dm, long cin, long cout, long count, float *du, const int MR,
                int fresh) {
    long co = 0;
    for (; co + 32 <= cout; co += 32) accumulate_tile(v, dm + co, cin, cout, count, du + co, MR, 2, fresh);
    if (co < cout) accumulate_tile(v, dm + co, cin, cout, count, du + co, MR, 1, fresh);
}

DKW512 void dk_winograd_accumulate_avx512(const float *v, const float *dm, long cin, long cout, long count,
                                          float *du, int fresh) {
    if (cout == 16) {
        // One panel: 16 input channels at a time (16 independent sums, where runs of 12 and 4
        // would leave the last 4 waiting on their FMAs' latency).
        for (long ci = 0; ci < cin; ci += 16) accumulate_tile(v + ci, dm, cin, cout, count, du + ci * cout, 16, 1, fresh);
        return;
    }
    // cin is a multiple of 16: runs of 12, then 8 or 4 left.
    long ci = 0;
    for (; ci + 12 <= cin; ci += 12) accumulate_rows(v + ci, dm, cin, cout, count, du + ci * cout, 12, fresh);
    if (cin - ci == 8) accumulate_rows(v + ci, dm, cin, cout, count, du + ci * cout, 8, fresh);
    if (cin - ci == 4) accumulate_rows(v + ci, dm, cin, cout, count, du + ci * cout, 4, fresh);
}

#endif
