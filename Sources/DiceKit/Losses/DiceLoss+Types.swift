// The small value types that configure a Dice-family loss: variant, activation, reduction,
// generalized-Dice weighting, empty-class policy, seed presets, and the target kinds.
//
// Defaults follow MONAI 1.6 (`DiceLoss`, `TverskyLoss`, `GeneralizedDiceLoss`, `DiceCELoss`) so
// that results can be compared number for number; see Docs/DiceMath.md for every formula.

/// Which overlap score a `DiceLoss` turns into a loss, per (sample, class) pair.
///
/// With TP = Σ p·g, P = Σ p, G = Σ g (squares with `squared`) and smoothing s_nr, s_dr:
/// ```
/// dice           1 − (2·TP + s_nr) / (P + G + s_dr)
/// jaccard        1 − (2·TP + s_nr) / (2·(P + G − TP) + s_dr)
/// tversky        1 − (TP + s_nr) / (TP + α·(P − TP) + β·(G − TP) + s_dr)
/// focalTversky   (tversky)^γ
/// logCoshDice    log(cosh(dice))
/// generalized    1 − (2·Σ_c w_c·TP_c + s_nr) / (Σ_c w_c·(P_c + G_c) + s_dr), one value per sample
/// ```
public enum DiceVariant: String, Sendable, CaseIterable {
    /// The Sørensen–Dice loss (Milletari et al. 2016); MONAI's `DiceLoss`.
    case dice
    /// The soft Jaccard (IoU) loss in MONAI's form, where the smoothing counts half.
    case jaccard
    /// The Tversky loss (Salehi et al. 2017): α weighs false positives, β false negatives.
    case tversky
    /// The focal Tversky loss (Abraham & Khan 2019): the Tversky loss raised to γ per pair.
    case focalTversky = "focal-tversky"
    /// log(cosh(Dice loss)) per pair (Jadon 2020).
    case logCoshDice = "log-cosh-dice"
    /// The generalized Dice loss (Sudre et al. 2017) with class weights from the target volume.
    case generalized
}

/// The activation applied to the prediction inside the kernel, before the statistics.
///
/// Gradients are taken with respect to the tensor passed in (the logits when an activation is set).
public enum DiceActivation: String, Sendable, CaseIterable {
    /// The prediction already holds probabilities.
    case none
    /// p = 1 / (1 + e^(−z)), element-wise (multi-label).
    case sigmoid
    /// p_c = e^(z_c − m) / Σ_k e^(z_k − m) over the channel axis, m = max_k z_k (needs ≥ 2 channels).
    case softmax
}

/// How per-(sample, class) loss values are reduced.
public enum LossReduction: String, Sendable, CaseIterable {
    /// The mean over all counted values (pairs that are excluded or invalid are not counted).
    case mean
    /// The sum of all values.
    case sum
    /// No reduction: shape [N, C] ([C] with `batch`; [N, 1] or [1] for the generalized variant).
    case none
}

/// The generalized-Dice class weight computed from the target volume G_c of each class.
public enum GeneralizedWeight: String, Sendable, CaseIterable {
    /// w_c = 1 / G_c² (Sudre et al. 2017; MONAI's default).
    case square
    /// w_c = 1 / G_c.
    case simple
    /// w_c = 1.
    case uniform
}

/// What a loss or a metric does with a class that is absent from the target (G = 0).
///
/// Shared by `DiceLoss` and `OverlapMetric`; "score" means 1 − loss.
public enum EmptyClassPolicy: String, Sendable, CaseIterable {
    /// Loss: the smoothed formula as is (MONAI's behaviour; with the default smoothing an empty
    /// class scores ≈ 1 when nothing is predicted and ≈ 0 otherwise, with a vanishing gradient).
    /// Metric: 1 when the prediction is empty too, 0 otherwise (MONAI's `ignore_empty=False`).
    case smooth
    /// The pair is left out: it contributes nothing, and a mean counts only the other pairs
    /// (metric: NaN, like MONAI's `ignore_empty=True`). Loss values of excluded pairs are 0.
    case exclude
    /// The pair scores 1 (loss 0, no gradient).
    case one
    /// The pair scores 0 (loss 1, no gradient).
    case zero
    /// The pair's loss is the false-positive fraction P / S (S = counted positions), so false
    /// positives of an absent class keep a gradient of 1/S per unit of probability.
    case penalize
}

/// The three TensorFlow functions of the seed article, reproduced exactly.
///
/// A preset fixes the variant (Dice), the smoothing (ε in numerator and denominator), the batch
/// handling and the reduction; activation, layout, ignore index, background exclusion, squared
/// denominators and soft labels still apply. `reduction: .none` returns the per-unit values.
public enum SeedPreset: String, Sendable, CaseIterable {
    /// `dice_loss`: one Dice per sample over H, W and C together, mean over the batch.
    case basic = "seed-basic"
    /// `weighted_dice_loss`: per class, mean over the batch, weighted sum over classes (weights required).
    case weighted = "seed-weighted"
    /// `multiclass_dice_loss`: per class, mean over the batch, mean over the classes.
    case multiclass = "seed-multiclass"
}

