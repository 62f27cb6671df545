// Backward passes of pooling, upsampling, activations and channel concatenation against
// central finite differences in Double (relative error ≤ 1e-6).

import XCTest

@testable import DiceKit

final class LayerGradientTests: XCTestCase {
    func testMaxPooling() throws {
        for (shape, pool) in [
            ([2, 5, 6, 3], try MaxPooling(kernelSize: [3, 3], stride: [2], padding: .symmetric([1]))),
            ([1, 4, 5, 4, 2], try MaxPooling(kernelSize: [2, 2, 2])),
        ] {
            // Distinct values, spaced well beyond the step, so no window has a near tie.
            var x = randomTensor(shape, seed: 80)
            var order = Array(0..<x.count)
            var generator = SeededGenerator(seed: 81)
            order.shuffle(using: &generator)
            for (rank, i) in order.enumerated() { x.scalars[i] = Double(rank) * 0.01 }
            let result = try pool.forward(x)
            let r = randomTensor(result.output.shape, seed: 82)
            try assertGradient(try pool.backward(result, outputGradient: r), at: x, "max pool \(shape)") {
                dot(try pool.forward($0).output, r)
            }
        }
    }

    func testAveragePooling() throws {
        for (shape, pool) in [
            ([2, 5, 6, 3], try AveragePooling(kernelSize: [3, 3], stride: [2], padding: .symmetric([1]))),
            (
                [1, 5, 6, 2],
                try AveragePooling(
                    kernelSize: [3, 2], stride: [2, 1], padding: .symmetric([1]),
                    countIncludesPadding: false)
            ),
            ([1, 4, 5, 4, 2], try AveragePooling(kernelSize: [2, 2, 2])),
        ] {
            let x = randomTensor(shape, seed: 90)
            let r = randomTensor(try pool.outputShape(for: shape), seed: 91)
            try assertGradient(try pool.backward(inputShape: shape, outputGradient: r), at: x, "average pool \(shape)")
            {
                dot(try pool.forward($0), r)
            }
        }
    }

    func testUpsampling() throws {
        let cases: [([Int], Upsampling)] = [
            ([1, 3, 4, 2], try Upsampling(scale: [2, 3])),
            ([2, 3, 4, 2], try Upsampling(scale: [2, 2], mode: .linear(alignCorners: false))),
            ([1, 3, 2, 2], try Upsampling(scale: [3, 2], mode: .linear(alignCorners: true))),
            ([1, 2, 3, 2, 2], try Upsampling(scale: [2, 2, 2])),
            ([1, 2, 3, 3, 1], try Upsampling(scale: [2, 1, 3], mode: .linear(alignCorners: false))),
        ]
        for (shape, up) in cases {
            let x = randomTensor(shape, seed: 100)
            let r = randomTensor(try up.outputShape(for: shape), seed: 101)
            try assertGradient(
                try up.backward(inputShape: shape, outputGradient: r), at: x, "upsample \(shape) \(up.mode)"
            ) {
                dot(try up.forward($0), r)
            }
        }
    }

    func testActivations() throws {
        // Keep inputs away from the kinks of (leaky) ReLU at 0.
        let x = randomTensor([2, 3, 4, 3], seed: 110).map { $0 >= 0 ? $0 + 0.01 : $0 - 0.01 }
        let r = randomTensor(x.shape, seed: 111)
        let relu = try ReLU().backward(input: x, outputGradient: r)
        assertGradient(relu, at: x, "relu") { dot(ReLU().forward($0), r) }
        let leaky = LeakyReLU(negativeSlope: 0.2)
        let leakyGradient = try leaky.backward(input: x, outputGradient: r)
        assertGradient(leakyGradient, at: x, "leaky relu") { dot(leaky.forward($0), r) }
        let sigmoidGradient = try Sigmoid().backward(output: Sigmoid().forward(x), outputGradient: r)
        assertGradient(sigmoidGradient, at: x, "sigmoid") { dot(Sigmoid().forward($0), r) }
    }

    func testChannelConcatenationAndSplit() throws {
        let a = randomTensor([2, 3, 2, 3], seed: 120)
        let b = randomTensor([2, 3, 2, 1], seed: 121)
        let joined = try Tensor.concatenatingChannels([a, b])
        XCTAssertEqual(joined.shape, [2, 3, 2, 4])
        XCTAssertEqual(joined[1, 2, 1, 3], b[1, 2, 1, 0])
        XCTAssertEqual(joined[1, 2, 1, 2], a[1, 2, 1, 2])
        let r = randomTensor(joined.shape, seed: 122)
        // The backward pass of the concatenation is the split of its output gradient.
        let pieces = try r.splittingChannels([3, 1])
        XCTAssertEqual(pieces.map(\.shape), [a.shape, b.shape])
        try assertGradient(pieces[0], at: a, "concat ∂a") { dot(try Tensor.concatenatingChannels([$0, b]), r) }
        try assertGradient(pieces[1], at: b, "concat ∂b") { dot(try Tensor.concatenatingChannels([a, $0]), r) }
        XCTAssertEqual(try Tensor.concatenatingChannels(pieces), r)
    }
}
