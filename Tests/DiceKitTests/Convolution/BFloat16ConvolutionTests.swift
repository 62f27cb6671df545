// The bfloat16 convolution kernels (AVX512-BF16) against the exact result in Double, element by
// element, within the bound of BFloat16Convolution.swift:
//   |r − r_exact| ≤ (2u + u² + K·2⁻²⁴)·Σ|a||b| + 2⁻²³·|r_exact|,  u = 2⁻⁸,
// with K the reduction length (kernel volume × input channels for the forward and input
// gradient, N × output positions for the weight gradient), Σ|a||b| the same convolution of the
// absolute values, and the last term the Float rounding of the bias addition. Each case checks
// that the bfloat16 kernels ran and that they differ from the Float path (a test that the
// rounding really happens). BFloat16TileConvolutionTests runs the same cases on the tile arithmetic;
// BFloat16ExactTilingTests has the 2 × 2, stride-2 (exact tiling) cases.

internal import CDiceKitKernels
import XCTest

@testable import DiceKit

final class BFloat16ConvolutionTests: XCTestCase {
    /// The arithmetic the cases force: the dot-product kernels, whichever arithmetic this CPU
    /// picks (the rounded-operand arithmetic: BFloat16RoundedOperandsTests), or the tiles
    /// (`withTiles`, BFloat16TileConvolutionTests.swift).
    private(set) var arithmetic = BFloat16Arithmetic.dotProducts

    override func setUpWithError() throws {
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no AVX512-BF16: the bfloat16 kernels never run here")
        arithmetic = .dotProducts
        BFloat16Arithmetic.force(arithmetic)
    }

    /// Runs `body` with the tile arithmetic forced: on the tile unit where the AMX level is in
    /// use, else on the tile kernel's software model.
    func withTiles(_ body: () throws -> Void) rethrows {
        arithmetic = .tiles
        BFloat16Arithmetic.force(.tiles)
        try body()
    }

    /// Calls of the tile kernel so far, on the tile unit and on its model.
    var tileCalls: Int { dk_conv_tile_calls(0) + dk_conv_tile_calls(1) }

    /// Checks that the forced arithmetic's forward kernel ran since `tileCalls` was `before`.
    func assertKernelRan(since before: Int, file: StaticString, line: UInt) {
        if arithmetic == .tiles {
            XCTAssertGreaterThan(tileCalls, before, "the tile kernel did not run", file: file, line: line)
        } else {
            XCTAssertEqual(KernelDispatch.lastUsed(.bfloat16Convolution), .avx512, file: file, line: line)
        }
    }

    override func tearDown() {
        BFloat16Arithmetic.force(nil)
    }

    func assertWithinBound(
        _ actual: Tensor<Float>, _ exact: Tensor<Double>, _ magnitude: Tensor<Double>, reduction: Int,
        _ what: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(actual.shape, exact.shape, what, file: file, line: line)
        let u = 1.0 / 256
        let factor = 2 * u + u * u + Double(reduction) * 0x1p-24
        var worst = 0.0
        for i in 0..<exact.count {
            let error = abs(Double(actual.scalars[i]) - exact.scalars[i])
            let bound = factor * magnitude.scalars[i] + 0x1p-23 * abs(exact.scalars[i])
            XCTAssertLessThanOrEqual(error, bound, "\(what)[\(i)]", file: file, line: line)
            if error > bound { return }
            worst = max(worst, error / max(bound, .leastNonzeroMagnitude))
        }
        XCTAssertGreaterThan(
            worst, 0, "\(what): no rounding at all (did the bfloat16 path run?)", file: file, line: line)
    }

