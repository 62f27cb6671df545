// The bfloat16 conversions shared by the kernel files: the AVX-512 rounding of Float to
// bfloat16 (bf16_convert.c, bf16_pack.c, conv_bf16.c, conv_amx.c, conv_avx512.c, conv_winograd_bf16.c)
// and its AVX2 form (conv_avx2.c, conv_winograd.c's output transform), the integer
// form of round to nearest, ties to even (bf16_convert.c's header comment), the same bits as
// the scalar dk_bf16_bits (the kernels' scalar stores, the normalisation's rounded output); the
// widening of bfloat16 bits to the Floats they stand for (bf16_convert.c, the bfloat16 max
// pooling, the normalisation's kept ReLU outputs); and 16 values as lanes of their bits, from
// Floats or from bits (the output-gradient packings of bf16_pack.c and conv_amx.c).
// The vector forms are x86-64 only. Not part of the public header.
#ifndef DK_BF16_ROUND_H
#define DK_BF16_ROUND_H

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <stdint.h>

/// Round-to-nearest-even Float → bfloat16 bits, as dk_f32_to_bf16 (bf16_convert.c's header comment):
/// a NaN stays a quiet NaN, subnormals are rounded, not flushed.
static inline uint16_t dk_bf16_bits(float f) {
    uint32_t u;
    __builtin_memcpy(&u, &f, 4);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x0040u);
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

/// The Float a bfloat16 bit pattern stands for (exact).
static inline float dk_bf16_value(uint16_t bits) {
    const uint32_t u = (uint32_t)bits << 16;
    float f;
    __builtin_memcpy(&f, &u, 4);
    return f;
}

#if defined(__x86_64__)
/// 16 bfloat16 bit patterns from `p`, widened to the Floats they stand for (zero-extended and
/// shifted into the upper halves of the lanes: exact).
__attribute__((target("avx512f,avx512bw"))) static inline __m512 dk_bf16_widen16(const uint16_t *p) {
    const __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
}

/// 16 Floats' bits rounded to bfloat16 in the upper halves of their 32-bit lanes (low halves
/// not cleared); a NaN keeps its sign and payload with the quiet bit set.
__attribute__((target("avx512f,avx512bw"))) static inline __m512i dk_bf16_round_bits(__m512i u) {
    const __m512i abs_mask = _mm512_set1_epi32(0x7FFFFFFF), inf = _mm512_set1_epi32(0x7F800000);
    const __m512i bias = _mm512_set1_epi32(0x7FFF), one = _mm512_set1_epi32(1), quiet = _mm512_set1_epi32(0x400000);
    __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, abs_mask), inf);
    __m512i rounded = _mm512_add_epi32(_mm512_add_epi32(u, bias), _mm512_and_si512(_mm512_srli_epi32(u, 16), one));
    return _mm512_mask_or_epi32(rounded, nan, u, quiet);
}

/// dk_bf16_round_bits on 8 lanes (AVX2): the Floats' bits rounded to bfloat16 in the upper halves
/// of their 32-bit lanes (low halves not cleared); a NaN keeps its sign and payload with the quiet
/// bit set.
__attribute__((target("avx2"))) static inline __m256i dk_bf16_round_bits8(__m256i u) {
    const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7FFFFFFF)),
                                           _mm256_set1_epi32(0x7F800000));
    const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    const __m256i rounded = _mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7FFF)), odd);
    return _mm256_blendv_epi8(rounded, _mm256_or_si256(u, _mm256_set1_epi32(0x400000)), nan);
}

/// 16 values from element `offset` as 32-bit lanes holding their bfloat16 bits in the low halves
/// (the high halves zero): the Floats of `f` rounded, or when `f` is NULL the bits of `b` as they
/// are (a kept activation; the same lanes as from the Floats they round).
__attribute__((target("avx512f,avx512bw"))) static inline __m512i dk_bf16_lanes(const float *f, const uint16_t *b,
                                                                                long offset) {
    if (f) return _mm512_srli_epi32(dk_bf16_round_bits(_mm512_loadu_si512((const void *)(f + offset))), 16);
    return _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(b + offset)));
}

#endif
#endif
