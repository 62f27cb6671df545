// The optimisers' C kernels (Sources/CDiceKitKernels/optimizer) at every instruction set this CPU
// runs. The Float Adam update against the Swift loop it replaces (`referenceAdamUpdate`), bit for
// bit: lengths below, at and between the vector widths and one split across the worker pool; with
// and without weight decay (Adam's gradient term, AdamW's shrink); zero and tiny second moments,
// large and zero gradients. Gradient clipping's sum of squares against its stated order, bit for
// bit, and against the element-order sum.

internal import CDiceKitKernels
import XCTest

@testable import DiceKit

final class OptimizerKernelTests: XCTestCase {
    private func values(_ count: Int, seed: UInt64, scale: Float) -> [Float] {
        var generator = SeededGenerator(seed: seed)
        return Tensor<Float>.normal([count], mean: 0, standardDeviation: scale, generator: &generator).scalars
    }

    func testTheKernelIsTheReferenceBits() throws {
        let constants = [
            AdamConstants<Float>(
                stepSize: 1e-3 / 0.1, root2: Float(0.001).squareRoot(), beta1: 0.9, beta2: 0.999, epsilon: 1e-8,
                decay: 0,
                shrink: 1),
            AdamConstants<Float>(
                stepSize: 0.01 / 0.271, root2: Float(0.0199).squareRoot(), beta1: 0.8, beta2: 0.99, epsilon: 1e-6,
                decay: 0.05, shrink: 1),
            AdamConstants<Float>(
                stepSize: 0.02, root2: 1, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, decay: 0, shrink: 1 - 0.02 * 0.1),
        ]
        for isa in InstructionSet.available {
            try KernelDispatch.withInstructionSet(isa) {
                for (c, k) in constants.enumerated() {
                    for count in [1, 15, 16, 33, 1000, 70_001] {
                        let label = "\(isa), constants \(c), \(count) values"
                        let seed = UInt64(count * 10 + c)
                        var g = values(count, seed: seed, scale: 1)
                        let p = values(count, seed: seed + 1, scale: 0.5)
                        let m = values(count, seed: seed + 2, scale: 0.1)
                        var v = values(count, seed: seed + 3, scale: 0.01).map { $0 * $0 }
                        if count > 4 {
                            (g[0], v[0]) = (0, 0)
                            (g[1], v[1]) = (1e30, 1e-38)
                            v[2] = 0
                        }
                        func run(_ update: AdamUpdate) -> [[UInt32]] {
                            var (p, m, v) = (p, m, v)
                            p.withUnsafeMutableBufferPointer { p in
                                g.withUnsafeBufferPointer { g in
                                    m.withUnsafeMutableBufferPointer { m in
                                        v.withUnsafeMutableBufferPointer { v in update(&p, g, &m, &v, k) }
                                    }
                                }
                            }
                            return [p, m, v].map { $0.map(\.bitPattern) }
                        }
                        let kernel = run { adamUpdate(&$0, $1, &$2, &$3, $4) }
                        let reference = run { referenceAdamUpdate(&$0, $1, &$2, &$3, $4) }
                        XCTAssertEqual(kernel[0], reference[0], "p, \(label)")
                        XCTAssertEqual(kernel[1], reference[1], "m, \(label)")
                        XCTAssertEqual(kernel[2], reference[2], "v, \(label)")
                        XCTAssertNotEqual(kernel[0], p.map(\.bitPattern), "the values moved, \(label)")
                    }
                }
            }
        }
    }

    func testSumOfSquaresHasItsStatedOrderAtEveryLevel() throws {
        for isa in InstructionSet.available {
            try KernelDispatch.withInstructionSet(isa) {
                for count in [1, 15, 16, 17, 1000, 70_001] {
                    var x = values(count, seed: UInt64(count), scale: 3)
                    if count > 2 { x[1] = 1e-30 }
                    // 16 partials over the interleave, the last count mod 16 by their offset, then summed left to right.
                    var partials = [Double](repeating: 0, count: 16)
                    for (i, value) in x.enumerated() { partials[i % 16] += Double(value) * Double(value) }
                    let expected = partials.dropFirst().reduce(partials[0], +)
                    let kernel = x.withUnsafeBufferPointer { dk_sum_squares_f32($0.baseAddress!, count) }
                    XCTAssertEqual(kernel.bitPattern, expected.bitPattern, "\(isa), \(count) values")
                    let sequential = x.reduce(0.0) { $0 + Double($1) * Double($1) }
                    XCTAssertEqual(kernel, sequential, accuracy: 1e-12 * sequential, "\(isa), \(count) values")
                }
            }
        }
        // Clipping a Float model: the norm of that sum, parameter after parameter.
        let gradients = [values(70_001, seed: 1, scale: 1), values(33, seed: 2, scale: 1), []]
        let parameters = gradients.enumerated().map { k, g in
            let p = Parameter<Float>(name: "p\(k)", value: Tensor(shape: [g.count]))
            p.gradient = try! Tensor(shape: [g.count], scalars: g)
            return p
        }
        let total = gradients.reduce(0.0) { sum, g in
            sum + g.withUnsafeBufferPointer { g in g.isEmpty ? 0 : dk_sum_squares_f32(g.baseAddress!, g.count) }
        }
        XCTAssertEqual(try clipGradientNorm(parameters, maxNorm: 1).bitPattern, total.squareRoot().bitPattern)
        XCTAssertEqual(parameters[1].gradient[0], gradients[1][0] * Float(1 / (total.squareRoot() + 1e-6)))
    }

    /// adamUpdate's signature.
    private typealias AdamUpdate = (
        inout UnsafeMutableBufferPointer<Float>, UnsafeBufferPointer<Float>, inout UnsafeMutableBufferPointer<Float>,
        inout UnsafeMutableBufferPointer<Float>, AdamConstants<Float>
    ) -> Void
}
