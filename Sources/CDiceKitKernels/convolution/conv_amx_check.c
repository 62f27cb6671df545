// The tile kernels' self-check. Before a process uses the tile unit, bf16_dispatch.c runs both
// tile kernels of conv_amx.c on it over small problems whose every partial sum is exact in Float:
// the operands are integers in [−3, 3] and no sum comes near 2²⁴, so every order of the additions
// (the tile unit's, the model's, the reference's) gives the same bits, and any difference is a
// fault of the kernels' addressing, packing, tile configuration or use of the instructions. A
// process whose check fails keeps the AVX512-BF16 level: a faulty tile kernel costs speed, never a
// wrong number. The same check runs on the software model in the tests, on every CPU with
// AVX512-BF16.
//
// Cases: reductions in chunks of 16 and of 32, one and two 16-channel blocks per tile pair, a
// range that starts and ends mid-grid, widths that end a tile mid-line, ReLU, no bias, 3-D, 1×1
// products over rows, NaN in the read-ahead slack; the weight gradient over several samples,
// with row- and channel-block ranges that start past 0 and position chunks that end mid-sample.
// Every output outside a range or block must keep its initial value.

#include "dk_bf16.h"
#include "conv_internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/// One forward pass: output and kernel extents, channels, output range, ReLU, bias.
typedef struct {
    int od, oh, ow, kd, kh, kw, cin, cout;
    long q0, q1;
    int relu, bias;
} check_forward_case;

/// One weight gradient: samples, output and kernel extents, channels, row and channel blocks.
typedef struct {
    int samples, od, oh, ow, kd, kh, kw, cin, cout;
    long kb0, kb1, cb0, cb1;
    long chunk;  // grid positions per chunk of the tile loop (0: the whole batch in one)
} check_weight_case;

static const check_forward_case forward_cases[] = {
    {1, 5, 7, 1, 3, 3, 16, 16, 0, 35, 0, 1},  // chunks of 16, one channel block
    {1, 6, 9, 1, 3, 3, 32, 48, 3, 50, 1, 1},  // chunks of 32, a block pair and a single block, ReLU
    {2, 3, 4, 3, 3, 3, 16, 32, 0, 24, 0, 0},  // 3-D, no bias
    {1, 1, 37, 1, 1, 1, 64, 16, 5, 33, 1, 1}, // 1×1 over a row (the up-sampling's form)
};

static const check_weight_case weight_cases[] = {
    {2, 1, 5, 7, 1, 3, 3, 48, 32, 0, 27, 0, 2, 0},
    {3, 1, 6, 9, 1, 3, 3, 16, 48, 2, 8, 1, 3, 96},  // 64 positions per sample: chunks end mid-sample
    {2, 2, 3, 4, 3, 3, 3, 16, 16, 0, 27, 0, 1, 32},
};

/// The value every output outside a range or block starts with and must keep.
static const float check_untouched = 0.5f;

/// The next integer in [−3, 3] of a fixed linear congruential sequence.
static int check_value(unsigned *state) {
    *state = *state * 1103515245u + 12345u;
    return (int)((*state >> 16) % 7) - 3;
}

static dk_conv_geometry check_geometry(int od, int oh, int ow, int kd, int kh, int kw, int cin, int cout) {
    dk_conv_geometry g;
    memset(&g, 0, sizeof g);
    g.hp = oh + kh - 1, g.wp = ow + kw - 1;
    g.od = od, g.oh = oh, g.ow = ow;
    g.kd = kd, g.kh = kh, g.kw = kw;
    g.cin = cin, g.cout = cout;
    return g;
}

/// Element offset of input channel 0 under output position q and kernel tap (dz, dy, dx).
static long check_input_offset(const dk_conv_geometry *g, long q, int dz, int dy, int dx) {
    const long z = q / (g->oh * g->ow), r = q % (g->oh * g->ow);
    return (((z + dz) * g->hp + r / g->ow + dy) * g->wp + r % g->ow + dx) * g->cin;
}

