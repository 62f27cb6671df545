// One instance of the normalisation passes (norm_rows.c includes this once per instruction set):
// NR_NAME(name) names this instance's functions. No include guard on purpose.
//
// The moments and sums run a block of 16 channels at a time over every row, its 16 Double
// accumulators in registers (the rows in order, per channel, as the reference), then the channels
// left, 1 to 15, likewise; the element-wise passes run row by row.

// CALL(CH) for the channels left after the blocks of 16, CH = channels − c0 from 1 to 15 as a
// constant in each case, so that CALL's accumulators stay in registers.
#define NR_CHANNELS_LEFT(CALL)                                                                    \
    switch (channels - c0) {                                                                     \
    case 1: CALL(1); break;                                                                      \
    case 2: CALL(2); break;                                                                      \
    case 3: CALL(3); break;                                                                      \
    case 4: CALL(4); break;                                                                      \
    case 5: CALL(5); break;                                                                      \
    case 6: CALL(6); break;                                                                      \
    case 7: CALL(7); break;                                                                      \
    case 8: CALL(8); break;                                                                      \
    case 9: CALL(9); break;                                                                      \
    case 10: CALL(10); break;                                                                    \
    case 11: CALL(11); break;                                                                    \
    case 12: CALL(12); break;                                                                    \
    case 13: CALL(13); break;                                                                    \
    case 14: CALL(14); break;                                                                    \
    case 15: CALL(15); break;                                                                    \
    default: break;                                                                              \
    }

/// The moments of channels c0 … c0 + CH − 1, CH ≤ 16 a constant, their Double accumulators in
/// registers: the mean over every row in order, then the squared deviations from it. (Added into
/// memory with c a variable, as the channels left after the blocks of 16 were until 2026-12-06,
/// each row waited for the previous row's store: 6 times slower per value at 8 channels.)
static inline __attribute__((always_inline)) void NR_NAME(moments_channels)(
    const float *restrict x, long rows, long channels, long c0, double *restrict mean, double *restrict variance,
    const int CH) {
    double m[16] = {0}, v[16] = {0};
    for (long r = 0; r < rows; r++)
        for (int k = 0; k < CH; k++) m[k] += (double)x[r * channels + c0 + k];
    for (int k = 0; k < CH; k++) m[k] /= (double)rows;
    for (long r = 0; r < rows; r++)
        for (int k = 0; k < CH; k++) {
            double d = (double)x[r * channels + c0 + k] - m[k];
            v[k] += d * d;
        }
    for (int k = 0; k < CH; k++) {
        mean[c0 + k] = m[k];
        variance[c0 + k] = v[k] / (double)rows;
    }
}

static void NR_NAME(moments)(const float *restrict x, long rows, long channels, double *restrict mean,
                             double *restrict variance) {
    long c0 = 0;
    for (; c0 + 16 <= channels; c0 += 16) NR_NAME(moments_channels)(x, rows, channels, c0, mean, variance, 16);
#define NR_MOMENTS(CH) NR_NAME(moments_channels)(x, rows, channels, c0, mean, variance, CH)
    NR_CHANNELS_LEFT(NR_MOMENTS)
#undef NR_MOMENTS
}

// dbeta[c] = Σ_r v and, with `products`, dgamma[c] = Σ_r v·xhat over the rows (without, xhat
// and dgamma are not touched: a convolution's bias gradient): v = dy, or with a ReLU's output
// `kept` (`kept_kind` NR_KEPT_F32: Float, NR_KEPT_BF16: bfloat16 bits) v = nr_rectified(…)
// written over dy: the (leaky, with `leaky` and `slope`) ReLU's backward pass and the sums in
// one. `kept_kind` and `products` are constants at every call, and fold.
#define NR_VALUE(i) (kept_kind == NR_KEPT_NONE ? dy[i] : nr_rectified(dy[i], kept, kept_kind, slope, leaky, i))

/// sums_body's channels c0 … c0 + CH − 1, CH ≤ 16 a constant: their Double accumulators in
/// registers over every row, in order. Through memory (dbeta[c] += v, c a variable), each row had
/// waited for the previous row's store: the channels left after the blocks of 16 (a head's 1–3
/// logits) ran about 25 times slower per value than a block of 16.
static inline __attribute__((always_inline)) void NR_NAME(sums_channels)(
    float *restrict dy, const float *restrict xhat, const void *restrict kept, const int kept_kind, float slope,
    int leaky, const int products, long rows, long channels, long c0, double *restrict dbeta,
    double *restrict dgamma, const int CH) {
    double b[16] = {0}, g[16] = {0};
    for (long r = 0; r < rows; r++)
        for (int k = 0; k < CH; k++) {
            const long i = r * channels + c0 + k;
            const float v = NR_VALUE(i);
            if (kept_kind != NR_KEPT_NONE) dy[i] = v;
            b[k] += (double)v;
            if (products) g[k] += (double)v * (double)xhat[i];
        }
    for (int k = 0; k < CH; k++) {
        dbeta[c0 + k] = b[k];
        if (products) dgamma[c0 + k] = g[k];
    }
}

