// The exact-tiling store of a transposed convolution whose kernel equals its stride (the U-Net's
// 2×2 stride-2 up-sampling, ExactTiling.swift): against the definition in Double, and bit for
// bit against the fill-then-accumulate col2im path (an output padding of 1 keeps the same values
// on the same pixels but does not tile exactly), 2-D and 3-D, Float and Double, with and without
// bias, odd channel counts, one and several samples and workers; and a sample alone against the
// same sample in a batch, bit for bit.

import XCTest

@testable import DiceKit

final class ExactTilingTests: XCTestCase {
    /// Which geometries take the exact-tiling store.
    func testOnlyExactTilingsQualify() throws {
        let w = Tensor<Float>(shape: [2, 2, 3, 5])
        func tiles(_ layer: TransposedConvolution<Float>) throws -> Bool {
            try layer.geometry([1, 4, 6, 5]).tilesExactly
        }
        XCTAssertTrue(try tiles(TransposedConvolution(weight: w, stride: [2])))
        XCTAssertFalse(try tiles(TransposedConvolution(weight: w, stride: [2], outputPadding: [1])))
        XCTAssertFalse(try tiles(TransposedConvolution(weight: w, stride: [1])))
        XCTAssertFalse(
            try tiles(
                TransposedConvolution(weight: w, stride: [2], padding: .explicit(before: [1, 0], after: [0, 0]))))
        XCTAssertFalse(try tiles(TransposedConvolution(weight: w, stride: [2], dilation: [2])))
        let w3 = Tensor<Float>(shape: [2, 2, 2, 3, 5])
        XCTAssertTrue(try TransposedConvolution(weight: w3, stride: [2]).geometry([1, 2, 4, 6, 5]).tilesExactly)
    }

    func testFloatTwoDimensional() throws { try check(Float.self, spatial: [3, 5], bias: true) }
    func testFloatTwoDimensionalNoBias() throws { try check(Float.self, spatial: [1, 1], bias: false) }
    func testDoubleTwoDimensional() throws { try check(Double.self, spatial: [4, 3], bias: true) }
    func testFloatThreeDimensional() throws { try check(Float.self, spatial: [2, 3, 2], bias: true) }

    /// y[n, k·i + a, …, co] = bias[co] + Σ_ci x[n, i, …, ci] · W[a, …, co, ci], for batches of 1
    /// and 3 on 1–3 workers, and bitwise against the col2im path.
    private func check<T: BLASScalar>(_: T.Type, spatial: [Int], bias: Bool) throws {
        let rank = spatial.count
        let (cin, cout) = (7, 5)
        let kernel = [Int](repeating: 2, count: rank)
        var generator = SeededGenerator(seed: 15)
        let weight = Tensor<T>.normal(kernel + [cout, cin], generator: &generator)
        let b: Tensor<T>? = bias ? Tensor<T>.normal([cout], generator: &generator) : nil
        for batch in [1, 3] {
            let x = Tensor<T>.normal([batch] + spatial + [cin], generator: &generator)
            let expected = reference(x, weight: weight, bias: b, spatial: spatial, cin: cin, cout: cout)
            for workers in [1, 2, 3] {
                let settings = ConvolutionSettings(workers: workers)
                let exact = try TransposedConvolution(weight: weight, bias: b, stride: [2], settings: settings)
                let y = try exact.forward(x)
                XCTAssertEqual(y.shape, [batch] + spatial.map { 2 * $0 } + [cout])
                assertClose(
                    y.scalars.map(Double.init), expected, relativeTolerance: 1e-5, absoluteTolerance: 1e-5,
                    "\(T.self) \(spatial) batch \(batch) workers \(workers)")
                // The output padding adds a last row/column (bias only) and takes the col2im path.
                let padded = try TransposedConvolution(
                    weight: weight, bias: b, stride: [2], outputPadding: [1], settings: settings)
                let z = try padded.forward(x)
                XCTAssert(
                    y.scalars == cropped(z, to: y.shape),
                    "\(T.self) \(spatial) batch \(batch) workers \(workers): not the col2im path's bits")
                // A sample's bits do not depend on the batch (alone it may take the col2im path).
                let per = x.count / batch
                let first = try exact.forward(
                    Tensor(shape: [1] + spatial + [cin], scalars: Array(x.scalars[0..<per])))
                XCTAssert(
                    first.scalars == Array(y.scalars[0..<first.count]),
                    "\(T.self) \(spatial) batch \(batch) workers \(workers): the first sample alone differs")
            }
        }
    }

    /// The definition, in Double, in the output's channels-last order.
    private func reference<T: BLASScalar>(
        _ x: Tensor<T>, weight: Tensor<T>, bias: Tensor<T>?, spatial: [Int], cin: Int, cout: Int
    ) -> [Double] {
        let rank = spatial.count
        let out = spatial.map { 2 * $0 }
        let outPixels = out.reduce(1, *)
        let inPixels = spatial.reduce(1, *)
        let batch = x.shape[0]
        let (xs, ws) = (x.scalars.map(Double.init), weight.scalars.map(Double.init))
        let bs = bias?.scalars.map(Double.init)
        var y = [Double](repeating: 0, count: batch * outPixels * cout)
        for n in 0..<batch {
            for q in 0..<outPixels {
                // Output coordinates, then the input pixel and the kernel tap.
                var rest = q
                var coords = [Int](repeating: 0, count: rank)
                for axis in (0..<rank).reversed() {
                    coords[axis] = rest % out[axis]
                    rest /= out[axis]
                }
                var (pixel, tap) = (0, 0)
                for axis in 0..<rank {
                    pixel = pixel * spatial[axis] + coords[axis] / 2
                    tap = tap * 2 + coords[axis] % 2
                }
                for co in 0..<cout {
                    var sum = bs?[co] ?? 0
                    for ci in 0..<cin {
                        sum += xs[(n * inPixels + pixel) * cin + ci] * ws[(tap * cout + co) * cin + ci]
                    }
                    y[(n * outPixels + q) * cout + co] = sum
                }
            }
        }
        return y
    }

    /// The leading block of `z` with `shape` (each spatial extent one less than z's).
    private func cropped<T: BLASScalar>(_ z: Tensor<T>, to shape: [Int]) -> [T] {
        let rank = shape.count - 2
        let c = shape.last!
        var result: [T] = []
        let zs = z.scalars
        let pixels = shape.dropFirst().dropLast().reduce(1, *)
        for n in 0..<shape[0] {
            for q in 0..<pixels {
                var rest = q
                var index = 0
                var coords = [Int](repeating: 0, count: rank)
                for axis in (0..<rank).reversed() {
                    coords[axis] = rest % shape[axis + 1]
                    rest /= shape[axis + 1]
                }
                index = n
                for axis in 0..<rank { index = index * z.shape[axis + 1] + coords[axis] }
                result += zs[(index * c)..<(index * c + c)]
            }
        }
        return result
    }
}
