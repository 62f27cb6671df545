// The polynomial e^x and ln x shared by the Dice- and focal-loss kernels (dice/, focal/):
// Cephes-style forms for Float, as scalar C that the compiler vectorises for the caller's target
// (dk_expf, dk_logf) and as AVX-512 intrinsics (exp512, expneg512, log512) and as AVX2 + FMA
// intrinsics (exp256, expneg256, log256: the same operations, 2^n built from the exponent bits
// where AVX-512 has vscalefps, and log256's polynomial in Estrin's order). Static inline: every
// variant compiles them for its own instruction set. Internal: not part of the public headers.
#ifndef DK_POLYNOMIALS_H
#define DK_POLYNOMIALS_H

#include <stdint.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

/// The target of the AVX-512 kernels and of their helpers.
#define DK512 __attribute__((target("avx512f,avx512bw,avx512dq,fma")))
/// The target of the AVX2 kernels and of their helpers.
#define DK256 __attribute__((target("avx2,fma")))

// MARK: - Portable (any target)

// Branch-free so that loops over lanes vectorise (floorf would be a libm call without SSE4.1).
static inline __attribute__((always_inline)) float dk_expf(float x) {
    x = x < -87.3f ? -87.3f : x;
    x = x > 88.3f ? 88.3f : x;
    float t = x * 1.44269504088896341f + 0.5f;
    float fx = (float)(int32_t)t;
    fx = fx > t ? fx - 1.0f : fx;                 // floor(t)
    float r = x - fx * 0.693359375f;
    r = r + fx * 2.12194440e-4f;
    float r2 = r * r;
    float y = 1.9875691500e-4f;
    y = y * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * r2 + r + 1.0f;
    uint32_t bits = (uint32_t)((int32_t)fx + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return y * scale;
}

// ln x for normal x > 0 (Cephes logf: x = m·2^e, m in [√½, √2), degree-8 polynomial), branch-free.
static inline __attribute__((always_inline)) float dk_logf(float x) {
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    int32_t e = (int32_t)((bits >> 23) & 0xff) - 126;
    bits = (bits & 0x807fffffu) | 0x3f000000u;           // m in [0.5, 1)
    float m;
    memcpy(&m, &bits, sizeof m);
    int small = m < 0.707106781186547524f;
    e = small ? e - 1 : e;
    float t = small ? m + m - 1.0f : m - 1.0f;
    float z = t * t;
    float y = 7.0376836292e-2f;
    y = y * t - 1.1514610310e-1f;
    y = y * t + 1.1676998740e-1f;
    y = y * t - 1.2420140846e-1f;
    y = y * t + 1.4249322787e-1f;
    y = y * t - 1.6668057665e-1f;
    y = y * t + 2.0000714765e-1f;
    y = y * t - 2.4999993993e-1f;
    y = y * t + 3.3333331174e-1f;
    y = y * t * z;
    float fe = (float)e;
    y += fe * -2.12194440e-4f;
    y += -0.5f * z;
    return t + y + fe * 0.693359375f;
}

// MARK: - AVX-512 (x86-64 only, as every vector variant: other CPUs run the portable code)

#if defined(__x86_64__)

DK512 static inline __attribute__((always_inline)) __m512 exp512(__m512 x) {
    x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.3f)), _mm512_set1_ps(-87.3f));
    __m512 fx = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fmadd_ps(fx, _mm512_set1_ps(2.12194440e-4f), r);
    __m512 r2 = _mm512_mul_ps(r, r);
    __m512 y = _mm512_set1_ps(1.9875691500e-4f);
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.3981999507e-3f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(8.3334519073e-3f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.1665795894e-2f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.6666665459e-1f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(5.0000001201e-1f));
    y = _mm512_fmadd_ps(y, r2, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(y, fx);
}

