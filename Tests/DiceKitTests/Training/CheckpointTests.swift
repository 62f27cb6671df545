// Checkpoints: PyTorch layouts for kernels, resume with optimiser state, atomic saves.

import XCTest
@testable import DiceKit

final class CheckpointTests: XCTestCase {
    /// A toy model: a 3×3 kernel [3, 3, 2, 4] (DiceKit layout), its bias, and a BatchNorm.
    private func model(seed: UInt64) -> ParameterStore<Float> {
        var generator = SeededGenerator(seed: seed)
        let store = ParameterStore<Float>()
        store.register(Parameter(name: "weight", value: Tensor.normal([3, 3, 2, 4], generator: &generator),
                                 checkpointLayout: .convolutionKernel), prefix: "down.0.0")
        store.register(Parameter(name: "bias", value: Tensor.normal([4], generator: &generator)), prefix: "down.0.0")
        store.register(BatchNorm<Float>(channels: 4), prefix: "down.0.1")
        return store
    }

    func testKernelsAreStoredInPyTorchLayout() throws {
        let store = model(seed: 1)
        let kernel = store["down.0.0.weight"]!.value
        let stored = try store.stateDict().tensor(named: "down.0.0.weight", as: Float.self)
        XCTAssertEqual(stored.shape, [4, 2, 3, 3], "[out, in, kh, kw]")
        XCTAssertEqual(stored[3, 1, 2, 0], kernel[2, 0, 1, 3])
        XCTAssertEqual(CheckpointLayout.convolutionKernel.fromCheckpoint(stored), kernel)
        let volume = try Tensor<Double>(shape: [2, 3, 4, 5, 6], scalars: (0..<720).map(Double.init))
        XCTAssertEqual(CheckpointLayout.convolutionKernel.toCheckpoint(volume).shape, [6, 5, 2, 3, 4])
        XCTAssertEqual(CheckpointLayout.convolutionKernel.fromCheckpoint(CheckpointLayout.convolutionKernel.toCheckpoint(volume)), volume)
    }

    func testSaveAndResume() throws {
        let path = try temporaryDirectory(self).appendingPathComponent("last.safetensors").path
        let store = model(seed: 1)
        let adam = Adam<Float>(learningRate: 0.01)
        for p in store.trainable { p.gradient = p.value.map { $0 * 0.5 + 0.1 } }
        adam.step(store.trainable)
        try Checkpoint.save(model: store, optimizer: adam, epoch: 3, metadata: ["classes": "2"], to: path)
        XCTAssertEqual(Checkpoint.optimizerPath(for: path), String(path.dropLast(12)) + ".optimizer.safetensors")

        let restored = model(seed: 2)
        let restoredAdam = Adam<Float>(learningRate: 0.01)
        XCTAssertEqual(try Checkpoint.resume(from: path, model: restored, optimizer: restoredAdam), 3)
        for (a, b) in zip(store.all, restored.all) { XCTAssertEqual(a.value, b.value, a.name) }
        XCTAssertEqual(restoredAdam.stepCount, 1)
        let metadata = try Checkpoint.loadModel(from: path, into: model(seed: 3))
        XCTAssertEqual(metadata["classes"], "2")
        XCTAssertEqual(metadata["format"], "pt")
        XCTAssertThrowsError(try Checkpoint.resume(from: path, model: model(seed: 4), optimizer: SGD<Float>(learningRate: 1)))
    }

    func testInterruptedSaveLeavesThePreviousCheckpointLoadable() throws {
        let directory = try temporaryDirectory(self)
        let path = directory.appendingPathComponent("best.safetensors").path
        let first = model(seed: 1)
        try Checkpoint.save(model: first, optimizer: nil, epoch: 1, metadata: [:], to: path)
        let second = model(seed: 9)
        XCTAssertThrowsError(try Checkpoint.save(model: second, optimizer: nil, epoch: 2, metadata: [:], to: path, failAfterBytes: 200))
        let loaded = model(seed: 5)
        XCTAssertEqual(try Checkpoint.loadModel(from: path, into: loaded)["epoch"], "1")
        for (a, b) in zip(first.all, loaded.all) { XCTAssertEqual(a.value, b.value) }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["best.safetensors"])
    }

    func testResumeDetectsAMismatchedOptimizerFile() throws {
        let path = try temporaryDirectory(self).appendingPathComponent("c.safetensors").path
        let store = model(seed: 1)
        let sgd = SGD<Float>(learningRate: 0.1, momentum: 0.9)
        try Checkpoint.save(model: store, optimizer: sgd, epoch: 1, to: path)
        // Simulate a crash between the two files of the next save: only the optimiser advanced.
        var state = sgd.stateDict()
        state.metadata["epoch"] = "2"
        try state.write(to: Checkpoint.optimizerPath(for: path))
        XCTAssertThrowsError(try Checkpoint.resume(from: path, model: model(seed: 1), optimizer: SGD<Float>(learningRate: 0.1, momentum: 0.9))) {
            guard case DiceKitError.file(_, let reason) = $0 else { return XCTFail("\($0)") }
            XCTAssertTrue(reason.contains("epoch 2"), reason)
        }
    }
}
