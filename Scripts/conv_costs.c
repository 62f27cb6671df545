// The direct convolution kernels' forward pass (or, with PASS=weight, their weight gradient; with
// PASS=winograd, the Winograd forward pass that replaces them at AVX2; with VOLUME=1, over
// volumes with 3×3×3 kernels) measured in-process, without the Swift layer, against the FMA
// peak this process measures on the same cores in the same runs: the fraction of peak that the
// kernel reaches, on one core and on every core (up to 4, one sample each).
//
// Why a ratio to a measured peak: this machine kind's cores switch between speeds from one run to
// the next (a core at two thirds of its usual rate for seconds at a time, whatever runs on it),
// and multi-threaded benchmarks mix the two. A loop of 12 independent multiply-adds, timed
// beside each convolution, gives the peak of that moment; the minimum of each over many
// alternated repetitions gives both at full speed.
//
// Run by hand from the repository root (never by CI), with the toolchain's clang:
//   K=Sources/CDiceKitKernels
//   /opt/swift/usr/bin/clang -O2 -I$K/include Scripts/conv_costs.c $K/convolution/*.c $K/platform/*.c \
//       -lm -lpthread -o /tmp/conv_costs
//   /tmp/conv_costs [repetitions [H,Cin,Cout ...]]   # default 25 and the shapes of bench_torch.py's
//                                                    # 3×3 keys; DICEKIT_ISA=avx2 forces the AVX2 kernels
//   PASS=weight /tmp/conv_costs                      # the weight gradient, dk_conv_weight_grad_f32 over
//                                                    # ConvBlocking's weight-gradient lines per call; where
//                                                    # DiceKit splits the kernel (fewer positions than
//                                                    # 9·Cin), dk_conv_weight_grad_block_f32 over 8 samples
//                                                    # per thread, input spread as at the level in use
//                                                    # (SPREAD=0: not; SPREAD=1: Cin + 16 at any level)
//   PASS=winograd-weight /tmp/conv_costs             # dk_conv_winograd_weight_grad_f32 over 4 samples per
//                                                    # thread into its own sums, then its share of the
//                                                    # back-transform (as Winograd.swift's
//                                                    # weight gradient; against PASS=weight)
//   PASS=winograd /tmp/conv_costs                    # dk_conv_winograd_forward_f32 over 4 samples per
//                                                    # thread (a batch of 8 on 2 workers) in blocks of
//                                                    # ConvBlocking.winogradBlock tiles, each thread
//                                                    # transforming its share of the kernel per pass (as
//                                                    # Winograd.swift's workers); its rate counts
//                                                    # the direct convolution's FLOPs, so it can pass 100 %
//   PASS=winograd-bf16 /tmp/conv_costs               # the same with bfloat16 products
//                                                    # (dk_conv_winograd_forward_bf16, AVX512-BF16; the
//                                                    # kernel also rounded per pass); its rate against the
//                                                    # Float FMA peak, which vdpbf16ps doubles
//   PASS=winograd-bf16-weight /tmp/conv_costs        # the weight gradient with bfloat16 products over 4
//                                                    # samples per thread, one thread's blocks of
//                                                    # ConvBlocking.bfloat16WinogradWeightTiles tiles
//                                                    # (dk_conv_winograd_weight_pairs_bf16, then
//                                                    # dk_conv_winograd_accumulate_bf16 per ξ), then the
//                                                    # back-transform (the dot-product kernels' weight
//                                                    # gradient runs at about twice PASS=weight's rate)
//   VOLUME=1 PASS=... /tmp/conv_costs 9 [H,Cin,Cout]  # the same over H³ volumes, 3×3×3 kernels (shapes
//                                                    # 64³ 16 → 16 … 8³ 128 → 128 by default)
//   PASS=winograd /tmp/conv_costs 9 32,64,64 32,64,64,48   # a 4th field gives the Winograd block (tiles):
//                                                    # both blocks measured in one process, alternated
//   PASS=winograd-weight /tmp/conv_costs 9 8,256,256 8,256,256,-1   # a 4th field of −1: the pass split by
//                                                    # elements (WinogradElementSplit.swift: the threads'
//                                                    # samples are the chunks, one shared transformed
//                                                    # kernel or set of sums); SPLIT=elements for every shape
//   WINOGRAD4=1 PASS=winograd /tmp/conv_costs        # Winograd F(4×4, 3×3) (dk_conv_winograd4_forward_f32,
//                                                    # AVX-512; shapes of H a multiple of 4), its accuracy too
// The block sizes follow Convolution/ConvBlocking.swift from the L2 size in sysfs; the forward
// pass runs in that file's chunks and the weight gradient in its lines (each thread adding into
// its own dW, as the Swift layer's workers do), 3×3 kernels, padding 1, no bias. Each thread repeats its
// sample's pass until a timed run holds at least 2^30 FLOP (a few milliseconds), so that starting
// the threads (tens of µs) does not weigh on the result: timing one pass of each default shape
// (0.1–2 ms) had put two cores at 67–82 % of peak where they reach 86–92 %. The repeated passes
// find their input, and weights that fit, in cache, as a U-Net's passes over a batch find the
// weights. Prints the CPU first (model, family and vector flags; driver_support.h).

