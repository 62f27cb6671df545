// bfloat16 conversions of whole arrays: Float to bfloat16 bits (dk_f32_to_bf16, in runs too),
// Float to the Float of its rounding (dk_f32_round_bf16), bits back to Floats (dk_bf16_to_f32),
// and runs of bits copied (dk_bf16_runs).
//
// Conversion: bits(bf16) = (bits(f) + 0x7FFF + bit 16 of bits(f)) >> 16, the rounding of the
// upper half to nearest with ties to even, which also rounds subnormals exactly (they are not
// flushed) and overflows to infinity past the largest bfloat16 (0x7F7F, 3.3895e38); a NaN keeps
// its sign and upper payload and has the quiet bit (0x0040) set, so it never turns into an
// infinity. The vector loop (AVX-512 F/BW, integer arithmetic: the same bits as the scalar one)
// serves every CPU with AVX-512; vcvtneps2bf16 is not used because it flushes subnormal inputs.

#include "dk_bf16.h"
#include "dk_dispatch.h"
#include "conv_internal.h"
#include "bf16_round.h"
#include <stddef.h>
#if defined(__x86_64__)
#include <immintrin.h>

#define DKI512 __attribute__((target("avx512f,avx512bw")))

DKI512 static inline __attribute__((always_inline)) void bf16_vector(const float *src, uint16_t *dst, long n) {
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512i r = dk_bf16_round_bits(_mm512_loadu_si512((const void *)(src + i)));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm512_cvtepi32_epi16(_mm512_srli_epi32(r, 16)));
    }
    for (; i < n; i++) dst[i] = dk_bf16_bits(src[i]);
}

DKI512 static void bf16_vector_call(const float *src, uint16_t *dst, long n) { bf16_vector(src, dst, n); }

/// Every run in one call: a run is often one vector (16 channels of a position), and a call per
/// run would cost as much as its conversion.
DKI512 static void bf16_runs_vector(const float *src, uint16_t *dst, long runs, long run, long dst_stride) {
    for (long r = 0; r < runs; r++) bf16_vector(src + r * run, dst + r * dst_stride, run);
}
#endif

void dk_f32_to_bf16(const float *src, uint16_t *dst, long n) {
#if defined(__x86_64__)
    if (dk_isa() == DK_ISA_AVX512) {
        bf16_vector_call(src, dst, n);
        return;
    }
#endif
    for (long i = 0; i < n; i++) dst[i] = dk_bf16_bits(src[i]);
}

void dk_f32_to_bf16_runs(const float *src, uint16_t *dst, long runs, long run, long dst_stride) {
#if defined(__x86_64__)
    if (dk_isa() == DK_ISA_AVX512) {
        bf16_runs_vector(src, dst, runs, run, dst_stride);
        return;
    }
#endif
    for (long r = 0; r < runs; r++)
        for (long i = 0; i < run; i++) dst[r * dst_stride + i] = dk_bf16_bits(src[r * run + i]);
}

#if defined(__x86_64__)
/// Runs of 16 bits at a time (a run is a part's channels at one position, often 32 to 256), with
/// no call per run.
DKI512 static void bf16_runs_copy_vector(const uint16_t *src, uint16_t *dst, long runs, long run, long dst_stride) {
    for (long r = 0; r < runs; r++) {
        const uint16_t *from = src + r * run;
        uint16_t *to = dst + r * dst_stride;
        long i = 0;
        for (; i + 16 <= run; i += 16)
            _mm256_storeu_si256((__m256i *)(to + i), _mm256_loadu_si256((const __m256i *)(from + i)));
        for (; i < run; i++) to[i] = from[i];
    }
}
#endif

void dk_bf16_runs(const uint16_t *src, uint16_t *dst, long runs, long run, long dst_stride) {
#if defined(__x86_64__)
    if (dk_isa() == DK_ISA_AVX512) {
        bf16_runs_copy_vector(src, dst, runs, run, dst_stride);
        return;
    }
#endif
    for (long r = 0; r < runs; r++)
        __builtin_memcpy(dst + r * dst_stride, src + r * run, (size_t)run * sizeof(uint16_t));
}

/// dst[i] = the Float value of dk_bf16_bits(src[i]) for i in [from, n).
static void round_scalar(const float *src, float *dst, long from, long n) {
    for (long i = from; i < n; i++) {
        uint32_t u = (uint32_t)dk_bf16_bits(src[i]) << 16;
        __builtin_memcpy(dst + i, &u, 4);
    }
}

#if defined(__x86_64__)
DKI512 static void round_vector(const float *src, float *dst, long n) {
    const __m512i high = _mm512_set1_epi32((int)0xFFFF0000u);
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512i r = dk_bf16_round_bits(_mm512_loadu_si512((const void *)(src + i)));
        _mm512_storeu_si512((void *)(dst + i), _mm512_and_si512(r, high));
    }
    round_scalar(src, dst, i, n);
}
#endif

void dk_f32_round_bf16(const float *src, float *dst, long n) {
#if defined(__x86_64__)
    if (dk_isa() == DK_ISA_AVX512) {
        round_vector(src, dst, n);
        return;
    }
#endif
    round_scalar(src, dst, 0, n);
}

/// dst[i] = the Float value of the bfloat16 bits src[i] for i in [from, n).
static void widen_scalar(const uint16_t *src, float *dst, long from, long n) {
    for (long i = from; i < n; i++) dst[i] = dk_bf16_value(src[i]);
}

#if defined(__x86_64__)
/// 16 values per step: zero-extended to 32 bits and shifted into the upper halves (the padded
/// copies of kept activations widen every value the rounded-operand kernels read).
DKI512 static void widen_vector(const uint16_t *src, float *dst, long n) {
    long i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, dk_bf16_widen16(src + i));
    widen_scalar(src, dst, i, n);
}
#endif

void dk_bf16_to_f32(const uint16_t *src, float *dst, long n) {
#if defined(__x86_64__)
    if (dk_isa() == DK_ISA_AVX512) {
        widen_vector(src, dst, n);
        return;
    }
#endif
    widen_scalar(src, dst, 0, n);
}
