// The C kernels' portable paths on another CPU architecture, against the same paths on x86-64:
// built twice by Scripts/check_aarch64.sh, natively (run with DICEKIT_ISA=portable) and for
// aarch64 (run under qemu-aarch64), each run writes the outputs of every kernel family that has a
// portable path, on fixed inputs, to a file; `compare` then checks the two files element by
// element. Run by hand or by `make check-aarch64`, never by the test suite.
//
//   portable_kernels_check run FILE      writes the outputs (and the levels the dispatch reports)
//   portable_kernels_check compare A B   exit status 1 when a record differs beyond its tolerance
//
// Tolerance: the kernels whose header promises the same bits at every level (normalisation,
// Adam, sums of squares, max pooling, layouts, bfloat16 conversions, the Lovász extension, the
// soft skeleton, rectifiers, averages) must match bit for bit; the Dice passes, whose portable
// loops let the compiler contract a·b + c into one FMA where the CPU has one (aarch64 always
// does, baseline x86-64 never), within 1e-5 relative.

#include "CDiceKitKernels.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The inputs must be the same bits on both CPUs: no a·b + c fused into one FMA here (aarch64
// would fuse them, baseline x86-64 cannot).
#pragma clang fp contract(off)

enum { NAME = 48, MAX_RECORDS = 64 };

typedef struct {
    char name[NAME];
    int exact;  // 1: bits must match; 0: within the relative tolerance
    long count;
    double *values;
} Record;

static Record records[MAX_RECORDS];
static int record_count;

static void record(const char *name, int exact, const double *values, long count) {
    if (record_count == MAX_RECORDS) {
        fprintf(stderr, "portable_kernels_check: more than %d records\n", MAX_RECORDS);
        exit(2);
    }
    Record *r = &records[record_count++];
    snprintf(r->name, NAME, "%s", name);
    r->exact = exact;
    r->count = count;
    r->values = malloc((size_t)count * sizeof(double));
    memcpy(r->values, values, (size_t)count * sizeof(double));
}

static void record_floats(const char *name, int exact, const float *values, long count) {
    double *d = malloc((size_t)count * sizeof(double));
    for (long i = 0; i < count; i++) d[i] = values[i];
    record(name, exact, d, count);
    free(d);
}

static void record_u16(const char *name, const uint16_t *values, long count) {
    double *d = malloc((size_t)count * sizeof(double));
    for (long i = 0; i < count; i++) d[i] = values[i];
    record(name, 1, d, count);
    free(d);
}

/// Uniform Floats in [lo, hi) from a fixed xorshift stream.
static uint64_t state = 0x9E3779B97F4A7C15ull;
static float uniform(float lo, float hi) {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    return lo + (hi - lo) * (float)((state >> 40) * (1.0 / 16777216.0));
}
static float *uniforms(long n, float lo, float hi) {
    float *x = malloc((size_t)n * sizeof(float));
    for (long i = 0; i < n; i++) x[i] = uniform(lo, hi);
    return x;
}

// MARK: - The kernels

/// Off x86-64, what the dispatch must report there: the portable level, no direct convolutions,
/// no bfloat16 kernels, no focal-loss kernels (0: the Swift passes). 1 when it does.
static int dispatch_levels(void) {
#if defined(__x86_64__)
    return 1;
#else
    double sums[2];
    const float x[2] = {0, 1};
    const int32_t labels[2] = {0, 1};
    const int focal = dk_focal_sigmoid_labels_f32(x, labels, 2, 1, 0, x, x, 2, 1, NULL, sums);
    printf("dispatch: level %d, direct convolutions %d, bfloat16 level %d, focal kernels %d\n", (int)dk_isa(),
           dk_conv_direct_enabled(), (int)dk_bf16_detected(), focal);
    return dk_isa() == DK_ISA_PORTABLE && dk_isa_detected() == DK_ISA_PORTABLE && !dk_conv_direct_enabled() &&
           dk_bf16_detected() == DK_BF16_NONE && focal == 0;
#endif
}