    private func check(
        input: [Int], kernel: [Int], cout: Int, padding: Padding, workers: Int? = nil, seed: UInt64,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let cin = input.last!
        let x = randomTensor(input, seed: seed)
        let w = randomTensor(kernel + [cin, cout], seed: seed + 1)
        let b = randomTensor([cout], seed: seed + 2)
        let exact = try Convolution(
            weight: w, bias: b, padding: padding, settings: ConvolutionSettings(allowsDirect: false))
        let absolute = try Convolution(
            weight: w.map(abs), padding: padding, settings: ConvolutionSettings(allowsDirect: false))
        let bf16 = try Convolution(
            weight: w.converted(to: Float.self), bias: b.converted(to: Float.self), padding: padding,
            settings: ConvolutionSettings(workers: workers, precision: .bfloat16))
        let geometry = try bf16.geometry(input)
        let y = try exact.forward(x)
        let dy = randomTensor(y.shape, seed: seed + 3)
        let expected = try exact.backward(input: x, outputGradient: dy)
        let magnitudes = try absolute.backward(input: x.map(abs), outputGradient: dy.map(abs))
        let xf = x.converted(to: Float.self)
        let dyf = dy.converted(to: Float.self)
        let before = tileCalls
        let y16 = try bf16.forward(xf)
        assertKernelRan(since: before, file: file, line: line)
        let k = geometry.patch
        let positions = geometry.outputRows
        assertWithinBound(y16, y, try absolute.forward(x.map(abs)), reduction: k, "forward", file: file, line: line)
        let grads = try bf16.backward(input: xf, outputGradient: dyf)
        assertWithinBound(
            grads.input!, expected.input!, magnitudes.input!, reduction: geometry.kernelVolume * cout, "∂x",
            file: file, line: line)
        assertWithinBound(
            grads.weight, expected.weight, magnitudes.weight, reduction: positions, "∂w", file: file, line: line)
        // The bias gradient stays Float: a Float sum of N × positions values, within
        // K·2⁻²⁴·Σ|dy| (K = N × positions) of the exact one.
        var absoluteSums = [Double](repeating: 0, count: cout)
        for (i, v) in dy.scalars.enumerated() { absoluteSums[i % cout] += abs(v) }
        for i in 0..<cout {
            XCTAssertEqual(
                Double(grads.bias!.scalars[i]), expected.bias!.scalars[i],
                accuracy: Double(positions) * 0x1p-24 * absoluteSums[i], file: file, line: line)
        }
    }

    func testSixteenChannelsSamePadding() throws {
        try check(input: [2, 9, 10, 16], kernel: [3, 3], cout: 16, padding: .same, seed: 1200)
    }

    func testThirtyTwoToFortyEightChannelsOddWidth() throws {
        try check(input: [3, 7, 9, 32], kernel: [3, 3], cout: 48, padding: .same, workers: 2, seed: 1210)
    }

    func testWideLayerValidPadding() throws {
        try check(input: [2, 6, 8, 64], kernel: [3, 3], cout: 80, padding: .valid, workers: 2, seed: 1220)
    }

    func testThreeDimensional() throws {
        try check(input: [1, 4, 5, 6, 16], kernel: [3, 3, 3], cout: 32, padding: .same, seed: 1230)
    }

    /// The weight gradient in bands of lines (images with at least as many positions as kernel
    /// rows): several bands per sample (a 257-wide padded, 64-channel row is 64 KiB of pairs, so
    /// a band of an eighth of L2 holds at most 5 of the 20 lines for an L2 of up to 4 MiB), odd width.
    func testWeightGradientInBands() throws {
        try check(input: [3, 20, 255, 64], kernel: [3, 3], cout: 16, padding: .same, workers: 2, seed: 1260)
        try check(input: [2, 40, 33, 16], kernel: [3, 3], cout: 32, padding: .valid, seed: 1270)
    }

    /// The weight gradient of volumes in bands: plane by plane of output, several bands per plane
    /// (32 channels × 202 padded columns × 3 kernel planes: at most 4 of the 12 lines per band
    /// for an L2 of up to 4 MiB), same and valid padding; one volume's planes in partials of
    /// their own (four planes: four partials on two workers).
    func testThreeDimensionalWeightGradientInBands() throws {
        try check(input: [2, 3, 12, 200, 32], kernel: [3, 3, 3], cout: 16, padding: .same, workers: 2, seed: 1280)
        try check(input: [3, 5, 6, 100, 32], kernel: [3, 3, 3], cout: 16, padding: .valid, workers: 2, seed: 1290)
        try check(input: [1, 4, 4, 100, 32], kernel: [3, 3, 3], cout: 16, padding: .same, workers: 2, seed: 1295)
    }

    /// The whole-batch weight gradient whose tiles run through every sample with their sums in
    /// registers (20 positions a sample: the three samples' gradient blocks are one group on any
    /// L2), over 3 × 3 × 768 = 6912 kernel rows with one worker (so one range of rows), as in the
    /// small-image, many-channel layers of a U-Net.
    func testWeightGradientTilesAcrossSamples() throws {
        try check(input: [3, 4, 5, 768], kernel: [3, 3], cout: 32, padding: .same, workers: 1, seed: 1300)
    }

