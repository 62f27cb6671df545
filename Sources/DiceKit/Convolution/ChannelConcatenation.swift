// Concatenation along the channel (last) axis of channels-last tensors, and its adjoint, the
// split, which the backward pass of a U-Net's skip connection uses.

extension Tensor {
    /// The tensors joined along the last (channel) axis: [*, C₁] ⊕ … ⊕ [*, C_k] → [*, C₁ + … + C_k].
    ///
    /// - Throws: `DiceKitError.shape` when the list is empty, a tensor is rank 0, or the shapes
    ///   differ other than in the last axis.
    public static func concatenatingChannels(_ tensors: [Tensor]) throws -> Tensor {
        let leading = Array(try concatenatedChannelShape(tensors.map(\.shape)).dropLast())
        return specialised(
            Scalar.self,
            float: {
                ChannelKernels.concatenate(tensors.map { $0.reinterpreted(as: Float.self) }, leading: leading)
                    .reinterpreted()
            },
            double: {
                ChannelKernels.concatenate(tensors.map { $0.reinterpreted(as: Double.self) }, leading: leading)
                    .reinterpreted()
            })
    }

    /// The shape of the channel concatenation of tensors of these shapes.
    ///
    /// - Throws: as `concatenatingChannels`.
    static func concatenatedChannelShape(_ shapes: [[Int]]) throws -> [Int] {
        guard let first = shapes.first, !first.isEmpty else {
            throw DiceKitError.shape("channel concatenation needs at least one tensor of rank ≥ 1")
        }
        for shape in shapes where shape.count != first.count || shape.dropLast() != first.dropLast() {
            throw DiceKitError.shape(
                "channel concatenation: shape \(shape) does not match \(first) except in the last axis")
        }
        return first.dropLast() + [shapes.reduce(0) { $0 + $1.last! }]
    }

    /// The tensor cut along the last axis into pieces of `channels` channels each (the adjoint
    /// of `concatenatingChannels`): [*, C₁ + … + C_k] → [*, C₁], …, [*, C_k].
    ///
    /// - Throws: `DiceKitError.shape` when the counts are negative or do not add up to the last extent.
    public func splittingChannels(_ channels: [Int]) throws -> [Tensor] {
        guard rank >= 1, channels.allSatisfy({ $0 >= 0 }), channels.reduce(0, +) == shape[rank - 1] else {
            throw DiceKitError.shape(
                "channel split: counts \(channels) do not add up to the last axis of shape \(shape)")
        }
        return specialised(
            Scalar.self,
            float: {
                ChannelKernels.split(reinterpreted(as: Float.self), channels).map { $0.reinterpreted() }
            },
            double: {
                ChannelKernels.split(reinterpreted(as: Double.self), channels).map { $0.reinterpreted() }
            })
    }

    /// `splittingChannels` into two halves, the first ⌊C/2⌋ channels and the rest (a U-Net
    /// decoder's input gradient: its up-sampled and skip parts).
    func splittingChannelsInHalves() throws -> [Tensor] {
        let channels = rank >= 1 ? shape[rank - 1] : 0
        return try splittingChannels([channels / 2, channels - channels / 2])
    }
}

enum ChannelKernels {
    // Rows are short (a U-Net's skip has 16–256 channels), so the copies are plain loops the
    // compiler vectorises rather than one memmove call per row, and outputs are not zero-filled
    // first: every element is written exactly once.

    static func concatenate<T: BLASScalar>(_ tensors: [Tensor<T>], leading: [Int]) -> Tensor<T> {
        let rows = leading.reduce(1, *)
        let widths = tensors.map { $0.shape.last! }
        let total = widths.reduce(0, +)
        let result = [T](unsafeUninitializedCapacity: rows * total) { out, initialized in
            var offset = 0
            for (t, width) in zip(tensors, widths) {
                t.withUnsafeBufferPointer { source in
                    let (from, to) = (source.baseAddress!, out.baseAddress! + offset)
                    // Rows in parallel (about 64k scalars per range): a copy this size is bandwidth-bound.
                    // Each range writes its own rows.
                    let shared = TaskShared((from, to))
                    WorkerPool.shared.forEachRange(rows, grain: Swift.max(1, (1 << 16) / total)) { range in
                        let (from, to) = shared.buffers
                        copyRows(
                            rows: range.count, width: width, from: from + range.lowerBound * width, sourceStride: width,
                            to: to + range.lowerBound * total, destinationStride: total)
                    }
                }
                offset += width
            }
            initialized = rows * total
        }
        return Tensor(uncheckedShape: leading + [total], storage: result)
    }

    static func split<T: BLASScalar>(_ tensor: Tensor<T>, _ widths: [Int]) -> [Tensor<T>] {
        let total = tensor.shape.last!
        let leading = Array(tensor.shape.dropLast())
        let rows = leading.reduce(1, *)
        var pieces: [Tensor<T>] = []
        var offset = 0
        tensor.withUnsafeBufferPointer { source in
            for width in widths {
                let piece = [T](unsafeUninitializedCapacity: rows * width) { out, initialized in
                    let (from, to) = (source.baseAddress! + offset, out.baseAddress!)
                    // Each range writes its own rows.
                    let shared = TaskShared((from, to))
                    WorkerPool.shared.forEachRange(rows, grain: Swift.max(1, (1 << 16) / total)) { range in
                        let (from, to) = shared.buffers
                        copyRows(
                            rows: range.count, width: width, from: from + range.lowerBound * total, sourceStride: total,
                            to: to + range.lowerBound * width, destinationStride: width)
                    }
                    initialized = rows * width
                }
                pieces.append(Tensor(uncheckedShape: leading + [width], storage: piece))
                offset += width
            }
        }
        return pieces
    }

    @inline(__always)
    private static func copyRows<T: BLASScalar>(
        rows: Int, width: Int, from source: UnsafePointer<T>, sourceStride: Int,
        to destination: UnsafeMutablePointer<T>, destinationStride: Int
    ) {
        guard width > 0 else { return }
        for r in 0..<rows {
            let s = source + r * sourceStride
            let d = destination + r * destinationStride
            for k in 0..<width { (d + k).initialize(to: s[k]) }
        }
    }
}
