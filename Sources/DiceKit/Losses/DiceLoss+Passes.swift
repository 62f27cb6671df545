// The two fused passes in Swift (every option; used for Double and for more than 16 channels)
// and the orchestration shared with the C kernels (DiceLoss+CKernels.swift).
//
// Pass 1 (statistics) reads the prediction and the target once and produces, per (sample,
// class), TP = Σ p·g, P = Σ p (or Σ p²), G = Σ g (or Σ g²), D = Σ |p − g| (soft labels), the count
// of positions not ignored, and the cross-entropy sum. Probabilities are written into the output
// gradient buffer when a gradient is wanted, so that pass 2 needs no exponentials.
// Pass 2 (gradient) reads those probabilities and the target and overwrites them with
// dL/dz = J_activationᵀ · (a·g + b (or 2b·p) + f·sign(p − g)) + CE term, with (a, b, f) per
// (sample, class) from the combine step (DiceLoss+Combine.swift).
//
// Accuracy: each task accumulates at most `lossBlockLength` positions in the working precision,
// then adds the block sums into Double accumulators; tasks are summed in a fixed order, so the
// result does not depend on the thread schedule. See Docs/DiceMath.md, "Accumulation".

internal import CDiceKitKernels

/// Positions accumulated in the working precision before the block sum is added in Double.
let lossBlockLength = Int(DK_ACCUMULATION_BLOCK)

/// The target as the passes read it.
enum TargetStorage<T: BLASScalar> {
    case labels(UnsafePointer<Int32>)
    case dense(UnsafePointer<T>)
}

/// Results of pass 1 for all samples and classes, summed in Double.
struct LossStatistics {
    var tp: [Double], p: [Double], g: [Double], d: [Double]
    /// Positions not ignored, per sample.
    var counted: [Double]
    /// Σ of the per-position (softmax) or per-element (binary) cross-entropy.
    var crossEntropy: Double
    /// Per sample, the cross-entropy mean's share of the denominator (before the binary ×C): Σ of
    /// the labels' class weights with a weighted softmax cross-entropy on labels, else `counted`.
    var crossEntropyNorm: [Double]
}

/// How the work is split: per sample, and into position chunks when a sample is large.
struct LossTasks {
    let chunksPerSample: Int
    let chunkLength: Int
    let count: Int
    /// Small inputs (< 64k elements) run on the calling thread: a dispatch costs more than the work.
    let parallel: Bool

    init(plan: LossPlan) {
        // The thread count, not the processors: the split (and so the sums) depends on it.
        let cores = Parallelism.threadCount
        let work = plan.n * plan.s * plan.c
        parallel = work >= 1 << 16 && cores > 1
        if !parallel {
            chunksPerSample = 1
        } else {
            // Enough tasks to balance the cores, each at least ~32k elements.
            let wanted = max(1, (2 * cores + plan.n - 1) / plan.n)
            let byWork = max(1, plan.s * plan.c / 32_768)
            chunksPerSample = min(wanted, byWork)
        }
        // Chunk lengths are multiples of 64 positions so vector kernels rarely see a tail.
        let raw = (plan.s + chunksPerSample - 1) / chunksPerSample
        chunkLength = (raw + 63) / 64 * 64
        count = plan.n * chunksPerSample
    }

    func range(_ task: Int, plan: LossPlan) -> (n: Int, s0: Int, s1: Int) {
        let n = task / chunksPerSample
        let s0 = min(plan.s, (task % chunksPerSample) * chunkLength)
        return (n, s0, min(plan.s, s0 + chunkLength))
    }

    /// Runs `body` for every task, in parallel when the input is large enough (on the shared
    /// worker pool: its threads stay awake between the back-to-back calls of a training loop).
    func run(_ body: @Sendable (Int) -> Void) {
        if parallel && count > 1 {
            WorkerPool.shared.run(count, body)
        } else {
            withFlushToZero { for task in 0..<count { body(task) } }
        }
    }
}

/// The first invalid input one task of pass 1 saw (nil when none).
struct FirstBadInput {
    /// The element index of a NaN or infinite prediction.
    var prediction: Int?
    /// The label index of a label outside 0..<labelClasses that is not ignored.
    var label: Int?

    /// Whether the task saw no invalid input.
    var isEmpty: Bool { prediction == nil && label == nil }
}

