// MCCLoss: 1 − the Matthews correlation coefficient of soft predictions, as
// segmentation_models_pytorch's `MCCLoss` (Abhishek & Hamarneh 2021): one value over the whole
// batch. Two passes: the four sums, then the gradient, which is linear in the target per element.
// Derivation: Docs/DiceMath.md, "Matthews correlation loss".

/// The Matthews correlation loss over every element of the batch:
/// ```
/// tp = Σ p·g + ε,  tn = Σ (1 − p)(1 − g) + ε,  fp = Σ p(1 − g) + ε,  fn = Σ (1 − p)·g + ε
/// loss = 1 − (tp·tn − fp·fn) / √((tp + fp)(tp + fn)(tn + fp)(tn + fn))
/// ```
/// p is the prediction after `activation` (smp's loss takes probabilities: `.none`, or `.sigmoid`
/// of logits; `.softmax` flattens every channel against the one-hot target). Shapes as `DiceLoss`;
/// targets: labels (a binary mask for one channel), or a dense 0/1 or soft target. With an ignore
/// index, ignored positions are left out of the four sums (as if they were not there) and get a
/// zero gradient.
public struct MCCLoss: SegmentationLoss {
    /// Applied to the prediction first (default `.none`: the prediction holds probabilities).
    public var activation: DiceActivation = .none
    /// Where the channel axis is (default `.channelsLast`).
    public var layout: Layout = .channelsLast
    /// Added to each of the four counts (default 1e-5, smp's; finite, > 0).
    public var epsilon: Double = 1e-5
    /// With integer labels: positions whose label is this count nowhere (default nil).
    public var ignoreIndex: Int? = nil
    /// Elements of a dense target left out of the element count (RegionLoss's masked positions,
    /// which add 0 to Σ p, Σ g and Σ p·g; default 0).
    var maskedElements = 0

    /// An MCC loss with smp's ε.
    public init(activation: DiceActivation = .none, layout: Layout = .channelsLast) {
        self.activation = activation
        self.layout = layout
    }

    /// The loss (shape []) and, when `gradient` is true, d(loss)/d(prediction).
    ///
    /// - Throws: `DiceKitError` for mismatched shapes, non-finite predictions, labels out of range,
    ///   targets outside [0, 1] or a bad ε.
    public func evaluate<Scalar: BLASScalar>(
        _ prediction: Tensor<Scalar>, target: SegmentationTarget<Scalar>,
        gradient: Bool
    ) throws -> DiceLossResult<Scalar> {
        try specialisedLoss(
            prediction, target, float: { try compute($0, $1, gradient) }, double: { try compute($0, $1, gradient) })
    }

    /// The loss of the global batch that `communicator`'s ranks hold between them and its
    /// gradient with respect to this rank's `prediction` (`DistributedSegmentationLoss`): the
    /// four sums (Σ p, Σ g, Σ p·g and the counted elements) are summed over the ranks between
    /// the two passes, so every rank's coefficients are the whole batch's.
    public func evaluate<Scalar: BLASScalar>(
        _ prediction: Tensor<Scalar>, target: SegmentationTarget<Scalar>,
        contributes: Bool = true, gradient: Bool = false, across communicator: any Communicator
    ) throws -> DiceLossResult<Scalar> {
        let exchange = { (sums: inout [Double]) in
            if !contributes { sums = [Double](repeating: 0, count: sums.count) }
            try communicator.allReduceSum(&sums)
            guard sums[4] > 0 else {
                throw DiceKitError.value("no rank has samples in this step; expected at least one")
            }
        }
        return try specialisedLoss(
            prediction, target, float: { try compute($0, $1, gradient, exchange: exchange) },
            double: { try compute($0, $1, gradient, exchange: exchange) })
    }

    /// The loss and gradient; `exchange` (across ranks) replaces the sums [Σ p, Σ g, Σ p·g,
    /// counted elements, samples] by the global batch's between the two passes.
    func compute<T: BLASScalar>(
        _ x: Tensor<T>, _ target: SegmentationTarget<T>, _ wantGradient: Bool,
        exchange: ((inout [Double]) throws -> Void)? = nil
    ) throws -> DiceLossResult<T> {
        guard epsilon.isFinite, epsilon > 0 else {
            throw DiceKitError.value("MCC epsilon is \(epsilon); expected a finite number > 0")
        }
        let input = try LossInput(x, target, layout: layout, ignoreIndex: ignoreIndex, what: "MCC loss", hard: false)
        if activation == .softmax && input.c == 1 {
            throw DiceKitError.option("softmax over a single channel; expected ≥ 2 channels or activation sigmoid/none")
        }
        let p = input.probabilities(x, activation)
        // Pass 1: Σ p, Σ g, Σ p·g per task, summed in task order.
        let tasks = PositionTasks(n: input.n, s: input.s, c: input.c)
        var partial = [Double](repeating: 0, count: 3 * tasks.ranges.count)
        partial.withUnsafeMutableBufferPointer { out in
            // Task t writes its own three partials.
            let shared = TaskShared(out)
            tasks.run { task in
                let out = shared.buffers
                let (i, p0, p1) = tasks.ranges[task]
                var sp = 0.0
                var sg = 0.0
                var spg = 0.0
                for q in p0..<p1 where !input.ignored(i, q) {
                    for k in 0..<input.c {
                        let v = Double(p[input.index(i, k, q)])
                        let g = Double(input.target(i, k, q))
                        sp += v
                        sg += g
                        spg += v * g
                    }
                }
                out[3 * task] = sp
                out[3 * task + 1] = sg
                out[3 * task + 2] = spg
            }
        }
        var sums = [0, 0, 0, Double(input.countedPositions().reduce(0, +) * input.c - maskedElements), Double(input.n)]
        for task in tasks.ranges.indices {
            for k in 0..<3 { sums[k] += partial[3 * task + k] }
        }
        try exchange?(&sums)
        let (sp, sg, spg, m) = (sums[0], sums[1], sums[2], sums[3])
        let tp = spg + epsilon
        let fp = sp - spg + epsilon
        let fn = sg - spg + epsilon
        let tn = m - sp - sg + spg + epsilon
        let numerator = tp * tn - fp * fn
        let product = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
        let d = product.squareRoot()
        let value = 1 - numerator / d
        var grad: Tensor<T>? = nil
        if wantGradient {
            // dL/dp = α + β·g with β = −(tp + tn + fp + fn)/D, α = (tp + fn)/D + N·Π'/(2D³),
            // Π' = (tp + fn)(tn + fp)((tn + fn) − (tp + fp)).
            let dProduct = (tp + fn) * (tn + fp) * ((tn + fn) - (tp + fp))
            let a = T((tp + fn) / d + numerator * dProduct / (2 * d * d * d))
            let b = T(-(tp + tn + fp + fn) / d)
            var g = [T](repeating: 0, count: x.count)
            g.withUnsafeMutableBufferPointer { gs in
                // Task t writes the gradient of its own positions.
                let shared = TaskShared(gs)
                tasks.run { task in
                    let gs = shared.buffers
                    let (i, p0, p1) = tasks.ranges[task]
                    for q in p0..<p1 where !input.ignored(i, q) {
                        for k in 0..<input.c { gs[input.index(i, k, q)] = a + b * input.target(i, k, q) }
                    }
                }
            }
            input.backpropagate(&g, probabilities: p, activation)
            grad = Tensor(uncheckedShape: x.shape, storage: g)
        }
        return DiceLossResult(loss: Tensor(uncheckedShape: [], storage: [T(value)]), gradient: grad)
    }
}
