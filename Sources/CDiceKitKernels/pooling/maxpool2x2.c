// 2×2, stride-2 max pooling of channels-last Float images (the U-Net's down-sampling), with the
// winning tap of each window kept as a byte, and its backward pass. AVX-512 (BW, VL) handles
// 16 channels per step when the CPU has it; the rest, and other CPUs, run plain loops.
// Semantics as DiceKit's Swift loops: the first maximum in window order wins; NaN propagates.

#include "dk_pooling.h"
#include "dk_dispatch.h"
#include <immintrin.h>

/// Whether this call runs the AVX-512 loop (cpu_dispatch.c: detected once, may be forced off);
/// records the level used.
static int dk_pool_avx512(void) {
    int avx512 = dk_pool_avx512_enabled();
    dk_note_isa(DK_KERNEL_POOL, avx512 ? DK_ISA_AVX512 : DK_ISA_PORTABLE);
    return avx512;
}

// v > best, or v is NaN and best is not.
static inline int dk_better(float v, float best) { return !(v <= best) && best == best; }

static void dk_max4_scalar(const float *x0, const float *x1, const float *x2, const float *x3,
                           float *out, uint8_t *tap, long k0, long c) {
    for (long k = k0; k < c; k++) {
        float best = x0[k];
        uint8_t code = 0;
        if (dk_better(x1[k], best)) { best = x1[k]; code = 1; }
        if (dk_better(x2[k], best)) { best = x2[k]; code = 2; }
        if (dk_better(x3[k], best)) { best = x3[k]; code = 3; }
        out[k] = best;
        tap[k] = code;
    }
}

#define DKPOOL512 __attribute__((target("avx512f,avx512bw,avx512vl")))

DKPOOL512 static inline void dk_take512(__m512 v, uint8_t code, __m512 *best, __m128i *codes) {
    __mmask16 take = _mm512_cmp_ps_mask(v, *best, _CMP_NLE_UQ) & _mm512_cmp_ps_mask(*best, *best, _CMP_ORD_Q);
    *best = _mm512_mask_mov_ps(*best, take, v);
    *codes = _mm_mask_mov_epi8(*codes, take, _mm_set1_epi8((char)code));
}

DKPOOL512 static void dk_maxpool2x2_avx512(const float *x, float *y, uint8_t *taps, long lines,
                                            long out_w, long in_w, long c) {
    for (long line = 0; line < lines; line++) {
        const float *top = x + line * 2 * in_w * c;
        for (long ow = 0; ow < out_w; ow++) {
            const float *x0 = top + 2 * ow * c, *x1 = x0 + c, *x2 = x0 + in_w * c, *x3 = x2 + c;
            float *out = y + (line * out_w + ow) * c;
            uint8_t *tap = taps + (line * out_w + ow) * c;
            long k = 0;
            for (; k + 16 <= c; k += 16) {
                __m512 best = _mm512_loadu_ps(x0 + k);
                __m128i codes = _mm_setzero_si128();
                dk_take512(_mm512_loadu_ps(x1 + k), 1, &best, &codes);
                dk_take512(_mm512_loadu_ps(x2 + k), 2, &best, &codes);
                dk_take512(_mm512_loadu_ps(x3 + k), 3, &best, &codes);
                _mm512_storeu_ps(out + k, best);
                _mm_storeu_si128((__m128i *)(tap + k), codes);
            }
            dk_max4_scalar(x0, x1, x2, x3, out, tap, k, c);
        }
    }
}

void dk_maxpool2x2_f32(const float *x, float *y, uint8_t *taps, long lines, long out_w, long in_w, long c) {
    if (dk_pool_avx512()) {
        dk_maxpool2x2_avx512(x, y, taps, lines, out_w, in_w, c);
        return;
    }
    for (long line = 0; line < lines; line++) {
        const float *top = x + line * 2 * in_w * c;
        for (long ow = 0; ow < out_w; ow++) {
            const float *x0 = top + 2 * ow * c;
            long o = (line * out_w + ow) * c;
            dk_max4_scalar(x0, x0 + c, x0 + in_w * c, x0 + in_w * c + c, y + o, taps + o, 0, c);
        }
    }
}

static void dk_route4_scalar(const float *g, const uint8_t *tap, float *const dx[4], const float *const add[4],
                             long k0, long c) {
    for (long k = k0; k < c; k++) {
        for (int i = 0; i < 4; i++) {
            float v = tap[k] == i ? g[k] : 0.0f;
            dx[i][k] = add[i] ? add[i][k] + v : v;
        }
    }
}

DKPOOL512 static void dk_maxpool2x2_back_avx512(const float *dy, const uint8_t *taps, const float *addend, float *dx,
                                                 long lines, long out_w, long in_w, long c) {
    for (long line = 0; line < lines; line++) {
        long top = line * 2 * in_w * c;
        for (long ow = 0; ow < out_w; ow++) {
            long o = (line * out_w + ow) * c, b = top + 2 * ow * c;
            long offsets[4] = { b, b + c, b + in_w * c, b + in_w * c + c };
            long k = 0;
            for (; k + 16 <= c; k += 16) {
                __m512 g = _mm512_loadu_ps(dy + o + k);
                __m128i t = _mm_loadu_si128((const __m128i *)(taps + o + k));
                for (int i = 0; i < 4; i++) {
                    __m512 v = _mm512_maskz_mov_ps(_mm_cmpeq_epi8_mask(t, _mm_set1_epi8((char)i)), g);
                    if (addend) v = _mm512_add_ps(v, _mm512_loadu_ps(addend + offsets[i] + k));
                    _mm512_storeu_ps(dx + offsets[i] + k, v);
                }
            }
            float *targets[4] = { dx + offsets[0], dx + offsets[1], dx + offsets[2], dx + offsets[3] };
            const float *adds[4] = { 0, 0, 0, 0 };
            if (addend) for (int i = 0; i < 4; i++) adds[i] = addend + offsets[i];
            dk_route4_scalar(dy + o, taps + o, targets, adds, k, c);
        }
    }
}

void dk_maxpool2x2_back_f32(const float *dy, const uint8_t *taps, const float *addend, float *dx,
                            long lines, long out_w, long in_w, long c) {
    if (dk_pool_avx512()) {
        dk_maxpool2x2_back_avx512(dy, taps, addend, dx, lines, out_w, in_w, c);
        return;
    }
    for (long line = 0; line < lines; line++) {
        long top = line * 2 * in_w * c;
        for (long ow = 0; ow < out_w; ow++) {
            long o = (line * out_w + ow) * c, b = top + 2 * ow * c;
            long offsets[4] = { b, b + c, b + in_w * c, b + in_w * c + c };
            float *targets[4];
            const float *adds[4] = { 0, 0, 0, 0 };
            for (int i = 0; i < 4; i++) {
                targets[i] = dx + offsets[i];
                if (addend) adds[i] = addend + offsets[i];
            }
            dk_route4_scalar(dy + o, taps + o, targets, adds, 0, c);
        }
    }
}
