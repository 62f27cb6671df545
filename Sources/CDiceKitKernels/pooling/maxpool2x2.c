// 2×2 (and 2×2×2), stride-2 max pooling of channels-last Float images and volumes (the U-Net's
// down-sampling), with the winning tap of each window kept as a byte, and its backward pass; and
// the same pooling of bfloat16 bits for a bfloat16 evaluation pass (no taps), the bits compared
// as the Float values they stand for.
// AVX-512 (BW, VL) handles 16 channels per step when the CPU has it, AVX2 8 channels on CPUs
// without it (AMD Zen 2/3, Intel client cores; Float only: bfloat16 runs on AVX-512 CPUs); the
// rest, and every CPU other than x86-64, run plain loops. Every path gives the same bits.
// Semantics as DiceKit's Swift loops: the first maximum in window order wins (kd, kh, kw); NaN
// propagates.
//
// The work comes in units, each `unit_lines` output lines of `out_w` pixels whose windows read
// `planes` × 2·unit_lines input rows of `in_w` pixels: a 2-D image's output line (planes 1, one
// line), or a volume's output plane (planes 2, out_h lines). Units are contiguous in both the
// input and the output, so a caller splits the work by units with pointer offsets.

#include "dk_pooling.h"
#include "dk_dispatch.h"
#include "../convolution/bf16_round.h"
#include <stddef.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

/// The level this call runs at (cpu_dispatch.c: detected once, may be forced down), recorded:
/// AVX-512 where the CPU has VL too, else AVX2 when the pass has an AVX2 loop, else portable.
static dk_isa_level dk_pool_level(int has_avx2) {
    const dk_isa_level level = dk_pool_avx512_enabled()             ? DK_ISA_AVX512
                               : has_avx2 && dk_isa() >= DK_ISA_AVX2 ? DK_ISA_AVX2
                                                                     : DK_ISA_PORTABLE;
    dk_note_isa(DK_KERNEL_POOL, level);
    return level;
}

/// The input offsets (in scalars) of a window's taps from its first element, in window order.
static int dk_pool_taps(long plane, long in_w, long c, int planes, long offsets[8]) {
    int taps = 0;
    for (int kd = 0; kd < planes; kd++)
        for (int kh = 0; kh < 2; kh++)
            for (int kw = 0; kw < 2; kw++) offsets[taps++] = kd * plane + kh * in_w * c + kw * c;
    return taps;
}

// v > best, or v is NaN and best is not.
static inline int dk_better(float v, float best) { return !(v <= best) && best == best; }

static void dk_max_scalar(const float *x, const long *offsets, int taps, float *out, uint8_t *tap, long k0, long c) {
    for (long k = k0; k < c; k++) {
        float best = x[k];
        uint8_t code = 0;
        for (int i = 1; i < taps; i++) {
            const float v = x[offsets[i] + k];
            if (dk_better(v, best)) { best = v; code = (uint8_t)i; }
        }
        out[k] = best;
        tap[k] = code;
    }
}

#if defined(__x86_64__)
#define DKPOOL512 __attribute__((target("avx512f,avx512bw,avx512vl")))

/// dk_better on 16 lanes: v > best, or v is NaN and best is not.
DKPOOL512 static inline __mmask16 dk_better512(__m512 v, __m512 best) {
    return _mm512_cmp_ps_mask(v, best, _CMP_NLE_UQ) & _mm512_cmp_ps_mask(best, best, _CMP_ORD_Q);
}

DKPOOL512 static inline void dk_take512(__m512 v, uint8_t code, __m512 *best, __m128i *codes) {
    const __mmask16 take = dk_better512(v, *best);
    *best = _mm512_mask_mov_ps(*best, take, v);
    *codes = _mm_mask_mov_epi8(*codes, take, _mm_set1_epi8((char)code));
}

DKPOOL512 static inline __attribute__((always_inline))
void dk_max_avx512(const float *x, const long *offsets, int taps, float *out, uint8_t *tap, long c) {
    long k = 0;
    for (; k + 16 <= c; k += 16) {
        __m512 best = _mm512_loadu_ps(x + k);
        __m128i codes = _mm_setzero_si128();
        for (int i = 1; i < taps; i++) dk_take512(_mm512_loadu_ps(x + offsets[i] + k), (uint8_t)i, &best, &codes);
        _mm512_storeu_ps(out + k, best);
        _mm_storeu_si128((__m128i *)(tap + k), codes);
    }
    dk_max_scalar(x, offsets, taps, out, tap, k, c);
}

#define DKPOOL256 __attribute__((target("avx2")))

/// dk_better on 8 lanes, as an all-ones lane mask.
DKPOOL256 static inline __m256 dk_better256(__m256 v, __m256 best) {
    return _mm256_and_ps(_mm256_cmp_ps(v, best, _CMP_NLE_UQ), _mm256_cmp_ps(best, best, _CMP_ORD_Q));
}

