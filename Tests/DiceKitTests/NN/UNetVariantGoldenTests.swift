// U-Nets with batch and group normalisation, leaky ReLU and 3-D volumes against PyTorch
// (Fixtures/unet_variants, made by Scripts/make_verification_fixtures.py): training- and
// evaluation-mode logits, MONAI's softmax Dice loss, every parameter's gradient and BatchNorm's
// running statistics after a training-mode forward. Both sides compute in Float32, in different
// summation orders. Errors are relative to the largest magnitude of each reference tensor;
// observed on an AMD EPYC (Zen 5, AVX-512), the bounds five to six times that:
//   logits (training and evaluation mode)  ≤ 6.4e-7 (gn2d)        bound 4e-6
//   parameter gradients                    ≤ 3.1e-6 (bn2d up.1.bias) bound 1.5e-5
//   gradients zero in exact arithmetic     ≤ 1.6e-7 of the largest  bound 1e-6
//   BatchNorm running statistics           ≤ 1.1e-7                 bound 1e-6

import XCTest

@testable import DiceKit

final class UNetVariantGoldenTests: XCTestCase {
    /// One fixture case and the configuration its metadata must describe.
    private func check(
        _ name: String, _ configuration: UNetConfiguration, logitsBound: Double, gradientBound: Double,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let dir = fixtureURL("unet_variants/\(name)")
        let model = try UNet<Float>.load(contentsOf: dir.appendingPathComponent("weights.safetensors").path)
        XCTAssertEqual(model.configuration, configuration, name, file: file, line: line)
        let images = try NPY.read(contentsOf: dir.appendingPathComponent("images.npy").path).tensor(of: Float.self)
        let labelArray = try NPY.read(contentsOf: dir.appendingPathComponent("labels.npy").path)
        let labels = try LabelMap(shape: labelArray.shape, labels: labelArray.integers())
        let meta =
            try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("meta.json")))
            as! [String: Any]

        // Evaluation mode first: it must leave BatchNorm's running statistics alone.
        let evaluation = try model.forward(images, mode: .evaluation)
        let expectedEvaluation = try NPY.read(contentsOf: dir.appendingPathComponent("logits_eval.npy").path).tensor(
            of: Float.self)
        let evaluationError = scaledError(evaluation, expectedEvaluation)
        XCTAssertLessThanOrEqual(evaluationError, logitsBound, "\(name) evaluation logits", file: file, line: line)

        let logits = try model.forward(images, mode: .training)
        let expectedLogits = try NPY.read(contentsOf: dir.appendingPathComponent("logits.npy").path).tensor(
            of: Float.self)
        let logitsError = scaledError(logits, expectedLogits)
        XCTAssertLessThanOrEqual(logitsError, logitsBound, "\(name) training logits", file: file, line: line)

        let loss = try DiceLoss(variant: .dice, activation: .softmax).evaluate(
            logits, target: .labels(labels), gradient: true)
        XCTAssertEqual(
            Double(loss.value), meta["loss"] as! Double, accuracy: 1e-5, "\(name) loss", file: file, line: line)
        model.parameters.zeroGradients()
        try model.backward(loss.gradient!)
        let grads = try SafetensorsFile.read(contentsOf: dir.appendingPathComponent("grads.safetensors").path)
        XCTAssertEqual(Set(grads.names), Set(model.parameters.trainable.map(\.name)), name, file: file, line: line)
        // Errors relative to each tensor's largest magnitude. A convolution bias followed by batch
        // or instance normalisation has a gradient that is zero in exact arithmetic (the
        // normalisation removes the channel's mean), so both sides hold rounding noise there
        // (~1e-9 of the network's largest gradient); such tensors (the blocks' convolution biases
        // "….0.bias" and "….3.bias" under batch or instance normalisation) must be below 1e-6 of
        // the network's largest gradient instead.
        let meanRemoved: Bool
        switch configuration.normalization {
        case .batch, .instance: meanRemoved = true
        case .none, .group: meanRemoved = false
        }
        let references = try model.parameters.trainable.map { try grads.tensor(named: $0.name, as: Float.self) }
        let networkScale = references.map { Double($0.scalars.map(abs).max() ?? 0) }.max() ?? 0
        var worst = (0.0, "")
        var noise = 0.0
        for (parameter, reference) in zip(model.parameters.trainable, references) {
            if meanRemoved && !parameter.name.hasPrefix("up.") && !parameter.name.hasPrefix("head.")
                && (parameter.name.hasSuffix(".0.bias") || parameter.name.hasSuffix(".3.bias"))
            {
                XCTAssertLessThan(
                    Double(reference.scalars.map(abs).max() ?? 0), 1e-6 * networkScale, parameter.name,
                    file: file, line: line)
                noise = max(noise, Double(parameter.gradient.scalars.map(abs).max() ?? 0) / networkScale)
                continue
            }
            let error = scaledError(parameter.gradient, reference)
            if error > worst.0 { worst = (error, parameter.name) }
        }
        XCTAssertLessThanOrEqual(
            noise, 1e-6, "\(name) gradients that are zero in exact arithmetic", file: file, line: line)
        XCTAssertLessThanOrEqual(worst.0, gradientBound, "\(name) gradient of \(worst.1)", file: file, line: line)

        var bufferError = 0.0
        let buffersPath = dir.appendingPathComponent("buffers.safetensors").path
        if FileManager.default.fileExists(atPath: buffersPath) {
            let buffers = try SafetensorsFile.read(contentsOf: buffersPath)
            let ours = Dictionary(uniqueKeysWithValues: model.parameters.all.map { ($0.name, $0) })
            for bufferName in buffers.names {
                let value = try XCTUnwrap(ours[bufferName], bufferName, file: file, line: line).value
                bufferError = max(
                    bufferError, scaledError(value, try buffers.tensor(named: bufferName, as: Float.self)))
            }
        }
        XCTAssertLessThanOrEqual(bufferError, 1e-6, "\(name) BatchNorm buffers", file: file, line: line)
        print(
            "\(name): buffers \(bufferError), logits \(logitsError) (evaluation \(evaluationError)), worst gradient \(worst.0) (\(worst.1)), zero gradients \(noise)"
        )
    }

    func testBatchNormUNetMatchesPyTorch() throws {
        try check(
            "bn2d", UNetConfiguration(inputChannels: 3, classes: 3, baseWidth: 4, depth: 2, normalization: .batch),
            logitsBound: 4e-6, gradientBound: 1.5e-5)
    }

    func testGroupNormLeakyUNetMatchesPyTorch() throws {
        try check(
            "gn2d",
            UNetConfiguration(
                inputChannels: 1, classes: 2, baseWidth: 4, depth: 2,
                normalization: .group(groups: 2), activation: .leakyReLU(slope: 0.01)),
            logitsBound: 4e-6, gradientBound: 1.5e-5)
    }

    func testInstanceNormLeaky3DUNetMatchesPyTorch() throws {
        try check(
            "in3d",
            UNetConfiguration(
                inputChannels: 1, classes: 3, baseWidth: 4, depth: 2, spatialRank: 3,
                normalization: .instance, activation: .leakyReLU(slope: 0.01)),
            logitsBound: 4e-6, gradientBound: 1.5e-5)
    }

    func testPlain3DUNetMatchesPyTorch() throws {
        try check(
            "plain3d", UNetConfiguration(inputChannels: 2, classes: 2, baseWidth: 4, depth: 2, spatialRank: 3),
            logitsBound: 4e-6, gradientBound: 1.5e-5)
    }
}
