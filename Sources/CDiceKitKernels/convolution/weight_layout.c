// Kernel layout conversions between PyTorch's [a, b, k] and DiceKit's [k, b, a] (Float): the
// element (i, j, t) at i·b·k + j·k + t in one and (t·b + j)·a + i in the other
// (Sources/DiceKit/Convolution/WeightLayout.swift). Every training step adds each kernel
// gradient into its parameter's, in PyTorch's layout (7.8 M values in a base-32 U-Net); the
// element-by-element loop ran at about 7 GB/s of its three streams, the vector one reads and
// writes whole lines of both sides.
//
// Vector form (AVX-512; AVX2 in weight_layout_avx2.c), in blocks of 16 values of i: toward PyTorch,
// the columns c = j·k + t of the rows i are taken 16 at a time from the 16 DiceKit rows
// (t·b + j) they come from: a whole block of 16 rows × 16 columns is 16 loads of one cache line
// each, a 16 × 16 transpose in registers and 16 stores (gathers, one per row of the block, had
// taken 1.6 % of a base-32 bf16 training step's samples on a Zen 4); the tails (a not a multiple
// of 16, the last columns of a range) gather, masked. Toward DiceKit, each DiceKit row
// (t·b + j) takes its 16 values of i by one gather, 16 PyTorch rows apart. The same values as
// the scalar loops, in the same additions.
//
// Also here: the direct input gradient's flipped, transposed kernel, packed as the forward
// kernels read it (dk_conv_pack_weights_flipped), made on every training step's backward pass,
// and both that and the forward packing straight from PyTorch's layout (a layer's parameter as
// it is), so that a Float training step never converts its kernels to DiceKit's layout: by
// gathers, or with both channel counts multiples of 16 in blocks of 16 × 16 channels turned by
// the transposes of transpose16.h, in ranges of output channels.

#include "dk_convolution.h"
#include "dk_dispatch.h"
#include "conv_internal.h"
#include "transpose16.h"
#if defined(__x86_64__)
#include <immintrin.h>

#define DKF512 __attribute__((target("avx512f")))

/// v stored over `to` as `store` says (masked to `mask`).
DKF512 static inline void store_value(float *to, __mmask16 mask, __m512 v, dk_layout_store store) {
    if (store == DK_LAYOUT_ADD) v = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, to), v);
    if (store == DK_LAYOUT_ADD_TO_ZERO) v = _mm512_add_ps(_mm512_setzero_ps(), v);
    _mm512_mask_storeu_ps(to, mask, v);
}

DKF512 static void to_pytorch_avx512(const float *src, float *dst, long a, long b, long k, long j0, long j1,
                                     dk_layout_store store) {
    const long c0 = j0 * k, c1 = j1 * k, row = b * k;
    for (long i0 = 0; i0 < a; i0 += 16) {
        const long rows = a - i0 < 16 ? a - i0 : 16;
        for (long c = c0; c < c1; c += 16) {
            const long n = c1 - c < 16 ? c1 - c : 16;
            const __mmask16 mask = (__mmask16)((1u << n) - 1);
            // The DiceKit rows of columns c … c + n − 1, (j, t) stepped from c's (one division).
            int offsets[16] = {0};
            for (long l = 0, j = c / k, t = c % k; l < n; l++) {
                offsets[l] = (int)((t * b + j) * a + i0);
                if (++t == k) t = 0, j++;
            }
            if (rows == 16 && n == 16) {
                __m512 block[16];
                for (int l = 0; l < 16; l++) block[l] = _mm512_loadu_ps(src + offsets[l]);
                dk_transpose16(block);
                for (int i = 0; i < 16; i++) store_value(dst + (i0 + i) * row + c, 0xFFFF, block[i], store);
                continue;
            }
            const __m512i index = _mm512_loadu_si512((const void *)offsets);
            for (long i = 0; i < rows; i++) {
                const __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mask, index, src + i, 4);
                store_value(dst + (i0 + i) * row + c, mask, v, store);
            }
        }
    }
}

DKF512 static void from_pytorch_avx512(const float *src, float *dst, long a, long b, long k, long j0, long j1) {
    const long row = b * k;
    const __m512i lanes = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                             _mm512_set1_epi32((int)row));
    for (long i0 = 0; i0 < a; i0 += 16) {
        const long n = a - i0 < 16 ? a - i0 : 16;
        const __mmask16 mask = (__mmask16)((1u << n) - 1);
        for (long j = j0; j < j1; j++)
            for (long t = 0; t < k; t++) {
                const __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mask, lanes, src + i0 * row + j * k + t, 4);
                _mm512_mask_storeu_ps(dst + (t * b + j) * a + i0, mask, v);
            }
    }
}
#endif

/// Where unit u of a flipped packing reads and writes: the offset in the kernel of its tap and
/// first input channel (co 0), the offset in the packing of its first element (row co 0), and
/// the width of its 64-column block.
typedef struct {
    long source, target, width;
} FlipUnit;