static void dice(void) {
    const int C = 3;
    const long S = 1000;
    float *x = uniforms(S * C, -4, 4), *probs = malloc(S * C * sizeof(float));
    int32_t *labels = malloc(S * sizeof(int32_t));
    for (long s = 0; s < S; s++) labels[s] = (int32_t)(uniform(0, 3.999f));
    dk_geometry geo = {.spatial = S, .s0 = 0, .s1 = S, .channels = C, .channels_last = 1,
                       .activation = DK_ACTIVATION_SOFTMAX, .cross_entropy = DK_CROSS_ENTROPY_SOFTMAX,
                       .ce_scale = 0.5f, .label_limit = C};
    dk_stats st;
    dk_stats_f32(&geo, x, labels, probs, &st);
    double sums[4 * 3 + 2];
    for (int c = 0; c < C; c++) sums[c] = st.tp[c], sums[C + c] = st.p[c], sums[2 * C + c] = st.g[c];
    sums[9] = st.counted, sums[10] = st.ce;
    record("dice softmax + CE: sums", 0, sums, 11);
    const float a[3] = {-0.5f, -0.25f, -1}, b[3] = {0.125f, 0.25f, 0.5f};
    dk_grad_f32(&geo, labels, probs, a, b);
    record_floats("dice softmax + CE: gradient", 0, probs, S * C);
    geo.activation = DK_ACTIVATION_SIGMOID, geo.cross_entropy = DK_CROSS_ENTROPY_NONE, geo.channels_last = 0;
    geo.squared = 1;
    float *t = uniforms(S * C, 0, 1);
    dk_stats_dense_f32(&geo, x, t, probs, &st);
    for (int c = 0; c < C; c++) sums[c] = st.tp[c], sums[C + c] = st.p[c], sums[2 * C + c] = st.g[c];
    record("dice sigmoid squared, dense: sums", 0, sums, 9);
    const float f[3] = {0, 0, 0};
    dk_grad_dense_f32(&geo, t, probs, a, b, f);
    record_floats("dice sigmoid squared, dense: gradient", 0, probs, S * C);
    free(x), free(probs), free(labels), free(t);
}

static void normalization(void) {
    const long rows = 333, C = 24;
    float *x = uniforms(rows * C, -3, 5), *dy = uniforms(rows * C, -1, 1);
    double mean[24], var[24], dbeta[24], dgamma[24];
    dk_norm_moments_f32(x, rows, C, mean, var);
    record("normalization moments: mean", 1, mean, C);
    record("normalization moments: variance", 1, var, C);
    float shift[24], scale[24], gamma[24], beta[24], mdy[24], mdyx[24];
    for (int c = 0; c < C; c++) {
        shift[c] = (float)mean[c], scale[c] = 1 / sqrtf((float)var[c] + 1e-5f);
        gamma[c] = uniform(0.5f, 1.5f), beta[c] = uniform(-0.5f, 0.5f);
    }
    float *xhat = malloc(rows * C * sizeof(float)), *y = malloc(rows * C * sizeof(float));
    dk_norm_normalize_f32(x, rows, C, shift, scale, gamma, beta, DK_NORM_RELU, 0, xhat, y);
    record_floats("normalization forward with ReLU: y", 1, y, rows * C);
    dk_norm_rectified_gradient_sums_f32(dy, xhat, y, 0, 0, rows, C, dbeta, dgamma);
    record("normalization rectified sums: dbeta", 1, dbeta, C);
    record("normalization rectified sums: dgamma", 1, dgamma, C);
    for (int c = 0; c < C; c++) mdy[c] = (float)(dbeta[c] / rows), mdyx[c] = (float)(dgamma[c] / rows);
    dk_norm_batch_input_gradient_f32(dy, xhat, rows, C, scale, gamma, mdy, mdyx, y);
    record_floats("normalization input gradient", 1, y, rows * C);
    free(x), free(dy), free(xhat), free(y);
}

