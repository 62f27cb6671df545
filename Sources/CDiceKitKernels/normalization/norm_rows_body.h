// One instance of the normalisation passes (norm_rows.c includes this once per instruction set):
// NR_NAME(name) names this instance's functions. No include guard on purpose.
//
// The sums run a block of 16 channels at a time over every row, its 16 Double accumulators in
// registers (the rows in order, per channel, as the reference), then the channels left; the
// element-wise passes run row by row.

static void NR_NAME(moments)(const float *restrict x, long rows, long channels, double *restrict mean,
                             double *restrict variance) {
    long c0 = 0;
    for (; c0 + 16 <= channels; c0 += 16) {
        double m[16] = {0}, v[16] = {0};
        for (long r = 0; r < rows; r++)
            for (int k = 0; k < 16; k++) m[k] += (double)x[r * channels + c0 + k];
        for (int k = 0; k < 16; k++) m[k] /= (double)rows;
        for (long r = 0; r < rows; r++)
            for (int k = 0; k < 16; k++) {
                double d = (double)x[r * channels + c0 + k] - m[k];
                v[k] += d * d;
            }
        for (int k = 0; k < 16; k++) {
            mean[c0 + k] = m[k];
            variance[c0 + k] = v[k] / (double)rows;
        }
    }
    for (long c = c0; c < channels; c++) mean[c] = 0, variance[c] = 0;
    for (long r = 0; r < rows; r++)
        for (long c = c0; c < channels; c++) mean[c] += (double)x[r * channels + c];
    for (long c = c0; c < channels; c++) mean[c] /= (double)rows;
    for (long r = 0; r < rows; r++)
        for (long c = c0; c < channels; c++) {
            double d = (double)x[r * channels + c] - mean[c];
            variance[c] += d * d;
        }
    for (long c = c0; c < channels; c++) variance[c] /= (double)rows;
}

static void NR_NAME(gradient_sums)(const float *restrict dy, const float *restrict xhat, long rows, long channels,
                                   double *restrict dbeta, double *restrict dgamma) {
    long c0 = 0;
    for (; c0 + 16 <= channels; c0 += 16) {
        double b[16] = {0}, g[16] = {0};
        for (long r = 0; r < rows; r++)
            for (int k = 0; k < 16; k++) {
                double d = (double)dy[r * channels + c0 + k];
                b[k] += d;
                g[k] += d * (double)xhat[r * channels + c0 + k];
            }
        for (int k = 0; k < 16; k++) dbeta[c0 + k] = b[k], dgamma[c0 + k] = g[k];
    }
    for (long c = c0; c < channels; c++) dbeta[c] = 0, dgamma[c] = 0;
    for (long r = 0; r < rows; r++)
        for (long c = c0; c < channels; c++) {
            double d = (double)dy[r * channels + c];
            dbeta[c] += d;
            dgamma[c] += d * (double)xhat[r * channels + c];
        }
}

// The gradient sums of a ReLU's input gradient: dy ← (kept > 0 ? dy : 0) written over dy (a NaN
// kept passes nothing, as dk_rectify_backward_inplace_f32), then summed as `gradient_sums` sums
// it. `kept` is the ReLU's output, Float or (kept_bf16) bfloat16 bits; the constant folds.
static inline __attribute__((always_inline)) void NR_NAME(rectified_sums_body)(
    float *restrict dy, const float *restrict xhat, const void *restrict kept, const int kept_bf16, long rows,
    long channels, double *restrict dbeta, double *restrict dgamma) {
#define NR_KEPT(i) (kept_bf16 ? nr_widen(((const unsigned short *)kept)[i]) : ((const float *)kept)[i])
    long c0 = 0;
    for (; c0 + 16 <= channels; c0 += 16) {
        double b[16] = {0}, g[16] = {0};
        for (long r = 0; r < rows; r++)
            for (int k = 0; k < 16; k++) {
                long i = r * channels + c0 + k;
                float v = NR_KEPT(i) > 0 ? dy[i] : 0.0f;
                dy[i] = v;
                b[k] += (double)v;
                g[k] += (double)v * (double)xhat[i];
            }
        for (int k = 0; k < 16; k++) dbeta[c0 + k] = b[k], dgamma[c0 + k] = g[k];
    }
    for (long c = c0; c < channels; c++) dbeta[c] = 0, dgamma[c] = 0;
    for (long r = 0; r < rows; r++)
        for (long c = c0; c < channels; c++) {
            long i = r * channels + c;
            float v = NR_KEPT(i) > 0 ? dy[i] : 0.0f;
            dy[i] = v;
            dbeta[c] += (double)v;
            dgamma[c] += (double)v * (double)xhat[i];
        }
#undef NR_KEPT
}

