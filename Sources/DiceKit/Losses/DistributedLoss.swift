// Losses over a batch that is split across processes: every rank passes its own samples and gets
// the whole batch's loss and the gradient with respect to its own prediction, as one process on
// the whole batch would (to Float rounding: the sums are added in another order).
//
// Four kinds of exchange, one collective each per evaluation:
//   - the Dice family gathers its per-(sample, class) statistics between its two passes
//     (DiceLoss+Exchange.swift);
//   - MCC sums its four batch-wide counts between its two passes (MCCLoss.swift);
//   - Lovász over the whole batch gathers every rank's errors and sorts them together
//     (LovaszLoss+Exchange.swift);
//   - a mean over samples (focal with reduction mean: every sample has the same number of
//     elements) is Σ_r (B_r / B)·(rank r's mean) and its gradient rank r's scaled by B_r / B; a
//     sum over samples is Σ_r (rank r's sum), its gradient rank r's as it is (`SampleMeanExchange`).
//     With an ignore index the focal mean weighs each rank by its counted positions instead of B_r.
// A compound (Dice + focal, generalized Dice + focal) exchanges each term in turn.

/// A loss that can be evaluated on a batch split across the ranks of a `Communicator`.
///
/// `DiceLoss`, `FocalLoss` (mean or sum, not normalized), `DiceFocalLoss`,
/// `GeneralizedDiceFocalLoss`, `MCCLoss` and `LovaszLoss` (per image, or over the whole batch
/// with every rank's errors sorted together: LovaszLoss+Exchange.swift) conform. The
/// data-parallel `Trainer` trains them with `--distributed`.
public protocol DistributedSegmentationLoss: SegmentationLoss {
    /// The loss over the global batch that `communicator`'s ranks hold between them, and the
    /// gradient of that loss with respect to this rank's `prediction`: with every rank calling
    /// this on its share of the batch, the values are one process's on the whole batch, to
    /// Float rounding.
    ///
    /// A collective: every rank must call it in the same step, with predictions of the same
    /// classes and spatial shape.
    ///
    /// - Parameters:
    ///   - prediction: this rank's predictions.
    ///   - target: this rank's targets.
    ///   - contributes: false on a rank without samples in this step: it then passes any
    ///     one-sample `prediction`/`target` of the right shapes, contributes nothing and its
    ///     gradient is meaningless.
    ///   - gradient: whether to compute the gradient.
    ///   - communicator: the ranks that share the batch.
    /// - Throws: as `evaluate(_:target:gradient:)`; `DiceKitError.option` for settings that
    ///   cannot be exchanged (reduction none); `DiceKitError.value` when a collective fails or
    ///   the ranks' contributions do not fit together.
    func evaluate<Scalar: BLASScalar>(
        _ prediction: Tensor<Scalar>, target: SegmentationTarget<Scalar>,
        contributes: Bool, gradient: Bool, across communicator: any Communicator
    ) throws -> DiceLossResult<Scalar>
}

extension DiceLoss: DistributedSegmentationLoss {}

extension MCCLoss: DistributedSegmentationLoss {}

/// The global batch's value of a loss that is a mean over samples with a normalisation that
/// does not depend on the batch, or a sum over samples, from each rank's own evaluation.
struct SampleMeanExchange {
    let communicator: any Communicator
    /// False on a rank without samples in this step (its result is scaled by 0).
    let contributes: Bool
    /// True for a mean over samples, false for a sum.
    let mean: Bool