/// Integer class indices with the spatial shape of a prediction (no channel axis).
///
/// Shape [N, H, W] or [N, D, H, W]; a size-1 channel axis ([N, 1, H, W] or [N, H, W, 1]) is also
/// accepted by the losses. With a single-channel prediction, labels are a binary mask (0 or 1).
/// The one-hot target is never materialised: kernels compare labels with channel indices.
public struct LabelMap: Sendable, Equatable {
    /// The extent of each axis.
    public let shape: [Int]
    @usableFromInline var storage: [Int32]

    /// Labels from integers in row-major order.
    ///
    /// - Throws: `DiceKitError.shape` when `labels.count` differs from the product of `shape`;
    ///   `DiceKitError.value` when a label does not fit in 32 bits.
    public init(shape: [Int], labels: [Int]) throws {
        guard let count = Tensor<Float>.elementCount(shape), count == labels.count else {
            throw DiceKitError.shape("label shape \(shape) does not hold \(labels.count) labels")
        }
        var storage = [Int32](repeating: 0, count: count)
        for i in 0..<count {
            guard let v = Int32(exactly: labels[i]) else {
                throw DiceKitError.value("label \(labels[i]) at element \(i) does not fit in 32 bits")
            }
            storage[i] = v
        }
        self.shape = shape
        self.storage = storage
    }

    /// Labels already stored as 32-bit integers (e.g. a `SegmentationBatch`'s), without conversion.
    ///
    /// - Throws: `DiceKitError.shape` when `labels.count` differs from the product of `shape`.
    public init(shape: [Int], int32Labels labels: [Int32]) throws {
        guard let count = Tensor<Float>.elementCount(shape), count == labels.count else {
            throw DiceKitError.shape("label shape \(shape) does not hold \(labels.count) labels")
        }
        self.shape = shape
        self.storage = labels
    }

    /// Labels from a floating-point tensor of whole numbers (e.g. a mask saved as float).
    ///
    /// - Throws: `DiceKitError.value` naming the first element that is not a whole number.
    public init<T: BLASScalar>(_ tensor: Tensor<T>) throws {
        // Hand off to concrete loops (no unspecialised generic loop runs from other modules).
        switch T.precision {
        case .single: storage = try Self.wholeNumbers(unsafeBitCast(tensor, to: Tensor<Float>.self).scalars)
        case .double: storage = try Self.wholeNumbers(unsafeBitCast(tensor, to: Tensor<Double>.self).scalars)
        }
        self.shape = tensor.shape
    }

    private static func wholeNumbers(_ values: [Float]) throws -> [Int32] { try wholeNumbers(values.map(Double.init)) }

    private static func wholeNumbers(_ values: [Double]) throws -> [Int32] {
        var storage = [Int32](repeating: 0, count: values.count)
        for (i, x) in values.enumerated() {
            guard x.isFinite, x.rounded() == x, let v = Int32(exactly: x) else {
                throw DiceKitError.value("label element \(i) is \(x); expected a whole number")
            }
            storage[i] = v
        }
        return storage
    }

    /// The labels as integers, row-major.
    public var labels: [Int] { storage.map { Int($0) } }
    /// The number of labels.
    public var count: Int { storage.count }
}

/// The target of a Dice-family loss.
public enum DiceLossTarget<Scalar: BLASScalar>: Sendable {
    /// Integer class indices with the prediction's spatial shape (the fast path).
    case labels(LabelMap)
    /// A one-hot (0/1) tensor with the prediction's shape.
    case oneHot(Tensor<Scalar>)
    /// Soft labels in [0, 1] with the prediction's shape; uses the soft-label form
    /// TP = (P + G − Σ|p − g|) / 2 (Wang & Blaschko 2023), identical to Σ p·g for hard labels.
    case soft(Tensor<Scalar>)
}

/// The value of a loss and, on request, its gradient.
public struct DiceLossResult<Scalar: BLASScalar>: Sendable {
    /// The loss: shape [] for mean and sum; [N, C], [C], [N, 1], [1] or [N] for `reduction: .none`.
    public var loss: Tensor<Scalar>
    /// d(sum of the loss values)/d(prediction), with the prediction's shape; nil unless requested.
    public var gradient: Tensor<Scalar>?
    /// The loss as a number (the sum of the values for `reduction: .none`).
    public var value: Scalar { loss.scalars.reduce(0, +) }
}
