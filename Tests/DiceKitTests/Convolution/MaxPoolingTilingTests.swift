// The tiling max-pooling path (kernel = stride, no padding; Float 2×2 through the C kernels)
// against a plain reference: ties to the first tap in window order, NaN propagation, channel
// counts around the 16-lane vectors, odd extents, and the backward pass with an addend.

import XCTest

@testable import DiceKit

final class MaxPoolingTilingTests: XCTestCase {
    /// Window maxima and flat argmax by direct loops over [N, H, W, C] with a 2×2 window.
    private func reference<T: BLASScalar>(_ x: Tensor<T>) -> (output: [T], argmax: [Int]) {
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        var output: [T] = []
        var argmax: [Int] = []
        for b in 0..<n {
            for oh in 0..<(h / 2) {
                for ow in 0..<(w / 2) {
                    for k in 0..<c {
                        var (best, index) = (T.nan, -1)
                        for dh in 0..<2 {
                            for dw in 0..<2 {
                                let i = ((b * h + 2 * oh + dh) * w + 2 * ow + dw) * c + k
                                let v = x.scalars[i]
                                if index < 0 || v > best || (v.isNaN && !best.isNaN) { (best, index) = (v, i) }
                            }
                        }
                        output.append(best)
                        argmax.append(index)
                    }
                }
            }
        }
        return (output, argmax)
    }

    private func check<T: BLASScalar>(_: T.Type, shape: [Int]) throws {
        var generator = SeededGenerator(seed: UInt64(shape.reduce(0, +)))
        // Few distinct values force ties; a few NaNs test propagation.
        let count = shape.reduce(1, *)
        var values = (0..<count).map { _ in T(Int(generator.next() % 4)) }
        for _ in 0..<3 { values[Int(generator.next() % UInt64(count))] = .nan }
        let x = try Tensor(shape: shape, scalars: values)
        let expected = reference(x)
        let layer = try MaxPoolingLayer<T>(factor: 2, spatialRank: 2)
        let y = try layer.forward(x, mode: .training)
        XCTAssertEqual(y.scalars.map(\.description), expected.output.map(\.description), "\(T.self) \(shape)")
        XCTAssertEqual(try MaxPooling(kernelSize: [2, 2]).forward(x).argmax, expected.argmax, "\(T.self) \(shape)")

        let dy = Tensor<T>.uniform(y.shape, lower: -1, upper: 1, generator: &generator)
        let addend = Tensor<T>.uniform(shape, lower: -1, upper: 1, generator: &generator)
        var want = addend.scalars
        for (o, i) in expected.argmax.enumerated() { want[i] += dy.scalars[o] }
        XCTAssertEqual(try layer.backward(dy, adding: addend).scalars, want, "\(T.self) \(shape)")
        _ = try layer.forward(x, mode: .training)
        var plain = [T](repeating: 0, count: count)
        for (o, i) in expected.argmax.enumerated() { plain[i] += dy.scalars[o] }
        XCTAssertEqual(try XCTUnwrap(try layer.backward(dy)).scalars, plain, "\(T.self) \(shape)")
    }

    func testAgainstReference() throws {
        for shape in [[2, 6, 8, 16], [1, 4, 7, 19], [2, 5, 6, 3], [1, 2, 2, 33]] {
            try check(Float.self, shape: shape)
            try check(Double.self, shape: shape)
        }
    }
}