    /// Σ_r (w_r / W)·value_r (a mean) or Σ_r value_r (a sum) on every rank, with this rank's
    /// gradient scaled by w_r / W (a mean) or 1 (a sum; 0 on a rank without samples).
    ///
    /// - Parameter weight: w_r, this rank's share of the mean: nil for its sample count B_r; the
    ///   counted positions of a loss with an ignore index. A mean whose weights are all 0 (every
    ///   position ignored) is 0.
    func combine<Scalar: BLASScalar>(_ local: DiceLossResult<Scalar>, samples: Int, weight: Double? = nil) throws
        -> DiceLossResult<Scalar>
    {
        let n = contributes ? Double(samples) : 0
        let w = contributes ? weight ?? n : 0
        let value = contributes ? Double(local.value) : 0
        var sums = [n, w, mean ? w * value : value]
        try communicator.allReduceSum(&sums)
        guard sums[0] > 0 else {
            throw DiceKitError.value("no rank has samples in this step; expected at least one")
        }
        let scale = mean ? (sums[1] > 0 ? w / sums[1] : 0) : (contributes ? 1 : 0)
        let total = mean ? (sums[1] > 0 ? sums[2] / sums[1] : 0) : sums[2]
        return DiceLossResult(
            loss: Tensor(uncheckedShape: [], storage: [Scalar(total)]),
            gradient: local.gradient.map { scale == 1 ? $0 : Scalar(scale) * $0 })
    }
}

extension FocalLoss: DistributedSegmentationLoss {
    /// The focal loss of the global batch (`DistributedSegmentationLoss`): with reduction mean,
    /// Σ_r (B_r / B)·(rank r's mean) (every sample has the same number of elements; with an
    /// ignore index, each rank weighs by its counted positions instead); with reduction sum,
    /// Σ_r (rank r's sum).
    ///
    /// - Throws: as `evaluate(_:target:gradient:)`; `DiceKitError.option` for reduction none or
    ///   the normalized form (its per-class sums span the batch).
    public func evaluate<Scalar: BLASScalar>(
        _ prediction: Tensor<Scalar>, target: SegmentationTarget<Scalar>,
        contributes: Bool = true, gradient: Bool = false, across communicator: any Communicator
    ) throws -> DiceLossResult<Scalar> {
        guard reduction != .none else {
            throw DiceKitError.option("focal loss across ranks with reduction none; expected mean or sum")
        }
        guard !normalized else {
            throw DiceKitError.option(
                "normalized focal loss across ranks (its per-class sums span the batch); expected normalized off")
        }
        let local = try evaluate(prediction, target: target, gradient: gradient)
        let exchange = SampleMeanExchange(
            communicator: communicator, contributes: contributes, mean: reduction == .mean)
        var weight: Double? = nil
        if let ignoreIndex, case .labels(let map) = target {
            weight = Double(map.storage.reduce(0) { $0 + (Int($1) == ignoreIndex ? 0 : 1) })
        }
        return try exchange.combine(local, samples: prediction.shape.first ?? 0, weight: weight)
    }
}

extension DiceFocalLoss: DistributedSegmentationLoss {
    /// λ_dice·Dice + λ_focal·focal of the global batch (`DistributedSegmentationLoss`): the Dice
    /// statistics are gathered, the focal term is exchanged as `FocalLoss`'s.
    public func evaluate<Scalar: BLASScalar>(
        _ prediction: Tensor<Scalar>, target: SegmentationTarget<Scalar>,
        contributes: Bool = true, gradient: Bool = false, across communicator: any Communicator
    ) throws -> DiceLossResult<Scalar> {
        try Self.compound(
            "dice-focal", dice: dice, diceWeight: ("dice weight", diceWeight), focal: focal,
            focalWeight: focalWeight, prediction, target, gradient: gradient,
            exchange: (communicator, contributes))
    }
}

extension GeneralizedDiceFocalLoss: DistributedSegmentationLoss {
    /// λ_gdl·generalized Dice + λ_focal·focal of the global batch (`DistributedSegmentationLoss`):
    /// the generalized weights are the global batch's.
    public func evaluate<Scalar: BLASScalar>(
        _ prediction: Tensor<Scalar>, target: SegmentationTarget<Scalar>,
        contributes: Bool = true, gradient: Bool = false, across communicator: any Communicator
    ) throws -> DiceLossResult<Scalar> {
        try evaluate(prediction, target: target, gradient: gradient, exchange: (communicator, contributes))
    }
}
