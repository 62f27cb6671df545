// SoftSkeleton: the soft skeleton of Shit et al. (2021), "clDice — a novel topology-preserving loss
// function for tubular structure segmentation", in MONAI 1.6's `soft_skel` form, on one channel
// image (2-D [H, W] or 3-D [D, H, W], row-major), with its vector-Jacobian product.
//
//   erode(x)  = min over the cross: the minimum of the 3-long windows along each axis (MONAI's
//               −maxpool(−x) per axis, then torch.min of those, in axis order)
//   dilate(x) = max over the 3×3 (3×3×3) cube (MONAI's max_pool, stride 1, padding 1)
//   open(x)   = dilate(erode(x))
//   x₀ = x, x_{i+1} = erode(x_i);  δ_i = relu(x_i − open(x_i)) = relu(x_i − dilate(x_{i+1}))
//   S₀ = δ₀,  S_i = S_{i−1} + relu(δ_i − S_{i−1}·δ_i)  for i = 1…K;  skeleton = S_K
// Windows are clipped at the border (the pooling's padding never wins).
//
// Tie rule (the gradient through the pooling, as PyTorch's CPU kernels route it): a pooling window
// sends its gradient to the first extreme element in row-major scan order (max_pool keeps the first
// maximum); where the per-axis minima of an erosion are equal, torch.min's rule halves the gradient
// between them (nested left to right for three axes); relu′(0) = 0. With continuous random inputs
// ties only occur between copies of the same element, where every rule gives the same gradient.
// Derivation: Docs/DiceMath.md, "clDice and the soft skeleton".

/// The geometry of one channel image and the number of skeleton iterations.
struct SoftSkeleton: Sendable {
    /// Depth (1 for a 2-D image), height, width.
    let depth: Int, height: Int, width: Int
    /// Whether the depth axis takes part (3-D images).
    let volumetric: Bool
    /// K, the erosions after the first opening (MONAI's `iter_`, ≥ 0), capped at Σ (extent − 1).
    let iterations: Int

    /// Elements per image.
    var count: Int { depth * height * width }

    /// The geometry of `spatial` ([H, W] or [D, H, W]); nil for other ranks.
    init?(spatial: [Int], iterations: Int) {
        switch spatial.count {
        case 2: (depth, height, width, volumetric) = (1, spatial[0], spatial[1], false)
        case 3: (depth, height, width, volumetric) = (spatial[0], spatial[1], spatial[2], true)
        default: return nil
        }
        // After Σ (extent − 1) erosions every value is the image's minimum, so later steps add
        // δ_i = 0 (and no gradient): capping K there changes nothing and bounds time and memory.
        self.iterations = Swift.min(iterations, (depth - 1) + (height - 1) + (width - 1))
    }

    /// The first minimum (in index order) of v[q − stride], v[q], v[q + stride], the neighbours
    /// only where they exist, and its index.
    @inline(__always)
    func windowMinimum<T: BLASScalar>(
        _ v: UnsafeBufferPointer<T>, _ q: Int, _ stride: Int, _ hasPrevious: Bool, _ hasNext: Bool
    ) -> (T, Int) {
        var index = hasPrevious ? q - stride : q
        var best = v[index]
        if hasPrevious && v[q] < best {
            best = v[q]
            index = q
        }
        if hasNext && v[q + stride] < best {
            best = v[q + stride]
            index = q + stride
        }
        return (best, index)
    }

    /// The minimum of each axis window at (z, y, x) with its first index, in MONAI's axis order.
    @inline(__always)
    func axisMinima<T: BLASScalar>(_ v: UnsafeBufferPointer<T>, _ z: Int, _ y: Int, _ x: Int) -> (
        values: (T, T, T), indices: (Int, Int, Int), axes: Int
    ) {
        let plane = height * width
        let q = (z * height + y) * width + x
        let h = windowMinimum(v, q, width, y > 0, y + 1 < height)
        let w = windowMinimum(v, q, 1, x > 0, x + 1 < width)
        if volumetric {
            let d = windowMinimum(v, q, plane, z > 0, z + 1 < depth)
            return ((d.0, h.0, w.0), (d.1, h.1, w.1), 3)
        }
        return ((h.0, w.0, w.0), (h.1, w.1, w.1), 2)
    }