DKPOOL256 static inline __attribute__((always_inline))
void dk_max_avx2(const float *x, const long *offsets, int taps, float *out, uint8_t *tap, long c) {
    long k = 0;
    for (; k + 8 <= c; k += 8) {
        __m256 best = _mm256_loadu_ps(x + k);
        __m256i codes = _mm256_setzero_si256();
        for (int i = 1; i < taps; i++) {
            const __m256 v = _mm256_loadu_ps(x + offsets[i] + k);
            const __m256 take = dk_better256(v, best);
            best = _mm256_blendv_ps(best, v, take);
            codes = _mm256_blendv_epi8(codes, _mm256_set1_epi32(i), _mm256_castps_si256(take));
        }
        _mm256_storeu_ps(out + k, best);
        // The 8 codes (0…7, one per 32-bit lane) narrowed to bytes.
        const __m128i halves = _mm_packus_epi32(_mm256_castsi256_si128(codes), _mm256_extracti128_si256(codes, 1));
        _mm_storel_epi64((__m128i *)(tap + k), _mm_packus_epi16(halves, halves));
    }
    dk_max_scalar(x, offsets, taps, out, tap, k, c);
}
#endif

/// Calls `pixel(first input element, output offset)` for every output pixel of the units.
#define DK_POOL_PIXELS(pixel)                                                                   \
    for (long u = 0; u < units; u++)                                                           \
        for (long line = 0; line < unit_lines; line++)                                         \
            for (long ow = 0; ow < out_w; ow++) {                                              \
                const long b = u * planes * plane + 2 * line * in_w * c + 2 * ow * c;          \
                const long o = ((u * unit_lines + line) * out_w + ow) * c;                     \
                pixel;                                                                         \
            }

#if defined(__x86_64__)
DKPOOL512 static void dk_maxpool_avx512(const float *x, float *y, uint8_t *taps, long units, long unit_lines,
                                        long out_w, long in_w, long c, int planes, long plane, const long *offsets,
                                        int count) {
    DK_POOL_PIXELS(dk_max_avx512(x + b, offsets, count, y + o, taps + o, c))
}

DKPOOL256 static void dk_maxpool_avx2(const float *x, float *y, uint8_t *taps, long units, long unit_lines,
                                      long out_w, long in_w, long c, int planes, long plane, const long *offsets,
                                      int count) {
    DK_POOL_PIXELS(dk_max_avx2(x + b, offsets, count, y + o, taps + o, c))
}
#endif

void dk_maxpool_halving_f32(const float *x, float *y, uint8_t *taps, long units, long unit_lines, long out_w,
                            long in_w, long c, int planes) {
    const long plane = 2 * unit_lines * in_w * c;
    long offsets[8];
    const int count = dk_pool_taps(plane, in_w, c, planes, offsets);
    switch (dk_pool_level(1)) {
#if defined(__x86_64__)
    case DK_ISA_AVX512:
        dk_maxpool_avx512(x, y, taps, units, unit_lines, out_w, in_w, c, planes, plane, offsets, count);
        return;
    case DK_ISA_AVX2:
        dk_maxpool_avx2(x, y, taps, units, unit_lines, out_w, in_w, c, planes, plane, offsets, count);
        return;
#endif
    default:
        DK_POOL_PIXELS(dk_max_scalar(x + b, offsets, count, y + o, taps + o, 0, c))
    }
}

/// dk_max_scalar's comparisons on bfloat16 bits, the winner's bits stored (no taps).
static void dk_max_bf16_scalar(const uint16_t *x, const long *offsets, int taps, uint16_t *out, long k0, long c) {
    for (long k = k0; k < c; k++) {
        uint16_t winner = x[k];
        float best = dk_bf16_value(winner);
        for (int i = 1; i < taps; i++) {
            const uint16_t bits = x[offsets[i] + k];
            const float v = dk_bf16_value(bits);
            if (dk_better(v, best)) { best = v; winner = bits; }
        }
        out[k] = winner;
    }
}

#if defined(__x86_64__)
/// 16 channels per step: the widened values compared as dk_take512 does, the winners narrowed
/// back (exact).
DKPOOL512 static inline __attribute__((always_inline))
void dk_max_bf16_avx512(const uint16_t *x, const long *offsets, int taps, uint16_t *out, long c) {
    long k = 0;
    for (; k + 16 <= c; k += 16) {
        __m512 best = dk_bf16_widen16(x + k);
        for (int i = 1; i < taps; i++) {
            const __m512 v = dk_bf16_widen16(x + offsets[i] + k);
            best = _mm512_mask_mov_ps(best, dk_better512(v, best), v);
        }
        const __m512i bits = _mm512_srli_epi32(_mm512_castps_si512(best), 16);
        _mm256_storeu_si256((__m256i *)(out + k), _mm512_cvtepi32_epi16(bits));
    }
    dk_max_bf16_scalar(x, offsets, taps, out, k, c);
}

DKPOOL512 static void dk_maxpool_bf16_avx512(const uint16_t *x, uint16_t *y, long units, long unit_lines, long out_w,
                                             long in_w, long c, int planes, long plane, const long *offsets,
                                             int count) {
    DK_POOL_PIXELS(dk_max_bf16_avx512(x + b, offsets, count, y + o, c))
}
#endif

