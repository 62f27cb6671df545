// The normalisation layers' passes over channels-last rows [rows × channels] of Float
// (Sources/DiceKit/NN/Normalization/NormalizationKernels.swift states the mathematics): the
// per-channel moments and gradient sums in Double, the normalisation itself and the input
// gradients. Each is the Swift reference's expression, element by element in the same order
// (sums run over the rows in order, per channel; no contraction into FMA), so the results are
// its bits; AVX-512 or baseline code, chosen at run time.
#ifndef DK_NORMALIZATION_H
#define DK_NORMALIZATION_H

/// mean[c] = Σ_r x[r, c] / rows, then variance[c] = Σ_r (x[r, c] − mean[c])² / rows (Double;
/// both overwritten). rows ≥ 1.
void dk_norm_moments_f32(const float *x, long rows, long channels, double *mean, double *variance);

/// dbeta[c] = Σ_r dy[r, c] and dgamma[c] = Σ_r dy[r, c]·xhat[r, c] (Double; both overwritten).
void dk_norm_gradient_sums_f32(const float *dy, const float *xhat, long rows, long channels, double *dbeta,
                               double *dgamma);

/// A ReLU's backward pass and `dk_norm_gradient_sums_f32` in one pass (a normalisation before a
/// ReLU): dy ← dy where kept > 0, else +0 (a NaN kept too), or with `leaky` slope·dy (a leaky
/// ReLU, as dk_rectify_backward_inplace_f32), written over dy, then its sums: the bits of the two
/// passes one after the other. `kept` is the ReLU's output.
void dk_norm_rectified_gradient_sums_f32(float *dy, const float *xhat, const float *kept, float slope, int leaky,
                                         long rows, long channels, double *dbeta, double *dgamma);

/// `dk_norm_rectified_gradient_sums_f32` with the ReLU's output kept as bfloat16 bit patterns.
void dk_norm_rectified_gradient_sums_bf16(float *dy, const float *xhat, const unsigned short *kept, float slope,
                                          int leaky, long rows, long channels, double *dbeta, double *dgamma);

/// sums[c] = Σ_r dy[r, c] (Double, overwritten): `dk_norm_gradient_sums_f32`'s dbeta alone, the
/// bias gradient of a convolution.
void dk_channel_sums_f32(const float *dy, long rows, long channels, double *sums);

/// A (leaky) ReLU's backward pass and `dk_channel_sums_f32` in one pass (a convolution before a
/// ReLU), as `dk_norm_rectified_gradient_sums_f32` does it: the rectified dy written over dy, then
/// summed.
void dk_rectified_channel_sums_f32(float *dy, const float *kept, float slope, int leaky, long rows, long channels,
                                   double *sums);

/// `dk_rectified_channel_sums_f32` with the ReLU's output kept as bfloat16 bit patterns.
void dk_rectified_channel_sums_bf16(float *dy, const unsigned short *kept, float slope, int leaky, long rows,
                                    long channels, double *sums);

/// The activation `dk_norm_normalize_f32` applies to its output.
enum { DK_NORM_IDENTITY = 0, DK_NORM_RELU = 1, DK_NORM_LEAKY_RELU = 2 };

/// xhat = (x − shift_c)·scale_c and y = γ_c·xhat + β_c; with `activation` DK_NORM_RELU y = +0
/// where γ_c·xhat + β_c ≤ 0 (a NaN kept), with DK_NORM_LEAKY_RELU y = slope·v there (v the
/// value; a NaN stays NaN): the bits of dk_rectify_inplace_f32 after the plain pass.
void dk_norm_normalize_f32(const float *x, long rows, long channels, const float *shift, const float *scale,
                           const float *gamma, const float *beta, int activation, float slope, float *xhat,
                           float *y);

/// dk_norm_normalize_f32 with y stored as its bfloat16 rounding (to nearest, ties to even; a NaN
/// stays a quiet NaN): the bits dk_f32_to_bf16 gives from dk_norm_normalize_f32's y.
void dk_norm_normalize_bf16(const float *x, long rows, long channels, const float *shift, const float *scale,
                            const float *gamma, const float *beta, int activation, float slope, float *xhat,
                            unsigned short *y);

/// BatchNorm's input gradient: dx = scale_c·γ_c·(dy − mean_dy_c − xhat·mean_dy_xhat_c).
void dk_norm_batch_input_gradient_f32(const float *dy, const float *xhat, long rows, long channels,
                                      const float *scale, const float *gamma, const float *mean_dy,
                                      const float *mean_dy_xhat, float *dx);

/// GroupNorm's input gradient: dx = scale_c·(γ_c·dy − mean_d_c − xhat·mean_dh_c).
void dk_norm_group_input_gradient_f32(const float *dy, const float *xhat, long rows, long channels,
                                      const float *scale, const float *gamma, const float *mean_d,
                                      const float *mean_dh, float *dx);

/// `dk_norm_batch_input_gradient_f32`, or with `group` `dk_norm_group_input_gradient_f32`,
/// written over its input: g ← dx(g).
void dk_norm_input_gradient_inplace_f32(int group, float *g, const float *xhat, long rows, long channels,
                                        const float *scale, const float *gamma, const float *mean_dy,
                                        const float *mean_dy_xhat);

#endif
