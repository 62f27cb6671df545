// SegmentationLoss: the one interface the trainer needs from a loss (a value and the gradient with
// respect to the prediction), and the checked view of a prediction and its target that the losses
// beyond the Dice family (focal, Lovász, Wasserstein Dice, MCC) share.

/// A loss that `Trainer` can train with: a value and d(sum of the loss values)/d(prediction).
///
/// `DiceLoss`, `FocalLoss`, `DiceFocalLoss`, `LovaszLoss`, `WassersteinDiceLoss`, `MCCLoss`, the
/// clDice losses, `GeneralizedDiceFocalLoss` and `HausdorffDTLoss` conform. Shapes: the prediction is [N, spatial…, C] (channels-last) or [N, C, spatial…]
/// (channels-first) as each loss's `layout` says; targets are labels with the spatial shape or
/// dense tensors with the prediction's shape.
public protocol SegmentationLoss: Sendable {
    /// The loss of `prediction` against `target` and, when `gradient` is true, d(sum of the loss
    /// values)/d(prediction).
    ///
    /// - Throws: `DiceKitError` naming the offending shape, value or option.
    func evaluate<Scalar: BLASScalar>(
        _ prediction: Tensor<Scalar>, target: SegmentationTarget<Scalar>,
        gradient: Bool
    ) throws -> DiceLossResult<Scalar>
}

extension DiceLoss: SegmentationLoss {
    /// `evaluate(_:target:validMask:gradient:)` without a valid mask (the `SegmentationLoss` form).
    public func evaluate<Scalar: BLASScalar>(
        _ prediction: Tensor<Scalar>, target: SegmentationTarget<Scalar>,
        gradient: Bool
    ) throws -> DiceLossResult<Scalar> {
        try evaluate(prediction, target: target, validMask: nil, gradient: gradient)
    }
}

