// The bfloat16 exact tilings (BFloat16ExactTiling.swift): 2 × 2 (2 × 2 × 2) stride-2 transposed
// convolutions, a U-Net's up-samplings, and a stride-2 convolution that computes no input
// gradient, against Double within the bound of BFloat16ConvolutionTests' header, on the
// arithmetic the class forces (BFloat16TileConvolutionTests runs them on the tiles).

import XCTest

@testable import DiceKit

extension BFloat16ConvolutionTests {
    /// A 2×2 (or, for a volume, 2×2×2) stride-2 transposed convolution (BFloat16ExactTiling.swift)
    /// against Double: forward reduction K = Cin, input gradient K = 4·Cout (8·Cout), weight
    /// gradient K = N × input positions.
    private func checkTransposed(
        input: [Int], cout: Int, workers: Int? = nil, seed: UInt64, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let cin = input.last!
        let spatial = input.count - 2
        let x = randomTensor(input, seed: seed)
        let w = randomTensor(Array(repeating: 2, count: spatial) + [cout, cin], seed: seed + 1)
        let b = randomTensor([cout], seed: seed + 2)
        let exact = try TransposedConvolution(weight: w, bias: b, stride: [2])
        let absolute = try TransposedConvolution(weight: w.map(abs), stride: [2])
        let float = try TransposedConvolution(
            weight: w.converted(to: Float.self), bias: b.converted(to: Float.self), stride: [2])
        var bf16 = float
        bf16.settings = ConvolutionSettings(workers: workers, precision: .bfloat16)
        let y = try exact.forward(x)
        let dy = randomTensor(y.shape, seed: seed + 3)
        let expected = try exact.backward(input: x, outputGradient: dy)
        let magnitudes = try absolute.backward(input: x.map(abs), outputGradient: dy.map(abs))
        let (xf, dyf) = (x.converted(to: Float.self), dy.converted(to: Float.self))
        let before = tileCalls
        let y16 = try bf16.forward(xf)
        assertKernelRan(since: before, file: file, line: line)
        assertWithinBound(y16, y, try absolute.forward(x.map(abs)), reduction: cin, "forward", file: file, line: line)
        XCTAssertNotEqual(
            y16.scalars, try float.forward(xf).scalars, "forward: the Float path's bits", file: file, line: line)
        let grads = try bf16.backward(input: xf, outputGradient: dyf)
        assertWithinBound(
            grads.input!, expected.input!, magnitudes.input!, reduction: (1 << spatial) * cout, "∂x", file: file,
            line: line)
        assertWithinBound(
            grads.weight, expected.weight, magnitudes.weight, reduction: input.dropLast().reduce(1, *), "∂w",
            file: file, line: line)
        // The bias gradient is the Float channel sum of dy, as without bfloat16.
        XCTAssertEqual(
            grads.bias!.scalars, try float.backward(input: xf, outputGradient: dyf).bias!.scalars, file: file,
            line: line)
        // The weight gradient alone (no input gradient, so no packed weights): the same bits.
        let weightOnly = try bf16.backward(input: xf, outputGradient: dyf, computeInputGradient: false)
        XCTAssertNil(weightOnly.input, file: file, line: line)
        XCTAssertEqual(weightOnly.weight.scalars, grads.weight.scalars, "∂w alone", file: file, line: line)
        try checkRoundedInput(bf16, input: xf, outputGradient: dyf, expected: grads, file: file, line: line)
    }

    /// The backward pass of `up` with its input given as its bfloat16 rounding (a kept activation):
    /// the same bits as from the Float input, with and without the input gradient; read as it is
    /// (`backwardReadsRoundedInput`) on the dot products and on the tiles.
    private func checkRoundedInput(
        _ up: TransposedConvolution<Float>, input: Tensor<Float>, outputGradient: Tensor<Float>,
        expected: ConvolutionGradients<Float>, file: StaticString, line: UInt
    ) throws {
        XCTAssertTrue(up.backwardReadsRoundedInput(input.shape), file: file, line: line)
        let rounded = BFloat16Activation(rounding: input)
        let g = try up.geometry(input.shape)
        for inputGradient in [true, false] {
            let r = ConvolutionKernels.transposedBackward(
                g, rounded: rounded, weight: up.weight, outputGradient: outputGradient, inputGradient: inputGradient,
                settings: up.settings, bfloat16Weights: up.packings)
            XCTAssertEqual(r.weight.scalars, expected.weight.scalars, "∂w from bits", file: file, line: line)
            XCTAssertEqual(r.input?.scalars, inputGradient ? expected.input!.scalars : nil, file: file, line: line)
        }
        let grads = try up.backward(rounded: rounded, outputGradient: outputGradient, computeInputGradient: true)
        XCTAssertEqual(grads.weight.scalars, expected.weight.scalars, "∂w, layer path", file: file, line: line)
        XCTAssertEqual(grads.input!.scalars, expected.input!.scalars, "∂x, layer path", file: file, line: line)
        XCTAssertNil(grads.bias, file: file, line: line)
    }

