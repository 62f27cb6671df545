// The U-Net against the reference PyTorch model (Fixtures/unet, made by
// Scripts/make_unet_fixtures.sh with shared/reference/unet_torch.py: base 4, depth 2, 3 inputs,
// 2 classes, two 32×32 images): logits on PyTorch's weights, and the parameter gradients of the
// softmax Dice loss (MONAI DiceLoss(softmax=True, to_onehot_y=True), mean reduction).
// Errors relative to each reference tensor's largest magnitude, observed on an AMD EPYC (Zen 5):
// logits 1.4e-7 (bound 1e-6), parameter gradients 9.1e-7 (bound 5e-6).

import XCTest

@testable import DiceKit

final class UNetInteropTests: XCTestCase {
    private func fixture(_ name: String) -> String { fixtureURL("unet/\(name)").path }

    func testLogitsOnPyTorchWeightsMatch() throws {
        let model = try UNet<Float>.load(contentsOf: fixture("weights.safetensors"))
        XCTAssertEqual(model.configuration, UNetConfiguration(inputChannels: 3, classes: 2, baseWidth: 4, depth: 2))
        let images = try NPY.read(contentsOf: fixture("images.npy")).tensor(of: Float.self)
        let expected = try NPY.read(contentsOf: fixture("logits.npy")).tensor(of: Float.self)
        let logits = try model.forward(images, mode: .evaluation)
        XCTAssertLessThanOrEqual(scaledError(logits, expected), 1e-6)
    }

    func testParameterGradientsMatchPyTorch() throws {
        let model = try UNet<Float>.load(contentsOf: fixture("weights.safetensors"))
        let images = try NPY.read(contentsOf: fixture("images.npy")).tensor(of: Float.self)
        let labelsArray = try NPY.read(contentsOf: fixture("labels.npy"))
        let labels = try LabelMap(shape: labelsArray.shape, labels: labelsArray.integers())
        let logits = try model.forward(images)
        let loss = try DiceLoss(variant: .dice, activation: .softmax)
            .evaluate(logits, target: .labels(labels), gradient: true)
        XCTAssertEqual(Double(loss.value), 0.5023641586303711, accuracy: 1e-5)
        model.parameters.zeroGradients()
        try model.backward(loss.gradient!)
        let expected = try SafetensorsFile.read(contentsOf: fixture("grads.safetensors"))
        XCTAssertEqual(Set(expected.names), Set(model.parameters.trainable.map(\.name)))
        for parameter in model.parameters.trainable {
            let reference = try expected.tensor(named: parameter.name, as: Float.self)
            XCTAssertLessThanOrEqual(scaledError(parameter.gradient, reference), 5e-6, parameter.name)
        }
    }

    func testCheckpointRoundTripKeepsNamesLayoutsAndOutputs() throws {
        let dir = try temporaryDirectory(self)
        let config = UNetConfiguration(inputChannels: 1, classes: 3, baseWidth: 4, depth: 2, normalization: .batch)
        let model = try UNet<Float>(config, seed: 5)
        var generator = SeededGenerator(seed: 1)
        let x = Tensor<Float>.normal([2, 8, 8, 1], generator: &generator)
        _ = try model.forward(x) // updates BatchNorm running statistics
        let path = dir.appendingPathComponent("model.safetensors").path
        try model.save(to: path, metadata: ["epoch": "1"])
        let loaded = try UNet<Float>.load(contentsOf: path)
        XCTAssertEqual(loaded.configuration, config)
        XCTAssertEqual(try loaded.forward(x, mode: .evaluation), try model.forward(x, mode: .evaluation))
        let file = try SafetensorsFile.read(contentsOf: path)
        XCTAssertEqual(file.tensors["down.0.0.weight"]?.shape, [4, 1, 3, 3], "PyTorch conv layout [out, in, kh, kw]")
        XCTAssertEqual(
            file.tensors["up.0.weight"]?.shape, [16, 8, 2, 2], "PyTorch transposed layout [in, out, kh, kw]")
        XCTAssertNotNil(file.tensors["down.0.1.running_mean"])
        XCTAssertEqual(file.metadata["epoch"], "1")
    }

    func testWrongInputShapesAreTypedErrors() throws {
        let model = try UNet<Float>(UNetConfiguration(inputChannels: 3, classes: 2, baseWidth: 4, depth: 2))
        XCTAssertThrowsError(try model.forward(Tensor(shape: [1, 30, 32, 3]))) { error in
            XCTAssertTrue("\(error)".contains("divisible by 2^depth = 4"), "\(error)")
        }
        XCTAssertThrowsError(try model.forward(Tensor(shape: [1, 32, 32, 1])))
        XCTAssertThrowsError(try UNet<Float>(UNetConfiguration(depth: 0)))
    }
}
