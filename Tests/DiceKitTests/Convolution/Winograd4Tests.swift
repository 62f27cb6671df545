// Winograd F(4×4, 3×3) (WinogradFourByFour.swift, conv_winograd4.c) at the AVX-512 level: the
// forward pass and input gradient against the lowered path in Double within its stated bound,
// the rounded-operand arithmetic's passes, and which shapes take it. WinogradTests holds it to
// the same bits for every worker count and for a sample alone or in a batch, and checks its
// evaluation-mode ReLU and concatenated input; SplitInputGradientTests its input gradient in two
// parts.

internal import CDiceKitKernels
import XCTest

@testable import DiceKit

final class Winograd4Tests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(InstructionSet.available.contains(.avx512), "no AVX-512: F(4×4, 3×3) never runs here")
        try KernelDispatch.force(.avx512)
        Winograd4.force(true)
    }

    override func tearDown() {
        try? KernelDispatch.force(nil)
        Winograd4.force(nil)
        BFloat16Arithmetic.force(nil)
    }

    /// Against Double: F(4×4, 3×3)'s bound, 2e-5 of the largest magnitude (10× the direct
    /// kernels'), and a root-mean-square error at most 10× the direct kernels' on the same data.
    /// Its transforms' coefficients reach 5 (Bᵀ) and 8 (Aᵀ), and G's sixths and twenty-fourths are
    /// not exact in Float: on these shapes its largest error was 2–7e-6 of the largest magnitude
    /// and its rms 3–6× the direct kernels' (F(2×2, 3×3): within 2e-6 and 3×). Also: neither the
    /// direct kernels' bits nor F(2×2, 3×3)'s (it ran).
    private func check(
        input: [Int], cout: Int, padding: Padding = .same, workers: Int? = nil, seed: UInt64,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let cin = input.last!
        let x = randomTensor(input, seed: seed)
        let w = randomTensor([3, 3, cin, cout], seed: seed + 1)
        let b = randomTensor([cout], seed: seed + 2)
        let reference = try Convolution(weight: w, bias: b, padding: padding, settings: .init(allowsDirect: false))
        let (wf, bf, xf) = (w.converted(to: Float.self), b.converted(to: Float.self), x.converted(to: Float.self))
        let conv = try Convolution(
            weight: wf, bias: bf, padding: padding, settings: ConvolutionSettings(workers: workers))
        var directSettings = ConvolutionSettings(workers: workers)
        directSettings.allowsWinograd = false
        let direct = try Convolution(weight: wf, bias: bf, padding: padding, settings: directSettings)
        let y = try reference.forward(x)
        let dy = randomTensor(y.shape, seed: seed + 3)
        let expected = try reference.backward(input: x, outputGradient: dy)
        let ours = (try conv.forward(xf), try conv.backward(input: xf, outputGradient: dy.converted(to: Float.self)))
        let theirs = (
            try direct.forward(xf), try direct.backward(input: xf, outputGradient: dy.converted(to: Float.self))
        )
        Winograd4.force(false)
        let twoByTwo = (
            try conv.forward(xf), try conv.backward(input: xf, outputGradient: dy.converted(to: Float.self))
        )
        Winograd4.force(true)
        let what = "\(input) → \(cout), \(workers.map(String.init) ?? "automatic") workers"
        for (name, a, d, r, f2) in [
            ("forward", ours.0, theirs.0, y, twoByTwo.0),
            ("∂x", ours.1.input!, theirs.1.input!, expected.input!, twoByTwo.1.input!),
        ] {
            assertWinogradError(
                a, direct: d, reference: r, largest: 2e-5, rmsFactor: 10, "\(what) \(name)", file: file, line: line)
            XCTAssertTrue(a.scalars != f2.scalars, "\(what) \(name): F(2×2, 3×3)'s bits", file: file, line: line)
        }
    }

    /// Tiles across samples and within one image, 16 to 64 channels, one or several output panels,
    /// the padding on one side only, 1 to 3 workers; each pass of at least 64 F(2×2, 3×3) tiles
    /// (so that the input gradient runs Winograd too).
    func testForwardAndInputGradientAgainstDouble() throws {
        try check(input: [2, 16, 16, 16], cout: 16, seed: 9900)
        try check(input: [1, 16, 36, 32], cout: 48, seed: 9910)
        try check(input: [8, 4, 8, 64], cout: 32, seed: 9920)
        try check(input: [4, 8, 20, 32], cout: 16, padding: .explicit(before: [0, 2], after: [2, 0]), seed: 9930)
        for workers in [1, 2, 3] { try check(input: [3, 12, 20, 16], cout: 32, workers: workers, seed: 9940) }
    }

    /// A batch whose padded copy exceeds the workspace bound runs slab by slab, bands of 4 output
    /// rows padded by each worker (here 1 or 2 bands a slab): the forward pass and the input
    /// gradient give the bits of the pass within the default bound, F(4×4, 3×3)'s (not
    /// F(2×2, 3×3)'s, which a bound too small for F(4×4, 3×3) falls back to).
    func testSlabsPastTheWorkspaceBound() throws {
        let (input, cout) = ([2, 16, 12, 16], 32)
        let x = randomTensor(input, seed: 9980).converted(to: Float.self)
        let w = randomTensor([3, 3, 16, cout], seed: 9981).converted(to: Float.self)
        let whole = try Convolution(weight: w, padding: .same, settings: .init(workers: 2))
        let y = try whole.forward(x)
        let dy = randomTensor(y.shape, seed: 9982).converted(to: Float.self)
        let expected = try whole.backward(input: x, outputGradient: dy).input!.scalars
        // The transformed kernel, the workers' scratch and 24 KiB: neither the padded x (32 KiB)
        // nor the padded dy (64.5 KiB) fits, slabs of 2 bands of x a worker (10 padded rows of
        // 14 · 16 Floats) and of one band of dy (6 rows of 14 · 32) do.
        var geometry = dk_winograd_geometry()
        (geometry.cin, geometry.cout) = (16, 32)
        geometry.block = ConvBlocking.current.winogradBlock(inChannels: 16, outChannels: 32, points: 36)
        let scratch = Int(dk_conv_winograd4_scratch_floats(&geometry)) * 4
        var slabs = whole
        slabs.settings.workspaceLimit = 36 * 16 * 32 * 4 + 2 * scratch + 24 << 10
        XCTAssertTrue(try slabs.forward(x).scalars == y.scalars, "forward")
        XCTAssertTrue(try slabs.backward(input: x, outputGradient: dy).input!.scalars == expected, "∂x")
        Winograd4.force(false)
        XCTAssertTrue(try whole.forward(x).scalars != y.scalars, "F(4×4, 3×3) ran")
    }

    /// The rounded-operand arithmetic: the bfloat16 pass is the Float pass given the rounded input
    /// and kernel, F(4×4, 3×3) in both.
    func testRoundedOperands() throws {
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no AVX512-BF16: bfloat16 runs in Float here")
        BFloat16Arithmetic.force(.roundedOperands)
        let x = randomTensor([4, 8, 12, 32], seed: 9970).converted(to: Float.self)
        let w = randomTensor([3, 3, 32, 32], seed: 9971).converted(to: Float.self)
        let rounded = { (t: Tensor<Float>) in t.map { BFloat16.rounded($0) } }
        let bf16 = try Convolution(
            weight: w, padding: .same, settings: ConvolutionSettings(workers: 2, precision: .bfloat16))
        let float = try Convolution(weight: rounded(w), padding: .same, settings: ConvolutionSettings(workers: 2))
        let y = try bf16.forward(x).scalars
        XCTAssertTrue(y == (try float.forward(rounded(x)).scalars), "the Float pass on the rounded operands")
        Winograd4.force(false)
        XCTAssertTrue(y != (try bf16.forward(x).scalars), "F(2×2, 3×3)'s bits")
    }

    /// `force`'s choice, and the shapes F(4×4, 3×3) needs: output extents
    /// multiples of 4, 2-D, AVX-512.
    func testWhichShapesTakeIt() throws {
        func runs(_ input: [Int], kernel: [Int] = [3, 3]) throws -> Bool {
            try withWinogradPass(input, cout: 16, kernel: kernel) { _, g, _ in
                Winograd4.runs(g)
            }
        }
        XCTAssertTrue(try runs([1, 8, 12, 16]))
        XCTAssertFalse(try runs([1, 6, 12, 16]), "6 rows")
        XCTAssertFalse(try runs([1, 8, 4, 8, 16], kernel: [3, 3, 3]), "3-D")
        Winograd4.force(false)
        XCTAssertFalse(try runs([1, 8, 12, 16]), "forced off")
        Winograd4.force(true)
        try KernelDispatch.force(.avx2)
        XCTAssertFalse(try runs([1, 8, 12, 16]), "AVX2 level")
    }
}
