// What the training memory cuts must leave unchanged: an activation that keeps its output (not
// its input) and rectifies in place gives the bits of the ReLU / leaky ReLU functions, a caller's
// tensor is never overwritten behind its back, a block's backward that takes its gradient equals
// the one that borrows it, and a U-Net evaluation pass keeps nothing for a backward pass.

import XCTest

@testable import DiceKit

final class ActivationMemoryTests: XCTestCase {
    /// Values around every edge of the rectifiers: ±0, subnormals, ±∞, NaN and ordinary numbers.
    private func edgeInput() -> Tensor<Float> {
        var scalars: [Float] = [0, -0.0, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .infinity, -.infinity, .nan]
        scalars += randomTensor([4, 8, 8, 3], seed: 7).scalars.map { Float($0) }
        return try! Tensor(shape: [scalars.count], scalars: scalars)
    }

    private func assertSameBits(
        _ a: Tensor<Float>, _ b: Tensor<Float>, file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(a.shape, b.shape, file: file, line: line)
        XCTAssertEqual(a.scalars.map(\.bitPattern), b.scalars.map(\.bitPattern), file: file, line: line)
    }

    func testInPlacePassesGiveTheFunctionsBits() throws {
        let x = edgeInput()
        let dy = try Tensor(shape: x.shape, scalars: x.scalars.indices.map { Float($0 % 11) - 5.5 })
        for kind in [ActivationKind.relu, .leakyReLU(slope: 0.01), .leakyReLU(slope: 0), .leakyReLU(slope: -0.5)] {
            let (expectedY, expectedDx): (Tensor<Float>, Tensor<Float>)
            switch kind {
            case .relu: (expectedY, expectedDx) = (ReLU().forward(x), try ReLU().backward(input: x, outputGradient: dy))
            case .leakyReLU(let a):
                let f = LeakyReLU(negativeSlope: a)
                (expectedY, expectedDx) = (f.forward(x), try f.backward(input: x, outputGradient: dy))
            }
            // Borrowed: forward and backward through the Layer protocol.
            let layer = ActivationLayer<Float>(kind)
            assertSameBits(try layer.forward(x, mode: .training), expectedY)
            assertSameBits(try XCTUnwrap(try layer.backward(dy)), expectedDx)
            // In place, on tensors shared with the caller (copied first) and on unshared ones.
            var y = x
            try layer.forward(inPlace: &y, mode: .training)
            assertSameBits(y, expectedY)
            var g = dy
            try layer.backward(inPlace: &g)
            assertSameBits(g, expectedDx)
            var fresh = try Tensor(shape: x.shape, scalars: x.scalars)
            try layer.forward(inPlace: &fresh, mode: .training)
            var freshGradient = try Tensor(shape: dy.shape, scalars: dy.scalars)
            try layer.backward(inPlace: &freshGradient)
            assertSameBits(fresh, expectedY)
            assertSameBits(freshGradient, expectedDx)
        }
        // The caller's tensors were never written through.
        assertSameBits(x, edgeInput())
        XCTAssertEqual(dy.scalars, x.scalars.indices.map { Float($0 % 11) - 5.5 })
    }

    /// The Double in-place passes, with the edge values in the vector body and in the scalar
    /// remainder (an odd count).
    func testInPlacePassesGiveTheFunctionsBitsInDouble() throws {
        let edges: [Double] = [0, -0.0, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .infinity, -.infinity, .nan]
        let scalars = edges + randomTensor([3, 5, 7], seed: 3).scalars + edges
        let x = try Tensor<Double>(shape: [scalars.count], scalars: scalars)
        let dy = try Tensor<Double>(shape: x.shape, scalars: x.scalars.indices.map { Double($0 % 7) - 3.25 })
        for kind in [ActivationKind.relu, .leakyReLU(slope: 0.2), .leakyReLU(slope: -0.5)] {
            let reference = ActivationLayer<Double>(kind)
            let expectedY = try reference.forward(x, mode: .training)
            let expectedDx = try XCTUnwrap(try reference.backward(dy))
            let layer = ActivationLayer<Double>(kind)
            var y = try Tensor(shape: x.shape, scalars: x.scalars)
            try layer.forward(inPlace: &y, mode: .training)
            var g = try Tensor(shape: dy.shape, scalars: dy.scalars)
            try layer.backward(inPlace: &g)
            XCTAssertEqual(y.scalars.map(\.bitPattern), expectedY.scalars.map(\.bitPattern), "\(kind)")
            XCTAssertEqual(g.scalars.map(\.bitPattern), expectedDx.scalars.map(\.bitPattern), "\(kind)")
        }
    }

    func testTakingBackwardEqualsBorrowingBackward() throws {
        func block() throws -> SequentialLayer<Float> {
            var generator = SeededGenerator(seed: 3)
            return SequentialLayer<Float>([
                try ConvolutionLayer(kernelSize: [3, 3], inputChannels: 4, outputChannels: 16, generator: &generator),
                ActivationLayer(.relu),
                try ConvolutionLayer(kernelSize: [3, 3], inputChannels: 16, outputChannels: 16, generator: &generator),
                ActivationLayer(.leakyReLU(slope: 0.01)),
            ])
        }
        let x = randomTensor([2, 12, 12, 4], seed: 4).converted(to: Float.self)
        let dy = randomTensor([2, 12, 12, 16], seed: 5).converted(to: Float.self)
        let (a, b) = (try block(), try block())
        assertSameBits(try a.forward(x, mode: .training), try b.forward(x, mode: .training))
        let borrowed = try XCTUnwrap(try a.backward(dy))
        var taken: Tensor<Float>? = try Tensor(shape: dy.shape, scalars: dy.scalars)
        let takenResult = try XCTUnwrap(try b.backward(taking: &taken))
        XCTAssertNil(taken, "the gradient was handed on")
        assertSameBits(takenResult, borrowed)
        for (p, q) in zip(a.parameters, b.parameters) { assertSameBits(p.gradient, q.gradient) }
    }

    func testEvaluationPassKeepsNothingForBackward() throws {
        let model = try UNet<Float>(UNetConfiguration(inputChannels: 3, classes: 2, baseWidth: 4, depth: 2), seed: 1)
        let x = randomTensor([2, 16, 16, 3], seed: 2).converted(to: Float.self)
        let logits = try model.forward(x, mode: .training)
        let dy = randomTensor(logits.shape, seed: 3).converted(to: Float.self)
        // A training pass then a backward pass works; after an evaluation pass the training
        // pass's tensors are gone, so a backward pass is refused rather than run on stale data.
        _ = try model.forward(x, mode: .evaluation)
        XCTAssertThrowsError(try model.backward(dy))
        _ = try model.forward(x, mode: .training)
        XCTAssertNoThrow(try model.backward(dy))
    }
}
