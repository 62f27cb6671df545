// Convolution layers on the direct kernels' shapes (3×3 or 3×3×3, stride 1, one group, input and
// output channels multiples of 16, or a first layer on 3 channels without input gradient) against PyTorch (Fixtures/direct, made by
// Scripts/make_verification_fixtures.py): output, input, weight and bias gradients of
// Σ y·gy through `ConvolutionLayer`, whose weights are PyTorch's [out, in, k…] tensors as they are.
// On a CPU with AVX-512 the test first asserts that every pass takes the direct path; elsewhere
// the same goldens check the lowered path. Float32 on both sides: the largest error observed
// (AMD EPYC Zen 5, AVX-512) is 8.9e-7 of the tensor's largest magnitude (conv3d output); the bound is 4e-6.

import XCTest

@testable import DiceKit

final class DirectConvolutionGoldenTests: XCTestCase {
    private func load(_ name: String, _ key: String) throws -> Tensor<Float> {
        try NPY.read(contentsOf: fixtureURL("direct/\(name)_\(key).npy").path).tensor(of: Float.self)
    }

    /// `firstLayer`: the layer skips its input gradient (a network's first layer on 3 channels,
    /// which the direct kernels take only then).
    private func check(_ name: String, firstLayer: Bool = false, file: StaticString = #filePath, line: UInt = #line)
        throws
    {
        let (x, w, b) = (try load(name, "x"), try load(name, "w"), try load(name, "b"))
        let (cout, cin) = (w.shape[0], w.shape[1])
        let kernel = Array(w.shape[2...])
        var generator = SeededGenerator(seed: 0)
        let layer = try ConvolutionLayer<Float>(
            kernelSize: kernel, inputChannels: cin, outputChannels: cout, generator: &generator)
        layer.weight.value = w
        layer.bias.value = b
        layer.computesInputGradient = !firstLayer

        if ConvGeometry.directKernelsAvailable {
            let convolution = try Convolution(weight: WeightLayout.fromPyTorch(w), bias: b, padding: .same)
            let geometry = try convolution.geometry(x.shape)
            XCTAssertTrue(
                geometry.runsDirect(Float.self, inputGradient: false, settings: convolution.settings),
                "\(name): forward not on the direct kernels", file: file, line: line)
            XCTAssertTrue(
                geometry.runsDirect(Float.self, inputGradient: !firstLayer, settings: convolution.settings),
                "\(name): backward not on the direct kernels", file: file, line: line)
        }

        let y = try layer.forward(x, mode: .training)
        let gx = try layer.backward(try load(name, "gy"))
        var errors = [
            ("y", scaledError(y, try load(name, "y"))),
            ("gw", scaledError(layer.weight.gradient, try load(name, "gw"))),
            ("gb", scaledError(layer.bias.gradient, try load(name, "gb"))),
        ]
        if firstLayer {
            XCTAssertNil(gx, "\(name): no input gradient", file: file, line: line)
        } else {
            errors.append(("gx", scaledError(try XCTUnwrap(gx, file: file, line: line), try load(name, "gx"))))
        }
        for (what, error) in errors {
            XCTAssertLessThanOrEqual(error, 4e-6, "\(name) \(what)", file: file, line: line)
        }
        print("\(name): " + errors.map { "\($0.0) \($0.1)" }.joined(separator: ", "))
    }

    func testTwoDimensional16To32() throws { try check("conv2d_c16_c32") }
    func testThreeDimensional16To16() throws { try check("conv3d_c16_c16") }
    func testTwoDimensional32To48SingleSample() throws { try check("conv2d_c32_c48") }
    func testFirstLayer3To16WithoutInputGradient() throws { try check("conv2d_c3_c16", firstLayer: true) }
}
