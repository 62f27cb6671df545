// WassersteinDiceLoss: the generalized Wasserstein Dice loss of Fidon et al. (2017), as MONAI
// 1.6's `GeneralizedWassersteinDiceLoss`, with a class distance matrix M (e.g. read from .npy)
// and both weighting modes. Two passes: per (sample, class) the label volume V_c and the summed
// Wasserstein distance of the positions of that label, then the gradient, which per position is
// β(sample, label)·M[label, k] before the softmax Jacobian. Derivation: Docs/DiceMath.md.

/// How the generalized Wasserstein Dice loss weighs the classes (MONAI's `weighting_mode`).
public enum WassersteinWeighting: String, Sendable, CaseIterable {
    /// The paper's: α_0 = 0 (background), α_c = 1 otherwise; denominator 2·TP + Σ W.
    case `default`
    /// Generalized-Dice style: α_c = 1/(V_c + 1); denominator Σ α_label·(2 − W).
    case gdl
}

/// The generalized Wasserstein Dice loss, one value per sample:
/// ```
/// W_s = Σ_k M[l_s, k]·p_{s,k}      (Wasserstein distance of position s with label l_s)
/// TP  = Σ_s α_{l_s}·(1 − W_s)
/// loss = 1 − (2·TP + s_nr) / (D + s_dr),  D = 2·TP + Σ_s W_s (default) or Σ_s α_{l_s}·(2 − W_s) (gdl)
/// ```
/// p is the softmax of the logits over the channel axis (the loss needs logits and labels).
/// Shapes: prediction [N, spatial…, C] or [N, C, spatial…]; labels [N, spatial…] in 0..<C, or
/// the ignore index: those positions are left out of every sum and get a zero gradient.
public struct WassersteinDiceLoss: SegmentationLoss {
    /// The C×C class distance matrix, row-major: M[i·C + j] is the distance between classes i and j
    /// (finite, ≥ 0, 0 on the diagonal, at least one entry > 0). It is divided by its largest entry
    /// before use, as MONAI does, so only the ratios between distances matter.
    public var distanceMatrix: [Double]
    /// The class weighting (default `.default`, MONAI's).
    public var weighting: WassersteinWeighting = .default
    /// Where the channel axis is (default `.channelsLast`).
    public var layout: Layout = .channelsLast
    /// Added to the numerator (default 1e-5, ≥ 0).
    public var smoothNumerator: Double = DiceLoss.defaultSmoothing
    /// Added to the denominator (default 1e-5, ≥ 0).
    public var smoothDenominator: Double = DiceLoss.defaultSmoothing
    /// `.mean` (default) or `.sum` over the samples, or `.none` (shape [N]).
    public var reduction: LossReduction = .mean
    /// Positions whose label is this count nowhere (default nil).
    public var ignoreIndex: Int? = nil

    /// A loss with the given distance matrix (row-major, C×C).
    public init(distanceMatrix: [Double], weighting: WassersteinWeighting = .default, layout: Layout = .channelsLast) {
        self.distanceMatrix = distanceMatrix
        self.weighting = weighting
        self.layout = layout
    }

    /// The distance matrix 1 − I for `classes` classes: every mistake costs 1 (then the default
    /// weighting gives the generalized Dice loss with background weight 0).
    public static func uniformDistances(classes: Int) -> [Double] {
        (0..<classes * classes).map { $0 / classes == $0 % classes ? 0 : 1 }
    }

    /// The loss and, when `gradient` is true, d(sum of the loss values)/d(logits).
    ///
    /// - Throws: `DiceKitError` for a dense target, mismatched shapes, a distance matrix that is not
    ///   C×C or has negative, non-finite or non-zero diagonal entries, labels out of range.
    public func evaluate<Scalar: BLASScalar>(
        _ prediction: Tensor<Scalar>, target: SegmentationTarget<Scalar>,
        gradient: Bool
    ) throws -> DiceLossResult<Scalar> {
        try specialisedLoss(
            prediction, target, float: { try compute($0, $1, gradient) }, double: { try compute($0, $1, gradient) })
    }

