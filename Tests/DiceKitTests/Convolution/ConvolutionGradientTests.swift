// Backward passes of convolutions and transposed convolutions against central finite
// differences in Double (relative error ≤ 1e-6), with respect to input, weight and bias.

import XCTest

@testable import DiceKit

final class ConvolutionGradientTests: XCTestCase {
    /// Checks all three gradients of a convolution layer built by `make` from a weight and bias.
    func checkConvolution(
        inputShape: [Int], weightShape: [Int], bias: Bool, seed: UInt64, _ name: String,
        make: @escaping (Tensor<Double>, Tensor<Double>?) throws -> Convolution<Double>
    ) throws {
        let x = randomTensor(inputShape, seed: seed)
        let w = randomTensor(weightShape, seed: seed + 1)
        let b = bias ? randomTensor([weightShape.last!], seed: seed + 2) : nil
        let conv = try make(w, b)
        let r = randomTensor(try conv.outputShape(for: inputShape), seed: seed + 3)
        let g = try conv.backward(input: x, outputGradient: r)
        try assertGradient(g.input, at: x, "\(name) ∂x") { try dot(make(w, b).forward($0), r) }
        try assertGradient(g.weight, at: w, "\(name) ∂w") { try dot(make($0, b).forward(x), r) }
        if let b = b { try assertGradient(g.bias, at: b, "\(name) ∂b") { try dot(make(w, $0).forward(x), r) } }
    }

    func checkTransposed(
        inputShape: [Int], weightShape: [Int], bias: Bool, seed: UInt64, _ name: String,
        make: @escaping (Tensor<Double>, Tensor<Double>?) throws -> TransposedConvolution<Double>
    ) throws {
        let x = randomTensor(inputShape, seed: seed)
        let w = randomTensor(weightShape, seed: seed + 1)
        let probe = try make(w, nil)
        let b = bias ? randomTensor([probe.outputChannels], seed: seed + 2) : nil
        let conv = try make(w, b)
        let r = randomTensor(try conv.outputShape(for: inputShape), seed: seed + 3)
        let g = try conv.backward(input: x, outputGradient: r)
        try assertGradient(g.input, at: x, "\(name) ∂x") { try dot(make(w, b).forward($0), r) }
        try assertGradient(g.weight, at: w, "\(name) ∂w") { try dot(make($0, b).forward(x), r) }
        if let b = b { try assertGradient(g.bias, at: b, "\(name) ∂b") { try dot(make(w, $0).forward(x), r) } }
    }

    func testConv2DStrideDilationGroupsOneSidedPadding() throws {
        try checkConvolution(inputShape: [2, 7, 6, 4], weightShape: [3, 2, 2, 4], bias: true, seed: 10, "conv2d") {
            w, b in
            try Convolution(
                weight: w, bias: b, stride: [2, 1], padding: .explicit(before: [0, 1], after: [2, 0]),
                dilation: [2, 1], groups: 2)
        }
    }

    func testConv2DSamePaddingTiledAcrossWorkers() throws {
        // Tiles of 5 rows and 3 workers over a batch of 2: the input gradient goes through the
        // private per-worker buffers; weight gradients are summed across workers and tiles.
        let settings = ConvolutionSettings(tileRows: 5, workers: 3)
        try checkConvolution(
            inputShape: [2, 5, 5, 3], weightShape: [3, 3, 3, 2], bias: true, seed: 20, "conv2d same tiled"
        ) { w, b in
            try Convolution(weight: w, bias: b, stride: [2], padding: .same, settings: settings)
        }
    }

    func testPointwiseConvolutionWithGroups() throws {
        try checkConvolution(inputShape: [2, 3, 4, 6], weightShape: [1, 1, 2, 6], bias: true, seed: 30, "pointwise") {
            w, b in
            try Convolution(weight: w, bias: b, groups: 3, settings: ConvolutionSettings(workers: 2))
        }
    }

