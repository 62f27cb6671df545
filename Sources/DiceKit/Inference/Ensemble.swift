// Several trained networks as one predictor (the models of a k-fold cross-validation, or of
// different seeds or architectures): the weighted mean of their class probabilities (MONAI's
// MeanEnsemble on softmax outputs), the weighted majority vote of their label maps (MONAI's
// VoteEnsemble), or the weighted mean of their logits (nnU-Net's ensemble of folds). See
// Docs/Inference.md.

import Foundation

/// How an `Ensemble` combines its members' predictions.
public enum EnsembleCombination: String, Sendable, Equatable, CaseIterable {
    /// The weighted mean of the members' probabilities (softmax; sigmoid for one class); the
    /// label is the class of largest mean probability (one class: mean > 0.5). The default.
    case mean
    /// The weighted share of members whose arg-max label is each class; the label is the class
    /// with the largest share, ties going to the lower index (one class: share > 0.5).
    case vote
    /// The weighted mean of the members' logits (nnU-Net's predictor over the models of its
    /// folds); the probabilities and the label are those of the mean logits.
    case logits
}

extension UNetConfiguration {
    /// Whether a network of this configuration takes the same images and predicts the same
    /// classes as one of `other` (input channels, classes, regions and spatial rank agree), so
    /// that their predictions can be combined.
    public func predictsLike(_ other: UNetConfiguration) -> Bool {
        inputChannels == other.inputChannels && classes == other.classes && spatialRank == other.spatialRank
            && regions == other.regions
    }
}

/// Networks that predict together: every member sees the same image, and their probabilities
/// (`.mean`), labels (`.vote`) or logits (`.logits`) are combined with the members' weights.
///
/// Members must agree on the input channels, the class count and the spatial rank; their widths,
/// depths, normalisations and precisions may differ (each is padded to its own multiple).
public struct Ensemble {
    /// The networks, in the order their weights are given.
    public let members: [UNet<Float>]
    /// One non-negative weight per member, with a positive sum (default: all 1).
    public let weights: [Double]
    /// How the members' predictions are combined.
    public let combination: EnsembleCombination

    /// An ensemble of `members`.
    ///
    /// - Throws: `DiceKitError.value` for no members, a member whose channels, classes or rank
    ///   differ from the first's, or weights that are not one finite non-negative value per
    ///   member with a positive sum.
    public init(_ members: [UNet<Float>], weights: [Double]? = nil, combination: EnsembleCombination = .mean) throws {
        guard let first = members.first?.configuration else {
            throw DiceKitError.value("an ensemble needs at least one network")
        }
        for (i, member) in members.enumerated().dropFirst() {
            let c = member.configuration
            guard c.predictsLike(first) else {
                throw DiceKitError.value(
                    "ensemble member \(i + 1) takes \(c.inputChannels) channel(s), predicts \(c.classes) \(c.outputsName) in \(c.spatialRank)-D; "
                        + "expected member 1's \(first.inputChannels) channel(s), \(first.classes) \(first.outputsName), \(first.spatialRank)-D"
                )
            }
        }
        let weights = weights ?? [Double](repeating: 1, count: members.count)
        guard weights.count == members.count else {
            throw DiceKitError.value(
                "\(weights.count) ensemble weight(s) for \(members.count) network(s); expected one each")
        }
        guard weights.allSatisfy({ $0.isFinite && $0 >= 0 }), weights.reduce(0, +) > 0 else {
            throw DiceKitError.value(
                "ensemble weights \(weights.map { "\($0)" }.joined(separator: ",")); expected finite values ≥ 0 with a positive sum"
            )
        }
        self.members = members
        self.weights = weights
        self.combination = combination
    }

    /// The first member's configuration: input channels, classes and rank are the ensemble's.
    public var configuration: UNetConfiguration { members[0].configuration }

    /// The combined probabilities [spatial…, K] of one image [spatial…, C] of any size: each
    /// member runs `Predictor.logits(_:image:settings:)` (padding, window and flips as `settings`
    /// say), then its probabilities (`.mean`), one-hot arg-max (`.vote`) or logits (`.logits`)
    /// are averaged with the weights (for `.logits`, the softmax of that mean).
    ///
    /// - Throws: as `Predictor.logits(_:image:settings:)`.
    public func probabilities(image: Tensor<Float>, settings: InferenceSettings = InferenceSettings()) throws
        -> Tensor<Float>
    {
        try combined(members.map { try Predictor.logits($0, image: image, settings: settings) })
    }

    /// The combined probabilities [N, spatial…, K] of a batch of images [N, spatial…, C] whose
    /// extents fit every member (`Predictor.logits(_:images:batchSize:precision:)` per member).
    ///
    /// - Throws: as `Predictor.logits(_:images:batchSize:precision:)`.
    public func probabilities(images: Tensor<Float>, batchSize: Int = 8) throws -> Tensor<Float> {
        try combined(members.map { try Predictor.logits($0, images: images, batchSize: batchSize) })
    }

    /// The weighted mean of the members' logits [spatial…, K] for one image, as
    /// `probabilities(image:settings:)` computes them: the `.logits` ensemble's output, whose
    /// softmax (sigmoid for one class) is its probabilities and whose arg-max is its label.
    ///
    /// - Throws: as `Predictor.logits(_:image:settings:)`.
    public func meanLogits(image: Tensor<Float>, settings: InferenceSettings = InferenceSettings()) throws
        -> Tensor<Float>
    {
        try meanLogits(members.map { try Predictor.logits($0, image: image, settings: settings) })
    }