static void pooling(void) {
    const long H = 10, W = 14, C = 20;  // 20 channels: a whole 16 and a tail where vectors exist
    float *x = uniforms(H * W * C, -1, 1);
    x[7] = NAN, x[W * C + 3] = x[3];  // NaN propagates; a tie keeps the first tap
    float *y = malloc(H / 2 * W / 2 * C * sizeof(float)), *dx = malloc(H * W * C * sizeof(float));
    uint8_t *taps = malloc(H / 2 * W / 2 * C);
    dk_maxpool_halving_f32(x, y, taps, H / 2, 1, W / 2, W, C, 1);
    record_floats("max pooling: output", 1, y, H / 2 * W / 2 * C);
    dk_maxpool_halving_back_f32(y, taps, x, dx, H / 2, 1, W / 2, W, C, 1);
    record_floats("max pooling backward with addend", 1, dx, H * W * C);
    free(x), free(y), free(dx), free(taps);
}

static void layouts_and_bfloat16(void) {
    const long a = 20, b = 12, k = 9, n = a * b * k;
    float *w = uniforms(n, -1, 1), *p = malloc(n * sizeof(float)), *back = malloc(n * sizeof(float));
    dk_kernel_to_pytorch(w, p, a, b, k, 0, b, DK_LAYOUT_WRITE);
    record_floats("kernel layout to PyTorch's", 1, p, n);
    dk_kernel_from_pytorch(p, back, a, b, k, 0, b);
    record_floats("kernel layout from PyTorch's", 1, back, n);
    w[0] = NAN, w[1] = 1e-40f, w[2] = -3.3961e38f, w[3] = 1.00390625f;  // NaN, subnormal, overflow, a tie
    uint16_t *bits = malloc(n * sizeof(uint16_t));
    dk_f32_to_bf16(w, bits, n);
    record_u16("bfloat16 rounding: bits", bits, n);
    dk_bf16_to_f32(bits, p, n);
    record_floats("bfloat16 widening", 1, p, n);
    free(w), free(p), free(back), free(bits);
}

static void optimizer_and_averages(void) {
    const long n = 1001;
    float *p = uniforms(n, -1, 1), *g = uniforms(n, -1, 1), *m = uniforms(n, -0.1f, 0.1f), *v = uniforms(n, 0, 0.01f);
    const dk_adam_constants k = {1e-3f, 0.9f, 0.9f, 0.999f, 1e-8f, 1e-2f, 0.9999f};
    dk_adam_update_f32(p, g, m, v, n, &k);
    record_floats("Adam: parameters", 1, p, n);
    record_floats("Adam: second moments", 1, v, n);
    const double squares = dk_sum_squares_f32(g, n);
    record("sum of squares", 1, &squares, 1);
    dk_lerp_inplace_f32(p, g, n, 0.01f, 1);
    record_floats("lerp (EMA weights)", 1, p, n);
    dk_rectify_inplace_f32(g, n, 0.01f, 1);
    record_floats("leaky ReLU", 1, g, n);
    free(p), free(g), free(m), free(v);
}

static void lovasz_and_skeleton(void) {
    const long m = 500;
    float *keys = uniforms(m, -1, 2), *slope = malloc(m * sizeof(float));
    uint8_t *fg = malloc(m);
    for (long i = 0; i < m; i++) fg[i] = uniform(0, 1) < 0.3f;
    keys[5] = keys[6];  // a tie: ordered by index
    uint64_t *scratch = malloc(2 * m * sizeof(uint64_t));
    const double value = dk_lovasz_extension_f32(keys, fg, m, slope, scratch);
    record("Lovász extension", 1, &value, 1);
    record_floats("Lovász slopes", 1, slope, m);
    const long h = 12, w = 13, count = h * w;
    const int iterations = 3;
    float *image = uniforms(count, 0, 1), *cot = uniforms(2 * count, -1, 1);
    float *skel = malloc(count * sizeof(float)), *products = malloc(2 * count * sizeof(float));
    float *work = malloc(dk_soft_skeleton_work(count, iterations, 1) * sizeof(float));
    int32_t *integers = malloc(DK_SKELETON_INTEGERS_PER_ELEMENT * count * sizeof(int32_t));
    dk_soft_skeleton_vjp2_f32(image, cot, 1, h, w, 0, iterations, skel, products, work, integers);
    record_floats("soft skeleton", 1, skel, count);
    record_floats("soft skeleton: vector-Jacobian products", 1, products, 2 * count);
    free(keys), free(slope), free(fg), free(scratch), free(image), free(cot), free(skel), free(products), free(work),
        free(integers);
}

