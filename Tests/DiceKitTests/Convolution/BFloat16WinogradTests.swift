// Winograd F(2×2, 3×3) with bfloat16 products (BFloat16Winograd.swift, conv_winograd_bf16.c), in
// the dot-product arithmetic: the forward pass and the input gradient against the exact result in
// Double, element by element, within the bound of the rounded input and transforms,
//   |y − y_exact| ≤ (3u + 4u² + (Cin + 16)·2⁻²⁴)·Σ_ξ |a_ξ| Σ_ci V̄_ξ,ci Ū_ξ,ci + 2⁻²³·|y_exact|,
// u = 2⁻⁸, V̄ = |Bᵀ| |d| |B| and Ū = |G| |g| |Gᵀ| computed here in Double, a_ξ the ±1 and 0
// coefficients of the output transform Aᵀ · A (the input rounded, then V rounded: within
// (2u + u²)·V̄ of V; U rounded: within u·Ū; the Float sums over Cin and the transform's 16
// terms, and the bias, add Float roundings);
// with a root-mean-square error of the dot-product kernels' order; the same bits for every
// worker count; a rounded output the rounding of the Float one; the input gradient's kernel as
// the forward transform transposed; and which passes take it.

import XCTest

@testable import DiceKit

final class BFloat16WinogradTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no AVX512-BF16: the bfloat16 kernels never run here")
        try XCTSkipUnless(ConvolutionSettings.winogradRuns, "Winograd does not run here")
        BFloat16Arithmetic.force(.dotProducts)
    }

    override func tearDown() { BFloat16Arithmetic.force(nil) }

    /// Σ_ξ |a_ξ| Σ_ci V̄_ξ,ci Ū_ξ,ci for every output of a 3×3 convolution of `x` [N, H, W, Cin]
    /// (H and W even, padded by one on each side) with `w` [3, 3, Cin, Cout].
    private func transformMagnitudes(_ x: Tensor<Double>, _ w: Tensor<Double>) -> [Double] {
        let (n, h, width, cin, cout) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], w.shape[3])
        let g = winogradG
        let at: [[Double]] = [[1, 1, 1, 0], [0, 1, -1, -1]]
        // Ū [ci][co][4][4]
        var u = [Double](repeating: 0, count: cin * cout * 16)
        for ci in 0..<cin {
            for co in 0..<cout {
                for a in 0..<4 {
                    for b in 0..<4 {
                        var sum = 0.0
                        for i in 0..<3 {
                            for j in 0..<3 {
                                sum += abs(g[a][i] * w.scalars[((i * 3 + j) * cin + ci) * cout + co] * g[b][j])
                            }
                        }
                        u[((ci * cout + co) * 4 + a) * 4 + b] = sum
                    }
                }
            }
        }
        var result = [Double](repeating: 0, count: n * h * width * cout)
        for s in 0..<n {
            for ty in 0..<(h / 2) {
                for tx in 0..<(width / 2) {
                    let v = winogradInputMagnitudes(x, sample: s, tileRow: ty, tileColumn: tx)
                    for co in 0..<cout {
                        var m = [Double](repeating: 0, count: 16)
                        for ci in 0..<cin {
                            for k in 0..<16 { m[k] += v[ci * 16 + k] * u[(ci * cout + co) * 16 + k] }
                        }
                        for i in 0..<2 {
                            for j in 0..<2 {
                                var sum = 0.0
                                for a in 0..<4 {
                                    for b in 0..<4 { sum += abs(at[i][a]) * abs(at[j][b]) * m[a * 4 + b] }
                                }
                                result[((s * h + 2 * ty + i) * width + 2 * tx + j) * cout + co] = sum
                            }
                        }
                    }
                }
            }
        }
        return result
    }

    /// `actual` against `exact` within the bound above; returns the root-mean-square error.
    @discardableResult
    private func assertWithinBound(
        _ actual: Tensor<Float>, _ exact: Tensor<Double>, magnitudes: [Double], cin: Int, _ what: String,
        file: StaticString = #filePath, line: UInt = #line
    ) -> Double {
        let u = 1.0 / 256
        let factor = 3 * u + 4 * u * u + Double(cin + 16) * 0x1p-24
        var squares = 0.0
        for i in 0..<exact.count {
            let error = abs(Double(actual.scalars[i]) - exact.scalars[i])
            let bound = factor * magnitudes[i] + 0x1p-23 * abs(exact.scalars[i])
            XCTAssertLessThanOrEqual(error, bound, "\(what)[\(i)]", file: file, line: line)
            if error > bound { return .infinity }
            squares += error * error
        }
        return (squares / Double(exact.count)).squareRoot()
    }

    private func rms(_ actual: Tensor<Float>, _ exact: Tensor<Double>) -> Double {
        let squares = zip(actual.scalars, exact.scalars).reduce(0.0) { $0 + pow(Double($1.0) - $1.1, 2) }
        return (squares / Double(exact.count)).squareRoot()
    }

    /// The forward pass and the input gradient (of `Winograd.uncachedBFloat16Tiles` tiles or more) within the bound, with a
    /// root-mean-square error at most 3× the dot-product kernels' on the same data, and not their
    /// bits (Winograd ran).
    private func check(input: [Int], cout: Int, seed: UInt64, file: StaticString = #filePath, line: UInt = #line) throws
    {
        let cin = input.last!
        let (x, w, b) = (
            randomTensor(input, seed: seed), randomTensor([3, 3, cin, cout], seed: seed + 1),
            randomTensor([cout], seed: seed + 2)
        )
        let exact = try Convolution(weight: w, bias: b, padding: .same, settings: .init(allowsDirect: false))
        var settings = ConvolutionSettings(workers: 2, precision: .bfloat16)
        let winograd = try Convolution(
            weight: w.converted(to: Float.self), bias: b.converted(to: Float.self), padding: .same, settings: settings)
        settings.allowsWinograd = false
        var direct = winograd
        direct.settings = settings
        let y = try exact.forward(x)
        let dy = randomTensor(y.shape, seed: seed + 3)
        let (xf, dyf) = (x.converted(to: Float.self), dy.converted(to: Float.self))
        let what = "\(input) → \(cout)"
        let ours = try winograd.forward(xf)
        let theirs = try direct.forward(xf)
        XCTAssertTrue(
            ours.scalars != theirs.scalars, "\(what) forward: the dot-product kernels' bits", file: file, line: line)
        let error = assertWithinBound(
            ours, y, magnitudes: transformMagnitudes(x, w), cin: cin, "\(what) forward", file: file, line: line)
        XCTAssertLessThanOrEqual(error, 3 * rms(theirs, y), "\(what) forward rms", file: file, line: line)
        // The input gradient: the forward pass of the flipped, transposed kernel over dy.
        var flipped = Tensor<Double>(shape: [3, 3, cout, cin])
        for t in 0..<9 {
            for ci in 0..<cin {
                for co in 0..<cout {
                    flipped.scalars[((8 - t) * cout + co) * cin + ci] = w.scalars[(t * cin + ci) * cout + co]
                }
            }
        }
        let dx = try exact.backward(input: x, outputGradient: dy).input!
        let oursDX = try winograd.backward(input: xf, outputGradient: dyf).input!
        let theirsDX = try direct.backward(input: xf, outputGradient: dyf).input!
        XCTAssertTrue(
            oursDX.scalars != theirsDX.scalars, "\(what) ∂x: the dot-product kernels' bits", file: file, line: line)
        let errorDX = assertWithinBound(
            oursDX, dx, magnitudes: transformMagnitudes(dy, flipped), cin: cout, "\(what) ∂x", file: file, line: line)
        XCTAssertLessThanOrEqual(errorDX, 3 * rms(theirsDX, dx), "\(what) ∂x rms", file: file, line: line)
    }

    /// 64 → 64, 96 → 48, and 32 → 32 and 64 → 32 (Cin · Cout = 16 · (Cin + Cout), the least that
    /// qualifies): output panels in pairs and an odd one, tiles past the last 12, several samples.
    func testForwardAndInputGradientWithinTheBound() throws {
        try check(input: [4, 16, 16, 64], cout: 64, seed: 9500)
        try check(input: [8, 8, 16, 96], cout: 48, seed: 9510)
        try check(input: [4, 16, 16, 32], cout: 32, seed: 9505)
        try check(input: [4, 16, 16, 64], cout: 32, seed: 9515)
    }

    /// Worker counts 1 to 3 give the same forward and input-gradient bits; an output stored as
    /// bfloat16 bits is the rounding of the Float one; an input given as bfloat16 bits gives the
    /// bits of its values given as Floats.
    func testBitsForEveryWorkerCountAndRoundedForms() throws {
        let x = randomTensor([3, 16, 24, 64], seed: 9520).converted(to: Float.self)
        let w = randomTensor([3, 3, 64, 80], seed: 9521).converted(to: Float.self)
        let b = randomTensor([80], seed: 9522).converted(to: Float.self)
        let dy = randomTensor([3, 16, 24, 80], seed: 9523).converted(to: Float.self)
        let results = try [1, 2, 3].map { workers in
            let conv = try Convolution(
                weight: w, bias: b, padding: .same,
                settings: ConvolutionSettings(workers: workers, precision: .bfloat16))
            return try conv.forward(x).scalars + conv.backward(input: x, outputGradient: dy).input!.scalars
        }
        XCTAssertTrue(results[0] == results[1], "1 and 2 workers")
        XCTAssertTrue(results[0] == results[2], "1 and 3 workers")
        // A sample alone, and its input gradient in a batch of 3 copies of it (96 tiles alone: too few).
        let single = try Convolution(
            weight: w, bias: b, padding: .same, settings: ConvolutionSettings(precision: .bfloat16))
        let (sample, output) = (16 * 24 * 64, 16 * 24 * 80)
        let second = try Tensor(shape: [1, 16, 24, 64], scalars: Array(x.scalars[sample..<(2 * sample)]))
        XCTAssertTrue(
            try single.forward(second).scalars == Array(results[0][output..<(2 * output)]), "a sample alone")
        let tripled = try Tensor(
            shape: [3, 16, 24, 64], scalars: Array(repeating: second.scalars, count: 3).flatMap { $0 })
        let tripledDY = try Tensor(
            shape: [3, 16, 24, 80],
            scalars: Array(repeating: Array(dy.scalars[output..<(2 * output)]), count: 3).flatMap { $0 })
        let dx = try single.backward(input: tripled, outputGradient: tripledDY).input!.scalars
        let batchDX = Array(results[0][(3 * output)...])
        XCTAssertTrue(Array(dx[..<sample]) == Array(batchDX[sample..<(2 * sample)]), "∂x of a sample in another batch")
        let conv = try Convolution(
            weight: w, bias: b, padding: .same, settings: ConvolutionSettings(precision: .bfloat16))
        let y = try conv.forward(x, rectified: true)
        let rounded = try conv.roundedForward(.parts([x]), rectified: true, kept: false)
        let expected = BFloat16Activation(rounding: y).widened(as: Float.self)
        XCTAssertTrue(rounded.widened(as: Float.self).scalars == expected.scalars, "rounded output")
        let bits = BFloat16Activation(rounding: x)
        XCTAssertTrue(
            try conv.forward(rounded: bits, rectified: true).scalars
                == conv.forward(bits.widened(as: Float.self), rectified: true).scalars,
            "input as bits")
    }

    /// The input gradient reads the forward pass's transformed kernel, kept in the convolution's
    /// cache, transposed (dk_conv_winograd_transpose_kernel_bf16): the bits of the forward pass
    /// of the flipped, transposed kernel over dy, which transforms that kernel itself, whether the
    /// forward pass made the kept transform or the input gradient did; for Cin ≠ Cout both ways.
    func testTheInputGradientTransposesTheForwardTransform() throws {
        for (cin, cout, seed) in [(64, 32, UInt64(9560)), (32, 48, 9570)] {
            let x = randomTensor([4, 16, 16, cin], seed: seed).converted(to: Float.self)
            let w = randomTensor([3, 3, cin, cout], seed: seed + 1).converted(to: Float.self)
            let dy = randomTensor([4, 16, 16, cout], seed: seed + 2).converted(to: Float.self)
            // w′[i][j][co][ci] = w[2 − i][2 − j][ci][co].
            var flipped = [Float](repeating: 0, count: w.count)
            for i in 0..<3 {
                for j in 0..<3 {
                    for ci in 0..<cin {
                        for co in 0..<cout {
                            flipped[((i * 3 + j) * cout + co) * cin + ci] =
                                w.scalars[(((2 - i) * 3 + (2 - j)) * cin + ci) * cout + co]
                        }
                    }
                }
            }
            let settings = ConvolutionSettings(precision: .bfloat16)
            let transposed = try Convolution(
                weight: Tensor(shape: [3, 3, cout, cin], scalars: flipped), padding: .same, settings: settings)
            let expected = try transposed.forward(dy).scalars
            let what = "\(cin) → \(cout)"
            let conv = try Convolution(weight: w, padding: .same, settings: settings)
            let first = try conv.backward(input: x, outputGradient: dy).input!.scalars
            XCTAssertTrue(first == expected, "\(what): the transform made by the input gradient")
            XCTAssertEqual(conv.bfloat16Weights.directCount, 1, "\(what): the forward transform kept")
            _ = try conv.forward(x)
            XCTAssertTrue(
                try conv.backward(input: x, outputGradient: dy).input!.scalars == expected,
                "\(what): the forward pass's kept transform")
            var direct = settings
            direct.allowsWinograd = false
            let plain = try Convolution(weight: w, padding: .same, settings: direct)
            XCTAssertTrue(
                try plain.backward(input: x, outputGradient: dy).input!.scalars != expected, "\(what): Winograd ran")
        }
    }

    /// Small integers and quarters, whose transforms are exact in bfloat16 and whose sums are
    /// exact in Float: the Float output is the exact one, and stored as bits it rounds its ties
    /// (integers of 9 significant bits and more, half-way between two bfloat16 values) to even.
    func testExactValuesAndTiesToEven() throws {
        let x = try Tensor<Float>(shape: [2, 8, 8, 64], scalars: (0..<(2 * 8 * 8 * 64)).map { Float(($0 * 7) % 9) })
        let w = try Tensor<Float>(
            shape: [3, 3, 64, 64], scalars: (0..<(9 * 64 * 64)).map { Float(($0 * 5) % 9 - 4) / 4 })
        let conv = try Convolution(weight: w, padding: .same, settings: ConvolutionSettings(precision: .bfloat16))
        let exact = try Convolution(
            weight: w.converted(to: Double.self), padding: .same, settings: .init(allowsDirect: false))
        let y = try conv.forward(x)
        XCTAssertTrue(y.scalars.map(Double.init) == (try exact.forward(x.converted(to: Double.self))).scalars, "exact")
        let ties = y.scalars.filter { $0.bitPattern & 0xFFFF == 0x8000 }.count
        XCTAssertGreaterThan(ties, 10, "outputs half-way between two bfloat16 values")
        let rounded = try conv.roundedForward(.parts([x]), rectified: false, kept: false)
        XCTAssertTrue(
            rounded.widened(as: Float.self).scalars == BFloat16Activation(rounding: y).widened(as: Float.self).scalars,
            "ties to even")
    }

    /// Which passes take it: 2-D 3×3 passes whose channels repay the transforms (64 → 64, 96 →
    /// 48, 32 → 32, 64 → 32), in the dot-product arithmetic; not 16 → 32, 16 → 16, a volume, the
    /// tile arithmetic, or with `allowsWinograd` false.
    func testWhichPassesTakeIt() throws {
        func differs(
            _ input: [Int], cout: Int, kernel: [Int] = [3, 3], arithmetic: BFloat16Arithmetic = .dotProducts,
            allowsWinograd: Bool = true
        ) throws -> Bool {
            BFloat16Arithmetic.force(arithmetic)
            defer { BFloat16Arithmetic.force(.dotProducts) }
            let x = randomTensor(input, seed: 9530).converted(to: Float.self)
            let w = randomTensor(kernel + [input.last!, cout], seed: 9531).converted(to: Float.self)
            var settings = ConvolutionSettings(precision: .bfloat16, allowsWinograd: allowsWinograd)
            let conv = try Convolution(weight: w, padding: .same, settings: settings)
            settings.allowsWinograd = false
            let direct = try Convolution(weight: w, padding: .same, settings: settings)
            return try conv.forward(x).scalars != direct.forward(x).scalars
        }
        XCTAssertTrue(try differs([2, 8, 8, 64], cout: 64), "64 → 64")
        XCTAssertTrue(try differs([2, 8, 8, 96], cout: 48), "96 → 48")
        XCTAssertTrue(try differs([2, 8, 8, 32], cout: 32), "32 → 32")
        XCTAssertTrue(try differs([2, 8, 8, 64], cout: 32), "64 → 32")
        XCTAssertFalse(try differs([2, 8, 8, 16], cout: 32), "16 → 32")
        XCTAssertFalse(try differs([2, 8, 8, 16], cout: 16), "16 → 16")
        XCTAssertFalse(try differs([2, 4, 8, 8, 64], cout: 64, kernel: [3, 3, 3]), "a volume")
        XCTAssertFalse(try differs([2, 8, 8, 64], cout: 64, arithmetic: .tiles), "the tile arithmetic")
        XCTAssertFalse(try differs([2, 8, 8, 64], cout: 64, allowsWinograd: false), "allowsWinograd false")
        // An input gradient transforms its flipped kernel for itself: 256 tiles repay that, 128 do not.
        func inputGradientDiffers(batch: Int) throws -> Bool {
            let x = randomTensor([batch, 16, 16, 64], seed: 9532).converted(to: Float.self)
            let w = randomTensor([3, 3, 64, 64], seed: 9533).converted(to: Float.self)
            let dy = randomTensor([batch, 16, 16, 64], seed: 9534).converted(to: Float.self)
            var settings = ConvolutionSettings(precision: .bfloat16)
            let conv = try Convolution(weight: w, padding: .same, settings: settings)
            settings.allowsWinograd = false
            let direct = try Convolution(weight: w, padding: .same, settings: settings)
            return try conv.backward(input: x, outputGradient: dy).input!.scalars
                != direct.backward(input: x, outputGradient: dy).input!.scalars
        }
        XCTAssertTrue(try inputGradientDiffers(batch: 4), "∂x of 256 tiles")
        XCTAssertFalse(try inputGradientDiffers(batch: 2), "∂x of 128 tiles")
    }
}
