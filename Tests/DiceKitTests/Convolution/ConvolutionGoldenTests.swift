// Every convolution-family operation against PyTorch goldens (forward and autograd gradients,
// Float). The goldens and their parameters come from Scripts/make_conv_fixtures.py, which
// computes y = op(x) and the gradients of sum(y · gy) with torch.autograd; see its docstring.

import XCTest

@testable import DiceKit

/// One case of Fixtures/conv/cases.json.
struct ConvFixtureCase: Decodable {
    let name: String
    let kind: String
    var stride: [Int]?
    var padBefore: [Int]?
    var padAfter: [Int]?
    var padding: [Int]?
    var outputPadding: [Int]?
    var dilation: [Int]?
    var groups: Int?
    var bias: Bool?
    var same: Bool?
    var kernel: [Int]?
    var countIncludePad: Bool?
    var scale: [Int]?
    var mode: String?
    var alignCorners: Bool?
    var slope: Double?

    static func all() throws -> [ConvFixtureCase] {
        let data = try Data(contentsOf: fixtureURL("conv/cases.json"))
        return try JSONDecoder().decode([ConvFixtureCase].self, from: data)
    }

    func tensor(_ key: String) throws -> Tensor<Float> {
        try NPY.read(contentsOf: fixtureURL("conv/\(name)_\(key).npy").path).tensor(of: Float.self)
    }
}

final class ConvolutionGoldenTests: XCTestCase {
    // Float32 sums of up to ~100 products of unit normals: PyTorch (oneDNN) and OpenBLAS order
    // them differently, so agreement is to a few ULPs of the magnitude, not of each element.
    let rtol: Float = 2e-5
    let atol: Float = 2e-5

    func cases(_ kinds: Set<String>) throws -> [ConvFixtureCase] {
        let all = try ConvFixtureCase.all().filter { kinds.contains($0.kind) }
        XCTAssertFalse(all.isEmpty, "no fixture cases of kinds \(kinds)")
        return all
    }

    func testConvolutionsMatchPyTorch() throws {
        for c in try cases(["conv"]) {
            let x = try c.tensor("x")
            let gy = try c.tensor("gy")
            let weight = try WeightLayout.fromPyTorch(c.tensor("w"))
            let bias = c.bias == true ? try c.tensor("b") : nil
            let padding: Padding = c.same == true ? .same : .explicit(before: c.padBefore!, after: c.padAfter!)
            let conv = try Convolution(
                weight: weight, bias: bias, stride: c.stride!, padding: padding,
                dilation: c.dilation!, groups: c.groups!)
            assertClose(
                try conv.forward(x), try c.tensor("y"), relativeTolerance: rtol, absoluteTolerance: atol,
                "\(c.name) forward")
            let g = try conv.backward(input: x, outputGradient: gy)
            assertClose(
                g.input!, try c.tensor("gx"), relativeTolerance: rtol, absoluteTolerance: atol,
                "\(c.name) input gradient")
            assertClose(
                try WeightLayout.toPyTorch(g.weight), try c.tensor("gw"), relativeTolerance: rtol,
                absoluteTolerance: atol, "\(c.name) weight gradient")
            if c.bias == true {
                assertClose(
                    g.bias!, try c.tensor("gb"), relativeTolerance: rtol, absoluteTolerance: atol,
                    "\(c.name) bias gradient")
            } else {
                XCTAssertNil(g.bias, c.name)
            }
        }
    }

