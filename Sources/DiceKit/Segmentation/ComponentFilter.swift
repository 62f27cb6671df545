// Post-processing of predicted label maps by connected components: MONAI's
// `KeepLargestConnectedComponent` (nnU-Net's "remove all but the largest component") and
// `RemoveSmallObjects`. A component that is dropped becomes background (label 0).

/// Removes stray components from predicted label maps, one sample at a time.
///
/// Per sample, and per class (or for the union of the classes with `mergeClasses`), the mask's
/// components are found with `connectivity`; those smaller than `minimumSize` positions are
/// dropped, then all but the `keepLargest` largest of the rest. Equal sizes keep the component
/// whose first position comes first in raster order.
///
/// ```
/// let filter = try ComponentFilter(keepLargest: 1)            // one polyp per image
/// let cleaned = try filter.apply(to: predictedLabels)         // [N, H, W] or [N, D, H, W]
/// ```
public struct ComponentFilter: Sendable, Equatable {
    /// Keep at most this many components (the largest); nil keeps every size-qualified one.
    public let keepLargest: Int?
    /// Drop components of fewer positions than this (MONAI `RemoveSmallObjects`'s `min_size`);
    /// nil keeps every size.
    public let minimumSize: Int?
    /// The classes processed (each ≥ 1); nil is every label above 0 found in the sample.
    public let classes: [Int]?
    /// Neighbourhood, 1…rank (see `ConnectedComponents`); nil is the full one, as MONAI's
    /// `KeepLargestConnectedComponent` (its `RemoveSmallObjects` defaults to 1).
    public let connectivity: Int?
    /// Components of the union of the classes instead of each class alone (MONAI's
    /// `independent=False`).
    public let mergeClasses: Bool

    /// A filter; at least one of `keepLargest` and `minimumSize` must be given.
    ///
    /// - Throws: `DiceKitError.option` for neither rule, a count or size below 1, a class below 1,
    ///   a class listed twice or a connectivity below 1.
    public init(
        keepLargest: Int? = nil, minimumSize: Int? = nil, classes: [Int]? = nil, connectivity: Int? = nil,
        mergeClasses: Bool = false
    ) throws {
        guard keepLargest != nil || minimumSize != nil else {
            throw DiceKitError.option("a component filter needs keepLargest, minimumSize or both")
        }
        if let n = keepLargest, n < 1 {
            throw DiceKitError.option("keep the \(n) largest components; expected a count ≥ 1")
        }
        if let s = minimumSize, s < 1 {
            throw DiceKitError.option("minimum component size \(s); expected ≥ 1 position")
        }
        if let classes {
            if let bad = classes.first(where: { $0 < 1 }) {
                throw DiceKitError.option("component filter class \(bad); expected foreground classes ≥ 1")
            }
            if Set(classes).count != classes.count {
                throw DiceKitError.option("component filter classes \(classes) list a class twice")
            }
        }
        if let k = connectivity, k < 1 { throw DiceKitError.option("connectivity \(k); expected ≥ 1") }
        self.keepLargest = keepLargest
        self.minimumSize = minimumSize
        self.classes = classes
        self.connectivity = connectivity
        self.mergeClasses = mergeClasses
    }

    /// The filtered label maps [N, spatial…] (each sample on its own).
    ///
    /// - Throws: `DiceKitError.shape` for a map without spatial axes; `DiceKitError.option` for a
    ///   connectivity above the spatial rank.
    public func apply(to labels: LabelMap) throws -> LabelMap {
        guard labels.shape.count >= 2 else {
            throw DiceKitError.shape("label map shape \(labels.shape); expected [N, spatial…]")
        }
        let spatial = Array(labels.shape.dropFirst())
        _ = try ConnectedComponents.checkedConnectivity(connectivity, rank: spatial.count)
        let size = spatial.reduce(1, *)
        var storage = labels.storage
        for b in 0..<labels.shape[0] {
            var sample = Array(storage[(b * size)..<((b + 1) * size)])
            try applyToSample(&sample, spatialShape: spatial)
            storage.replaceSubrange((b * size)..<((b + 1) * size), with: sample)
        }
        return try LabelMap(shape: labels.shape, int32Labels: storage)
    }

    /// Filters one sample's labels (row-major, `spatialShape`) in place.
    ///
    /// - Throws: `DiceKitError.shape` or `.option` as `ConnectedComponents.init`.
    public func applyToSample(_ labels: inout [Int32], spatialShape: [Int]) throws {
        let processed = classes.map { Set($0.map(Int32.init)) }
        if mergeClasses {
            let mask = labels.map { processed?.contains($0) ?? ($0 > 0) }
            try dropComponents(of: mask, from: &labels, spatialShape: spatialShape)
            return
        }
        let present = Set(labels.filter { $0 > 0 })
        for c in (processed ?? present).sorted() where present.contains(c) {
            try dropComponents(of: labels.map { $0 == c }, from: &labels, spatialShape: spatialShape)
        }
    }

    /// Sets to 0 the positions of `mask`'s components that the rules drop.
    private func dropComponents(of mask: [Bool], from labels: inout [Int32], spatialShape: [Int]) throws {
        let components = try ConnectedComponents(mask: mask, shape: spatialShape, connectivity: connectivity)
        let kept = keptComponents(sizes: components.sizes)
        guard kept.contains(false) else { return }
        for i in 0..<labels.count where components.labels[i] > 0 && !kept[Int(components.labels[i]) - 1] {
            labels[i] = 0
        }
    }

    /// Whether each component (by number − 1) survives the size rule and then the count rule.
    func keptComponents(sizes: [Int]) -> [Bool] {
        var kept = sizes.map { $0 >= (minimumSize ?? 0) }
        if let n = keepLargest {
            // Largest first; equal sizes in raster order of the component's first position.
            let order = sizes.indices.filter { kept[$0] }.sorted { (sizes[$0], -$0) > (sizes[$1], -$1) }
            for i in order.dropFirst(n) { kept[i] = false }
        }
        return kept
    }
}
