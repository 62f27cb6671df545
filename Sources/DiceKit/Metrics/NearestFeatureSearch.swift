// Exact nearest-feature distances at a few query positions by a pruned search over the rows of
// the contiguous axis: the fast path of the surface-distance metrics (SurfaceDistances.swift).
//
// The queries and the features are both surfaces (a few positions per row), and the nearest
// feature is usually a few voxels away. A distance transform of the bounding box
// (DistanceTransform.swift) works at every position of the box; here the work is per query.
//
// One table holds, for every position, the index distance k to the nearest feature on its row
// (the last, contiguous axis), from one forward and one backward scan per row. With the box seen
// as [n₀, n₁, n₂] (a 2-D box is [1, n₀, n₁], a 1-D one [1, 1, n₀]), the squared distance from a
// query to the nearest feature on the row offset by (Δ₀, Δ₁) from its own is
//     (s₀Δ₀)² + ((s₁Δ₁)² + (s₂k)²),
// the same expression, added in the same order, as the distance transform's passes (the last
// axis first, then axis 1, then axis 0). The rows are visited plane by plane outward from the
// query (|Δ₀| = 0, 1, 2, …, within a plane |Δ₁| = 0, 1, …); a plane stops as soon as
// (s₀Δ₀)² + (s₁Δ₁)² reaches the best squared distance found, the search as soon as (s₀Δ₀)² does:
// no row left can hold a nearer feature (floating-point addition is monotone, so the bound holds
// for the rounded sums too). The result is the minimum of the same floating-point values the
// transform minimises: the same numbers.
//
// The work grows with the square of the distances. A budget of row visits bounds it: when a
// direction needs more (surfaces far apart), the search gives up and the caller runs the
// distance transform, whose cost does not depend on the distances.

/// Nearest-feature search over the rows of the contiguous axis (ranks 1 to 3).
enum NearestFeatureSearch {
    /// The squared distance from every query position (row-major order) to the nearest feature
    /// position, or nil when the shape is not supported (rank above 3, a last axis of 65 535 or
    /// more) or the search would visit more than `budget` rows.
    ///
    /// - Parameters:
    ///   - features: row-major mask of `shape` with at least one feature.
    ///   - queries: row-major mask of `shape`; `queryCount` of its values are true.
    ///   - spacing: checked spacing, one value per axis.
    static func squaredDistances(
        features: UnsafeBufferPointer<Bool>, queries: UnsafeBufferPointer<Bool>, shape: [Int], spacing: [Double],
        queryCount: Int, budget: Int
    ) -> [Double]? {
        let rank = shape.count
        guard (1...3).contains(rank), shape[rank - 1] < Int(UInt16.max), let feature = features.baseAddress,
            let query = queries.baseAddress
        else { return nil }
        let n0 = rank == 3 ? shape[0] : 1
        let n1 = rank >= 2 ? shape[rank - 2] : 1
        let n2 = shape[rank - 1]
        let rows = n0 &* n1
        // Squared physical offsets along each axis, computed as the transform computes them
        // ((index distance · step)²); index n₂ of the last axis stands for "no feature on the row".
        let square0 = squares(n0, rank == 3 ? spacing[0] : 1)
        let square1 = squares(n1, rank >= 2 ? spacing[rank - 2] : 1)
        var square2 = squares(n2, spacing[rank - 1])
        square2.append(.infinity)
        let table = UnsafeMutablePointer<UInt16>.allocate(capacity: rows &* n2)
        defer { table.deallocate() }
        buildTable(feature, into: table, rows: rows, width: n2)

        var result = [Double]()
        result.reserveCapacity(queryCount)
        var visits = 0
        let completed = square0.withUnsafeBufferPointer { sq0 in
            square1.withUnsafeBufferPointer { sq1 in
                square2.withUnsafeBufferPointer { sq2 in
                    for row in 0..<rows {
                        let z = row / n1
                        let y = row &- z &* n1
                        var stop = false
                        forEachSet(query + row &* n2, count: n2) { x in
                            var best = Double.infinity
                            var m = 0
                            while m < n0 {
                                let bz = sq0[m]
                                if bz >= best { break }
                                let up = z &+ m
                                let down = z &- m
                                if up >= n0 && down < 0 { break }
                                if up < n0 {
                                    visits &+= scanPlane(
                                        table + (up &* n1 &* n2 &+ x), y: y, n1: n1, n2: n2, bz: bz, best: &best,
                                        sq1: sq1, sq2: sq2)
                                }
                                if m > 0 && down >= 0 {
                                    visits &+= scanPlane(
                                        table + (down &* n1 &* n2 &+ x), y: y, n1: n1, n2: n2, bz: bz, best: &best,
                                        sq1: sq1, sq2: sq2)
                                }
                                m &+= 1
                            }
                            result.append(best)
                            if visits > budget { stop = true }
                            return !stop
                        }
                        if stop { return false }
                    }
                    return true
                }
            }
        }
        return completed ? result : nil
    }