/// The Float/Double hand-off of the losses beyond the Dice family (Support/ScalarSpecialisation.swift):
/// `float` or `double` runs by `Scalar`'s precision, so `compute` runs as its concrete
/// instantiation even when the loss is called through `any SegmentationLoss` (no hot loop
/// unspecialised).
@inline(__always)
func specialisedLoss<Scalar: BLASScalar>(
    _ prediction: Tensor<Scalar>, _ target: SegmentationTarget<Scalar>,
    float: (Tensor<Float>, SegmentationTarget<Float>) throws -> DiceLossResult<Float>,
    double: (Tensor<Double>, SegmentationTarget<Double>) throws -> DiceLossResult<Double>
) rethrows -> DiceLossResult<Scalar> {
    try specialised(
        Scalar.self, float: { try float(prediction.reinterpreted(), target.reinterpreted()).reinterpreted() },
        double: { try double(prediction.reinterpreted(), target.reinterpreted()).reinterpreted() })
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
    @inline(__always) func index(_ i: Int, _ k: Int, _ p: Int) -> Int {
        i * c * s + p * positionStride + k * channelStride
    }
    /// Whether a position is ignored (labels only).
    @inline(__always) func ignored(_ i: Int, _ p: Int) -> Bool {
        guard let labels, let ignore else { return false }
        return labels[i * s + p] == ignore
    }
    /// The positions of each sample that are not ignored (S each without an ignore index).
    func countedPositions() -> [Int] {
        guard let labels, let ignore else { return [Int](repeating: s, count: n) }
        return (0..<n).map { i in s - labels[(i * s)..<((i + 1) * s)].reduce(0) { $0 + ($1 == ignore ? 1 : 0) } }
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
    init(
        _ prediction: Tensor<T>, _ target: SegmentationTarget<T>, layout: Layout, ignoreIndex: Int?,
        what: String, hard: Bool, labelsOnly: Bool = false
    ) throws {
        let geometry = try SegmentationGeometry(prediction: prediction.shape, layout: layout, context: what)
        n = geometry.n
        c = geometry.c
        s = geometry.s
        channelsLast = geometry.channelsLast
        labelOffset = geometry.labelOffset
        if let i = prediction.withUnsafeBufferPointer({ $0.firstIndexScanningBlocks { !$0.isFinite } }) {
            throw DiceKitError.value(
                "\(what): prediction element \(i) is \(prediction.scalars[i]); expected finite values")
        }
        let ignore = try SegmentationGeometry.ignoreLabel(ignoreIndex)
        switch target {
        case .labels(let map):
            try geometry.check(labels: map)
            let classes = Int32(geometry.labelClasses)
            if let i = map.storage.firstIndex(where: { ($0 < 0 || $0 >= classes) && $0 != ignore }) {
                throw DiceKitError.value(
                    "\(what): label \(map.storage[i]) at element \(i); expected 0..<\(classes)\(ignore.map { " or the ignore index \($0)" } ?? "")"
                )
            }
            labels = map.storage
            dense = nil
            self.ignore = ignore
        case .oneHot(let t), .soft(let t):
            if labelsOnly {
                throw DiceKitError.option(
                    "\(what) takes integer labels (--labels); got a dense target of shape \(t.shape)")
            }
            try geometry.check(denseShape: t.shape)
            if ignoreIndex != nil {
                throw DiceKitError.option(
                    "\(what): ignore index with a dense target; expected integer labels (--labels)")
            }
            let bad: Int? = t.withUnsafeBufferPointer { b in
                // t·(t − 1) is 0 exactly for t = 0 and t = 1 (NaN and ±inf give NaN or inf): one
                // comparison without a branch, where `t != 0 && t != 1` branches per element.
                hard
                    ? b.firstIndexScanningBlocks { $0 * ($0 - 1) != 0 }
                    : b.firstIndexScanningBlocks { !($0.isFinite && $0 >= 0 && $0 <= 1) }
            }
            if let i = bad {
                throw DiceKitError.value(
                    "\(what): target element \(i) is \(t.scalars[i]); expected \(hard ? "0 or 1" : "values in [0, 1]")")
            }
            labels = nil
            dense = t.scalars
            self.ignore = nil
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
        if parallel && ranges.count > 1 {
            WorkerPool.shared.run(ranges.count, body)
        } else {
            for t in ranges.indices { body(t) }
        }
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
                        for k in 0..<c {
                            let j = index(i, k, q)
                            ps[j] = 1 / (1 + T.exp(-ps[j]))
                        }
                    } else {
                        var m = -T.infinity
                        for k in 0..<c { m = Swift.max(m, ps[index(i, k, q)]) }
                        var total: T = 0
                        for k in 0..<c {
                            let j = index(i, k, q)
                            ps[j] = T.exp(ps[j] - m)
                            total += ps[j]
                        }
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
                            for k in 0..<c {
                                let j = index(i, k, q)
                                gs[j] *= ps[j] * (1 - ps[j])
                            }
                        } else {
                            var dot: T = 0
                            for k in 0..<c {
                                let j = index(i, k, q)
                                dot += ps[j] * gs[j]
                            }
                            for k in 0..<c {
                                let j = index(i, k, q)
                                gs[j] = ps[j] * (gs[j] - dot)
                            }
                        }
                    }
                }
            }
        }
    }
}

extension UnsafeBufferPointer where Element: BinaryFloatingPoint {
    /// The first index where `bad` holds. Blocks are scanned without an early exit per element
    /// (only a block that holds a bad value is searched again), so that a branch-free `bad` can
    /// vectorise over the usual all-good input.
    @inline(__always)
    func firstIndexScanningBlocks(where bad: (Element) -> Bool) -> Int? {
        guard let base = baseAddress else { return nil }
        var start = 0
        while start < count {
            let end = Swift.min(start + 4096, count)
            var found: UInt8 = 0
            for i in start..<end { found |= bad(base[i]) ? 1 : 0 }
            if found != 0 { return (start..<end).first { bad(base[$0]) } }
            start = end
        }
        return nil
    }
}
