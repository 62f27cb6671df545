// Optimisers, clipping and schedules against PyTorch (Fixtures/training/optimizers.safetensors,
// made by Scripts/make_training_fixtures.py with torch 2.15), plus state export and restore.

import XCTest

@testable import DiceKit

final class OptimizerTests: XCTestCase {
    private var fixture: SafetensorsFile!

    override func setUpWithError() throws {
        fixture = try SafetensorsFile.read(contentsOf: fixtureURL("training/optimizers.safetensors").path)
    }

    private func tensor(_ name: String) throws -> Tensor<Double> { try fixture.tensor(named: name, as: Double.self) }

    /// Six steps on loss = Σ w·(p − t)², gradient 2w(p − t), as the fixture script does.
    private func run(_ optimizer: some Optimizer<Double>, steps: Int = 6, from start: [Parameter<Double>]? = nil) throws
        -> [Parameter<Double>]
    {
        let parameters = try start ?? ["p0", "p1"].map { Parameter(name: $0, value: try tensor("init.\($0)")) }
        for _ in 0..<steps {
            for p in parameters {
                let (w, t) = (try tensor("weight.\(p.name)"), try tensor("target.\(p.name)"))
                p.gradient = 2 * (w * (p.value - t))
            }
            optimizer.step(parameters)
        }
        return parameters
    }

    private func assertMatches(
        _ config: String, _ optimizer: some Optimizer<Double>, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let parameters = try run(optimizer)
        for p in parameters {
            // Same formulas in the same order as PyTorch, in Double: a few ulps apart at most.
            assertClose(
                p.value, try tensor("\(config).\(p.name)"), relativeTolerance: 1e-12, absoluteTolerance: 1e-14, config,
                file: file, line: line)
        }
        XCTAssertEqual(optimizer.stepCount, 6, file: file, line: line)
    }

    func testSGDMatchesPyTorch() throws {
        try assertMatches("sgd", try SGD<Double>(learningRate: 0.1))
        try assertMatches(
            "sgd_momentum", try SGD<Double>(learningRate: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 0.01))
        try assertMatches(
            "sgd_nesterov", try SGD<Double>(learningRate: 0.05, momentum: 0.9, weightDecay: 0.01, nesterov: true))
    }

    func testAdamWKeepsItsOwnDefaultsAndKind() throws {
        let adamW = try AdamW<Double>()
        XCTAssertEqual(adamW.core.weightDecay, 0.01)
        XCTAssertTrue(adamW.core.decoupled)
        XCTAssertEqual(adamW.stateDict().kind, "adamw")
        let adam = try Adam<Double>()
        XCTAssertEqual(adam.core.weightDecay, 0)
        XCTAssertFalse(adam.core.decoupled)
        XCTAssertEqual(adam.stateDict().kind, "adam")
        XCTAssertThrowsError(try adam.loadState(adamW.stateDict(), parameters: []))
    }

    func testAdamAndAdamWMatchPyTorch() throws {
        let adam = try Adam<Double>(learningRate: 0.01, weightDecay: 0.05)
        try assertMatches("adam", adam)
        let state = adam.stateDict().safetensors
        assertClose(
            try state.tensor(named: "p0.exp_avg", as: Double.self), try tensor("adam.p0.exp_avg"),
            relativeTolerance: 1e-12)
        assertClose(
            try state.tensor(named: "p0.exp_avg_sq", as: Double.self), try tensor("adam.p0.exp_avg_sq"),
            relativeTolerance: 1e-12)
        try assertMatches(
            "adamw", try AdamW<Double>(learningRate: 0.01, beta1: 0.8, beta2: 0.99, epsilon: 1e-6, weightDecay: 0.1))
    }

    func testFloatAdamTracksDouble() throws {
        let parameters = ["p0", "p1"].map { Parameter<Float>(name: $0, value: (try! tensor("init.\($0)")).converted()) }
        let adam = try Adam<Float>(learningRate: 0.01, weightDecay: 0.05)
        for _ in 0..<6 {
            for p in parameters {
                let (w, t) = (
                    try tensor("weight.\(p.name)").converted(to: Float.self),
                    try tensor("target.\(p.name)").converted(to: Float.self)
                )
                p.gradient = 2 * (w * (p.value - t))
            }
            adam.step(parameters)
        }
        assertClose(
            parameters[0].value, try tensor("adam.p0").converted(), relativeTolerance: 1e-5, absoluteTolerance: 1e-6)
    }

