// The Adam update (dk_optimizer.h): one vector body (adam_body.h) built for AVX-512 and for
// AVX2, run by the level in use, and the scalar expression for the remainder and the baseline.
// Swift compiles its loop for baseline x86-64, four square roots and divisions per instruction;
// a base-32 U-Net's 7.8 M weights made it a few per cent of a training step. Every operation is
// the reference's, in its order, with contraction off; the square root and the division are
// correctly rounded in every form.

#include "dk_optimizer.h"
#include "dk_dispatch.h"

#pragma clang fp contract(off)

#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx512f"))), apply_to = function)
#define ADAM_NAME adam_avx512
#define ADAM_LANES 16
#include "adam_body.h"
#undef ADAM_LANES
#undef ADAM_NAME
#pragma clang attribute pop

#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#define ADAM_NAME adam_avx2
#define ADAM_LANES 8
#include "adam_body.h"
#undef ADAM_LANES
#undef ADAM_NAME
#pragma clang attribute pop
#endif

void dk_adam_update_f32(float *p, const float *g, float *m, float *v, long n, const dk_adam_constants *k) {
    long i = 0;
#if defined(__x86_64__)
    if (dk_isa() >= DK_ISA_AVX512) i = adam_avx512(p, g, m, v, n, k);
    else if (dk_isa() >= DK_ISA_AVX2) i = adam_avx2(p, g, m, v, n, k);
#endif
    const float keep1 = 1 - k->beta1, keep2 = 1 - k->beta2;
    for (; i < n; i++) {
        float x = p[i] * k->shrink;
        float d = g[i] + k->decay * x;
        float m1 = m[i] + keep1 * (d - m[i]);
        float v1 = k->beta2 * v[i] + keep2 * d * d;
        m[i] = m1;
        v[i] = v1;
        p[i] = x - k->step_size * (m1 / (__builtin_sqrtf(v1) / k->root2 + k->epsilon));
    }
}
