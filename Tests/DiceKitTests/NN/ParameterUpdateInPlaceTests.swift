// After a layer's backward pass nothing but the parameter holds its tensors, so the optimiser's
// step updates them in place: a convolution built from the parameters (which keeps the kernel as
// the parameter holds it, and in bfloat16 its packings' source) is released when the backward
// pass ends, instead of making the step copy each kernel whole (copy on write).

import XCTest

@testable import DiceKit

final class ParameterUpdateInPlaceTests: XCTestCase {
    private func storage(_ parameter: Parameter<Float>) -> UnsafePointer<Float>? {
        parameter.value.withUnsafeBufferPointer { $0.baseAddress }
    }

    /// Runs a training forward and backward pass of `layer`, an Adam step, and checks that every
    /// parameter kept its storage; then that the next pass sees the new values.
    private func checkInPlace<L: Layer>(
        _ layer: L, parameters: [Parameter<Float>], input: [Int], label: String
    ) throws where L.Scalar == Float {
        let adam = try Adam<Float>(learningRate: 0.01)
        let x = randomTensor(input, seed: 7).converted(to: Float.self)
        let y = try layer.forward(x, mode: .training)
        _ = try layer.backward(Tensor(shape: y.shape, repeating: 1))
        let before = parameters.map(storage)
        // A copy of the values (holding the tensor itself would make the step copy it).
        let kernel = parameters[0].value.scalars.map { $0 }
        adam.step(parameters)
        XCTAssertEqual(parameters.map(storage), before, "\(label): the step copied a parameter")
        XCTAssertNotEqual(parameters[0].value.scalars, kernel, "\(label): the step changed nothing")
        let next = try layer.forward(x, mode: .training)
        XCTAssertNotEqual(next, y, "\(label): the next pass did not see the new parameters")
    }

    func testConvolutionLayersAreUpdatedInPlace() throws {
        for precision in [ComputePrecision.float, .bfloat16] {
            var generator = SeededGenerator(seed: 11)
            let conv = try ConvolutionLayer<Float>(
                kernelSize: [3, 3], inputChannels: 16, outputChannels: 32, generator: &generator)
            conv.precision = precision
            try checkInPlace(conv, parameters: conv.parameters, input: [2, 6, 6, 16], label: "conv \(precision)")
            let up = try TransposedConvolutionLayer<Float>(
                kernelSize: [2, 2], inputChannels: 32, outputChannels: 16, stride: [2], generator: &generator)
            up.precision = precision
            try checkInPlace(up, parameters: up.parameters, input: [2, 4, 4, 32], label: "up-sampling \(precision)")
        }
    }
}