/// Per-task outputs of pass 1: 4·C sums, the count, the CE sum and its mean's denominator (the
/// first bad input apart).
struct TaskSlots {
    static func width(_ c: Int) -> Int { 4 * c + 3 }
}

extension DiceLoss {
    /// Pass 1 in Swift for positions s0..<s1 of sample n. Writes 4C+3 Doubles at `out`:
    /// TP[C], P[C], G[C], D[C], counted, CE, CE norm. Records the first non-finite prediction element
    /// and the first label out of range in `bad`.
    static func statisticsPass<T: BLASScalar>(
        plan: LossPlan, x: UnsafePointer<T>, target: TargetStorage<T>,
        probabilities: UnsafeMutablePointer<T>?, n: Int, s0: Int, s1: Int,
        out: UnsafeMutablePointer<Double>, bad: UnsafeMutablePointer<FirstBadInput>
    ) {
        let c = plan.c
        let ps = plan.positionStride
        let cs = plan.channelStride
        let sampleBase = n * plan.c * plan.s
        let z = UnsafeMutablePointer<T>.allocate(capacity: 6 * c)
        defer { z.deallocate() }
        let p = z + c
        let btp = z + 2 * c
        let bp = z + 3 * c
        let bg = z + 4 * c
        let bd = z + 5 * c
        (btp).initialize(repeating: 0, count: 4 * c)
        for i in 0..<TaskSlots.width(c) { out[i] = 0 }
        var counted = 0.0
        var ce = 0.0
        var ceNorm = 0.0
        var inBlock = 0
        func flush() {
            for k in 0..<c {
                out[k] += Double(btp[k])
                out[c + k] += Double(bp[k])
                out[2 * c + k] += Double(bg[k])
                out[3 * c + k] += Double(bd[k])
            }
            btp.update(repeating: 0, count: 4 * c)
            inBlock = 0
        }
        // Loop invariants in locals, so that the inner loops test plain values.
        var labels: UnsafePointer<Int32>? = nil
        var dense: UnsafePointer<T>? = nil
        switch target {
        case .labels(let l): labels = l
        case .dense(let t): dense = t
        }
        let squared = plan.squared
        let soft = plan.soft
        let crossEntropy = plan.crossEntropy
        let hasIgnore = plan.hasIgnore
        let ignore = plan.ignore
        let labelClasses = plan.labelClasses
        let offset = plan.labelOffset
        let activation = plan.activation
        // The weighted cross-entropy (Docs/DiceMath.md): target weights q_c = w_c·((1 − ε)·g_c + ε/C).
        let weighted = plan.weightedCrossEntropy
        let weights = (0..<c).map { T(plan.crossEntropyWeights?[$0] ?? 1) }
        let kept = 1 - T(plan.labelSmoothing)
        let spread = T(plan.labelSmoothing) / T(c)
        for s in s0..<s1 {
            let base = sampleBase + s * ps
            var label: Int32 = 0
            var ignored = false
            if let labels {
                label = labels[n * plan.s + s]
                if hasIgnore && label == ignore {
                    ignored = true
                } else if label < 0 || Int(label) >= labelClasses {
                    if bad.pointee.label == nil { bad.pointee.label = n * plan.s + s }
                    ignored = true
                }
            }
            var m = -T.infinity
            for k in 0..<c {
                let v = x[base + k * cs]
                if !v.isFinite, bad.pointee.prediction == nil { bad.pointee.prediction = base + k * cs }
                z[k] = v
                m = Swift.max(m, v)
            }
            var lse: T = 0
            switch activation {
            case .none:
                for k in 0..<c { p[k] = z[k] }
            case .sigmoid:
                for k in 0..<c { p[k] = 1 / (1 + T.exp(-z[k])) }
            case .softmax:
                var sum: T = 0
                for k in 0..<c {
                    let e = T.exp(z[k] - m)
                    p[k] = e
                    sum += e
                }
                let r = 1 / sum
                for k in 0..<c { p[k] *= r }
                if crossEntropy == .softmax { lse = m + T.log(sum) }
            }
            if let probs = probabilities {
                for k in 0..<c { probs[base + k * cs] = p[k] }
            }
            if ignored { continue }
            counted += 1
            for k in 0..<c {
                let g: T
                if let dense { g = dense[base + k * cs] } else { g = label == Int32(k) + offset ? 1 : 0 }
                let pk = p[k]
                btp[k] += pk * g
                if squared {
                    bp[k] += pk * pk
                    bg[k] += g * g
                } else {
                    bp[k] += pk
                    bg[k] += g
                }
                if soft { bd[k] += Swift.abs(pk - g) }
                if crossEntropy == .softmax, dense != nil {
                    ce += Double((weighted ? weights[k] * (kept * g + spread) : g) * (lse - z[k]))
                } else if crossEntropy == .binary {
                    let zk = z[k]
                    let softplus = Swift.max(zk, 0) + T.log1p(T.exp(-Swift.abs(zk)))
                    // pos_weight w: w·g·softplus(−z) + (1 − g)·softplus(z) = softplus(z) − z·g + (w − 1)·g·(softplus(z) − z).
                    ce += Double(softplus - zk * g + (weighted ? (weights[k] - 1) * g * (softplus - zk) : 0))
                }
            }
            if crossEntropy == .softmax, labels != nil {
                let y = Int(label)
                if weighted {
                    var smoothed: T = 0
                    if spread != 0 { for k in 0..<c { smoothed += weights[k] * (lse - z[k]) } }
                    ce += Double(kept * weights[y] * (lse - z[y]) + spread * smoothed)
                    ceNorm += Double(weights[y])
                } else {
                    ce += Double(lse - z[y])
                }
            }
            inBlock += 1
            if inBlock == lossBlockLength { flush() }
        }
        flush()
        out[4 * c] = counted
        out[4 * c + 1] = ce
        out[4 * c + 2] = plan.weightedLabelNorm ? ceNorm : counted
    }