    /// The weighted mean of the members' logits [N, spatial…, K] for a batch of images, as
    /// `probabilities(images:batchSize:)` computes them.
    ///
    /// - Throws: as `Predictor.logits(_:images:batchSize:precision:)`.
    public func meanLogits(images: Tensor<Float>, batchSize: Int = 8) throws -> Tensor<Float> {
        try meanLogits(members.map { try Predictor.logits($0, images: images, batchSize: batchSize) })
    }

    /// Combines the members' logits (one tensor each, all of one shape [..., K]) into the
    /// ensemble's probabilities: the weighted mean of their softmax (sigmoid for K = 1) for
    /// `.mean`, of their one-hot arg-max for `.vote`, and the softmax of their weighted mean for
    /// `.logits`. Members with regions: each region's sigmoid, and a vote per region (logit > 0).
    ///
    /// - Throws: `DiceKitError.shape` when the count or shapes do not match the members.
    public func combined(_ logits: [Tensor<Float>]) throws -> Tensor<Float> {
        switch combination {
        case .mean: return try weightedMean(logits) { try configuration.probabilities(logits: $0).scalars }
        case .vote:
            guard configuration.regions == nil else {
                return try weightedMean(logits) { $0.scalars.map { $0 > 0 ? 1 : 0 } }
            }
            return try weightedMean(logits, Self.oneHotArgmax)
        case .logits: return try configuration.probabilities(logits: try meanLogits(logits))
        }
    }

    /// The weighted mean of the members' logits (one tensor each, all of one shape [..., K]),
    /// whatever the combination.
    ///
    /// - Throws: `DiceKitError.shape` when the count or shapes do not match the members.
    public func meanLogits(_ logits: [Tensor<Float>]) throws -> Tensor<Float> {
        try weightedMean(logits) { $0.scalars }
    }

    /// The weighted mean of `transform` of each member's logits, accumulated in Double.
    private func weightedMean(_ logits: [Tensor<Float>], _ transform: (Tensor<Float>) throws -> [Float]) throws
        -> Tensor<Float>
    {
        guard logits.count == members.count, let shape = logits.first?.shape,
            logits.allSatisfy({ $0.shape == shape }), let k = shape.last, k == configuration.classes
        else {
            throw DiceKitError.shape(
                "ensemble of \(members.count) network(s) predicting \(configuration.classes) classes got logits of shapes \(logits.map(\.shape))"
            )
        }
        let total = weights.reduce(0, +)
        var sum = [Double](repeating: 0, count: logits[0].count)
        for (member, weight) in zip(logits, weights) where weight > 0 {
            let share = weight / total
            let values = try transform(member)
            for i in sum.indices { sum[i] += share * Double(values[i]) }
        }
        return try Tensor(shape: shape, scalars: sum.map { Float($0) })
    }

    /// The labels [N, spatial…] of this ensemble's combined probabilities [N, spatial…, K]:
    /// its regions' labels (`LabelRegions.labels(probabilities:)`) or `Ensemble.labels(_:)`.
    ///
    /// - Throws: `DiceKitError.shape` for a tensor of rank below 2 or of another channel count.
    public func labels(probabilities: Tensor<Float>) throws -> LabelMap {
        try configuration.regions?.labels(probabilities: probabilities) ?? Self.labels(probabilities)
    }

    /// Logits whose probabilities (`UNetConfiguration.probabilities(logits:)`) give this
    /// ensemble's `probabilities` back: each region's log-odds with regions, otherwise
    /// `Ensemble.logits(fromProbabilities:)`.
    public func logits(fromProbabilities probabilities: Tensor<Float>) -> Tensor<Float> {
        Self.logits(fromProbabilities: probabilities, sigmoid: configuration.regions != nil)
    }

    /// The labels [N, spatial…] of combined probabilities [N, spatial…, K]: the largest class,
    /// ties to the lower index; for K = 1, class 1 where the probability exceeds 0.5.
    ///
    /// - Throws: `DiceKitError.shape` for a tensor of rank below 2.
    public static func labels(_ probabilities: Tensor<Float>) throws -> LabelMap {
        guard probabilities.shape.last == 1 else { return try Predictor.argmax(probabilities) }
        return try LabelMap(
            shape: Array(probabilities.shape.dropLast()), labels: probabilities.scalars.map { $0 > 0.5 ? 1 : 0 })
    }

    /// Logits whose softmax (sigmoid for K = 1) gives `probabilities` back, and so whose arg-max
    /// is the ensemble's label up to rounding: log p (log-odds for K = 1), with p clamped to the
    /// smallest normal Float so that every value is finite. For losses of the ensemble's output.
    /// With `sigmoid`, every channel's log-odds (independent sigmoid channels: regions).
    public static func logits(fromProbabilities probabilities: Tensor<Float>, sigmoid: Bool = false) -> Tensor<Float> {
        let tiny = Float.leastNormalMagnitude
        let single = sigmoid || probabilities.shape.last == 1
        return Tensor(
            uncheckedShape: probabilities.shape,
            storage: probabilities.scalars.map { p in
                let q = min(max(p, tiny), 1)
                return single ? logf(q) - logf(max(1 - q, tiny)) : logf(q)
            })
    }

    /// The one-hot arg-max (`Predictor.argmax`) of logits [..., K], as Float.
    static func oneHotArgmax(_ logits: Tensor<Float>) throws -> [Float] {
        let k = logits.shape.last!
        let flat = try logits.reshaped(to: [1, logits.count / k, k])
        let labels = try Predictor.argmax(flat).labels
        if k == 1 { return labels.map(Float.init) }
        var values = [Float](repeating: 0, count: logits.count)
        for (p, label) in labels.enumerated() { values[p * k + label] = 1 }
        return values
    }
}
