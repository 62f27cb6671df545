// The multiply–add rates of vdpbf16ps and of Float FMAs on the calling core, measured: which of
// the two AVX-512 arithmetics of a bfloat16 convolution is faster is a property of the core that
// CPUID does not report (Sources/DiceKit/Support/BFloat16Arithmetic.swift). Each stream runs 24
// independent 512-bit accumulator chains, so each is bound by its instruction's throughput, not
// its latency: an instruction needs as many chains as its latency × its issue rate. 12 (until
// 2026-12-06) held vdpbf16ps on a Zen 5 to 93 % of its rate (267 against 286 multiply-adds/ns;
// 16 chains and more gave 286), and its kernels then read above 100 % of it. 24 accumulators and
// the two operands fit the 32 vector registers. The two streams alternate and each keeps its
// fastest of five runs, so a run slowed by the other core's work or a preemption does not count.
// Where the tile unit is granted, its rate too: tdpbf16ps on the 2 × 2 blocks of four
// independent sums that the tile kernels use (conv_amx_kernel.h), operands loaded once, the
// ceiling a tile kernel's figures are a fraction of.

#include "dk_bf16.h"
#include "../convolution/conv_internal.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <time.h>

#define DK_RATE_CHAINS 24
#define DK_RATE_RUNS 5

#if defined(__x86_64__)
/// Where the sums go, so that the compiler keeps the loops.
static volatile float rate_sink;
#endif

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#if defined(__x86_64__)
/// Seconds for `iterations` × DK_RATE_CHAINS vdpbf16ps (32 multiply–adds each); adds a value of
/// the sums to *sink so that nothing is optimised away.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"), noinline)) static double
time_dot_products(long iterations, float *sink) {
    __m512 acc[DK_RATE_CHAINS];
    for (int i = 0; i < DK_RATE_CHAINS; i++) acc[i] = _mm512_setzero_ps();
    __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80);  // 1.0
    const __m512bh b = (__m512bh)_mm512_set1_epi16(0x3a80);  // 2⁻¹⁰
    const double start = now_seconds();
    for (long k = 0; k < iterations; k++) {
        for (int i = 0; i < DK_RATE_CHAINS; i++) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
        __asm__ volatile("" : "+v"(a));  // an operand the compiler cannot hoist or fold
    }
    const double seconds = now_seconds() - start;
    for (int i = 0; i < DK_RATE_CHAINS; i++) *sink += _mm512_reduce_add_ps(acc[i]);
    return seconds;
}

/// Seconds for `iterations` × DK_RATE_CHAINS Float vfmadd231ps (16 multiply–adds each).
__attribute__((target("avx512f,fma"), noinline)) static double time_fmas(long iterations, float *sink) {
    __m512 acc[DK_RATE_CHAINS];
    for (int i = 0; i < DK_RATE_CHAINS; i++) acc[i] = _mm512_setzero_ps();
    __m512 a = _mm512_set1_ps(1.0f);
    const __m512 b = _mm512_set1_ps(0x1p-10f);
    const double start = now_seconds();
    for (long k = 0; k < iterations; k++) {
        for (int i = 0; i < DK_RATE_CHAINS; i++) acc[i] = _mm512_fmadd_ps(a, b, acc[i]);
        __asm__ volatile("" : "+v"(a));
    }
    const double seconds = now_seconds() - start;
    for (int i = 0; i < DK_RATE_CHAINS; i++) *sink += _mm512_reduce_add_ps(acc[i]);
    return seconds;
}

int dk_bf16_multiply_add_rates(long iterations, double *dot_per_ns, double *fma_per_ns) {
    if (dk_bf16_detected() < DK_BF16_AVX512 || iterations < 1) return -1;
    float sink = 0;
    time_fmas(iterations / 4 + 1, &sink);  // warm-up: the core reaches its AVX-512 clock
    double dot = 1e300, fma = 1e300;
    for (int run = 0; run < DK_RATE_RUNS; run++) {
        const double d = time_dot_products(iterations, &sink);
        const double f = time_fmas(iterations, &sink);
        if (d < dot) dot = d;
        if (f < fma) fma = f;
    }
    const double instructions = (double)iterations * DK_RATE_CHAINS;
    *dot_per_ns = 32 * instructions / (dot * 1e9);
    *fma_per_ns = 16 * instructions / (fma * 1e9);
    rate_sink = sink;
    return 0;
}
#else
int dk_bf16_multiply_add_rates(long iterations, double *dot_per_ns, double *fma_per_ns) {
    return -1;  // no bfloat16 dot products on CPUs other than x86-64
}
#endif

int dk_amx_tile_rate(long rounds, double *tile_per_ns) {
    if (dk_bf16_detected() != DK_BF16_AMX || rounds < 1 || rounds >= (1L << 19)) return -1;
    dk_amx_tile_products_run(1, rounds / 4 + 1);  // warm-up
    double best = 1e300;
    for (int run = 0; run < DK_RATE_RUNS; run++) {
        const double start = now_seconds();
        const double total = dk_amx_tile_products_run(1, rounds);
        const double seconds = now_seconds() - start;
        if (total != 32.0 * (double)rounds) return -1;  // the tile unit's sums are exact here
        if (seconds < best) best = seconds;
    }
    // 4 products per round, each 16 × 16 sums of 16 pairs: 8192 multiply–adds.
    *tile_per_ns = 4.0 * 8192.0 * (double)rounds / (best * 1e9);
    return 0;
}
