// The direct convolution kernels (Float; AVX-512 and AVX2, each forced in turn and the level
// that ran asserted) against the lowered path in Double: forward,
// input, weight and bias gradients for every tile shape the kernels have (16, 32, 48, 64 + 16
// output channels; segment lengths that are and are not multiples of 48, and of 3 for 1 or 3
// input channels, whose input gradient runs on the narrow kernel), with and without the input gradient, 2-D and 3-D, same,
// valid and asymmetric padding, several workers, a stride-1 transposed convolution (whose
// forward is the input-gradient pass), strided convolutions (forward and weight gradient) and
// the backward pass of a 2×2 stride-2 up-sampling. Each case first checks that the direct path
// is taken. Winograd F(2×2, 3×3), which would take the 3×3 passes of even extents at AVX2, is
// turned off here (WinogradTests compares the two).

internal import CDiceKitKernels
import XCTest

@testable import DiceKit

final class DirectConvolutionTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(ConvGeometry.directKernelsAvailable, "no AVX2: the direct kernels never run here")
    }

    override func tearDown() {
        try? KernelDispatch.force(nil)
    }

    /// The direct-kernel levels this CPU runs: AVX2, and AVX-512 where present (each case runs on all).
    private var directLevels: [InstructionSet] { InstructionSet.available.filter { $0 >= .avx2 } }

    /// Compares `Float` (direct) with `Double` (lowered) results, scaled by the reference's largest magnitude.
    private func assertMatches(
        _ actual: Tensor<Float>, _ expected: Tensor<Double>, _ what: String,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(actual.shape, expected.shape, what, file: file, line: line)
        let scale = expected.scalars.map(abs).max() ?? 1
        var worst = 0.0
        for i in 0..<expected.count { worst = max(worst, abs(Double(actual.scalars[i]) - expected.scalars[i])) }
        XCTAssertLessThanOrEqual(
            worst, 2e-6 * scale, "\(what): max error \(worst) of scale \(scale)", file: file, line: line)
    }

    private func checkConvolution(
        input: [Int], kernel: [Int], cout: Int, padding: Padding, stride: [Int] = [1], workers: Int? = nil,
        directInputGradient: Bool = true, seed: UInt64,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let cin = input.last!
        let x = randomTensor(input, seed: seed)
        let w = randomTensor(kernel + [cin, cout], seed: seed + 1)
        let b = randomTensor([cout], seed: seed + 2)
        let reference = try Convolution(
            weight: w, bias: b, stride: stride, padding: padding, settings: ConvolutionSettings(allowsDirect: false))
        let direct = try Convolution(
            weight: w.converted(to: Float.self), bias: b.converted(to: Float.self), stride: stride, padding: padding,
            settings: ConvolutionSettings(workers: workers, allowsWinograd: false))
        let y = try reference.forward(x)
        let dy = randomTensor(y.shape, seed: seed + 3)
        let expected = try reference.backward(input: x, outputGradient: dy)
        for isa in directLevels {
            try KernelDispatch.force(isa)
            let geometry = try direct.geometry(input)
            XCTAssertTrue(
                geometry.runsDirect(Float.self, inputGradient: false, settings: direct.settings),
                "\(isa): forward not direct",
                file: file, line: line)
            XCTAssertEqual(
                geometry.runsDirect(Float.self, inputGradient: true, settings: direct.settings), directInputGradient,
                "\(isa): input-gradient path", file: file, line: line)
            assertMatches(try direct.forward(x.converted(to: Float.self)), y, "\(isa) forward", file: file, line: line)
            XCTAssertEqual(KernelDispatch.lastUsed(.convolution), isa, "forward level", file: file, line: line)
            let actual = try direct.backward(
                input: x.converted(to: Float.self), outputGradient: dy.converted(to: Float.self))
            assertMatches(actual.input!, expected.input!, "\(isa) ∂x", file: file, line: line)
            assertMatches(actual.weight, expected.weight, "\(isa) ∂w", file: file, line: line)
            assertMatches(actual.bias!, expected.bias!, "\(isa) ∂b", file: file, line: line)
            // Without the input gradient (a network's first layer), always on the direct kernels.
            let parameters = try direct.backward(
                input: x.converted(to: Float.self), outputGradient: dy.converted(to: Float.self),
                computeInputGradient: false)
            XCTAssertEqual(KernelDispatch.lastUsed(.convolution), isa, "weight-gradient level", file: file, line: line)
            XCTAssertNil(parameters.input, file: file, line: line)
            assertMatches(parameters.weight, expected.weight, "\(isa) ∂w without ∂x", file: file, line: line)
            assertMatches(parameters.bias!, expected.bias!, "\(isa) ∂b without ∂x", file: file, line: line)
        }
    }

    func testSamePaddingTwoDimensional() throws {
        try checkConvolution(input: [2, 7, 9, 16], kernel: [3, 3], cout: 32, padding: .same, seed: 700)
    }

    func testOneOutputVectorAndNarrowWeightTiles() throws {
        // 5×5 on 32 channels: segments of 160 floats, not a multiple of 48.
        try checkConvolution(input: [1, 6, 8, 32], kernel: [5, 5], cout: 16, padding: .same, seed: 710)
    }

    func testThreeOutputVectorsValidPadding() throws {
        try checkConvolution(input: [1, 6, 5, 16], kernel: [3, 3], cout: 48, padding: .valid, seed: 720)
    }

    func testAsymmetricPaddingAndFiveOutputVectors() throws {
        try checkConvolution(
            input: [2, 5, 7, 16], kernel: [2, 3], cout: 80,
            padding: .explicit(before: [0, 2], after: [1, 0]), seed: 730)
    }

    func testWeightBlocksOfSeveralSegments() throws {
        // 96 and 128 input channels: one segment of 3×96 (3×128) rows × 64 channels, 72 (96) KiB,
        // exceeds the weight block (two thirds of L1d, ConvBlocking), so the AVX-512 forward kernel
        // accumulates rows k0..<k1 of a segment at a time through the output.
        try checkConvolution(input: [2, 5, 6, 96], kernel: [3, 3], cout: 64, padding: .same, seed: 735)
        try checkConvolution(input: [2, 4, 5, 128], kernel: [3, 3], cout: 128, padding: .same, seed: 738)
    }

    func testSmallImagesSplitTheWeightGradientByKernelBlocks() throws {
        // Fewer positions per sample than kernel rows: workers take (segment, 64-channel) blocks.
        try checkConvolution(input: [3, 4, 4, 32], kernel: [3, 3], cout: 128, padding: .same, seed: 736)
        try checkConvolution(input: [2, 3, 3, 48], kernel: [3, 3], cout: 80, padding: .same, seed: 737)
    }

    func testThreeDimensional() throws {
        try checkConvolution(input: [2, 4, 5, 6, 16], kernel: [3, 3, 3], cout: 16, padding: .same, seed: 740)
    }

    func testWorkersAndTasksDoNotChangeTheResult() throws {
        // 5 samples: 1 and 2 workers pad sample by sample into their own buffers, 3 share a padded batch.
        for workers in [1, 2, 3] {
            try checkConvolution(
                input: [5, 9, 4, 32], kernel: [3, 3], cout: 64, padding: .same, workers: workers, seed: 750)
        }
    }

    func testOneImageSplitAcrossWorkersGivesTheSameBits() throws {
        // One image (and three), dealt to 1, 2 and 3 workers in chunks cut for them
        // (ConvBlocking.dealtChunk): 8² at 64 → 128 (6-position tiles, as a U-Net's deepest
        // level), 9 × 7 at 32 → 48 (8-position tiles) and 12² at 16 → 16 (grid tiles). Within
        // the bound of the Double path, and the forward pass and input gradient the same bits
        // for every worker count, read in place and from a padded copy.
        for (input, cout, seed) in [
            ([1, 8, 8, 64], 128, UInt64(760)), ([1, 9, 7, 32], 48, 762), ([3, 12, 12, 16], 16, 764),
        ] {
            for workers in [1, 2, 3] {
                try checkConvolution(
                    input: input, kernel: [3, 3], cout: cout, padding: .same, workers: workers, seed: seed)
            }
            let x = randomTensor(input, seed: seed).converted(to: Float.self)
            let w = randomTensor([3, 3, input.last!, cout], seed: seed + 1).converted(to: Float.self)
            let dy = randomTensor(Array(input.dropLast()) + [cout], seed: seed + 2).converted(to: Float.self)
            for isa in directLevels {
                try KernelDispatch.force(isa)
                for readsInPlace in [true, false] {
                    let results = try [1, 2, 3].map { workers in
                        let settings = ConvolutionSettings(
                            workers: workers, readsInPlace: readsInPlace, allowsWinograd: false)
                        let conv = try Convolution(weight: w, padding: .same, settings: settings)
                        return try conv.forward(x).scalars + conv.backward(input: x, outputGradient: dy).input!.scalars
                    }
                    let what = "\(isa) \(input) → \(cout), in place \(readsInPlace)"
                    XCTAssertEqual(results[0], results[1], what)
                    XCTAssertEqual(results[0], results[2], what)
                }
            }
        }
    }

    /// With fewer than two samples per worker, the weight gradient (and a forward pass that
    /// does not read in place) pads a window of rows per worker instead of the whole batch: a
    /// 3-D backward pass stays on the direct kernels under a workspace bound that the batch's
    /// padded copy exceeds, with the bits of the same pass under no bound (the tasks and their
    /// order do not change); so does a forward pass on rounded operands, which never reads in place.
    func testBackwardFitsAWorkspaceTheBatchCopyWouldExceed() throws {
        let (cin, cout) = (32, 16)
        let x = randomTensor([2, 12, 8, 128, cin], seed: 820).converted(to: Float.self)
        let w = randomTensor([3, 3, 3, cin, cout], seed: 821).converted(to: Float.self)
        let dy = randomTensor([2, 12, 8, 128, cout], seed: 822).converted(to: Float.self)
        let unbounded = try Convolution(
            weight: w, padding: .same, settings: ConvolutionSettings(workers: 2, allowsWinograd: false))
        let g = try unbounded.geometry(x.shape)
        let batchCopy = 2 * cin * 14 * 10 * 130
        let dyCopies = 2 * cout * 14 * 10 * 130
        let windows = 2 * g.weightGradientWindow(workers: 2)
        try XCTSkipIf(windows >= batchCopy, "this CPU's L2 makes one chunk of the whole sample")
        var bounded = unbounded
        bounded.settings.workspaceLimit = 4 * Swift.max(windows, dyCopies)
        XCTAssertLessThan(bounded.settings.workspaceLimit, 4 * batchCopy)
        XCTAssertTrue(
            g.runsDirect(Float.self, inputGradient: true, settings: bounded.settings, backwardOnly: true))
        let expected = try unbounded.backward(input: x, outputGradient: dy)
        let actual = try bounded.backward(input: x, outputGradient: dy)
        XCTAssertEqual(actual.weight.scalars.map(\.bitPattern), expected.weight.scalars.map(\.bitPattern))
        XCTAssertEqual(actual.input!.scalars.map(\.bitPattern), expected.input!.scalars.map(\.bitPattern))
        // A bound below the windows: the lowered path, within Float rounding of the direct one.
        var lowered = unbounded
        lowered.settings.workspaceLimit = 4 * (Swift.min(windows, dyCopies) - 1)
        XCTAssertFalse(g.runsDirect(Float.self, inputGradient: true, settings: lowered.settings, backwardOnly: true))
        let other = try lowered.backward(input: x, outputGradient: dy)
        let scale = expected.weight.scalars.map(abs).max()!
        let worst = zip(other.weight.scalars, expected.weight.scalars).map { abs($0 - $1) }.max()!
        XCTAssertLessThanOrEqual(worst, 1e-4 * scale)
        // Rounded operands: the forward pass pads (and rounds) a window per worker.
        BFloat16Arithmetic.force(.roundedOperands)
        defer { BFloat16Arithmetic.force(nil) }
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no bfloat16 level on this CPU")
        var rounded = unbounded
        rounded.settings.precision = .bfloat16
        var roundedBounded = rounded
        roundedBounded.settings.workspaceLimit = bounded.settings.workspaceLimit
        XCTAssertTrue(
            g.runsDirect(Float.self, inputGradient: false, settings: roundedBounded.settings, forwardOnly: true))
        XCTAssertEqual(
            try roundedBounded.forward(x).scalars.map(\.bitPattern), try rounded.forward(x).scalars.map(\.bitPattern))
    }

    /// Two volumes per worker whose whole padded copies, one per worker, exceed the workspace
    /// bound: each (sample, chunk) task pads a window of rows instead, the worker keeping its
    /// samples and their order (the per-worker sums of the weight gradient with them), so the
    /// bits are those of whole samples; without the windows these passes took the lowered path.
    func testTwoSamplesPerWorkerPadWindowsWhenWholeSamplesExceedTheBound() throws {
        let (cin, cout) = (32, 32)
        let x = randomTensor([4, 12, 8, 64, cin], seed: 830).converted(to: Float.self)
        let w = randomTensor([3, 3, 3, cin, cout], seed: 831).converted(to: Float.self)
        let dy = randomTensor([4, 12, 8, 64, cout], seed: 832).converted(to: Float.self)
        var settings = ConvolutionSettings(workers: 2, allowsWinograd: false)
        settings.readsInPlace = false
        let unbounded = try Convolution(weight: w, padding: .same, settings: settings)
        let g = try unbounded.geometry(x.shape)
        // Two workers' whole padded samples (x and dy alike), slack included.
        let wholeSamples = 2 * (cin * 14 * 10 * 66 + (3 + Int(DK_CONV_SLACK_POSITIONS)) * cin)
        var bounded = unbounded
        bounded.settings.workspaceLimit = 4 * wholeSamples - 4
        let backward = g.directWorkspace(
            inputGradient: true, workers: 2, settings: bounded.settings, backwardOnly: true)
        let forward = g.directWorkspace(inputGradient: false, workers: 2, settings: bounded.settings)
        try XCTSkipIf(Swift.max(backward, forward) >= wholeSamples, "this CPU's L2 makes one chunk of the whole sample")
        XCTAssertEqual(
            g.directWorkspace(inputGradient: true, workers: 2, settings: unbounded.settings), 2 * cin * 14 * 10 * 66)
        XCTAssertTrue(g.runsDirect(Float.self, inputGradient: true, settings: bounded.settings, backwardOnly: true))
        XCTAssertTrue(g.runsDirect(Float.self, inputGradient: false, settings: bounded.settings))
        let expected = try unbounded.backward(input: x, outputGradient: dy)
        let actual = try bounded.backward(input: x, outputGradient: dy)
        XCTAssertEqual(actual.weight.scalars.map(\.bitPattern), expected.weight.scalars.map(\.bitPattern))
        XCTAssertEqual(actual.input!.scalars.map(\.bitPattern), expected.input!.scalars.map(\.bitPattern))
        XCTAssertEqual(
            try bounded.forward(x).scalars.map(\.bitPattern), try unbounded.forward(x).scalars.map(\.bitPattern))
    }

    func testEveryLevelRepeatsItsBits() throws {
        // Same level and worker count: the same bits, run after run (3 samples on 2 workers share a padded batch).
        let x = randomTensor([3, 9, 6, 32], seed: 755).converted(to: Float.self)
        let w = randomTensor([3, 3, 32, 64], seed: 756).converted(to: Float.self)
        let dy = randomTensor([3, 9, 6, 64], seed: 757).converted(to: Float.self)
        let conv = try Convolution(
            weight: w, padding: .same, settings: ConvolutionSettings(workers: 2, allowsWinograd: false))
        for isa in directLevels {
            try KernelDispatch.force(isa)
            let first = try conv.backward(input: x, outputGradient: dy)
            let second = try conv.backward(input: x, outputGradient: dy)
            XCTAssertEqual(KernelDispatch.lastUsed(.convolution), isa)
            XCTAssertEqual(first.weight.scalars, second.weight.scalars, "\(isa) ∂w")
            XCTAssertEqual(first.input!.scalars, second.input!.scalars, "\(isa) ∂x")
            XCTAssertEqual(try conv.forward(x).scalars, try conv.forward(x).scalars, "\(isa) forward")
        }
    }

    func testFirstLayerOnOneOrThreeChannels() throws {
        // Weight-gradient tiles spanning the 9- and 3-row segments (12 + 12 + 3 rows at 16
        // channels, 6 + 3 at 64 and 3 at the last 16 of 80); the input gradient on the narrow kernel (conv_narrow.c):
        // 63 and 30 positions (not multiples of its 4- and 2-position tiles), 3 and 1 output
        // channels of it, 16 and 80 reduced channels.
        try checkConvolution(input: [2, 9, 7, 3], kernel: [3, 3], cout: 16, padding: .same, seed: 790)
        try checkConvolution(input: [1, 5, 6, 1], kernel: [3, 3], cout: 80, padding: .same, seed: 795)
    }

    /// The narrow input gradient with valid padding (a full convolution of dy), two workers
    /// sharing samples, 3-D, and six input channels (two channel groups of its tiles).
    func testNarrowInputGradientShapes() throws {
        try checkConvolution(input: [3, 8, 11, 3], kernel: [3, 3], cout: 32, padding: .valid, workers: 2, seed: 796)
        try checkConvolution(input: [1, 4, 5, 6, 3], kernel: [3, 3, 3], cout: 16, padding: .same, seed: 797)
        try checkConvolution(input: [2, 6, 7, 6], kernel: [3, 3], cout: 48, padding: .same, workers: 2, seed: 798)
    }

    /// Strided convolutions: the forward pass and the weight gradient on the direct kernels'
    /// per-position tiles (input rows at the strides); the input gradient there too when the
    /// kernel tiles the input exactly (a scattered 1×1 pass), else on the lowered path.
    func testStridedForwardAndWeightGradient() throws {
        // 2×2 stride 2 (the backward pass of an up-sampling): 16 and 32 output channels, which
        // take per-position tiles instead of the grid ones at stride 2.
        try checkConvolution(
            input: [2, 8, 10, 16], kernel: [2, 2], cout: 32, padding: .valid, stride: [2], seed: 800)
        try checkConvolution(
            input: [3, 6, 4, 32], kernel: [2, 2], cout: 16, padding: .valid, stride: [2], workers: 2, seed: 801)
        // 3×3 stride 2 with padding, odd extents, 48 and 128 output channels (small images split
        // the weight gradient by kernel blocks), and stride 2 along one axis only.
        try checkConvolution(
            input: [1, 9, 7, 16], kernel: [3, 3], cout: 48, padding: .same, stride: [2],
            directInputGradient: false, seed: 802)
        try checkConvolution(
            input: [2, 5, 5, 32], kernel: [3, 3], cout: 128, padding: .same, stride: [2],
            directInputGradient: false, seed: 803)
        try checkConvolution(
            input: [2, 6, 9, 16], kernel: [3, 3], cout: 32, padding: .same, stride: [1, 2],
            directInputGradient: false, seed: 804)
        // 3-D 2×2×2 stride 2, a first layer on 3 channels, and an exact tiling of 3 input
        // channels, whose input gradient stays lowered.
        try checkConvolution(
            input: [2, 4, 6, 4, 16], kernel: [2, 2, 2], cout: 16, padding: .valid, stride: [2], seed: 805)
        try checkConvolution(
            input: [2, 6, 8, 3], kernel: [2, 2], cout: 16, padding: .valid, stride: [2],
            directInputGradient: false, seed: 807)
        try checkConvolution(
            input: [2, 9, 8, 3], kernel: [3, 3], cout: 32, padding: .same, stride: [2],
            directInputGradient: false, seed: 806)
    }

    func testUpsamplingTakesTheDirectKernels() throws {
        // A 2×2 (2×2×2) stride-2 transposed convolution (weight [k…, Cout, Cin]): its forward pass
        // is the scattered 1×1 pass, its backward pass a stride-2 convolution of the output
        // gradient (∂x) and its weight gradient.
        let cases: [([Int], Int, UInt64)] = [
            ([2, 6, 5, 32], 16, 810), ([3, 4, 4, 64], 32, 811), ([1, 3, 3, 256], 128, 812),
            ([2, 2, 3, 2, 32], 16, 813),
        ]
        for (input, cout, seed) in cases {
            let cin = input.last!
            let x = randomTensor(input, seed: seed)
            let w = randomTensor(Array(repeating: 2, count: input.count - 2) + [cout, cin], seed: seed + 1)
            let b = randomTensor([cout], seed: seed + 2)
            let reference = try TransposedConvolution(
                weight: w, bias: b, stride: [2], settings: ConvolutionSettings(allowsDirect: false))
            let direct = try TransposedConvolution(
                weight: w.converted(to: Float.self), bias: b.converted(to: Float.self), stride: [2])
            let y = try reference.forward(x)
            let dy = randomTensor(y.shape, seed: seed + 3)
            let expected = try reference.backward(input: x, outputGradient: dy)
            for isa in directLevels {
                try KernelDispatch.force(isa)
                for inputGradient in [false, true] {
                    XCTAssertTrue(
                        try direct.geometry(input).runsDirect(
                            Float.self, inputGradient: inputGradient, settings: direct.settings))
                }
                assertMatches(try direct.forward(x.converted(to: Float.self)), y, "\(isa) \(input) forward")
                XCTAssertEqual(KernelDispatch.lastUsed(.convolution), isa, "\(input) forward")
                let actual = try direct.backward(
                    input: x.converted(to: Float.self), outputGradient: dy.converted(to: Float.self))
                XCTAssertEqual(KernelDispatch.lastUsed(.convolution), isa, "\(input)")
                assertMatches(actual.input!, expected.input!, "\(isa) \(input) ∂x")
                assertMatches(actual.weight, expected.weight, "\(isa) \(input) ∂w")
                assertMatches(actual.bias!, expected.bias!, "\(isa) \(input) ∂b")
            }
        }
    }

    func testFewChannelPointwiseForwardOnTheNarrowKernel() throws {
        // A segmentation head: 1×1, 16/32/48 features to 1–3 logits (and a ragged 4-position
        // tile: 3·5·7 = 105 positions per sample), 2-D and 3-D; its backward stays lowered.
        let cases: [([Int], Int, UInt64)] = [
            ([2, 5, 7, 16], 2, 820), ([3, 3, 5, 32], 3, 821), ([1, 2, 3, 4, 48], 1, 822),
        ]
        for (input, cout, seed) in cases {
            let x = randomTensor(input, seed: seed)
            let w = randomTensor(Array(repeating: 1, count: input.count - 2) + [input.last!, cout], seed: seed + 1)
            let b = randomTensor([cout], seed: seed + 2)
            let reference = try Convolution(weight: w, bias: b, settings: ConvolutionSettings(allowsDirect: false))
            let direct = try Convolution(weight: w.converted(to: Float.self), bias: b.converted(to: Float.self))
            let y = try reference.forward(x)
            let dy = randomTensor(y.shape, seed: seed + 3)
            let expected = try reference.backward(input: x, outputGradient: dy)
            for isa in directLevels {
                try KernelDispatch.force(isa)
                assertMatches(try direct.forward(x.converted(to: Float.self)), y, "\(isa) \(input) forward")
                XCTAssertEqual(KernelDispatch.lastUsed(.convolution), isa, "\(input) forward")
                let actual = try direct.backward(
                    input: x.converted(to: Float.self), outputGradient: dy.converted(to: Float.self))
                assertMatches(actual.input!, expected.input!, "\(isa) \(input) ∂x")
                assertMatches(actual.weight, expected.weight, "\(isa) \(input) ∂w")
            }
        }
    }

    func testPaddingBeyondTheKernelKeepsTheLoweredInputGradient() throws {
        try checkConvolution(
            input: [1, 4, 4, 16], kernel: [3, 3], cout: 16, padding: .symmetric([3, 3]),
            directInputGradient: false, seed: 760)
    }

    func testStrideOneTransposedConvolution() throws {
        // Weight [kh, kw, Cout, Cin] of the transposed convolution: its forward runs the direct input-gradient pass.
        let x = randomTensor([2, 5, 6, 32], seed: 770)
        let w = randomTensor([3, 3, 16, 32], seed: 771)
        let b = randomTensor([16], seed: 772)
        let reference = try TransposedConvolution(
            weight: w, bias: b, padding: .same, settings: ConvolutionSettings(allowsDirect: false))
        let direct = try TransposedConvolution(
            weight: w.converted(to: Float.self), bias: b.converted(to: Float.self), padding: .same)
        XCTAssertTrue(
            try direct.geometry(x.shape).runsDirect(Float.self, inputGradient: true, settings: direct.settings))
        let y = try reference.forward(x)
        let dy = randomTensor(y.shape, seed: 773)
        let expected = try reference.backward(input: x, outputGradient: dy)
        assertMatches(try direct.forward(x.converted(to: Float.self)), y, "forward")
        let actual = try direct.backward(
            input: x.converted(to: Float.self), outputGradient: dy.converted(to: Float.self))
        assertMatches(actual.input!, expected.input!, "∂x")
        assertMatches(actual.weight, expected.weight, "∂w")
        assertMatches(actual.bias!, expected.bias!, "∂b")
    }

    func testWorkspaceLimitBoundsThePaddedCopies() throws {
        // 2 samples of 10×10×16 padded: 12 800 bytes for the whole batch, which a 4 KiB bound refuses.
        let x = randomTensor([2, 8, 8, 16], seed: 785).converted(to: Float.self)
        let w = randomTensor([3, 3, 16, 16], seed: 786).converted(to: Float.self)
        let bounded = try Convolution(
            weight: w, padding: .same, settings: ConvolutionSettings(workspaceLimit: 4096, allowsWinograd: false))
        let direct = try Convolution(weight: w, padding: .same)
        XCTAssertFalse(
            try bounded.geometry(x.shape).runsDirect(Float.self, inputGradient: false, settings: bounded.settings))
        XCTAssertEqual(try direct.geometry(x.shape).directWorkspace(inputGradient: false, workers: 2), 2 * 10 * 10 * 16)
        assertClose(try bounded.forward(x), try direct.forward(x), relativeTolerance: 1e-4, absoluteTolerance: 1e-4)
    }

    func testLoweredAndDirectFloatAgree() throws {
        // The switch itself: the same Float convolution with and without the direct kernels.
        let x = randomTensor([2, 8, 8, 16], seed: 780).converted(to: Float.self)
        let w = randomTensor([3, 3, 16, 16], seed: 781).converted(to: Float.self)
        let lowered = try Convolution(weight: w, padding: .same, settings: ConvolutionSettings(allowsDirect: false))
        let direct = try Convolution(weight: w, padding: .same)
        assertClose(try direct.forward(x), try lowered.forward(x), relativeTolerance: 1e-4, absoluteTolerance: 1e-4)
    }
}