// MARK: - Files

static int write_records(const char *path) {
    FILE *f = fopen(path, "wb");
    if (!f) return perror(path), 2;
    fwrite(&record_count, sizeof record_count, 1, f);
    for (int i = 0; i < record_count; i++) {
        fwrite(records[i].name, NAME, 1, f);
        fwrite(&records[i].exact, sizeof(int), 1, f);
        fwrite(&records[i].count, sizeof(long), 1, f);
        fwrite(records[i].values, sizeof(double), (size_t)records[i].count, f);
    }
    return fclose(f) == 0 ? 0 : 2;
}

static int read_records(const char *path, Record *out, int *count) {
    FILE *f = fopen(path, "rb");
    if (!f) return perror(path), 0;
    int ok = fread(count, sizeof *count, 1, f) == 1 && *count >= 0 && *count <= MAX_RECORDS;
    for (int i = 0; ok && i < *count; i++) {
        Record *r = &out[i];
        ok = fread(r->name, NAME, 1, f) == 1 && fread(&r->exact, sizeof(int), 1, f) == 1 &&
             fread(&r->count, sizeof(long), 1, f) == 1 && r->count >= 0 && r->count < (1L << 24);
        r->name[NAME - 1] = 0;
        if (ok) {
            r->values = malloc((size_t)r->count * sizeof(double));
            ok = fread(r->values, sizeof(double), (size_t)r->count, f) == (size_t)r->count;
        }
    }
    fclose(f);
    if (!ok) fprintf(stderr, "portable_kernels_check: %s: not a complete output of `run`\n", path);
    return ok;
}

static int same_bits(double a, double b) { return memcmp(&a, &b, sizeof a) == 0 || (isnan(a) && isnan(b)); }

static int compare(const char *path_a, const char *path_b) {
    static Record a[MAX_RECORDS], b[MAX_RECORDS];
    int na, nb;
    if (!read_records(path_a, a, &na) || !read_records(path_b, b, &nb)) return 2;
    if (na != nb) {
        fprintf(stderr, "portable_kernels_check: %d records against %d\n", na, nb);
        return 1;
    }
    int failed = 0;
    printf("| record | values | identical bits | largest relative difference | verdict |\n| --- | --- | --- | --- | --- |\n");
    for (int i = 0; i < na; i++) {
        if (strcmp(a[i].name, b[i].name) != 0 || a[i].count != b[i].count) {
            fprintf(stderr, "portable_kernels_check: record %d is '%s' (%ld) against '%s' (%ld)\n", i, a[i].name,
                    a[i].count, b[i].name, b[i].count);
            return 1;
        }
        long identical = 0;
        double worst = 0;
        for (long j = 0; j < a[i].count; j++) {
            const double x = a[i].values[j], y = b[i].values[j];
            if (same_bits(x, y)) {
                identical++;
                continue;
            }
            const double scale = fmax(fmax(fabs(x), fabs(y)), 1e-6);
            const double relative = isnan(x) || isnan(y) ? INFINITY : fabs(x - y) / scale;
            if (relative > worst) worst = relative;
        }
        const int ok = a[i].exact ? identical == a[i].count : worst <= 1e-5;
        failed |= !ok;
        printf("| %s | %ld | %ld | %.3g | %s |\n", a[i].name, a[i].count, identical, worst,
               ok ? (a[i].exact ? "same bits, as required" : "within 1e-5") : "DIFFERS");
    }
    return failed;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "run") == 0) {
        if (!dispatch_levels()) {
            fprintf(stderr, "portable_kernels_check: the dispatch reports vector kernels on this CPU\n");
            return 1;
        }
        dice();
        normalization();
        pooling();
        layouts_and_bfloat16();
        optimizer_and_averages();
        lovasz_and_skeleton();
        return write_records(argv[2]);
    }
    if (argc == 4 && strcmp(argv[1], "compare") == 0) return compare(argv[2], argv[3]);
    fprintf(stderr, "usage: portable_kernels_check run FILE | compare A B\n");
    return 2;
}
