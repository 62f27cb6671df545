// One instance of the soft-skeleton kernels (soft_skeleton.c includes this once per scalar type
// and instruction set): SK_T is the scalar, SK_NAME(name) names this instance's functions.
// No include guard on purpose.

// min/max with the reference's results for the finite values the loss admits.
static inline SK_T SK_NAME(min)(SK_T a, SK_T b) { return b < a ? b : a; }
static inline SK_T SK_NAME(max)(SK_T a, SK_T b) { return b > a ? b : a; }

/// out = erode(v): the minimum over the cross around each element (windows clipped at the border).
static void SK_NAME(erode)(const SK_T *restrict v, SK_T *restrict out, const sk_geometry *g) {
    const long W = g->width, H = g->height, D = g->depth, plane = H * W;
    for (long z = 0; z < D; z++) {
        for (long y = 0; y < H; y++) {
            const SK_T *restrict r = v + z * plane + y * W;
            SK_T *restrict o = out + z * plane + y * W;
            if (W == 1) {
                o[0] = r[0];
            } else {
                o[0] = SK_NAME(min)(r[0], r[1]);
                for (long x = 1; x < W - 1; x++) o[x] = SK_NAME(min)(SK_NAME(min)(r[x - 1], r[x]), r[x + 1]);
                o[W - 1] = SK_NAME(min)(r[W - 2], r[W - 1]);
            }
            if (y > 0) {
                const SK_T *restrict u = r - W;
                for (long x = 0; x < W; x++) o[x] = SK_NAME(min)(o[x], u[x]);
            }
            if (y + 1 < H) {
                const SK_T *restrict d = r + W;
                for (long x = 0; x < W; x++) o[x] = SK_NAME(min)(o[x], d[x]);
            }
            if (g->volumetric && z > 0) {
                const SK_T *restrict f = r - plane;
                for (long x = 0; x < W; x++) o[x] = SK_NAME(min)(o[x], f[x]);
            }
            if (g->volumetric && z + 1 < D) {
                const SK_T *restrict b = r + plane;
                for (long x = 0; x < W; x++) o[x] = SK_NAME(min)(o[x], b[x]);
            }
        }
    }
}

/// out[row] = max of the 3-long windows of `in` along x (rows of W elements).
static void SK_NAME(max_x)(const SK_T *restrict in, SK_T *restrict out, long rows, long W) {
    for (long r = 0; r < rows; r++) {
        const SK_T *restrict a = in + r * W;
        SK_T *restrict o = out + r * W;
        if (W == 1) {
            o[0] = a[0];
            continue;
        }
        o[0] = SK_NAME(max)(a[0], a[1]);
        for (long x = 1; x < W - 1; x++) o[x] = SK_NAME(max)(SK_NAME(max)(a[x - 1], a[x]), a[x + 1]);
        o[W - 1] = SK_NAME(max)(a[W - 2], a[W - 1]);
    }
}

/// out = the max of the 3-long windows of `in` along an axis of `extent` lines `stride` apart,
/// in blocks of `outer` (each `extent`·`stride` long).
static void SK_NAME(max_axis)(const SK_T *restrict in, SK_T *restrict out, long outer, long extent, long stride) {
    for (long b = 0; b < outer; b++) {
        for (long y = 0; y < extent; y++) {
            const SK_T *restrict a = in + (b * extent + y) * stride;
            SK_T *restrict o = out + (b * extent + y) * stride;
            const SK_T *restrict u = y > 0 ? a - stride : a;
            const SK_T *restrict d = y + 1 < extent ? a + stride : a;
            for (long x = 0; x < stride; x++) o[x] = SK_NAME(max)(SK_NAME(max)(a[x], u[x]), d[x]);
        }
    }
}

/// out = dilate(v): the maximum over the 3×3 (3×3×3) cube, separably; `scratch` holds count values.
static void SK_NAME(dilate)(const SK_T *restrict v, SK_T *restrict out, SK_T *restrict scratch, const sk_geometry *g) {
    const long W = g->width, H = g->height, D = g->depth;
    if (g->volumetric && D > 1) {
        SK_NAME(max_x)(v, out, D * H, W);
        SK_NAME(max_axis)(out, scratch, D, H, W);
        SK_NAME(max_axis)(scratch, out, 1, D, H * W);
    } else {
        SK_NAME(max_x)(v, scratch, D * H, W);
        SK_NAME(max_axis)(scratch, out, D, H, W);
    }
}

