// HausdorffDTLoss: MONAI 1.6's `HausdorffDTLoss` and `LogHausdorffDTLoss` (Karimi & Salcudean,
// "Reducing the Hausdorff Distance in Medical Image Segmentation with Convolutional Neural
// Networks", IEEE TMI 2019), with a closed-form gradient and, beyond MONAI, voxel spacing.
//
// Per (sample, class): f = mean over positions of (p − g)²·(D_p^α + D_g^α), where D_p and D_g are
// the distance fields of the thresholded prediction (p > 0.5) and target (g > 0.5): at a
// foreground position the distance to the nearest background position, at a background position
// the distance to the nearest foreground position, and 0 everywhere when the mask is empty or full.
// The fields are constants of the step (MONAI computes them under no_grad), so
// ∂f/∂p = 2·(p − g)·(D_p^α + D_g^α) / positions, then through the activation. Distances come from
// the exact transform of Segmentation/DistanceTransform.swift. Derivation: Docs/DiceMath.md §9.7.

/// MONAI's Hausdorff distance-transform loss (and its logarithmic form) for 2-D and 3-D
/// segmentation, with its gradient.
///
/// ```
/// let loss = HausdorffDTLoss(activation: .softmax)            // MONAI HausdorffDTLoss(softmax=True)
/// let result = try loss.evaluate(logits, target: .labels(labels), gradient: true)
/// ```
public struct HausdorffDTLoss: Sendable {
    /// The exponent of the distances (default 2, MONAI's; finite, ≥ 0).
    public var alpha: Double = HausdorffDTLoss.defaultAlpha
    /// The activation applied to the prediction first (default `.none`, like MONAI).
    public var activation: DiceActivation = .none
    /// Where the channel axis is (default `.channelsLast`).
    public var layout: Layout = .channelsLast
    /// Drop channel 0 after the activation (default true: MONAI's `include_background=False`);
    /// with a single channel it has no effect, as in MONAI.
    public var excludeBackground = true
    /// Average over the batch too: one value per class (default false; MONAI's `batch`).
    public var batch = false
    /// The reduction over the per-(sample, class) values (default `.mean`).
    public var reduction: LossReduction = .mean
    /// log(1 + loss) after the reduction: MONAI's `LogHausdorffDTLoss` (default false).
    public var logarithmic = false
    /// The physical size of a step along each spatial axis, for anisotropic volumes (default nil:
    /// 1 on every axis, MONAI's only setting).
    public var spacing: [Double]? = nil

    /// MONAI's default exponent of the distances, 2.
    public static let defaultAlpha = 2.0

    /// A loss with MONAI's defaults, the given activation and layout.
    public init(activation: DiceActivation = .none, layout: Layout = .channelsLast) {
        self.activation = activation
        self.layout = layout
    }
}

extension HausdorffDTLoss: SegmentationLoss {
    /// The loss of `prediction` against `target` and, when `gradient` is true, d(sum of the loss
    /// values)/d(prediction). `reduction: .none` gives [N, C] ([C] with `batch`), C the classes
    /// counted.
    ///
    /// - Throws: `DiceKitError` for a prediction that is not 2-D or 3-D, mismatched shapes,
    ///   non-finite values, labels out of range, a target outside [0, 1], an exponent that is not
    ///   finite and ≥ 0, a spacing of the wrong length or not positive.
    public func evaluate<Scalar: BLASScalar>(
        _ prediction: Tensor<Scalar>, target: SegmentationTarget<Scalar>, gradient: Bool
    ) throws -> DiceLossResult<Scalar> {
        try specialisedLoss(
            prediction, target, float: { try compute($0, $1, gradient) }, double: { try compute($0, $1, gradient) })
    }