    /// The whole-batch weight gradient of an image with fewer positions than kernel rows (40²
    /// against 3 × 3 × 256), each sample in chunks of lines: a chunk's pair-packed rows and
    /// gradient fill at most three quarters of L2 (1088 bytes per position: at most 1445 of the
    /// 1600 positions for an L2 of up to 2 MiB), so a sample takes two chunks or more.
    func testWeightGradientChunksWithinASample() throws {
        try check(input: [2, 40, 40, 256], kernel: [3, 3], cout: 32, padding: .same, workers: 2, seed: 1305)
    }

    /// A 64-channel block of the whole-batch weight gradient whose two tasks split a segment of
    /// kernel rows (144 rows at 16 input channels, split at row 64): 6-row tiles, then 2-row ones.
    func testWeightGradientRowsSplitWithinSegment() throws {
        try check(input: [2, 5, 6, 16], kernel: [3, 3], cout: 64, padding: .same, workers: 2, seed: 1310)
    }

    /// 96² with 16 channels, two samples: with the tile arithmetic, a weight gradient over more
    /// grid positions (2 × 9408) than one chunk holds at 2 MiB of L2 or less (16 288), so that a
    /// chunk ends inside the second sample (BFloat16TileWeightGradient.swift).
    func testWeightGradientOverSeveralChunks() throws {
        try check(input: [2, 96, 96, 16], kernel: [3, 3], cout: 16, padding: .same, workers: 2, seed: 1320)
    }

    /// A 16-channel block of the weight gradient (two kernel rows per broadcast, `weight_tile16`)
    /// gives the pair kernel's bits: those of the same 16 channels in a 32-channel block of a
    /// wider convolution whose output gradient matches on every channel the narrower one has
    /// (16 against 32 output channels, and the block of channels 64–79 of 80 against 96). On each
    /// path: one sample; a batch's tasks; bands accumulated over a batch of volumes; a volume's
    /// 6912 kernel rows with the tiles' sums kept in registers across the samples.
    func testSixteenChannelWeightGradientIsThePairKernels() throws {
        let cases: [(input: [Int], kernel: [Int], couts: (Int, Int))] = [
            ([1, 12, 10, 32], [3, 3], (16, 32)), ([3, 9, 7, 16], [3, 3], (16, 32)),
            ([3, 9, 7, 16], [3, 3], (80, 96)), ([2, 8, 8, 8, 16], [3, 3, 3], (16, 32)),
            ([2, 8, 8, 8, 16], [3, 3, 3], (80, 96)), ([2, 4, 4, 4, 256], [3, 3, 3], (16, 32)),
        ]
        for (n, (input, kernel, (narrow, wide))) in cases.enumerated() {
            let seed = 1400 + 10 * UInt64(n)
            let cin = input.last!
            /// The first `count` of the `wide` channels of each position of `t`.
            func first(_ count: Int, of t: Tensor<Float>) throws -> Tensor<Float> {
                try Tensor(
                    shape: t.shape.dropLast() + [count],
                    scalars: t.scalars.enumerated().filter { $0.offset % wide < count }.map(\.element))
            }
            let x = randomTensor(input, seed: seed).converted(to: Float.self)
            let wWide = randomTensor(kernel + [cin, wide], seed: seed + 1).converted(to: Float.self)
            let settings = ConvolutionSettings(precision: .bfloat16)
            let convWide = try Convolution(weight: wWide, padding: .same, settings: settings)
            let convNarrow = try Convolution(weight: try first(narrow, of: wWide), padding: .same, settings: settings)
            let dyWide = randomTensor(try convWide.outputShape(for: input), seed: seed + 2).converted(to: Float.self)
            let gWide = try convWide.backward(input: x, outputGradient: dyWide, computeInputGradient: false).weight
            XCTAssertEqual(KernelDispatch.lastUsed(.bfloat16Convolution), .avx512)
            let gNarrow = try convNarrow.backward(
                input: x, outputGradient: try first(narrow, of: dyWide), computeInputGradient: false
            ).weight
            let expected = try first(narrow, of: gWide)
            XCTAssertEqual(gNarrow.shape, expected.shape)
            XCTAssertTrue(
                zip(gNarrow.scalars, expected.scalars).allSatisfy { $0.bitPattern == $1.bitPattern },
                "\(input), \(narrow) against \(wide) channels: the 16-channel block differs from the pair kernel's")
        }
    }

