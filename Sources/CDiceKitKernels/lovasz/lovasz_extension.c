// The Lovász extension of Float errors (Docs/DiceMath.md §9.2): a stable LSD radix sort of the
// positive errors in decreasing order, then one pass along the sorted order that accumulates the
// value and writes the signed slope in input order. Portable C (no instruction-set variants):
// the sort is bound by memory traffic, and the pass by its Double divisions.
//
// Each sorted item is one 64-bit word: the inverted order-preserving key bits above, the
// foreground flag in bit 31 and the index in bits 0…30 below, so the pass after the sort reads
// no other array. Only the digits of the key are sorted (three passes of 11, 11 and 10 bits,
// a pass skipped when every key has the same digit); the index order of ties is kept by
// stability. Errors ≤ 0 take no part: they sort after every positive error and add nothing.

#include "dk_lovasz.h"

#include <string.h>

#define DK_LOVASZ_DIGIT_BITS 11
#define DK_LOVASZ_BUCKETS (1 << DK_LOVASZ_DIGIT_BITS)

// Sorts a[0..<m] by the high 32 bits (ascending, stable) using b as scratch; returns the buffer
// holding the result (a or b).
static uint64_t *radix_sort_high(uint64_t *a, uint64_t *b, long m) {
    if (m == 0) return a;
    static const int shift[3] = {32, 32 + DK_LOVASZ_DIGIT_BITS, 32 + 2 * DK_LOVASZ_DIGIT_BITS};
    long counts[3][DK_LOVASZ_BUCKETS];
    memset(counts, 0, sizeof counts);
    for (long r = 0; r < m; r++) {
        const uint64_t v = a[r];
        counts[0][(v >> shift[0]) & (DK_LOVASZ_BUCKETS - 1)]++;
        counts[1][(v >> shift[1]) & (DK_LOVASZ_BUCKETS - 1)]++;
        counts[2][v >> shift[2]]++;
    }
    for (int pass = 0; pass < 3; pass++) {
        long *c = counts[pass];
        const unsigned first = (unsigned)((a[0] >> shift[pass]) & (DK_LOVASZ_BUCKETS - 1));
        if (c[first] == m) continue;  // every key has this digit: the pass would copy
        long total = 0;
        for (int d = 0; d < DK_LOVASZ_BUCKETS; d++) {
            const long n = c[d];
            c[d] = total;
            total += n;
        }
        const int s = shift[pass];
        for (long r = 0; r < m; r++) {
            const uint64_t v = a[r];
            b[c[(v >> s) & (DK_LOVASZ_BUCKETS - 1)]++] = v;
        }
        uint64_t *t = a;
        a = b;
        b = t;
    }
    return a;
}

double dk_lovasz_extension_f32(const float *keys, const uint8_t *fg, long m, float *slope, uint64_t *scratch) {
    if (m <= 0) return 0;
    uint64_t *a = scratch, *b = scratch + m;
    long positive = 0;
    long foreground = 0;
    for (long j = 0; j < m; j++) {
        uint32_t bits;
        memcpy(&bits, keys + j, sizeof bits);
        const uint64_t flag = fg[j] != 0;
        foreground += (long)flag;
        // Finite e > 0: sign clear and not +0. Positive floats order as their bits; inverted, the
        // largest error sorts first. Branch-free (the signs of the errors are random): every word
        // is stored, the count advances past the positive ones; every slope starts as ∓0.
        a[positive] = (uint64_t)(~bits) << 32 | flag << 31 | (uint64_t)j;
        positive += (long)((int32_t)bits > 0);
        if (slope) {
            const uint32_t zero = (uint32_t)flag << 31;
            memcpy(slope + j, &zero, sizeof zero);
        }
    }
    const uint64_t *sorted = radix_sort_high(a, b, positive);
    const double gts = (double)foreground;
    double cum_fg = 0, cum_bg = 0, previous = 0, value = 0;
    for (long r = 0; r < positive; r++) {
        const uint64_t v = sorted[r];
        const uint32_t bits = ~(uint32_t)(v >> 32);
        const int is_fg = (int)((v >> 31) & 1);
        float e;
        memcpy(&e, &bits, sizeof e);
        cum_fg += (double)is_fg;  // branch-free: the flags are random
        cum_bg += (double)(1 - is_fg);
        const double jaccard = 1 - (gts - cum_fg) / (gts + cum_bg);
        const double delta = jaccard - previous;
        previous = jaccard;
        const double term = (double)e * delta;  // a statement of its own: never fused into an FMA
        value += term;
        if (slope) {
            const float s = (float)delta;
            uint32_t sbits;
            memcpy(&sbits, &s, sizeof sbits);
            sbits ^= (uint32_t)is_fg << 31;  // −Δ for the foreground
            memcpy(slope + (v & 0x7FFFFFFFu), &sbits, sizeof sbits);
        }
    }
    return value;
}
