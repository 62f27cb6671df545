// Optimiser state read from a file: the step counter, every tensor's name, shape and values are
// checked, and each error is one line naming the tensor.

import XCTest

@testable import DiceKit

final class OptimizerStateValidationTests: XCTestCase {
    private func adamState() throws -> (SafetensorsFile, [Parameter<Double>]) {
        let parameters = [Parameter<Double>(name: "w", value: Tensor([1, 2]))]
        parameters[0].gradient = Tensor([1, 1])
        let adam = try Adam<Double>()
        adam.step(parameters)
        return (adam.stateDict().safetensors, parameters)
    }

    private func assertRejects(
        _ state: SafetensorsFile, _ parameters: [Parameter<Double>], mentioning fragment: String,
        line: UInt = #line
    ) {
        XCTAssertThrowsError(try Adam<Double>().loadState(OptimizerState(state), parameters: parameters), line: line) {
            error in
            XCTAssertTrue(error is DiceKitError || error is SafetensorsError, "untyped \(error)", line: line)
            XCTAssertTrue("\(error)".contains(fragment), "\(error)", line: line)
            XCTAssertFalse("\(error)".contains("\n"), line: line)
        }
    }

    func testStepCounterMustBeOneWholeNumberInRange() throws {
        let (state, parameters) = try adamState()
        for (tensor, fragment) in [
            (try SafetensorsTensor(integers: [-1], shape: []), "'step' is -1"),
            (try SafetensorsTensor(integers: [Int.max], shape: []), "'step' is \(Int.max)"),
            (try SafetensorsTensor(integers: [1, 2], shape: [2]), "'step' has shape [2]"),
            (try SafetensorsTensor(integers: [], shape: [0]), "'step' has shape [0]"),
            (SafetensorsTensor(try Tensor<Float>(shape: [], scalars: [1.5])), "step"),
            (SafetensorsTensor(try Tensor<Float>(shape: [], scalars: [.nan])), "step"),
        ] {
            var bad = state
            bad.tensors["step"] = tensor
            assertRejects(bad, parameters, mentioning: fragment)
        }
    }

    func testValuesMustBeFiniteAndSecondMomentsNonNegative() throws {
        let (state, parameters) = try adamState()
        var negative = state
        negative.setTensor(Tensor<Double>([0.5, -1]), named: "w.exp_avg_sq")
        assertRejects(negative, parameters, mentioning: "'w.exp_avg_sq' element 1 is -1.0")
        var notFinite = state
        notFinite.setTensor(Tensor<Double>([.infinity, 0]), named: "w.exp_avg")
        assertRejects(notFinite, parameters, mentioning: "'w.exp_avg' element 0 is inf")
        var integers = state
        integers.tensors["w.exp_avg"] = try SafetensorsTensor(integers: [1, 2], shape: [2])
        assertRejects(integers, parameters, mentioning: "'w.exp_avg' has dtype I64")
    }

    func testShapesAndNamesAreCheckedAgainstTheParameters() throws {
        let (state, parameters) = try adamState()
        var wrongShape = state
        wrongShape.setTensor(Tensor<Double>(shape: [2, 1], repeating: 0), named: "w.exp_avg")
        assertRejects(wrongShape, parameters, mentioning: "'w.exp_avg' has shape [2, 1]")
        var unknown = state
        unknown.setTensor(Tensor<Double>([0, 0]), named: "v.exp_avg")
        assertRejects(unknown, parameters, mentioning: "'v.exp_avg' names no parameter")
        var noSlot = state
        noSlot.setTensor(Tensor<Double>([0, 0]), named: "w.momentum_buffer")
        assertRejects(noSlot, parameters, mentioning: "'w.momentum_buffer' has no known slot")
    }

    /// The file form of the state: kind and settings as metadata, "step" as one I64, the slots
    /// as F64 tensors under their own names; reading it back gives the same state and bytes.
    func testStateFileLayoutRoundTrips() throws {
        let (file, _) = try adamState()
        XCTAssertEqual(file.names, ["step", "w.exp_avg", "w.exp_avg_sq"])
        XCTAssertEqual(
            file.metadata,
            ["optimizer": "adam", "lr": "0.001", "betas": "0.9,0.999", "eps": "1e-08", "weight_decay": "0.0"])
        XCTAssertEqual(file.tensors["step"], try SafetensorsTensor(integers: [1], shape: [], dtype: .int64))
        XCTAssertEqual(file.tensors["w.exp_avg"]?.dtype, .of(Double.self))
        let state = try OptimizerState<Double>(file)
        XCTAssertEqual(state.kind, "adam")
        XCTAssertEqual(state.step, 1)
        XCTAssertNil(state.settings["optimizer"])
        XCTAssertEqual(state.safetensors.encode(), file.encode())
    }

    func testMetricsLinesNeverTrap() {
        let hostile = [
            "", "null", "[[[[", String(repeating: "[", count: 100_000), "{\"epoch\": 1e400}",
            "{\"epoch\": 9223372036854775807}",
            "{\"epoch\": 9.3e18}", "{\"epoch\": -3}", "{\"epoch\": 1.5}", "{\"epoch\": \"1\"}",
            "{\"epoch\": 2, \"val_dice\": \"x\"}",
            "{\"epoch\": 2, \"val_dice\": [\(Array(repeating: "0.5", count: 300).joined(separator: ","))]}",
            "{\"epoch\": true}",
            "{\"epoch\": 1, \"train_loss\": 1e38, \"val_loss\": 8e37, \"lr\": null, \"val_iou\": [null, 0.5]}",
            "{\"epoch\": 1, \"val_iou\": [null, \"a\"]}",
        ]
        let parsed = hostile.map { EpochMetrics(jsonLine: $0) }
        XCTAssertEqual(parsed.compactMap { $0?.epoch }, [1]) // only the line with 1e38 is a well-formed epoch
        let good = parsed.compactMap { $0 }.first
        XCTAssertEqual(good?.trainLoss, 1e38)
        XCTAssertEqual(good?.validationIoU.count, 2)
        XCTAssertTrue(good?.validationIoU.first?.isNaN ?? false)
    }
}