    func testSameBitsForEveryWorkerCount() throws {
        // 12² with 32 channels: whole-batch weight gradient; 20 × 24 with 16: in bands; 4 × 5
        // with 384: tiles across the samples with one worker, sample by sample with two or three
        // (each then takes half or a third of the kernel rows); one image of 8² with 64 and of 20²
        // with 16, whose forward chunks are cut for the workers (ConvBlocking.dealtChunk).
        // Volumes: two samples (one worker pads each whole; two and three share them, each
        // task padding the rows its chunk reads) and one, small enough (720 positions, 864
        // kernel rows) that its weight gradient is the whole batch's, or large enough that its
        // planes make partials of their own.
        let shapes = [
            ([4, 12, 12, 32], UInt64(1240)), ([5, 20, 24, 16], 1245), ([3, 4, 5, 384], 1250),
            ([1, 8, 8, 64], 1252), ([1, 20, 20, 16], 1254), ([2, 6, 7, 40, 16], 1256), ([1, 9, 8, 10, 32], 1258),
            ([1, 5, 6, 40, 16], 1259),
        ]
        for (shape, seed) in shapes {
            let cin = shape.last!
            let x = randomTensor(shape, seed: seed).converted(to: Float.self)
            let kernel = [Int](repeating: 3, count: shape.count - 2)
            let w = randomTensor(kernel + [cin, 32], seed: seed + 1).converted(to: Float.self)
            let dy = randomTensor(Array(shape.dropLast()) + [32], seed: seed + 2).converted(to: Float.self)
            var results: [[Float]] = []
            for workers in [1, 2, 3] {
                let conv = try Convolution(
                    weight: w, padding: .same, settings: ConvolutionSettings(workers: workers, precision: .bfloat16))
                let g = try conv.backward(input: x, outputGradient: dy)
                results.append(try conv.forward(x).scalars + g.input!.scalars + g.weight.scalars)
            }
            XCTAssertEqual(results[0], results[1], "\(shape)")
            XCTAssertEqual(results[0], results[2], "\(shape)")
        }
    }

    /// A random input of `shape` [N, D, H, W, 32], an output gradient of the same shape, and a
    /// 3×3×3 convolution to 32 channels (same padding) in bfloat16 on two workers.
    private func volumeCase(_ shape: [Int], seed: UInt64) throws -> (Tensor<Float>, Tensor<Float>, Convolution<Float>) {
        let w = randomTensor([3, 3, 3, shape[4], 32], seed: seed + 1).converted(to: Float.self)
        let convolution = try Convolution(
            weight: w, padding: .same, settings: ConvolutionSettings(workers: 2, precision: .bfloat16))
        return (
            randomTensor(shape, seed: seed).converted(to: Float.self),
            randomTensor(Array(shape.dropLast()) + [32], seed: seed + 2).converted(to: Float.self), convolution
        )
    }

