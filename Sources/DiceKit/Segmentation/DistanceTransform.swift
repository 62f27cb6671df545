// Exact Euclidean distance transforms in linear time, with anisotropic spacing.
//
// Goals, in order: exact squared distances (the same numbers a brute-force search gives, up to
// the order of a few additions), O(positions) time per axis, no allocation per line.
//
// Felzenszwalb & Huttenlocher, "Distance Transforms of Sampled Functions", Theory of Computing
// 8 (2012). The squared distance is separable: D(x) = min_y Σ_a (s_a·(x_a − y_a))² + f(y), so one
// 1-D transform per axis, each over the output of the previous one, gives the n-D transform.
// The 1-D transform of f on a line with spacing s is the lower envelope of the parabolas
// (s·(q − p))² + f(p) over the sites p with finite f. Two parabolas rooted at p < q (physical
// positions x_p = s·p, x_q = s·q) intersect at
//     z = ((f(q) + x_q²) − (f(p) + x_p²)) / (2·(x_q − x_p)),
// and the envelope is built left to right, popping parabolas that the new one hides (z ≤ the
// popped one's left boundary), then read off at every position. Sites with f = ∞ (no feature
// on the line so far) are skipped, so a line without any finite site stays ∞.

/// Euclidean distance transforms of binary feature masks (Felzenszwalb–Huttenlocher).
public enum DistanceTransform {
    /// The squared Euclidean distance from every position to the nearest feature position.
    ///
    /// ```
    /// // 1-D: features at 1 and 4 → [1, 0, 1, 1, 0]
    /// let d2 = try DistanceTransform.squaredEuclidean(features: [false, true, false, false, true], shape: [5])
    /// ```
    ///
    /// - Parameters:
    ///   - features: row-major mask of `shape`; true marks a feature position.
    ///   - shape: the extent of each axis (any rank ≥ 1, every extent ≥ 1).
    ///   - spacing: the physical size of a step along each axis (default 1 on every axis); each > 0.
    /// - Returns: row-major squared distances in physical units; +∞ everywhere when there is no feature.
    /// - Throws: `DiceKitError.shape` when `features.count` is not the product of `shape`;
    ///   `DiceKitError.value` for a spacing that is not finite and positive or of the wrong length.
    public static func squaredEuclidean(features: [Bool], shape: [Int], spacing: [Double]? = nil) throws -> [Double] {
        guard !shape.isEmpty, shape.allSatisfy({ $0 >= 1 }), features.count == shape.reduce(1, *) else {
            throw DiceKitError.shape(
                "a feature mask of \(features.count) values with shape \(shape); expected positive extents whose product is the count"
            )
        }
        let steps = try checkedSpacing(spacing, rank: shape.count)
        var values = [Double](repeating: 0, count: features.count)
        features.withUnsafeBufferPointer { f in
            values.withUnsafeMutableBufferPointer { transform(features: f, into: $0, shape: shape, spacing: steps) }
        }
        return values
    }

    /// `spacing` checked against the rank: every value finite and > 0; all ones when nil.
    static func checkedSpacing(_ spacing: [Double]?, rank: Int) throws -> [Double] {
        guard let spacing else { return Array(repeating: 1, count: rank) }
        guard spacing.count == rank else {
            throw DiceKitError.value(
                "spacing has \(spacing.count) values \(spacing); expected \(rank), one per spatial axis")
        }
        if let bad = spacing.first(where: { !($0.isFinite && $0 > 0) }) {
            throw DiceKitError.value("spacing \(bad) in \(spacing); expected finite values > 0")
        }
        return spacing
    }

    /// The squared distance transform of row-major `features` into `values` (same count) —
    /// everywhere, or, when `queries` is given, at least at the positions it marks (the last pass
    /// skips the lines without a query position).
    static func transform(
        features: UnsafeBufferPointer<Bool>, into values: UnsafeMutableBufferPointer<Double>, shape: [Int],
        spacing: [Double], queries: UnsafeBufferPointer<Bool>? = nil
    ) {
        guard let base = values.baseAddress, let feature = features.baseAddress else { return }
        // The contiguous axis straight from the mask: on a line, the squared distance to the
        // nearest feature is (s·k)², k the index distance to the nearest feature found scanning
        // forward and backward; +∞ on a line without any.
        let n = shape[shape.count - 1]
        let step = spacing[shape.count - 1]
        for start in stride(from: 0, to: features.count, by: n) {
            let f = feature + start
            let d = base + start
            var last = -1
            for q in 0..<n {
                if f[q] { last = q }
                d[q] = last >= 0 ? Double(q &- last) : .infinity
            }
            var next = -1
            for q in stride(from: n - 1, through: 0, by: -1) {
                if f[q] { next = q }
                var k = d[q]
                if next >= 0 { k = Swift.min(k, Double(next &- q)) }
                let delta = k * step
                d[q] = delta * delta
            }
        }
        guard shape.count > 1 else { return }
        transformStrided(values, shape: shape, spacing: spacing, queries: queries)
    }

