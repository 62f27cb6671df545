// The trainable layer wrappers against central finite differences in Double: ConvolutionLayer
// and TransposedConvolutionLayer (input, weight in PyTorch's layout [out, in, k…] /
// [in, out, k…], bias), ActivationLayer (ReLU, leaky ReLU) and SequentialLayer (convolution,
// leaky ReLU, BatchNorm, convolution: input and every parameter; the activation sits before the
// normalisation so that the first bias has a non-zero gradient). The loss is Σ y·r with a fixed
// random r (TestSupport.swift), every element is checked with step 1e-5. Relative error (to
// the tensor's largest gradient) observed on an AMD EPYC (Zen 5): ≤ 2.8e-10 (convolution),
// 1.0e-10 (the chain), 5.2e-11 (transposed convolution), 2.4e-11 (activations); bound 1e-8.
// Kinks: activation inputs are kept at least 0.05 from 0 (the step is 1e-5); in the chain the
// leaky ReLU's inputs are seeded normals, checked to stay clear of 0 by more than a step's
// effect (a crossing would show as an error near 1e-2, not as drift).

import XCTest

@testable import DiceKit

final class LayerWrapperGradientTests: XCTestCase {
    /// Checks a layer's input and parameter gradients for the loss Σ layer(x)·r; returns the worst
    /// relative error.
    @discardableResult
    private func checkLayer(
        _ layer: any Layer<Double>, input x: Tensor<Double>, seed: UInt64, _ what: String,
        file: StaticString = #filePath, line: UInt = #line
    ) throws -> Double {
        let r = randomTensor(try layer.forward(x, mode: .training).shape, seed: seed)
        for parameter in layer.parameters { parameter.zeroGradient() }
        _ = try layer.forward(x, mode: .training)
        let inputGradient = try XCTUnwrap(try layer.backward(r))
        var worst = scaledError(
            inputGradient, try finiteDifferenceGradient(at: x) { dot(try layer.forward($0, mode: .training), r) },
            floor: 1e-300)
        XCTAssertLessThanOrEqual(worst, 1e-8, "\(what): input", file: file, line: line)
        for (index, parameter) in layer.parameters.enumerated() where parameter.isTrainable {
            let original = parameter.value
            let numeric = try finiteDifferenceGradient(at: original) { value in
                parameter.value = value
                defer { parameter.value = original }
                return dot(try layer.forward(x, mode: .training), r)
            }
            XCTAssertGreaterThan(numeric.scalars.map(abs).max() ?? 0, 0, "\(what): vacuous", file: file, line: line)
            let error = scaledError(parameter.gradient, numeric, floor: 1e-300)
            XCTAssertLessThanOrEqual(
                error, 1e-8, "\(what): parameter \(index) \(parameter.name)", file: file, line: line)
            worst = max(worst, error)
        }
        print("\(what): worst relative error \(worst)")
        return worst
    }

    func testConvolutionLayerGradientsInPyTorchLayout() throws {
        var generator = SeededGenerator(seed: 300)
        let cases: [([Int], [Int], Int, [Int], Padding)] = [
            ([2, 5, 6, 3], [3, 3], 4, [1], .same),
            ([1, 7, 6, 2], [3, 2], 3, [2], .valid),
            ([1, 4, 3, 5, 2], [3, 3, 3], 2, [1], .same),
        ]
        for (shape, kernel, cout, stride, padding) in cases {
            let layer = try ConvolutionLayer<Double>(
                kernelSize: kernel, inputChannels: shape.last!, outputChannels: cout,
                stride: stride, padding: padding, generator: &generator)
            XCTAssertEqual(layer.weight.value.shape, [cout, shape.last!] + kernel, "PyTorch layout [out, in, k…]")
            layer.bias.value = randomTensor([cout], seed: 301)
            try checkLayer(
                layer, input: randomTensor(shape, seed: 302), seed: 303, "conv \(shape) k\(kernel) s\(stride)")
        }
    }

    func testConvolutionLayerWithoutInputGradient() throws {
        var generator = SeededGenerator(seed: 310)
        let layer = try ConvolutionLayer<Double>(
            kernelSize: [3, 3], inputChannels: 3, outputChannels: 4, generator: &generator)
        layer.computesInputGradient = false
        let x = randomTensor([2, 4, 5, 3], seed: 311)
        let r = randomTensor([2, 4, 5, 4], seed: 312)
        _ = try layer.forward(x, mode: .training)
        XCTAssertNil(try layer.backward(r))
        let original = layer.weight.value
        try assertGradient(layer.weight.gradient, at: original, bound: 1e-8, "weight without input gradient") { value in
            layer.weight.value = value
            defer { layer.weight.value = original }
            return dot(try layer.forward(x, mode: .training), r)
        }
    }

    func testTransposedConvolutionLayerGradientsInPyTorchLayout() throws {
        var generator = SeededGenerator(seed: 320)
        for (shape, kernel, cout) in [([2, 3, 4, 4], [2, 2], 3), ([1, 2, 3, 2, 3], [2, 2, 2], 2)] {
            let layer = try TransposedConvolutionLayer<Double>(
                kernelSize: kernel, inputChannels: shape.last!,
                outputChannels: cout, stride: [2], generator: &generator)
            XCTAssertEqual(layer.weight.value.shape, [shape.last!, cout] + kernel, "PyTorch layout [in, out, k…]")
            try checkLayer(layer, input: randomTensor(shape, seed: 321), seed: 322, "transposed conv \(shape)")
        }
    }

    func testActivationLayers() throws {
        for kind in [ActivationKind.relu, .leakyReLU(slope: 0.01), .leakyReLU(slope: 0.2)] {
            // Magnitudes in [0.05, 1.05): no element within a step of the kink at 0.
            var x = randomTensor([2, 3, 4, 3], seed: 330)
            var generator = SeededGenerator(seed: 331)
            for i in 0..<x.count { x.scalars[i] = (x.scalars[i] < 0 ? -1 : 1) * (0.05 + generator.nextUnit()) }
            XCTAssertTrue(x.scalars.contains { $0 < 0 } && x.scalars.contains { $0 > 0 })
            try checkLayer(ActivationLayer<Double>(kind), input: x, seed: 332, "\(kind)")
        }
    }

    func testSequentialLayerChainsGradients() throws {
        var generator = SeededGenerator(seed: 340)
        let chain = SequentialLayer<Double>([
            try ConvolutionLayer<Double>(
                kernelSize: [3, 3], inputChannels: 2, outputChannels: 4, generator: &generator),
            ActivationLayer<Double>(.leakyReLU(slope: 0.1)),
            try BatchNorm<Double>(channels: 4),
            try ConvolutionLayer<Double>(
                kernelSize: [3, 3], inputChannels: 4, outputChannels: 3, generator: &generator),
        ])
        let norm = chain.layers[2] as! BatchNorm<Double>
        norm.weight.value = randomTensor([4], seed: 341).map { 1 + 0.3 * $0 }
        norm.bias.value = randomTensor([4], seed: 342).map { 0.3 * $0 }
        XCTAssertEqual(chain.parameters.filter(\.isTrainable).count, 6)
        try checkLayer(
            chain, input: randomTensor([2, 4, 5, 2], seed: 343), seed: 344, "conv, leaky ReLU, batch norm, conv")
    }
}
