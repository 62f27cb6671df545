// Layers and optimisers reject bad options the same way: a thrown
// `DiceKitError.invalidOption` naming the option, its value and the range expected, never a trap.

import XCTest

@testable import DiceKit

final class OptionValidationTests: XCTestCase {
    /// Asserts that `body` throws `DiceKitError.invalidOption` for `name` with this exact message.
    private func assertRejects<R>(
        _ body: @autoclosure () throws -> R, _ name: String, _ message: String,
        line: UInt = #line
    ) {
        XCTAssertThrowsError(try body(), line: line) { error in
            guard case DiceKitError.invalidOption(let reported, _, _) = error else {
                return XCTFail("expected invalidOption, got \(error)", line: line)
            }
            XCTAssertEqual(reported, name, line: line)
            XCTAssertEqual((error as? DiceKitError)?.kind, .option, line: line)
            XCTAssertEqual("\(error)", message, line: line)
        }
    }

    func testNormalizationLayersThrowOnBadOptions() throws {
        assertRejects(
            try BatchNorm<Float>(channels: 0), "BatchNorm channels", "option error: BatchNorm channels 0; expected ≥ 1")
        assertRejects(
            try BatchNorm<Float>(channels: 2, momentum: 1.5), "BatchNorm momentum",
            "option error: BatchNorm momentum 1.5; expected 0...1")
        assertRejects(
            try BatchNorm<Float>(channels: 2, momentum: .nan), "BatchNorm momentum",
            "option error: BatchNorm momentum nan; expected 0...1")
        assertRejects(
            try BatchNorm<Double>(channels: 2, epsilon: 0), "BatchNorm epsilon",
            "option error: BatchNorm epsilon 0.0; expected > 0")
        assertRejects(
            try GroupNorm<Float>(groups: 3, channels: 4), "GroupNorm groups",
            "option error: GroupNorm groups 3; expected a divisor of the 4 channels")
        assertRejects(
            try GroupNorm<Float>(groups: 0, channels: 4), "GroupNorm groups",
            "option error: GroupNorm groups 0; expected a divisor of the 4 channels")
        assertRejects(
            try GroupNorm<Float>(groups: 1, channels: 2, epsilon: -1), "GroupNorm epsilon",
            "option error: GroupNorm epsilon -1.0; expected > 0")
        assertRejects(
            try InstanceNorm<Float>(channels: 0), "InstanceNorm channels",
            "option error: InstanceNorm channels 0; expected ≥ 1")
        XCTAssertNoThrow(try GroupNorm<Float>(groups: 2, channels: 4))
    }

    func testOptimizersThrowOnBadOptions() throws {
        assertRejects(
            try Adam<Float>(learningRate: -1), "Adam learning rate",
            "option error: Adam learning rate -1.0; expected ≥ 0")
        assertRejects(try Adam<Float>(beta1: 1), "Adam beta1", "option error: Adam beta1 1.0; expected 0..<1")
        assertRejects(try AdamW<Double>(beta2: .nan), "AdamW beta2", "option error: AdamW beta2 nan; expected 0..<1")
        assertRejects(
            try AdamW<Double>(epsilon: -1e-8), "AdamW epsilon", "option error: AdamW epsilon -1e-08; expected ≥ 0")
        assertRejects(
            try Adam<Double>(weightDecay: -0.1), "Adam weight decay",
            "option error: Adam weight decay -0.1; expected ≥ 0")
        assertRejects(
            try SGD<Float>(learningRate: -0.5), "SGD learning rate",
            "option error: SGD learning rate -0.5; expected ≥ 0")
        assertRejects(
            try SGD<Float>(learningRate: 0.1, momentum: -0.9), "SGD momentum",
            "option error: SGD momentum -0.9; expected ≥ 0")
        assertRejects(
            try SGD<Float>(learningRate: 0.1, weightDecay: -1), "SGD weight decay",
            "option error: SGD weight decay -1.0; expected ≥ 0")
        assertRejects(
            try SGD<Float>(learningRate: 0.1, nesterov: true), "SGD momentum",
            "option error: SGD momentum 0.0; expected > 0 with Nesterov momentum")
        assertRejects(
            try SGD<Float>(learningRate: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true), "SGD dampening",
            "option error: SGD dampening 0.1; expected 0 with Nesterov momentum")
        XCTAssertNoThrow(try SGD<Float>(learningRate: 0.1, momentum: 0.9, nesterov: true))
        let parameters = [Parameter<Float>(name: "w", value: Tensor([1, 2]))]
        assertRejects(
            try clipGradientNorm(parameters, maxNorm: 0), "gradient clipping max norm",
            "option error: gradient clipping max norm 0.0; expected > 0")
        assertRejects(
            try clipGradientNorm(parameters, maxNorm: .nan), "gradient clipping max norm",
            "option error: gradient clipping max norm nan; expected > 0")
    }

    /// A network whose first convolution computes no input gradient returns nil from backward,
    /// not an empty tensor; with it on, the gradient has the input's shape.
    func testUNetBackwardReturnsNilWithoutInputGradient() throws {
        var generator = SeededGenerator(seed: 5)
        let configuration = UNetConfiguration(inputChannels: 1, classes: 2, baseWidth: 2, depth: 1)
        let model = try UNet<Float>(configuration, seed: 5)
        let input = Tensor<Float>.uniform([1, 4, 4, 1], lower: 0, upper: 1, generator: &generator)
        let logits = try model.forward(input, mode: .training)
        XCTAssertNil(try model.backward(Tensor(shape: logits.shape, repeating: 1)))
        model.computesInputGradient = true
        _ = try model.forward(input, mode: .training)
        XCTAssertEqual(try model.backward(Tensor(shape: logits.shape, repeating: 1))?.shape, input.shape)
    }

    /// A sequence whose inner layer leaves out its input gradient throws instead of handing
    /// nothing to the layers before it.
    func testSequenceRefusesAMissingInnerInputGradient() throws {
        var generator = SeededGenerator(seed: 6)
        let first = try ConvolutionLayer<Float>(
            kernelSize: [3, 3], inputChannels: 1, outputChannels: 2, generator: &generator)
        let second = try ConvolutionLayer<Float>(
            kernelSize: [3, 3], inputChannels: 2, outputChannels: 2, generator: &generator)
        second.computesInputGradient = false
        let sequence = SequentialLayer<Float>([first, second])
        let x = Tensor<Float>.uniform([1, 4, 4, 1], lower: 0, upper: 1, generator: &generator)
        let y = try sequence.forward(x, mode: .training)
        XCTAssertThrowsError(try sequence.backward(Tensor(shape: y.shape, repeating: 1))) { error in
            XCTAssertEqual((error as? DiceKitError)?.kind, .shape, "\(error)")
        }
    }
}