    /// Two volumes on two workers whose padded batch exceeds the workspace bound run on the
    /// dot-product kernels when what those hold fits it: a window of rows per worker for the
    /// forward pass and the input gradient, band buffers for the weight gradient. The same bits
    /// as without a bound; below it, the Float path (no rounding: other values).
    func testVolumesFitAWorkspaceTheBatchCopyWouldExceed() throws {
        let cin = 32
        let (x, dy, unbounded) = try volumeCase([2, 10, 8, 40, cin], seed: 1330)
        let g = try unbounded.geometry(x.shape)
        let kernels = DirectKernels.bfloat16(tiles: false)
        let forward = g.directWorkspace(
            inputGradient: false, workers: 2, settings: unbounded.settings, forwardOnly: true, kernels: kernels)
        let backward = g.directWorkspace(
            inputGradient: true, workers: 2, settings: unbounded.settings, backwardOnly: true, kernels: kernels)
        // The batch padded and rounded (bfloat16, counted in Floats), as it was held before.
        let batchCopy = 2 * cin * 12 * 10 * 42 / 2
        XCTAssertLessThan(Swift.max(forward, backward), batchCopy)
        var bounded = unbounded
        bounded.settings.workspaceLimit = 4 * Swift.max(forward, backward)
        var below = unbounded
        below.settings.workspaceLimit = 4 * (Swift.min(forward, backward) - 1)
        for (settings, runs) in [(bounded.settings, true), (below.settings, false)] {
            XCTAssertEqual(
                g.runsDirect(Float.self, inputGradient: false, settings: settings, forwardOnly: true, kernels: kernels),
                runs)
            XCTAssertEqual(
                g.runsDirect(Float.self, inputGradient: true, settings: settings, backwardOnly: true, kernels: kernels),
                runs)
        }
        let expected = try unbounded.backward(input: x, outputGradient: dy)
        let expectedY = try unbounded.forward(x).scalars.map(\.bitPattern)
        let actual = try bounded.backward(input: x, outputGradient: dy)
        XCTAssertEqual(try bounded.forward(x).scalars.map(\.bitPattern), expectedY)
        XCTAssertEqual(actual.weight.scalars.map(\.bitPattern), expected.weight.scalars.map(\.bitPattern))
        XCTAssertEqual(actual.input!.scalars.map(\.bitPattern), expected.input!.scalars.map(\.bitPattern))
        let other = try below.backward(input: x, outputGradient: dy)
        XCTAssertNotEqual(try below.forward(x).scalars.map(\.bitPattern), expectedY)
        XCTAssertNotEqual(other.weight.scalars.map(\.bitPattern), expected.weight.scalars.map(\.bitPattern))
        XCTAssertNotEqual(other.input!.scalars.map(\.bitPattern), expected.input!.scalars.map(\.bitPattern))
    }

    /// Two volumes per worker whose rounded padded copies, one per worker, exceed the workspace
    /// bound: the forward pass and the input gradient round windows of rows per (sample, chunk)
    /// task instead, each worker keeping its samples. The same bits as whole samples.
    func testTwoSamplesPerWorkerRoundWindowsWhenWholeSamplesExceedTheBound() throws {
        let cin = 32
        let (x, dy, unbounded) = try volumeCase([4, 12, 8, 64, cin], seed: 1340)
        let g = try unbounded.geometry(x.shape)
        let kernels = DirectKernels.bfloat16(tiles: arithmetic == .tiles)
        // Two workers' whole rounded samples (x and dy alike), slack included, in Floats.
        let wholeSamples = (cin * 14 * 10 * 66 + (3 + Int(DK_CONV_SLACK_POSITIONS)) * cin)
        var bounded = unbounded
        bounded.settings.workspaceLimit = 4 * wholeSamples - 4
        let forward = g.directWorkspace(
            inputGradient: false, workers: 2, settings: bounded.settings, forwardOnly: true, kernels: kernels)
        XCTAssertLessThan(forward, wholeSamples)
        XCTAssertTrue(
            g.runsDirect(
                Float.self, inputGradient: false, settings: bounded.settings, forwardOnly: true, kernels: kernels))
        let before = tileCalls
        XCTAssertEqual(
            try bounded.forward(x).scalars.map(\.bitPattern), try unbounded.forward(x).scalars.map(\.bitPattern))
        assertKernelRan(since: before, file: #filePath, line: #line)
        guard arithmetic != .tiles else { return } // the tiles' weight gradient rounds the whole batch
        XCTAssertTrue(
            g.runsDirect(
                Float.self, inputGradient: true, settings: bounded.settings, backwardOnly: true, kernels: kernels))
        let expected = try unbounded.backward(input: x, outputGradient: dy)
        let actual = try bounded.backward(input: x, outputGradient: dy)
        XCTAssertEqual(actual.weight.scalars.map(\.bitPattern), expected.weight.scalars.map(\.bitPattern))
        XCTAssertEqual(actual.input!.scalars.map(\.bitPattern), expected.input!.scalars.map(\.bitPattern))
    }

    func testOtherShapesStayFloat() throws {
        // Three input channels (a first layer): the Float direct kernels, same bits as without bfloat16.
        let x = randomTensor([2, 8, 8, 3], seed: 1250).converted(to: Float.self)
        let w = randomTensor([3, 3, 3, 16], seed: 1251).converted(to: Float.self)
        let float = try Convolution(weight: w, padding: .same)
        let bf16 = try Convolution(weight: w, padding: .same, settings: ConvolutionSettings(precision: .bfloat16))
        XCTAssertEqual(try float.forward(x).scalars, try bf16.forward(x).scalars)
    }
}