    /// Pass 2 in Swift: `grad` holds the probabilities on entry and dL/dz on exit.
    static func gradientPass<T: BLASScalar>(
        plan: LossPlan, target: TargetStorage<T>, grad: UnsafeMutablePointer<T>,
        n: Int, s0: Int, s1: Int, a: UnsafePointer<T>, b: UnsafePointer<T>,
        f: UnsafePointer<T>, crossEntropyScale: T
    ) {
        let c = plan.c
        let ps = plan.positionStride
        let cs = plan.channelStride
        let sampleBase = n * plan.c * plan.s
        let coefficientBase = n * c
        let u = UnsafeMutablePointer<T>.allocate(capacity: 3 * c)
        defer { u.deallocate() }
        let gv = u + c
        // The softmax cross-entropy's target weights q_c (g_c unweighted), summed into Q.
        let qv = u + 2 * c
        let weighted = plan.weightedCrossEntropy
        let weights = (0..<c).map { T(plan.crossEntropyWeights?[$0] ?? 1) }
        let kept = 1 - T(plan.labelSmoothing)
        let spread = T(plan.labelSmoothing) / T(c)
        var labels: UnsafePointer<Int32>? = nil
        var dense: UnsafePointer<T>? = nil
        switch target {
        case .labels(let l): labels = l
        case .dense(let t): dense = t
        }
        let squared = plan.squared
        let soft = plan.soft
        let hasIgnore = plan.hasIgnore
        let ignore = plan.ignore
        let offset = plan.labelOffset
        let activation = plan.activation
        for s in s0..<s1 {
            let base = sampleBase + s * ps
            var label: Int32 = 0
            if let labels {
                label = labels[n * plan.s + s]
                if hasIgnore && label == ignore {
                    for k in 0..<c { grad[base + k * cs] = 0 }
                    continue
                }
            }
            var dot: T = 0
            var qsum: T = 0
            for k in 0..<c {
                let g: T
                if let dense { g = dense[base + k * cs] } else { g = label == Int32(k) + offset ? 1 : 0 }
                gv[k] = g
                qv[k] = weighted ? weights[k] * (kept * g + spread) : g
                qsum += qv[k]
                let pk = grad[base + k * cs]
                var du = a[coefficientBase + k] * g
                du += squared ? 2 * b[coefficientBase + k] * pk : b[coefficientBase + k]
                if soft { du += f[coefficientBase + k] * (pk > g ? 1 : (pk < g ? -1 : 0)) }
                u[k] = du
                dot += pk * du
            }
            switch activation {
            case .none:
                for k in 0..<c { grad[base + k * cs] = u[k] }
            case .sigmoid:
                for k in 0..<c {
                    let pk = grad[base + k * cs]
                    // pos_weight w: p·(1 + (w − 1)·g) − w·g.
                    let ceSlope = weighted ? pk * (1 + (weights[k] - 1) * gv[k]) - weights[k] * gv[k] : pk - gv[k]
                    grad[base + k * cs] = u[k] * pk * (1 - pk) + crossEntropyScale * ceSlope
                }
            case .softmax:
                for k in 0..<c {
                    let pk = grad[base + k * cs]
                    grad[base + k * cs] = pk * (u[k] - dot) + crossEntropyScale * (pk * qsum - qv[k])
                }
            }
        }
    }