    func testTransposedConvolutionsMatchPyTorch() throws {
        for c in try cases(["tconv"]) {
            let x = try c.tensor("x")
            let gy = try c.tensor("gy")
            let weight = try WeightLayout.fromPyTorch(c.tensor("w"))
            let bias = c.bias == true ? try c.tensor("b") : nil
            let conv = try TransposedConvolution(
                weight: weight, bias: bias, stride: c.stride!, padding: .symmetric(c.padding!),
                outputPadding: c.outputPadding!, dilation: c.dilation!, groups: c.groups!)
            let y = try c.tensor("y")
            XCTAssertEqual(try conv.outputShape(for: x.shape), y.shape, c.name)
            assertClose(try conv.forward(x), y, relativeTolerance: rtol, absoluteTolerance: atol, "\(c.name) forward")
            let g = try conv.backward(input: x, outputGradient: gy)
            assertClose(
                g.input!, try c.tensor("gx"), relativeTolerance: rtol, absoluteTolerance: atol,
                "\(c.name) input gradient")
            assertClose(
                try WeightLayout.toPyTorch(g.weight), try c.tensor("gw"), relativeTolerance: rtol,
                absoluteTolerance: atol, "\(c.name) weight gradient")
            if c.bias == true {
                assertClose(
                    g.bias!, try c.tensor("gb"), relativeTolerance: rtol, absoluteTolerance: atol,
                    "\(c.name) bias gradient")
            }
        }
    }

    func testPoolingMatchesPyTorch() throws {
        for c in try cases(["maxpool", "avgpool"]) {
            let x = try c.tensor("x")
            let gy = try c.tensor("gy")
            let (y, gx): (Tensor<Float>, Tensor<Float>)
            if c.kind == "maxpool" {
                let pool = try MaxPooling(kernelSize: c.kernel!, stride: c.stride!, padding: .symmetric(c.padding!))
                let result = try pool.forward(x)
                (y, gx) = (result.output, try pool.backward(result, outputGradient: gy))
            } else {
                let pool = try AveragePooling(
                    kernelSize: c.kernel!, stride: c.stride!, padding: .symmetric(c.padding!),
                    countIncludesPadding: c.countIncludePad!)
                (y, gx) = (try pool.forward(x), try pool.backward(inputShape: x.shape, outputGradient: gy))
            }
            assertClose(y, try c.tensor("y"), relativeTolerance: 1e-6, absoluteTolerance: 1e-6, "\(c.name) forward")
            assertClose(
                gx, try c.tensor("gx"), relativeTolerance: 1e-6, absoluteTolerance: 1e-6, "\(c.name) input gradient")
        }
    }

    func testUpsamplingMatchesPyTorch() throws {
        for c in try cases(["upsample"]) {
            let x = try c.tensor("x")
            let gy = try c.tensor("gy")
            let mode: Upsampling.Mode = c.mode == "nearest" ? .nearest : .linear(alignCorners: c.alignCorners!)
            let up = try Upsampling(scale: c.scale!, mode: mode)
            assertClose(
                try up.forward(x), try c.tensor("y"), relativeTolerance: 1e-5, absoluteTolerance: 1e-6,
                "\(c.name) forward")
            assertClose(
                try up.backward(inputShape: x.shape, outputGradient: gy), try c.tensor("gx"),
                relativeTolerance: 1e-5, absoluteTolerance: 1e-5, "\(c.name) input gradient")
        }
    }

    func testActivationsMatchPyTorch() throws {
        for c in try cases(["relu", "leaky", "sigmoid"]) {
            let x = try c.tensor("x")
            let gy = try c.tensor("gy")
            let y = try c.tensor("y")
            let gx = try c.tensor("gx")
            switch c.kind {
            case "relu":
                assertClose(ReLU().forward(x), y, relativeTolerance: 0, "relu")
                assertClose(
                    try ReLU().backward(input: x, outputGradient: gy), gx, relativeTolerance: 0, "relu backward")
            case "leaky":
                let f = LeakyReLU(negativeSlope: c.slope!)
                assertClose(f.forward(x), y, relativeTolerance: 1e-6, "leaky")
                assertClose(try f.backward(input: x, outputGradient: gy), gx, relativeTolerance: 1e-6, "leaky backward")
            default:
                let s = Sigmoid().forward(x)
                assertClose(s, y, relativeTolerance: 1e-6, absoluteTolerance: 1e-7, "sigmoid")
                assertClose(
                    try Sigmoid().backward(output: s, outputGradient: gy), gx, relativeTolerance: 1e-5,
                    absoluteTolerance: 1e-7, "sigmoid backward")
            }
        }
    }
}
