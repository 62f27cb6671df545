// SegmentationLoss: the one interface the trainer needs from a loss (a value and the gradient with
// respect to the prediction), and the checked view of a prediction and its target that the losses
// beyond the Dice family (focal, Lovász, Wasserstein Dice, MCC) share.

/// A loss that `Trainer` can train with: a value and d(sum of the loss values)/d(prediction).
///
/// `DiceLoss`, `FocalLoss`, `DiceFocalLoss`, `LovaszLoss`, `WassersteinDiceLoss` and `MCCLoss`
/// conform. Shapes: the prediction is [N, spatial…, C] (channels-last) or [N, C, spatial…]
/// (channels-first) as each loss's `layout` says; targets are labels with the spatial shape or
/// dense tensors with the prediction's shape.
public protocol SegmentationLoss: Sendable {
    /// The loss of `prediction` against `target` and, when `gradient` is true, d(sum of the loss
    /// values)/d(prediction).
    ///
    /// - Throws: `DiceKitError` naming the offending shape, value or option.
    func evaluate<Scalar: BLASScalar>(_ prediction: Tensor<Scalar>, target: DiceLossTarget<Scalar>,
                                      gradient: Bool) throws -> DiceLossResult<Scalar>
}

extension DiceLoss: SegmentationLoss {
    /// `evaluate(_:target:validMask:gradient:)` without a valid mask (the `SegmentationLoss` form).
    public func evaluate<Scalar: BLASScalar>(_ prediction: Tensor<Scalar>, target: DiceLossTarget<Scalar>,
                                             gradient: Bool) throws -> DiceLossResult<Scalar> {
        try evaluate(prediction, target: target, validMask: nil, gradient: gradient)
    }
}

/// The Float/Double hand-off of the losses beyond the Dice family: `float` or `double` runs by
/// `Scalar`'s precision, so `compute` runs as its concrete instantiation even when the loss is
/// called through `any SegmentationLoss` (no hot loop unspecialised). BLASScalar has exactly
/// these two conformers, which `precision` tells apart, so the bit casts are between identical
/// types; they avoid the runtime's dynamic-cast machinery.
@inline(__always)
func specialisedLoss<Scalar: BLASScalar>(
    _ prediction: Tensor<Scalar>, _ target: DiceLossTarget<Scalar>,
    float: (Tensor<Float>, DiceLossTarget<Float>) throws -> DiceLossResult<Float>,
    double: (Tensor<Double>, DiceLossTarget<Double>) throws -> DiceLossResult<Double>
) rethrows -> DiceLossResult<Scalar> {
    switch Scalar.precision {
    case .single:
        precondition(Scalar.self == Float.self, "BLASScalar \(Scalar.self) claims single precision")
        let r = try float(unsafeBitCast(prediction, to: Tensor<Float>.self), unsafeBitCast(target, to: DiceLossTarget<Float>.self))
        return unsafeBitCast(r, to: DiceLossResult<Scalar>.self)
    case .double:
        precondition(Scalar.self == Double.self, "BLASScalar \(Scalar.self) claims double precision")
        let r = try double(unsafeBitCast(prediction, to: Tensor<Double>.self), unsafeBitCast(target, to: DiceLossTarget<Double>.self))
        return unsafeBitCast(r, to: DiceLossResult<Scalar>.self)
    }
}

/// A prediction and its target, checked: geometry, finite values, labels in range, 0/1 targets.
struct LossInput<T: BLASScalar> {
    /// Batch size, channels, spatial positions per sample.
    let n: Int, c: Int, s: Int
    let channelsLast: Bool
    /// Labels (row-major [N, S]) or nil for a dense target.
    let labels: [Int32]?
    /// A dense target with the prediction's layout, or nil for labels.
    let dense: [T]?
    /// With labels: positions whose label is this contribute nothing.
    let ignore: Int32?
    /// g_c = (label == c + labelOffset): 1 for a single channel (label 1 is the foreground).
    let labelOffset: Int32