#define _GNU_SOURCE
#include "CDiceKitKernels.h"
#include "driver_support.h"

#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { MAX_THREADS = 4, MAX_SHAPES = 16 };



/// L2 bytes of cpu0 from sysfs (256 KiB when unreadable, as ConvBlocking).
/// The size of cache `index` of cpu0 in sysfs (index0 L1d, index2 L2), or `fallback` bytes.
static long cache_bytes(int index, long fallback) {
    char path[64];
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", index);
    FILE *f = fopen(path, "r");
    long kib = 0;
    if (f) {
        if (fscanf(f, "%ldK", &kib) != 1) kib = 0;
        fclose(f);
    }
    return kib > 0 ? kib << 10 : fallback;
}

static long l2_bytes(void) { return cache_bytes(2, 256 << 10); }

/// L1d, as ConvBlocking reads it (32 KiB where not reported).
static long l1d_bytes(void) { return cache_bytes(0, 32 << 10); }

// MARK: - Peak

enum { PEAK_STEPS = 1 << 20 };

/// FLOP per second of 12 independent multiply-add chains (the accumulators of a forward tile).
__attribute__((target("avx2,fma"))) static double peak_avx2(void) {
    __m256 acc[12], a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++) acc[i] = _mm256_set1_ps((float)i);
    const double t0 = now();
    for (long s = 0; s < PEAK_STEPS; s++) {
        for (int i = 0; i < 12; i++) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
        __asm__ volatile("" : "+x"(acc[0]), "+x"(acc[5]), "+x"(acc[11]));
    }
    const double t = now() - t0;
    float sink = 0;
    for (int i = 0; i < 12; i++) sink += acc[i][0];
    if (sink == 12345) printf(" ");
    return 12.0 * 8 * 2 * PEAK_STEPS / t;
}

__attribute__((target("avx512f"))) static double peak_avx512(void) {
    __m512 acc[12], a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++) acc[i] = _mm512_set1_ps((float)i);
    const double t0 = now();
    for (long s = 0; s < PEAK_STEPS; s++) {
        for (int i = 0; i < 12; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
        __asm__ volatile("" : "+v"(acc[0]), "+v"(acc[5]), "+v"(acc[11]));
    }
    const double t = now() - t0;
    float sink = 0;
    for (int i = 0; i < 12; i++) sink += acc[i][0];
    if (sink == 12345) printf(" ");
    return 12.0 * 16 * 2 * PEAK_STEPS / t;
}

// MARK: - Convolution

typedef struct {
    int h, cin, cout;
    int volume;  // 1: an h³ volume and a 3×3×3 kernel (VOLUME=1), else an h² image and a 3×3 one
    // Output positions per sample (h² or h³), kernel taps (9 or 27), Winograd's elements ξ (16 or 64).
    long positions, taps, points;
    int weight;  // 1: the weight gradient (PASS=weight), else the forward pass
    long chunk, lines, passes;
    long samples, stride;  // samples per thread (8 for the split weight gradient, else 1); padded floats per sample
    long xs;               // floats per padded position: cin, or spread (dk_conv_spread_position_floats)
    int splits;            // 1: the weight gradient in (segment, 64 output channels) blocks over the samples
    int winograd;          // 1: the Winograd forward pass (PASS=winograd); 2: its weight gradient
                           // (PASS=winograd-weight); 3: the forward pass with bfloat16 products
                           // (PASS=winograd-bf16); 4: the weight gradient with them
                           // (PASS=winograd-bf16-weight)
    dk_conv_geometry g;
    dk_winograd_geometry wg;
    float *u[MAX_THREADS], *scratch[MAX_THREADS];
    uint16_t *ub[MAX_THREADS];  // PASS=winograd-bf16: the transformed kernel rounded to bfloat16 pairs
    uint32_t *pairs[MAX_THREADS];  // PASS=winograd-bf16-weight: a block's tile pairs of V, then of dM
    long part;                     // PASS=winograd-bf16-weight: tiles per block
    float *kernel;  // the kernel in DiceKit's layout [(3,) 3, 3, cin, cout] (PASS=winograd's accuracy check)
    int by_elements;                // SPLIT=elements: PASS=winograd(-weight) split by elements
    int tile4;                      // WINOGRAD4=1: PASS=winograd as F(4×4, 3×3) (conv_winograd4.c)
    float *chunks[MAX_THREADS];     // SPLIT=elements: each thread's chunk (its 4 samples' tiles)
    pthread_barrier_t *phases;      // SPLIT=elements: between the phases (for the threads of the run)
    float *xp[MAX_THREADS], *w, *y[MAX_THREADS], *dy[MAX_THREADS], *dw[MAX_THREADS];
} Shape;