    /// Both passes and the combine step, for one concrete scalar type.
    /// With an `exchange` (DiceLoss+Exchange.swift), the statistics of all ranks are gathered
    /// between the passes and combined as one batch.
    func evaluateImpl<T: BLASScalar>(
        _ prediction: Tensor<T>, _ target: SegmentationTarget<T>, _ validMask: Tensor<T>?,
        _ wantGradient: Bool, exchange: LossStatisticsExchange? = nil
    ) throws -> DiceLossResult<T> {
        let plan = try makePlan(prediction, target, validMask)
        var resultValues: CombinedLoss?
        let tasks = LossTasks(plan: plan)
        let width = TaskSlots.width(plan.c)
        var slots = [Double](repeating: 0, count: tasks.count * width)
        var bad = [FirstBadInput](repeating: FirstBadInput(), count: tasks.count)
        // Uninitialised: pass 1 writes every element (probabilities) before pass 2 reads it.
        var grad: [T] =
            wantGradient
            ? [T](unsafeUninitializedCapacity: prediction.count) { _, count in count = prediction.count } : []
        let useC = T.self == Float.self && CKernels.supports(plan: plan, target: target)
        let fused =
            exchange == nil && fusedPasses && wantGradient && tasks.count > 1 && tasks.chunksPerSample == 1
            && isSeparable(plan: plan, validMask: validMask)

        try prediction.withUnsafeBufferPointer { xb in
            try withTargetStorage(target) { storage in
                try grad.withUnsafeMutableBufferPointer { gb in
                    let probs = wantGradient ? gb.baseAddress! : nil
                    slots.withUnsafeMutableBufferPointer { sb in
                        bad.withUnsafeMutableBufferPointer { bb in
                            let slotBase = sb.baseAddress!
                            let badBase = bb.baseAddress!
                            // Task t writes its own slots and flags, and the probabilities and
                            // gradient of its own positions.
                            let shared = TaskShared((slotBase, badBase, xb, probs, storage))
                            tasks.run { task in
                                let (slotBase, badBase, xb, probs, storage) = shared.buffers
                                let (n, s0, s1) = tasks.range(task, plan: plan)
                                let out = slotBase + task * width
                                let flags = badBase + task
                                if useC {
                                    CKernels.statistics(
                                        plan: plan, x: UnsafeRawPointer(xb.baseAddress!),
                                        target: CKernels.Target(storage),
                                        probabilities: probs.map { UnsafeMutableRawPointer($0) },
                                        n: n, s0: s0, s1: s1, out: out, bad: flags)
                                } else {
                                    Self.statisticsPass(
                                        plan: plan, x: xb.baseAddress!, target: storage, probabilities: probs,
                                        n: n, s0: s0, s1: s1, out: out, bad: flags)
                                }
                                // Fused mode: this sample's gradient needs only its own statistics, so
                                // run pass 2 now, while its data is still in cache (and skip a dispatch).
                                if fused, flags.pointee.isEmpty, let gradBase = probs {
                                    fusedGradient(
                                        plan: plan, useC: useC, storage: storage, grad: gradBase, n: n, s0: s0, s1: s1,
                                        slot: UnsafeBufferPointer(start: out, count: width))
                                }
                            }
                        }
                    }
                    // Report bad input before going further.
                    try reportBadInput(plan: plan, prediction: prediction, target: target, bad: bad)
                    var (combinePlan, stats, row) = (plan, Self.sumTasks(plan: plan, tasks: tasks, slots: slots), 0)
                    if let exchange { (combinePlan, stats, row) = try exchange.gather(plan: plan, stats: stats) }
                    let combined = try combine(
                        plan: combinePlan, stats: stats, validMask: validMask.map { $0.scalars.map { $0 != 0 } })
                    resultValues = combined
                    guard wantGradient && !fused && exchange?.contributes != false else { return }
                    let nc = plan.n * plan.c
                    var coefficients = [T](repeating: 0, count: 3 * nc)
                    let first = row * plan.c // this rank's rows of a gathered table
                    for i in 0..<nc {
                        let j = first + i
                        coefficients[i] = T(combined.a[j])
                        coefficients[nc + i] = T(combined.b[j])
                        coefficients[2 * nc + i] = T(combined.f[j])
                    }
                    let ceScale = T(combined.crossEntropyScale)
                    let gradBase = gb.baseAddress!
                    coefficients.withUnsafeBufferPointer { cb in
                        let a = cb.baseAddress!
                        let b = a + nc
                        let f = a + 2 * nc
                        // Task t writes the gradient of its own positions.
                        let shared = TaskShared((gradBase, storage, a, b, f))
                        tasks.run { task in
                            let (gradBase, storage, a, b, f) = shared.buffers
                            let (n, s0, s1) = tasks.range(task, plan: plan)
                            if useC {
                                CKernels.gradient(
                                    plan: plan, target: CKernels.Target(storage),
                                    grad: UnsafeMutableRawPointer(gradBase),
                                    n: n, s0: s0, s1: s1, a: UnsafeRawPointer(a), b: UnsafeRawPointer(b),
                                    f: UnsafeRawPointer(f), crossEntropyScale: Float(combined.crossEntropyScale))
                            } else {
                                Self.gradientPass(
                                    plan: plan, target: storage, grad: gradBase, n: n, s0: s0, s1: s1,
                                    a: a, b: b, f: f, crossEntropyScale: ceScale)
                            }
                        }
                    }
                }
            }
        }
        let combined = resultValues!
        let loss = Tensor<T>(uncheckedShape: combined.shape, storage: combined.values.map { T($0) })
        return DiceLossResult(
            loss: loss, gradient: wantGradient ? Tensor(uncheckedShape: prediction.shape, storage: grad) : nil)
    }

