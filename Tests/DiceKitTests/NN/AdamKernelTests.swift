// The Float Adam update's C kernel (Sources/CDiceKitKernels/optimizer/adam.c) against the Swift
// loop it replaces (`referenceAdamUpdate`), bit for bit, at every instruction set this CPU runs:
// lengths below, at and between the vector widths and one split across the worker pool; with and
// without weight decay (Adam's gradient term, AdamW's shrink); zero and tiny second moments, large
// and zero gradients.

import XCTest

@testable import DiceKit

final class AdamKernelTests: XCTestCase {
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

    /// adamUpdate's signature.
    private typealias AdamUpdate = (
        inout UnsafeMutableBufferPointer<Float>, UnsafeBufferPointer<Float>, inout UnsafeMutableBufferPointer<Float>,
        inout UnsafeMutableBufferPointer<Float>, AdamConstants<Float>
    ) -> Void
}