static void setup(Shape *s, int h, int cin, int cout, int volume, long l2, int threads, int weight, int winograd,
                  int block) {
    memset(s, 0, sizeof *s);
    s->h = h; s->cin = cin; s->cout = cout; s->weight = weight; s->winograd = winograd; s->volume = volume;
    s->positions = (long)h * h * (volume ? h : 1), s->taps = volume ? 27 : 9, s->points = volume ? 64 : 16;
    dk_conv_geometry *g = &s->g;
    g->hp = g->wp = h + 2;
    g->od = volume ? h : 1; g->oh = g->ow = h;
    g->kd = volume ? 3 : 1; g->kh = g->kw = 3;
    g->cin = cin; g->cout = cout;
    g->weight_block = l2 / 4;
    const long plane = (long)(h + 2) * (h + 2), padded = plane * (volume ? h + 2 : 1) * cin;
    const long slack = (3L + DK_CONV_SLACK_POSITIONS) * cin;
    // DirectWorkspace.weightGradientSplitsKernel: fewer output positions than kernel rows.
    s->splits = weight && !winograd && s->positions < s->taps * cin;
    s->samples = s->splits ? 8 : winograd ? 4 : 1;
    // Spread positions as DirectConvolution.weightGradientTasks pads them; SPREAD=0: cin apart;
    // SPREAD=1: cin + 16 apart (cin a multiple of 32) at any level, as AVX2 spreads them.
    const char *spread = getenv("SPREAD");
    s->xs = !s->splits || (spread && strcmp(spread, "0") == 0) ? cin
            : spread && strcmp(spread, "1") == 0        ? (cin % 32 == 0 ? cin + 16 : cin)
                                                         : dk_conv_spread_position_floats(cin);
    s->stride = ((padded + slack) / cin * s->xs + 15) / 16 * 16;
    const long outputs = s->samples * s->positions * cout, weights = s->taps * cin * cout;
    for (int t = 0; t < threads; t++) {
        s->xp[t] = aligned_alloc(64, sizeof(float) * (size_t)(s->samples * s->stride + 16));
        for (long i = 0; i < s->samples * s->stride; i++) {
            const long at = i % s->stride, position = at / s->xs, z = position / plane;
            const long row = position % plane / (h + 2), column = position % (h + 2);
            const int border = row == 0 || row == h + 1 || column == 0 || column == h + 1 || position >= padded / cin ||
                               at % s->xs >= cin || (volume && (z == 0 || z == h + 1));
            s->xp[t][i] = border ? 0 : (float)((i * 7) % 13) * 0.1f - 0.6f;
        }
        s->y[t] = aligned_alloc(64, sizeof(float) * (size_t)outputs);
        s->dy[t] = aligned_alloc(64, sizeof(float) * (size_t)outputs);
        for (long i = 0; i < outputs; i++) s->dy[t][i] = (float)((i * 3) % 7) * 0.1f - 0.3f;
        s->dw[t] = aligned_alloc(64, sizeof(float) * (size_t)weights);
        memset(s->dw[t], 0, sizeof(float) * (size_t)weights);
    }
    float *w = malloc(sizeof(float) * (size_t)weights);
    for (long i = 0; i < weights; i++) w[i] = (float)((i * 5) % 11) * 0.01f - 0.05f;
    s->w = aligned_alloc(64, sizeof(float) * (size_t)weights);
    dk_conv_pack_weights(g, w, s->w);
    s->kernel = w;
    if (!winograd) free(w), s->kernel = NULL;
    const char *four = getenv("WINOGRAD4");
    s->tile4 = winograd == 1 && !volume && h % 4 == 0 && four && strcmp(four, "1") == 0;
    if (s->tile4) s->points = 36;
    if (winograd) {
        // ConvBlocking.winogradBlock: transformed input and products of a block in half of L2
        // and at least 48 tiles (2-D; in half of L1d and at least 12 where the transformed kernel
        // is smaller than L1d), or in a quarter of L2 and at least 12 tiles, 48 where the
        // transformed kernel exceeds L2 (3-D); a multiple of 6.
        const long tile_bytes = 4L * s->points * (cin + cout), kernel_bytes = 4L * s->points * cin * cout;
        const int in_l1 = !volume && kernel_bytes < l1d_bytes();
        const long tiles = (in_l1 ? l1d_bytes() / 2 : l2 / (volume ? 4 : 2)) / tile_bytes / 6 * 6;
        const long least = in_l1 ? 12 : !volume || kernel_bytes > l2 ? 48 : 12;
        s->wg = (dk_winograd_geometry){.wp = h + 2, .od = g->od, .oh = h, .ow = h, .sample_floats = s->stride,
                                       .output_sample_floats = s->positions * cout, .cin = cin, .cout = cout,
                                       .block = block > 0 ? block : tiles < least ? least : tiles};
        for (int t = 0; t < threads; t++) {
            s->u[t] = aligned_alloc(64, sizeof(float) * (size_t)(s->points * cin * cout));
            if (s->tile4)
                dk_conv_winograd4_transform_kernel_f32(s->w, cin, cout, s->u[t], 0, cin);
            else
                dk_conv_winograd_transform_kernel_f32(s->w, g->kd, cin, cout, s->u[t], 0, cin);
            s->ub[t] = aligned_alloc(64, sizeof(uint16_t) * (size_t)(s->points * cin * cout));
            // ConvBlocking.bfloat16WinogradWeightTiles: a block's pairs in a quarter of L2, ≥ 64 tiles.
            const long part = (l2 / 4) / (32L * (cin + cout)) / 2 * 2;
            s->part = block > 0 ? block : part < 64 ? 64 : part;
            s->pairs[t] =
                winograd == 4 ? aligned_alloc(64, sizeof(uint32_t) * (size_t)(8 * s->part * (cin + cout))) : NULL;
            // PASS=winograd-bf16-weight needs no scratch (16 floats, unused).
            const long scratch = winograd == 2   ? dk_conv_winograd_weight_grad_scratch_floats(&s->wg)
                                 : winograd == 4 ? 16
                                 : s->tile4      ? dk_conv_winograd4_scratch_floats(&s->wg)
                                                 : dk_conv_winograd_scratch_floats(&s->wg);
            s->scratch[t] = aligned_alloc(64, sizeof(float) * (size_t)scratch);
            // SPLIT=elements (WinogradElementSplit.swift): a chunk of the thread's 4 samples' tiles.
            const long tiles = 4 * s->positions / (volume ? 8 : 4);
            const long chunk = winograd == 2 ? dk_conv_winograd_weight_chunk_floats(&s->wg, tiles)
                                             : dk_conv_winograd_chunk_floats(&s->wg, tiles);
            s->chunks[t] = aligned_alloc(64, sizeof(float) * (size_t)(chunk + 16));
        }
        const char *split = getenv("SPLIT");
        s->by_elements = (winograd == 1 || winograd == 2) && ((split && strcmp(split, "elements") == 0) || block < 0);
    }
    const long per_position = 4L * (cin + (cout < 64 ? cout : 64));
    long chunk = (l2 / 2) / per_position / 24 * 24;
    s->chunk = chunk < 96 ? 96 : chunk > 3072 ? 3072 : chunk;
    // ConvBlocking.weightGradientLines: the lines' input and output-gradient rows in half of L2.
    // ConvBlocking.weightGradientBlockLines when the kernel is split: the lines' input rows and
    // one 64-channel block of their output-gradient rows.
    const long lines = (l2 / 2) / (4L * (cin + (s->splits && cout > 64 ? 64 : cout)) * h);
    s->lines = lines < 1 ? 1 : lines;
    // Passes per timed run: at least 2^30 FLOP, so that starting the threads (tens of µs) does not
    // weigh on the time (an 8² 128 → 128 pass is 19 MFLOP, about 0.12 ms).
    const double flop = 2.0 * s->samples * s->positions * cout * s->taps * cin;
    s->passes = flop >= (double)(1L << 30) ? 1 : (long)((double)(1L << 30) / flop) + 1;
}

