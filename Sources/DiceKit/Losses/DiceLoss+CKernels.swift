// The sealed boundary to the C kernels (Sources/CDiceKitKernels): Float predictions, integer label or
// dense (one-hot, soft) targets, any activation, plain or squared statistics, soft labels, softmax
// or binary cross-entropy, ≤ DK_MAX_CHANNELS (16) channels. Double runs the Swift passes. No C type
// leaves this file. The instruction-set switch for tests is `KernelDispatch` (Support/).

internal import CDiceKitKernels

/// Internal wrappers over the C kernels.
enum CKernels {
    /// The target as the C kernels take it.
    enum Target {
        case labels(UnsafePointer<Int32>)
        case dense(UnsafeRawPointer)

        init<T: BLASScalar>(_ storage: TargetStorage<T>) {
            switch storage {
            case .labels(let l): self = .labels(l)
            case .dense(let t): self = .dense(UnsafeRawPointer(t))
            }
        }
    }

    /// Whether the C kernels compute this case (the caller checks that the scalar is Float).
    static func supports<T: BLASScalar>(plan: LossPlan, target: SegmentationTarget<T>) -> Bool {
        plan.c <= Int(DK_MAX_CHANNELS)
    }

    private static func geometry(_ plan: LossPlan, _ s0: Int, _ s1: Int) -> dk_geometry {
        var g = dk_geometry()
        g.spatial = plan.s
        g.s0 = s0
        g.s1 = s1
        g.channels = Int32(plan.c)
        g.channels_last = plan.channelsLast ? 1 : 0
        switch plan.activation {
        case .none: g.activation = DK_ACTIVATION_NONE
        case .sigmoid: g.activation = DK_ACTIVATION_SIGMOID
        case .softmax: g.activation = DK_ACTIVATION_SOFTMAX
        }
        g.squared = plan.squared ? 1 : 0
        g.cross_entropy = plan.crossEntropy.code
        g.ce_smoothing = Float(plan.labelSmoothing)
        g.soft = plan.soft ? 1 : 0
        g.has_ignore = plan.hasIgnore ? 1 : 0
        g.ignore = plan.ignore
        g.label_offset = plan.labelOffset
        g.label_limit = Int32(plan.labelClasses)
        return g
    }

    /// Pass 1 for positions s0..<s1 of sample n; writes the same slot layout as the Swift pass.
    static func statistics(
        plan: LossPlan, x: UnsafeRawPointer, target: Target,
        probabilities: UnsafeMutableRawPointer?, n: Int, s0: Int, s1: Int,
        out: UnsafeMutablePointer<Double>, bad: UnsafeMutablePointer<FirstBadInput>
    ) {
        var g = geometry(plan, s0, s1)
        var stats = dk_stats()
        let sample = n * plan.c * plan.s
        let xf = x.assumingMemoryBound(to: Float.self) + sample
        let pf = probabilities.map { $0.assumingMemoryBound(to: Float.self) + sample }
        withCrossEntropyWeights(plan, &g) { g in
            switch target {
            case .labels(let labels): dk_stats_f32(&g, xf, labels + n * plan.s, pf, &stats)
            case .dense(let t): dk_stats_dense_f32(&g, xf, t.assumingMemoryBound(to: Float.self) + sample, pf, &stats)
            }
        }
        let c = plan.c
        withUnsafeBytes(of: &stats.tp) { tp in
            withUnsafeBytes(of: &stats.p) { p in
                withUnsafeBytes(of: &stats.g) { gg in
                    withUnsafeBytes(of: &stats.d) { d in
                        for k in 0..<c {
                            out[k] = tp.load(fromByteOffset: 8 * k, as: Double.self)
                            out[c + k] = p.load(fromByteOffset: 8 * k, as: Double.self)
                            out[2 * c + k] = gg.load(fromByteOffset: 8 * k, as: Double.self)
                            out[3 * c + k] = d.load(fromByteOffset: 8 * k, as: Double.self)
                        }
                    }
                }
            }
        }
        out[4 * c] = stats.counted
        out[4 * c + 1] = stats.ce
        out[4 * c + 2] = stats.ce_norm
        if stats.nonfinite != 0 { bad.pointee.prediction = sample + s0 }
        if stats.bad_label != 0 { bad.pointee.label = n * plan.s + s0 }
    }

    /// Pass 2 for positions s0..<s1 of sample n; `a`, `b`, `f` are [N, C] Float coefficients and
    /// `crossEntropyScale` the factor of (p − g) from the cross-entropy term.
    static func gradient(
        plan: LossPlan, target: Target, grad: UnsafeMutableRawPointer,
        n: Int, s0: Int, s1: Int, a: UnsafeRawPointer, b: UnsafeRawPointer, f: UnsafeRawPointer,
        crossEntropyScale: Float
    ) {
        var g = geometry(plan, s0, s1)
        g.ce_scale = crossEntropyScale
        let sample = n * plan.c * plan.s
        let row = n * plan.c
        let gf = grad.assumingMemoryBound(to: Float.self) + sample
        let (af, bf, ff) = (
            a.assumingMemoryBound(to: Float.self) + row, b.assumingMemoryBound(to: Float.self) + row,
            f.assumingMemoryBound(to: Float.self) + row
        )
        withCrossEntropyWeights(plan, &g) { g in
            switch target {
            case .labels(let labels): dk_grad_f32(&g, labels + n * plan.s, gf, af, bf)
            case .dense(let t): dk_grad_dense_f32(&g, t.assumingMemoryBound(to: Float.self) + sample, gf, af, bf, ff)
            }
        }
    }

    /// Runs `body` with `g.ce_weight` pointing at the plan's Float weights (NULL without them).
    private static func withCrossEntropyWeights(
        _ plan: LossPlan, _ g: inout dk_geometry, _ body: (inout dk_geometry) -> Void
    ) {
        guard let weights = plan.crossEntropyWeightsFloat else { return body(&g) }
        weights.withUnsafeBufferPointer { w in
            g.ce_weight = w.baseAddress
            body(&g)
            g.ce_weight = nil
        }
    }
}

/// The cross-entropy term a loss plan adds to the Dice statistics, mirrored by the header's
/// dk_cross_entropy.
enum CrossEntropyTerm {
    /// No cross-entropy (a ce-weight of 0).
    case none
    /// Softmax cross-entropy of the logits against the labels (softmax activation).
    case softmax
    /// Binary cross-entropy with logits per element (sigmoid activation).
    case binary

    /// The header's code for this term.
    var code: dk_cross_entropy {
        switch self {
        case .none: return DK_CROSS_ENTROPY_NONE
        case .softmax: return DK_CROSS_ENTROPY_SOFTMAX
        case .binary: return DK_CROSS_ENTROPY_BINARY
        }
    }
}
