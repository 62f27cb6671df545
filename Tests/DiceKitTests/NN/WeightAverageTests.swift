// The averages of weights against PyTorch's `AveragedModel` with `use_buffers=True`
// (Fixtures/training/weight_average.safetensors, made by Scripts/make_weight_average_fixtures.py):
// the exponential moving average (`get_ema_multi_avg_fn`) with and without the warm-up, the equal
// average of stochastic weight averaging, and `SWALR`'s learning rates; the installed-and-restored
// contract; option checks.

import XCTest

@testable import DiceKit

final class WeightAverageTests: XCTestCase {
    private var fixture: SafetensorsFile!

    override func setUpWithError() throws {
        fixture = try SafetensorsFile.read(contentsOf: fixtureURL("training/weight_average.safetensors").path)
    }

    /// Conv2d(3, 4, 3) and BatchNorm2d(4) under "0" and "1", the fixture's module.
    private func store() throws -> ParameterStore<Float> {
        var generator = SeededGenerator(seed: 1)
        let store = ParameterStore<Float>()
        store.register(
            try ConvolutionLayer<Float>(
                kernelSize: [3, 3], inputChannels: 3, outputChannels: 4, generator: &generator), prefix: "0")
        store.register(try BatchNorm<Float>(channels: 4), prefix: "1")
        return store
    }

    /// The fixture's tensors under `prefix`, the prefix removed.
    private func part(_ prefix: String) -> SafetensorsFile {
        var file = SafetensorsFile()
        for (name, tensor) in fixture.tensors where name.hasPrefix(prefix + ".") {
            file.tensors[String(name.dropFirst(prefix.count + 1))] = tensor
        }
        return file
    }

    /// Runs the fixture's six updates; checks the copy after the first; returns the average.
    private func averaged(_ averaging: WeightAveraging) throws -> WeightAverage<Float> {
        try averaged(.exponential(averaging))
    }

    /// Runs the fixture's six updates under `rule`; checks the copy after the first.
    private func averaged(_ rule: AveragingRule) throws -> WeightAverage<Float> {
        let model = try store()
        let average = try WeightAverage(rule, of: model)
        for step in 1...6 {
            try model.load(part("step\(step)"))
            average.update(from: model)
            if step == 1 {
                for p in average.parameters.all where p.kind != .integerBuffer {
                    XCTAssertEqual(p.value, try part("first").tensor(named: p.name, as: Float.self), p.name)
                }
            }
        }
        XCTAssertEqual(average.updates, 6)
        XCTAssertEqual(average.parameters["1.num_batches_tracked"]?.value.scalars, [6], "integer buffers are copied")
        return average
    }

    /// Every averaged value equals PyTorch's bit for bit: its vectorised lerp is the same fused
    /// multiply-add in the same form (all 128 values of the fixture, tails included).
    private func assertMatches(_ average: WeightAverage<Float>, _ prefix: String) throws {
        let expected = part(prefix)
        XCTAssertEqual(expected.names.count, 6)
        for name in expected.names {
            let a = average.parameters[name]!.value.scalars
            let e = try expected.tensor(named: name, as: Float.self).scalars
            XCTAssertEqual(a.map(\.bitPattern), e.map(\.bitPattern), "\(prefix).\(name): \(a) vs \(e)")
        }
    }

    func testAverageEqualsPyTorchsAveragedModel() throws {
        try assertMatches(try averaged(WeightAveraging(decay: 0.9)), "ema")
    }

    func testEveryInstructionSetGivesTheSameBits() throws {
        defer { try? KernelDispatch.force(nil) }
        for isa in InstructionSet.available {
            try KernelDispatch.force(isa)
            try assertMatches(try averaged(WeightAveraging(decay: 0.9)), "ema")
            try assertMatches(try averaged(WeightAveraging(decay: 0.99, warmup: true)), "warmup")
            try assertMatches(try averaged(.equal), "swa")
        }
    }

    /// Update k lerps by 1/k rounded once to Float, as PyTorch's `1 / (n_averaged + 1)`.
    func testEqualAverageEqualsPyTorchsStochasticWeightAveraging() throws {
        try assertMatches(try averaged(.equal), "swa")
        XCTAssertEqual(AveragingRule.equal.weight(update: 3), 1.0 / 3.0)
        XCTAssertNil(try WeightAverage<Float>(.equal, of: try store()).averaging)
    }