/// SPLIT=elements (WinogradElementSplit.swift): the pass split by elements over the threads, each
/// thread's 4 samples a chunk, the one transformed kernel (or sums) u[0] shared; the forward pass
/// transforms its share of the kernel per pass, the weight gradient back-transforms its share.
static void by_elements(const Shape *s, int t, int threads, long tiles, long c0, long c1) {
    const long x0 = s->points * t / threads, x1 = s->points * (t + 1) / threads;
    for (long pass = 0; pass < s->passes; pass++) {
        if (s->winograd == 2) {
            dk_conv_winograd_weight_chunk_f32(&s->wg, s->xp[t], s->dy[t], 0, tiles, s->chunks[t]);
        } else {
            dk_conv_winograd_transform_kernel_f32(s->w, s->g.kd, s->cin, s->cout, s->u[0], c0, c1);
            dk_conv_winograd_chunk_input_f32(&s->wg, s->xp[t], 0, tiles, s->chunks[t]);
        }
        if (threads > 1) pthread_barrier_wait(s->phases);
        for (long xi = x0; xi < x1; xi++)
            for (int c = 0; c < threads; c++) {
                if (s->winograd == 2)
                    dk_conv_winograd_weight_chunk_sums_f32(&s->wg, s->chunks[c], tiles, xi, xi + 1, s->u[0], c == 0);
                else
                    dk_conv_winograd_chunk_products_f32(&s->wg, s->chunks[c], tiles, s->u[0], xi, xi + 1);
            }
        if (threads > 1) pthread_barrier_wait(s->phases);
        if (s->winograd == 2)
            dk_conv_winograd_weight_from_transform_f32(s->u[0], s->g.kd, s->cin, s->cout, s->dw[t], c0, c1);
        else
            dk_conv_winograd_chunk_output_f32(&s->wg, s->chunks[t], 0, tiles, NULL, s->y[t]);
    }
}

