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
                RowMajor.advance(&coordinate, extents: shape, lastAxis: rank - 1)
            }
        }
        return result
    }
}

extension SurfaceExtraction {
    /// The surface of a row-major mask of `imageShape` inside `box` (which must hold every
    /// position of the mask), row-major with the box's shape, and the number of surface positions.
    /// The same edges as `edges(_:shape:)` of the cropped mask, found row by row with byte-wise
    /// operations: a position is interior when it and its 2·rank face neighbours are all set.
    static func edges(_ mask: UnsafeBufferPointer<Bool>, in box: BoundingBox) -> (edges: [Bool], count: Int) {
        let image = box.imageShape
        let rank = image.count
        var strides = [Int](repeating: 1, count: rank)
        for a in stride(from: rank - 2, through: 0, by: -1) { strides[a] = strides[a + 1] * image[a + 1] }
        let width = box.shape[rank - 1]
        let rows = box.shape.dropLast().reduce(1, *)
        let x0 = box.origin[rank - 1]
        let n = image[rank - 1]
        var result = [Bool](repeating: false, count: rows * width)
        var total = 0
        guard let source = mask.baseAddress else { return (result, 0) }
        let m = UnsafeRawPointer(source).assumingMemoryBound(to: UInt8.self)
        // interior[x]: every neighbour of box column x is set (1) or not (0).
        let interior = UnsafeMutablePointer<UInt8>.allocate(capacity: width)
        defer { interior.deallocate() }
        var coordinate = [Int](repeating: 0, count: rank - 1)
        result.withUnsafeMutableBufferPointer { out in
            let o = UnsafeMutableRawPointer(out.baseAddress!).assumingMemoryBound(to: UInt8.self)
            for row in 0..<rows {
                var start = x0
                var onImageBorder = false
                for axis in 0..<(rank - 1) {
                    let c = box.origin[axis] + coordinate[axis]
                    start += c * strides[axis]
                    if c == 0 || c == image[axis] - 1 { onImageBorder = true }
                }
                let line = m + start
                let target = o + row * width
                if onImageBorder {
                    // A neighbour outside the image: every set position is on the surface.
                    for x in 0..<width { target[x] = line[x] }
                } else {
                    // Along the row: the image's first and last columns have a neighbour outside.
                    for x in 0..<width {
                        let c = x0 + x
                        interior[x] = c == 0 || c == n - 1 ? 0 : line[x - 1] & line[x + 1]
                    }
                    for axis in 0..<(rank - 1) {
                        let s = strides[axis]
                        let below = line - s
                        let above = line + s
                        for x in 0..<width { interior[x] &= below[x] & above[x] }
                    }
                    for x in 0..<width { target[x] = line[x] & (interior[x] ^ 1) }
                }
                var count = 0
                for x in 0..<width { count &+= Int(target[x]) }
                total += count
                RowMajor.advance(&coordinate, extents: box.shape, lastAxis: rank - 2)
            }
        }
        return (result, total)
    }
}
