// The rectifier's element passes written over their buffer (ReLU, or leaky ReLU with a slope),
// in SSE2 selects: the same bits as the scalar expressions below, without the branch per
// element that a compiler makes of a loop whose store is skipped where the value is unchanged.
#ifndef DK_ACTIVATION_H
#define DK_ACTIVATION_H

/// x[i] = x[i] > 0 ? x[i] : slope · x[i] when `leaky`, else x[i] > 0 || x[i] is NaN ? x[i] : +0.
void dk_rectify_inplace_f32(float *x, long n, float slope, int leaky);
/// The Double form of dk_rectify_inplace_f32.
void dk_rectify_inplace_f64(double *x, long n, double slope, int leaky);

/// g[i] = y[i] > 0 ? g[i] : (leaky ? slope · g[i] : +0), with y the forward pass's output
/// (positive exactly where its input was, for a slope ≥ 0; a NaN passes no gradient).
void dk_rectify_backward_inplace_f32(const float *y, float *g, long n, float slope, int leaky);
/// The Double form of dk_rectify_backward_inplace_f32.
void dk_rectify_backward_inplace_f64(const double *y, double *g, long n, double slope, int leaky);
/// dk_rectify_backward_inplace_f32 with the output kept as bfloat16 bit patterns: each y[i] is
/// widened to its Float value (exact) and compared as there, so the same MXCSR gives the same bits.
void dk_rectify_backward_inplace_bf16(const unsigned short *y, float *g, long n, float slope, int leaky);

#endif
