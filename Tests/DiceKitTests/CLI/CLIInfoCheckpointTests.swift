// `dicekit info FILE.safetensors`: a training checkpoint (kind, U-Net, parameters as PyTorch
// counts them, epoch, history), the model file beside it, a checkpoint with a NaN, a file whose
// tensors are not a U-Net's, and a malformed file (one line, exit 1).

import XCTest

@testable import DiceKit

final class CLIInfoCheckpointTests: XCTestCase {
    private func info(_ path: String) throws -> [String: Any] {
        let result = try runDicekit(["info", path])
        XCTAssertEqual(result.status, 0, result.stderr)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    }

    func testCheckpointsAreDescribed() throws {
        let root = try temporaryDirectory(self).path
        let train = try runDicekit([
            "train", "--count", "6", "--size", "16", "--depth", "1", "--base", "4", "--epochs", "2",
            "--batch-size", "5", "--norm", "batch", "--no-augment", "--out", root,
        ])
        XCTAssertEqual(train.status, 0, train.stderr)
        let last = try info("\(root)/last.safetensors")
        XCTAssertEqual(last["format"] as? String, "safetensors")
        XCTAssertEqual(last["checkpoint"] as? String, "training")
        XCTAssertEqual(last["finite"] as? Bool, true)
        XCTAssertEqual(last["epoch"] as? Int, 2)
        XCTAssertEqual(last["loss"] as? String, "dice-ce")
        let model = try XCTUnwrap(last["model"] as? [String: Any])
        XCTAssertEqual(model["base"] as? Int, 4)
        XCTAssertEqual(model["depth"] as? Int, 1)
        XCTAssertEqual(model["normalization"] as? String, "batch")
        // Weights, biases and BatchNorm's scale and shift; not its running statistics.
        let u = try UNet<Float>(UNetConfiguration(baseWidth: 4, depth: 1, normalization: .batch))
        XCTAssertEqual(model["parameters"] as? Int, u.parameters.trainable.reduce(0) { $0 + $1.value.count })
        let history = try XCTUnwrap(last["history"] as? [String: Any])
        XCTAssertEqual(history["epochs"] as? Int, 2)
        XCTAssertEqual(history["precisions"] as? [String], ["float32"])
        let best = try info("\(root)/best.safetensors")
        XCTAssertEqual(best["checkpoint"] as? String, "model")
        XCTAssertNil(best["history"])
        XCTAssertEqual(history["best_epoch"] as? Int, best["epoch"] as? Int)

        // A NaN weight, and tensors that are not a U-Net's.
        var file = try SafetensorsFile.read(contentsOf: "\(root)/best.safetensors")
        var head = try file.tensor(named: "head.weight", as: Float.self)
        head[0, 0, 0, 0] = .nan
        file.setTensor(head, named: "head.weight")
        try file.write(to: "\(root)/nan.safetensors")
        XCTAssertEqual(try info("\(root)/nan.safetensors")["finite"] as? Bool, false)
        var other = SafetensorsFile()
        other.setTensor(Tensor<Float>([1, 2]), named: "x")
        try other.write(to: "\(root)/other.safetensors")
        let described = try info("\(root)/other.safetensors")
        XCTAssertTrue(described["model"] is NSNull)
        XCTAssertTrue((described["model_error"] as? String)?.contains("not a U-Net") == true, "\(described)")
        XCTAssertTrue(described["checkpoint"] is NSNull)

        try Data("not a checkpoint".utf8).write(to: URL(fileURLWithPath: "\(root)/junk.safetensors"))
        let junk = try runDicekit(["info", "\(root)/junk.safetensors"])
        XCTAssertEqual(junk.status, 1)
        XCTAssertEqual(junk.stderr.split(separator: "\n").count, 1, junk.stderr)
    }
}