    /// (i · step)² for i in 0..<count.
    private static func squares(_ count: Int, _ step: Double) -> [Double] {
        (0..<count).map { i in
            let delta = Double(i) * step
            return delta * delta
        }
    }

    /// Visits the rows of one plane (`column` points at the query's column, row 0 of the plane)
    /// outward from row `y`, lowering `best`; returns the rows visited.
    @inline(__always)
    private static func scanPlane(
        _ column: UnsafePointer<UInt16>, y: Int, n1: Int, n2: Int, bz: Double, best: inout Double,
        sq1: UnsafeBufferPointer<Double>, sq2: UnsafeBufferPointer<Double>
    ) -> Int {
        var k = 0
        var current = best
        while k < n1 {
            let by = sq1[k]
            if bz + by >= current { break }
            let up = y &+ k
            let down = y &- k
            if up >= n1 && down < 0 { break }
            if up < n1 {
                let candidate = bz + (by + sq2[Int(column[up &* n2])])
                if candidate < current { current = candidate }
            }
            if k > 0 && down >= 0 {
                let candidate = bz + (by + sq2[Int(column[down &* n2])])
                if candidate < current { current = candidate }
            }
            k &+= 1
        }
        best = current
        return k &+ 1
    }

    /// For every position, the index distance to the nearest feature on its row, or `width`
    /// when the row has none. The features of a row are found eight positions at a time; the
    /// stretches between them are filled by plain loops (no dependence from one position to the
    /// next): before the first feature f, f − x; between neighbours p < q, x − p up to
    /// ⌊(p + q)/2⌋ and q − x after; after the last feature l, x − l.
    private static func buildTable(
        _ feature: UnsafePointer<Bool>, into table: UnsafeMutablePointer<UInt16>, rows: Int, width: Int
    ) {
        let none = UInt16(width)
        for row in 0..<rows {
            let t = table + row &* width
            var previous = -1
            forEachSet(feature + row &* width, count: width) { q in
                if previous < 0 {
                    for x in 0...q { t[x] = UInt16(truncatingIfNeeded: q &- x) }
                } else {
                    let middle = (previous &+ q) >> 1
                    for x in previous...middle { t[x] = UInt16(truncatingIfNeeded: x &- previous) }
                    for x in (middle &+ 1)...q { t[x] = UInt16(truncatingIfNeeded: q &- x) }
                }
                previous = q
                return true
            }
            if previous < 0 {
                t.update(repeating: none, count: width)
            } else {
                for x in previous..<width { t[x] = UInt16(truncatingIfNeeded: x &- previous) }
            }
        }
    }

    /// Calls `body` with the index of every true value among `count` Booleans, in order, eight
    /// at a time where all eight are false; stops when `body` returns false.
    @inline(__always)
    static func forEachSet(_ values: UnsafePointer<Bool>, count: Int, _ body: (Int) -> Bool) {
        let raw = UnsafeRawPointer(values)
        var x = 0
        while x &+ 8 <= count {
            var word = raw.loadUnaligned(fromByteOffset: x, as: UInt64.self)
            while word != 0 {
                let byte = word.trailingZeroBitCount >> 3
                if !body(x &+ byte) { return }
                word &= ~(UInt64(0xFF) << (byte << 3))
            }
            x &+= 8
        }
        while x < count {
            if values[x], !body(x) { return }
            x &+= 1
        }
    }
}
