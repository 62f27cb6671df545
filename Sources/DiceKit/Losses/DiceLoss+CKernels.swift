// The sealed boundary to the C kernels (Sources/CDiceKernels): Float predictions, integer label
// targets, any activation, plain or squared statistics, softmax or binary cross-entropy, ≤ 16
// channels. Dense (one-hot, soft) targets and Double run the Swift passes. No C type leaves this file.

internal import CDiceKernels

/// Internal wrappers over the C kernels.
enum CKernels {
    /// Whether the C kernels compute this case.
    static func supports<T: BLASScalar>(plan: LossPlan, target: DiceLossTarget<T>) -> Bool {
        guard case .labels = target else { return false }
        return plan.c <= 16
    }

    /// The instruction set in use: "avx512", "avx2" or "portable".
    static var instructionSet: String {
        switch dk_isa() {
        case 2: return "avx512"
        case 1: return "avx2"
        default: return "portable"
        }
    }

    /// Limits the instruction set (2 AVX-512, 1 AVX2, 0 portable, nil automatic); for tests.
    static func force(_ level: Int?) { dk_force_isa(Int32(level ?? -1)) }

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
        g.has_ignore = plan.hasIgnore ? 1 : 0
        g.ignore = plan.ignore
        g.label_offset = plan.labelOffset
        g.label_limit = Int32(plan.labelClasses)
        return g
    }

    /// Pass 1 for positions s0..<s1 of sample n; writes the same slot layout as the Swift pass.
    static func statistics(plan: LossPlan, x: UnsafeRawPointer, labels: UnsafePointer<Int32>,
                           probabilities: UnsafeMutableRawPointer?, n: Int, s0: Int, s1: Int,
                           out: UnsafeMutablePointer<Double>, bad: UnsafeMutablePointer<Int>) {
        var g = geometry(plan, s0, s1)
        var stats = dk_stats()
        let sample = n * plan.c * plan.s
        let xf = x.assumingMemoryBound(to: Float.self) + sample
        let pf = probabilities.map { $0.assumingMemoryBound(to: Float.self) + sample }
        dk_stats_f32(&g, xf, labels + n * plan.s, pf, &stats)
        let c = plan.c
        withUnsafeBytes(of: &stats.tp) { tp in
            withUnsafeBytes(of: &stats.p) { p in
                withUnsafeBytes(of: &stats.g) { gg in
                    for k in 0..<c {
                        out[k] = tp.load(fromByteOffset: 8 * k, as: Double.self)
                        out[c + k] = p.load(fromByteOffset: 8 * k, as: Double.self)
                        out[2 * c + k] = gg.load(fromByteOffset: 8 * k, as: Double.self)
                        out[3 * c + k] = 0
                    }
                }
            }
        }
        out[4 * c] = stats.counted
        out[4 * c + 1] = stats.ce
        if stats.nonfinite != 0 { bad[0] = sample + s0 }
        if stats.bad_label != 0 { bad[1] = n * plan.s + s0 }
    }

    /// Pass 2 for positions s0..<s1 of sample n; `a`, `b` are [N, C] Float coefficients and
    /// `crossEntropyScale` the factor of (p − g) from the cross-entropy term.
    static func gradient(plan: LossPlan, labels: UnsafePointer<Int32>, grad: UnsafeMutableRawPointer,
                         n: Int, s0: Int, s1: Int, a: UnsafeRawPointer, b: UnsafeRawPointer, crossEntropyScale: Float) {
        var g = geometry(plan, s0, s1)
        g.ce_scale = crossEntropyScale
        let sample = n * plan.c * plan.s
        dk_grad_f32(&g, labels + n * plan.s, grad.assumingMemoryBound(to: Float.self) + sample,
                    a.assumingMemoryBound(to: Float.self) + n * plan.c, b.assumingMemoryBound(to: Float.self) + n * plan.c)
    }
}
