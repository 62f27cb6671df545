// Scoring region-based predictions (Segmentation/LabelRegions.swift): a region is scored as
// nnU-Net scores it, on the label maps — predicted region r is where the predicted label lies in
// region r, and the same for the target. Scored region 0 is the background (label 0), so that
// tables and `EpochMetrics` keep their "index 0 = background" convention.

extension LabelRegions {
    /// The scored regions: the background, then the R regions.
    public var scoredCount: Int { count + 1 }

    /// The name of scored region k: "background", then `name(k − 1)`.
    public func scoredName(_ k: Int) -> String { k == 0 ? "background" : name(k - 1) }

    /// Overlap counts per (sample, scored region) of predicted against target label maps [N,
    /// spatial…]. Positions whose target is `ignoreIndex` count nowhere.
    ///
    /// - Throws: `DiceKitError.shape` for maps of different shapes; `DiceKitError.value` for a
    ///   label outside 0..<`labelClasses` (other than the ignore index in the target).
    public func counts(predicted: LabelMap, target: LabelMap, ignoreIndex: Int?) throws -> OverlapCounts {
        let n = target.shape.first ?? 0
        let scored = scoredCount
        let table = scoredMembership()
        var tp = [Int](repeating: 0, count: n * scored)
        var fp = tp
        var fn = tp
        let positions = try OverlapMetric.countedPairs(
            predicted: predicted, target: target, classes: labelClasses, ignoreIndex: ignoreIndex
        ) { b, p, t in
            for k in 0..<scored {
                switch (table[p * scored + k], table[t * scored + k]) {
                case (true, true): tp[b * scored + k] += 1
                case (true, false): fp[b * scored + k] += 1
                case (false, true): fn[b * scored + k] += 1
                case (false, false): break
                }
            }
        }
        return OverlapCounts(
            samples: n, classes: scored, truePositives: tp, falsePositives: fp, falseNegatives: fn, positions: positions
        )
    }

    /// Binary masks per scored region (0: background, r + 1: region r) of a label map [N,
    /// spatial…], for the surface-distance and confusion metrics.
    ///
    /// - Throws: `DiceKitError.shape` for a map without spatial axes; `DiceKitError.value` for a
    ///   label outside 0..<`labelClasses`.
    public func masks(_ labels: LabelMap) throws -> ClassMasks {
        let scored = scoredCount
        let table = scoredMembership()
        return try ClassMasks(
            labels: labels,
            masksOf: (0..<labelClasses).map { label in (0..<scored).filter { table[label * scored + $0] } },
            classes: scored)
    }

    /// Row l (labels 0..<`labelClasses`): whether label l lies in each scored region.
    private func scoredMembership() -> [Bool] {
        let scored = scoredCount
        let member: [UInt8] = membership()
        var table = [Bool](repeating: false, count: labelClasses * scored)
        for label in 0..<labelClasses {
            table[label * scored] = label == 0
            for r in 0..<count { table[label * scored + r + 1] = member[label * count + r] != 0 }
        }
        return table
    }
}