static inline FlipUnit flip_unit(long u, long taps, long cin, long cout, long ci_stride, long tap_stride) {
    const long groups = cin / 16, t = u / groups, c0 = (u % groups) * 16;
    long width;
    const long block = dk_conv_block_column(taps * cout, cin, c0, &width);
    return (FlipUnit){c0 * ci_stride + (taps - 1 - t) * tap_stride, block + t * cout * width, width};
}

#if defined(__x86_64__)
/// Units [u0, u1) of dk_conv_pack_weights_flipped (or its PyTorch-layout form), element (co, ci)
/// of tap t′ of the kernel at w[co·co_stride + ci·ci_stride + t′·tap_stride], t′ = taps − 1 − t:
/// each output row co of a unit gathers its 16 input channels, ci_stride floats apart (cout
/// from DiceKit's layout, in L1 across the unit's rows; taps from PyTorch's, one or two cache
/// lines), and stores them as one vector.
DKF512 static void flip_avx512(const float *w, float *flipped, long taps, long cin, long cout, long u0, long u1,
                               long co_stride, long ci_stride, long tap_stride) {
    const __m512i lanes = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                             _mm512_set1_epi32((int)ci_stride));
    for (long u = u0; u < u1; u++) {
        const FlipUnit f = flip_unit(u, taps, cin, cout, ci_stride, tap_stride);
        for (long co = 0; co < cout; co++)
            _mm512_storeu_ps(flipped + f.target + co * f.width,
                             _mm512_i32gather_ps(lanes, w + f.source + co * co_stride, 4));
    }
}
#endif

/// flip_avx512 element by element (8-lane gathers were no faster on a Zen 3).
static void flip_scalar(const float *w, float *flipped, long taps, long cin, long cout, long u0, long u1,
                        long co_stride, long ci_stride, long tap_stride) {
    for (long u = u0; u < u1; u++) {
        const FlipUnit f = flip_unit(u, taps, cin, cout, ci_stride, tap_stride);
        for (long co = 0; co < cout; co++)
            for (long j = 0; j < 16; j++)
                flipped[f.target + co * f.width + j] = w[f.source + co * co_stride + j * ci_stride];
    }
}

void dk_conv_pack_weights_flipped(const float *w, float *flipped, long taps, long cin, long cout, long u0, long u1) {
#if defined(__x86_64__)
    if (dk_isa() == DK_ISA_AVX512 && 16 * cout <= 0x7FFFFFFFL) {
        flip_avx512(w, flipped, taps, cin, cout, u0, u1, 1, cout, cin * cout);
        return;
    }
#endif
    flip_scalar(w, flipped, taps, cin, cout, u0, u1, 1, cout, cin * cout);
}

void dk_conv_pack_weights_flipped_pytorch(const float *w, float *flipped, long taps, long cin, long cout, long u0,
                                          long u1) {
#if defined(__x86_64__)
    if (dk_isa() == DK_ISA_AVX512 && 16 * taps <= 0x7FFFFFFFL) {
        flip_avx512(w, flipped, taps, cin, cout, u0, u1, cin * taps, taps, 1);
        return;
    }
#endif
    flip_scalar(w, flipped, taps, cin, cout, u0, u1, cin * taps, taps, 1);
}

#if defined(__x86_64__)
/// Rows [r0, r1) of dk_conv_pack_weight_rows_pytorch, 16 output channels at a time: each row's
/// 16 values are gathered cin·taps floats apart, and the 16 channels' kernels (16·cin·taps
/// floats) stay in L2 over the rows.
DKF512 static void pack_pytorch_avx512(const float *w, float *packed, long taps, long cin, long cout, long r0,
                                       long r1) {
    const long rows = taps * cin;
    const __m512i lanes = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                             _mm512_set1_epi32((int)rows));
    for (long co = 0; co < cout; co += 16) {
        long width;
        float *block = packed + dk_conv_block_column(rows, cout, co, &width);
        const float *source = w + co * rows;
        for (long r = r0; r < r1; r++)
            _mm512_storeu_ps(block + r * width, _mm512_i32gather_ps(lanes, source + (r % cin) * taps + r / cin, 4));
    }
}
#endif

int dk_conv_packs_pytorch_blocks(long taps, long cin, long cout) {
    return dk_isa() == DK_ISA_AVX512 && cin % 16 == 0 && cout % 16 == 0 && taps <= DK_BLOCK_TAPS;
}