/// e^(−z) for the sigmoid, with z clamped to [−87.3, 87.3] (−z in exp512's range). Cheaper than
/// exp512(0 − z): the negation folds into the reduction (fnmsub), and the polynomial is a
/// degree-6 minimax fit of e^r on [−ln2/2, ln2/2] in Horner form (6 FMAs instead of Cephes'
/// 8 operations; fit error 0.05·2⁻²⁴; degree 5 would reach 2.2 ulp). Measured against double
/// exp on every third float of the range: at most 0.91 ulp (exp512: 1.26 ulp).
DK512 static inline __attribute__((always_inline)) __m512 expneg512(__m512 z) {
    // One vrangeps instead of a min and a max: imm 0b00_10 takes the smaller magnitude with the
    // sign of the first operand, i.e. sign(z)·min(|z|, 87.3).
    z = _mm512_range_ps(z, _mm512_set1_ps(87.3f), 0x02);
    __m512 fx = _mm512_roundscale_ps(_mm512_mul_ps(z, _mm512_set1_ps(-1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmsub_ps(fx, _mm512_set1_ps(0.693359375f), z);   // −z − fx·ln2_hi, exact
    r = _mm512_fmadd_ps(fx, _mm512_set1_ps(2.12194440e-4f), r);         // + fx·(ln2_hi − ln2)
    __m512 y = _mm512_fmadd_ps(_mm512_set1_ps(1.38146128e-3f), r, _mm512_set1_ps(8.36871006e-3f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.16683890e-2f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.66665211e-1f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.99999940e-1f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.0f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(y, fx);
}

/// ln x for normal x > 0, the same Cephes polynomial as dk_logf.
DK512 static inline __attribute__((always_inline)) __m512 log512(__m512 x) {
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512i bits = _mm512_castps_si512(x);
    __m512i e = _mm512_sub_epi32(_mm512_and_si512(_mm512_srli_epi32(bits, 23), _mm512_set1_epi32(0xff)), _mm512_set1_epi32(126));
    __m512 m = _mm512_castsi512_ps(_mm512_or_si512(_mm512_and_si512(bits, _mm512_set1_epi32((int)0x807fffff)),
                                                   _mm512_set1_epi32(0x3f000000)));
    __mmask16 small = _mm512_cmp_ps_mask(m, _mm512_set1_ps(0.707106781186547524f), _CMP_LT_OQ);
    __m512 fe = _mm512_cvtepi32_ps(e);
    fe = _mm512_mask_sub_ps(fe, small, fe, one);
    __m512 t = _mm512_sub_ps(m, one);
    t = _mm512_mask_add_ps(t, small, t, m);
    __m512 z = _mm512_mul_ps(t, t);
    __m512 y = _mm512_set1_ps(7.0376836292e-2f);
    y = _mm512_fmadd_ps(y, t, _mm512_set1_ps(-1.1514610310e-1f));
    y = _mm512_fmadd_ps(y, t, _mm512_set1_ps(1.1676998740e-1f));
    y = _mm512_fmadd_ps(y, t, _mm512_set1_ps(-1.2420140846e-1f));
    y = _mm512_fmadd_ps(y, t, _mm512_set1_ps(1.4249322787e-1f));
    y = _mm512_fmadd_ps(y, t, _mm512_set1_ps(-1.6668057665e-1f));
    y = _mm512_fmadd_ps(y, t, _mm512_set1_ps(2.0000714765e-1f));
    y = _mm512_fmadd_ps(y, t, _mm512_set1_ps(-2.4999993993e-1f));
    y = _mm512_fmadd_ps(y, t, _mm512_set1_ps(3.3333331174e-1f));
    y = _mm512_mul_ps(_mm512_mul_ps(y, t), z);
    y = _mm512_fmadd_ps(fe, _mm512_set1_ps(-2.12194440e-4f), y);
    y = _mm512_fmadd_ps(z, _mm512_set1_ps(-0.5f), y);
    return _mm512_fmadd_ps(fe, _mm512_set1_ps(0.693359375f), _mm512_add_ps(t, y));
}

// MARK: - AVX2 + FMA

/// y·2^n for a whole-valued n in [−126, 127] (the exponents exp256 and expneg256 produce): the
/// power built from its exponent bits, a normal Float, so the product is vscalefps' result.
DK256 static inline __attribute__((always_inline)) __m256 scale256(__m256 y, __m256 n) {
    __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(bits));
}

/// e^x, the operations of exp512 (x clamped to [−87.3, 88.3]).
DK256 static inline __attribute__((always_inline)) __m256 exp256(__m256 x) {
    x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.3f)), _mm256_set1_ps(-87.3f));
    __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fmadd_ps(fx, _mm256_set1_ps(2.12194440e-4f), r);
    __m256 r2 = _mm256_mul_ps(r, r);
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_fmadd_ps(y, r2, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    return scale256(y, fx);
}

/// e^(−z) for the sigmoid, the operations of expneg512 (z clamped to [−87.3, 87.3]).
DK256 static inline __attribute__((always_inline)) __m256 expneg256(__m256 z) {
    z = _mm256_max_ps(_mm256_min_ps(z, _mm256_set1_ps(87.3f)), _mm256_set1_ps(-87.3f));
    __m256 fx = _mm256_round_ps(_mm256_mul_ps(z, _mm256_set1_ps(-1.44269504088896341f)),
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmsub_ps(fx, _mm256_set1_ps(0.693359375f), z);
    r = _mm256_fmadd_ps(fx, _mm256_set1_ps(2.12194440e-4f), r);
    __m256 y = _mm256_fmadd_ps(_mm256_set1_ps(1.38146128e-3f), r, _mm256_set1_ps(8.36871006e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.16683890e-2f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.66665211e-1f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.99999940e-1f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.0f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.0f));
    return scale256(y, fx);
}

/// ln x for normal x > 0, the operations of log512 except the polynomial's order: Estrin's scheme
/// (depth 4) instead of Horner's (depth 9). The AVX2 loops that call it are bound by latency, not
/// throughput: the focal losses' passes ran 6–8 % faster with it (in cache, AMD Zen 4). Worst
/// error over every third positive normal float: 0.86 ulp (Horner's: 0.83; Scripts/kernel_costs.c).
DK256 static inline __attribute__((always_inline)) __m256 log256(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256i bits = _mm256_castps_si256(x);
    __m256i e = _mm256_sub_epi32(_mm256_and_si256(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(0xff)),
                                 _mm256_set1_epi32(126));
    __m256 m = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32((int)0x807fffff)),
                                                   _mm256_set1_epi32(0x3f000000)));
    __m256 small = _mm256_cmp_ps(m, _mm256_set1_ps(0.707106781186547524f), _CMP_LT_OQ);
    __m256 fe = _mm256_sub_ps(_mm256_cvtepi32_ps(e), _mm256_and_ps(small, one));
    __m256 t = _mm256_add_ps(_mm256_sub_ps(m, one), _mm256_and_ps(small, m));
    __m256 z = _mm256_mul_ps(t, t), z2 = _mm256_mul_ps(z, z), z4 = _mm256_mul_ps(z2, z2);
    // Σ c_i·t^i, i = 0…8 (c_8 = 7.04e-2, c_0 = 1/3), as pairs, then quadruples, then c_8·t⁸.
    __m256 p01 = _mm256_fmadd_ps(_mm256_set1_ps(-2.4999993993e-1f), t, _mm256_set1_ps(3.3333331174e-1f));
    __m256 p23 = _mm256_fmadd_ps(_mm256_set1_ps(-1.6668057665e-1f), t, _mm256_set1_ps(2.0000714765e-1f));
    __m256 p45 = _mm256_fmadd_ps(_mm256_set1_ps(-1.2420140846e-1f), t, _mm256_set1_ps(1.4249322787e-1f));
    __m256 p67 = _mm256_fmadd_ps(_mm256_set1_ps(-1.1514610310e-1f), t, _mm256_set1_ps(1.1676998740e-1f));
    __m256 q03 = _mm256_fmadd_ps(p23, z, p01), q47 = _mm256_fmadd_ps(p67, z, p45);
    __m256 y = _mm256_fmadd_ps(_mm256_set1_ps(7.0376836292e-2f), z4, _mm256_fmadd_ps(q47, z2, q03));
    y = _mm256_mul_ps(_mm256_mul_ps(y, t), z);
    y = _mm256_fmadd_ps(fe, _mm256_set1_ps(-2.12194440e-4f), y);
    y = _mm256_fmadd_ps(z, _mm256_set1_ps(-0.5f), y);
    return _mm256_fmadd_ps(fe, _mm256_set1_ps(0.693359375f), _mm256_add_ps(t, y));
}

#endif // defined(__x86_64__)

#endif
