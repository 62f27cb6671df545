// ParameterStore: registration, state dicts through safetensors, strict loading.

import XCTest

@testable import DiceKit

final class ParameterStoreTests: XCTestCase {
    func testStateDictRoundTripsThroughSafetensors() throws {
        let store = ParameterStore<Float>()
        let norm = try BatchNorm<Float>(channels: 2)
        store.register(norm, prefix: "bn")
        store.register(Parameter(name: "head.weight", value: Tensor([1, 2, 3])))
        _ = try norm.forward(Tensor(shape: [2, 1, 1, 2], scalars: [1, 2, 3, 5]), mode: .training)
        let path = try temporaryDirectory(self).appendingPathComponent("m.safetensors").path
        try store.stateDict(metadata: ["arch": "test"]).write(to: path)
        let file = try SafetensorsFile.read(contentsOf: path)
        XCTAssertEqual(file.tensors["bn.num_batches_tracked"]?.dtype, .int64)
        XCTAssertEqual(file.tensors["bn.running_mean"]?.dtype, .float32)

        let other = ParameterStore<Float>()
        let otherNorm = try BatchNorm<Float>(channels: 2)
        other.register(otherNorm, prefix: "bn")
        other.register(Parameter(name: "head.weight", value: Tensor([0, 0, 0])))
        try other.load(file)
        XCTAssertEqual(otherNorm.runningMean.value, norm.runningMean.value)
        XCTAssertEqual(otherNorm.batchesTracked.value.scalars, [1])
        XCTAssertEqual(other["head.weight"]?.value.scalars, [1, 2, 3])
    }

    func testStrictLoadNamesMissingUnexpectedAndMisshapenTensors() throws {
        let store = ParameterStore<Double>()
        store.register(Parameter(name: "a", value: Tensor([1, 2])))
        var file = SafetensorsFile()
        file.setTensor(Tensor<Float>([1, 2]), named: "b")
        XCTAssertThrowsError(try store.load(file)) { XCTAssertTrue("\($0)".contains("lacks")) }
        file.setTensor(Tensor<Float>([1, 2]), named: "a")
        XCTAssertThrowsError(try store.load(file)) { XCTAssertTrue("\($0)".contains("unexpected")) }
        try store.load(file, strict: false)
        XCTAssertEqual(store["a"]?.value.scalars, [1, 2])
        file.setTensor(Tensor<Float>([1, 2, 3]), named: "a")
        XCTAssertThrowsError(try store.load(file, strict: false)) {
            guard ($0 as? DiceKitError)?.kind == .shape else { return XCTFail("\($0)") }
        }
    }

    func testGradientsAccumulateAndZero() throws {
        let p = Parameter<Float>(name: "w", value: Tensor([1, 2]))
        p.gradient += Tensor([1, 1])
        p.gradient += Tensor([1, 1])
        XCTAssertEqual(p.gradient.scalars, [2, 2])
        let store = ParameterStore<Float>()
        store.register(p, prefix: "layer")
        XCTAssertEqual(p.name, "layer.w")
        XCTAssertEqual(store.gradientDict().names, ["layer.w"])
        store.zeroGradients()
        XCTAssertEqual(p.gradient.scalars, [0, 0])
    }
}
