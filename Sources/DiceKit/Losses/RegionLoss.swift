// RegionLoss: a sigmoid loss over overlapping regions of labels (LabelRegions): the loss of
// nnU-Net's region-based training (Dice + binary cross-entropy, `--loss dice-ce`), of MONAI's
// BraTS recipe (`DiceLoss(sigmoid=True)`, `--loss dice`; `DiceFocalLoss(sigmoid=True)`) and of
// smp's multilabel mode (`FocalLoss`, `LovaszLoss`).
//
// The label map becomes the R-channel 0/1 target of the regions, and the inner loss (a
// `RegionObjective` in its sigmoid, channels-last form) runs on it unchanged, so every variant,
// weight and option keeps its meaning. Unlabelled positions (the ignore index) count nowhere, as
// in nnU-Net's masked loss: their logits are replaced by −10⁴ and their target by 0, so that
// p = σ(−10⁴) = 0 and g = 0 add nothing to any sum; the terms that are means over every element
// (cross-entropy, focal) are then rescaled to the counted elements (RegionObjective.swift), and
// the gradient at those positions is 0.

/// A sigmoid loss of R-channel logits against label maps through `regions`.
public struct RegionLoss: SegmentationLoss {
    /// The regions: channel r of the prediction is region r.
    public let regions: LabelRegions
    /// The loss of the logits against the regions' 0/1 target (its `regionForm`: sigmoid,
    /// channels-last).
    public var loss: any RegionObjective
    /// Positions with this label count nowhere (default nil).
    public var ignoreIndex: Int?

    /// The loss of `loss` in its region form (the sigmoid of each channel, channels-last) over
    /// `regions`.
    public init(regions: LabelRegions, loss: some RegionObjective, ignoreIndex: Int? = nil) {
        (self.regions, self.loss, self.ignoreIndex) = (regions, loss.regionForm, ignoreIndex)
    }

    /// The logit that stands for an unlabelled position: σ(−10⁴) is 0 in Float and in Double.
    static let ignoredLogit = -1e4

    /// The loss of `prediction` [N, spatial…, R] against label maps [N, spatial…] and, when
    /// `gradient` is true, d(sum of the loss values)/d(prediction).
    ///
    /// - Throws: `DiceKitError.option` for a dense target, an inner loss without a region form
    ///   (`RegionObjective.checkRegionForm()`), or an ignore index with a reduction it cannot
    ///   mask (`RegionObjective.maskedTerms(masked:)`); `DiceKitError.shape` for a prediction
    ///   of other than R channels or labels of another spatial shape; `DiceKitError.value` for a
    ///   label outside 0..<`regions.labelClasses` (the ignore index aside); the inner loss's errors.
    public func evaluate<Scalar: BLASScalar>(
        _ prediction: Tensor<Scalar>, target: SegmentationTarget<Scalar>, gradient: Bool
    ) throws -> DiceLossResult<Scalar> {
        try evaluate(prediction, target: target, gradient: gradient) { p, t, inner in
            try inner.evaluate(p, target: t, gradient: gradient)
        } globalCounts: {
            $0
        }
    }

    /// The shared body of the one-process and distributed evaluations: `run` evaluates a sigmoid
    /// loss, `globalCounts` turns this share's (counted positions, all positions) into the global
    /// batch's.
    func evaluate<Scalar: BLASScalar>(
        _ prediction: Tensor<Scalar>, target: SegmentationTarget<Scalar>, gradient: Bool,
        run: (Tensor<Scalar>, SegmentationTarget<Scalar>, any RegionObjective) throws -> DiceLossResult<Scalar>,
        globalCounts: ([Double]) throws -> [Double]
    ) throws -> DiceLossResult<Scalar> {
        try loss.checkRegionForm()
        let (labels, ignored) = try checkedLabels(prediction, target)
        let dense = try Tensor<Scalar>(shape: prediction.shape, scalars: regions.targets(labels: labels.storage))
        // The path depends on the settings alone, so every rank of a distributed batch runs the
        // same collectives.
        guard ignoreIndex != nil else { return try run(prediction, .oneHot(dense), loss) }
        let terms = try loss.maskedTerms(masked: ignored * regions.count)
        var scale = 1.0
        if terms.contains(where: \.elementMean) {
            let total = Double(labels.count)
            let counts = try globalCounts([total - Double(ignored), total])
            scale = counts[0] > 0 ? counts[1] / counts[0] : 0
        }
        return try masked(prediction, dense, labels, terms: terms, run: run, elementMeanScale: scale)
    }