    func testTransposedOneChunk() throws {
        // 70 rows, odd width, K = 64: one chunk; 16 output channels (one vector per tile row).
        try checkTransposed(input: [2, 5, 7, 32], cout: 16, seed: 1280)
    }

    /// 8 x-space channels, not a multiple of 16: the forward pass is the chunked one of
    /// BFloat16ExactTiling.swift (a Float tile of each chunk's products, then scattered).
    func testTransposedFewChannelsTakeTheChunkedForward() throws {
        try checkTransposed(input: [2, 5, 7, 32], cout: 8, seed: 1285)
    }

    /// The dot-product up-sampling stores each 16 channels of fill + dy · Wᵀ at its x pixel
    /// (dk_conv_geometry.ud/uh/uw), the fill added after the sum: the bits of a bfloat16
    /// convolution of dy into kd·kh·kw·C columns whose kernel is W at its centre, scattered here
    /// with the fill added. One image of odd width (its rows shared by the two workers), then a
    /// batch of volumes.
    func testTransposedForwardIsTheScatteredProduct() throws {
        try checkScattered(x: [1, 5, 7, 32], up: 16, seed: 1330)
        try checkScattered(x: [2, 3, 4, 5, 32], up: 32, seed: 1335)
    }

    private func checkScattered(x xShape: [Int], up channels: Int, seed: UInt64) throws {
        let spatial = xShape.count - 2
        let (cin, taps) = (xShape.last!, 1 << spatial)
        let x = randomTensor(xShape, seed: seed).converted(to: Float.self)
        let w = randomTensor(Array(repeating: 2, count: spatial) + [channels, cin], seed: seed + 1)
            .converted(to: Float.self)
        let fill = randomTensor([channels], seed: seed + 2).converted(to: Float.self).scalars
        let settings = ConvolutionSettings(workers: 2, precision: .bfloat16)
        let up = try TransposedConvolution(weight: w, bias: Tensor(fill), stride: [2], settings: settings)
        let before = tileCalls
        let y = try up.forward(x)
        assertKernelRan(since: before, file: #filePath, line: #line)
        // W as the centre of a 3×3 (×3) kernel [taps₃, cin, taps·channels], zero elsewhere: column
        // t·channels + c is W[t][c][·]. The direct kernels take no 1×1 pass; around the centre
        // the products are exact zeros, which leave each sum as the centre's terms make it.
        let (centre, width) = (spatial == 3 ? 13 : 4, taps * channels)
        var columns = [Float](repeating: 0, count: (spatial == 3 ? 27 : 9) * cin * width)
        for t in 0..<taps {
            for c in 0..<channels {
                for ci in 0..<cin {
                    columns[(centre * cin + ci) * width + t * channels + c] = w.scalars[(t * channels + c) * cin + ci]
                }
            }
        }
        let pointwise = try Convolution(
            weight: Tensor(shape: Array(repeating: 3, count: spatial) + [cin, width], scalars: columns),
            padding: .same, settings: settings)
        let product = try pointwise.forward(x).scalars
        var expected = [Float](repeating: .nan, count: y.count)
        let grid = Array(xShape[1...spatial])
        let outer = grid.map { 2 * $0 }
        let (pixels, outerPixels) = (grid.reduce(1, *), outer.reduce(1, *))
        for n in 0..<xShape[0] {
            for p in 0..<pixels {
                // Coordinates (z, y, x) of pixel p; a 2-D grid has one plane.
                let (z, r) = spatial == 3 ? (p / (grid[1] * grid[2]), p % (grid[1] * grid[2])) : (0, p)
                let (row, column) = (r / grid[spatial - 1], r % grid[spatial - 1])
                for t in 0..<taps {
                    let (a, b, c) = spatial == 3 ? (t / 4, t / 2 % 2, t % 2) : (0, t / 2, t % 2)
                    let (oz, oy, ox) = (2 * z + a, 2 * row + b, 2 * column + c)
                    let target = spatial == 3 ? (oz * outer[1] + oy) * outer[2] + ox : oy * outer[1] + ox
                    for ch in 0..<channels {
                        expected[(n * outerPixels + target) * channels + ch] =
                            fill[ch] + product[((n * pixels + p) * taps + t) * channels + ch]
                    }
                }
            }
        }
        let differing = zip(y.scalars, expected).filter { $0.bitPattern != $1.bitPattern }
        XCTAssertTrue(
            differing.isEmpty,
            "\(differing.count) of \(y.count) differ, the first \(differing.prefix(3)), the largest difference "
                + "\(differing.map { abs($0 - $1) }.max() ?? 0)")
    }

    func testTransposedSeveralChunksAndPartials() throws {
        // 297 rows in chunks of 128 (K = 256), chunks starting mid-line; 48 input channels.
        try checkTransposed(input: [3, 9, 11, 48], cout: 64, workers: 2, seed: 1290)
    }

    /// A large kernel over few rows (the deepest up-samplings): the weight gradient runs once
    /// over the whole batch (BFloat16ExactTiling.swift), in one chunk of 32 rows, then in four
    /// (105 rows, the last chunk odd) with two workers. Then 128 gradient columns (the up-sampling's
    /// input channels) over two chunks of 64 and 41 rows: the chunks' packings of dy are read as
    /// one packing of the whole batch, which holds only while that packing runs over all of a
    /// row's columns (not in blocks of 64 columns, as the forward pass's packed kernels do).
    func testTransposedWholeBatchWeightGradient() throws {
        try checkTransposed(input: [2, 4, 4, 128], cout: 128, seed: 1295)
        try checkTransposed(input: [3, 5, 7, 64], cout: 256, workers: 2, seed: 1296)
        try checkTransposed(input: [3, 5, 7, 128], cout: 128, workers: 2, seed: 1297)
    }

    /// A 2 × 2, stride-2 convolution that computes no input gradient (a first layer that cuts its
    /// input into patches) runs its backward pass as an exact tiling (BFloat16ExactTiling.swift):
    /// the weight gradient within the bound of K = N × output positions, the bias gradient the
    /// Float channel sums of dy.
    func testPatchingConvolutionWithoutInputGradient() throws {
        let x = randomTensor([2, 8, 10, 32], seed: 1340)
        let w = randomTensor([2, 2, 32, 16], seed: 1341)
        let b = randomTensor([16], seed: 1342)
        let exact = try Convolution(weight: w, bias: b, stride: [2], settings: ConvolutionSettings(allowsDirect: false))
        let absolute = try Convolution(
            weight: w.map(abs), stride: [2], settings: ConvolutionSettings(allowsDirect: false))
        let bf16 = try Convolution(
            weight: w.converted(to: Float.self), bias: b.converted(to: Float.self), stride: [2],
            settings: ConvolutionSettings(workers: 2, precision: .bfloat16))
        XCTAssertTrue(try bf16.geometry(x.shape).tilesExactly)
        let dy = randomTensor(try exact.forward(x).shape, seed: 1343)
        let expected = try exact.backward(input: x, outputGradient: dy, computeInputGradient: false)
        let magnitudes = try absolute.backward(
            input: x.map(abs), outputGradient: dy.map(abs), computeInputGradient: false)
        let dyf = dy.converted(to: Float.self)
        let grads = try bf16.backward(
            input: x.converted(to: Float.self), outputGradient: dyf, computeInputGradient: false)
        XCTAssertNil(grads.input)
        assertWithinBound(grads.weight, expected.weight, magnitudes.weight, reduction: 2 * 4 * 5, "∂w")
        XCTAssertEqual(grads.bias!.scalars, dyf.channelSums().scalars)
    }

    /// 2×2×2 up-samplings of volumes: one chunk (2·3·4·5 = 120 rows, K = 8·32); chunks that start
    /// within a line and within a plane (3·5·6·7 = 630 rows in chunks of 128, K = 256) with the
    /// partial weight gradients; the whole batch's weight gradient (K = 8·64 = 512 over 2·3³ rows).
    func testTransposedVolumes() throws {
        try checkTransposed(input: [2, 3, 4, 5, 16], cout: 32, seed: 1310)
        try checkTransposed(input: [3, 5, 6, 7, 32], cout: 32, workers: 2, seed: 1315)
        try checkTransposed(input: [2, 3, 3, 3, 64], cout: 64, workers: 2, seed: 1320)
    }

    func testTransposedSameBitsForEveryWorkerCount() throws {
        // Partial sums over chunks (K = 256 over 297 rows), then the whole batch (K = 1024 over 105),
        // then a volume (K = 256 over 630 rows).
        try checkSameBits(x: [3, 9, 11, 32], up: 64, seed: 1300)
        try checkSameBits(x: [3, 5, 7, 64], up: 256, seed: 1305)
        try checkSameBits(x: [3, 5, 6, 7, 32], up: 32, seed: 1325)
    }

    private func checkSameBits(x xShape: [Int], up channels: Int, seed: UInt64) throws {
        let spatial = xShape.count - 2
        let x = randomTensor(xShape, seed: seed).converted(to: Float.self)
        let w = randomTensor(Array(repeating: 2, count: spatial) + [channels, xShape.last!], seed: seed + 1)
            .converted(to: Float.self)
        let dy = randomTensor([xShape[0]] + xShape[1...spatial].map { 2 * $0 } + [channels], seed: seed + 2)
            .converted(to: Float.self)
        var results: [[Float]] = []
        for workers in [1, 2, 3] {
            let up = try TransposedConvolution(
                weight: w, stride: [2], settings: ConvolutionSettings(workers: workers, precision: .bfloat16))
            let g = try up.backward(input: x, outputGradient: dy)
            results.append(try up.forward(x).scalars + g.input!.scalars + g.weight.scalars)
        }
        XCTAssertEqual(results[0], results[1])
        XCTAssertEqual(results[0], results[2])
    }
}
