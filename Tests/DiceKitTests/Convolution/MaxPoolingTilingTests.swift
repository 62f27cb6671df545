// The tiling max-pooling path (kernel = stride, no padding; Float 2×2 and 2×2×2 through the C
// kernels, split between the workers) against a plain reference: ties to the first tap in window
// order, NaN propagation, channel counts around the 16- and 8-lane vectors, odd extents, volumes,
// and the backward pass with an addend, at every instruction-set level the CPU has.

import XCTest

@testable import DiceKit

final class MaxPoolingTilingTests: XCTestCase {
    /// Window maxima and flat argmax by direct loops over [N, H, W, C] with a 2×2 window, or
    /// [N, D, H, W, C] with a 2×2×2 one (window order: depth, then rows, then columns).
    private func reference<T: BLASScalar>(_ x: Tensor<T>) -> (output: [T], argmax: [Int]) {
        let volume = x.rank == 5
        let (n, c) = (x.shape[0], x.shape[x.rank - 1])
        let (d, h, w) = volume ? (x.shape[1], x.shape[2], x.shape[3]) : (1, x.shape[1], x.shape[2])
        let (kd, od) = volume ? (2, d / 2) : (1, 1)
        var output: [T] = []
        var argmax: [Int] = []
        for b in 0..<n {
            for oz in 0..<od {
                for oh in 0..<(h / 2) {
                    for ow in 0..<(w / 2) {
                        for k in 0..<c {
                            var (best, index) = (T.nan, -1)
                            for dz in 0..<kd {
                                for dh in 0..<2 {
                                    for dw in 0..<2 {
                                        let i = (((b * d + kd * oz + dz) * h + 2 * oh + dh) * w + 2 * ow + dw) * c + k
                                        let v = x.scalars[i]
                                        if index < 0 || v > best || (v.isNaN && !best.isNaN) { (best, index) = (v, i) }
                                    }
                                }
                            }
                            output.append(best)
                            argmax.append(index)
                        }
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
        let rank = shape.count - 2
        let layer = try MaxPoolingLayer<T>(factor: 2, spatialRank: rank)
        let y = try layer.forward(x, mode: .training)
        XCTAssertEqual(y.scalars.map(\.description), expected.output.map(\.description), "\(T.self) \(shape)")
        XCTAssertEqual(
            try MaxPooling(kernelSize: [Int](repeating: 2, count: rank)).forward(x).argmax, expected.argmax,
            "\(T.self) \(shape)")

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

    /// 2×2×2 windows: through the C kernels over even depths and heights (16 channels and 19,
    /// an odd width), on the loops otherwise (odd depth, odd height).
    func testVolumesAgainstReference() throws {
        for shape in [[2, 4, 6, 8, 16], [1, 2, 4, 7, 19], [1, 3, 4, 4, 16], [1, 4, 5, 4, 17], [2, 2, 2, 2, 3]] {
            try check(Float.self, shape: shape)
            try check(Double.self, shape: shape)
        }
    }

    /// The C kernels' portable loops (CPUs without AVX2) and AVX2 loops (CPUs without AVX-512),
    /// images and volumes, channel counts around the 8-lane vectors.
    func testPortableAndAVX2Loops() throws {
        defer { try? KernelDispatch.force(nil) }
        for isa in [InstructionSet.portable, .avx2] where InstructionSet.available.contains(isa) {
            try KernelDispatch.force(isa)
            for shape in [
                [2, 6, 8, 16], [1, 4, 7, 19], [2, 5, 6, 3], [1, 2, 2, 33], [2, 4, 6, 8, 16], [1, 2, 4, 7, 19],
            ] {
                try check(Float.self, shape: shape)
                XCTAssertEqual(KernelDispatch.lastUsed(.pooling), isa, "\(shape)")
            }
        }
    }

    /// Inputs large enough that the C kernels' work is split between the workers (by output
    /// lines, or planes of a volume): every element as the reference computes it.
    func testSplitBetweenWorkers() throws {
        try check(Float.self, shape: [1, 128, 256, 32])
        try check(Float.self, shape: [1, 32, 32, 32, 32])
    }
}