    private func compute<T: BLASScalar>(
        _ prediction: Tensor<T>, _ target: SegmentationTarget<T>, _ wantGradient: Bool
    ) throws -> DiceLossResult<T> {
        let what = "Hausdorff DT loss"
        guard (4...5).contains(prediction.shape.count) else {
            throw DiceKitError.shape(
                "\(what): prediction shape \(prediction.shape); expected 2-D or 3-D images ([N, H, W, C] or [N, D, H, W, C] and their channels-first forms)"
            )
        }
        guard alpha.isFinite, alpha >= 0 else {
            throw DiceKitError.value("\(what): alpha is \(alpha); expected a finite number ≥ 0")
        }
        if activation == .softmax && prediction.shape[layout.channelAxis(rank: prediction.shape.count)] == 1 {
            throw DiceKitError.option(
                "\(what): softmax over a single channel (prediction shape \(prediction.shape)); expected ≥ 2 channels or activation sigmoid"
            )
        }
        let input = try LossInput(prediction, target, layout: layout, ignoreIndex: nil, what: what, hard: false)
        var positionShape = prediction.shape
        positionShape.remove(at: layout.channelAxis(rank: prediction.shape.count))
        let spatial = Array(positionShape.dropFirst())
        let steps = try DistanceTransform.checkedSpacing(spacing, rank: spatial.count)
        let p = input.probabilities(prediction, activation)
        let (n, c, s) = (input.n, input.c, input.s)
        let first = excludeBackground && c > 1 ? 1 : 0
        let classes = c - first

        // Per (sample, class): Σ (p − g)²·D, and the slope 2·(p − g)·D of each element into `slope`.
        var sums = [Double](repeating: 0, count: n * classes)
        var slope = [T](repeating: 0, count: wantGradient ? p.count : 0)
        let pairs = n * classes
        sums.withUnsafeMutableBufferPointer { sb in
            slope.withUnsafeMutableBufferPointer { ub in
                // Pair t writes its own sum and the slopes of its own elements.
                let shared = TaskShared((sb, ub))
                let body: @Sendable (Int) -> Void = { t in
                    let (sb, ub) = shared.buffers
                    let (i, k) = (t / classes, first + t % classes)
                    var mask = [Bool](repeating: false, count: s)
                    var truth = [Bool](repeating: false, count: s)
                    for q in 0..<s {
                        mask[q] = p[input.index(i, k, q)] > 0.5
                        truth[q] = input.target(i, k, q) > 0.5
                    }
                    let dp = Self.field(mask, spatial, steps, alpha)
                    let dg = Self.field(truth, spatial, steps, alpha)
                    var total = 0.0
                    for q in 0..<s {
                        let j = input.index(i, k, q)
                        let e = Double(p[j]) - Double(input.target(i, k, q))
                        let d = dp[q] + dg[q]
                        total += e * e * d
                        if !ub.isEmpty { ub[j] = T(2 * e * d) }
                    }
                    sb[t] = total
                }
                if pairs > 1 && n * c * s >= 1 << 16 {
                    WorkerPool.shared.run(pairs, body)
                } else {
                    for t in 0..<pairs { body(t) }
                }
            }
        }

        // Values per (sample, class) or, with batch, per class; their reduction and its factor.
        let count = Double(batch ? n * s : s)
        var values: [Double]
        if batch {
            values = (0..<classes).map { k in (0..<n).reduce(0) { $0 + sums[$1 * classes + k] } / count }
        } else {
            values = sums.map { $0 / count }
        }
        let shape = batch ? [classes] : [n, classes]
        var reduced: [Double]
        var factor: Double // ∂(reduced)/∂(a value), before the logarithm
        switch reduction {
        case .mean:
            reduced = [values.reduce(0, +) / Double(values.count)]
            factor = 1 / Double(values.count)
        case .sum:
            reduced = [values.reduce(0, +)]
            factor = 1
        case .none:
            reduced = values
            factor = 1
        }
        // log(1 + f): the slope 1/(1 + f) per reduced value (one, or one per value with none).
        var outer = [Double](repeating: 1, count: reduced.count)
        if logarithmic {
            for r in reduced.indices {
                outer[r] = 1 / (1 + reduced[r])
                reduced[r] = Double.log1p(reduced[r])
            }
        }
        let loss = Tensor<T>(uncheckedShape: reduction == .none ? shape : [], storage: reduced.map { T($0) })
        guard wantGradient else { return DiceLossResult(loss: loss, gradient: nil) }

        // ∂L/∂p: the slopes scaled in place (an excluded background keeps its zeros), then through
        // the activation.
        for i in 0..<n {
            for kk in 0..<classes {
                let v = batch ? kk : i * classes + kk
                let scale = T(factor * outer[reduction == .none ? v : 0] / count)
                for q in 0..<s { slope[input.index(i, first + kk, q)] *= scale }
            }
        }
        input.backpropagate(&slope, probabilities: p, activation)
        return DiceLossResult(loss: loss, gradient: Tensor(uncheckedShape: prediction.shape, storage: slope))
    }

    /// D^α of a thresholded mask: at a foreground position the distance to the nearest background
    /// position, at a background position the distance to the nearest foreground position; D = 0
    /// everywhere when the mask is empty or full (MONAI's `distance_field`; 0^0 = 1, as in torch).
    static func field(_ mask: [Bool], _ shape: [Int], _ spacing: [Double], _ alpha: Double) -> [Double] {
        let foreground = mask.reduce(0) { $0 + ($1 ? 1 : 0) }
        guard foreground > 0 && foreground < mask.count else {
            return [Double](repeating: alpha == 0 ? 1 : 0, count: mask.count)
        }
        // Squared distances to the nearest foreground (for background positions) and background
        // (for foreground positions). Cannot throw: the shape and spacing are checked by the caller.
        let toForeground =
            (try? DistanceTransform.squaredEuclidean(features: mask, shape: shape, spacing: spacing)) ?? []
        let toBackground =
            (try? DistanceTransform.squaredEuclidean(features: mask.map { !$0 }, shape: shape, spacing: spacing)) ?? []
        return mask.indices.map { q in
            let d2 = mask[q] ? toBackground[q] : toForeground[q]
            return alpha == 2 ? d2 : Double.pow(d2.squareRoot(), alpha)
        }
    }
}
