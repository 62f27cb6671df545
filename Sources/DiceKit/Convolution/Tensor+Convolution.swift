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
                guard let source = source.baseAddress, let total = total.baseAddress else { return }
                addChannelRows(source, count: rows * channels, into: total, width: channels)
            }
        }
        return Tensor(uncheckedShape: [channels], storage: sums)
    }
}

/// Adds `count` consecutive elements into the `width` accumulators `sum`: accumulator i
/// receives the elements ≡ i mod width, one at a time in the order they lie in memory, so the
/// result has the bits of the plain loop `for each row { for i { sum[i] += row[i] } }`. Sixteen
/// accumulators at a time stay in one vector register across all the rows (four vectors at a
/// time, four independent chains, while 64 or more remain); a lane-wise vector add is the same
/// IEEE addition as the scalar one. The accumulators left over (width mod 16) and a last
/// partial row take the plain loop.
func addChannelRows<T: BLASScalar>(
    _ source: UnsafePointer<T>, count: Int, into sum: UnsafeMutablePointer<T>, width: Int
) {
    guard width > 0 else { return }
    let rows = count / width
    let raw = UnsafeRawPointer(source)
    let stride = width * MemoryLayout<T>.stride
    func load(_ r: Int, _ c: Int) -> SIMD16<T> {
        raw.loadUnaligned(fromByteOffset: r * stride + c * MemoryLayout<T>.stride, as: SIMD16<T>.self)
    }
    func accumulator(_ c: Int) -> SIMD16<T> {
        UnsafeRawPointer(sum).loadUnaligned(fromByteOffset: c * MemoryLayout<T>.stride, as: SIMD16<T>.self)
    }
    func store(_ v: SIMD16<T>, _ c: Int) {
        UnsafeMutableRawPointer(sum).storeBytes(of: v, toByteOffset: c * MemoryLayout<T>.stride, as: SIMD16<T>.self)
    }
    var c = 0
    while width - c >= 64 {
        var (a0, a1, a2, a3) = (accumulator(c), accumulator(c + 16), accumulator(c + 32), accumulator(c + 48))
        for r in 0..<rows {
            a0 += load(r, c)
            a1 += load(r, c + 16)
            a2 += load(r, c + 32)
            a3 += load(r, c + 48)
        }
        store(a0, c)
        store(a1, c + 16)
        store(a2, c + 32)
        store(a3, c + 48)
        c += 64
    }
    while width - c >= 16 {
        var a = accumulator(c)
        for r in 0..<rows { a += load(r, c) }
        store(a, c)
        c += 16
    }
    if c < width {
        for r in 0..<rows {
            let row = source + r * width
            for i in c..<width { sum[i] += row[i] }
        }
    }
    let last = source + rows * width
    for i in 0..<(count - rows * width) { sum[i] += last[i] }
}
