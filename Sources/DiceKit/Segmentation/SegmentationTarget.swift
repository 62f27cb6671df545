// The target of a segmentation loss or metric: integer labels, a one-hot tensor or soft labels.
// Shared by every loss (Losses/) and by the metrics (Metrics/), so it sits below both.

/// The target of a segmentation loss or metric.
///
/// Shapes: labels have the prediction's spatial shape ([N, H, W] or [N, D, H, W]; a size-1
/// channel axis is accepted too); one-hot and soft targets have the prediction's shape.
public enum SegmentationTarget<Scalar: BLASScalar>: Sendable {
    /// Integer class indices with the prediction's spatial shape (the fast path).
    case labels(LabelMap)
    /// A one-hot (0/1) tensor with the prediction's shape.
    case oneHot(Tensor<Scalar>)
    /// Soft labels in [0, 1] with the prediction's shape; the Dice family uses the soft-label form
    /// TP = (P + G − Σ|p − g|) / 2 (Wang & Blaschko 2023), identical to Σ p·g for hard labels.
    case soft(Tensor<Scalar>)
}

/// The former name of `SegmentationTarget`.
@available(*, deprecated, renamed: "SegmentationTarget")
public typealias DiceLossTarget<Scalar: BLASScalar> = SegmentationTarget<Scalar>

extension SegmentationTarget {
    /// The dense target tensor, or nil for labels.
    var dense: Tensor<Scalar>? {
        switch self {
        case .labels: return nil
        case .oneHot(let t), .soft(let t): return t
        }
    }

    /// The same target viewed with scalar `U`; `U` must be `Scalar` (checked). See
    /// Support/ScalarSpecialisation.swift.
    @inline(__always)
    func reinterpreted<U: BLASScalar>(as _: U.Type = U.self) -> SegmentationTarget<U> {
        precondition(Scalar.self == U.self, "reinterpreted: \(Scalar.self) is not \(U.self)")
        return unsafeBitCast(self, to: SegmentationTarget<U>.self)
    }
}
