// The rectifier's in-place passes (dk_activation.h). Compilers turn `g[i] = y[i] > 0 ? g[i] : 0`
// written over g into a conditional store, a branch per element that mispredicts on half of a
// ReLU's elements; the selects here are explicit (SSE2 is part of x86-64), and the remainder
// runs the same scalar expression.

#include "dk_activation.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

void dk_rectify_inplace_f32(float *x, long n, float slope, int leaky) {
    long i = 0;
#if defined(__SSE2__)
    const __m128 zero = _mm_setzero_ps(), a = _mm_set1_ps(slope);
    for (; i + 4 <= n; i += 4) {
        __m128 v = _mm_loadu_ps(x + i);
        __m128 r;
        if (leaky) {
            __m128 positive = _mm_cmpgt_ps(v, zero);
            r = _mm_or_ps(_mm_and_ps(positive, v), _mm_andnot_ps(positive, _mm_mul_ps(a, v)));
        } else {
            r = _mm_andnot_ps(_mm_cmple_ps(v, zero), v); // NaN compares false: kept
        }
        _mm_storeu_ps(x + i, r);
    }
#endif
    for (; i < n; i++) {
        float v = x[i];
        x[i] = leaky ? (v > 0 ? v : slope * v) : (v > 0 || v != v ? v : 0.0f);
    }
}

void dk_rectify_inplace_f64(double *x, long n, double slope, int leaky) {
    long i = 0;
#if defined(__SSE2__)
    const __m128d zero = _mm_setzero_pd(), a = _mm_set1_pd(slope);
    for (; i + 2 <= n; i += 2) {
        __m128d v = _mm_loadu_pd(x + i);
        __m128d r;
        if (leaky) {
            __m128d positive = _mm_cmpgt_pd(v, zero);
            r = _mm_or_pd(_mm_and_pd(positive, v), _mm_andnot_pd(positive, _mm_mul_pd(a, v)));
        } else {
            r = _mm_andnot_pd(_mm_cmple_pd(v, zero), v);
        }
        _mm_storeu_pd(x + i, r);
    }
#endif
    for (; i < n; i++) {
        double v = x[i];
        x[i] = leaky ? (v > 0 ? v : slope * v) : (v > 0 || v != v ? v : 0.0);
    }
}

void dk_rectify_backward_inplace_f32(const float *y, float *g, long n, float slope, int leaky) {
    long i = 0;
#if defined(__SSE2__)
    const __m128 zero = _mm_setzero_ps(), a = _mm_set1_ps(slope);
    for (; i + 4 <= n; i += 4) {
        __m128 positive = _mm_cmpgt_ps(_mm_loadu_ps(y + i), zero);
        __m128 v = _mm_loadu_ps(g + i);
        __m128 other = leaky ? _mm_mul_ps(a, v) : zero;
        _mm_storeu_ps(g + i, _mm_or_ps(_mm_and_ps(positive, v), _mm_andnot_ps(positive, other)));
    }
#endif
    for (; i < n; i++) g[i] = y[i] > 0 ? g[i] : (leaky ? slope * g[i] : 0.0f);
}

void dk_rectify_backward_inplace_bf16(const unsigned short *y, float *g, long n, float slope, int leaky) {
    // Blocks widened on the stack (in L1), then the Float pass: one comparison for both forms.
    enum { block = 1024 };
    float wide[block];
    for (long i = 0; i < n; i += block) {
        long count = n - i < block ? n - i : block;
        for (long k = 0; k < count; k++) {
            unsigned int u = (unsigned int)y[i + k] << 16;
            __builtin_memcpy(wide + k, &u, 4);
        }
        dk_rectify_backward_inplace_f32(wide, g + i, count, slope, leaky);
    }
}

void dk_rectify_backward_inplace_f64(const double *y, double *g, long n, double slope, int leaky) {
    long i = 0;
#if defined(__SSE2__)
    const __m128d zero = _mm_setzero_pd(), a = _mm_set1_pd(slope);
    for (; i + 2 <= n; i += 2) {
        __m128d positive = _mm_cmpgt_pd(_mm_loadu_pd(y + i), zero);
        __m128d v = _mm_loadu_pd(g + i);
        __m128d other = leaky ? _mm_mul_pd(a, v) : zero;
        _mm_storeu_pd(g + i, _mm_or_pd(_mm_and_pd(positive, v), _mm_andnot_pd(positive, other)));
    }
#endif
    for (; i < n; i++) g[i] = y[i] > 0 ? g[i] : (leaky ? slope * g[i] : 0.0);
}
