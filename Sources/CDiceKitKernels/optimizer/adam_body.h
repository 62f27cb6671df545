// One vector width of the Adam update (adam.c includes this once per instruction set):
// ADAM_NAME names the function, ADAM_LANES is its width in Floats. The operations on clang's
// vector types are the scalar expression's, lane by lane, in its order; no include guard on
// purpose.

/// Updates the elements [0, n rounded down to ADAM_LANES); returns that count.
static long ADAM_NAME(float *p, const float *g, float *m, float *v, long n, const dk_adam_constants *k) {
    typedef float lanes __attribute__((vector_size(ADAM_LANES * sizeof(float))));
    const float keep1 = 1 - k->beta1, keep2 = 1 - k->beta2;
    long i = 0;
    for (; i + ADAM_LANES <= n; i += ADAM_LANES) {
        lanes p0, g0, m0, v0;
        __builtin_memcpy(&p0, p + i, sizeof p0);
        __builtin_memcpy(&g0, g + i, sizeof g0);
        __builtin_memcpy(&m0, m + i, sizeof m0);
        __builtin_memcpy(&v0, v + i, sizeof v0);
        lanes x = p0 * k->shrink;
        lanes d = g0 + k->decay * x;
        lanes m1 = m0 + keep1 * (d - m0);
        lanes v1 = k->beta2 * v0 + keep2 * d * d;
        lanes p1 = x - k->step_size * (m1 / (__builtin_elementwise_sqrt(v1) / k->root2 + k->epsilon));
        __builtin_memcpy(m + i, &m1, sizeof m1);
        __builtin_memcpy(v + i, &v1, sizeof v1);
        __builtin_memcpy(p + i, &p1, sizeof p1);
    }
    return i;
}
