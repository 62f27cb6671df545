// The entry points of the Dice-loss passes (dk_dice.h) for Float predictions, with integer-label
// targets (dk_stats_f32 / dk_grad_f32) or dense one-hot / soft targets (dk_stats_dense_f32 /
// dk_grad_dense_f32): each call runs the variant of the level in use.
//
// Goals, in order: (1) the same numbers as the Swift passes (DiceLoss+Passes.swift) to Float
// rounding; (2) memory-bound speed: one read of the logits and labels in pass 1 (probabilities
// written to the gradient buffer), one read of probabilities and labels and one write in pass 2.
//
// Three variants of each pass, chosen at run time (no build flags, so SwiftPM consumers can link
// the package), one file each:
//   dice_avx512.c, dice_dense_avx512.c  AVX-512 (avx512f/bw/dq + FMA): 16 positions per step,
//     channels-last blocks transposed in registers (dice_avx512.h).
//   dice_avx2.c, dice_dense_avx2.c  AVX2 + FMA: 8 positions per step, the same structure with
//     lane-mask vectors (dice_avx2.h).
//   dice_portable.c  C code in blocks of 16 positions with loops over the lanes
//     (dice_blocked.h), compiled for the baseline (SSE2), which the compiler vectorises.
//   Dense targets: the portable variant, and a weighted cross-entropy at every level, run plain
//     per-position loops (dice_scalar.h).
// Every variant uses the polynomials of math/dk_polynomials.h. Accumulation: per lane in float
// over at most DK_ACCUMULATION_BLOCK positions, then added into double (see Docs/DiceMath.md,
// "Accumulation").

#include "dk_dice.h"
#include "dk_dispatch.h"
#include "dice_variants.h"
#include <string.h>

// MARK: - Dispatch

// The level comes from platform/cpu_dispatch.c (detected once, thread-safely; forced by tests), and each
// call records the level it ran at. A weighted cross-entropy (class weights, label smoothing) has no
// AVX-512 body: at that level it runs the AVX2 variant, which every AVX-512 CPU here can run.

static dk_isa_level loss_level(const dk_geometry *geo) {
    dk_isa_level level = dk_isa();
    if (level == DK_ISA_AVX512 && dk_ce_weighted(geo)) level = DK_ISA_AVX2;
    dk_note_isa(DK_KERNEL_LOSS, level);
    return level;
}

/// The mean's denominator where the pass does not weigh it: the counted positions.
static void settle_norm(const dk_geometry *geo, int labels, dk_stats *out) {
    if (!(labels && dk_ce_weighted(geo) && geo->cross_entropy == DK_CROSS_ENTROPY_SOFTMAX)) out->ce_norm = out->counted;
}

void dk_stats_f32(const dk_geometry *geo, const float *x, const int32_t *labels, float *probs, dk_stats *out) {
    memset(out, 0, sizeof *out);
    switch (loss_level(geo)) {
#if defined(__x86_64__)
    case DK_ISA_AVX512: dk_dice_stats_avx512(geo, x, labels, probs, out); break;
    case DK_ISA_AVX2: dk_dice_stats_avx2(geo, x, labels, probs, out); break;
#endif
    default: dk_dice_stats_portable(geo, x, labels, probs, out); break;
    }
    settle_norm(geo, 1, out);
}

void dk_grad_f32(const dk_geometry *geo, const int32_t *labels, float *grad, const float *a, const float *b) {
    switch (loss_level(geo)) {
#if defined(__x86_64__)
    case DK_ISA_AVX512: dk_dice_grad_avx512(geo, labels, grad, a, b); break;
    case DK_ISA_AVX2: dk_dice_grad_avx2(geo, labels, grad, a, b); break;
#endif
    default: dk_dice_grad_portable(geo, labels, grad, a, b); break;
    }
}

void dk_stats_dense_f32(const dk_geometry *geo, const float *x, const float *t, float *probs, dk_stats *out) {
    memset(out, 0, sizeof *out);
    switch (loss_level(geo)) {
#if defined(__x86_64__)
    case DK_ISA_AVX512: dk_dice_stats_dense_avx512(geo, x, t, probs, out); break;
    case DK_ISA_AVX2: dk_dice_stats_dense_avx2(geo, x, t, probs, out); break;
#endif
    default: dk_dice_stats_dense_portable(geo, x, t, probs, out); break;
    }
    settle_norm(geo, 0, out);
}

void dk_grad_dense_f32(const dk_geometry *geo, const float *t, float *grad, const float *a, const float *b, const float *f) {
    switch (loss_level(geo)) {
#if defined(__x86_64__)
    case DK_ISA_AVX512: dk_dice_grad_dense_avx512(geo, t, grad, a, b, f); break;
    case DK_ISA_AVX2: dk_dice_grad_dense_avx2(geo, t, grad, a, b, f); break;
#endif
    default: dk_dice_grad_dense_portable(geo, t, grad, a, b, f); break;
    }
}
