// Convolution layers keep the kernel converted to DiceKit's layout while the parameters are
// unchanged; any assignment or in-place change of a parameter must be seen by the next forward pass.

import XCTest

@testable import DiceKit

final class ConvolutionLayerCacheTests: XCTestCase {
    func testParameterVersionCountsAssignmentsAndInPlaceChanges() {
        let parameter = Parameter(name: "w", value: Tensor<Float>([1, 2, 3]))
        let start = parameter.version
        parameter.value = Tensor([4, 5, 6])
        XCTAssertEqual(parameter.version, start + 1)
        parameter.value.withUnsafeMutableBufferPointer { $0[0] = 7 }
        XCTAssertEqual(parameter.version, start + 2)
        XCTAssertEqual(parameter.value.scalars, [7, 5, 6])
    }

    func testForwardSeesChangedWeightsAndBias() throws {
        var generator = SeededGenerator(seed: 90)
        let layer = try ConvolutionLayer<Float>(
            kernelSize: [3, 3], inputChannels: 2, outputChannels: 3, generator: &generator)
        let x = Tensor<Float>.normal([1, 5, 5, 2], generator: &generator)
        let first = try layer.forward(x, mode: .evaluation)
        XCTAssertEqual(try layer.forward(x, mode: .evaluation), first, "unchanged parameters: same output")
        // In place, as optimisers update: every output moves by the bias change.
        layer.bias.value.withUnsafeMutableBufferPointer { for i in $0.indices { $0[i] += 1 } }
        let shifted = try layer.forward(x, mode: .evaluation)
        for i in 0..<first.count { XCTAssertEqual(shifted.scalars[i], first.scalars[i] + 1, accuracy: 1e-5) }
        // Assigned: a zero kernel leaves only the bias.
        layer.weight.value = Tensor(shape: layer.weight.value.shape)
        let biasOnly = try layer.forward(x, mode: .evaluation)
        for i in 0..<biasOnly.count { XCTAssertEqual(biasOnly.scalars[i], layer.bias.value.scalars[i % 3]) }
    }

    func testTransposedForwardSeesChangedWeights() throws {
        var generator = SeededGenerator(seed: 91)
        let layer = try TransposedConvolutionLayer<Float>(
            kernelSize: [2, 2], inputChannels: 2, outputChannels: 3, stride: [2],
            generator: &generator)
        let x = Tensor<Float>.normal([1, 3, 3, 2], generator: &generator)
        _ = try layer.forward(x, mode: .evaluation)
        layer.weight.value = Tensor(shape: layer.weight.value.shape)
        let biasOnly = try layer.forward(x, mode: .evaluation)
        for i in 0..<biasOnly.count { XCTAssertEqual(biasOnly.scalars[i], layer.bias.value.scalars[i % 3]) }
    }
}
