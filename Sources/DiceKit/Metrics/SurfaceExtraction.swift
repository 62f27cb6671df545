// Surfaces of binary masks as MONAI extracts them (monai.metrics.utils.get_mask_edges without
// sub-voxel areas): the edge is the mask minus its binary erosion by the cross-shaped structuring
// element (scipy's default: the 2·rank face neighbours), with everything outside the image
// counted as background. A mask position is on the surface when one of its face neighbours is
// outside the mask or outside the image.

/// Surface (edge) extraction from binary masks.
public enum SurfaceExtraction {
    /// The surface of `mask`: its positions with a face neighbour (4 in 2-D, 6 in 3-D) that is
    /// background or outside the image — `mask XOR binary_erosion(mask)`, MONAI's edges.
    ///
    /// - Parameters:
    ///   - mask: row-major binary mask of `shape`.
    ///   - shape: the extent of each axis (any rank ≥ 1).
    /// - Throws: `DiceKitError.shape` when `mask.count` is not the product of `shape`.
    public static func edges(of mask: [Bool], shape: [Int]) throws -> [Bool] {
        guard !shape.isEmpty, shape.allSatisfy({ $0 >= 1 }), mask.count == shape.reduce(1, *) else {
            throw DiceKitError.shape(
                "a mask of \(mask.count) values with shape \(shape); expected positive extents whose product is the count"
            )
        }
        return mask.withUnsafeBufferPointer { edges($0, shape: shape) }
    }

    /// The surface of a row-major mask (internal entry point, no checks).
    static func edges(_ mask: UnsafeBufferPointer<Bool>, shape: [Int]) -> [Bool] {
        let rank = shape.count
        var strides = [Int](repeating: 1, count: rank)
        for a in stride(from: rank - 2, through: 0, by: -1) { strides[a] = strides[a + 1] * shape[a + 1] }
        var result = [Bool](repeating: false, count: mask.count)
        var coordinate = [Int](repeating: 0, count: rank)
        result.withUnsafeMutableBufferPointer { out in
            for i in 0..<mask.count {
                if mask[i] {
                    var edge = false
                    for a in 0..<rank {
                        let c = coordinate[a]
                        let s = strides[a]
                        if c == 0 || c == shape[a] - 1 || !mask[i - s] || !mask[i + s] {
                            edge = true
                            break
                        }
                    }
                    out[i] = edge
                }
                // Advance the odometer (last axis fastest).
                var a = rank - 1
                while a >= 0 {
                    coordinate[a] += 1
                    if coordinate[a] < shape[a] { break }
                    coordinate[a] = 0
                    a -= 1
                }
            }
        }
        return result
    }
}