    var positionStride: Int { channelsLast ? c : 1 }
    var channelStride: Int { channelsLast ? 1 : s }
    /// The element of (sample, channel, position).
    @inline(__always) func index(_ i: Int, _ k: Int, _ p: Int) -> Int { i * c * s + p * positionStride + k * channelStride }
    /// Whether a position is ignored (labels only).
    @inline(__always) func ignored(_ i: Int, _ p: Int) -> Bool {
        guard let labels, let ignore else { return false }
        return labels[i * s + p] == ignore
    }
    /// The target of (sample, channel, position): 0 or 1 (soft values for dense targets).
    @inline(__always) func target(_ i: Int, _ k: Int, _ p: Int) -> T {
        if let labels { return labels[i * s + p] == Int32(k) + labelOffset ? 1 : 0 }
        return dense![index(i, k, p)]
    }

    /// Checks `prediction` and `target`.
    ///
    /// - Parameters:
    ///   - what: the loss's name, for messages.
    ///   - hard: dense targets must hold 0 or 1 only.
    ///   - labelsOnly: refuse dense targets.
    init(_ prediction: Tensor<T>, _ target: DiceLossTarget<T>, layout: Layout, ignoreIndex: Int?,
         what: String, hard: Bool, labelsOnly: Bool = false) throws {
        let shape = prediction.shape
        guard shape.count >= 3 else {
            throw DiceKitError.shape("\(what): prediction shape \(shape) has rank \(shape.count); expected [N, spatial…, C] or [N, C, spatial…] (rank ≥ 3)")
        }
        let channelAxis = layout.channelAxis(rank: shape.count)
        var spatial = shape
        spatial.remove(at: channelAxis)
        spatial.removeFirst()
        n = shape[0]; c = shape[channelAxis]; s = spatial.reduce(1, *)
        guard n >= 1, c >= 1, s >= 1 else {
            throw DiceKitError.shape("\(what): prediction shape \(shape) has an empty axis; expected every extent ≥ 1")
        }
        channelsLast = layout == .channelsLast
        labelOffset = c == 1 ? 1 : 0
        if let i = prediction.withUnsafeBufferPointer({ $0.firstIndex { !$0.isFinite } }) {
            throw DiceKitError.value("\(what): prediction element \(i) is \(prediction.scalars[i]); expected finite values")
        }
        if let k = ignoreIndex, Int32(exactly: k) == nil {
            throw DiceKitError.value("ignore index \(k) does not fit in 32 bits")
        }
        switch target {
        case .labels(let map):
            let withChannel = channelsLast ? [n] + spatial + [1] : [n, 1] + spatial
            guard map.shape == [n] + spatial || map.shape == withChannel else {
                throw DiceKitError.shape("\(what): label shape \(map.shape) does not match prediction shape \(shape); expected \([n] + spatial)")
            }
            let classes = Int32(c == 1 ? 2 : c), ignore = ignoreIndex.map { Int32($0) }
            if let i = map.storage.firstIndex(where: { ($0 < 0 || $0 >= classes) && $0 != ignore }) {
                throw DiceKitError.value("\(what): label \(map.storage[i]) at element \(i); expected 0..<\(classes)\(ignore.map { " or the ignore index \($0)" } ?? "")")
            }
            labels = map.storage; dense = nil; self.ignore = ignore
        case .oneHot(let t), .soft(let t):
            if labelsOnly {
                throw DiceKitError.option("\(what) takes integer labels (--labels); got a dense target of shape \(t.shape)")
            }
            guard t.shape == shape else {
                throw DiceKitError.shape("\(what): target shape \(t.shape) does not match prediction shape \(shape); expected the same shape (or integer labels \([n] + spatial))")
            }
            if ignoreIndex != nil {
                throw DiceKitError.option("\(what): ignore index with a dense target; expected integer labels (--labels)")
            }
            let bad: Int? = t.withUnsafeBufferPointer { b in
                hard ? b.firstIndex { $0 != 0 && $0 != 1 } : b.firstIndex { !($0.isFinite && $0 >= 0 && $0 <= 1) }
            }
            if let i = bad {
                throw DiceKitError.value("\(what): target element \(i) is \(t.scalars[i]); expected \(hard ? "0 or 1" : "values in [0, 1]")")
            }
            labels = nil; dense = t.scalars; ignore = nil
        }
    }
}

