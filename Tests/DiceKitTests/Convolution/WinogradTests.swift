// Winograd F(2×2, 3×3) and F(2×2×2, 3×3×3) (Winograd.swift, conv_winograd.c), at the best
// vector level the CPU has (AVX-512 or AVX2), and the two levels' bits against each other: the
// forward pass (with bias, with the evaluation-mode ReLU, on a channel concatenation), the input
// gradient and the weight gradient against the lowered path in Double, within the direct
// kernels' bound, with an error of the same order as theirs, over 2-D and 3-D inputs; the same
// forward and input-gradient bits for every worker count and for a sample alone or in a batch;
// the transformed kernel kept between forward passes; and which passes qualify. F(4×4, 3×3) is
// forced off here (Winograd4Tests holds it to its own bound).

internal import CDiceKitKernels
import XCTest

@testable import DiceKit

final class WinogradTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(InstructionSet.available.contains(.avx2), "no AVX2: Winograd never runs here")
        try KernelDispatch.force(InstructionSet.available.contains(.avx512) ? .avx512 : .avx2)
        Winograd4.force(false)
    }

    override func tearDown() {
        try? KernelDispatch.force(nil)
        Winograd4.force(nil)
    }

    private let direct = ConvolutionSettings(allowsWinograd: false)

    /// Winograd's result against Double: the direct kernels' bound (2e-6 of the largest
    /// magnitude, DirectConvolutionTests) and a root-mean-square error at most 3× the direct
    /// kernels' on the same data (the transforms' ±1 and ½ coefficients add a few roundings per
    /// sum, not a factor of the reduction length); and the two must differ somewhere, or Winograd
    /// did not run.
    private func assertSameOrder(
        winograd: Tensor<Float>, direct: Tensor<Float>, reference: Tensor<Double>, _ what: String,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        assertWinogradError(
            winograd, direct: direct, reference: reference, largest: 2e-6, rmsFactor: 3, what, file: file, line: line)
    }

    private func check(
        input: [Int], cout: Int, padding: Padding = .same, workers: Int? = nil, seed: UInt64,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let cin = input.last!
        let x = randomTensor(input, seed: seed)
        let w = randomTensor(Array(repeating: 3, count: input.count - 2) + [cin, cout], seed: seed + 1)
        let b = randomTensor([cout], seed: seed + 2)
        let reference = try Convolution(weight: w, bias: b, padding: padding, settings: .init(allowsDirect: false))
        let (wf, bf, xf) = (w.converted(to: Float.self), b.converted(to: Float.self), x.converted(to: Float.self))
        var settings = ConvolutionSettings(workers: workers)
        let winograd = try Convolution(weight: wf, bias: bf, padding: padding, settings: settings)
        settings.allowsWinograd = false
        let plain = try Convolution(weight: wf, bias: bf, padding: padding, settings: settings)
        let y = try reference.forward(x)
        let dy = randomTensor(y.shape, seed: seed + 3)
        let expected = try reference.backward(input: x, outputGradient: dy)
        let what = "\(input) → \(cout), \(workers.map(String.init) ?? "automatic") workers"
        assertSameOrder(
            winograd: try winograd.forward(xf), direct: try plain.forward(xf), reference: y, "\(what) forward",
            file: file, line: line)
        let ours = try winograd.backward(input: xf, outputGradient: dy.converted(to: Float.self))
        let theirs = try plain.backward(input: xf, outputGradient: dy.converted(to: Float.self))
        // The input gradient transforms its flipped kernel for itself: with fewer tiles than
        // repay that, it keeps the direct kernels.
        if input.dropLast().dropFirst().reduce(input[0], { $0 * ($1 / 2) }) >= Winograd.uncachedTiles {
            assertSameOrder(
                winograd: ours.input!, direct: theirs.input!, reference: expected.input!, "\(what) ∂x", file: file,
                line: line)
        } else {
            XCTAssertTrue(
                ours.input!.scalars == theirs.input!.scalars, "\(what) ∂x, too few tiles", file: file, line: line)
        }
        // The weight gradient in the transform's domain; the bias gradient, a plain sum of dy.
        assertSameOrder(
            winograd: ours.weight, direct: theirs.weight, reference: expected.weight, "\(what) ∂w", file: file,
            line: line)
        let scale = expected.bias!.scalars.map(abs).max() ?? 1
        XCTAssertLessThanOrEqual(
            winogradErrors(ours.bias!, expected.bias!).max, 2e-6 * scale, "\(what) ∂b", file: file, line: line)
    }

    /// Tile blocks within one image, across samples (a few 2×2 tiles each), 16 to 64 channels
    /// (the weight gradient's rows of 6, 4 and 2 input channels), output channels in one
    /// 16-channel block or several, and the padding on one side only (the input gradient's
    /// padding is then on the other). Passes of fewer than 64 tiles
    /// (`Winograd.uncachedTiles`) run their input gradient on the direct kernels.
    func testForwardAndInputGradientAgainstDouble() throws {
        try check(input: [2, 16, 16, 16], cout: 16, seed: 9600)
        try check(input: [1, 16, 36, 32], cout: 48, seed: 9610)
        try check(input: [8, 4, 8, 64], cout: 32, seed: 9620)
        try check(input: [16, 2, 2, 16], cout: 64, seed: 9630)
        try check(input: [2, 6, 10, 32], cout: 16, seed: 9635)
        try check(input: [4, 6, 22, 32], cout: 16, padding: .explicit(before: [0, 2], after: [2, 0]), seed: 9640)
        for workers in [1, 2, 3] { try check(input: [3, 10, 18, 16], cout: 32, workers: workers, seed: 9650) }
    }

    /// F(2×2×2, 3×3×3) over volumes: tiles across planes and samples, 16 to 48 channels, the
    /// padding on one side only, 1 to 3 workers; the input gradient of 64 tiles or more too.
    func testVolumesAgainstDouble() throws {
        try check(input: [2, 4, 6, 8, 16], cout: 16, seed: 9660)
        try check(input: [1, 2, 4, 4, 32], cout: 48, seed: 9665)
        try check(input: [2, 8, 8, 8, 16], cout: 32, seed: 9670)
        try check(
            input: [1, 8, 6, 10, 32], cout: 16, padding: .explicit(before: [2, 0, 1], after: [0, 2, 1]), seed: 9675)
        for workers in [1, 2, 3] { try check(input: [2, 6, 4, 10, 16], cout: 16, workers: workers, seed: 9680) }
    }

    /// Worker counts 1 to 3 (tile ranges split inside samples, planes and across them) give the
    /// same forward and input-gradient bits over a batch of 3 of `input` (extents and channels)
    /// with `cout` output channels, and a sample alone gives its bits in the batch.
    private func assertBitsDependOnNothingButTheSample(
        _ input: [Int], cout: Int, seed: UInt64, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let x = randomTensor([3] + input, seed: seed).converted(to: Float.self)
        let w = randomTensor(Array(repeating: 3, count: input.count - 1) + [input.last!, cout], seed: seed + 1)
            .converted(to: Float.self)
        let dy = randomTensor([3] + input.dropLast() + [cout], seed: seed + 2).converted(to: Float.self)
        let results = try [1, 2, 3].map { workers in
            let conv = try Convolution(weight: w, padding: .same, settings: ConvolutionSettings(workers: workers))
            return try conv.forward(x).scalars + conv.backward(input: x, outputGradient: dy).input!.scalars
        }
        XCTAssertTrue(results[0] == results[1], "\(input): 1 and 2 workers", file: file, line: line)
        XCTAssertTrue(results[0] == results[2], "\(input): 1 and 3 workers", file: file, line: line)
        let conv = try Convolution(weight: w, padding: .same, settings: ConvolutionSettings(workers: 2))
        let (sample, output) = (input.reduce(1, *), input.dropLast().reduce(cout, *))
        let second = try Tensor(shape: [1] + input, scalars: Array(x.scalars[sample..<(2 * sample)]))
        let alone = try conv.forward(second).scalars
        XCTAssertTrue(
            alone == Array(try conv.forward(x).scalars[output..<(2 * output)]), "\(input): a sample alone",
            file: file, line: line)
    }

    /// F(2×2, 3×3), F(2×2×2, 3×3×3), and at the AVX-512 level F(4×4, 3×3).
    func testBitsDependOnNothingButTheSample() throws {
        try assertBitsDependOnNothingButTheSample([12, 14, 32], cout: 48, seed: 9700)
        try assertBitsDependOnNothingButTheSample([4, 6, 8, 16], cout: 32, seed: 9710)
        guard InstructionSet.available.contains(.avx512) else { return }
        Winograd4.force(true)
        try assertBitsDependOnNothingButTheSample([8, 12, 32], cout: 48, seed: 9720)
    }

    /// A batch whose padded copy exceeds the workspace bound runs slab by slab (WinogradSlabs:
    /// pairs of output rows, or planes, padded by each worker, here 2 pairs a slab and a shorter
    /// last one, or 1 pair): the forward pass and the input gradient give the bits of the pass
    /// within the default bound (whole samples a slab in cache, or, for rows of 4098 · 16 Floats
    /// that a quarter of an L2 up to 4 MiB does not hold twice, the whole padded batch), the
    /// weight gradient its values within 1e-6 of their scale (other sums); a bound too small for
    /// a slab per worker keeps the direct kernels.
    func testSlabsPastTheWorkspaceBound() throws {
        for (input, cout) in [([2, 12, 10, 16], 32), ([2, 10, 8, 6, 16], 16), ([2, 8, 4096, 16], 16)] {
            let (cin, seed) = (input.last!, UInt64(9900 + input.count))
            let x = randomTensor(input, seed: seed).converted(to: Float.self)
            let w = randomTensor(Array(repeating: 3, count: input.count - 2) + [cin, cout], seed: seed + 1)
            let b = randomTensor([cout], seed: seed + 2).converted(to: Float.self)
            let whole = try Convolution(
                weight: w.converted(to: Float.self), bias: b, padding: .same, settings: .init(workers: 2))
            let y = try whole.forward(x)
            let dy = randomTensor(y.shape, seed: seed + 3).converted(to: Float.self)
            let expected = try whole.backward(input: x, outputGradient: dy)
            // Half the padded batch beside two transformed kernels (the weight gradient's sums):
            // the batch does not fit, slabs of 1 or 2 pairs of lines per worker do.
            let paddedSample = input.dropFirst().dropLast().reduce(1) { $0 * ($1 + 2) } * cin
            let transformed = Winograd.points(kernelDepth: input.count == 5 ? 3 : 1) * cin * cout * 4
            var settings = ConvolutionSettings(workers: 2)
            settings.workspaceLimit = 2 * transformed + input[0] * paddedSample * 4 / 2
            var slabs = whole
            slabs.settings = settings
            let what = "\(input) → \(cout)"
            XCTAssertTrue(try slabs.forward(x).scalars == y.scalars, "\(what): forward")
            let ours = try slabs.backward(input: x, outputGradient: dy)
            XCTAssertTrue(ours.input!.scalars == expected.input!.scalars, "\(what): ∂x")
            let scale = expected.weight.scalars.map(abs).max()!
            let worst = zip(ours.weight.scalars, expected.weight.scalars).map { abs($0 - $1) }.max()!
            XCTAssertLessThanOrEqual(worst, 1e-6 * scale, "\(what): ∂w")
            settings.allowsWinograd = false
            slabs.settings = settings
            XCTAssertTrue(try slabs.forward(x).scalars != y.scalars, "\(what): Winograd ran")
            // Too small for a slab per worker: the direct kernels' bits.
            settings.workspaceLimit = transformed + 512
            var direct = whole
            direct.settings = settings
            let directOutput = try direct.forward(x).scalars
            settings.allowsWinograd = true
            direct.settings = settings
            XCTAssertTrue(try direct.forward(x).scalars == directOutput, "\(what): too small a bound")
        }
    }

    /// The forward pass keeps its transformed kernel in the convolution's cache beside its
    /// packing: the bits of a pass that transforms for itself (no cache, 128 tiles), not the
    /// direct kernels'; a new kernel value starts a new cache.
    func testTheTransformedKernelIsKept() throws {
        var conv = try Convolution(
            weight: randomTensor([3, 3, 16, 32], seed: 9750).converted(to: Float.self),
            bias: randomTensor([32], seed: 9751).converted(to: Float.self), padding: .same)
        let x = randomTensor([8, 8, 8, 16], seed: 9752).converted(to: Float.self)
        XCTAssertEqual(conv.bfloat16Weights.directCount, 0)
        let first = try conv.forward(x).scalars
        XCTAssertEqual(conv.bfloat16Weights.directCount, 2, "the packing and the transformed kernel")
        XCTAssertTrue(try conv.forward(x).scalars == first, "the kept transform")
        let g = try conv.geometry(x.shape)
        let uncached = ConvolutionKernels.forward(
            g, x: x, weight: conv.weight, bias: conv.bias, settings: conv.settings, bfloat16Weights: nil)
        XCTAssertTrue(uncached.scalars == first, "a transform made for the pass")
        var direct = conv
        direct.settings.allowsWinograd = false
        XCTAssertTrue(try direct.forward(x).scalars != first, "the direct kernels' bits")
        conv.weight.withUnsafeMutableBufferPointer { for i in $0.indices { $0[i] *= -0.5 } }
        XCTAssertEqual(conv.bfloat16Weights.directCount, 0, "a new kernel value, a new cache")
        let fresh = try Convolution(weight: conv.weight, bias: conv.bias, padding: .same)
        XCTAssertTrue(try conv.forward(x).scalars == fresh.forward(x).scalars, "the new kernel's transform")
    }

    /// The evaluation-mode ReLU in the output transform (a max with 0 after the bias), and a
    /// U-Net decoder's input given as a channel concatenation (joined in the padded copy): the
    /// plain pass's values, rectified; the joined tensor's bits. F(2×2, 3×3), and at the AVX-512
    /// level F(4×4, 3×3).
    func testRectifiedAndConcatenatedForward() throws {
        try checkRectifiedAndConcatenated(width: 6)
        guard InstructionSet.available.contains(.avx512) else { return }
        Winograd4.force(true)
        try checkRectifiedAndConcatenated(width: 8)
    }

    private func checkRectifiedAndConcatenated(width: Int) throws {
        let x = randomTensor([2, 8, width, 32], seed: 9800).converted(to: Float.self)
        let w = randomTensor([3, 3, 32, 16], seed: 9801).converted(to: Float.self)
        let b = randomTensor([16], seed: 9802).converted(to: Float.self)
        let conv = try Convolution(weight: w, bias: b, padding: .same, settings: ConvolutionSettings(workers: 2))
        let plain = try conv.forward(x)
        let rectified = try conv.forward(x, rectified: true)
        XCTAssertTrue(rectified.scalars == plain.scalars.map { max(0, $0) }, "the ReLU")
        XCTAssertTrue(plain.scalars.contains { $0 < 0 }, "some outputs to rectify")
        let (a, c) = try (x.splittingChannels([16, 16])[0], x.splittingChannels([16, 16])[1])
        let joined = try conv.forward(concatenating: [a, c], rectified: false).scalars
        XCTAssertTrue(joined == plain.scalars, "two parts")
    }

    /// What qualifies: 3×3 in 2-D or 3×3×3 in 3-D, stride 1, even output extents, channels in multiples of 16,
    /// Float operands, at AVX2 or AVX-512 (not on the lowered path).
    func testWhichPassesQualify() throws {
        func runs(_ input: [Int], kernel: [Int] = [3, 3], cout: Int = 16, stride: [Int] = [1]) throws -> Bool {
            // Qualifying looks at the geometry and the padding only.
            try withWinogradPass(input, cout: cout, kernel: kernel, stride: stride) {
                Winograd.qualifies($1, padded: $2)
            }
        }
        XCTAssertTrue(try runs([1, 8, 6, 16]))
        XCTAssertFalse(try runs([1, 7, 6, 16]), "odd height")
        XCTAssertFalse(try runs([1, 8, 6, 8]), "8 input channels")
        XCTAssertFalse(try runs([1, 8, 6, 3]), "a first layer")
        XCTAssertFalse(try runs([1, 8, 6, 16], kernel: [5, 5]), "5×5")
        XCTAssertFalse(try runs([1, 8, 6, 16], stride: [2]), "stride 2")
        XCTAssertTrue(try runs([1, 4, 8, 6, 16], kernel: [3, 3, 3]), "3×3×3")
        XCTAssertFalse(try runs([1, 5, 8, 6, 16], kernel: [3, 3, 3]), "odd depth")
        XCTAssertFalse(try runs([1, 4, 8, 6, 16], kernel: [1, 3, 3]), "1×3×3 over a volume")
        XCTAssertFalse(try runs([1, 4, 8, 6, 16], kernel: [3, 3, 3], stride: [2]), "3-D stride 2")
        try KernelDispatch.force(.portable)
        XCTAssertFalse(try runs([1, 8, 6, 16]), "portable level")
        try KernelDispatch.force(.avx2)
        XCTAssertTrue(try runs([1, 8, 6, 16]), "AVX2 level")
        if InstructionSet.available.contains(.avx512) {
            try KernelDispatch.force(.avx512)
            XCTAssertTrue(try runs([1, 8, 6, 16]), "AVX-512 level")
        }
    }

    /// The AVX-512 products (conv_winograd_avx512.c) make each sum's FMAs in the AVX2 ones' order:
    /// the same forward, input-gradient and weight-gradient bits at both levels, with output
    /// panels in pairs and an odd one (16, 48 channels), input channels in runs of 12 and 8 or 4
    /// left (16, 32, 48), tiles past the last 12, and volumes, each of at least 64 tiles (so that
    /// the input gradient runs Winograd too); not the direct kernels' bits.
    func testBothLevelsGiveTheSameBits() throws {
        try XCTSkipUnless(InstructionSet.available.contains(.avx512), "no AVX-512: one level only")
        for (input, cout) in [
            ([2, 10, 14, 16], 48), ([4, 6, 12, 32], 32), ([3, 8, 12, 48], 64), ([5, 8, 8, 32], 16),
            ([2, 4, 8, 8, 16], 16), ([3, 4, 8, 6, 48], 32),
        ] {
            let seed = UInt64(9950 + input.reduce(cout, +))
            let x = randomTensor(input, seed: seed).converted(to: Float.self)
            let w = randomTensor(Array(repeating: 3, count: input.count - 2) + [input.last!, cout], seed: seed + 1)
            let conv = try Convolution(weight: w.converted(to: Float.self), padding: .same)
            let dy = randomTensor(try conv.forward(x).shape, seed: seed + 2).converted(to: Float.self)
            func bits(_ level: InstructionSet, winograd: Bool = true) throws -> [[Float]] {
                try KernelDispatch.force(level)
                var pass = conv
                pass.settings.allowsWinograd = winograd
                let gradients = try pass.backward(input: x, outputGradient: dy)
                return [try pass.forward(x).scalars, gradients.input!.scalars, gradients.weight.scalars]
            }
            let (wide, narrow, direct) = (try bits(.avx512), try bits(.avx2), try bits(.avx512, winograd: false))
            for (k, what) in ["forward", "∂x", "∂w"].enumerated() {
                XCTAssertTrue(wide[k] == narrow[k], "\(input) → \(cout) \(what): AVX-512 and AVX2")
                XCTAssertTrue(wide[k] != direct[k], "\(input) → \(cout) \(what): Winograd ran")
            }
        }
    }
}