    /// Whether the gradient of one sample depends on that sample's statistics alone (up to a
    /// known factor), so that both passes can run in one task per sample.
    func isSeparable<T: BLASScalar>(plan: LossPlan, validMask: Tensor<T>?) -> Bool {
        guard validMask == nil else { return false }
        // The cross-entropy's mean divides by the counted positions of the whole batch: known in
        // advance (N·S or N·S·C) unless labels are ignored; presets average over samples even for sum.
        if plan.crossEntropy != .none && (plan.hasIgnore || (preset != nil && reduction == .sum)) { return false }
        // With class-weighted labels it divides by the batch's sum of the labels' weights.
        if plan.weightedLabelNorm && reduction == .mean { return false }
        if preset != nil { return true }
        return !batch && emptyClass != .exclude
    }

    /// Pass 2 for sample n from its own statistics (fused mode). The coefficients of a one-sample
    /// combine equal the batch's up to 1/N for means (and the presets, which average over samples).
    func fusedGradient<T: BLASScalar>(
        plan: LossPlan, useC: Bool, storage: TargetStorage<T>, grad: UnsafeMutablePointer<T>,
        n: Int, s0: Int, s1: Int, slot: UnsafeBufferPointer<Double>
    ) {
        let c = plan.c
        let single = plan.resized(n: 1)
        // Uniform sample sizes: without ignored labels every sample counts S positions.
        let stats = LossStatistics(
            tp: Array(slot[0..<c]), p: Array(slot[c..<(2 * c)]), g: Array(slot[(2 * c)..<(3 * c)]),
            d: Array(slot[(3 * c)..<(4 * c)]), counted: [slot[4 * c]], crossEntropy: 0,
            crossEntropyNorm: [slot[4 * c + 2]])
        guard let combined = try? combine(plan: single, stats: stats, validMask: nil) else { return }
        let scale = reduction != .none && (preset != nil || reduction == .mean) ? 1 / Double(plan.n) : 1
        // Rows of an [N, C] coefficient table; only row n is read.
        var coefficients = [T](repeating: 0, count: 3 * plan.n * c)
        let nc = plan.n * c
        for k in 0..<c {
            coefficients[n * c + k] = T(scale * combined.a[k])
            coefficients[nc + n * c + k] = T(scale * combined.b[k])
            coefficients[2 * nc + n * c + k] = T(scale * combined.f[k])
        }
        coefficients.withUnsafeBufferPointer { cb in
            let a = cb.baseAddress!
            let b = a + nc
            let f = a + 2 * nc
            if useC {
                CKernels.gradient(
                    plan: plan, target: CKernels.Target(storage), grad: UnsafeMutableRawPointer(grad), n: n, s0: s0,
                    s1: s1,
                    a: UnsafeRawPointer(a), b: UnsafeRawPointer(b), f: UnsafeRawPointer(f),
                    crossEntropyScale: Float(scale * combined.crossEntropyScale))
            } else {
                Self.gradientPass(
                    plan: plan, target: storage, grad: grad, n: n, s0: s0, s1: s1, a: a, b: b, f: f,
                    crossEntropyScale: T(scale * combined.crossEntropyScale))
            }
        }
    }

