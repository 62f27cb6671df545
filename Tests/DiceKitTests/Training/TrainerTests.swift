// The training loop end to end with a toy model (a per-pixel linear classifier followed by
// BatchNorm-free softmax cross-entropy): loss falls, files appear, the best checkpoint is kept,
// Ctrl-C stops cleanly and training resumes where it stopped.

import Foundation
import XCTest
@testable import DiceKit

/// logits[p, k] = Σ_c x[p, c]·W[c, k] + b[k] — a 1×1 convolution written out.
private final class PixelClassifier: SegmentationModel {
    let parameters = ParameterStore<Float>()
    let weight: Parameter<Float>, bias: Parameter<Float>
    private var input = Tensor<Float>(shape: [0])

    init(channels: Int, classes: Int) {
        var generator = SeededGenerator(seed: 7)
        weight = Parameter(name: "weight", value: Tensor.normal([channels, classes], standardDeviation: 0.1, generator: &generator))
        bias = Parameter(name: "bias", value: Tensor(shape: [classes]))
        parameters.register(weight, prefix: "head")
        parameters.register(bias, prefix: "head")
    }

    func forward(_ images: Tensor<Float>, mode: LayerMode) throws -> Tensor<Float> {
        input = images
        let (c, k) = (weight.value.shape[0], weight.value.shape[1])
        let pixels = images.count / c
        var out = [Float](repeating: 0, count: pixels * k)
        for p in 0..<pixels { for j in 0..<k {
            var s = bias.value.scalars[j]
            for i in 0..<c { s += images.scalars[p * c + i] * weight.value.scalars[i * k + j] }
            out[p * k + j] = s
        } }
        return try Tensor(shape: Array(images.shape.dropLast()) + [k], scalars: out)
    }

    func backward(_ gradient: Tensor<Float>) throws {
        let (c, k) = (weight.value.shape[0], weight.value.shape[1])
        for p in 0..<(gradient.count / k) { for j in 0..<k {
            let g = gradient.scalars[p * k + j]
            bias.gradient.scalars[j] += g
            for i in 0..<c { weight.gradient.scalars[i * k + j] += input.scalars[p * c + i] * g }
        } }
    }
}

/// Mean softmax cross-entropy over pixels and its gradient.
private func crossEntropy(_ logits: Tensor<Float>, _ batch: SegmentationBatch) throws -> (value: Double, gradient: Tensor<Float>) {
    let k = logits.shape.last!
    let n = batch.labels.count
    var gradient = [Float](repeating: 0, count: logits.count)
    var total = 0.0
    for p in 0..<n {
        let row = logits.scalars[(p * k)..<((p + 1) * k)]
        let m = row.max()!
        let exps = row.map { Double.exp(Double($0 - m)) }
        let z = exps.reduce(0, +)
        let label = Int(batch.labels[p])
        total -= Double.log(exps[label] / z)
        for j in 0..<k { gradient[p * k + j] = Float((exps[j] / z - (j == label ? 1 : 0)) / Double(n)) }
    }
    return (total / Double(n), try Tensor(shape: logits.shape, scalars: gradient))
}

final class TrainerTests: XCTestCase {
    private func data() throws -> (SegmentationDataset, SegmentationDataset) {
        try SegmentationDataset.syntheticPolyps(count: 24, seed: 1, configuration: .init(size: 16)).split(validationFraction: 0.25, seed: 2)
    }

    private func quiet(_ epochs: Int) -> ProgressReporter {
        ProgressReporter(totalEpochs: epochs, stepsPerEpoch: 1, interactive: false, sink: { _ in })
    }

