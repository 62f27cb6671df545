// The bfloat16 weight gradient as Winograd F(2×2, 3×3) with bfloat16 products
// (`ConvGeometry.bfloat16WinogradWeightGradient`, conv_winograd.c's pairs, conv_winograd_bf16.c's
// sums), in the dot-product arithmetic: against the exact gradient in Double, element by element,
// within the bound of its rounded operands,
//   |dW − dW_exact| ≤ (4u + 7u² + (T + 32)·2⁻²⁴)·Σ_ab |G_ai||G_bj| Σ_t V̄_t,ab dM̄_t,ab + 2⁻²³·|dW_exact|
// per tap (i, j) and channel pair, u = 2⁻⁸, T the batch's tiles, V̄ = |Bᵀ||x||B| and dM̄ = |A||dy||Aᵀ|
// of each tile, computed here in Double (x and dy rounded, then V and dM computed in Float and
// rounded: each within (2u + u²) of its magnitude and a few Float roundings; their product within
// (4u + 6u² + 4u³ + u⁴); the sums over T tiles and the back-transform's 16 terms add Float
// roundings); with a root-mean-square error of the dot-product kernels' order; the same bits for
// every worker count and every block size; and which passes take it.

internal import CDiceKitKernels
import XCTest

@testable import DiceKit

