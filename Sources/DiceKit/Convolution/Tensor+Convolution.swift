// Small Tensor helpers for the convolution kernels: hand-off from generic public entry points
// to the Float or Double instantiation, and per-channel sums.

extension Tensor {
    /// The same tensor viewed as `Tensor<U>`; `U` must be `Scalar` (checked).
    ///
    /// Public generic entry points switch on `Scalar.precision` and call the concrete Float or
    /// Double kernels through this, so no hot loop runs unspecialised across modules.
    @inline(__always)
    func reinterpreted<U: BLASScalar>(as _: U.Type = U.self) -> Tensor<U> {
        precondition(Scalar.self == U.self, "reinterpreted: \(Scalar.self) is not \(U.self)")
        return unsafeBitCast(self, to: Tensor<U>.self)
    }

    /// The sum over every axis but the last: [*, C] → [C] (the bias gradient of a channels-last
    /// tensor). Accumulated in the tensor's precision, row by row.
    func channelSums() -> Tensor {
        let channels = shape.last ?? 1
        var sums = [Scalar](repeating: 0, count: channels)
        let rows = channels == 0 ? 0 : count / channels
        withUnsafeBufferPointer { source in
            sums.withUnsafeMutableBufferPointer { total in
                for r in 0..<rows {
                    let base = r * channels
                    for c in 0..<channels { total[c] += source[base + c] }
                }
            }
        }
        return Tensor(uncheckedShape: [channels], storage: sums)
    }
}

/// Calls `float` when `T` is Float and `double` when it is Double: the hand-off from a generic
/// public entry point to concrete, fully specialised code.
@inline(__always)
func specialised<T: BLASScalar, R>(_: T.Type, float: () throws -> R, double: () throws -> R) rethrows -> R {
    switch T.precision {
    case .single: return try float()
    case .double: return try double()
    }
}