#if defined(__x86_64__)
/// In blocks of 16 × 16 channels transposed in registers (dk_pytorch_block): column
/// (ci − ci₀)·taps + t of a block is row t·cin + ci of the packing, 16 output channels wide. The
/// same values as the gathers.
DKF512 void dk_conv_pack_weight_channels_pytorch(const dk_conv_geometry *g, const float *w, float *packed, long c0,
                                                 long c1) {
    const long taps = (long)g->kd * g->kh * g->kw, cin = g->cin;
    __m512 column[16 * DK_BLOCK_TAPS];
    for (long co = c0; co < c1; co += 16) {
        long width;
        float *block = (float *)dk_conv_packed_block(g, packed, (int)co, &width);
        for (long ci = 0; ci < cin; ci += 16) {
            dk_pytorch_block(w + (co * cin + ci) * taps, cin * taps, taps, column);
            for (long i = 0; i < 16; i++)
                for (long t = 0; t < taps; t++)
                    _mm512_storeu_ps(block + (t * cin + ci + i) * width, column[i * taps + t]);
        }
    }
}

/// In blocks of 16 × 16 channels (dk_pytorch_block), each tap's 16 columns transposed back
/// (dk_pytorch_block_tap): output channel co + m's 16 input channels at tap t, one vector, row
/// (taps − 1 − t)·cout + co + m of the flipped kernel.
DKF512 void dk_conv_pack_weights_flipped_channels_pytorch(const float *w, float *flipped, long taps, long cin,
                                                          long cout, long c0, long c1) {
    __m512 column[16 * DK_BLOCK_TAPS];
    for (long co = c0; co < c1; co += 16)
        for (long ci = 0; ci < cin; ci += 16) {
            long width;
            float *block = flipped + dk_conv_block_column(taps * cout, cin, ci, &width);
            dk_pytorch_block(w + (co * cin + ci) * taps, cin * taps, taps, column);
            for (long t = 0; t < taps; t++) {
                __m512 r[16];
                dk_pytorch_block_tap(column, taps, t, r);
                for (int m = 0; m < 16; m++) _mm512_storeu_ps(block + ((taps - 1 - t) * cout + co + m) * width, r[m]);
            }
        }
}
#else
void dk_conv_pack_weight_channels_pytorch(const dk_conv_geometry *g, const float *w, float *packed, long c0, long c1) {
    dk_no_vector_kernel("dk_conv_pack_weight_channels_pytorch");
}

void dk_conv_pack_weights_flipped_channels_pytorch(const float *w, float *flipped, long taps, long cin, long cout,
                                                   long c0, long c1) {
    dk_no_vector_kernel("dk_conv_pack_weights_flipped_channels_pytorch");
}
#endif

void dk_conv_pack_weight_rows_pytorch(const dk_conv_geometry *g, const float *w, float *packed, long r0, long r1) {
    const long taps = (long)g->kd * g->kh * g->kw, cin = g->cin, cout = g->cout, rows = taps * cin;
#if defined(__x86_64__)
    if (dk_isa() == DK_ISA_AVX512 && cout % 16 == 0 && 16 * rows <= 0x7FFFFFFFL) {
        pack_pytorch_avx512(w, packed, taps, cin, cout, r0, r1);
        return;
    }
#endif
    for (long first = 0; first < cout; first += DK_CONV_CHANNEL_BLOCK) {
        const long width = cout - first < DK_CONV_CHANNEL_BLOCK ? cout - first : DK_CONV_CHANNEL_BLOCK;
        for (long r = r0; r < r1; r++)
            for (long c = 0; c < width; c++)
                packed[first * rows + r * width + c] = w[(first + c) * rows + (r % cin) * taps + r / cin];
    }
}

void dk_kernel_to_pytorch(const float *src, float *dst, long a, long b, long k, long j0, long j1,
                          dk_layout_store store) {
#if defined(__x86_64__)
    if (dk_isa() == DK_ISA_AVX512 && a * b * k <= 0x7FFFFFFFL) {
        to_pytorch_avx512(src, dst, a, b, k, j0, j1, store);
        return;
    }
    if (dk_isa() >= DK_ISA_AVX2) {
        dk_kernel_to_pytorch_avx2(src, dst, a, b, k, j0, j1, store);
        return;
    }
#endif
    for (long i = 0; i < a; i++)
        for (long j = j0; j < j1; j++)
            for (long t = 0; t < k; t++) {
                dk_layout_store_scalar(dst + (i * b + j) * k + t, src[(t * b + j) * a + i], store);
            }
}

void dk_kernel_from_pytorch(const float *src, float *dst, long a, long b, long k, long j0, long j1) {
#if defined(__x86_64__)
    if (dk_isa() == DK_ISA_AVX512 && a * b * k <= 0x7FFFFFFFL) {
        from_pytorch_avx512(src, dst, a, b, k, j0, j1);
        return;
    }
    if (dk_isa() >= DK_ISA_AVX2) {
        dk_kernel_from_pytorch_avx2(src, dst, a, b, k, j0, j1);
        return;
    }
#endif
    for (long j = j0; j < j1; j++)
        for (long t = 0; t < k; t++)
            for (long i = 0; i < a; i++) dst[(t * b + j) * a + i] = src[(i * b + j) * k + t];
}