static void forward(const Shape *s, int t, int threads) {
    const long positions = s->positions, tiles = s->samples * positions / (s->volume ? 8 : 4);
    const long c0 = s->cin * t / threads, c1 = s->cin * (t + 1) / threads;
    if (s->by_elements) {
        by_elements(s, t, threads, tiles, c0, c1);
        return;
    }
    if (s->winograd == 2) {
        // The sums (u[t]) from zero (`fresh`), accumulated over the thread's 4 samples,
        // back-transformed in its share of the input channels (into dw[t]).
        for (long pass = 0; pass < s->passes; pass++) {
            dk_conv_winograd_weight_grad_f32(&s->wg, s->xp[t], s->dy[t], 0, tiles, s->u[t], s->scratch[t], 1);
            dk_conv_winograd_weight_from_transform_f32(s->u[t], s->g.kd, s->cin, s->cout, s->dw[t], c0, c1);
        }
        return;
    }
    if (s->winograd == 4) {
        // Blocks of s->part tiles: their pairs, then every ξ's sums (the first block's from zero);
        // then the back-transform.
        const long capacity = s->part / 2, cin = s->cin, cout = s->cout;
        for (long pass = 0; pass < s->passes; pass++) {
            for (long first = 0; first < tiles; first += s->part) {
                const long count = tiles - first < s->part ? tiles - first : s->part;
                uint32_t *const vp = s->pairs[t], *const dmp = vp + 16 * capacity * cin;
                dk_conv_winograd_weight_pairs_bf16(&s->wg, s->xp[t], s->dy[t], first, count, capacity, vp, dmp);
                for (long xi = 0; xi < 16; xi++)
                    dk_conv_winograd_accumulate_bf16(vp + xi * capacity * cin, dmp + xi * capacity * cout, cin, cout,
                                                     (count + 1) / 2, 0, cin, first == 0, s->u[t] + xi * cin * cout);
            }
            dk_conv_winograd_weight_from_transform_f32(s->u[t], 1, cin, cout, s->dw[t], c0, c1);
        }
        return;
    }
    if (s->winograd == 3) {
        // The thread's share of the kernel transformed and rounded (as Winograd.swift's workers), then its samples.
        const long x0 = s->points * t / threads, x1 = s->points * (t + 1) / threads;
        for (long pass = 0; pass < s->passes; pass++) {
            dk_conv_winograd_transform_kernel_f32(s->w, s->g.kd, s->cin, s->cout, s->u[t], c0, c1);
            dk_conv_winograd_round_kernel_bf16(s->u[t], s->points, s->cin, s->cout, s->ub[t], x0, x1);
            dk_conv_winograd_forward_bf16(&s->wg, s->xp[t], 0, tiles, s->ub[t], NULL, s->y[t], s->scratch[t]);
        }
        return;
    }
    if (s->tile4) {
        for (long pass = 0; pass < s->passes; pass++) {
            dk_conv_winograd4_transform_kernel_f32(s->w, s->cin, s->cout, s->u[t], c0, c1);
            dk_conv_winograd4_forward_f32(&s->wg, s->xp[t], 0, s->samples * positions / 16, s->u[t], NULL, s->y[t],
                                          s->scratch[t]);
        }
        return;
    }
    if (s->winograd) {
        for (long pass = 0; pass < s->passes; pass++) {
            dk_conv_winograd_transform_kernel_f32(s->w, s->g.kd, s->cin, s->cout, s->u[t], c0, c1);
            dk_conv_winograd_forward_f32(&s->wg, s->xp[t], 0, tiles, s->u[t], NULL, s->y[t], s->scratch[t]);
        }
        return;
    }
    for (long pass = 0; pass < s->passes; pass++)
        for (long q = 0; q < positions; q += s->chunk)
            dk_conv_forward_f32(&s->g, s->xp[t], s->w, NULL, s->y[t], q,
                                q + s->chunk < positions ? q + s->chunk : positions);
}

