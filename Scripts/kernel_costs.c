// The C driver behind Docs/DiceMath.md §7: the single-thread cost per prediction element of the
// Dice-loss kernels (pass 1 statistics, pass 2 gradient) for each instruction set, and the
// accuracy of the AVX-512 and AVX2 exponentials and logarithms in ulp against double precision.
//
// Run by hand from the repository root (never by CI), with the toolchain's clang (the compiler
// SwiftPM uses for the C target; GCC 12 at -O2 leaves the portable and AVX2 lane loops scalar
// and reports ~20 times their cost):
//   K=Sources/CDiceKitKernels
//   /opt/swift/usr/bin/clang -O2 -I$K/include Scripts/kernel_costs.c $K/dice/*.c $K/platform/cpu_dispatch.c \
//       -lm -lpthread -o /tmp/kernel_costs
//   /tmp/kernel_costs            # cost table (a few seconds)
//   /tmp/kernel_costs ulp [K]    # exp and log accuracy on every K-th float of the range (default 3,
//                                # about 20 s)
// It links the kernels' own sources, includes their polynomial header (so the static inline
// AVX-512 and AVX2 polynomials are reachable) and forces each instruction set with
// dk_force_isa; one sample of S = 65536 positions (L2-resident), median of 41 runs. Prints the
// CPU (model, family and vector flags; driver_support.h) first.

#define _GNU_SOURCE
#include "CDiceKitKernels.h"
#include "driver_support.h"
#include "../Sources/CDiceKitKernels/math/dk_polynomials.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { S = 65536, RUNS = 41 };


static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}


typedef struct { const char *name; int channels, channels_last, activation, cross_entropy; } Case;

/// Median nanoseconds per prediction element of pass 1 and pass 2 for one case.
static void cost(const Case *k, double *pass1, double *pass2) {
    const int C = k->channels;
    float *x = aligned_alloc(64, sizeof(float) * S * C), *probs = aligned_alloc(64, sizeof(float) * S * C);
    float *grad = aligned_alloc(64, sizeof(float) * S * C);
    int32_t *labels = aligned_alloc(64, sizeof(int32_t) * S);
    unsigned seed = 12345;
    for (long i = 0; i < (long)S * C; i++) { seed = seed * 1103515245u + 12345u; x[i] = 4.0f * ((seed >> 8) / 16777216.0f) - 2.0f; }
    for (long i = 0; i < S; i++) { seed = seed * 1103515245u + 12345u; labels[i] = (int32_t)((seed >> 8) % (C == 1 ? 2 : C)); }
    dk_geometry geo = {.spatial = S, .s0 = 0, .s1 = S, .channels = C, .channels_last = k->channels_last,
                       .activation = k->activation, .cross_entropy = k->cross_entropy, .ce_scale = 1.0f / S,
                       .label_offset = C == 1 ? 1 : 0, .label_limit = C == 1 ? 2 : C};
    float a[16], b[16];
    for (int c = 0; c < 16; c++) { a[c] = -0.5f / S; b[c] = 0.1f / S; }
    double t1[RUNS], t2[RUNS];
    dk_stats stats;
    for (int r = 0; r < RUNS; r++) {
        double t = now();
        dk_stats_f32(&geo, x, labels, probs, &stats);
        t1[r] = now() - t;
        memcpy(grad, probs, sizeof(float) * S * C);
        t = now();
        dk_grad_f32(&geo, labels, grad, a, b);
        t2[r] = now() - t;
    }
    qsort(t1, RUNS, sizeof(double), compare);
    qsort(t2, RUNS, sizeof(double), compare);
    *pass1 = t1[RUNS / 2] * 1e9 / ((double)S * C);
    *pass2 = t2[RUNS / 2] * 1e9 / ((double)S * C);
    free(x); free(probs); free(grad); free(labels);
}

static void cost_table(void) {
    static const Case cases[] = {
        {"softmax, C = 4, channels-last", 4, 1, 2, 0},
        {"softmax, C = 4, channels-first", 4, 0, 2, 0},
        {"softmax, C = 3, channels-last", 3, 1, 2, 0},
        {"sigmoid, C = 1", 1, 1, 1, 0},
        {"softmax + CE, C = 4, channels-last", 4, 1, 2, 1},
    };
    static const char *names[] = {"portable", "AVX2", "AVX-512"};
    printf("| case | AVX-512 pass 1 / pass 2 | AVX2 pass 1 / pass 2 | portable pass 1 / pass 2 |\n");
    printf("| --- | --- | --- | --- |\n");
    for (unsigned i = 0; i < sizeof cases / sizeof *cases; i++) {
        printf("| %s |", cases[i].name);
        for (int isa = 2; isa >= 0; isa--) {
            dk_force_isa(isa);
            if (dk_isa() != isa) { printf(" (no %s) |", names[isa]); continue; }
            double p1, p2;
            cost(&cases[i], &p1, &p2);
            printf(" %.2f / %.2f ns |", p1, p2);
        }
        printf("\n");
    }
    dk_force_isa(DK_ISA_AUTOMATIC);
}