    func testFitWritesEverythingAndLearns() throws {
        let (training, validation) = try data()
        let directory = try temporaryDirectory(self).appendingPathComponent("run").path
        let model = PixelClassifier(channels: 3, classes: 2)
        let options = TrainerOptions(epochs: 4, batchSize: 6, learningRate: 0.05, schedule: .cosine(warmup: 1, total: 4),
                                     gradientClipNorm: 5, seed: 3, outputDirectory: directory,
                                     configuration: [JSONField("model", "pixel")], checkpointMetadata: ["classes": "2"])
        let trainer = Trainer(model: model, optimizer: Adam<Float>(), loss: crossEntropy, options: options)
        trainer.reporter = quiet(4)
        let summary = try trainer.fit(training: training, validation: validation)
        XCTAssertEqual(summary.epochs.count, 4)
        XCTAssertFalse(summary.interrupted)
        XCTAssertLessThan(summary.epochs.last!.trainLoss, summary.epochs.first!.trainLoss)
        XCTAssertEqual(summary.epochs.first!.learningRate, 0.05, accuracy: 1e-12, "warm-up epoch 1 of 1")
        XCTAssertEqual(summary.epochs.last!.validationDice.count, 2)
        let names = Set(try FileManager.default.contentsOfDirectory(atPath: directory))
        XCTAssertEqual(names, ["metrics.jsonl", "summary.json", "curves.svg", "last.safetensors", "last.optimizer.safetensors", "best.safetensors"])
        let lines = try String(contentsOfFile: directory + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        let parsed = lines.compactMap { EpochMetrics(jsonLine: String($0)) }
        XCTAssertEqual(parsed.map(\.epoch), [1, 2, 3, 4])
        for (a, b) in zip(parsed, summary.epochs) {  // Foundation's JSON parser may differ in the last ulp
            XCTAssertEqual(a.trainLoss, b.trainLoss, accuracy: 1e-12)
            XCTAssertEqual(a.validationDice.count, b.validationDice.count)
        }
        let best = try SafetensorsFile.read(contentsOf: directory + "/best.safetensors")
        XCTAssertEqual(best.metadata["epoch"], String(summary.best!.epoch))
        XCTAssertEqual(best.metadata["classes"], "2")
    }

    func testInterruptSavesAndResumeContinues() throws {
        let (training, validation) = try data()
        let directory = try temporaryDirectory(self).path
        let options = TrainerOptions(epochs: 4, batchSize: 6, learningRate: 0.05, augmentation: .none, outputDirectory: directory)
        var steps = 0
        let stopping: SegmentationLoss<Float> = { logits, batch in
            steps += 1
            if steps == 8 { InterruptFlag.request() }  // as if Ctrl-C arrived during epoch 3
            return try crossEntropy(logits, batch)
        }
        let first = Trainer(model: PixelClassifier(channels: 3, classes: 2), optimizer: Adam<Float>(), loss: stopping, options: options)
        first.reporter = quiet(4)
        let summary = try first.fit(training: training, validation: validation)
        XCTAssertTrue(summary.interrupted)
        XCTAssertEqual(summary.epochs.count, 2, "3 steps per epoch: epochs 1–2 finish, epoch 3 is cut")
        XCTAssertFalse(InterruptFlag.isRequested, "fit leaves the flag cleared")
        let saved = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/summary.json"))) as! [String: Any]
        XCTAssertEqual(saved["interrupted"] as? Bool, true)

        let second = Trainer(model: PixelClassifier(channels: 3, classes: 2), optimizer: Adam<Float>(), loss: crossEntropy, options: options)
        second.reporter = quiet(4)
        try second.resume(from: directory + "/last.safetensors")
        XCTAssertEqual(second.history.map(\.epoch), [1, 2])
        let resumed = try second.fit(training: training, validation: validation)
        XCTAssertEqual(resumed.epochs.map(\.epoch), [1, 2, 3, 4])
        XCTAssertFalse(resumed.interrupted)
        let lines = try String(contentsOfFile: directory + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 4)
    }

    func testOverlapTally() throws {
        var tally = OverlapTally(classes: 3)
        // Four pixels: predictions 0, 1, 1, 2 against labels 0, 1, 2, 2.
        let logits = try Tensor<Float>(shape: [1, 2, 2, 3], scalars: [5, 0, 0, 0, 5, 0, 0, 5, 0, 0, 0, 5])
        try tally.add(logits: logits, labels: [0, 1, 2, 2])
        XCTAssertEqual(tally.dice, [1, 2.0 / 3, 2.0 / 3])
        XCTAssertEqual(tally.iou, [1, 0.5, 0.5])
        XCTAssertThrowsError(try tally.add(logits: logits, labels: [0]))
        XCTAssertEqual(OverlapTally(classes: 2).dice, [1, 1], "absent classes score 1")
        let table = tally.table.split(separator: "\n")
        XCTAssertEqual(table.count, 5)
        XCTAssertEqual(String(table[2]), "    1    0.6667  0.5000           1           1           0")
        XCTAssertTrue(table[4].hasPrefix("fg       0.6667  0.5000"), String(table[4]))
        XCTAssertTrue(tally.json.encoded.hasPrefix(#"{"dice":[1.0,0.6666666666666666,0.6666666666666666],"iou":[1.0,0.5,0.5],"dice_foreground":0.666"#))
    }

    func testInvalidOptions() throws {
        let (training, _) = try data()
        let trainer = Trainer(model: PixelClassifier(channels: 3, classes: 2), optimizer: SGD<Float>(learningRate: 0.1),
                              loss: crossEntropy, options: TrainerOptions(epochs: 0))
        XCTAssertThrowsError(try trainer.fit(training: training)) {
            guard case DiceKitError.option = $0 else { return XCTFail("\($0)") }
        }
    }
}
