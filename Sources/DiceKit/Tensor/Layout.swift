// Channels-last ⇄ channels-first conversion.
//
// (N, S₁…S_k, C) → (N, C, S₁…S_k) is, for every sample, the transpose of an [S × C] matrix
// with S = S₁⋯S_k, and the inverse is the transpose of [C × S]. Blocks of 32×32 keep both the
// reads and the writes within cache lines.

/// Where the channel axis of an image tensor sits.
public enum Layout: String, Sendable, CaseIterable {
    /// (N, H, W, C) or (N, D, H, W, C): TensorFlow's and DiceKit's default.
    case channelsLast = "channels-last"
    /// (N, C, H, W) or (N, C, D, H, W): PyTorch's and MONAI's.
    case channelsFirst = "channels-first"

    /// The index of the channel axis in a tensor of the given rank.
    public func channelAxis(rank: Int) -> Int { self == .channelsLast ? rank - 1 : 1 }
}

extension Tensor {
    /// The tensor with its channel axis moved from `source` layout to `target` layout.
    ///
    /// Shapes: channels-last (N, S…, C) ⇄ channels-first (N, C, S…), for 2-D images (rank 4),
    /// volumes (rank 5) or any rank ≥ 3. Converting to the same layout returns `self`.
    ///
    /// - Throws: `DiceKitError.shape` when the rank is below 3.
    public func converted(from source: Layout, to target: Layout) throws -> Tensor {
        guard rank >= 3 else {
            throw DiceKitError.shape("layout conversion needs rank ≥ 3 (N, spatial…, C), got shape \(shape)")
        }
        if source == target { return self }
        // Concrete Float or Double code: from another module, a generic loop would copy each
        // element through the protocol's witnesses.
        return specialised(
            Scalar.self,
            float: { reinterpreted(as: Float.self).transposedLayout(from: source, to: target).reinterpreted() },
            double: { reinterpreted(as: Double.self).transposedLayout(from: source, to: target).reinterpreted() })
    }

    /// `converted(from:to:)` between two different layouts of a tensor of rank ≥ 3.
    private func transposedLayout(from source: Layout, to target: Layout) -> Tensor {
        let batch = shape[0]
        let channels = source == .channelsLast ? shape[rank - 1] : shape[1]
        let spatial = source == .channelsLast ? Array(shape[1..<(rank - 1)]) : Array(shape[2...])
        let positions = spatial.reduce(1, *)
        // Per sample: source is [rows × cols] row-major, target is its transpose.
        let (rows, cols) = source == .channelsLast ? (positions, channels) : (channels, positions)
        var result = [Scalar](repeating: 0, count: count)
        storage.withUnsafeBufferPointer { src in
            result.withUnsafeMutableBufferPointer { dst in
                let block = 32
                for n in 0..<batch {
                    let base = n * rows * cols
                    for r0 in stride(from: 0, to: rows, by: block) {
                        let r1 = Swift.min(r0 + block, rows)
                        for c0 in stride(from: 0, to: cols, by: block) {
                            let c1 = Swift.min(c0 + block, cols)
                            for r in r0..<r1 {
                                for c in c0..<c1 { dst[base + c * rows + r] = src[base + r * cols + c] }
                            }
                        }
                    }
                }
            }
        }
        let newShape = target == .channelsFirst ? [batch, channels] + spatial : [batch] + spatial + [channels]
        return Tensor(uncheckedShape: newShape, storage: result)
    }
}