/// Distance in ulp of `y` from the exact `e` (the ulp of the float nearest to e).
static double ulps(float y, double e) {
    float f = (float)e;
    double ulp = (double)nextafterf(fabsf(f), INFINITY) - fabsf(f);
    return fabs((double)y - e) / ulp;
}

/// Evaluates e^x (which == 0), e^(−z) (which == 1) or ln x (which == 2) on 16 floats with one
/// instruction set's polynomials.
typedef void (*exp16_fn)(int which, const float *in, float *out);

DK512 static void exp16_avx512(int which, const float *in, float *out) {
    __m512 x = _mm512_loadu_ps(in);
    _mm512_storeu_ps(out, which == 0 ? exp512(x) : which == 1 ? expneg512(x) : log512(x));
}

DK256 static void exp16_avx2(int which, const float *in, float *out) {
    for (int h = 0; h < 16; h += 8) {
        __m256 x = _mm256_loadu_ps(in + h);
        _mm256_storeu_ps(out + h, which == 0 ? exp256(x) : which == 1 ? expneg256(x) : log256(x));
    }
}

/// The worst ulp of ln x over every `step`-th positive normal float.
static double log_accuracy(exp16_fn fn16, long step) {
    float in[16], out[16];
    double worst = 0;
    int n = 0;
    const float lo = FLT_MIN, hi = FLT_MAX;
    uint32_t first, last;
    memcpy(&first, &lo, 4);
    memcpy(&last, &hi, 4);
    for (uint64_t u = first; u <= last; u += (uint64_t)step) {
        uint32_t bits = (uint32_t)u;
        memcpy(&in[n++], &bits, 4);
        if (n < 16) continue;
        fn16(2, in, out);
        for (int j = 0; j < 16; j++) {
            double err = ulps(out[j], log((double)in[j]));
            if (err > worst) worst = err;
        }
        n = 0;
    }
    return worst;
}

/// The worst ulp of `exp16` over the floats of [−87.3, 88.3] (e^x) and [−87.3, 87.3] (e^(−z)),
/// every `step`-th one, in *worst_exp and *worst_neg.
static void exp_accuracy(exp16_fn exp16, long step, double *worst_exp, double *worst_neg) {
    float in[16], out[16];
    for (int which = 0; which < 2; which++) {
        const float lo = -87.3f, hi = which == 0 ? 88.3f : 87.3f;
        double worst = 0;
        int n = 0;   // a last partial vector of fewer than 16 values is left out
        // Walk the floats of [lo, 0] and [0, hi] in steps of `step` representable values (bit
        // patterns: consecutive floats of one sign have consecutive patterns).
        for (int negative = 1; negative >= 0; negative--) {
            float limit = negative ? -lo : hi;
            uint32_t top;
            memcpy(&top, &limit, 4);
            for (uint64_t u = 0; u <= top; u += (uint64_t)step) {
                uint32_t bits = (uint32_t)u | (negative ? 0x80000000u : 0);
                memcpy(&in[n++], &bits, 4);
                if (n < 16) continue;
                exp16(which, in, out);
                for (int j = 0; j < 16; j++) {
                    double e = which == 0 ? exp((double)in[j]) : exp(-(double)in[j]);
                    double err = ulps(out[j], e);
                    if (err > worst) worst = err;
                }
                n = 0;
            }
        }
        if (which == 0) *worst_exp = worst; else *worst_neg = worst;
    }
}

int main(int argc, char **argv) {
    cpu_model();
    if (argc > 1 && strcmp(argv[1], "ulp") == 0) {
        const long step = argc > 2 ? atol(argv[2]) : 3;
        const struct { const char *name; int supported; exp16_fn fn; } sets[] = {
            {"AVX-512", __builtin_cpu_supports("avx512f"), exp16_avx512},
            {"AVX2", __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"), exp16_avx2}};
        for (int i = 0; i < 2; i++) {
            if (!sets[i].supported) { printf("%s: not on this CPU\n", sets[i].name); continue; }
            double worst_exp, worst_neg;
            exp_accuracy(sets[i].fn, step, &worst_exp, &worst_neg);
            printf("%s, floats %ld apart: e^x (Cephes form) %.2f ulp; e^(-z) (degree 6) %.2f ulp; ln x %.2f ulp\n",
                   sets[i].name, step, worst_exp, worst_neg, log_accuracy(sets[i].fn, step));
        }
        return 0;
    }
    cost_table();
    return 0;
}
