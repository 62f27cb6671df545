// The building blocks of a U-Net chained by hand, in 2-D and 3-D: shapes through an encoder
// level, the bottom and a decoder level (conv 3×3 pad 1 + ReLU, max pool 2×2, transposed conv
// 2×2 stride 2, channel concatenation with the skip), and a backward pass through the chain
// checked against finite differences on the input.

import XCTest

@testable import DiceKit

final class UNetBuildingBlockTests: XCTestCase {
    struct Level {
        let down: Convolution<Double>
        let pool: MaxPooling
        let up: TransposedConvolution<Double>
        let fuse: Convolution<Double>
        let head: Convolution<Double>

        init(rank: Int, channels: Int, width: Int, classes: Int, seed: UInt64) throws {
            var generator = SeededGenerator(seed: seed)
            let k3 = [Int](repeating: 3, count: rank)
            let k2 = [Int](repeating: 2, count: rank)
            down = try Convolution(
                kernelSize: k3, inputChannels: channels, outputChannels: width, padding: .symmetric([1]),
                generator: &generator)
            pool = try MaxPooling(kernelSize: k2)
            up = try TransposedConvolution(
                kernelSize: k2, inputChannels: width, outputChannels: width, stride: [2],
                generator: &generator)
            fuse = try Convolution(
                kernelSize: k3, inputChannels: 2 * width, outputChannels: width, padding: .symmetric([1]),
                generator: &generator)
            head = try Convolution(
                kernelSize: [Int](repeating: 1, count: rank), inputChannels: width, outputChannels: classes,
                generator: &generator)
        }

        /// The logits, and ∂(Σ logits·r)/∂x by the chain of backward passes.
        func run(_ x: Tensor<Double>, r: Tensor<Double>?) throws -> (Tensor<Double>, Tensor<Double>?) {
            let a = try down.forward(x)
            let s = ReLU().forward(a) // the skip
            let p = try pool.forward(s)
            let u = try up.forward(p.output)
            let c = try Tensor.concatenatingChannels([u, s])
            let f = try fuse.forward(c)
            let h = LeakyReLU(negativeSlope: 0.1).forward(f)
            let y = try head.forward(h)
            guard let r = r else { return (y, nil) }
            let gh = try head.backward(input: h, outputGradient: r).input!
            let gf = try LeakyReLU(negativeSlope: 0.1).backward(input: f, outputGradient: gh)
            let gc = try fuse.backward(input: c, outputGradient: gf).input!
            let parts = try gc.splittingChannels([u.shape.last!, s.shape.last!])
            let gp = try up.backward(input: p.output, outputGradient: parts[0]).input!
            let gs = try pool.backward(p, outputGradient: gp) + parts[1]
            let ga = try ReLU().backward(input: a, outputGradient: gs)
            return (y, try down.backward(input: x, outputGradient: ga).input!)
        }
    }

    func testChainIn2DAnd3D() throws {
        for (rank, shape) in [(2, [2, 6, 4, 3]), (3, [1, 4, 2, 4, 2])] {
            let level = try Level(rank: rank, channels: shape.last!, width: 4, classes: 2, seed: 300)
            let x = randomTensor(shape, seed: 301)
            let (y, _) = try level.run(x, r: nil)
            XCTAssertEqual(y.shape, Array(shape.dropLast()) + [2], "rank \(rank)")
            let r = randomTensor(y.shape, seed: 302)
            let (_, gx) = try level.run(x, r: r)
            // ReLU kinks and pooling ties are away from x by far more than the step.
            try assertGradient(gx, at: x, step: 1e-6, "U-Net level rank \(rank)") {
                dot(try level.run($0, r: nil).0, r)
            }
        }
    }

    func testConvenienceInitialisersProduceTheDocumentedShapes() throws {
        var generator = SeededGenerator(seed: 310)
        let conv = try Convolution<Float>(
            kernelSize: [3, 3, 3], inputChannels: 4, outputChannels: 6, groups: 2, generator: &generator)
        XCTAssertEqual(conv.weight.shape, [3, 3, 3, 2, 6])
        XCTAssertEqual(conv.bias, Tensor<Float>(shape: [6]))
        XCTAssertEqual([conv.spatialRank, conv.inputChannels, conv.outputChannels], [3, 4, 6])
        let up = try TransposedConvolution<Float>(
            kernelSize: [2, 2], inputChannels: 8, outputChannels: 4, stride: [2],
            useBias: false, generator: &generator)
        XCTAssertEqual(up.weight.shape, [2, 2, 4, 8])
        XCTAssertNil(up.bias)
        XCTAssertEqual(try up.outputShape(for: [3, 5, 7, 8]), [3, 10, 14, 4])
        XCTAssertEqual(try conv.outputShape(for: [1, 5, 6, 7, 4]), [1, 3, 4, 5, 6])
        XCTAssertEqual(
            try TransposedConvolution(weight: up.weight, stride: [2], padding: .same).outputShape(for: [1, 5, 7, 8]),
            [1, 10, 14, 4])
    }
}
