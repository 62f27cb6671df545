// The U-Net's deep-supervision heads: output shapes, the full-resolution output unchanged, the
// backward pass through every head against central finite differences in Double, and the
// checkpoint rules (training state keeps the heads, model files and `UNet.load` leave them out).

import Foundation
import XCTest

@testable import DiceKit

final class UNetDeepSupervisionTests: XCTestCase {
    private let configuration = UNetConfiguration(inputChannels: 2, classes: 3, baseWidth: 2, depth: 3)

    func testOutputsHaveEachLevelsResolutionAndTheMainOutputIsUnchanged() throws {
        let plain = try UNet<Float>(configuration, seed: 4)
        let model = try UNet<Float>(configuration, seed: 4)
        try model.enableDeepSupervision(outputs: 3, seed: 4)
        XCTAssertEqual(model.deepSupervisionOutputs, 3)
        var generator = SeededGenerator(seed: 1)
        let x = Tensor<Float>.normal([2, 16, 8, 2], generator: &generator)
        let outputs = try model.forwardDeepSupervision(x, mode: .evaluation)
        XCTAssertEqual(outputs.map(\.shape), [[2, 16, 8, 3], [2, 8, 4, 3], [2, 4, 2, 3]])
        XCTAssertEqual(outputs[0].scalars, try plain.forward(x, mode: .evaluation).scalars)
        XCTAssertEqual(try model.forward(x, mode: .evaluation).scalars, outputs[0].scalars)
        let names = model.parameters.all.map(\.name).filter { $0.hasPrefix("deep_supervision.") }
        XCTAssertEqual(
            names,
            [
                "deep_supervision.1.weight", "deep_supervision.1.bias", "deep_supervision.2.weight",
                "deep_supervision.2.bias",
            ])
        XCTAssertEqual(model.parameters["deep_supervision.2.weight"]?.value.shape, [3, 8, 1, 1]) // PyTorch layout
    }

    func testOptionErrors() throws {
        let model = try UNet<Float>(configuration)
        for bad in [0, 4] {
            XCTAssertThrowsError(try model.enableDeepSupervision(outputs: bad)) {
                XCTAssertTrue("\($0)".contains("1...3"), "\($0)")
            }
        }
        try model.enableDeepSupervision(outputs: 2)
        XCTAssertThrowsError(try model.enableDeepSupervision(outputs: 2))
        _ = try model.forwardDeepSupervision(Tensor<Float>(shape: [1, 8, 8, 2]))
        XCTAssertThrowsError(try model.backward(deepSupervision: [Tensor<Float>(shape: [1, 8, 8, 3])])) {
            XCTAssertTrue("\($0)".contains("expected 2"), "\($0)")
        }
        XCTAssertThrowsError(try model.forwardDeepSupervision(Tensor<Float>(shape: [1, 6, 8, 2])))
    }

    /// Σ_l ⟨R_l, output_l⟩ for fixed random R_l: its gradient with respect to every parameter
    /// tensor (sampled) and the input, against central differences (step 1e-6; seeded normals
    /// keep every ReLU and max-pooling kink farther than the step, as in UNetGradientCheckTests).
    func testBackwardThroughEveryHeadMatchesFiniteDifferences() throws {
        let model = try UNet<Double>(configuration, seed: 7)
        try model.enableDeepSupervision(outputs: 3, seed: 7)
        model.computesInputGradient = true
        var generator = SeededGenerator(seed: 8)
        let input = Tensor<Double>.normal([1, 8, 8, 2], generator: &generator)
        let outputs = try model.forwardDeepSupervision(input)
        let weights = outputs.map { Tensor<Double>.normal($0.shape, generator: &generator) }
        func value(_ x: Tensor<Double>) throws -> Double {
            zip(try model.forwardDeepSupervision(x), weights).map { zip($0.scalars, $1.scalars).map(*).reduce(0, +) }
                .reduce(0, +)
        }
        model.parameters.zeroGradients()
        _ = try model.forwardDeepSupervision(input)
        let inputGradient = try XCTUnwrap(try model.backward(deepSupervision: weights))
        try assertGradient(inputGradient, at: input, step: 1e-6, "input") { try value($0) }
        for parameter in model.parameters.trainable {
            let analytic = parameter.gradient
            var indices = [analytic.scalars.indices.max { abs(analytic.scalars[$0]) < abs(analytic.scalars[$1]) }!]
            indices.append(Int(generator.next() % UInt64(analytic.count)))
            for i in indices {
                let original = parameter.value.scalars[i]
                parameter.value.scalars[i] = original + 1e-6
                let plus = try value(input)
                parameter.value.scalars[i] = original - 1e-6
                let minus = try value(input)
                parameter.value.scalars[i] = original
                let numeric = (plus - minus) / 2e-6
                let scale = max(analytic.scalars.map(abs).max()!, 1e-3)
                XCTAssertLessThanOrEqual(
                    abs(numeric - analytic.scalars[i]) / scale, 1e-6,
                    "\(parameter.name)[\(i)]: \(analytic.scalars[i]) vs \(numeric)")
            }
        }
        // The heads' gradients reach the encoder: without them the first layer's gradient differs.
        let withHeads = model.parameters["down.0.0.weight"]!.gradient
        model.parameters.zeroGradients()
        _ = try model.forwardDeepSupervision(input)
        try model.backward(weights[0])
        XCTAssertGreaterThan(withHeads.maxAbsDifference(model.parameters["down.0.0.weight"]!.gradient), 1e-6)
    }

    func testModelFilesLeaveTheHeadsOutAndLoadSkipsThem() throws {
        let dir = try temporaryDirectory(self).path
        let model = try UNet<Float>(configuration, seed: 2)
        try model.enableDeepSupervision(outputs: 3, seed: 2)
        try model.save(to: "\(dir)/model.safetensors")
        let saved = try SafetensorsFile.read(contentsOf: "\(dir)/model.safetensors")
        XCTAssertFalse(saved.names.contains { $0.hasPrefix("deep_supervision.") })
        XCTAssertEqual(saved.names, try UNet<Float>(configuration).parameters.stateDict().names)

        let state = model.parameters.stateDict(metadata: configuration.metadata)
        XCTAssertTrue(state.names.contains("deep_supervision.2.bias"))
        try state.write(to: "\(dir)/state.safetensors")
        XCTAssertEqual(try UNetConfiguration.inferred(from: state), configuration)
        let loaded = try UNet<Float>.load(contentsOf: "\(dir)/state.safetensors")
        XCTAssertEqual(loaded.deepSupervisionOutputs, 1)
        let x = Tensor<Float>(shape: [1, 8, 8, 2], repeating: 0.5)
        XCTAssertEqual(try loaded.forward(x).scalars, try model.forward(x).scalars)
        let again = try UNet<Float>(configuration)
        try again.enableDeepSupervision(outputs: 3)
        try again.parameters.load(state)
        XCTAssertEqual(
            again.parameters["deep_supervision.1.weight"]!.value, model.parameters["deep_supervision.1.weight"]!.value)
    }
}
