// The sealed boundary to the C kernels (Sources/CDiceKernels): Float predictions, integer label or
// dense (one-hot, soft) targets, any activation, plain or squared statistics, soft labels, softmax
// or binary cross-entropy, ≤ 16 channels. Double runs the Swift passes. No C type leaves this file.

internal import CDiceKernels

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
        plan.c <= 16
    }

    /// The instruction set in use: "avx512", "avx2" or "portable".
    static var instructionSet: String { InstructionSet.current.description }

    /// Limits every kernel family (losses, pooling, convolutions) to `isa`, or restores the
    /// automatic choice with nil; for tests that compare the variants. Process-wide.
    ///
    /// - Throws: `DiceKitError.option` when the CPU lacks `isa` (nothing changes): a forced
    ///   level is never silently replaced by another.
    static func force(_ isa: InstructionSet?) throws {
        guard let isa else {
            _ = dk_force_isa(-1)
            return
        }
        guard dk_force_isa(Int32(isa.rawValue)) == 0 else {
            throw DiceKitError.option("instruction set \(isa) cannot be forced: this CPU runs at most \(InstructionSet.detected)")
        }
    }

    /// The instruction set the last call of a kernel family ran at (nil before any call).
    static func lastUsed(_ family: KernelFamily) -> InstructionSet? {
        let level = dk_last_isa(family.family)
        return level < 0 ? nil : InstructionSet(dk_isa_level(UInt32(level)))
    }

    private static func geometry(_ plan: LossPlan, _ s0: Int, _ s1: Int) -> dk_geometry {
        var g = dk_geometry()
        g.spatial = plan.s
        g.s0 = s0
        g.s1 = s1
        g.channels = Int32(plan.c)
        g.channels_last = plan.channelsLast ? 1 : 0
        switch plan.activation {
        case .none: g.activation = 0
        case .sigmoid: g.activation = 1
        case .softmax: g.activation = 2
        }
        g.squared = plan.squared ? 1 : 0
        g.cross_entropy = Int32(plan.crossEntropy)
        g.soft = plan.soft ? 1 : 0
        g.has_ignore = plan.hasIgnore ? 1 : 0
        g.ignore = plan.ignore
        g.label_offset = plan.labelOffset
        g.label_limit = Int32(plan.labelClasses)
        return g
    }

    /// Pass 1 for positions s0..<s1 of sample n; writes the same slot layout as the Swift pass.
    static func statistics(plan: LossPlan, x: UnsafeRawPointer, target: Target,
                           probabilities: UnsafeMutableRawPointer?, n: Int, s0: Int, s1: Int,
                           out: UnsafeMutablePointer<Double>, bad: UnsafeMutablePointer<Int>) {
        var g = geometry(plan, s0, s1)
        var stats = dk_stats()
        let sample = n * plan.c * plan.s
        let xf = x.assumingMemoryBound(to: Float.self) + sample
        let pf = probabilities.map { $0.assumingMemoryBound(to: Float.self) + sample }
        switch target {
        case .labels(let labels): dk_stats_f32(&g, xf, labels + n * plan.s, pf, &stats)
        case .dense(let t): dk_stats_dense_f32(&g, xf, t.assumingMemoryBound(to: Float.self) + sample, pf, &stats)
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
        if stats.nonfinite != 0 { bad[0] = sample + s0 }
        if stats.bad_label != 0 { bad[1] = n * plan.s + s0 }
    }

    /// Pass 2 for positions s0..<s1 of sample n; `a`, `b`, `f` are [N, C] Float coefficients and
    /// `crossEntropyScale` the factor of (p − g) from the cross-entropy term.
    static func gradient(plan: LossPlan, target: Target, grad: UnsafeMutableRawPointer,
                         n: Int, s0: Int, s1: Int, a: UnsafeRawPointer, b: UnsafeRawPointer, f: UnsafeRawPointer,
                         crossEntropyScale: Float) {
        var g = geometry(plan, s0, s1)
        g.ce_scale = crossEntropyScale
        let sample = n * plan.c * plan.s
        let row = n * plan.c
        let gf = grad.assumingMemoryBound(to: Float.self) + sample
        let (af, bf, ff) = (a.assumingMemoryBound(to: Float.self) + row, b.assumingMemoryBound(to: Float.self) + row,
                            f.assumingMemoryBound(to: Float.self) + row)
        switch target {
        case .labels(let labels): dk_grad_f32(&g, labels + n * plan.s, gf, af, bf)
        case .dense(let t): dk_grad_dense_f32(&g, t.assumingMemoryBound(to: Float.self) + sample, gf, af, bf, ff)
        }
    }
}
