// Region-based segmentation (nnU-Net's "regions", MONAI's BraTS recipe, smp's multilabel mode):
// the network predicts R overlapping regions, each a set of labels, with one sigmoid channel per
// region, instead of K exclusive classes with a softmax. Brain tumours are the usual case: whole
// tumour = labels {1, 2, 3}, tumour core = {2, 3}, enhancing tumour = {3}; a region is what the
// clinic measures, and nested regions are easier to learn than the exclusive labels they overlap.
//
// Labels → targets: channel r of a position is 1 when its label lies in region r.
// Predictions → labels (nnU-Net's `regions_class_order`): start from background 0; for each
// region r in order, positions whose logit r is > 0 (sigmoid > 0.5) get the label `order[r]`.
// A region set is accepted only when this round trip gives every covered label back, so that a
// perfect prediction writes the label map it was trained on.

/// R overlapping regions of labels, and the label written for each when predicted.
///
/// ```
/// let brats = try LabelRegions(parsing: "1,2,3;2,3;3")   // order 1, 2, 3 (derived)
/// let targets = brats.targets(labels: map.storage)       // [positions, 3] of 0/1
/// let labels = try brats.labels(logits: logits)          // [N, spatial…] label map
/// ```
public struct LabelRegions: Sendable, Equatable {
    /// The labels of each region, ascending; every label ≥ 1 (background 0 lies in no region).
    public let regions: [[Int32]]
    /// The label written where region r is predicted, applied in region order
    /// (nnU-Net's `regions_class_order`); `order[r]` lies in `regions[r]`.
    public let order: [Int32]
    /// One name per region (nnU-Net's dataset.json keys), or nil.
    public let names: [String]?
    /// Every label that lies in some region, ascending.
    public let coveredLabels: [Int32]
    /// Labels the regions can hold: 0…(largest covered label).
    public let labelClasses: Int

    /// The largest number of regions (a network head's channels).
    public static let maximumRegions = 256

    /// Regions with their class order (nil: derived, see `derivedOrder(_:)`).
    ///
    /// - Throws: `DiceKitError.value` for no region, more than 256, an empty region, a label
    ///   outside 1…65535, an order of another length or whose label lies outside its region, names
    ///   of another count, or regions whose order cannot give some covered label back.
    public init(regions: [[Int32]], order: [Int32]? = nil, names: [String]? = nil) throws {
        guard (1...Self.maximumRegions).contains(regions.count) else {
            throw DiceKitError.value("\(regions.count) regions; expected 1…\(Self.maximumRegions)")
        }
        let sorted = regions.map { Array(Set($0)).sorted() }
        for (r, region) in sorted.enumerated() {
            guard let first = region.first, let last = region.last else {
                throw DiceKitError.value("region \(r + 1) is empty; expected at least one label")
            }
            guard first >= 1, last <= 65535 else {
                throw DiceKitError.value(
                    "region \(r + 1) holds label \(first < 1 ? first : last); expected labels 1…65535 (background 0 is in no region)"
                )
            }
        }
        let order = try order ?? Self.derivedOrder(sorted)
        guard order.count == sorted.count else {
            throw DiceKitError.value(
                "region order has \(order.count) labels; expected one per region (\(sorted.count))")
        }
        for (r, label) in order.enumerated() where !sorted[r].contains(label) {
            throw DiceKitError.value(
                "region order gives region \(r + 1) label \(label); expected one of its labels \(Self.text(sorted[r]))")
        }
        if let names, names.count != sorted.count {
            throw DiceKitError.value("\(names.count) region names; expected one per region (\(sorted.count))")
        }
        (self.regions, self.order, self.names) = (sorted, order, names)
        coveredLabels = Array(Set(sorted.joined())).sorted()
        labelClasses = Int(coveredLabels.last ?? 0) + 1
        for label in coveredLabels where decode(label) != label {
            throw DiceKitError.value(
                "regions \(description) in order \(Self.text(order)) turn label \(label) into \(decode(label)); expected every label back (reorder the regions or give --region-order)"
            )
        }
    }

    /// Regions from text: regions separated by ";", labels by "," — "1,2,3;2,3;3".
    ///
    /// - Throws: `DiceKitError.invalidOption` for text of another form; as `init(regions:order:names:)`.
    public init(parsing text: String, order orderText: String? = nil) throws {
        let expected = "regions of labels like 1,2,3;2,3;3 (';' between regions, ',' between labels)"
        let regions = try text.split(separator: ";", omittingEmptySubsequences: false).map {
            try Self.labels($0, name: "regions", text: text, expected: expected)
        }
        let order = try orderText.map {
            try Self.labels(Substring($0), name: "region order", text: $0, expected: "one label per region, like 1,2,3")
        }
        try self.init(regions: regions, order: order)
    }

    /// The regions as `init(parsing:)` reads them: "1,2,3;2,3;3".
    public var description: String { regions.map { Self.text($0) }.joined(separator: ";") }
    /// The order as text: "1,2,3".
    public var orderDescription: String { Self.text(order) }