    /// The rate of each averaged epoch equals what `SWALR` sets after each step, for both anneals
    /// and 0, 1 and 3 anneal epochs (PyTorch recovers the start rate from the current one at every
    /// step, so the last bits may differ).
    func testAnnealedRatesEqualPyTorchsSWALR() throws {
        for anneal in StochasticWeightAveraging.Anneal.allCases {
            for epochs in [0, 1, 3] {
                let rates = try fixture.tensor(named: "swalr.\(anneal.rawValue).\(epochs)", as: Double.self).scalars
                let swa = StochasticWeightAveraging(start: 5, learningRate: 0.05, annealEpochs: epochs, anneal: anneal)
                XCTAssertNil(swa.learningRate(epoch: 5, startRate: rates[0]), "epoch start follows the run's schedule")
                for j in 1...6 {
                    let rate = try XCTUnwrap(swa.learningRate(epoch: 5 + j, startRate: rates[0]))
                    XCTAssertEqual(rate, rates[j], accuracy: 1e-15, "\(anneal) over \(epochs), averaged epoch \(j)")
                }
            }
        }
        let unchanged = StochasticWeightAveraging(start: 2)
        XCTAssertEqual(unchanged.learningRate(epoch: 9, startRate: 0.125), 0.125)
    }

    func testStochasticWeightAveragingSettingsAreChecked() throws {
        XCTAssertNoThrow(
            try StochasticWeightAveraging(start: 3, learningRate: 0.01, annealEpochs: 0).validate())
        for swa in [
            StochasticWeightAveraging(start: 0),
            StochasticWeightAveraging(start: 1, learningRate: 0),
            StochasticWeightAveraging(start: 1, learningRate: .nan),
            StochasticWeightAveraging(start: 1, annealEpochs: -1),
        ] {
            XCTAssertThrowsError(try swa.validate(), "\(swa)")
        }
        var config = TrainingConfiguration()
        config.weightAveraging = WeightAveraging(decay: 0.9)
        config.stochasticWeightAveraging = StochasticWeightAveraging(start: 1)
        XCTAssertThrowsError(try config.validate()) { error in
            XCTAssertTrue("\(error)".contains("one weight average per run"), "\(error)")
        }
    }

    func testDoubleValuesTakeOneRoundingPerUpdate() throws {
        let model = ParameterStore<Double>()
        var generator = SeededGenerator(seed: 5)
        let count = 1000 // vector bodies and a remainder
        model.register(Parameter(name: "w", value: Tensor<Double>.normal([count], generator: &generator)))
        let average = try WeightAverage(WeightAveraging(decay: 0.3), of: model) // w = 0.7: the large-step form
        average.update(from: model)
        var expected = model.all[0].value.scalars
        for _ in 0..<3 {
            model.all[0].value = Tensor<Double>.normal([count], generator: &generator)
            average.update(from: model)
            let p = model.all[0].value.scalars
            for i in 0..<count { expected[i] = p[i].addingProduct(0.7 - 1, p[i] - expected[i]) }
        }
        XCTAssertEqual(average.parameters.all[0].value.scalars, expected)
    }

    func testWarmupEqualsTensorFlowsNumUpdatesRuleInPyTorch() throws {
        let averaging = WeightAveraging(decay: 0.99, warmup: true)
        XCTAssertEqual(averaging.decay(update: 2), 3.0 / 12.0)
        XCTAssertEqual(averaging.decay(update: 10_000), 0.99)
        XCTAssertEqual(WeightAveraging(decay: 0.5, warmup: false).decay(update: 2), 0.5)
        try assertMatches(try averaged(averaging), "warmup")
    }

    func testInstalledSwapsTheAverageInAndPutsTheWeightsBack() throws {
        let model = try store()
        let average = try WeightAverage(WeightAveraging(decay: 0.5), of: model)
        try model.load(part("step1"))
        average.update(from: model)
        try model.load(part("step2"))
        average.update(from: model)
        let own = model.all.map(\.value)
        let seen = average.installed(in: model) { () -> [Tensor<Float>] in
            let values = model.all.map(\.value)
            model.all[0].value = model.all[0].value.map { $0 + 1 } // what a body may do to the values
            return values
        }
        XCTAssertEqual(seen, average.parameters.all.map(\.value))
        XCTAssertNotEqual(seen[0], own[0])
        XCTAssertEqual(model.all.map(\.value), own, "the trained values come back")
        XCTAssertThrowsError(try average.installed(in: model) { throw DiceKitError.value("stop") })
        XCTAssertEqual(model.all.map(\.value), own, "also when the body throws")
    }

    func testDecayOutsideTheOpenUnitIntervalIsRefused() throws {
        for decay in [0, 1, -0.5, 1.5, .nan] {
            XCTAssertThrowsError(try WeightAverage(WeightAveraging(decay: decay), of: try store())) { error in
                XCTAssertTrue("\(error)".contains("0 < decay < 1"), "\(error)")
            }
        }
        var config = TrainingConfiguration()
        config.weightAveraging = WeightAveraging(decay: 1)
        XCTAssertThrowsError(try config.validate())
    }
}
