// Unlabelled bands along class boundaries, as PASCAL VOC's "void" outlines: annotators rarely
// agree on the exact edge of an object, so the pixels near it are left out of training and
// scoring. Used by `dicekit synth --void-border` to write such masks, and by tests.

extension SegmentationDataset {
    /// The same data set with every position that has a position of another class within
    /// `width` steps along each spatial axis (in the (2·width + 1)^d window around it) relabelled
    /// `ignoreIndex`: a band 2·width positions wide along every boundary between classes.
    /// Positions that already hold the data set's ignore index count as no class.
    ///
    /// - Throws: `DiceKitError.value` for a width below 1, an ignore index among the classes or
    ///   beyond 32 bits, or one other than the data set's own.
    public func withUnlabelledBorders(width: Int, ignoreIndex: Int) throws -> SegmentationDataset {
        guard width >= 1 else {
            throw DiceKitError.invalidValue(name: "border width", value: "\(width)", expected: "≥ 1")
        }
        if let own = self.ignoreIndex, own != ignoreIndex {
            throw DiceKitError.value(
                "ignore index \(ignoreIndex) for the borders; expected the data set's own, \(own)")
        }
        let range = try LabelRange(classes: classes, ignoreIndex: ignoreIndex, largest: 0)
        let ignore = range.ignore!
        let spatial = spatialShape
        let positions = spatial.reduce(1, *)
        var result = labels
        for sample in 0..<count {
            let base = sample * positions
            // The smallest and largest class in each window, one axis at a time (separable).
            var low = (0..<positions).map { labels[base + $0] == ignore ? Int32.max : labels[base + $0] }
            var high = (0..<positions).map { labels[base + $0] == ignore ? Int32.min : labels[base + $0] }
            var stride = 1
            for extent in spatial.reversed() {
                Self.slide(&low, extent: extent, stride: stride, radius: width, pick: min)
                Self.slide(&high, extent: extent, stride: stride, radius: width, pick: max)
                stride *= extent
            }
            for p in 0..<positions where low[p] < high[p] { result[base + p] = ignore }
        }
        return SegmentationDataset(unchecked: images, labels: result, classes: classes, ignoreIndex: ignoreIndex)
    }

    /// Replaces every value by `pick` over the values within `radius` steps along one axis
    /// (`extent` long, `stride` apart in memory).
    private static func slide(
        _ values: inout [Int32], extent: Int, stride: Int, radius: Int, pick: (Int32, Int32) -> Int32
    ) {
        let source = values
        let outer = source.count / (extent * stride)
        for o in 0..<outer {
            for inner in 0..<stride {
                let start = o * extent * stride + inner
                for i in 0..<extent {
                    var v = source[start + i * stride]
                    for j in Swift.max(0, i - radius)...Swift.min(extent - 1, i + radius) {
                        v = pick(v, source[start + j * stride])
                    }
                    values[start + i * stride] = v
                }
            }
        }
    }
}
