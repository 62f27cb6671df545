// The instruction-set variants of the focal-loss kernels, one file each (focal_sigmoid_avx512.c,
// focal_softmax_avx512.c, focal_sigmoid_avx2.c, focal_softmax_avx2.c), chosen per call by
// focal_dispatch.c. Arguments as the public entry points of dk_focal.h, already checked there.
// Hidden: internal to the library.
#ifndef DK_FOCAL_VARIANTS_H
#define DK_FOCAL_VARIANTS_H

#include "dk_focal.h"

#define DK_FOCAL_INTERNAL __attribute__((visibility("hidden")))

DK_FOCAL_INTERNAL void dk_focal_sigmoid_avx512(const float *x, const int32_t *labels, long positions, int C,
                                               int label_offset, const float *w1, const float *w0, int gamma,
                                               float scale, float *grad, double *sums);
DK_FOCAL_INTERNAL void dk_focal_sigmoid_avx2(const float *x, const int32_t *labels, long positions, int C,
                                             int label_offset, const float *w1, const float *w0, int gamma,
                                             float scale, float *grad, double *sums);
DK_FOCAL_INTERNAL void dk_focal_softmax_avx512(const float *x, const int32_t *labels, long positions, int C,
                                               int first, const float *w, int gamma, float scale, float *grad,
                                               double *sums);
DK_FOCAL_INTERNAL void dk_focal_softmax_avx2(const float *x, const int32_t *labels, long positions, int C,
                                             int first, const float *w, int gamma, float scale, float *grad,
                                             double *sums);

DK_FOCAL_INTERNAL void dk_focal_sigmoid_dense_avx2(const float *x, const float *t, long positions, int C,
                                                   const float *w1, const float *w0, int gamma, float scale,
                                                   float *grad, double *sums);

/// The scalar sigmoid focal loss of one position with a 0/1 target (libm): the dense kernel's tail.
DK_FOCAL_INTERNAL void dk_focal_sigmoid_dense_position(const float *x, const float *t, int C, const float *w1,
                                                       const float *w0, int gamma, float scale, float *grad,
                                                       double *sums);

/// The scalar sigmoid focal loss of one position (libm): the tail both vector variants share.
DK_FOCAL_INTERNAL void dk_focal_sigmoid_position(const float *x, int32_t label, int C, int label_offset,
                                                 const float *w1, const float *w0, int gamma, float scale,
                                                 float *grad, double *sums);

#endif