/// One skeleton step i on x_i = cur: next = erode(cur), δ_i = relu(cur − dilate(next)) (into
/// `delta` when not NULL), S_i into `skeleton` (S_{i−1} on entry for i > 0).
static void SK_NAME(step)(int i, const SK_T *restrict cur, SK_T *restrict next, SK_T *restrict opened,
                          SK_T *restrict scratch, SK_T *restrict skeleton, SK_T *restrict delta, const sk_geometry *g) {
    const long n = g->count;
    SK_NAME(erode)(cur, next, g);
    SK_NAME(dilate)(next, opened, scratch, g);
    if (i == 0) {
        for (long j = 0; j < n; j++) skeleton[j] = SK_NAME(max)(cur[j] - opened[j], 0);
    } else {
        for (long j = 0; j < n; j++) {
            const SK_T d = SK_NAME(max)(cur[j] - opened[j], 0);
            const SK_T s = skeleton[j];
            skeleton[j] = s + SK_NAME(max)(d - s * d, 0);
        }
    }
    if (delta) {
        for (long j = 0; j < n; j++) delta[j] = SK_NAME(max)(cur[j] - opened[j], 0);
    }
}

static void SK_NAME(skeleton)(const SK_T *image, const sk_geometry *g, int K, SK_T *skeleton, SK_T *work) {
    const long n = g->count;
    SK_T *cur = work, *next = work + n, *opened = work + 2 * n, *scratch = work + 3 * n;
    for (long j = 0; j < n; j++) cur[j] = image[j];
    for (int i = 0; i <= K; i++) {
        SK_NAME(step)(i, cur, next, opened, scratch, skeleton, 0, g);
        SK_T *t = cur;
        cur = next;
        next = t;
    }
}

/// products += the dilation's transposed Jacobian at v applied to −dy (pairs): each cube's first
/// maximum in row-major order takes the cube's gradient, found separably as in SoftSkeleton.swift.
static void SK_NAME(dilate_back)(const SK_T *restrict v, const SK_T *restrict dy, SK_T *restrict dx,
                                 int32_t *restrict rows, int32_t *restrict columns, const sk_geometry *g) {
    const long W = g->width, H = g->height, D = g->depth, plane = H * W, n = g->count;
#define SK_FIRST(a, b, c, hasA, hasC, out)            \
    do {                                              \
        long index_ = (hasA) ? (a) : (b);             \
        SK_T best_ = v[index_];                       \
        if ((hasA) && v[b] > best_) {                 \
            best_ = v[b];                             \
            index_ = (b);                             \
        }                                             \
        if ((hasC) && v[c] > best_) index_ = (c);     \
        (out) = (int32_t)index_;                      \
    } while (0)
    for (long r = 0; r < D * H; r++) {
        const long row = r * W;
        for (long x = 0; x < W; x++) {
            const long q = row + x;
            SK_FIRST(q - 1, q, q + 1, x > 0, x + 1 < W, rows[q]);
        }
    }
    for (long z = 0; z < D; z++) {
        for (long y = 0; y < H; y++) {
            const long row = z * plane + y * W;
            const int up = y > 0, down = y + 1 < H;
            for (long x = 0; x < W; x++) {
                const long q = row + x;
                SK_FIRST(up ? rows[q - W] : 0, rows[q], down ? rows[q + W] : 0, up, down, columns[q]);
            }
        }
    }
    const int32_t *winner = columns;
    if (g->volumetric && D > 1) {
        for (long z = 0; z < D; z++) {
            const int front = z > 0, back = z + 1 < D;
            for (long j = 0; j < plane; j++) {
                const long q = z * plane + j;
                SK_FIRST(front ? columns[q - plane] : 0, columns[q], back ? columns[q + plane] : 0, front, back,
                         rows[q]);
            }
        }
        winner = rows;
    }
#undef SK_FIRST
    for (long q = 0; q < n; q++) {
        const SK_T a = dy[2 * q], b = dy[2 * q + 1];
        const long w = winner[q];
        if (a != 0) dx[2 * w] += -a;
        if (b != 0) dx[2 * w + 1] += -b;
    }
}

/// The first minimum (index order) of v[q − stride], v[q], v[q + stride] (neighbours where they exist).
static inline long SK_NAME(window_min)(const SK_T *v, long q, long stride, int hasPrevious, int hasNext, SK_T *value) {
    long index = hasPrevious ? q - stride : q;
    SK_T best = v[index];
    if (hasPrevious && v[q] < best) {
        best = v[q];
        index = q;
    }
    if (hasNext && v[q + stride] < best) {
        best = v[q + stride];
        index = q + stride;
    }
    *value = best;
    return index;
}

