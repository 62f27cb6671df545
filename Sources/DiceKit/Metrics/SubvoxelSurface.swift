// Sub-voxel surfaces for the normalised surface Dice, as MONAI's SurfaceDiceMetric with
// use_subvoxels=True (monai.metrics.utils.get_mask_edges with a spacing, after DeepMind's
// surface-distance).
//
// The surface lives on the corners between voxels rather than on the voxels. The masks are
// cropped to the bounding box of their union with a margin of one voxel (zeros outside the
// image); every corner g of that padded box (its shape minus one along each axis) gets the code
// of the 2^rank voxels around it, the sum of the set ones' weights: in 3-D voxel g + (a, b, c)
// weighs 2^(7 − (4a + 2b + c)), in 2-D g + (a, b) weighs 2^(3 − (2a + b)) (MONAI's
// ENCODING_KERNEL, a 2×…×2 convolution). A corner whose code is neither 0 nor all ones is on
// the surface, with the area (3-D) or contour length (2-D) of the marching-cubes elements of its
// code: in 3-D, the sum over the code's normals n of |(n₀·s₁s₂, n₁·s₀s₂, n₂·s₀s₁)|; in 2-D
// MONAI's table of 16 lengths (s₀ or s₁ for a straight edge, half the diagonal per corner cut).
// The distances between the two corner surfaces are the usual nearest-surface distances
// (SurfaceDistances.directed) on the corner grid, with the same spacing, and
//     NSD = (Σ area of the target's corners within τ + Σ area of the prediction's within τ)
//           / (Σ area of every corner of both),
// NaN when neither mask has the class.

import Dispatch
import Synchronization

/// The corner surface of one mask, for the sub-voxel surface Dice.
struct SubvoxelSurface {
    /// Row-major over the corner grid: true where the corner is on the surface.
    var edges: [Bool]
    /// The number of surface corners.
    var count: Int
    /// Each surface corner's area (3-D) or length (2-D), in row-major order.
    var areas: [Double]

    /// The surface Dice at tolerance `tau` of two row-major masks of `shape` (rank 2 or 3), or
    /// NaN when both are empty.
    static func surfaceDice(
        _ predicted: UnsafeBufferPointer<Bool>, _ target: UnsafeBufferPointer<Bool>, shape: [Int],
        spacing: [Double], tolerance tau: Double
    ) -> Double {
        guard let box = BoundingBox(predicted, target, shape: shape) else { return .nan }
        let measures = measureTable(spacing: spacing)
        let grid = box.shape.map { $0 + 1 }
        let budget = 2 * grid.reduce(1, *)
        // The two masks' corners, then the two directions, on one thread each (the result does
        // not depend on it).
        let masks = TaskShared((predicted, target))
        let surfaces = Mutex<[SubvoxelSurface?]>([nil, nil])
        DispatchQueue.concurrentPerform(iterations: 2) { side in
            let mask = side == 0 ? masks.buffers.0 : masks.buffers.1
            let surface = corners(of: mask, in: box, measures: measures)
            surfaces.withLock { $0[side] = surface }
        }
        let (p, t) = surfaces.withLock { ($0[0]!, $0[1]!) }
        let complete = t.areas.reduce(0, +) + p.areas.reduce(0, +)
        guard complete > 0 else { return .nan }
        // Per side: the area of its corners within τ of the other surface.
        let correct = Mutex<[Double]>([0, 0])
        DispatchQueue.concurrentPerform(iterations: 2) { side in
            let (from, to) = side == 0 ? (p, t) : (t, p)
            guard from.count > 0 else { return }
            let d = SurfaceDistances.directed(
                from: (from.edges, from.count), to: (to.edges, to.count), shape: grid, spacing: spacing, budget: budget)
            var sum = 0.0
            for (area, distance) in zip(from.areas, d) where distance <= tau { sum += area }
            correct.withLock { $0[side] = sum }
        }
        let (predictedCorrect, targetCorrect) = correct.withLock { ($0[0], $0[1]) }
        return (targetCorrect + predictedCorrect) / complete
    }