static inline __attribute__((always_inline)) void NR_NAME(sums_body)(
    float *restrict dy, const float *restrict xhat, const void *restrict kept, const int kept_kind, float slope,
    int leaky, const int products, long rows, long channels, double *restrict dbeta, double *restrict dgamma) {
    long c0 = 0;
    for (; c0 + 16 <= channels; c0 += 16)
        NR_NAME(sums_channels)(dy, xhat, kept, kept_kind, slope, leaky, products, rows, channels, c0, dbeta, dgamma, 16);
#define NR_SUMS(CH) \
    NR_NAME(sums_channels)(dy, xhat, kept, kept_kind, slope, leaky, products, rows, channels, c0, dbeta, dgamma, CH)
    NR_CHANNELS_LEFT(NR_SUMS)
#undef NR_SUMS
}
#undef NR_VALUE

static void NR_NAME(gradient_sums)(const float *restrict dy, const float *restrict xhat, long rows, long channels,
                                   double *restrict dbeta, double *restrict dgamma) {
    // Read only: nothing is written through the cast without a kept output.
    NR_NAME(sums_body)((float *)dy, xhat, 0, NR_KEPT_NONE, 0, 0, 1, rows, channels, dbeta, dgamma);
}

static void NR_NAME(rectified_gradient_sums_f32)(float *restrict dy, const float *restrict xhat,
                                                 const float *restrict kept, float slope, int leaky, long rows,
                                                 long channels, double *restrict dbeta, double *restrict dgamma) {
    NR_NAME(sums_body)(dy, xhat, kept, NR_KEPT_F32, slope, leaky, 1, rows, channels, dbeta, dgamma);
}

static void NR_NAME(rectified_gradient_sums_bf16)(float *restrict dy, const float *restrict xhat,
                                                  const unsigned short *restrict kept, float slope, int leaky,
                                                  long rows, long channels, double *restrict dbeta,
                                                  double *restrict dgamma) {
    NR_NAME(sums_body)(dy, xhat, kept, NR_KEPT_BF16, slope, leaky, 1, rows, channels, dbeta, dgamma);
}

// The sums without the products: dbeta alone (a convolution's bias gradient), plain or with a
// (leaky) ReLU's backward pass written over dy.
static void NR_NAME(channel_sums)(const float *restrict dy, long rows, long channels, double *restrict sums) {
    NR_NAME(sums_body)((float *)dy, 0, 0, NR_KEPT_NONE, 0, 0, 0, rows, channels, sums, 0);
}

static void NR_NAME(rectified_channel_sums_f32)(float *restrict dy, const float *restrict kept, float slope,
                                                int leaky, long rows, long channels, double *restrict sums) {
    NR_NAME(sums_body)(dy, 0, kept, NR_KEPT_F32, slope, leaky, 0, rows, channels, sums, 0);
}

static void NR_NAME(rectified_channel_sums_bf16)(float *restrict dy, const unsigned short *restrict kept,
                                                 float slope, int leaky, long rows, long channels,
                                                 double *restrict sums) {
    NR_NAME(sums_body)(dy, 0, kept, NR_KEPT_BF16, slope, leaky, 0, rows, channels, sums, 0);
}

/// xhat and y = γ·xhat + β (with the activation) row by row; y's Floats, or with `bits` their
/// bfloat16 rounding (dk_bf16_bits) in `yb`. `bits` is a constant at every call, and folds.
static inline __attribute__((always_inline)) void NR_NAME(normalize_body)(
    const int bits, const float *restrict x, long rows, long channels, const float *restrict shift,
    const float *restrict scale, const float *restrict gamma, const float *restrict beta, int activation, float slope,
    float *restrict xhat, float *restrict y, unsigned short *restrict yb) {
#define NR_STORE(c, v)                               \
    do {                                             \
        if (bits) ybr[c] = dk_bf16_bits(v);          \
        else yr[c] = (v);                            \
    } while (0)
    for (long r = 0; r < rows; r++) {
        const float *restrict xr = x + r * channels;
        float *restrict hr = xhat + r * channels;
        float *restrict yr = bits ? 0 : y + r * channels;
        unsigned short *restrict ybr = bits ? yb + r * channels : 0;
        if (activation == DK_NORM_RELU) {
            for (long c = 0; c < channels; c++) {
                float h = (xr[c] - shift[c]) * scale[c];
                hr[c] = h;
                float v = gamma[c] * h + beta[c];
                NR_STORE(c, v <= 0 ? 0.0f : v);
            }
        } else if (activation == DK_NORM_LEAKY_RELU) {
            for (long c = 0; c < channels; c++) {
                float h = (xr[c] - shift[c]) * scale[c];
                hr[c] = h;
                float v = gamma[c] * h + beta[c];
                NR_STORE(c, v > 0 ? v : slope * v);
            }
        } else {
            for (long c = 0; c < channels; c++) {
                float h = (xr[c] - shift[c]) * scale[c];
                hr[c] = h;
                NR_STORE(c, gamma[c] * h + beta[c]);
            }
        }
    }
#undef NR_STORE
}