static void weight_gradient(const Shape *s, int t) {
    if (s->splits) {
        // As DirectConvolution.weightGradientTasks: every (segment, 64 channels) block over the samples.
        for (long pass = 0; pass < s->passes; pass++)
            for (int seg = 0; seg < s->g.kd * s->g.kh; seg++)
                for (int c = 0; c < s->cout; c += DK_CONV_CHANNEL_BLOCK)
                    dk_conv_weight_grad_block_f32(&s->g, s->xp[t], s->stride, s->xs, s->dy[t], s->samples, s->dw[t], seg,
                                                  seg + 1, c, c + DK_CONV_CHANNEL_BLOCK < s->cout ? c + DK_CONV_CHANNEL_BLOCK : s->cout,
                                                  s->lines);
        return;
    }
    for (long pass = 0; pass < s->passes; pass++)
        for (long l = 0, lines = s->positions / s->h; l < lines; l += s->lines)
            dk_conv_weight_grad_f32(&s->g, s->xp[t], s->dy[t], s->dw[t], l,
                                    l + s->lines < lines ? l + s->lines : lines);
}

/// x rounded to bfloat16 (to nearest, ties to even), as a Float.
static float bf16_rounded(float x) {
    float r;
    dk_f32_round_bf16(&x, &r, 1);
    return r;
}

/// PASS=winograd: the root-mean-square and largest errors of the Winograd pass and of the direct
/// forward pass against a Double reference, on thread 0's first sample.
static void accuracy(const Shape *s) {
    const long h = s->h, hp = h + 2, cin = s->cin, cout = s->cout, outputs = s->positions * cout;
    const long planes = s->volume ? h : 1, depth = s->volume ? 3 : 1;
    float *direct = aligned_alloc(64, sizeof(float) * (size_t)outputs);
    dk_conv_forward_f32(&s->g, s->xp[0], s->w, NULL, direct, 0, s->positions);
    if (s->tile4) {
        dk_conv_winograd4_transform_kernel_f32(s->w, cin, cout, s->u[0], 0, cin);
        dk_conv_winograd4_forward_f32(&s->wg, s->xp[0], 0, s->positions / 16, s->u[0], NULL, s->y[0], s->scratch[0]);
    } else if (s->winograd == 3) {
        dk_conv_winograd_transform_kernel_f32(s->w, s->g.kd, cin, cout, s->u[0], 0, cin);
        dk_conv_winograd_round_kernel_bf16(s->u[0], s->points, cin, cout, s->ub[0], 0, s->points);
        dk_conv_winograd_forward_bf16(&s->wg, s->xp[0], 0, s->positions / (s->volume ? 8 : 4), s->ub[0], NULL,
                                      s->y[0], s->scratch[0]);
    } else {
        dk_conv_winograd_transform_kernel_f32(s->w, s->g.kd, cin, cout, s->u[0], 0, cin);
        dk_conv_winograd_forward_f32(&s->wg, s->xp[0], 0, s->positions / (s->volume ? 8 : 4), s->u[0], NULL,
                                     s->y[0], s->scratch[0]);
    }
    // With bfloat16 products: the direct bfloat16 kernels' error, their operands rounded and their
    // products exact (the sums in Double here), in place of the Float direct kernels'.
    const int rounded = s->winograd == 3;
    double sd = 0, sw = 0, md = 0, mw = 0, largest = 0;
    for (long z = 0; z < planes; z++)
        for (long i = 0; i < h; i++)
            for (long j = 0; j < h; j++)
                for (long co = 0; co < cout; co++) {
                    double r = 0, r16 = 0;
                    for (int e = 0; e < depth; e++)
                        for (int a = 0; a < 3; a++)
                            for (int b = 0; b < 3; b++)
                                for (long c = 0; c < cin; c++) {
                                    const float x = s->xp[0][(((z + e) * hp + i + a) * hp + j + b) * cin + c];
                                    const float w = s->kernel[(((e * 3 + a) * 3 + b) * cin + c) * cout + co];
                                    r += (double)x * w;
                                    if (rounded) r16 += (double)bf16_rounded(x) * bf16_rounded(w);
                                }
                    const long q = ((z * h + i) * h + j) * cout + co;
                    const double ed = fabs((rounded ? r16 : direct[q]) - r), ew = fabs(s->y[0][q] - r);
                    sd += ed * ed, sw += ew * ew;
                    md = ed > md ? ed : md, mw = ew > mw ? ew : mw, largest = fabs(r) > largest ? fabs(r) : largest;
                }
    printf("| %ld%s %ld → %ld | %.3g | %.3g | %.3g | %.3g | %.3g |\n", h, s->volume ? "³" : "²", cin, cout,
           sqrt(sd / outputs), sqrt(sw / outputs), md, mw, largest);
    free(direct);
}