    /// y = erode(x): the minimum over the cross (the same value as the minimum of the axis minima).
    func erode<T: BLASScalar>(_ v: UnsafeBufferPointer<T>, into out: UnsafeMutableBufferPointer<T>) {
        let plane = height * width
        for z in 0..<depth {
            let front = volumetric && z > 0
            let back = volumetric && z + 1 < depth
            for y in 0..<height {
                let row = z * plane + y * width
                let up = y > 0
                let down = y + 1 < height
                for x in 0..<width {
                    let q = row + x
                    var m = v[q]
                    if x > 0 { m = Swift.min(m, v[q - 1]) }
                    if x + 1 < width { m = Swift.min(m, v[q + 1]) }
                    if up { m = Swift.min(m, v[q - width]) }
                    if down { m = Swift.min(m, v[q + width]) }
                    if front { m = Swift.min(m, v[q - plane]) }
                    if back { m = Swift.min(m, v[q + plane]) }
                    out[q] = m
                }
            }
        }
    }

    /// dx += the gradient of erode at `v` for the upstream gradient `dy`.
    func erodeBackward<T: BLASScalar>(
        _ v: UnsafeBufferPointer<T>, _ dy: UnsafeBufferPointer<T>, into dx: UnsafeMutableBufferPointer<T>
    ) {
        var q = 0
        for z in 0..<depth {
            for y in 0..<height {
                for x in 0..<width {
                    let g = dy[q]
                    q += 1
                    guard g != 0 else { continue }
                    let m = axisMinima(v, z, y, x)
                    // torch.min(a, b): all to the smaller, half each on a tie; nested left to right.
                    var w0: T = 1
                    var w1: T = 0
                    var current = m.values.0
                    if m.values.1 < current {
                        (w0, w1, current) = (0, 1, m.values.1)
                    } else if m.values.1 == current {
                        (w0, w1) = (0.5, 0.5)
                    }
                    var w2: T = 0
                    if m.axes == 3 {
                        if m.values.2 < current {
                            (w0, w1, w2) = (0, 0, 1)
                        } else if m.values.2 == current {
                            (w0, w1, w2) = (w0 / 2, w1 / 2, 0.5)
                        }
                    }
                    dx[m.indices.0] += g * w0
                    dx[m.indices.1] += g * w1
                    if m.axes == 3 { dx[m.indices.2] += g * w2 }
                }
            }
        }
    }

    /// The first maximum (row-major scan) of the cube around (z, y, x) and its index: the rule that
    /// `dilateBackward`'s separable search follows (the tests compare the two).
    @inline(__always)
    func cubeMaximum<T: BLASScalar>(_ v: UnsafeBufferPointer<T>, _ z: Int, _ y: Int, _ x: Int) -> (T, Int) {
        var best = -T.infinity
        var index = -1
        for zz in Swift.max(z - 1, 0)...Swift.min(z + 1, depth - 1) {
            for yy in Swift.max(y - 1, 0)...Swift.min(y + 1, height - 1) {
                let row = (zz * height + yy) * width
                for xx in Swift.max(x - 1, 0)...Swift.min(x + 1, width - 1) where index < 0 || v[row + xx] > best {
                    best = v[row + xx]
                    index = row + xx
                }
            }
        }
        return (best, index)
    }

    /// y = dilate(x), separably (the same values as the cube's maximum); `scratch` holds `count` values.
    func dilate<T: BLASScalar>(
        _ v: UnsafeBufferPointer<T>, into out: UnsafeMutableBufferPointer<T>, scratch: UnsafeMutableBufferPointer<T>
    ) {
        // Along x into out, along y into scratch, along z (3-D) back into out.
        for r in 0..<(depth * height) {
            let row = r * width
            for x in 0..<width {
                var m = v[row + x]
                if x > 0 { m = Swift.max(m, v[row + x - 1]) }
                if x + 1 < width { m = Swift.max(m, v[row + x + 1]) }
                out[row + x] = m
            }
        }
        let plane = height * width
        for z in 0..<depth {
            for y in 0..<height {
                let row = z * plane + y * width
                for x in 0..<width {
                    var m = out[row + x]
                    if y > 0 { m = Swift.max(m, out[row - width + x]) }
                    if y + 1 < height { m = Swift.max(m, out[row + width + x]) }
                    scratch[row + x] = m
                }
            }
        }
        for z in 0..<depth {
            for j in 0..<plane {
                let q = z * plane + j
                var m = scratch[q]
                if z > 0 { m = Swift.max(m, scratch[q - plane]) }
                if z + 1 < depth { m = Swift.max(m, scratch[q + plane]) }
                out[q] = m
            }
        }
    }