extension LossReduction {
    /// The reduced value of `values` (`count` values counted by the mean).
    func reduce(_ sum: Double, count: Int) -> Double {
        self == .mean ? sum / Double(max(count, 1)) : sum
    }
}

/// Position ranges of each sample, split so that large inputs keep every core busy; partial
/// results are combined in task order, so values do not depend on the thread schedule.
struct PositionTasks {
    let ranges: [(sample: Int, from: Int, to: Int)]
    let parallel: Bool

    init(n: Int, s: Int, c: Int) {
        let cores = max(1, System.activeProcessorCount)
        parallel = n * s * c >= 1 << 16 && cores > 1
        let chunks = parallel ? max(1, min((2 * cores + n - 1) / n, s * c / 32_768)) : 1
        let length = (s + chunks - 1) / chunks
        var ranges: [(Int, Int, Int)] = []
        for i in 0..<n {
            for k in 0..<chunks where k * length < s { ranges.append((i, k * length, min(s, (k + 1) * length))) }
        }
        self.ranges = ranges
    }

    /// Runs `body` for every task index.
    func run(_ body: @Sendable (Int) -> Void) {
        if parallel && ranges.count > 1 { WorkerPool.shared.run(ranges.count, body) } else { for t in ranges.indices { body(t) } }
    }
}

extension LossInput {
    /// The activation of `x` (prediction layout): σ(z), the softmax over the channel axis
    /// (max-subtracted), or `x` itself.
    func probabilities(_ x: Tensor<T>, _ activation: DiceActivation) -> [T] {
        var p = x.scalars
        guard activation != .none else { return p }
        let tasks = PositionTasks(n: n, s: s, c: c)
        p.withUnsafeMutableBufferPointer { ps in
            // Task t writes the probabilities of its own positions.
            let shared = TaskShared(ps)
            tasks.run { task in
                let ps = shared.buffers
                let (i, p0, p1) = tasks.ranges[task]
                for q in p0..<p1 {
                    if activation == .sigmoid {
                        for k in 0..<c { let j = index(i, k, q); ps[j] = 1 / (1 + T.exp(-ps[j])) }
                    } else {
                        var m = -T.infinity
                        for k in 0..<c { m = Swift.max(m, ps[index(i, k, q)]) }
                        var total: T = 0
                        for k in 0..<c { let j = index(i, k, q); ps[j] = T.exp(ps[j] - m); total += ps[j] }
                        let r = 1 / total
                        for k in 0..<c { ps[index(i, k, q)] *= r }
                    }
                }
            }
        }
        return p
    }

    /// Turns d/dp (in `gradient`) into d/dz through the activation, given the probabilities `p`:
    /// σ'(z) = p(1 − p); softmax: dz_k = p_k·(dp_k − Σ_j p_j·dp_j).
    func backpropagate(_ gradient: inout [T], probabilities p: [T], _ activation: DiceActivation) {
        guard activation != .none else { return }
        let tasks = PositionTasks(n: n, s: s, c: c)
        gradient.withUnsafeMutableBufferPointer { gs in
            p.withUnsafeBufferPointer { ps in
                // Task t writes the gradient of its own positions.
                let shared = TaskShared((gs, ps))
                tasks.run { task in
                    let (gs, ps) = shared.buffers
                    let (i, p0, p1) = tasks.ranges[task]
                    for q in p0..<p1 {
                        if activation == .sigmoid {
                            for k in 0..<c { let j = index(i, k, q); gs[j] *= ps[j] * (1 - ps[j]) }
                        } else {
                            var dot: T = 0
                            for k in 0..<c { let j = index(i, k, q); dot += ps[j] * gs[j] }
                            for k in 0..<c { let j = index(i, k, q); gs[j] = ps[j] * (gs[j] - dot) }
                        }
                    }
                }
            }
        }
    }
}