    /// The area (3-D) or length (2-D) of every neighbourhood code, MONAI's
    /// create_table_neighbour_code_to_surface_area / _contour_length.
    static func measureTable(spacing s: [Double]) -> [Double] {
        if s.count == 2 {
            let diagonal = 0.5 * (s[0] * s[0] + s[1] * s[1]).squareRoot()
            var table = [Double](repeating: diagonal, count: 16)
            table[0] = 0
            table[15] = 0
            table[0b0011] = s[1]
            table[0b1100] = s[1]
            table[0b0101] = s[0]
            table[0b1010] = s[0]
            table[0b0110] = 2 * diagonal
            table[0b1001] = 2 * diagonal
            return table
        }
        let scale = [s[1] * s[2], s[0] * s[2], s[0] * s[1]]
        return (0..<256).map { code in
            var area = 0.0
            for normal in 0..<4 {
                var squared = 0.0
                for axis in 0..<3 {
                    let v = Double(normalEighths[12 * code + 3 * normal + axis]) / 8 * scale[axis]
                    squared += v * v
                }
                area += squared.squareRoot()
            }
            return area
        }
    }

    /// The corner surface of a row-major mask of the image's shape whose positions lie in `box`.
    static func corners(of mask: UnsafeBufferPointer<Bool>, in box: BoundingBox, measures: [Double]) -> SubvoxelSurface
    {
        let rank = box.shape.count
        // The box with a margin of one zero voxel on every side.
        let padded = box.shape.map { $0 + 2 }
        let grid = box.shape.map { $0 + 1 }
        let cropped = box.crop(mask)
        var voxels = [UInt8](repeating: 0, count: padded.reduce(1, *))
        // Copy the box into the padded volume, row by row of the last axis.
        let width = box.shape[rank - 1]
        let rows = box.shape.dropLast().reduce(1, *)
        for row in 0..<rows {
            var rest = row
            var offset = 1
            var paddedStride = padded[rank - 1]
            for a in stride(from: rank - 2, through: 0, by: -1) {
                offset += (rest % box.shape[a] + 1) * paddedStride
                rest /= box.shape[a]
                paddedStride *= padded[a]
            }
            for x in 0..<width where cropped[row * width + x] { voxels[offset + x] = 1 }
        }
        let full = rank == 3 ? 255 : 15
        var edges = [Bool](repeating: false, count: grid.reduce(1, *))
        var areas: [Double] = []
        var count = 0
        let n = padded[rank - 1]
        if rank == 2 {
            for i in 0..<grid[0] {
                for j in 0..<grid[1] {
                    let top = i * n + j
                    let bottom = top + n
                    let code =
                        Int(voxels[top]) << 3 | Int(voxels[top + 1]) << 2 | Int(voxels[bottom]) << 1
                        | Int(voxels[bottom + 1])
                    if code != 0 && code != full {
                        edges[i * grid[1] + j] = true
                        areas.append(measures[code])
                        count += 1
                    }
                }
            }
        } else {
            let plane = padded[1] * n
            for i in 0..<grid[0] {
                for j in 0..<grid[1] {
                    for k in 0..<grid[2] {
                        let a = i * plane + j * n + k
                        let b = a + plane
                        var code = Int(voxels[a]) << 7 | Int(voxels[a + 1]) << 6
                        code |= Int(voxels[a + n]) << 5 | Int(voxels[a + n + 1]) << 4
                        code |= Int(voxels[b]) << 3 | Int(voxels[b + 1]) << 2
                        code |= Int(voxels[b + n]) << 1 | Int(voxels[b + n + 1])
                        if code != 0 && code != full {
                            edges[(i * grid[1] + j) * grid[2] + k] = true
                            areas.append(measures[code])
                            count += 1
                        }
                    }
                }
            }
        }
        return SubvoxelSurface(edges: edges, count: count, areas: areas)
    }
}