    /// dx += the gradient of dilate at `v` for the upstream gradient `dy`.
    ///
    /// The winner of each cube is found separably: the first maximum of each row's window, then
    /// the first row (then plane) whose maximum is strictly the largest so far, which is the first
    /// maximum of the cube in row-major order (`cubeMaximum`'s rule).
    func dilateBackward<T: BLASScalar>(
        _ v: UnsafeBufferPointer<T>, _ dy: UnsafeBufferPointer<T>, into dx: UnsafeMutableBufferPointer<T>
    ) {
        let n = count
        let plane = height * width
        var winners = [Int](repeating: 0, count: 2 * n)
        winners.withUnsafeMutableBufferPointer { w in
            let rows = UnsafeMutableBufferPointer(rebasing: w[0..<n])
            let columns = UnsafeMutableBufferPointer(rebasing: w[n..<(2 * n)])
            @inline(__always) func first(_ a: Int, _ b: Int, _ c: Int, _ hasA: Bool, _ hasC: Bool) -> Int {
                var index = hasA ? a : b
                var best = v[index]
                if hasA && v[b] > best {
                    best = v[b]
                    index = b
                }
                if hasC && v[c] > best { index = c }
                return index
            }
            for r in 0..<(depth * height) {
                let row = r * width
                for x in 0..<width {
                    let q = row + x
                    rows[q] = first(q - 1, q, q + 1, x > 0, x + 1 < width)
                }
            }
            for z in 0..<depth {
                for y in 0..<height {
                    let row = z * plane + y * width
                    let up = y > 0
                    let down = y + 1 < height
                    for x in 0..<width {
                        let q = row + x
                        columns[q] = first(
                            up ? rows[q - width] : 0, rows[q], down ? rows[q + width] : 0, up, down)
                    }
                }
            }
            let winner = volumetric && depth > 1 ? rows : columns
            if volumetric && depth > 1 {
                for z in 0..<depth {
                    let front = z > 0
                    let back = z + 1 < depth
                    for j in 0..<plane {
                        let q = z * plane + j
                        rows[q] = first(
                            front ? columns[q - plane] : 0, columns[q], back ? columns[q + plane] : 0, front, back)
                    }
                }
            }
            for q in 0..<n where dy[q] != 0 { dx[winner[q]] += dy[q] }
        }
    }

    /// The skeleton of `image` (`count` values) into `skeleton`, with no record of the steps.
    func skeleton<T: BLASScalar>(_ image: UnsafeBufferPointer<T>, into skeleton: UnsafeMutableBufferPointer<T>) {
        let n = count
        var work = [T](repeating: 0, count: 4 * n)
        work.withUnsafeMutableBufferPointer { w in
            // current x_i, next x_{i+1}, open(x_i), scratch.
            var current = UnsafeMutableBufferPointer(rebasing: w[0..<n])
            var next = UnsafeMutableBufferPointer(rebasing: w[n..<(2 * n)])
            let opened = UnsafeMutableBufferPointer(rebasing: w[(2 * n)..<(3 * n)])
            let scratch = UnsafeMutableBufferPointer(rebasing: w[(3 * n)..<(4 * n)])
            for j in 0..<n { current[j] = image[j] }
            for i in 0...iterations {
                erode(UnsafeBufferPointer(current), into: next)
                dilate(UnsafeBufferPointer(next), into: opened, scratch: scratch)
                for j in 0..<n {
                    let delta = Swift.max(current[j] - opened[j], 0)
                    if i == 0 {
                        skeleton[j] = delta
                    } else {
                        let s = skeleton[j]
                        skeleton[j] = s + Swift.max(delta - s * delta, 0)
                    }
                }
                swap(&current, &next)
            }
        }
    }

