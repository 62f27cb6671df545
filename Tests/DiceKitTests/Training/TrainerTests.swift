// The training loop end to end on tiny problems: the loss falls (2-D and 3-D), outputs are
// written, a resumed run continues, and an interrupted checkpoint save keeps the previous file.

import XCTest

@testable import DiceKit

final class TrainerTests: XCTestCase {
    func test3DUNetLossFallsOnSyntheticBlobs() throws {
        let data = try SegmentationDataset.syntheticBlobs3D(count: 4, seed: 1, depth: 8, height: 8, width: 8)
        let model = try UNet<Float>(
            UNetConfiguration(
                inputChannels: data.channels, classes: 2, baseWidth: 4,
                depth: 1, spatialRank: 3), seed: 2)
        var config = TrainingConfiguration()
        config.learningRate = 1e-2
        config.augmentation = .none
        config.batchSize = 4
        let trainer = try Trainer(model: model, configuration: config)
        let batch = try data.batches(size: 4).batch(0)
        let first = try trainer.trainStep(batch)
        var last = first
        for _ in 0..<15 { last = try trainer.trainStep(batch) }
        XCTAssertLessThan(last, first * 0.9, "3-D loss \(first) → \(last)")
    }

    func testFitWritesOutputsAndResumeContinues() throws {
        let dir = try temporaryDirectory(self).path
        let data = try SegmentationDataset.syntheticPolyps(count: 12, seed: 3, configuration: .init(size: 32))
        let (training, validation) = try data.split(validationFraction: 0.25, seed: 0)
        var config = TrainingConfiguration()
        config.epochs = 2
        config.batchSize = 4
        config.outputDirectory = dir
        let model = try UNet<Float>(UNetConfiguration(inputChannels: 3, classes: 2, baseWidth: 4, depth: 2), seed: 1)
        let summary = try Trainer(model: model, configuration: config).fit(training: training, validation: validation)
        XCTAssertEqual(summary.epochs.count, 2)
        XCTAssertFalse(summary.interrupted)
        for file in ["last.safetensors", "metrics.jsonl", "summary.json", "curves.svg"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir)/\(file)"), file)
        }
        XCTAssertFalse(
            FileManager.default.fileExists(atPath: "\(dir)/last.optim.safetensors"), "one file per checkpoint")
        let checkpoint = try TrainingCheckpoint.read(contentsOf: "\(dir)/last.safetensors")
        XCTAssertEqual(checkpoint.epoch, 2)
        XCTAssertEqual(
            checkpoint.history, summary.epochs.map { try! XCTUnwrap(EpochMetrics(jsonLine: $0.json.encoded)) },
            "the history round-trips through the checkpoint's metadata")
        XCTAssertEqual(checkpoint.optimizerState.metadata["optimizer"], "adam")
        XCTAssertNotNil(checkpoint.optimizerState.tensors["step"])
        let lines = try String(contentsOfFile: "\(dir)/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        XCTAssertEqual(EpochMetrics(jsonLine: String(lines[1]))?.epoch, 2)
        XCTAssertTrue(
            try String(contentsOfFile: "\(dir)/summary.json", encoding: .utf8).contains("\"val_dice_foreground\""))

        // Resume: two more epochs continue the history at epoch 3.
        config.epochs = 4
        let resumedModel = try UNet<Float>.load(contentsOf: "\(dir)/last.safetensors")
        let trainer = try Trainer(model: resumedModel, configuration: config)
        try trainer.resume(fromCheckpoint: "\(dir)/last.safetensors")
        XCTAssertEqual(trainer.history.count, 2)
        XCTAssertEqual(trainer.optimizer.stepCount, 2 * 3)
        let resumed = try trainer.fit(training: training, validation: validation)
        XCTAssertEqual(resumed.epochs.map(\.epoch), [1, 2, 3, 4])
        XCTAssertEqual(
            try String(contentsOfFile: "\(dir)/metrics.jsonl", encoding: .utf8).split(separator: "\n").count, 4)
    }

    func testInterruptedCheckpointSaveKeepsThePreviousCheckpoint() throws {
        let dir = try temporaryDirectory(self).path
        let path = "\(dir)/last.safetensors"
        let model = try UNet<Float>(UNetConfiguration(inputChannels: 3, classes: 2, baseWidth: 4, depth: 2), seed: 1)
        try model.save(to: path, metadata: ["epoch": "1"])
        let before = try SafetensorsFile.read(contentsOf: path)
        // Change the weights, then fail half-way through writing the new checkpoint.
        for p in model.parameters.trainable { p.value = p.value.map { $0 + 1 } }
        let bytes = model.parameters.stateDict(metadata: ["epoch": "2"]).encode().count
        XCTAssertThrowsError(
            try model.parameters.stateDict(metadata: ["epoch": "2"]).write(to: path, failAfterBytes: bytes / 2))
        let after = try SafetensorsFile.read(contentsOf: path)
        XCTAssertEqual(after, before, "the previous checkpoint is intact")
        XCTAssertNoThrow(try UNet<Float>.load(contentsOf: path))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0 != "last.safetensors" }
        XCTAssertEqual(leftovers, [], "no temporary file is left behind")
    }

    func testArgmaxPicksTheLargestLogit() throws {
        let logits = try Tensor<Float>(shape: [1, 1, 3, 3], scalars: [0, 2, 1, 5, -1, 5, -3, -2, -1])
        XCTAssertEqual(try Predictor.argmax(logits).labels, [1, 0, 2])
        XCTAssertEqual(
            try Predictor.argmax(try Tensor<Float>(shape: [1, 2, 1], scalars: [0.5, -0.5])).labels, [1, 0])
    }
}