    /// Calls `body` with raw access to the target.
    private func withTargetStorage<T: BLASScalar, R>(
        _ target: SegmentationTarget<T>, _ body: (TargetStorage<T>) throws -> R
    ) rethrows -> R {
        switch target {
        case .labels(let labels):
            return try labels.storage.withUnsafeBufferPointer { try body(.labels($0.baseAddress!)) }
        case .oneHot(let t), .soft(let t): return try t.withUnsafeBufferPointer { try body(.dense($0.baseAddress!)) }
        }
    }

    /// Throws for the first non-finite prediction or out-of-range label that pass 1 saw.
    private func reportBadInput<T: BLASScalar>(
        plan: LossPlan, prediction: Tensor<T>, target: SegmentationTarget<T>, bad: [FirstBadInput]
    ) throws {
        if let firstPrediction = bad.compactMap(\.prediction).min() {
            // The C kernels report only the task; find the element.
            let i = prediction.scalars.firstIndex(where: { !$0.isFinite }) ?? firstPrediction
            throw DiceKitError.value("prediction element \(i) is \(prediction.scalars[i]); expected finite values")
        }
        if let firstLabel = bad.compactMap(\.label).min(), case .labels(let labels) = target {
            let i =
                labels.storage.firstIndex(where: {
                    ($0 < 0 || Int($0) >= plan.labelClasses) && !(plan.hasIgnore && $0 == plan.ignore)
                }) ?? firstLabel
            let expected = plan.c == 1 ? "0 or 1 (binary mask for a single channel)" : "0..<\(plan.c)"
            throw DiceKitError.value(
                "label \(labels.storage[i]) at element \(i); expected \(expected)\(plan.hasIgnore ? " or the ignore index \(plan.ignore)" : "")"
            )
        }
    }

    /// Sums the task slots in task order (deterministic).
    static func sumTasks(plan: LossPlan, tasks: LossTasks, slots: [Double]) -> LossStatistics {
        let c = plan.c
        let width = TaskSlots.width(c)
        var stats = LossStatistics(
            tp: .init(repeating: 0, count: plan.n * c), p: .init(repeating: 0, count: plan.n * c),
            g: .init(repeating: 0, count: plan.n * c), d: .init(repeating: 0, count: plan.n * c),
            counted: .init(repeating: 0, count: plan.n), crossEntropy: 0,
            crossEntropyNorm: .init(repeating: 0, count: plan.n))
        for task in 0..<tasks.count {
            let n = tasks.range(task, plan: plan).n
            let base = task * width
            for k in 0..<c {
                stats.tp[n * c + k] += slots[base + k]
                stats.p[n * c + k] += slots[base + c + k]
                stats.g[n * c + k] += slots[base + 2 * c + k]
                stats.d[n * c + k] += slots[base + 3 * c + k]
            }
            stats.counted[n] += slots[base + 4 * c]
            stats.crossEntropy += slots[base + 4 * c + 1]
            stats.crossEntropyNorm[n] += slots[base + 4 * c + 2]
        }
        return stats
    }
}
