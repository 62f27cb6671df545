// A checkpoint's claimed architecture is checked before any layer is built: names parsed
// without indexing, sizes bounded, every tensor's shape compared with the architecture the
// tensors imply; optimiser state stored under "optimizer." is skipped by the model loader.

import XCTest

@testable import DiceKit

final class CheckpointValidationTests: XCTestCase {
    private func stateDict(_ configuration: UNetConfiguration = UNetConfiguration(baseWidth: 4, depth: 2)) throws
        -> SafetensorsFile
    {
        try UNet<Float>(configuration).parameters.stateDict(metadata: configuration.metadata)
    }

    /// `UNetConfiguration.inferred(from:)` throws one line containing `fragment`.
    private func assertRejects(_ file: SafetensorsFile, mentioning fragment: String, line: UInt = #line) {
        XCTAssertThrowsError(try UNetConfiguration.inferred(from: file), line: line) { error in
            let text = String(describing: error)
            XCTAssertTrue(error is DiceKitError, "untyped \(error)", line: line)
            XCTAssertTrue(text.contains(fragment), text, line: line)
            XCTAssertFalse(text.contains("\n"), line: line)
        }
    }

    func testCheckpointShapesMatchTheBuiltNetwork() throws {
        for normalization in [NormalizationKind.none, .batch, .instance, .group(groups: 2)] {
            for rank in [2, 3] {
                let configuration = UNetConfiguration(
                    inputChannels: 3, classes: 3, baseWidth: 4, depth: 2, spatialRank: rank,
                    normalization: normalization)
                let model = try UNet<Float>(configuration)
                let built = model.parameters.all.map { ($0.name, $0.checkpointLayout.checkpointShape($0.value.shape)) }
                let computed = configuration.checkpointShapes()
                XCTAssertEqual(built.map(\.0), computed.map(\.name), "\(normalization) rank \(rank)")
                XCTAssertEqual(built.map(\.1), computed.map(\.shape), "\(normalization) rank \(rank)")
                XCTAssertEqual(
                    try UNetConfiguration.inferred(from: model.parameters.stateDict(metadata: configuration.metadata)),
                    configuration)
            }
        }
    }

    func testHugeWidthWithNoDataIsRefusedBeforeAllocating() throws {
        // A 37 KB file declaring down.0.0.weight [1000000, 3, 3, 0]: zero bytes of data, width 10⁶.
        var file = try stateDict()
        file.tensors["down.0.0.weight"] = try SafetensorsTensor(dtype: .float32, shape: [1_000_000, 3, 3, 0], data: [])
        assertRejects(file, mentioning: "base width 1000000")
        // Also through the bytes and the file path, as the tool reads it.
        let path = try temporaryDirectory(self).appendingPathComponent("huge.safetensors").path
        try file.write(to: path)
        XCTAssertThrowsError(try UNet<Float>.load(contentsOf: path))
    }

    func testBoundsOnWidthDepthClassesAndChannels() throws {
        assertRejects(
            try stateDict(UNetConfiguration(baseWidth: 4, depth: 2)).replacing("head.weight", shape: [257, 4, 1, 1]),
            mentioning: "classes 257")
        assertRejects(
            try stateDict().replacing("down.0.0.weight", shape: [4, 1025, 3, 3]), mentioning: "input channels 1025")
        assertRejects(try stateDict().replacing("down.0.0.weight", shape: [2048, 3, 3, 3]), mentioning: "widest level")
        var deep = try stateDict()
        for i in 2...8 { deep.tensors["down.\(i).0.weight"] = deep.tensors["down.1.0.weight"] }
        assertRejects(deep, mentioning: "depth 9")
        XCTAssertThrowsError(try UNet<Float>(UNetConfiguration(baseWidth: 1024, depth: 8)))
    }

    func testMalformedNamesAndRanksAreErrorsNotIndexTraps() throws {
        assertRejects(try stateDict().replacing("head.weight", shape: []), mentioning: "'head.weight'")
        assertRejects(try stateDict().replacing("down.0.0.weight", shape: [4]), mentioning: "'down.0.0.weight'")
        for name in ["down.", "down", "down.x.0.weight", "down.99.0.weight", "head", "mid.9.weight", "up.-1.bias"] {
            var file = try stateDict()
            file.tensors[name] = file.tensors["head.bias"]
            assertRejects(file, mentioning: "'\(name)'")
        }
    }

    func testEveryShapeIsComparedBeforeTheNetworkIsBuilt() throws {
        assertRejects(
            try stateDict().replacing("mid.2.weight", shape: [16, 16, 3, 1]),
            mentioning: "'mid.2.weight' has shape [16, 16, 3, 1]")
        var missing = try stateDict()
        missing.tensors["dec.1.2.bias"] = nil
        assertRejects(missing, mentioning: "lacks tensor 'dec.1.2.bias'")
    }

    func testOptimizerStateInTheSameFileIsSkippedByTheModelLoader() throws {
        let configuration = UNetConfiguration(baseWidth: 4, depth: 2)
        var file = try stateDict(configuration)
        file.tensors["optimizer.step"] = try SafetensorsTensor(integers: [3], shape: [])
        file.tensors["optimizer.down.0.0.weight.exp_avg"] = file.tensors["down.0.0.weight"]
        XCTAssertEqual(try UNetConfiguration.inferred(from: file), configuration)
        let path = try temporaryDirectory(self).appendingPathComponent("with-state.safetensors").path
        try file.write(to: path)
        let model = try UNet<Float>.load(contentsOf: path)
        XCTAssertEqual(model.parameters["down.0.0.weight"]!.value.shape.reduce(1, *), 4 * 3 * 9)
    }
}

extension SafetensorsFile {
    /// A copy whose tensor `name` has `shape` (zeros of F32).
    fileprivate func replacing(_ name: String, shape: [Int]) throws -> SafetensorsFile {
        var copy = self
        copy.tensors[name] = try SafetensorsTensor(
            dtype: .float32, shape: shape,
            data: .init(repeating: 0, count: 4 * shape.reduce(1, *)))
        return copy
    }
}