    func compute<T: BLASScalar>(_ x: Tensor<T>, _ target: SegmentationTarget<T>, _ wantGradient: Bool) throws
        -> DiceLossResult<T>
    {
        let input = try LossInput(
            x, target, layout: layout, ignoreIndex: ignoreIndex, what: "Wasserstein Dice loss", hard: true,
            labelsOnly: true)
        let c = input.c
        let n = input.n
        guard c >= 2 else {
            throw DiceKitError.option("the Wasserstein Dice loss takes softmax logits with ≥ 2 channels; got \(c)")
        }
        guard distanceMatrix.count == c * c else {
            throw DiceKitError.shape(
                "distance matrix has \(distanceMatrix.count) entries; expected \(c)×\(c) (one row and column per class)"
            )
        }
        for (j, v) in distanceMatrix.enumerated() where !(v.isFinite && v >= 0) || (j / c == j % c && v != 0) {
            throw DiceKitError.value(
                "distance matrix entry [\(j / c), \(j % c)] is \(v); expected finite values ≥ 0 and 0 on the diagonal")
        }
        let largest = distanceMatrix.max()!
        guard largest > 0 else {
            throw DiceKitError.value("distance matrix is all zeros; expected at least one distance > 0")
        }
        for (name, v) in [("smooth-nr", smoothNumerator), ("smooth-dr", smoothDenominator)]
        where !(v.isFinite && v >= 0) {
            throw DiceKitError.value("\(name) is \(v); expected a finite number ≥ 0")
        }
        let labels = input.labels!
        let p = input.probabilities(x, .softmax)
        // MONAI's normalisation: the largest distance is 1.
        let m = distanceMatrix.map { T($0 / largest) }
        // Pass 1: per task and class, V_c and Σ W over the positions labelled c.
        let tasks = PositionTasks(n: n, s: input.s, c: c)
        var partial = [Double](repeating: 0, count: 2 * c * tasks.ranges.count)
        partial.withUnsafeMutableBufferPointer { out in
            p.withUnsafeBufferPointer { ps in
                // Task t writes its own partials.
                let shared = TaskShared((out, ps))
                tasks.run { task in
                    let (out, ps) = shared.buffers
                    let (i, p0, p1) = tasks.ranges[task]
                    let o = out.baseAddress! + 2 * c * task
                    for q in p0..<p1 where !input.ignored(i, q) {
                        let l = Int(labels[i * input.s + q])
                        var w: T = 0
                        for k in 0..<c { w += m[l * c + k] * ps[input.index(i, k, q)] }
                        o[l] += 1
                        o[c + l] += Double(w)
                    }
                }
            }
        }
        var volume = [Double](repeating: 0, count: n * c)
        var distance = volume
        for (task, range) in tasks.ranges.enumerated() {
            for k in 0..<c {
                volume[range.sample * c + k] += partial[2 * c * task + k]
                distance[range.sample * c + k] += partial[2 * c * task + c + k]
            }
        }
        var values = [Double](repeating: 0, count: n)
        var beta = [T](repeating: 0, count: n * c)
        let scale = reduction == .mean ? 1 / Double(n) : 1
        for i in 0..<n {
            let v = volume[(i * c)..<(i * c + c)].map { $0 }
            let w = distance[(i * c)..<(i * c + c)].map { $0 }
            let alpha = (0..<c).map { k in weighting == .gdl ? 1 / (v[k] + 1) : (k == 0 ? 0 : 1) }
            let tp = (0..<c).reduce(0.0) { $0 + alpha[$1] * (v[$1] - w[$1]) }
            let den =
                weighting == .gdl
                ? (0..<c).reduce(0.0) { $0 + alpha[$1] * (2 * v[$1] - w[$1]) } : 2 * tp + w.reduce(0, +)
            let num = 2 * tp + smoothNumerator
            let d = den + smoothDenominator
            values[i] = 1 - num / d
            for k in 0..<c {
                // dL/dW_s for a position labelled k.
                let dw =
                    weighting == .gdl
                    ? alpha[k] * (2 * d - num) / (d * d) : (2 * alpha[k] * d + num * (1 - 2 * alpha[k])) / (d * d)
                beta[i * c + k] = T(dw * scale)
            }
        }
        var grad: Tensor<T>? = nil
        if wantGradient {
            var g = [T](repeating: 0, count: x.count)
            g.withUnsafeMutableBufferPointer { gs in
                // Task t writes the gradient of its own positions.
                let shared = TaskShared(gs)
                tasks.run { [beta] task in
                    let gs = shared.buffers
                    let (i, p0, p1) = tasks.ranges[task]
                    for q in p0..<p1 where !input.ignored(i, q) {
                        let l = Int(labels[i * input.s + q])
                        let b = beta[i * c + l]
                        for k in 0..<c { gs[input.index(i, k, q)] = b * m[l * c + k] }
                    }
                }
            }
            input.backpropagate(&g, probabilities: p, .softmax)
            grad = Tensor(uncheckedShape: x.shape, storage: g)
        }
        let loss =
            reduction == .none
            ? Tensor<T>(uncheckedShape: [n], storage: values.map { T($0) })
            : Tensor<T>(uncheckedShape: [], storage: [T(reduction.reduce(values.reduce(0, +), count: n))])
        return DiceLossResult(loss: loss, gradient: grad)
    }
}
