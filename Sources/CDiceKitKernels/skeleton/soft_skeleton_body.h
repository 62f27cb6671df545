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

/// The first maximum of three candidates (values a, b, c with indices ia, ib, ic), in that order:
/// the reference's `first` rule; a missing candidate carries −∞ (inputs are finite).
#define SK_FIRST_MAX(a, ia, b, ib, c, ic, best, index) \
    do {                                               \
        best = (a);                                    \
        index = (ia);                                  \
        if ((b) > best) {                              \
            best = (b);                                \
            index = (ib);                              \
        }                                              \
        if ((c) > best) {                              \
            best = (c);                                \
            index = (ic);                              \
        }                                              \
    } while (0)

/// Combines three lines of (maxima, winners) into one: out = the first maximum of (a, b, c) per
/// element, a branch-free loop the compiler vectorises.
static void SK_NAME(combine_max)(const SK_T *restrict av, const int32_t *restrict ai, const SK_T *restrict bv,
                                 const int32_t *restrict bi, const SK_T *restrict cv, const int32_t *restrict ci,
                                 long count, SK_T *restrict outv, int32_t *restrict outi) {
    for (long x = 0; x < count; x++) {
        SK_T best;
        int32_t index;
        SK_FIRST_MAX(av[x], ai[x], bv[x], bi[x], cv[x], ci[x], best, index);
        if (outv) outv[x] = best;
        outi[x] = index;
    }
}

/// dx += the dilation's transposed Jacobian at v applied to −dy (pairs): each cube's first
/// maximum in row-major order takes the cube's gradient. The winner is found separably, as in
/// SoftSkeleton.swift (the first maximum of each row window, then of the rows' winners, then of
/// the planes'), with −∞ rows standing in for the windows' missing lines. Scratch: `values` 2n
/// scalars, `winners` 2n integers, `low` one plane of −∞ (and `lowIndex` one of zeros).
static void SK_NAME(dilate_back)(const SK_T *restrict v, const SK_T *restrict dy, SK_T *restrict dx,
                                 SK_T *restrict values, int32_t *restrict winners, const SK_T *restrict low,
                                 const int32_t *restrict lowIndex, const sk_geometry *g) {
    const long W = g->width, H = g->height, D = g->depth, plane = H * W, n = g->count;
    SK_T *rowV = values, *colV = values + n;
    int32_t *rowI = winners, *colI = winners + n;
    // Along x: the first maximum of (x − 1, x, x + 1) per element.
    for (long r = 0; r < D * H; r++) {
        const long row = r * W;
        const SK_T *restrict a = v + row;
        SK_T *restrict ov = rowV + row;
        int32_t *restrict oi = rowI + row;
        if (W == 1) {
            ov[0] = a[0];
            oi[0] = (int32_t)row;
            continue;
        }
        {
            const int take = a[1] > a[0];
            ov[0] = take ? a[1] : a[0];
            oi[0] = (int32_t)(row + take);
        }
        for (long x = 1; x < W - 1; x++) {
            SK_T best;
            int32_t index;
            SK_FIRST_MAX(a[x - 1], (int32_t)(row + x - 1), a[x], (int32_t)(row + x), a[x + 1], (int32_t)(row + x + 1),
                         best, index);
            ov[x] = best;
            oi[x] = index;
        }
        {
            const int take = a[W - 1] > a[W - 2];
            ov[W - 1] = take ? a[W - 1] : a[W - 2];
            oi[W - 1] = (int32_t)(row + W - 2 + take);
        }
    }
    // Along y: the first maximum of the rows' winners above, here and below.
    const int planes = g->volumetric && D > 1;
    for (long z = 0; z < D; z++) {
        for (long y = 0; y < H; y++) {
            const long row = z * plane + y * W;
            const int up = y > 0, down = y + 1 < H;
            SK_NAME(combine_max)(up ? rowV + row - W : low, up ? rowI + row - W : lowIndex, rowV + row, rowI + row,
                                 down ? rowV + row + W : low, down ? rowI + row + W : lowIndex, W,
                                 planes ? colV + row : 0, colI + row);
        }
    }
    const int32_t *winner = colI;
    if (planes) {
        // Along z: the first maximum of the planes' winners in front, here and behind.
        for (long z = 0; z < D; z++) {
            const long at = z * plane;
            const int front = z > 0, back = z + 1 < D;
            SK_NAME(combine_max)(front ? colV + at - plane : low, front ? colI + at - plane : lowIndex, colV + at,
                                 colI + at, back ? colV + at + plane : low, back ? colI + at + plane : lowIndex, plane,
                                 0, rowI + at);
        }
        winner = rowI;
    }
    for (long q = 0; q < n; q++) {
        const long w = winner[q];
        dx[2 * w] += -dy[2 * q];
        dx[2 * w + 1] += -dy[2 * q + 1];
    }
}