/// Records one mismatch: counts it, and describes the first in `detail`.
static void check_report(int *failures, char *detail, long size, const char *what, float got, double expected) {
    if ((*failures)++ == 0 && detail && size > 0)
        snprintf(detail, (size_t)size, "%s is %g, expected %g", what, (double)got, expected);
}

/// Records a case that could not allocate its buffers as a failure.
static int check_out_of_memory(char *detail, long size) {
    if (detail && size > 0) snprintf(detail, (size_t)size, "the self-check could not allocate its buffers");
    return 1;
}

static int check_forward(int hardware, const check_forward_case *c, unsigned *state, char *detail, long size) {
    dk_conv_geometry g = check_geometry(c->od, c->oh, c->ow, c->kd, c->kh, c->kw, c->cin, c->cout);
    g.relu = c->relu;
    const long padded = (c->od + c->kd - 1) * g.hp * g.wp * c->cin;
    const long slack = (c->kw + DK_CONV_SLACK_POSITIONS) * c->cin;
    const long k = (long)c->kd * c->kh * c->kw * c->cin, positions = (long)c->od * c->oh * c->ow;
    float *x = malloc(sizeof(float) * padded), *w = malloc(sizeof(float) * k * c->cout);
    float *bias = malloc(sizeof(float) * c->cout), *y = malloc(sizeof(float) * positions * c->cout);
    uint16_t *xp = malloc(sizeof(uint16_t) * (padded + slack)), *wt = malloc(sizeof(uint16_t) * k * c->cout);
    int failures = 0;
    if (!x || !w || !bias || !y || !xp || !wt) {
        failures = check_out_of_memory(detail, size);
        goto done;
    }
    for (long i = 0; i < padded; i++) x[i] = (float)check_value(state), xp[i] = dk_bf16_bits(x[i]);
    for (long i = padded; i < padded + slack; i++) xp[i] = 0x7FC0;  // NaN the tiles may read, never store
    for (long i = 0; i < k * c->cout; i++) w[i] = (float)check_value(state);
    for (int i = 0; i < c->cout; i++) bias[i] = (float)check_value(state);
    for (long i = 0; i < positions * c->cout; i++) y[i] = check_untouched;
    dk_bf16_pack_weight_tiles(&g, w, wt, 0);
    dk_amx_forward_run(hardware, &g, xp, wt, c->bias ? bias : NULL, y, c->q0, c->q1);
    for (long q = 0; q < positions; q++)
        for (int co = 0; co < c->cout; co++) {
            double sum = c->bias ? bias[co] : 0;
            for (int dz = 0; dz < c->kd; dz++)
                for (int dy = 0; dy < c->kh; dy++)
                    for (int dx = 0; dx < c->kw; dx++) {
                        const float *input = x + check_input_offset(&g, q, dz, dy, dx);
                        const float *tap = w + (((long)dz * c->kh + dy) * c->kw + dx) * c->cin * c->cout + co;
                        for (int ci = 0; ci < c->cin; ci++) sum += (double)input[ci] * tap[(long)ci * c->cout];
                    }
            const int stored = q >= c->q0 && q < c->q1;
            const double expected = !stored ? check_untouched : c->relu && sum < 0 ? 0 : sum;
            const float got = y[q * c->cout + co];
            if (got == (float)expected) continue;
            char what[160];
            snprintf(what, sizeof what, "forward %d→%d %d×%d×%d at %d×%d×%d: output (position %ld, channel %d)%s",
                     c->cin, c->cout, c->kd, c->kh, c->kw, c->od, c->oh, c->ow, q, co,
                     stored ? "" : ", outside the range,");
            check_report(&failures, detail, size, what, got, expected);
        }
done:
    free(x), free(w), free(bias), free(y), free(xp), free(wt);
    return failures;
}