    /// Transforms `values` in place along every axis but the last (contiguous) one, which must
    /// already be done: on exit the squared distance transform, at least where `queries` marks.
    static func transformStrided(
        _ values: UnsafeMutableBufferPointer<Double>, shape: [Int], spacing: [Double],
        queries: UnsafeBufferPointer<Bool>?
    ) {
        guard let base = values.baseAddress else { return }
        let longest = shape.max() ?? 1
        // `block` neighbouring lines at a time, stored [q][block]: row q of the block is
        // `block` consecutive values (a whole cache line), copied in and out at once.
        let block = 8
        let lines = UnsafeMutablePointer<Double>.allocate(capacity: block * longest)
        let output = UnsafeMutablePointer<Double>.allocate(capacity: longest)
        let sites = UnsafeMutablePointer<Int>.allocate(capacity: longest)
        let bounds = UnsafeMutablePointer<Double>.allocate(capacity: longest + 1)
        let scratch = UnsafeMutablePointer<Double>.allocate(capacity: 3 * longest)
        defer {
            lines.deallocate()
            output.deallocate()
            sites.deallocate()
            bounds.deallocate()
            scratch.deallocate()
        }
        let lastPass = shape.indices.first { shape[$0] > 1 }
        for axis in shape.indices.dropLast().reversed() {
            let n = shape[axis]
            if n == 1 { continue }
            let inner = shape[(axis + 1)...].reduce(1, *)
            let outer = shape[..<axis].reduce(1, *)
            let step = spacing[axis]
            let queried = axis == lastPass ? queries?.baseAddress : nil
            for o in 0..<outer {
                var i0 = 0
                while i0 < inner {
                    let width = Swift.min(block, inner &- i0)
                    let first = o &* n &* inner &+ i0
                    let start = base + first
                    var wanted: UInt8 = width == 8 ? 0xFF : UInt8((1 << width) - 1)
                    if let queried {
                        wanted = 0
                        for q in 0..<n {
                            let row = queried + (first &+ q &* inner)
                            for b in 0..<width where row[b] { wanted |= 1 << b }
                        }
                        if wanted == 0 {
                            i0 &+= width
                            continue
                        }
                    }
                    for q in 0..<n { (lines + q &* block).update(from: start + q &* inner, count: width) }
                    if let queried {
                        // The last pass: read the envelope off at the query positions only,
                        // straight into the field (the other positions are not needed).
                        for b in 0..<width where wanted & (1 << b) != 0 {
                            let marks = queried + (first &+ b)
                            if envelope(
                                lines + b, output, n: n, stride: block, step: step, sites: sites, bounds: bounds,
                                scratch: scratch, only: marks, onlyStride: inner)
                            {
                                for q in 0..<n where marks[q &* inner] { start[q &* inner &+ b] = output[q] }
                            }
                        }
                        i0 &+= width
                        continue
                    }
                    for b in 0..<width where wanted & (1 << b) != 0 {
                        let line = lines + b
                        if envelope(
                            line, output, n: n, stride: block, step: step, sites: sites, bounds: bounds,
                            scratch: scratch)
                        {
                            for q in 0..<n { line[q &* block] = output[q] }
                        }
                    }
                    for q in 0..<n { (start + q &* inner).update(from: lines + q &* block, count: width) }
                    i0 &+= width
                }
            }
        }
    }

    /// The 1-D squared distance transform of `f` (n values `stride` apart, spacing `step`) into
    /// `d` (contiguous); false (and `d` untouched) when every value of `f` is +∞. `scratch`
    /// holds 3·n values: each envelope site's f + x², position x and f. With `only`, `d` is
    /// written only where `only[q·onlyStride]` is true.
    @inline(__always)
    static func envelope(
        _ f: UnsafeMutablePointer<Double>, _ d: UnsafeMutablePointer<Double>, n: Int, stride: Int, step: Double,
        sites v: UnsafeMutablePointer<Int>, bounds z: UnsafeMutablePointer<Double>,
        scratch: UnsafeMutablePointer<Double>, only: UnsafePointer<Bool>? = nil, onlyStride: Int = 0
    ) -> Bool {
        let h = scratch
        let x = scratch + n
        let g = scratch + 2 &* n
        var k = -1
        for q in 0..<n {
            let fq = f[q &* stride]
            if fq == .infinity { continue }
            let xq = Double(q) * step
            let hq = fq + xq * xq
            if k < 0 {
                k = 0
                v[0] = q
                h[0] = hq
                x[0] = xq
                g[0] = fq
                z[0] = -.infinity
                continue
            }
            var crossing: Double
            while true {
                crossing = (hq - h[k]) / (2 * (xq - x[k]))
                // z[0] = −∞, so k never drops below 0.
                if crossing <= z[k] { k &-= 1 } else { break }
            }
            k &+= 1
            v[k] = q
            h[k] = hq
            x[k] = xq
            g[k] = fq
            z[k] = crossing
        }
        if k < 0 { return false }
        if let only {
            // Only the marked positions (a few per line): walk the segments once.
            var j = 0
            for q in 0..<n where only[q &* onlyStride] {
                let xq = Double(q) * step
                while j < k, z[j &+ 1] < xq { j &+= 1 }
                let delta = Double(q &- v[j]) * step
                d[q] = delta * delta + g[j]
            }
            return true
        }
        // Read off segment by segment: position q belongs to the first parabola j whose right
        // boundary z[j + 1] is ≥ q·step. The last q of segment j is found from z[j + 1] / step
        // and corrected with that same comparison, so the fill loops have fixed trip counts.
        var q = 0
        let lastPosition = Double(n &- 1) * step
        for j in 0...k {
            var end = n &- 1
            if j < k, z[j &+ 1] < lastPosition {
                let bound = z[j &+ 1]
                // A boundary left of position 0 (or of q) leaves the segment empty.
                end = bound < Double(q) * step ? q &- 1 : Int((bound / step).rounded(.down))
                while end &+ 1 < n, Double(end &+ 1) * step <= bound { end &+= 1 }
                while end >= q, Double(end) * step > bound { end &-= 1 }
            }
            let site = v[j]
            let value = g[j]
            while q <= end {
                let delta = Double(q &- site) * step
                d[q] = delta * delta + value
                q &+= 1
            }
            if q >= n { break }
        }
        return true
    }
}
