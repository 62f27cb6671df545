// The weight average's update passes (WeightAverage.swift): PyTorch's `lerp` written over the
// average, each element one fused multiply-add, and PyTorch's equal-average update
// a + (p − a)/k, so every CPU gives PyTorch's bits.
#ifndef DK_AVERAGE_H
#define DK_AVERAGE_H

/// a[i] = fma(coefficient, p[i] − a[i], from_target ? p[i] : a[i]): with coefficient w and
/// from_target 0, a + w·(p − a) (PyTorch's lerp for w < 0.5); with coefficient w − 1 and
/// from_target 1, p + (w − 1)·(p − a) (its form for w ≥ 0.5). AVX2 + FMA where the CPU has them
/// (dk_isa() ≥ DK_ISA_AVX2), else C's fmaf: the same bits.
void dk_lerp_inplace_f32(float *a, const float *p, long n, float coefficient, int from_target);
/// The Double form of dk_lerp_inplace_f32 (fma).
void dk_lerp_inplace_f64(double *a, const double *p, long n, double coefficient, int from_target);

/// a[i] = a[i] + (p[i] − a[i]) / count, three roundings as written: PyTorch's `get_swa_avg_fn`
/// (the equal average's update `count`, its `n_averaged + 1`). AVX2 where the CPU has it, else
/// C: the same bits.
void dk_mean_update_f32(float *a, const float *p, long n, float count);
/// The Double form of dk_mean_update_f32.
void dk_mean_update_f64(double *a, const double *p, long n, double count);

#endif