    /// The skeleton of `image` and d(Σ dSkeleton·skeleton)/d(image) added into `gradient`.
    ///
    /// Keeps x₀…x_{K+1}, open(x_i) and S_i (3K + 4 images), then runs the steps backwards.
    func skeletonBackward<T: BLASScalar>(
        _ image: UnsafeBufferPointer<T>, dSkeleton: UnsafeBufferPointer<T>,
        into gradient: UnsafeMutableBufferPointer<T>
    ) {
        let n = count
        let k = iterations
        var images = [T](repeating: 0, count: (k + 2) * n)
        var opened = [T](repeating: 0, count: (k + 1) * n)
        var skeletons = [T](repeating: 0, count: (k + 1) * n)
        var scratch = [T](repeating: 0, count: 3 * n)
        images.withUnsafeMutableBufferPointer { xs in
            opened.withUnsafeMutableBufferPointer { os in
                skeletons.withUnsafeMutableBufferPointer { ss in
                    scratch.withUnsafeMutableBufferPointer { scratch in
                        @inline(__always) func slice(_ b: UnsafeMutableBufferPointer<T>, _ i: Int)
                            -> UnsafeMutableBufferPointer<T>
                        {
                            UnsafeMutableBufferPointer(rebasing: b[(i * n)..<((i + 1) * n)])
                        }
                        for j in 0..<n { xs[j] = image[j] }
                        let spare = slice(scratch, 0)
                        for i in 0...k {
                            erode(UnsafeBufferPointer(slice(xs, i)), into: slice(xs, i + 1))
                            dilate(UnsafeBufferPointer(slice(xs, i + 1)), into: slice(os, i), scratch: spare)
                            for j in 0..<n {
                                let delta = Swift.max(xs[i * n + j] - os[i * n + j], 0)
                                if i == 0 {
                                    ss[j] = delta
                                } else {
                                    let s = ss[(i - 1) * n + j]
                                    ss[i * n + j] = s + Swift.max(delta - s * delta, 0)
                                }
                            }
                        }
                        // Backwards: dS (running d/dS_i), dX (d/dx_{i+1} from the later steps), dOpen.
                        let dS = slice(scratch, 0)
                        let dX = slice(scratch, 1)
                        let dOpen = slice(scratch, 2)
                        for j in 0..<n {
                            dS[j] = dSkeleton[j]
                            dX[j] = 0
                        }
                        for i in stride(from: k, through: 0, by: -1) {
                            // dX holds d/dx_{i+1}; the step adds d/dx_i into a fresh buffer below.
                            for j in 0..<n {
                                let x = xs[i * n + j]
                                let raw = x - os[i * n + j]
                                let delta = Swift.max(raw, 0)
                                var dDelta: T
                                if i == 0 {
                                    dDelta = dS[j]
                                } else {
                                    let s = ss[(i - 1) * n + j]
                                    let u = delta - s * delta
                                    let g = dS[j]
                                    if u > 0 {
                                        dDelta = g * (1 - s)
                                        dS[j] = g * (1 - delta)
                                    } else {
                                        dDelta = 0
                                    }
                                }
                                if raw <= 0 { dDelta = 0 }
                                dOpen[j] = -dDelta
                                // d/dx_i from δ_i; stored in the gradient slot of x_i below.
                                os[i * n + j] = dDelta
                            }
                            // open(x_i) = dilate(x_{i+1}): its gradient joins d/dx_{i+1}.
                            dilateBackward(UnsafeBufferPointer(slice(xs, i + 1)), UnsafeBufferPointer(dOpen), into: dX)
                            // x_{i+1} = erode(x_i): d/dx_i = δ_i's part + erode′ᵀ·d/dx_{i+1}.
                            for j in 0..<n { dOpen[j] = os[i * n + j] }
                            erodeBackward(UnsafeBufferPointer(slice(xs, i)), UnsafeBufferPointer(dX), into: dOpen)
                            for j in 0..<n { dX[j] = dOpen[j] }
                        }
                        for j in 0..<n { gradient[j] += dX[j] }
                    }
                }
            }
        }
    }
}