/// dx += the erosion's transposed Jacobian at v applied to dy (pairs): each axis window's first
/// minimum; torch.min's rule between the axes (all to the smaller, half each on a tie, nested
/// left to right in the axis order depth, height, width).
static void SK_NAME(erode_back)(const SK_T *restrict v, const SK_T *restrict dy, SK_T *restrict dx, const sk_geometry *g) {
    const long W = g->width, H = g->height, D = g->depth, plane = H * W;
    const int three = g->volumetric;
    long q = 0;
    for (long z = 0; z < D; z++) {
        for (long y = 0; y < H; y++) {
            for (long x = 0; x < W; x++, q++) {
                const SK_T ga = dy[2 * q], gb = dy[2 * q + 1];
                if (ga == 0 && gb == 0) continue;
                SK_T m0, m1, m2 = 0;
                long i0, i1, i2 = 0;
                if (three) {
                    i0 = SK_NAME(window_min)(v, q, plane, z > 0, z + 1 < D, &m0);
                    i1 = SK_NAME(window_min)(v, q, W, y > 0, y + 1 < H, &m1);
                    i2 = SK_NAME(window_min)(v, q, 1, x > 0, x + 1 < W, &m2);
                } else {
                    i0 = SK_NAME(window_min)(v, q, W, y > 0, y + 1 < H, &m0);
                    i1 = SK_NAME(window_min)(v, q, 1, x > 0, x + 1 < W, &m1);
                }
                SK_T w0 = 1, w1 = 0, w2 = 0, current = m0;
                if (m1 < current) {
                    w0 = 0;
                    w1 = 1;
                    current = m1;
                } else if (m1 == current) {
                    w0 = (SK_T)0.5;
                    w1 = (SK_T)0.5;
                }
                if (three) {
                    if (m2 < current) {
                        w0 = 0;
                        w1 = 0;
                        w2 = 1;
                    } else if (m2 == current) {
                        w0 = w0 / 2;
                        w1 = w1 / 2;
                        w2 = (SK_T)0.5;
                    }
                }
                dx[2 * i0] += ga * w0;
                dx[2 * i0 + 1] += gb * w0;
                dx[2 * i1] += ga * w1;
                dx[2 * i1 + 1] += gb * w1;
                if (three) {
                    dx[2 * i2] += ga * w2;
                    dx[2 * i2 + 1] += gb * w2;
                }
            }
        }
    }
}

static void SK_NAME(vjp2)(const SK_T *image, const SK_T *cotangents, const sk_geometry *g, int K, SK_T *skeleton,
                          SK_T *products, SK_T *work, int32_t *winners) {
    const long n = g->count;
    // Record: x_0…x_{K+1}, δ_0…δ_K, S_0…S_{K−1}; then opened, scratch; then dS, dX, dNext (pairs).
    SK_T *xs = work, *deltas = xs + (long)(K + 2) * n, *ss = deltas + (long)(K + 1) * n;
    SK_T *opened = ss + (long)K * n, *scratch = opened + n;
    SK_T *dS = scratch + n, *dX = dS + 2 * n, *dNext = dX + 2 * n;
    for (long j = 0; j < n; j++) xs[j] = image[j];
    for (int i = 0; i <= K; i++) {
        SK_NAME(step)(i, xs + i * n, xs + (i + 1) * n, opened, scratch, skeleton, deltas + i * n, g);
        if (i < K) {
            for (long j = 0; j < n; j++) ss[i * n + j] = skeleton[j];
        }
    }
    for (long j = 0; j < 2 * n; j++) {
        dS[j] = cotangents[j];
        dX[j] = 0;
    }
    for (int i = K; i >= 0; i--) {
        const SK_T *delta = deltas + i * n;
        const SK_T *previous = i > 0 ? ss + (i - 1) * n : 0;
        // dNext = d/dδ_i (the part of d/dx_i through δ_i); dS becomes d/dS_{i−1}.
        for (long j = 0; j < n; j++) {
            const SK_T d = delta[j];
            SK_T a = dS[2 * j], b = dS[2 * j + 1];
            if (previous) {
                const SK_T s = previous[j];
                const SK_T u = d - s * d;
                if (u > 0) {
                    dS[2 * j] = a * (1 - d);
                    dS[2 * j + 1] = b * (1 - d);
                    a = a * (1 - s);
                    b = b * (1 - s);
                } else {
                    a = 0;
                    b = 0;
                }
            }
            if (!(d > 0)) {
                a = 0;
                b = 0;
            }
            dNext[2 * j] = a;
            dNext[2 * j + 1] = b;
        }
        // open(x_i) = dilate(x_{i+1}) enters δ_i with a minus sign: its gradient joins d/dx_{i+1}.
        SK_NAME(dilate_back)(xs + (i + 1) * n, dNext, dX, winners, winners + n, g);
        // x_{i+1} = erode(x_i): d/dx_i = δ_i's part + erode′ᵀ·d/dx_{i+1}.
        SK_NAME(erode_back)(xs + i * n, dX, dNext, g);
        SK_T *t = dX;
        dX = dNext;
        dNext = t;
    }
    for (long j = 0; j < 2 * n; j++) products[j] = dX[j];
}