    /// The number of regions R (the network's output channels).
    public var count: Int { regions.count }

    /// The name of region r: its dataset.json name, or its labels ("labels 2+3").
    public func name(_ r: Int) -> String {
        names?[r] ?? "labels " + regions[r].map(String.init).joined(separator: "+")
    }

    /// Whether `label` lies in region r.
    @inline(__always) public func contains(_ r: Int, _ label: Int32) -> Bool {
        regions[r].contains(label)
    }

    /// The label a position gets back when exactly the regions holding `label` are predicted.
    func decode(_ label: Int32) -> Int32 {
        var result: Int32 = 0
        for r in regions.indices where contains(r, label) { result = order[r] }
        return result
    }

    /// The membership table: row l (labels 0..<`labelClasses`) holds R flags, 1 where label l lies
    /// in region r.
    func membership<T: Numeric>(as: T.Type = T.self) -> [T] {
        var table = [T](repeating: 0, count: labelClasses * count)
        for (r, region) in regions.enumerated() {
            for label in region { table[Int(label) * count + r] = 1 }
        }
        return table
    }

    /// The R-channel 0/1 target of label maps, channels-last [positions, R]: channel r is 1 where
    /// the label lies in region r. Labels outside 0..<`labelClasses` (the ignore index) give 0.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public func targets<T: BLASScalar>(labels: [Int32], as: T.Type = T.self) -> [T] {
        // A row of zeros after the table stands for every label outside it, so each position
        // copies one row without a branch and the output is written once (no zero fill first).
        let r = count
        var table: [T] = membership()
        table += [T](repeating: 0, count: r)
        let outside = labelClasses
        return [T](unsafeUninitializedCapacity: labels.count * r) { out, initialized in
            table.withUnsafeBufferPointer { table in
                labels.withUnsafeBufferPointer { labels in
                    for p in 0..<labels.count {
                        let label = Int(labels[p])
                        let row = (label >= 0 && label < outside ? label : outside) * r
                        for k in 0..<r { (out.baseAddress! + p * r + k).initialize(to: table[row + k]) }
                    }
                }
            }
            initialized = labels.count * r
        }
    }

    /// The label map of channels-last logits [N, spatial…, R]: 0, then `order[r]` wherever
    /// logit r > 0, region by region (nnU-Net's conversion).
    ///
    /// - Throws: `DiceKitError.shape` for logits of rank below 2 or with other than R channels.
    public func labels(logits: Tensor<Float>) throws -> LabelMap {
        try labels(scores: logits, threshold: 0)
    }

    /// The label map of channels-last sigmoid probabilities [N, spatial…, R] (> 0.5 is predicted).
    ///
    /// - Throws: as `labels(logits:)`.
    public func labels(probabilities: Tensor<Float>) throws -> LabelMap {
        try labels(scores: probabilities, threshold: 0.5)
    }

    private func labels(scores: Tensor<Float>, threshold: Float) throws -> LabelMap {
        guard scores.rank >= 2, scores.shape.last == count else {
            throw DiceKitError.shape(
                "region predictions of shape \(scores.shape); expected [N, spatial…, \(count)] (one channel per region)"
            )
        }
        let (r, order) = (count, order)
        let positions = scores.count / r
        var out = [Int32](repeating: 0, count: positions)
        scores.withUnsafeBufferPointer { x in
            for p in 0..<positions {
                for k in 0..<r where x[p * r + k] > threshold { out[p] = order[k] }
            }
        }
        return try LabelMap(shape: Array(scores.shape.dropLast()), int32Labels: out)
    }

    /// The class order nnU-Net needs, derived: region r writes its smallest label that no later
    /// region holds ({1,2,3};{2,3};{3} → 1, 2, 3).
    ///
    /// - Throws: `DiceKitError.value` when some region's labels all lie in later regions.
    public static func derivedOrder(_ regions: [[Int32]]) throws -> [Int32] {
        try regions.enumerated().map { r, region in
            let later = Set(regions[(r + 1)...].joined())
            guard let label = region.first(where: { !later.contains($0) }) else {
                throw DiceKitError.value(
                    "region \(r + 1) (labels \(text(region))) lies inside later regions, so no label is its own; expected a region order (--region-order)"
                )
            }
            return label
        }
    }

    private static func text(_ labels: [Int32]) -> String { labels.map(String.init).joined(separator: ",") }

    private static func labels(_ part: Substring, name: String, text: String, expected: String) throws -> [Int32] {
        let fields = part.split(separator: ",", omittingEmptySubsequences: false)
        let values = fields.map { Int32(String($0)) }
        guard !fields.isEmpty, values.allSatisfy({ $0 != nil }) else {
            throw DiceKitError.invalidOption(name: name, value: text, expected: expected)
        }
        return values.map { $0! }
    }
}
