// Conventions that the Dice-family losses and the overlap metrics share: what an absent class
// scores, and how generalized Dice weighs classes by their volume.

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