void dk_maxpool_halving_bf16(const uint16_t *x, uint16_t *y, long units, long unit_lines, long out_w, long in_w,
                             long c, int planes) {
    const long plane = 2 * unit_lines * in_w * c;
    long offsets[8];
    const int count = dk_pool_taps(plane, in_w, c, planes, offsets);
#if defined(__x86_64__)
    if (dk_pool_level(0) == DK_ISA_AVX512) {
        dk_maxpool_bf16_avx512(x, y, units, unit_lines, out_w, in_w, c, planes, plane, offsets, count);
        return;
    }
#endif
    DK_POOL_PIXELS(dk_max_bf16_scalar(x + b, offsets, count, y + o, 0, c))
}

static void dk_route_scalar(const float *g, const uint8_t *tap, float *dx, const float *add, const long *offsets,
                            int taps, long k0, long c) {
    for (long k = k0; k < c; k++) {
        for (int i = 0; i < taps; i++) {
            const float v = tap[k] == i ? g[k] : 0.0f;
            dx[offsets[i] + k] = add ? add[offsets[i] + k] + v : v;
        }
    }
}

#if defined(__x86_64__)
DKPOOL512 static inline __attribute__((always_inline))
void dk_route_avx512(const float *g, const uint8_t *tap, float *dx, const float *add, const long *offsets, int taps,
                     long c) {
    long k = 0;
    for (; k + 16 <= c; k += 16) {
        const __m512 v = _mm512_loadu_ps(g + k);
        const __m128i t = _mm_loadu_si128((const __m128i *)(tap + k));
        for (int i = 0; i < taps; i++) {
            __m512 routed = _mm512_maskz_mov_ps(_mm_cmpeq_epi8_mask(t, _mm_set1_epi8((char)i)), v);
            if (add) routed = _mm512_add_ps(routed, _mm512_loadu_ps(add + offsets[i] + k));
            _mm512_storeu_ps(dx + offsets[i] + k, routed);
        }
    }
    dk_route_scalar(g, tap, dx, add, offsets, taps, k, c);
}

/// dk_route_scalar on 8 lanes: the gradient where the tap won, +0 elsewhere, added to the addend
/// in the scalar order (addend + routed).
DKPOOL256 static inline __attribute__((always_inline))
void dk_route_avx2(const float *g, const uint8_t *tap, float *dx, const float *add, const long *offsets, int taps,
                   long c) {
    long k = 0;
    for (; k + 8 <= c; k += 8) {
        const __m256 v = _mm256_loadu_ps(g + k);
        const __m256i t = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(tap + k)));
        for (int i = 0; i < taps; i++) {
            const __m256 won = _mm256_castsi256_ps(_mm256_cmpeq_epi32(t, _mm256_set1_epi32(i)));
            __m256 routed = _mm256_and_ps(won, v);
            if (add) routed = _mm256_add_ps(_mm256_loadu_ps(add + offsets[i] + k), routed);
            _mm256_storeu_ps(dx + offsets[i] + k, routed);
        }
    }
    dk_route_scalar(g, tap, dx, add, offsets, taps, k, c);
}

DKPOOL256 static void dk_maxpool_back_avx2(const float *dy, const uint8_t *taps, const float *addend, float *dx,
                                           long units, long unit_lines, long out_w, long in_w, long c, int planes,
                                           long plane, const long *offsets, int count) {
    DK_POOL_PIXELS(dk_route_avx2(dy + o, taps + o, dx + b, addend ? addend + b : NULL, offsets, count, c))
}

DKPOOL512 static void dk_maxpool_back_avx512(const float *dy, const uint8_t *taps, const float *addend, float *dx,
                                             long units, long unit_lines, long out_w, long in_w, long c, int planes,
                                             long plane, const long *offsets, int count) {
    DK_POOL_PIXELS(dk_route_avx512(dy + o, taps + o, dx + b, addend ? addend + b : NULL, offsets, count, c))
}
#endif

void dk_maxpool_halving_back_f32(const float *dy, const uint8_t *taps, const float *addend, float *dx, long units,
                                 long unit_lines, long out_w, long in_w, long c, int planes) {
    const long plane = 2 * unit_lines * in_w * c;
    long offsets[8];
    const int count = dk_pool_taps(plane, in_w, c, planes, offsets);
    switch (dk_pool_level(1)) {
#if defined(__x86_64__)
    case DK_ISA_AVX512:
        dk_maxpool_back_avx512(dy, taps, addend, dx, units, unit_lines, out_w, in_w, c, planes, plane, offsets, count);
        return;
    case DK_ISA_AVX2:
        dk_maxpool_back_avx2(dy, taps, addend, dx, units, unit_lines, out_w, in_w, c, planes, plane, offsets, count);
        return;
#endif
    default:
        DK_POOL_PIXELS(dk_route_scalar(dy + o, taps + o, dx + b, addend ? addend + b : NULL, offsets, count, 0, c))
    }
}
