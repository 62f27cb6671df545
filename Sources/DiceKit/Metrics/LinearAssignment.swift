// The assignment problem (Kuhn–Munkres, the O(n²m) potentials form): a one-to-one matching of
// rows to columns of largest total weight, as SciPy's `linear_sum_assignment(-weights)`, which
// MONAI's panoptic quality uses below a match threshold of 0.5.

enum LinearAssignment {
    /// The pairs of a largest-sum one-to-one matching of rows (`t`) to columns (`p`) whose weights
    /// are `pairs` (absent pairs weigh 0). Only rows and columns that appear in `pairs` take part:
    /// the others could only add pairs of weight 0. Returns the matched pairs that appear in `pairs`.
    static func maximumSum(_ pairs: [(t: Int, p: Int, iou: Double)]) -> [(t: Int, p: Int, iou: Double)] {
        let rowIDs = Array(Set(pairs.map(\.t))).sorted()
        let columnIDs = Array(Set(pairs.map(\.p))).sorted()
        guard !rowIDs.isEmpty else { return [] }
        let rowIndex = Dictionary(uniqueKeysWithValues: rowIDs.enumerated().map { ($1, $0) })
        let columnIndex = Dictionary(uniqueKeysWithValues: columnIDs.enumerated().map { ($1, $0) })
        // The Hungarian method needs rows ≤ columns: transpose otherwise.
        let transposed = rowIDs.count > columnIDs.count
        let n = transposed ? columnIDs.count : rowIDs.count
        let m = transposed ? rowIDs.count : columnIDs.count
        var cost = [Double](repeating: 0, count: n * m)
        var weight: [Int: Double] = [:]
        for pair in pairs {
            let (r, c) = (rowIndex[pair.t]!, columnIndex[pair.p]!)
            let (i, j) = transposed ? (c, r) : (r, c)
            cost[i * m + j] = -pair.iou
            weight[i * m + j] = pair.iou
        }
        let columnOfRow = minimumCost(cost, rows: n, columns: m)
        var result: [(t: Int, p: Int, iou: Double)] = []
        for (i, j) in columnOfRow.enumerated() {
            guard let w = weight[i * m + j] else { continue }
            let (r, c) = transposed ? (j, i) : (i, j)
            result.append((rowIDs[r], columnIDs[c], w))
        }
        return result.sorted { ($0.t, $0.p) < ($1.t, $1.p) }
    }

    /// For each row of the row-major `cost` (rows ≤ columns), its column in a matching of least
    /// total cost.
    static func minimumCost(_ cost: [Double], rows n: Int, columns m: Int) -> [Int] {
        precondition(n <= m && cost.count == n * m)
        // 1-based potentials u (rows), v (columns); rowOf[j] is the row matched to column j.
        var u = [Double](repeating: 0, count: n + 1)
        var v = [Double](repeating: 0, count: m + 1)
        var rowOf = [Int](repeating: 0, count: m + 1)
        var way = [Int](repeating: 0, count: m + 1)
        for i in 1...n {
            rowOf[0] = i
            var j0 = 0
            var minimum = [Double](repeating: .infinity, count: m + 1)
            var used = [Bool](repeating: false, count: m + 1)
            repeat {
                used[j0] = true
                let i0 = rowOf[j0]
                var delta = Double.infinity
                var j1 = 0
                for j in 1...m where !used[j] {
                    let reduced = cost[(i0 - 1) * m + (j - 1)] - u[i0] - v[j]
                    if reduced < minimum[j] {
                        minimum[j] = reduced
                        way[j] = j0
                    }
                    if minimum[j] < delta {
                        delta = minimum[j]
                        j1 = j
                    }
                }
                for j in 0...m {
                    if used[j] {
                        u[rowOf[j]] += delta
                        v[j] -= delta
                    } else {
                        minimum[j] -= delta
                    }
                }
                j0 = j1
            } while rowOf[j0] != 0
            repeat {
                let j1 = way[j0]
                rowOf[j0] = rowOf[j1]
                j0 = j1
            } while j0 != 0
        }
        var columnOfRow = [Int](repeating: 0, count: n)
        for j in 1...m where rowOf[j] != 0 { columnOfRow[rowOf[j] - 1] = j - 1 }
        return columnOfRow
    }
}