    func testConv2DStrideOneOneSidedPaddingAcrossWorkers() throws {
        // The input gradient as the adjoint convolution's forward pass (LoweredInputGradient.swift):
        // adjoint padding [0, 1] before and [2, 0] after, a 3 × 2 kernel, tiles over 3 workers.
        try checkConvolution(inputShape: [2, 5, 6, 3], weightShape: [3, 2, 3, 4], bias: true, seed: 35, "conv2d s1") {
            w, b in
            try Convolution(
                weight: w, bias: b, padding: .explicit(before: [2, 0], after: [0, 1]),
                settings: ConvolutionSettings(tileRows: 4, workers: 3))
        }
    }

    func testConv3DStrideOne() throws {
        try checkConvolution(
            inputShape: [2, 3, 4, 3, 2], weightShape: [2, 3, 2, 2, 3], bias: false, seed: 45, "conv3d s1"
        ) { w, b in
            try Convolution(
                weight: w, bias: b, padding: .explicit(before: [1, 1, 0], after: [0, 2, 1]),
                settings: ConvolutionSettings(workers: 2))
        }
    }

    func testTransposedConvStrideOneWithBias() throws {
        // Its forward pass is the adjoint convolution's, with the bias as that pass's.
        try checkTransposed(inputShape: [2, 4, 3, 3], weightShape: [3, 3, 2, 3], bias: true, seed: 65, "tconv2d s1") {
            w, b in
            try TransposedConvolution(
                weight: w, bias: b, padding: .symmetric([1]), settings: ConvolutionSettings(tileRows: 5, workers: 2))
        }
    }

    func testConv3D() throws {
        try checkConvolution(
            inputShape: [2, 3, 4, 3, 2], weightShape: [2, 3, 2, 2, 3], bias: true, seed: 40, "conv3d"
        ) { w, b in
            try Convolution(
                weight: w, bias: b, stride: [1, 2, 1], padding: .symmetric([1, 1, 0]),
                settings: ConvolutionSettings(tileRows: 4, workers: 2))
        }
    }

    func testTransposedConv2D() throws {
        try checkTransposed(inputShape: [2, 3, 4, 4], weightShape: [3, 3, 1, 4], bias: true, seed: 50, "tconv2d") {
            w, b in
            try TransposedConvolution(
                weight: w, bias: b, stride: [2], padding: .symmetric([1]), outputPadding: [1, 0],
                groups: 2, settings: ConvolutionSettings(tileRows: 3, workers: 2))
        }
        // One sample, three workers: the output goes through private buffers (the first holds the bias).
        try checkTransposed(inputShape: [1, 3, 2, 3], weightShape: [2, 2, 2, 3], bias: true, seed: 55, "tconv2d k2s2") {
            w, b in
            try TransposedConvolution(
                weight: w, bias: b, stride: [2], settings: ConvolutionSettings(tileRows: 2, workers: 3))
        }
    }

    func testTransposedConv3D() throws {
        try checkTransposed(
            inputShape: [2, 2, 3, 2, 2], weightShape: [2, 2, 2, 3, 2], bias: true, seed: 60, "tconv3d"
        ) { w, b in
            try TransposedConvolution(
                weight: w, bias: b, stride: [2, 1, 2], dilation: [1, 2, 1],
                settings: ConvolutionSettings(workers: 2))
        }
    }

    func testWithoutInputGradient() throws {
        let x = randomTensor([1, 4, 4, 2], seed: 70)
        let w = randomTensor([3, 3, 2, 3], seed: 71)
        let conv = try Convolution(weight: w, padding: .same)
        let r = randomTensor([1, 4, 4, 3], seed: 72)
        let full = try conv.backward(input: x, outputGradient: r)
        let partial = try conv.backward(input: x, outputGradient: r, computeInputGradient: false)
        XCTAssertNil(partial.input)
        XCTAssertNil(partial.bias)
        assertClose(partial.weight, full.weight, relativeTolerance: 1e-14)
    }
}