    /// The loss with the ignored positions masked out (see the file header): the sum of the
    /// weighted `terms`, those that are means over the elements scaled by `elementMeanScale`.
    private func masked<Scalar: BLASScalar>(
        _ prediction: Tensor<Scalar>, _ dense: Tensor<Scalar>, _ labels: LabelMap, terms: [RegionTerm],
        run: (Tensor<Scalar>, SegmentationTarget<Scalar>, any RegionObjective) throws -> DiceLossResult<Scalar>,
        elementMeanScale: Double
    ) throws -> DiceLossResult<Scalar> {
        let r = regions.count
        let ignore = Int32(truncatingIfNeeded: ignoreIndex ?? -1)
        var logits = prediction
        logits.withUnsafeMutableBufferPointer { x in
            for (p, label) in labels.storage.enumerated() where label == ignore {
                for k in 0..<r { x[p * r + k] = Scalar(Self.ignoredLogit) }
            }
        }
        var result: DiceLossResult<Scalar>? = nil
        for term in terms {
            let value = try run(logits, .oneHot(dense), term.loss)
            let weight = term.weight * (term.elementMean ? elementMeanScale : 1)
            result = result.map { CompoundLoss.combined($0, 1, value, weight) } ?? CompoundLoss.scaled(value, weight)
        }
        guard var result else {
            throw DiceKitError.option("region loss with no terms; expected at least one")
        }
        if var g = result.gradient {
            g.withUnsafeMutableBufferPointer { g in
                for (p, label) in labels.storage.enumerated() where label == ignore {
                    for k in 0..<r { g[p * r + k] = 0 }
                }
            }
            result.gradient = g
        }
        return result
    }

    /// The target's label map, checked against the prediction and the regions, and the number
    /// of its positions labelled `ignoreIndex`.
    private func checkedLabels<Scalar: BLASScalar>(
        _ prediction: Tensor<Scalar>, _ target: SegmentationTarget<Scalar>
    ) throws -> (LabelMap, Int) {
        guard case .labels(let labels) = target else {
            throw DiceKitError.option("region loss takes label maps; got a dense target")
        }
        guard prediction.rank >= 3, prediction.shape.last == regions.count else {
            throw DiceKitError.shape(
                "region loss: prediction of shape \(prediction.shape); expected [N, spatial…, \(regions.count)] (one channel per region)"
            )
        }
        guard labels.shape == Array(prediction.shape.dropLast()) else {
            throw DiceKitError.shape(
                "region loss: labels of shape \(labels.shape); expected \(Array(prediction.shape.dropLast())), the prediction's without its channels"
            )
        }
        let ignore = try SegmentationGeometry.ignoreLabel(ignoreIndex)
        let classes = Int32(regions.labelClasses)
        var ignored = 0
        for (i, label) in labels.storage.enumerated() {
            if let ignore, label == ignore {
                ignored += 1
            } else if label < 0 || label >= classes {
                throw DiceKitError.value(
                    "region loss: label \(label) at element \(i); expected 0..<\(classes) (the labels of regions \(regions.description))\(ignore.map { " or the ignore index \($0)" } ?? "")"
                )
            }
        }
        return (labels, ignored)
    }
}

extension RegionLoss: DistributedSegmentationLoss {
    /// The global batch's loss through the inner loss's exchange; with an ignore index the
    /// rescaling of the means over the elements counts the positions of every rank.
    public func evaluate<Scalar: BLASScalar>(
        _ prediction: Tensor<Scalar>, target: SegmentationTarget<Scalar>,
        contributes: Bool, gradient: Bool, across communicator: any Communicator
    ) throws -> DiceLossResult<Scalar> {
        try evaluate(prediction, target: target, gradient: gradient) { p, t, inner in
            try inner.evaluate(p, target: t, contributes: contributes, gradient: gradient, across: communicator)
        } globalCounts: { counts in
            var sums = contributes ? counts : [0, 0]
            try communicator.allReduceSum(&sums)
            return sums
        }
    }
}