typedef struct { const Shape *s; int t, threads; } Job;

static void *worker(void *arg) {
    const Job *j = arg;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(j->t, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    if (j->s->weight && !j->s->winograd)
        weight_gradient(j->s, j->t);
    else
        forward(j->s, j->t, j->threads);
    return NULL;
}

/// Seconds per pass for `threads` samples, one per thread pinned to cores 0, 1, … (each thread
/// runs its sample's pass s->passes times).
static double timed(const Shape *s, int threads) {
    pthread_t id[MAX_THREADS];
    Job jobs[MAX_THREADS];
    pthread_barrier_t phases;
    pthread_barrier_init(&phases, NULL, (unsigned)threads);
    ((Shape *)s)->phases = &phases;
    const double t0 = now();
    for (int t = 0; t < threads; t++) {
        jobs[t] = (Job){s, t, threads};
        pthread_create(&id[t], NULL, worker, &jobs[t]);
    }
    for (int t = 0; t < threads; t++) pthread_join(id[t], NULL);
    const double seconds = (now() - t0) / (double)s->passes;
    pthread_barrier_destroy(&phases);
    return seconds;
}

int main(int argc, char **argv) {
    cpu_model();
    const int repetitions = argc > 1 ? atoi(argv[1]) : 25;
    const long l2 = l2_bytes();
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    const int threads = cores > MAX_THREADS ? MAX_THREADS : cores < 1 ? 1 : (int)cores;
    const int wide = dk_isa() == DK_ISA_AVX512;
    if (dk_isa() < DK_ISA_AVX2) { printf("no AVX2: the forward pass would take the lowered path\n"); return 0; }
    const char *pass = getenv("PASS"), *volume_env = getenv("VOLUME");
    const int volume = volume_env && strcmp(volume_env, "1") == 0;
    const int winograd_weight = pass && strcmp(pass, "winograd-weight") == 0;
    const int weight = (pass && strcmp(pass, "weight") == 0) || winograd_weight;
    const int winograd_bf16 = pass && strcmp(pass, "winograd-bf16") == 0;
    const int winograd_bf16_weight = pass && strcmp(pass, "winograd-bf16-weight") == 0;
    const int winograd = winograd_weight        ? 2
                         : winograd_bf16        ? 3
                         : winograd_bf16_weight ? 4
                                                : pass && strcmp(pass, "winograd") == 0;
    if (pass && !weight && !winograd && strcmp(pass, "forward") != 0) {
        fprintf(stderr,
                "conv_costs: PASS=%s; expected forward, weight, winograd, winograd-bf16, winograd-weight or "
                "winograd-bf16-weight\n",
                pass);
        return 1;
    }
    printf("kernels: %s, %s%s; L2 %ld KiB; %d cores; %d repetitions (minimum of each)\n", wide ? "AVX-512" : "AVX2",
           winograd_weight        ? "Winograd weight gradient"
           : winograd_bf16_weight ? "Winograd weight gradient, bfloat16 products"
           : weight        ? "weight gradient"
           : winograd_bf16 ? "Winograd forward pass, bfloat16 products"
           : winograd      ? "Winograd forward pass"
                           : "forward pass",
           volume ? ", volumes and 3×3×3 kernels" : ", 3×3 kernels", l2 >> 10, threads, repetitions);
    int shapes[MAX_SHAPES][4] = {{128, 3, 32}, {128, 32, 32}, {64, 64, 64}, {32, 128, 128}, {16, 256, 256}};
    int count = 5;
    if (volume) {
        const int cubes[4][4] = {{64, 16, 16}, {32, 32, 32}, {16, 64, 64}, {8, 128, 128}};
        memcpy(shapes, cubes, sizeof cubes);
        count = 4;
    }
    if (winograd) {
        if (dk_conv_winograd_enabled() == 0) { printf("the portable level: Winograd does not run here\n"); return 0; }
        if ((winograd_bf16 || winograd_bf16_weight) && dk_bf16_level_in_use() < DK_BF16_AVX512) {
            printf("no AVX512-BF16: the bfloat16 products do not run here\n");
            return 0;
        }
        shapes[0][1] = 16;  // no first layer (3 channels) there
    }
    if (argc > 2) {
        count = 0;
        for (int a = 2; a < argc && count < MAX_SHAPES; a++) {
            int *t = shapes[count];
            t[3] = 0;
            const int parsed = sscanf(argv[a], "%d,%d,%d,%d", &t[0], &t[1], &t[2], &t[3]);
            const int split = t[3] == -1 && (winograd == 1 || winograd == 2);
            if (parsed < 3 || (t[3] < 0 && !split) || t[0] < 1 || t[1] < 1 || t[2] < 16 || t[2] % 16) {
                fprintf(stderr,
                        "conv_costs: shape '%s'; expected H,Cin,Cout[,block] with Cout a multiple of 16 (block −1: "
                        "split by elements, PASS=winograd or winograd-weight)\n",
                        argv[a]);
                return 1;
            }
            if (winograd && (t[0] % 2 || t[1] % 16 || (winograd == 4 && t[3] % 2))) {
                fprintf(stderr,
                        "conv_costs: shape '%s'; Winograd needs an even H and Cin a multiple of 16 (and "
                        "PASS=winograd-bf16-weight an even block)\n",
                        argv[a]);
                return 1;
            }
            count++;
        }
    }
    Shape s[MAX_SHAPES];
    for (int i = 0; i < count; i++)
        setup(&s[i], shapes[i][0], shapes[i][1], shapes[i][2], volume, l2, threads, weight, winograd, shapes[i][3]);
    double peak = 0, one[MAX_SHAPES], all[MAX_SHAPES];
    for (int i = 0; i < count; i++) one[i] = all[i] = 1e9;
    for (int r = 0; r < repetitions; r++) {
        const double p = wide ? peak_avx512() : peak_avx2();
        if (p > peak) peak = p;
        for (int i = 0; i < count; i++) {
            const double a = timed(&s[i], 1), b = timed(&s[i], threads);
            if (a < one[i]) one[i] = a;
            if (b < all[i]) all[i] = b;
        }
    }
    printf("FMA peak of one core: %.1f GFLOP/s (12 chains)\n", peak * 1e-9);
    printf("| shape | one core GFLOP/s | of peak | %d cores GFLOP/s | of %d × peak |\n", threads, threads);
    printf("| --- | --- | --- | --- | --- |\n");
    for (int i = 0; i < count; i++) {
        const double flop = 2.0 * s[i].samples * s[i].positions * s[i].cout * s[i].taps * s[i].cin;
        const double single = flop / one[i], every = threads * flop / all[i];
        printf("| %d%s %d → %d%s | %.1f | %.0f %% | %.1f | %.0f %% |\n", s[i].h, volume ? "³" : "²", s[i].cin, s[i].cout,
               shapes[i][3] < 0 ? " (split by elements)" : shapes[i][3] ? " (given block)" : "", single * 1e-9,
               100 * single / peak, every * 1e-9, 100 * every / (threads * peak));
    }
    if (winograd == 1 || winograd == 3) {
        printf("\nAgainst a Double reference, one sample:\n");
        const char *direct = winograd == 3 ? "direct bfloat16" : "direct";
        printf("| shape | %s rms error | Winograd rms error | %s largest | Winograd largest | largest |y| |\n", direct,
               direct);
        printf("| --- | --- | --- | --- | --- | --- |\n");
        for (int i = 0; i < count; i++) accuracy(&s[i]);
    }
    return 0;
}