static void NR_NAME(rectified_gradient_sums_f32)(float *restrict dy, const float *restrict xhat,
                                                 const float *restrict kept, long rows, long channels,
                                                 double *restrict dbeta, double *restrict dgamma) {
    NR_NAME(rectified_sums_body)(dy, xhat, kept, 0, rows, channels, dbeta, dgamma);
}

static void NR_NAME(rectified_gradient_sums_bf16)(float *restrict dy, const float *restrict xhat,
                                                  const unsigned short *restrict kept, long rows, long channels,
                                                  double *restrict dbeta, double *restrict dgamma) {
    NR_NAME(rectified_sums_body)(dy, xhat, kept, 1, rows, channels, dbeta, dgamma);
}

static void NR_NAME(normalize)(const float *restrict x, long rows, long channels, const float *restrict shift,
                               const float *restrict scale, const float *restrict gamma, const float *restrict beta,
                               int rectifies, float *restrict xhat, float *restrict y) {
    for (long r = 0; r < rows; r++) {
        const float *restrict xr = x + r * channels;
        float *restrict hr = xhat + r * channels;
        float *restrict yr = y + r * channels;
        if (rectifies) {
            for (long c = 0; c < channels; c++) {
                float h = (xr[c] - shift[c]) * scale[c];
                hr[c] = h;
                float v = gamma[c] * h + beta[c];
                yr[c] = v <= 0 ? 0.0f : v;
            }
        } else {
            for (long c = 0; c < channels; c++) {
                float h = (xr[c] - shift[c]) * scale[c];
                hr[c] = h;
                yr[c] = gamma[c] * h + beta[c];
            }
        }
    }
}

static void NR_NAME(batch_input_gradient)(const float *restrict dy, const float *restrict xhat, long rows,
                                          long channels, const float *restrict scale, const float *restrict gamma,
                                          const float *restrict mean_dy, const float *restrict mean_dy_xhat,
                                          float *restrict dx) {
    for (long r = 0; r < rows; r++) {
        const float *restrict d = dy + r * channels;
        const float *restrict h = xhat + r * channels;
        float *restrict o = dx + r * channels;
        for (long c = 0; c < channels; c++) o[c] = scale[c] * gamma[c] * (d[c] - mean_dy[c] - h[c] * mean_dy_xhat[c]);
    }
}

// `batch_input_gradient` written over dy: each element is read before it is written.
static void NR_NAME(batch_input_gradient_inplace)(float *restrict g, const float *restrict xhat, long rows,
                                                  long channels, const float *restrict scale,
                                                  const float *restrict gamma, const float *restrict mean_dy,
                                                  const float *restrict mean_dy_xhat) {
    for (long r = 0; r < rows; r++) {
        float *restrict d = g + r * channels;
        const float *restrict h = xhat + r * channels;
        for (long c = 0; c < channels; c++) d[c] = scale[c] * gamma[c] * (d[c] - mean_dy[c] - h[c] * mean_dy_xhat[c]);
    }
}

static void NR_NAME(group_input_gradient)(const float *restrict dy, const float *restrict xhat, long rows,
                                          long channels, const float *restrict scale, const float *restrict gamma,
                                          const float *restrict mean_d, const float *restrict mean_dh,
                                          float *restrict dx) {
    for (long r = 0; r < rows; r++) {
        const float *restrict d = dy + r * channels;
        const float *restrict h = xhat + r * channels;
        float *restrict o = dx + r * channels;
        for (long c = 0; c < channels; c++) o[c] = scale[c] * (gamma[c] * d[c] - mean_d[c] - h[c] * mean_dh[c]);
    }
}
