// The AVX-512 rounding of Float to bfloat16 shared by conv_bf16.c and conv_amx.c: the integer
// form of round to nearest, ties to even (conv_bf16.c's header comment), the same bits as
// dk_bf16_bits. Not part of the public header.
#ifndef DK_BF16_ROUND_H
#define DK_BF16_ROUND_H

#include <immintrin.h>

/// 16 Floats' bits rounded to bfloat16 in the upper halves of their 32-bit lanes (low halves
/// not cleared); a NaN keeps its sign and payload with the quiet bit set.
__attribute__((target("avx512f,avx512bw"))) static inline __m512i dk_bf16_round_bits(__m512i u) {
    const __m512i abs_mask = _mm512_set1_epi32(0x7FFFFFFF), inf = _mm512_set1_epi32(0x7F800000);
    const __m512i bias = _mm512_set1_epi32(0x7FFF), one = _mm512_set1_epi32(1), quiet = _mm512_set1_epi32(0x400000);
    __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, abs_mask), inf);
    __m512i rounded = _mm512_add_epi32(_mm512_add_epi32(u, bias), _mm512_and_si512(_mm512_srli_epi32(u, 16), one));
    return _mm512_mask_or_epi32(rounded, nan, u, quiet);
}

#endif