/// The first minimum of three candidates (values a, b, c at offsets oa, ob, oc), in that order: the
/// reference's `windowMinimum`; a missing neighbour carries +∞ (inputs are finite).
#define SK_FIRST_MIN(a, oa, b, ob, c, oc, best, offset) \
    do {                                                \
        best = (a);                                     \
        offset = (oa);                                  \
        if ((b) < best) {                               \
            best = (b);                                 \
            offset = (ob);                              \
        }                                               \
        if ((c) < best) {                               \
            best = (c);                                 \
            offset = (oc);                              \
        }                                               \
    } while (0)

/// The erosion's routing at one element: the winning offset of each axis window (depth, height,
/// width in 3-D; height, width in 2-D) and torch.min's weights between the axes (all to the
/// smaller, half each on a tie, nested left to right).
#define SK_ERODE_CODES(fa, fb, fc, ha, hb, hc, wa, wb, wc, three, W, plane, o0, o1, o2, w0, w1, w2) \
    do {                                                                                            \
        SK_T m0_, m1_, m2_ = 0;                                                                     \
        int32_t p0_, p1_, p2_ = 0;                                                                  \
        if (three) {                                                                                \
            SK_FIRST_MIN(fa, (int32_t)-(plane), fb, 0, fc, (int32_t)(plane), m0_, p0_);             \
            SK_FIRST_MIN(ha, (int32_t)-(W), hb, 0, hc, (int32_t)(W), m1_, p1_);                     \
            SK_FIRST_MIN(wa, -1, wb, 0, wc, 1, m2_, p2_);                                           \
        } else {                                                                                    \
            SK_FIRST_MIN(ha, (int32_t)-(W), hb, 0, hc, (int32_t)(W), m0_, p0_);                     \
            SK_FIRST_MIN(wa, -1, wb, 0, wc, 1, m1_, p1_);                                           \
        }                                                                                           \
        SK_T a_ = m1_ < m0_ ? 0 : (m1_ == m0_ ? (SK_T)0.5 : 1);                                     \
        SK_T b_ = m1_ < m0_ ? 1 : (m1_ == m0_ ? (SK_T)0.5 : 0);                                     \
        SK_T c_ = 0;                                                                                \
        const SK_T current_ = m1_ < m0_ ? m1_ : m0_;                                                \
        if (three) {                                                                                \
            const int less_ = m2_ < current_, tie_ = m2_ == current_;                               \
            a_ = less_ ? 0 : (tie_ ? a_ / 2 : a_);                                                  \
            b_ = less_ ? 0 : (tie_ ? b_ / 2 : b_);                                                  \
            c_ = less_ ? 1 : (tie_ ? (SK_T)0.5 : 0);                                                \
        }                                                                                           \
        o0 = p0_;                                                                                   \
        o1 = p1_;                                                                                   \
        o2 = p2_;                                                                                   \
        w0 = a_;                                                                                    \
        w1 = b_;                                                                                    \
        w2 = c_;                                                                                    \
    } while (0)

/// dx += the erosion's transposed Jacobian at v applied to dy (pairs), a row at a time: the
/// routing of every element (branch-free, vectorised), then the scatter in element order (the
/// reference's summation order). Scratch: `high` one plane of +∞, `offsets` 3W integers,
/// `weights` 3W scalars.
static void SK_NAME(erode_back)(const SK_T *restrict v, const SK_T *restrict dy, SK_T *restrict dx,
                                const SK_T *restrict high, int32_t *restrict offsets, SK_T *restrict weights,
                                const sk_geometry *g) {
    const long W = g->width, H = g->height, D = g->depth, plane = H * W;
    const int three = g->volumetric;
    int32_t *restrict o0 = offsets, *restrict o1 = offsets + W, *restrict o2 = offsets + 2 * W;
    SK_T *restrict w0 = weights, *restrict w1 = weights + W, *restrict w2 = weights + 2 * W;
    for (long z = 0; z < D; z++) {
        for (long y = 0; y < H; y++) {
            const long row = z * plane + y * W;
            const SK_T *restrict c = v + row;
            const SK_T *restrict u = y > 0 ? c - W : high;
            const SK_T *restrict d = y + 1 < H ? c + W : high;
            const SK_T *restrict f = three && z > 0 ? c - plane : high;
            const SK_T *restrict b = three && z + 1 < D ? c + plane : high;
            const SK_T inf = high[0];
            for (long x = 0; x < W; x += (W > 1 ? W - 1 : 1)) {  // the two ends: x = 0 and x = W − 1
                SK_ERODE_CODES(f[x], c[x], b[x], u[x], c[x], d[x], x > 0 ? c[x - 1] : inf, c[x],
                               x + 1 < W ? c[x + 1] : inf, three, W, plane, o0[x], o1[x], o2[x], w0[x], w1[x], w2[x]);
            }
            for (long x = 1; x < W - 1; x++) {
                SK_ERODE_CODES(f[x], c[x], b[x], u[x], c[x], d[x], c[x - 1], c[x], c[x + 1], three, W, plane, o0[x],
                               o1[x], o2[x], w0[x], w1[x], w2[x]);
            }
            const SK_T *restrict g2 = dy + 2 * row;
            SK_T *restrict out = dx + 2 * row;
            for (long x = 0; x < W; x++) {
                const SK_T ga = g2[2 * x], gb = g2[2 * x + 1];
                const long i0 = 2 * (x + o0[x]), i1 = 2 * (x + o1[x]);
                out[i0] += ga * w0[x];
                out[i0 + 1] += gb * w0[x];
                out[i1] += ga * w1[x];
                out[i1 + 1] += gb * w1[x];
                if (three) {
                    const long i2 = 2 * (x + o2[x]);
                    out[i2] += ga * w2[x];
                    out[i2 + 1] += gb * w2[x];
                }
            }
        }
    }
}