    /// Three steps, export, restore into a fresh optimiser, three more: equals six straight steps.
    func testStateExportAndRestoreResumesExactly() throws {
        let makers: [() throws -> any Optimizer<Double>] = [
            { try SGD(learningRate: 0.05, momentum: 0.9, weightDecay: 0.01, nesterov: true) },
            { try Adam(learningRate: 0.01, weightDecay: 0.05) },
            { try AdamW(learningRate: 0.01, beta1: 0.8, beta2: 0.99, epsilon: 1e-6, weightDecay: 0.1) },
        ]
        for make in makers {
            let straight = try run(try make())
            let first = try make()
            let halfway = try run(first, steps: 3)
            let path = try temporaryDirectory(self).appendingPathComponent("opt.safetensors").path
            try first.stateDict().safetensors.write(to: path)
            let second = try make()
            try second.loadState(OptimizerState(SafetensorsFile.read(contentsOf: path)), parameters: halfway)
            XCTAssertEqual(second.stepCount, 3)
            let resumed = try run(second, steps: 3, from: halfway)
            for (a, b) in zip(resumed, straight) { XCTAssertEqual(a.value, b.value, "\(type(of: first))") }
        }
    }

    func testLoadStateRejectsForeignOrMismatchedState() throws {
        let parameters = [Parameter<Double>(name: "w", value: Tensor([1, 2]))]
        parameters[0].gradient = Tensor([1, 1])
        let adam = try Adam<Double>()
        adam.step(parameters)
        let state = adam.stateDict()
        XCTAssertThrowsError(try SGD<Double>(learningRate: 1, momentum: 0.9).loadState(state, parameters: parameters)) {
            XCTAssertTrue("\($0)".contains("'adam'"))
        }
        XCTAssertThrowsError(
            try Adam<Double>().loadState(state, parameters: [Parameter(name: "v", value: Tensor([1, 2]))]))
        XCTAssertThrowsError(
            try Adam<Double>().loadState(state, parameters: [Parameter(name: "w", value: Tensor([1, 2, 3]))])
        ) {
            guard ($0 as? DiceKitError)?.kind == .shape else { return XCTFail("\($0)") }
        }
        var noStep = state.safetensors
        noStep.tensors["step"] = nil
        XCTAssertThrowsError(try Adam<Double>().loadState(OptimizerState(noStep), parameters: parameters))
    }

    func testClipGradientNormMatchesPyTorch() throws {
        let parameters = [
            Parameter<Double>(name: "a", value: Tensor(shape: [3, 2])), Parameter(name: "b", value: Tensor(shape: [4])),
        ]
        parameters[0].gradient = try tensor("clip.g0")
        parameters[1].gradient = try tensor("clip.g1")
        let norm = try clipGradientNorm(parameters, maxNorm: 0.5)
        XCTAssertEqual(norm, try tensor("clip.norm").scalars[0], accuracy: 1e-12)
        assertClose(parameters[0].gradient, try tensor("clip.out0"), relativeTolerance: 1e-12)
        assertClose(parameters[1].gradient, try tensor("clip.out1"), relativeTolerance: 1e-12)
        let unchanged = parameters[1].gradient
        XCTAssertEqual(try clipGradientNorm(parameters, maxNorm: 100), 0.5, accuracy: 1e-5)
        XCTAssertEqual(parameters[1].gradient, unchanged, "below the limit nothing changes")
    }

    func testSchedules() throws {
        XCTAssertEqual(LearningRateSchedule.constant.learningRate(base: 0.1, step: 99), 0.1)
        let cosine = LearningRateSchedule.cosine(warmup: 4, total: 14)
        XCTAssertEqual(cosine.learningRate(base: 1, step: 0), 0.25)
        XCTAssertEqual(cosine.learningRate(base: 1, step: 3), 1)
        XCTAssertEqual(cosine.learningRate(base: 1, step: 4), 1)
        XCTAssertEqual(cosine.learningRate(base: 1, step: 9), 0.5, accuracy: 1e-12)
        XCTAssertEqual(cosine.learningRate(base: 1, step: 14), 0, accuracy: 1e-12)
        XCTAssertEqual(
            LearningRateSchedule.cosine(warmup: 0, total: 10, minimum: 0.1).learningRate(base: 1, step: 100), 0.1)
        let poly = LearningRateSchedule.polynomial(total: 1000)
        XCTAssertEqual(poly.learningRate(base: 0.01, step: 0), 0.01)
        XCTAssertEqual(poly.learningRate(base: 0.01, step: 500), 0.01 * Double.pow(0.5, 0.9), accuracy: 1e-15)
        XCTAssertEqual(poly.learningRate(base: 0.01, step: 1000), 0)
        XCTAssertThrowsError(try LearningRateSchedule.cosine(warmup: 5, total: 3).validate())
        XCTAssertThrowsError(try LearningRateSchedule.polynomial(total: 0).validate())
        XCTAssertNoThrow(try poly.validate())
    }
}
