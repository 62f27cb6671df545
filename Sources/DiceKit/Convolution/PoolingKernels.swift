// Max and average pooling, 2-D and 3-D, on channels-last tensors, with their backward passes.
// Geometry as a convolution with one channel group (normalised to three spatial axes):
//   out = ⌊(in + before + after − kernel) / stride⌋ + 1 per axis (floor mode, as PyTorch's default).
// Max pooling ignores the padding (as −∞) and records the flat input index of each maximum, so
// its backward pass routes each output gradient to exactly one input element. Average pooling
// counts padded zeros in the divisor by default (PyTorch's count_include_pad = True).

/// Validated kernel and stride lists of a pooling layer.
func poolingWindow(_ kernel: [Int], _ stride: [Int]?, operation: String) throws -> ([Int], [Int]) {
    guard kernel.count == 2 || kernel.count == 3, kernel.allSatisfy({ $0 >= 1 }) else {
        throw DiceKitError.option("\(operation): kernel size \(kernel) needs 2 or 3 entries ≥ 1")
    }
    let s = try broadcastSpatial(stride ?? kernel, rank: kernel.count, name: "\(operation) stride")
    guard s.allSatisfy({ $0 >= 1 }) else { throw DiceKitError.option("\(operation): stride must be ≥ 1, got \(s)") }
    return (kernel, s)
}

/// The geometry of a pooling window as a one-group convolution that keeps the channels.
func poolingGeometry(
    _ inputShape: [Int], _ kernel: [Int], _ stride: [Int], _ padding: Padding,
    operation: String
) throws -> ConvGeometry {
    let rank = kernel.count
    guard inputShape.count == rank + 2 else {
        throw DiceKitError.shape(
            "\(operation): input shape \(inputShape) has rank \(inputShape.count); expected \(rank + 2) for kernel \(kernel)"
        )
    }
    let channels = inputShape[rank + 1]
    let g = try ConvGeometry(
        operation: operation, inputShape: inputShape, kernel: kernel, inPerGroup: Swift.max(channels, 1),
        outChannels: Swift.max(channels, 1), stride: stride, padding: padding, dilation: [1], groups: 1)
    for i in 0..<3 where g.padBefore[i] >= g.kernel[i] || g.padAfter[i] >= g.kernel[i] {
        throw DiceKitError.option(
            "\(operation): padding \(g.padBefore.suffix(rank))/\(g.padAfter.suffix(rank)) must be below the kernel \(kernel)"
        )
    }
    return g
}

/// The loops of max and average pooling, called with concrete Float or Double.
enum PoolingKernels {
    /// The clipped window of output coordinate `o` along one axis: input range and its full extent.
    @inline(__always)
    static func window(_ o: Int, stride: Int, pad: Int, kernel: Int, extent: Int) -> Range<Int> {
        let start = o * stride - pad
        return Swift.max(start, 0)..<Swift.min(start + kernel, extent)
    }

    /// Calls `body` for every output position in row-major order with its sample, its output
    /// row (position index) and its clipped input window along depth, height and width.
    @inline(__always)
    static func forEachWindow(
        _ g: ConvGeometry,
        _ body: (_ n: Int, _ row: Int, _ window: (Range<Int>, Range<Int>, Range<Int>)) -> Void
    ) {
        var row = 0
        for n in 0..<g.batch {
            for od in 0..<g.output[0] {
                let rd = window(od, stride: g.stride[0], pad: g.padBefore[0], kernel: g.kernel[0], extent: g.input[0])
                for oh in 0..<g.output[1] {
                    let rh = window(
                        oh, stride: g.stride[1], pad: g.padBefore[1], kernel: g.kernel[1], extent: g.input[1])
                    for ow in 0..<g.output[2] {
                        let rw = window(
                            ow, stride: g.stride[2], pad: g.padBefore[2], kernel: g.kernel[2], extent: g.input[2])
                        body(n, row, (rd, rh, rw))
                        row += 1
                    }
                }
            }
        }
    }