static int check_weight_gradient(int hardware, const check_weight_case *c, unsigned *state, char *detail,
                                 long size) {
    const dk_conv_geometry g = check_geometry(c->od, c->oh, c->ow, c->kd, c->kh, c->kw, c->cin, c->cout);
    const long padded = (c->od + c->kd - 1) * g.hp * g.wp * c->cin;
    const long k = (long)c->kd * c->kh * c->kw * c->cin, positions = (long)c->od * c->oh * c->ow;
    const long xt_stride = c->cin * dk_conv_tile_transpose_row(&g), dyg_stride = dk_conv_tile_grid_length(&g) * c->cout;
    float *x = malloc(sizeof(float) * padded * c->samples), *dy = malloc(sizeof(float) * positions * c->cout * c->samples);
    float *dw = malloc(sizeof(float) * k * c->cout);
    uint16_t *xp = malloc(sizeof(uint16_t) * padded), *xt = malloc(sizeof(uint16_t) * xt_stride * c->samples);
    uint16_t *dyg = malloc(sizeof(uint16_t) * dyg_stride * c->samples);
    int failures = 0;
    if (!x || !dy || !dw || !xp || !xt || !dyg) {
        failures = check_out_of_memory(detail, size);
        goto done;
    }
    for (int n = 0; n < c->samples; n++) {
        float *xn = x + n * padded, *dyn = dy + n * positions * c->cout;
        for (long i = 0; i < padded; i++) xn[i] = (float)check_value(state), xp[i] = dk_bf16_bits(xn[i]);
        for (long i = 0; i < positions * c->cout; i++) dyn[i] = (float)check_value(state);
        dk_bf16_transpose_grid(&g, xp, xt + n * xt_stride);
        dk_bf16_pack_gradient_grid(&g, dyn, dyg + n * dyg_stride);
    }
    for (long i = 0; i < k * c->cout; i++) dw[i] = check_untouched;
    dk_amx_weight_grad_run(hardware, &g, xt, xt_stride, dyg, dyg_stride, c->samples, dw, c->kb0, c->kb1, c->cb0,
                           c->cb1, c->chunk, 1);
    for (long row = 0; row < k; row++) {
        const long s = row / ((long)c->kw * c->cin), j = row % ((long)c->kw * c->cin);
        const int dz = (int)(s / c->kh), ky = (int)(s % c->kh), kx = (int)(j / c->cin), ci = (int)(j % c->cin);
        for (int co = 0; co < c->cout; co++) {
            const int inside = row / 16 >= c->kb0 && row / 16 < c->kb1 && co / 16 >= c->cb0 && co / 16 < c->cb1;
            double sum = check_untouched;
            for (int n = 0; inside && n < c->samples; n++)
                for (long q = 0; q < positions; q++)
                    sum += (double)x[n * padded + check_input_offset(&g, q, dz, ky, kx) + ci] *
                           dy[(n * positions + q) * c->cout + co];
            const float got = dw[row * c->cout + co];
            if (got == (float)sum) continue;
            char what[160];
            snprintf(what, sizeof what, "weight gradient %d→%d %d×%d×%d at %d×%d×%d, %d samples: dW (%ld, %d)%s",
                     c->cin, c->cout, c->kd, c->kh, c->kw, c->od, c->oh, c->ow, c->samples, row, co,
                     inside ? "" : ", outside the blocks,");
            check_report(&failures, detail, size, what, got, sum);
        }
    }
done:
    free(x), free(dy), free(dw), free(xp), free(xt), free(dyg);
    return failures;
}

int dk_amx_self_check_run(int hardware, char *detail, long size) {
    if (detail && size > 0) detail[0] = 0;
    unsigned state = 2024u;
    int failures = 0;
    for (size_t i = 0; i < sizeof forward_cases / sizeof forward_cases[0]; i++)
        failures += check_forward(hardware, &forward_cases[i], &state, failures ? NULL : detail, size);
    for (size_t i = 0; i < sizeof weight_cases / sizeof weight_cases[0]; i++)
        failures += check_weight_gradient(hardware, &weight_cases[i], &state, failures ? NULL : detail, size);
    return failures;
}

int dk_amx_self_check(int hardware, char *detail, long size) {
    if (hardware && dk_amx_permission() != 1) {
        if (detail && size > 0) snprintf(detail, (size_t)size, "no AMX tile data granted to this process");
        return -1;
    }
    return dk_amx_self_check_run(hardware, detail, size);
}
