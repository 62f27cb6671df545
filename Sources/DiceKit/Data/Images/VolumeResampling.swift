// Resizing volumes: the separable resampler of ImageResampling (area averaging when an axis
// shrinks, linear interpolation with half-voxel centres when it grows, PyTorch's
// align_corners=False), applied along W, then H, then D; label maps by nearest neighbour with the
// same centre rule, or class by class (`resizeLabelsByClass`, for a target spacing). Used to bring
// NIfTI volumes of mixed sizes to one training size or spacing, and a network's class scores back
// to a volume's own extents.

enum VolumeResampling {
    /// A [D, H, W, C] volume (channels-last, row-major) resized to `target` [D', H', W'].
    static func resize(_ values: [Float], extents: [Int], channels c: Int, to target: [Int]) -> [Float] {
        precondition(extents.count == 3 && target.count == 3, "VolumeResampling: extents \(extents) → \(target)")
        if extents == target { return values }
        var current = values
        var shape = extents
        for axis in [2, 1, 0] where shape[axis] != target[axis] {
            current = resample(current, shape: shape, channels: c, axis: axis, to: target[axis])
            shape[axis] = target[axis]
        }
        return current
    }

    /// One axis resampled: every line along `axis` mapped through the taps.
    private static func resample(_ x: [Float], shape: [Int], channels c: Int, axis: Int, to size: Int) -> [Float] {
        let taps = ImageResampling.taps(source: shape[axis], target: size)
        let outer = shape[..<axis].reduce(1, *)
        let inner = shape[(axis + 1)...].reduce(c, *)
        var y = [Float](repeating: 0, count: outer * size * inner)
        x.withUnsafeBufferPointer { source in
            y.withUnsafeMutableBufferPointer { output in
                for o in 0..<outer {
                    for i in 0..<size {
                        let to = (o * size + i) * inner
                        for (j, weight) in taps[i] {
                            let from = (o * shape[axis] + j) * inner
                            for k in 0..<inner { output[to + k] += weight * source[from + k] }
                        }
                    }
                }
            }
        }
        return y
    }

    /// A [D, H, W] label map resized to `target` class by class, as nnU-Net resamples
    /// segmentations: each label value's indicator is resampled like an image (`resize`: area
    /// averaging where an axis shrinks, linear where it grows) and each voxel takes the value of
    /// greatest weight (the smaller value on a tie). Unlike nearest neighbour, a thin structure
    /// keeps the voxels it mostly covers when an axis shrinks. Time O(voxels × values), memory
    /// O(voxels).
    static func resizeLabelsByClass(_ labels: [Int32], extents: [Int], to target: [Int]) -> [Int32] {
        precondition(extents.count == 3 && target.count == 3, "VolumeResampling: extents \(extents) → \(target)")
        if extents == target { return labels }
        let values = Set(labels).sorted()
        let count = target.reduce(1, *)
        guard values.count > 1 else { return [Int32](repeating: values.first ?? 0, count: count) }
        var output = [Int32](repeating: values[0], count: count)
        var best = resize(labels.map { $0 == values[0] ? 1 : 0 }, extents: extents, channels: 1, to: target)
        for value in values.dropFirst() {
            let weight = resize(labels.map { $0 == value ? 1 : 0 }, extents: extents, channels: 1, to: target)
            for p in 0..<count where weight[p] > best[p] {
                best[p] = weight[p]
                output[p] = value
            }
        }
        return output
    }

    /// A [D, H, W] label map resized to `target` by nearest neighbour.
    static func resizeLabels(_ labels: [Int32], extents: [Int], to target: [Int]) -> [Int32] {
        precondition(extents.count == 3 && target.count == 3, "VolumeResampling: extents \(extents) → \(target)")
        if extents == target { return labels }
        let maps = (0..<3).map { axis in
            (0..<target[axis]).map { i in
                min(extents[axis] - 1, Int((Double(i) + 0.5) * Double(extents[axis]) / Double(target[axis])))
            }
        }
        var output = [Int32](repeating: 0, count: target.reduce(1, *))
        var t = 0
        for z in maps[0] {
            for y in maps[1] {
                let row = (z * extents[1] + y) * extents[2]
                for x in maps[2] {
                    output[t] = labels[row + x]
                    t += 1
                }
            }
        }
        return output
    }
}
