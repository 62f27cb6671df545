// The Winograd passes' matrix products at the AVX-512 level (winograd_products.h): the forward
// pass's M[ξ] = V[ξ] · U[ξ] and the weight gradient's dU[ξ] += V[ξ]ᵀ · dM[ξ], on register tiles
// of 16-lane vectors. conv_winograd.c's transforms, the same at both levels, call them in place
// of its AVX2 micro-kernels.
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

#include <immintrin.h>

#define DKW512 __attribute__((target("avx512f")))
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

/// du[r][16·p …] += Σ over `count` tiles of v[t][r] · dm[t][16·p …] for input channels r < MR and
/// panels p < NP of 16 output channels (with `fresh`: = that sum).
DKW512 static inline __attribute__((always_inline)) void
accumulate_tile(const float *v, const float *dm, long cin, long cout, long count, float *du, const int MR,
                const int NP, int fresh) {
    __m512 acc[12][2];
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
    // cin is a multiple of 16: runs of 12, then 8 or 4 left.
    long ci = 0;
    for (; ci + 12 <= cin; ci += 12) accumulate_rows(v + ci, dm, cin, cout, count, du + ci * cout, 12, fresh);
    if (cin - ci == 8) accumulate_rows(v + ci, dm, cin, cout, count, du + ci * cout, 8, fresh);
    if (cin - ci == 4) accumulate_rows(v + ci, dm, cin, cout, count, du + ci * cout, 4, fresh);
}

#endif
