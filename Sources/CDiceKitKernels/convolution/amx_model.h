// The software model of the AMX tile unit: eight tiles and the configuration in force, and the
// operations ldtilecfg, tilezero, tileloadd, tilestored and tdpbf16ps as the pseudo-code of
// Intel's instruction set reference gives them, including the shape checks that raise #UD (the
// model names the rule broken and stops the process). conv_amx.c compiles its tile kernels
// against it (the tests' way to run the tile arithmetic on a CPU without AMX); the tests' trap
// emulator (Tests/AMXTrapEmulator) executes the tile unit's compilation of the same kernels on
// it, one trapped instruction at a time. Header-only (static inline) so that the model's
// compilation of the kernels inlines it.

#ifndef DK_AMX_MODEL_H
#define DK_AMX_MODEL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef DK_AMX_MODEL_FAULT
/// What the hardware reports as #UD (`what`: the rule broken): the model names it and stops the
/// process. Define DK_AMX_MODEL_FAULT(what) before including this header to do otherwise; it must
/// not return.
#define DK_AMX_MODEL_FAULT(what) (fprintf(stderr, "AMX model: #UD: %s\n", what), abort())
#endif

/// The 64-byte tile configuration that ldtilecfg reads (palette 1: 8 tiles of up to 16 rows of
/// up to 64 bytes).
typedef struct __attribute__((aligned(64))) {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} dk_tile_config;

_Static_assert(sizeof(dk_tile_config) == 64, "ldtilecfg reads 64 bytes");

/// Eight tiles of 16 rows × 64 bytes and the configuration in force.
typedef struct {
    dk_tile_config config;
    int configured;
    uint8_t tile[8][16][64];
} amx_model;

/// Raises #UD (DK_AMX_MODEL_FAULT) unless `condition` holds.
static inline void model_require(int condition, const char *what) {
    if (!condition) DK_AMX_MODEL_FAULT(what);
}

/// ldtilecfg: the configuration `c` after the reference's checks; every tile zeroed.
static inline void model_config(amx_model *m, const dk_tile_config *c) {
    model_require(c->palette == 1 && c->start_row == 0, "ldtilecfg: palette 1 and start_row 0");
    for (int i = 0; i < 14; i++) model_require(c->reserved[i] == 0, "ldtilecfg: reserved bytes 2–15 zero");
    for (int t = 0; t < 16; t++) {
        const int used = t < 8;
        model_require(used ? c->rows[t] <= 16 && c->colsb[t] <= 64 : c->rows[t] == 0 && c->colsb[t] == 0,
                      "ldtilecfg: tiles 0–7 of at most 16 rows × 64 bytes, tiles 8–15 empty");
        model_require((c->rows[t] == 0) == (c->colsb[t] == 0),
                      "ldtilecfg: a tile's rows and colsb both zero or neither");
    }
    m->config = *c;
    m->configured = 1;
    __builtin_memset(m->tile, 0, sizeof m->tile);
}

/// tilezero: tile t all zero.
static inline void model_zero(amx_model *m, int t) {
    model_require(m->configured, "tilezero: tiles configured");
    __builtin_memset(m->tile[t], 0, sizeof m->tile[t]);
}

/// tileloadd: rows[t] rows of colsb[t] bytes, `stride` bytes apart; the rest of the tile zeroed.
static inline void model_load(amx_model *m, int t, const void *base, long stride) {
    model_require(m->configured && m->config.rows[t] > 0, "tileloadd: the tile configured");
    __builtin_memset(m->tile[t], 0, sizeof m->tile[t]);
    for (int r = 0; r < m->config.rows[t]; r++)
        __builtin_memcpy(m->tile[t][r], (const uint8_t *)base + r * stride, m->config.colsb[t]);
}

/// tilestored: rows[t] rows of colsb[t] bytes to `base`, `stride` bytes apart.
static inline void model_store(amx_model *m, int t, void *base, long stride) {
    model_require(m->configured && m->config.rows[t] > 0, "tilestored: the tile configured");
    for (int r = 0; r < m->config.rows[t]; r++)
        __builtin_memcpy((uint8_t *)base + r * stride, m->tile[t][r], m->config.colsb[t]);
}

/// A bfloat16 operand as tdpbf16ps reads it: subnormals as zero (DAZ).
static inline float model_operand(const uint8_t *p) {
    uint16_t h;
    __builtin_memcpy(&h, p, 2);
    uint32_t u = (h & 0x7F80u) == 0 ? (uint32_t)(h & 0x8000u) << 16 : (uint32_t)h << 16;
    float f;
    __builtin_memcpy(&f, &u, 4);
    return f;
}

/// A Float sum as tdpbf16ps writes it: subnormals flushed to a zero of their sign (FTZ).
static inline float model_flush(float f) {
    uint32_t u;
    __builtin_memcpy(&u, &f, 4);
    if ((u & 0x7F800000u) == 0) u &= 0x80000000u;
    __builtin_memcpy(&f, &u, 4);
    return f;
}

/// tdpbf16ps c, a, b: for each row m of c and each pair k of a's row, c[m][n] += a[m][2k]·b[k][2n],
/// then += a[m][2k+1]·b[k][2n+1] (each product exact in Float, each sum rounded to nearest even).
static inline void model_dp(amx_model *m, int c, int a, int b) {
    const dk_tile_config *k = &m->config;
    model_require(m->configured && c != a && c != b && a != b, "tdpbf16ps: tiles configured, three distinct tiles");
    model_require(k->rows[c] == k->rows[a] && k->colsb[a] == 4 * k->rows[b] && k->colsb[c] == k->colsb[b],
                  "tdpbf16ps: rows(c) = rows(a), colsb(a) = 4·rows(b), colsb(c) = colsb(b)");
    model_require(k->colsb[c] % 4 == 0 && k->colsb[a] % 4 == 0, "tdpbf16ps: colsb of c and a multiples of 4");
    for (int row = 0; row < k->rows[c]; row++) {
        float sums[16];
        __builtin_memcpy(sums, m->tile[c][row], 64);
        for (int pair = 0; pair < k->colsb[a] / 4; pair++)
            for (int n = 0; n < k->colsb[c] / 4; n++) {
                const uint8_t *x = m->tile[a][row] + 4 * pair, *w = m->tile[b][pair] + 4 * n;
                sums[n] = model_flush(sums[n] + model_operand(x) * model_operand(w));
                sums[n] = model_flush(sums[n] + model_operand(x + 2) * model_operand(w + 2));
            }
        __builtin_memset(m->tile[c][row], 0, 64);
        __builtin_memcpy(m->tile[c][row], sums, k->colsb[c]);
    }
}

#endif
