// LovaszLoss: the Lovász-softmax and Lovász-hinge losses of Berman et al. (2018), as
// segmentation_models_pytorch's `LovaszLoss` (multiclass mode: softmax of the logits, classes
// present in the labels; binary/multilabel modes: hinge on raw logits), per image or over the
// whole batch, with an ignore label.
//
// The loss is the Lovász extension of the Jaccard loss evaluated at the error vector: sort the
// errors in decreasing order, dot them with Δ (LovaszSort.swift). For a fixed order the value is
// linear in the errors, so ∂loss/∂e_j = Δ_rank(j): piecewise constant, the derivative almost
// everywhere (Docs/DiceMath.md, "Lovász losses"). Pass 1 computes the errors (and the
// probabilities), the sort gives Δ, pass 2 applies the chain rule through |g − p| and the softmax,
// or through 1 − z·(2g − 1).

/// Which Lovász loss.
public enum LovaszVariant: String, Sendable, CaseIterable {
    /// Lovász-softmax: errors |g_c − p_c| per class of the softmax probabilities; the mean over
    /// the classes present in the labels (smp's multiclass mode, `classes="present"`).
    case softmax = "lovasz-softmax"
    /// Lovász-hinge: errors relu(1 − z·(2g − 1)) on raw logits, every channel and position of the
    /// unit as one binary problem (smp's binary and multilabel modes).
    case hinge = "lovasz-hinge"
}

/// The Lovász-softmax or Lovász-hinge loss; the mean over images with `perImage`, else one value
/// over the whole batch (a scalar either way).
///
/// Shapes: prediction [N, spatial…, C] or [N, C, spatial…], logits. Lovász-softmax takes labels
/// [N, spatial…] in 0..<C and ≥ 2 channels; Lovász-hinge takes labels (a binary mask for one
/// channel, the one-hot target otherwise) or a 0/1 tensor with the prediction's shape.
public struct LovaszLoss: SegmentationLoss {
    /// Softmax or hinge (default `.softmax`).
    public var variant: LovaszVariant = .softmax
    /// Where the channel axis is (default `.channelsLast`).
    public var layout: Layout = .channelsLast
    /// The loss of each image, then the mean over the batch (default false: the whole batch as one).
    public var perImage = false
    /// Label targets only: positions with this label contribute nothing (default nil).
    public var ignoreIndex: Int? = nil
    /// Whether Float errors go through the C kernel (default true; tests switch it off to compare
    /// with the Swift sort and extension).
    var kernelEnabled = true

    /// A Lovász loss over the whole batch.
    public init(variant: LovaszVariant = .softmax, perImage: Bool = false, layout: Layout = .channelsLast) {
        self.variant = variant
        self.perImage = perImage
        self.layout = layout
    }

    /// The loss (shape []) and, when `gradient` is true, d(loss)/d(logits).
    ///
    /// - Throws: `DiceKitError` for mismatched shapes, non-finite logits, labels out of range, a
    ///   dense target with Lovász-softmax, a single channel with Lovász-softmax.
    public func evaluate<Scalar: BLASScalar>(
        _ prediction: Tensor<Scalar>, target: SegmentationTarget<Scalar>,
        gradient: Bool
    ) throws -> DiceLossResult<Scalar> {
        try specialisedLoss(
            prediction, target, float: { try compute($0, $1, gradient) }, double: { try compute($0, $1, gradient) })
    }

    /// The checked prediction and target (hard targets; labels only for the softmax form, which
    /// needs ≥ 2 channels).
    func checkedInput<T: BLASScalar>(_ x: Tensor<T>, _ target: SegmentationTarget<T>) throws -> LossInput<T> {
        let softmax = variant == .softmax
        let input = try LossInput(
            x, target, layout: layout, ignoreIndex: ignoreIndex, what: variant.rawValue, hard: true, labelsOnly: softmax
        )
        if softmax && input.c < 2 {
            throw DiceKitError.option(
                "lovasz-softmax over a single channel; expected ≥ 2 channels (or lovasz-hinge for a binary mask)")
        }
        return input
    }

