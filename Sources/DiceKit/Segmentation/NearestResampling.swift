// Nearest-neighbour resampling of segmentation targets to another spatial size, with PyTorch's
// "nearest-exact" rule, which MONAI's `DeepSupervisionLoss` uses to bring the labels to each
// deep-supervision output's size (`F.interpolate(target, size=…, mode="nearest-exact")`):
//
//     source index of output index i = min(⌊(i + ½) · in/out⌋, in − 1)
//
// PyTorch computes the scale in = in/out in Float and the product in Double, then floors it as
// Float (aten/src/ATen/native/UpSample.h, `nearest_neighbor_exact_compute_source_index`); the
// same arithmetic here gives the same indices for every size. For a 2× down-sampling it picks
// the odd positions 1, 3, 5, … (PyTorch's plain "nearest", ⌊i · in/out⌋, would pick 0, 2, 4, …).

/// The source index along one axis of every output index (PyTorch's "nearest-exact").
///
/// - Precondition: `input` ≥ 1 and `output` ≥ 1.
func nearestExactSourceIndices(input: Int, output: Int) -> [Int] {
    precondition(input >= 1 && output >= 1, "nearestExactSourceIndices: sizes \(input) → \(output)")
    let scale = Float(input) / Float(output)
    return (0..<output).map { i in
        min(Int(Float((Double(i) + 0.5) * Double(scale)).rounded(.down)), input - 1)
    }
}

/// Resamples row-major values of shape [outer, spatial…, inner] from `source` spatial extents to
/// `destination` ones by "nearest-exact"; `outer` and `inner` axes are kept.
func resampledNearestExact<Element>(
    _ values: [Element], outer: Int, inner: Int, from source: [Int], to destination: [Int]
) -> [Element] {
    precondition(source.count == destination.count, "resampledNearestExact: \(source) → \(destination)")
    // offsets[k] = the source spatial position (row-major) of output spatial position k, built
    // one axis at a time.
    var offsets = [0]
    for (axis, (from, to)) in zip(source, destination).enumerated() {
        let stride = source[(axis + 1)...].reduce(1, *)
        let indices = nearestExactSourceIndices(input: from, output: to)
        var next = [Int]()
        next.reserveCapacity(offsets.count * to)
        for o in offsets { for i in indices { next.append(o + i * stride) } }
        offsets = next
    }
    let sourceCount = source.reduce(1, *)
    var out = [Element]()
    out.reserveCapacity(outer * offsets.count * inner)
    for b in 0..<outer {
        for o in offsets {
            let base = (b * sourceCount + o) * inner
            out.append(contentsOf: values[base..<(base + inner)])
        }
    }
    return out
}

/// The spatial axes of a target of shape `shape` for a prediction of rank `predictionRank` (≥ 3)
/// in `layout`: (elements before them, their extents, elements after them). Labels have rank
/// predictionRank − 1 ([N, spatial…]) or predictionRank with a channel axis; dense targets have
/// the prediction's rank.
///
/// - Throws: `DiceKitError.shape` for any other rank.
func targetSpatialSplit(_ shape: [Int], predictionRank: Int, layout: Layout) throws -> (
    outer: Int, spatial: [Int], inner: Int
) {
    guard predictionRank >= 3, shape.count == predictionRank - 1 || shape.count == predictionRank else {
        throw DiceKitError.shape(
            "target shape \(shape) has rank \(shape.count); expected \(predictionRank - 1) (labels) or \(predictionRank) like the prediction"
        )
    }
    if shape.count == predictionRank - 1 { return (shape[0], Array(shape.dropFirst()), 1) }
    if layout == .channelsLast { return (shape[0], Array(shape[1..<(shape.count - 1)]), shape[shape.count - 1]) }
    return (shape[0] * shape[1], Array(shape[2...]), 1)
}

extension LabelMap {
    /// The labels resampled by "nearest-exact" to `spatial` extents (a no-op when they already
    /// have them); see `targetSpatialSplit` for the axes.
    func resampledNearestExact(toSpatial spatial: [Int], predictionRank: Int, layout: Layout) throws -> LabelMap {
        let split = try targetSpatialSplit(shape, predictionRank: predictionRank, layout: layout)
        guard split.spatial != spatial else { return self }
        guard split.spatial.count == spatial.count, (split.spatial + spatial).allSatisfy({ $0 >= 1 }) else {
            throw DiceKitError.shape(
                "label shape \(shape) has spatial extents \(split.spatial); expected as many non-empty axes as the prediction's \(spatial)"
            )
        }
        var newShape = shape
        let first = shape.count == predictionRank - 1 || layout == .channelsLast ? 1 : 2
        newShape.replaceSubrange(first..<(first + spatial.count), with: spatial)
        let values = DiceKit.resampledNearestExact(
            storage, outer: split.outer, inner: split.inner, from: split.spatial, to: spatial)
        return try LabelMap(shape: newShape, int32Labels: values)
    }
}

extension Tensor {
    /// The tensor resampled by "nearest-exact" along its spatial axes (those of a tensor with the
    /// prediction's rank in `layout`) to `spatial` extents.
    func resampledNearestExact(toSpatial spatial: [Int], layout: Layout) throws -> Tensor {
        let split = try targetSpatialSplit(shape, predictionRank: rank, layout: layout)
        guard split.spatial != spatial else { return self }
        guard split.spatial.count == spatial.count, (split.spatial + spatial).allSatisfy({ $0 >= 1 }) else {
            throw DiceKitError.shape(
                "target shape \(shape) has spatial extents \(split.spatial); expected as many non-empty axes as the prediction's \(spatial)"
            )
        }
        var newShape = shape
        let first = layout == .channelsLast ? 1 : 2
        newShape.replaceSubrange(first..<(first + spatial.count), with: spatial)
        let values = DiceKit.resampledNearestExact(
            scalars, outer: split.outer, inner: split.inner, from: split.spatial, to: spatial)
        return Tensor(uncheckedShape: newShape, storage: values)
    }
}
