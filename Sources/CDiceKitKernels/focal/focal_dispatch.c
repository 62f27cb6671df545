// The focal-loss kernels' entry points (dk_focal.h): argument checks, then the variant of the
// instruction-set level in use (AVX-512 or AVX2 + FMA; below that, and on CPUs other than x86-64,
// 0 and the Swift passes).

#include "focal_variants.h"
#include "dk_dispatch.h"
#include <math.h>

/// Element k of one position's sigmoid focal loss, positive (target 1) or not.
static inline void sigmoid_element(const float *x, int k, int pos, int C, const float *w1, const float *w0, int gamma,
                                   float scale, float *grad, double *sums) {
    const float u = pos ? x[k] : -x[k];
    const float e = expf(-fabsf(u)), l1 = log1pf(e);
    const float bce = (u < 0 ? -u : 0) + l1;
    const float big = 1 / (1 + e), small = e * big;
    const float su = u >= 0 ? big : small, smu = u >= 0 ? small : big;
    float f = 1;
    for (int g = 0; g < gamma; g++) f *= smu;
    const float dfv = -(float)gamma * f * su, wt = pos ? w1[k] : w0[k];
    sums[k] += (double)(wt * f * bce);
    sums[C + k] += (double)f;
    if (grad) {
        const float dl = wt * (dfv * bce - f * smu);
        grad[k] = (pos ? dl : -dl) * scale;
    }
}

void dk_focal_sigmoid_dense_position(const float *x, const float *t, int C, const float *w1, const float *w0,
                                     int gamma, float scale, float *grad, double *sums) {
    for (int k = 0; k < C; k++) sigmoid_element(x, k, t[k] == 1.0f, C, w1, w0, gamma, scale, grad, sums);
}

void dk_focal_sigmoid_position(const float *x, int32_t label, int C, int label_offset, const float *w1,
                               const float *w0, int gamma, float scale, float *grad, double *sums) {
    for (int k = 0; k < C; k++) sigmoid_element(x, k, label == k + label_offset, C, w1, w0, gamma, scale, grad, sums);
}

int dk_focal_sigmoid_labels_f32(const float *x, const int32_t *labels, long positions, int C, int label_offset,
                                const float *w1, const float *w0, int gamma, float scale, float *grad, double *sums) {
    if (C < 1 || C > DK_FOCAL_LANES || DK_FOCAL_LANES % C != 0 || gamma < 0 || gamma > DK_FOCAL_MAX_WHOLE_GAMMA
        || positions < 0)
        return 0;
    switch (dk_isa()) {
#if defined(__x86_64__)
    case DK_ISA_AVX512:
        dk_focal_sigmoid_avx512(x, labels, positions, C, label_offset, w1, w0, gamma, scale, grad, sums);
        return 1;
    case DK_ISA_AVX2:
        dk_focal_sigmoid_avx2(x, labels, positions, C, label_offset, w1, w0, gamma, scale, grad, sums);
        return 1;
#endif
    default: return 0;
    }
}

int dk_focal_softmax_labels_f32(const float *x, const int32_t *labels, long positions, int C, int first,
                                const float *w, int gamma, float scale, float *grad, double *sums) {
    if (C < 2 || C > DK_FOCAL_LANES || first < 0 || first > C - 2 || gamma < 0 || gamma > DK_FOCAL_MAX_WHOLE_GAMMA
        || positions < 0)
        return 0;
    switch (dk_isa()) {
#if defined(__x86_64__)
    case DK_ISA_AVX512: dk_focal_softmax_avx512(x, labels, positions, C, first, w, gamma, scale, grad, sums); return 1;
    case DK_ISA_AVX2: dk_focal_softmax_avx2(x, labels, positions, C, first, w, gamma, scale, grad, sums); return 1;
#endif
    default: return 0;
    }
}

int dk_focal_sigmoid_dense_f32(const float *x, const float *t, long positions, int C, const float *w1,
                               const float *w0, int gamma, float scale, float *grad, double *sums) {
    if (C < 1 || C > DK_FOCAL_LANES || gamma < 0 || gamma > DK_FOCAL_MAX_WHOLE_GAMMA || positions < 0) return 0;
    // The AVX2 + FMA variant serves AVX-512 CPUs too.
#if defined(__x86_64__)
    if (dk_isa() < DK_ISA_AVX2) return 0;
    dk_focal_sigmoid_dense_avx2(x, t, positions, C, w1, w0, gamma, scale, grad, sums);
    return 1;
#else
    return 0;
#endif
}