    func compute<T: BLASScalar>(_ x: Tensor<T>, _ target: SegmentationTarget<T>, _ wantGradient: Bool) throws
        -> DiceLossResult<T>
    {
        let softmax = variant == .softmax
        let input = try checkedInput(x, target)
        let units = perImage ? input.n : 1
        let samplesPerUnit = perImage ? 1 : input.n
        // Softmax: one task per (unit, class); hinge: one per unit (all channels together).
        let classesPerTask = softmax ? 1 : input.c
        let taskCount = units * (softmax ? input.c : 1)
        let p = softmax ? input.probabilities(x, .softmax) : x.scalars
        var gradient = wantGradient ? [T](repeating: 0, count: x.count) : []
        // Per task: the value and whether it counts (softmax: the class is present).
        var results = [Double](repeating: 0, count: 2 * taskCount)
        let runParallel = x.count >= 1 << 16 && taskCount > 1
        let kernel = kernelEnabled
        p.withUnsafeBufferPointer { ps in
            gradient.withUnsafeMutableBufferPointer { gradientBuffer in
                results.withUnsafeMutableBufferPointer { resultBuffer in
                    // Task t writes its own two results and the gradient of its own unit and classes.
                    let shared = TaskShared((ps, gradientBuffer, resultBuffer))
                    let body: @Sendable (Int) -> Void = { task in
                        let (ps, gs, rs) = shared.buffers
                        let unit = softmax ? task / input.c : task
                        let firstClass = softmax ? task % input.c : 0
                        let capacity = samplesPerUnit * input.s * classesPerTask
                        // Hinge over every position with channels last (or one channel): the gather
                        // order is the flat order, so the unit is one range of the gradient and the
                        // slopes go straight into it (no index list, no slope buffer).
                        let inPlace = !softmax && ignoreIndex == nil && (input.channelsLast || input.c == 1)
                        // Gather the unit's elements: flat index (unless in place), error, foreground
                        // flag, into buffers of the unit's size (stores, not appends).
                        let indices = UnsafeMutableBufferPointer<Int>.allocate(capacity: inPlace ? 0 : capacity)
                        let keys = UnsafeMutableBufferPointer<T>.allocate(capacity: capacity)
                        let fg = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: capacity)
                        let slope = UnsafeMutableBufferPointer<T>.allocate(
                            capacity: gs.isEmpty || inPlace ? 0 : capacity)
                        defer {
                            indices.deallocate()
                            keys.deallocate()
                            fg.deallocate()
                            slope.deallocate()
                        }
                        var m = 0
                        var present = false
                        for i in (unit * samplesPerUnit)..<((unit + 1) * samplesPerUnit) {
                            for q in 0..<input.s where !input.ignored(i, q) {
                                for k in firstClass..<(firstClass + classesPerTask) {
                                    let j = input.index(i, k, q)
                                    let g = input.target(i, k, q)
                                    if !inPlace { indices[m] = j }
                                    fg[m] = g == 1 ? 1 : 0
                                    present = present || g == 1
                                    keys[m] = softmax ? Swift.abs(g - ps[j]) : 1 - ps[j] * (2 * g - 1)
                                    m += 1
                                }
                            }
                        }
                        if softmax && !present { return }
                        // The slopes come signed by the chain rule without the reduction's factor
                        // (applied below): softmax de/dp = sign(p − g) = (1 − 2g); hinge de/dz = −(2g − 1).
                        let out =
                            gs.isEmpty
                            ? nil
                            : inPlace
                                ? UnsafeMutableBufferPointer(rebasing: gs[(unit * capacity)..<((unit + 1) * capacity)])
                                : UnsafeMutableBufferPointer(rebasing: slope[0..<m])
                        let value = signedLovaszExtension(
                            keys: UnsafeMutableBufferPointer(rebasing: keys[0..<m]),
                            fg: UnsafeBufferPointer(rebasing: fg[0..<m]), slope: out, kernel: kernel)
                        rs[2 * task] = value
                        rs[2 * task + 1] = 1
                        if !gs.isEmpty && !inPlace {
                            for r in 0..<m { gs[indices[r]] = slope[r] }
                        }
                    }
                    if runParallel {
                        WorkerPool.shared.run(taskCount, body)
                    } else {
                        for t in 0..<taskCount { body(t) }
                    }
                }
            }
        }
        // Unit value: softmax, the mean over present classes; hinge, the one value. Then the mean over units.
        var total = 0.0
        var unitFactor = [Double](repeating: 0, count: units)
        for unit in 0..<units {
            let range = softmax ? (unit * input.c)..<((unit + 1) * input.c) : unit..<(unit + 1)
            let present = range.reduce(0.0) { $0 + results[2 * $1 + 1] }
            let sum = range.reduce(0.0) { $0 + results[2 * $1] }
            if present > 0 {
                total += sum / present
                unitFactor[unit] = 1 / (present * Double(units))
            }
        }
        var grad: Tensor<T>? = nil
        if wantGradient {
            // Scale each unit's slopes by 1/(present classes · units) (nothing to do when every factor is 1).
            let tasks = PositionTasks(n: input.n, s: input.s, c: input.c)
            if unitFactor.contains(where: { $0 != 1 }) {
                gradient.withUnsafeMutableBufferPointer { gs in
                    // Task t scales the gradient of its own positions.
                    let shared = TaskShared(gs)
                    tasks.run { [unitFactor] task in
                        let gs = shared.buffers
                        let (i, p0, p1) = tasks.ranges[task]
                        let f = T(unitFactor[perImage ? i : 0])
                        for q in p0..<p1 { for k in 0..<input.c { gs[input.index(i, k, q)] *= f } }
                    }
                }
            }
            if softmax { input.backpropagate(&gradient, probabilities: p, .softmax) }
            grad = Tensor(uncheckedShape: x.shape, storage: gradient)
        }
        return DiceLossResult(loss: Tensor(uncheckedShape: [], storage: [T(total / Double(units))]), gradient: grad)
    }
}