static void SK_NAME(vjp2)(const SK_T *image, const SK_T *cotangents, const sk_geometry *g, int K, SK_T *skeleton,
                          SK_T *products, SK_T *work, int32_t *integers) {
    const long n = g->count, W = g->width, plane = g->height * g->width;
    // Record: x_0…x_{K+1}, δ_0…δ_K, S_0…S_{K−1}; then opened and scratch (the dilation's values
    // in the backward pass); dS, dX, dNext (pairs); the −∞ plane, the +∞ row, the erosion's
    // weights (3W). Integers: the dilation's winners (2n), a plane of zeros, the erosion's
    // offsets (3W).
    SK_T *xs = work, *deltas = xs + (long)(K + 2) * n, *ss = deltas + (long)(K + 1) * n;
    SK_T *opened = ss + (long)K * n, *scratch = opened + n;
    SK_T *dS = scratch + n, *dX = dS + 2 * n, *dNext = dX + 2 * n;
    SK_T *low = dNext + 2 * n, *high = low + plane, *weights = high + W;
    int32_t *winners = integers, *lowIndex = integers + 2 * n, *offsets = lowIndex + plane;
    for (long j = 0; j < plane; j++) {
        low[j] = -(SK_T)INFINITY;
        lowIndex[j] = 0;
    }
    for (long j = 0; j < W; j++) high[j] = (SK_T)INFINITY;
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
        const SK_T *restrict delta = deltas + i * n;
        // dNext = d/dδ_i (the part of d/dx_i through δ_i, zero where r_i ≤ 0, i.e. δ_i = 0);
        // dS becomes d/dS_{i−1}: S_i = S_{i−1} + relu(u), u = δ − S_{i−1}·δ.
        if (i == 0) {
            for (long j = 0; j < n; j++) {
                const int positive = delta[j] > 0;
                dNext[2 * j] = positive ? dS[2 * j] : 0;
                dNext[2 * j + 1] = positive ? dS[2 * j + 1] : 0;
            }
        } else {
            const SK_T *restrict previous = ss + (i - 1) * n;
            for (long j = 0; j < n; j++) {
                const SK_T d = delta[j], s = previous[j];
                const SK_T a = dS[2 * j], b = dS[2 * j + 1];
                const SK_T u = d - s * d;
                const int live = u > 0, through = live && d > 0;
                dS[2 * j] = live ? a * (1 - d) : a;
                dS[2 * j + 1] = live ? b * (1 - d) : b;
                dNext[2 * j] = through ? a * (1 - s) : 0;
                dNext[2 * j + 1] = through ? b * (1 - s) : 0;
            }
        }
        // open(x_i) = dilate(x_{i+1}) enters δ_i with a minus sign: its gradient joins d/dx_{i+1}.
        SK_NAME(dilate_back)(xs + (i + 1) * n, dNext, dX, opened, winners, low, lowIndex, g);
        // x_{i+1} = erode(x_i): d/dx_i = δ_i's part + erode′ᵀ·d/dx_{i+1}.
        SK_NAME(erode_back)(xs + i * n, dX, dNext, high, offsets, weights, g);
        SK_T *t = dX;
        dX = dNext;
        dNext = t;
    }
    for (long j = 0; j < 2 * n; j++) products[j] = dX[j];
}

#undef SK_FIRST_MAX
#undef SK_FIRST_MIN
#undef SK_ERODE_CODES