static void NR_NAME(normalize)(const float *restrict x, long rows, long channels, const float *restrict shift,
                               const float *restrict scale, const float *restrict gamma, const float *restrict beta,
                               int activation, float slope, float *restrict xhat, float *restrict y) {
    NR_NAME(normalize_body)(0, x, rows, channels, shift, scale, gamma, beta, activation, slope, xhat, y, 0);
}

static void NR_NAME(normalize_bf16)(const float *restrict x, long rows, long channels, const float *restrict shift,
                                    const float *restrict scale, const float *restrict gamma,
                                    const float *restrict beta, int activation, float slope, float *restrict xhat,
                                    unsigned short *restrict yb) {
    NR_NAME(normalize_body)(1, x, rows, channels, shift, scale, gamma, beta, activation, slope, xhat, 0, yb);
}

// The input gradients, row by row: BatchNorm's dx = scale·γ·(dy − mean_dy − xhat·mean_dy_xhat),
// or with `group` GroupNorm's dx = scale·(γ·dy − mean_dy − xhat·mean_dy_xhat) (mean_dy and
// mean_dy_xhat then the group means of γ·dy and γ·dy·xhat); dx may be dy itself (each element
// is read before it is written): the wrappers below pass restrict pointers, or one pointer
// twice. `group` is a constant at every call, and folds.
static inline __attribute__((always_inline)) void NR_NAME(dx_body)(
    const int group, const float *dy, const float *restrict xhat, long rows, long channels,
    const float *restrict scale, const float *restrict gamma, const float *restrict mean_dy,
    const float *restrict mean_dy_xhat, float *dx) {
    for (long r = 0; r < rows; r++) {
        const float *d = dy + r * channels;
        const float *restrict h = xhat + r * channels;
        float *o = dx + r * channels;
        if (group)
            for (long c = 0; c < channels; c++)
                o[c] = scale[c] * (gamma[c] * d[c] - mean_dy[c] - h[c] * mean_dy_xhat[c]);
        else
            for (long c = 0; c < channels; c++)
                o[c] = scale[c] * gamma[c] * (d[c] - mean_dy[c] - h[c] * mean_dy_xhat[c]);
    }
}

static void NR_NAME(batch_input_gradient)(const float *restrict dy, const float *restrict xhat, long rows,
                                          long channels, const float *restrict scale, const float *restrict gamma,
                                          const float *restrict mean_dy, const float *restrict mean_dy_xhat,
                                          float *restrict dx) {
    NR_NAME(dx_body)(0, dy, xhat, rows, channels, scale, gamma, mean_dy, mean_dy_xhat, dx);
}

static void NR_NAME(group_input_gradient)(const float *restrict dy, const float *restrict xhat, long rows,
                                          long channels, const float *restrict scale, const float *restrict gamma,
                                          const float *restrict mean_d, const float *restrict mean_dh,
                                          float *restrict dx) {
    NR_NAME(dx_body)(1, dy, xhat, rows, channels, scale, gamma, mean_d, mean_dh, dx);
}

// `batch_input_gradient`, or with `group` `group_input_gradient`, written over dy.
static void NR_NAME(input_gradient_inplace)(int group, float *restrict g, const float *restrict xhat, long rows,
                                            long channels, const float *restrict scale, const float *restrict gamma,
                                            const float *restrict mean_dy, const float *restrict mean_dy_xhat) {
    if (group) NR_NAME(dx_body)(1, g, xhat, rows, channels, scale, gamma, mean_dy, mean_dy_xhat, g);
    else NR_NAME(dx_body)(0, g, xhat, rows, channels, scale, gamma, mean_dy, mean_dy_xhat, g);
}

#undef NR_CHANNELS_LEFT