    /// Calls `body` with the flat offset of the first channel of every input cell in a window.
    @inline(__always)
    static func forEachCell(
        _ g: ConvGeometry, sample n: Int, _ w: (Range<Int>, Range<Int>, Range<Int>),
        _ body: (_ base: Int) -> Void
    ) {
        let (inD, inH, inW, c) = (g.input[0], g.input[1], g.input[2], g.inChannels)
        for id in w.0 {
            for ih in w.1 {
                for iw in w.2 { body((((n * inD + id) * inH + ih) * inW + iw) * c) }
            }
        }
    }

    static func max<T: BLASScalar>(_ g: ConvGeometry, _ x: Tensor<T>) -> (Tensor<T>, [Int]) {
        let c = g.inChannels
        var y = [T](repeating: 0, count: g.outputRows * c)
        var argmax = [Int](repeating: 0, count: g.outputRows * c)
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                argmax.withUnsafeMutableBufferPointer { pa in
                    forEachWindow(g) { n, row, w in
                        let out = row * c
                        var first = true
                        forEachCell(g, sample: n, w) { base in
                            if first {
                                for k in 0..<c {
                                    py[out + k] = px[base + k]
                                    pa[out + k] = base + k
                                }
                                first = false
                            } else {
                                for k in 0..<c {
                                    let v = px[base + k]
                                    if v > py[out + k] || (v.isNaN && !py[out + k].isNaN) {
                                        py[out + k] = v
                                        pa[out + k] = base + k
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return (Tensor(uncheckedShape: g.outputShape, storage: y), argmax)
    }

    static func scatter<T: BLASScalar>(_ dy: Tensor<T>, argmax: [Int], inputShape: [Int], count: Int) -> Tensor<T> {
        var dx = [T](repeating: 0, count: count)
        dy.withUnsafeBufferPointer { pdy in
            dx.withUnsafeMutableBufferPointer { pdx in
                for i in 0..<pdy.count { pdx[argmax[i]] += pdy[i] }
            }
        }
        return Tensor(uncheckedShape: inputShape, storage: dx)
    }

    /// The divisor of one window: the window volume (padding counted; in floor mode every
    /// window fits inside the padded input) or the number of input cells it covers.
    @inline(__always)
    static func divisor(_ g: ConvGeometry, clipped: (Range<Int>, Range<Int>, Range<Int>), countIncludesPadding: Bool)
        -> Int
    {
        countIncludesPadding ? g.kernelVolume : clipped.0.count * clipped.1.count * clipped.2.count
    }

    static func average<T: BLASScalar>(_ g: ConvGeometry, _ x: Tensor<T>, countIncludesPadding: Bool) -> Tensor<T> {
        let c = g.inChannels
        var y = [T](repeating: 0, count: g.outputRows * c)
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                forEachWindow(g) { n, row, w in
                    let out = row * c
                    forEachCell(g, sample: n, w) { base in
                        for k in 0..<c { py[out + k] += px[base + k] }
                    }
                    let scale = 1 / T(divisor(g, clipped: w, countIncludesPadding: countIncludesPadding))
                    for k in 0..<c { py[out + k] *= scale }
                }
            }
        }
        return Tensor(uncheckedShape: g.outputShape, storage: y)
    }

    static func averageBackward<T: BLASScalar>(_ g: ConvGeometry, _ dy: Tensor<T>, countIncludesPadding: Bool)
        -> Tensor<T>
    {
        let c = g.inChannels
        var dx = [T](repeating: 0, count: g.batch * g.inputPixels * c)
        dy.withUnsafeBufferPointer { pdy in
            dx.withUnsafeMutableBufferPointer { pdx in
                forEachWindow(g) { n, row, w in
                    let out = row * c
                    let scale = 1 / T(divisor(g, clipped: w, countIncludesPadding: countIncludesPadding))
                    forEachCell(g, sample: n, w) { base in
                        for k in 0..<c { pdx[base + k] += scale * pdy[out + k] }
                    }
                }
            }
        }
        return Tensor(uncheckedShape: g.inputShape, storage: dx)
    }
}
