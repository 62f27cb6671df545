// Gradient-norm clipping over all parameters together, as torch.nn.utils.clip_grad_norm_.

internal import CDiceKitKernels

/// Scales every trainable parameter's gradient so that their global L2 norm is at most
/// `maxNorm`, and returns the norm before clipping (PyTorch's `clip_grad_norm_`):
/// ```
/// total = √(Σ_p ‖g_p‖²),   g_p ← g_p · min(1, maxNorm/(total + 1e-6))
/// ```
/// A non-finite total (a NaN or ∞ gradient) is returned as is and the gradients are scaled by
/// a NaN factor, as PyTorch does; check the returned norm to skip such a step. The squares sum
/// in Double, parameter after parameter; within a Float gradient over 16 interleaved partial sums
/// (dk_sum_squares_f32: a fixed order, the same bits on every CPU and thread count), within a
/// Double one in element order.
///
/// - Throws: `DiceKitError.invalidOption` unless maxNorm > 0 (as the optimisers do for theirs).
@discardableResult
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func clipGradientNorm<Scalar: BLASScalar>(_ parameters: [Parameter<Scalar>], maxNorm: Double) throws -> Double {
    try requireOption(maxNorm > 0, "gradient clipping max norm", maxNorm, expected: "> 0")
    var squares = 0.0
    for parameter in parameters where parameter.isTrainable {
        parameter.gradient.withUnsafeBufferPointer { g in
            if Scalar.self == Float.self, let base = g.baseAddress {
                squares += dk_sum_squares_f32(base.reinterpreted(), g.count)
            } else {
                for x in g { squares += Double(x) * Double(x) }
            }
        }
    }
    let total = squares.squareRoot()
    let coefficient = min(1, maxNorm / (total + 1e-6))
    if coefficient < 1 || !coefficient.isFinite {
        let factor = Scalar(coefficient)
        for parameter in parameters where parameter.isTrainable {
            parameter.gradient.withUnsafeMutableBufferPointer { g in
                for i in g.indices { g[i] *= factor }
            }
        }
    }
    return total
}
