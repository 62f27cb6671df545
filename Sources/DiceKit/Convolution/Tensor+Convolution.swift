// Small Tensor helpers for the convolution kernels: per-channel sums. (The Float/Double hand-off,
// `specialised` and `reinterpreted`, is in Support/ScalarSpecialisation.swift.)

extension Tensor {
    /// The sum over every axis but the last: [*, C] → [C] (the bias gradient of a channels-last
    /// tensor). Accumulated in the tensor's precision, row by row.
    ///
    /// Continues in concrete Float or Double code: its callers may run unspecialised.
    func channelSums() -> Tensor {
        specialised(
            Scalar.self, float: { reinterpreted(as: Float.self).concreteChannelSums().reinterpreted() },
            double: { reinterpreted(as: Double.self).concreteChannelSums().reinterpreted() })
    }

    /// `channelSums` for a concrete scalar type.
    private func concreteChannelSums() -> Tensor {
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