final class BFloat16WinogradWeightGradientTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no AVX512-BF16: the bfloat16 kernels never run here")
        try XCTSkipUnless(ConvolutionSettings.winogradRuns, "Winograd does not run here")
        BFloat16Arithmetic.force(.dotProducts)
    }

    override func tearDown() { BFloat16Arithmetic.force(nil) }

    /// Σ_ab |G_ai||G_bj| Σ_t V̄_t,ab dM̄_t,ab for every weight [3, 3, Cin, Cout] of the 3×3
    /// convolution (padded by one on each side) of `x` [N, H, W, Cin] (H and W even) whose
    /// output gradient is `dy` [N, H, W, Cout].
    private func transformMagnitudes(_ x: Tensor<Double>, _ dy: Tensor<Double>) -> [Double] {
        let (n, h, width, cin, cout) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], dy.shape[3])
        let g = winogradG
        let a: [[Double]] = [[1, 0], [1, 1], [1, -1], [0, -1]]
        // Σ_t V̄ dM̄ per channel pair and element: [ci][co][16].
        var sums = [Double](repeating: 0, count: cin * cout * 16)
        var m = [Double](repeating: 0, count: cout * 16)
        for s in 0..<n {
            for ty in 0..<(h / 2) {
                for tx in 0..<(width / 2) {
                    let v = winogradInputMagnitudes(x, sample: s, tileRow: ty, tileColumn: tx)
                    for co in 0..<cout {
                        for p in 0..<4 {
                            for q in 0..<4 {
                                var sum = 0.0
                                for i in 0..<2 {
                                    for j in 0..<2 {
                                        let at = ((s * h + 2 * ty + i) * width + 2 * tx + j) * cout + co
                                        sum += abs(a[p][i] * dy.scalars[at] * a[q][j])
                                    }
                                }
                                m[co * 16 + p * 4 + q] = sum
                            }
                        }
                    }
                    for ci in 0..<cin {
                        for co in 0..<cout {
                            for k in 0..<16 { sums[(ci * cout + co) * 16 + k] += v[ci * 16 + k] * m[co * 16 + k] }
                        }
                    }
                }
            }
        }
        var result = [Double](repeating: 0, count: 9 * cin * cout)
        for i in 0..<3 {
            for j in 0..<3 {
                for ci in 0..<cin {
                    for co in 0..<cout {
                        var sum = 0.0
                        for p in 0..<4 {
                            for q in 0..<4 {
                                sum += abs(g[p][i]) * abs(g[q][j]) * sums[(ci * cout + co) * 16 + p * 4 + q]
                            }
                        }
                        result[((i * 3 + j) * cin + ci) * cout + co] = sum
                    }
                }
            }
        }
        return result
    }

    private func rms(_ actual: Tensor<Float>, _ exact: Tensor<Double>) -> Double {
        let squares = zip(actual.scalars, exact.scalars).reduce(0.0) { $0 + pow(Double($1.0) - $1.1, 2) }
        return (squares / Double(exact.count)).squareRoot()
    }

    /// The weight gradient of a 3×3 convolution of `input` to `cout` channels within the bound,
    /// with a root-mean-square error at most 3× the dot-product kernels' on the same data, and
    /// not their bits (Winograd ran).
    private func check(input: [Int], cout: Int, seed: UInt64, file: StaticString = #filePath, line: UInt = #line) throws
    {
        let cin = input.last!
        let (x, w) = (randomTensor(input, seed: seed), randomTensor([3, 3, cin, cout], seed: seed + 1))
        let dy = randomTensor(Array(input.dropLast()) + [cout], seed: seed + 2)
        let exact = try Convolution(weight: w, padding: .same, settings: .init(allowsDirect: false))
            .backward(input: x, outputGradient: dy).weight
        var settings = ConvolutionSettings(workers: 2, precision: .bfloat16)
        let (xf, dyf) = (x.converted(to: Float.self), dy.converted(to: Float.self))
        let ours = try Convolution(weight: w.converted(to: Float.self), padding: .same, settings: settings)
            .backward(input: xf, outputGradient: dyf).weight
        settings.allowsWinograd = false
        let theirs = try Convolution(weight: w.converted(to: Float.self), padding: .same, settings: settings)
            .backward(input: xf, outputGradient: dyf).weight
        let what = "\(input) → \(cout)"
        XCTAssertTrue(ours.scalars != theirs.scalars, "\(what): the dot-product kernels' bits", file: file, line: line)
        let tiles = input[0] * (input[1] / 2) * (input[2] / 2)
        let u = 1.0 / 256
        let factor = 4 * u + 7 * u * u + Double(tiles + 32) * 0x1p-24
        let magnitudes = transformMagnitudes(x, dy)
        for i in 0..<exact.count {
            let error = abs(Double(ours.scalars[i]) - exact.scalars[i])
            let bound = factor * magnitudes[i] + 0x1p-23 * abs(exact.scalars[i])
            XCTAssertLessThanOrEqual(error, bound, "\(what) ∂w[\(i)]", file: file, line: line)
            if error > bound { return }
        }
        XCTAssertLessThanOrEqual(rms(ours, exact), 3 * rms(theirs, exact), "\(what) rms", file: file, line: line)
    }

    /// 64 → 64 over 64 tiles, 96 → 48 over 45 (an odd count: the last pair's second tile zero),
    /// 64 → 80 (an odd panel of 16 output channels; input channels in runs of 12, then 4).
    func testWithinTheBound() throws {
        try check(input: [4, 8, 8, 64], cout: 64, seed: 9600)
        try check(input: [3, 6, 10, 96], cout: 48, seed: 9610)
        try check(input: [2, 8, 6, 64], cout: 80, seed: 9620)
    }

    /// Worker counts 1 to 3, and blocks of 2, 6 and the default tiles per worker, give the same bits.
    func testBitsForEveryWorkerCountAndBlock() throws {
        let (batch, h, w, cin, cout) = (3, 10, 12, 64, 80)
        let x = randomTensor([batch, h, w, cin], seed: 9630).converted(to: Float.self)
        let kernel = randomTensor([3, 3, cin, cout], seed: 9631).converted(to: Float.self)
        let dy = randomTensor([batch, h, w, cout], seed: 9632).converted(to: Float.self)
        let results = try [1, 2, 3].map { workers in
            try Convolution(
                weight: kernel, padding: .same, settings: ConvolutionSettings(workers: workers, precision: .bfloat16)
            ).backward(input: x, outputGradient: dy, computeInputGradient: false).weight.scalars
        }
        XCTAssertTrue(results[0] == results[1], "1 and 2 workers")
        XCTAssertTrue(results[0] == results[2], "1 and 3 workers")
        let conv = try Convolution(weight: kernel, padding: .same, settings: ConvolutionSettings(precision: .bfloat16))
        let geometry = try conv.geometry(x.shape)
        let g = dk_conv_geometry(hp: h + 2, wp: w + 2, output: [1, h, w], kernel: [1, 3, 3], cin: cin, cout: cout)
        for (part, workers) in [(2, 1), (6, 2), (6, 3), (40, 2)] {
            var dW = [Float](repeating: .nan, count: 9 * cin * cout)
            let ran = x.scalars.withUnsafeBufferPointer { xb in
                dy.scalars.withUnsafeBufferPointer { dyb in
                    dW.withUnsafeMutableBufferPointer { dWb in
                        let source = PaddedSource(
                            source: xb.baseAddress!, batch: batch, inner: [1, h, w], channels: cin,
                            before: [0, 1, 1], after: [0, 1, 1], kernelWidth: 3)
                        return geometry.bfloat16WinogradWeightGradient(
                            g, padded: source, dy: dyb.baseAddress!, dW: dWb.baseAddress!, workers: workers,
                            settings: ConvolutionSettings(precision: .bfloat16), tilesPerWorker: part)
                    }
                }
            }
            XCTAssertTrue(ran, "\(part) tiles per worker ran")
            XCTAssertTrue(dW == results[0], "\(part) tiles per worker, \(workers) workers")
        }
    }

    /// Which weight gradients take it: 2-D 3×3 passes whose channels repay the transforms (64 →
    /// 64, 96 → 48), in the dot-product arithmetic; not 32 → 32 or 64 → 32, a volume, the tile
    /// arithmetic, with `allowsWinograd` false, or where the workspace bound is below its buffers.
    func testWhichPassesTakeIt() throws {
        func differs(
            _ input: [Int], cout: Int, kernel: [Int] = [3, 3], arithmetic: BFloat16Arithmetic = .dotProducts,
            allowsWinograd: Bool = true, workspaceLimit: Int = 64 << 20
        ) throws -> Bool {
            BFloat16Arithmetic.force(arithmetic)
            defer { BFloat16Arithmetic.force(.dotProducts) }
            let x = randomTensor(input, seed: 9640).converted(to: Float.self)
            let w = randomTensor(kernel + [input.last!, cout], seed: 9641).converted(to: Float.self)
            let dy = randomTensor(Array(input.dropLast()) + [cout], seed: 9642).converted(to: Float.self)
            var settings = ConvolutionSettings(
                workspaceLimit: workspaceLimit, precision: .bfloat16, allowsWinograd: allowsWinograd)
            let conv = try Convolution(weight: w, padding: .same, settings: settings)
            settings.allowsWinograd = false
            let direct = try Convolution(weight: w, padding: .same, settings: settings)
            return try conv.backward(input: x, outputGradient: dy, computeInputGradient: false).weight.scalars
                != direct.backward(input: x, outputGradient: dy, computeInputGradient: false).weight.scalars
        }
        XCTAssertTrue(try differs([2, 8, 8, 64], cout: 64), "64 → 64")
        XCTAssertTrue(try differs([2, 8, 8, 96], cout: 48), "96 → 48")
        XCTAssertFalse(try differs([2, 8, 8, 32], cout: 32), "32 → 32")
        XCTAssertFalse(try differs([2, 8, 8, 64], cout: 32), "64 → 32, whose forward pass takes it")
        XCTAssertFalse(try differs([2, 4, 8, 8, 64], cout: 64, kernel: [3, 3, 3]), "a volume")
        XCTAssertFalse(try differs([2, 8, 8, 64], cout: 64, arithmetic: .tiles), "the tile arithmetic")
        XCTAssertFalse(try differs([2, 8, 8, 64], cout: 64, allowsWinograd: false), "allowsWinograd false")
        XCTAssertFalse(try differs([2, 8, 8, 64], cout: 64, workspaceLimit: 256 << 10), "a bound below its buffers")
    }
}
