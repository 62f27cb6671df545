// The training objectives' hyper-parameters (`LossOptions`, `dicekit train --class-weights`, …):
// each option reaches the loss (the built objective's value equals the loss built by hand with
// that setting, and differs from the default objective's), an option is refused with every
// objective it does not fit, values out of range are refused, and what only the loss can check
// (counts against the classes) fails when `Trainer` is built, before the first step.

import XCTest

@testable import DiceKit

final class LossOptionsTests: XCTestCase {
    private let classes = 3

    /// Options with the hand-built loss each should give.
    private func cases() -> [(String, LossKind, LossOptions, any SegmentationLoss)] {
        var cases: [(String, LossKind, LossOptions, any SegmentationLoss)] = []
        func add(_ name: String, _ kind: LossKind, _ set: (inout LossOptions) -> Void, _ loss: any SegmentationLoss) {
            var options = LossOptions()
            set(&options)
            cases.append((name, kind, options, loss))
        }
        var tversky = DiceLoss(variant: .tversky(alpha: 0.1, beta: 0.9), activation: .softmax)
        tversky.classWeights = [1, 2]
        tversky.excludeBackground = true
        add(
            "tversky α β, class weights, background out", .tversky,
            {
                $0.tverskyAlpha = 0.1
                $0.tverskyBeta = 0.9
                $0.classWeights = [1, 2]
                $0.excludeBackground = true
            }, tversky)
        var focalTversky = DiceLoss(variant: .focalTversky(alpha: 0.3, beta: 0.7, gamma: 2), activation: .softmax)
        focalTversky.batch = true
        add(
            "focal-tversky γ, batch", .focalTversky,
            {
                $0.tverskyGamma = 2
                $0.batch = true
            }, focalTversky)
        var diceCE = DiceLoss(activation: .softmax)
        diceCE.diceWeight = 0.5
        diceCE.crossEntropyWeight = 2
        diceCE.crossEntropyClassWeights = [0.2, 1, 3]
        diceCE.labelSmoothing = 0.1
        add(
            "dice-ce weights, CE class weights, smoothing", .diceCE,
            {
                $0.diceWeight = 0.5
                $0.crossEntropyWeight = 2
                $0.crossEntropyClassWeights = [0.2, 1, 3]
                $0.labelSmoothing = 0.1
            }, diceCE)
        var focal = FocalLoss(activation: .softmax, gamma: 0.5)
        focal.classWeights = [3, 1, 1]
        add(
            "focal γ, class weights", .focal,
            {
                $0.focalGamma = 0.5
                $0.classWeights = [3, 1, 1]
            }, focal)
        var diceFocal = DiceFocalLoss(activation: .softmax, gamma: 1, classWeights: [1, 4], excludeBackground: true)
        diceFocal.diceWeight = 2
        diceFocal.focalWeight = 0.25
        add(
            "dice-focal", .diceFocal,
            {
                $0.focalGamma = 1
                $0.classWeights = [1, 4]
                $0.excludeBackground = true
                $0.diceWeight = 2
                $0.focalWeight = 0.25
            }, diceFocal)
        var generalizedFocal = GeneralizedDiceFocalLoss(activation: .softmax, gamma: 3, batch: true)
        generalizedFocal.focalWeight = 3
        add(
            "generalized-dice-focal", .generalizedDiceFocal,
            {
                $0.focalGamma = 3
                $0.batch = true
                $0.focalWeight = 3
            }, generalizedFocal)
        add(
            "dice-cldice α, iterations", .diceClDice,
            {
                $0.clDiceAlpha = 0.8
                $0.clDiceIterations = 1
            }, DiceClDiceLoss(activation: .softmax, iterations: 1, alpha: 0.8))
        var clDice = ClDiceLoss(activation: .softmax, iterations: 0)
        clDice.excludeBackground = true
        add(
            "cldice", .clDice,
            {
                $0.clDiceIterations = 0
                $0.excludeBackground = true
            }, clDice)
        let matrix: [Double] = [0, 1, 2, 1, 0, 0.5, 2, 0.5, 0]
        add(
            "wasserstein matrix", .wasserstein, { $0.distanceMatrix = matrix },
            WassersteinDiceLoss(distanceMatrix: matrix))
        var diceHausdorff = DiceHausdorffLoss(activation: .softmax, alpha: 1)
        diceHausdorff.dice.classWeights = [1, 1, 5]
        diceHausdorff.diceWeight = 0.5
        diceHausdorff.hausdorffWeight = 2
        diceHausdorff.hausdorff.logarithmic = true
        add(
            "dice-hausdorff", .diceHausdorff,
            {
                $0.hausdorffAlpha = 1
                $0.hausdorffWeight = 2
                $0.hausdorffLogarithmic = true
                $0.diceWeight = 0.5
                $0.classWeights = [1, 1, 5]
            }, diceHausdorff)
        return cases
    }

    func testEveryOptionReachesTheLoss() throws {
        var generator = SeededGenerator(seed: 31)
        let x = Tensor<Double>.normal([2, 8, 8, classes], standardDeviation: 2, generator: &generator)
        let labels = try LabelMap(shape: [2, 8, 8], labels: (0..<128).map { ($0 / 6 + $0 / 17) % 3 })
        var covered = Set<String>()
        for (name, kind, options, expected) in cases() {
            var configuration = TrainingConfiguration()
            configuration.loss = kind
            configuration.lossOptions = options
            try configuration.validate()
            let built = try configuration.objective(classes: classes)
            let value = try built.evaluate(x, target: .labels(labels), gradient: true)
            let reference = try expected.evaluate(x, target: .labels(labels), gradient: true)
            XCTAssertEqual(value.value, reference.value, accuracy: 1e-14, name)
            XCTAssertLessThanOrEqual(scaledError(value.gradient!, reference.gradient!), 1e-14, name)
            let plain = try kind.loss(classes: classes).evaluate(x, target: .labels(labels), gradient: false)
            XCTAssertGreaterThan(abs(plain.value - value.value), 1e-6, "\(name): the options changed nothing")
            covered.formUnion(options.given.map(\.name))
        }
        XCTAssertEqual(covered, Set(LossOptions.rules.map(\.name)), "every option has a case")
    }

    /// Each option with each objective it does not fit: refused, naming the option, the objective
    /// and the objectives it fits; with the objectives it fits: accepted.
    func testAnOptionIsRefusedWithObjectivesItDoesNotFit() throws {
        var examples: [String: LossOptions] = [:]
        for (_, _, options, _) in cases() {
            for (name, _) in options.given where examples[name] == nil {
                var one = LossOptions()
                for rule in LossOptions.rules where rule.name == name {
                    // The single option `name`, copied from a case that sets it.
                    switch name {
                    case "class-weights": one.classWeights = options.classWeights
                    case "exclude-background": one.excludeBackground = true
                    case "batch-dice": one.batch = true
                    case "tversky-alpha": one.tverskyAlpha = options.tverskyAlpha
                    case "tversky-beta": one.tverskyBeta = options.tverskyBeta
                    case "tversky-gamma": one.tverskyGamma = options.tverskyGamma
                    case "focal-gamma": one.focalGamma = options.focalGamma
                    case "dice-weight": one.diceWeight = options.diceWeight
                    case "ce-weight": one.crossEntropyWeight = options.crossEntropyWeight
                    case "focal-weight": one.focalWeight = options.focalWeight
                    case "ce-class-weights": one.crossEntropyClassWeights = options.crossEntropyClassWeights
                    case "label-smoothing": one.labelSmoothing = options.labelSmoothing
                    case "cldice-alpha": one.clDiceAlpha = options.clDiceAlpha
                    case "cldice-iterations": one.clDiceIterations = options.clDiceIterations
                    case "distance-matrix": one.distanceMatrix = options.distanceMatrix
                    case "hd-alpha": one.hausdorffAlpha = options.hausdorffAlpha
                    case "hausdorff-weight": one.hausdorffWeight = options.hausdorffWeight
                    case "hd-log": one.hausdorffLogarithmic = true
                    default: XCTFail("no example for \(rule.name)")
                    }
                }
                XCTAssertEqual(one.given.map(\.name), [name])
                examples[name] = one
            }
        }
        for rule in LossOptions.rules {
            let options = try XCTUnwrap(examples[rule.name], rule.name)
            for kind in LossKind.allCases {
                if rule.objectives.contains(kind) {
                    XCTAssertNoThrow(try options.check(for: kind), "\(rule.name) with \(kind.rawValue)")
                } else {
                    assertError(
                        try options.check(for: kind),
                        contains: "--\(rule.name) with loss \(kind.rawValue); expected loss")
                }
            }
        }
        var tversky = LossOptions()
        tversky.tverskyAlpha = 0.2
        assertError(
            try tversky.check(for: .dice),
            contains: "--tversky-alpha with loss dice; expected loss tversky or focal-tversky")
    }

    func testValuesOutOfRangeAreRefused() throws {
        let bad: [(String, (inout LossOptions) -> Void, LossKind)] = [
            ("--tversky-alpha is -0.1; expected a finite number ≥ 0", { $0.tverskyAlpha = -0.1 }, .tversky),
            ("--focal-gamma is nan", { $0.focalGamma = .nan }, .focal),
            ("--tversky-gamma is 0.0; expected a finite number > 0", { $0.tverskyGamma = 0 }, .focalTversky),
            ("--hd-alpha is -1.0", { $0.hausdorffAlpha = -1 }, .diceHausdorff),
            ("--hausdorff-weight is inf", { $0.hausdorffWeight = .infinity }, .diceHausdorff),
            ("--cldice-alpha is 1.5; expected a number in [0, 1]", { $0.clDiceAlpha = 1.5 }, .diceClDice),
            ("--cldice-iterations is -1", { $0.clDiceIterations = -1 }, .clDice),
            ("--class-weights has -1.0; expected finite values ≥ 0", { $0.classWeights = [1, -1] }, .dice),
            ("--distance-matrix has nan", { $0.distanceMatrix = [0, .nan, 1, 0] }, .wasserstein),
            ("label smoothing is 2.0", { $0.labelSmoothing = 2 }, .diceCE),
        ]
        for (message, set, kind) in bad {
            var configuration = TrainingConfiguration()
            configuration.loss = kind
            set(&configuration.lossOptions)
            assertError(try configuration.validate(), contains: message)
        }
    }

    /// Counts against the model's classes fail when the trainer is built, with the loss's message.
    func testCountsAreCheckedBeforeTheFirstStep() throws {
        let model = try UNet<Float>(UNetConfiguration(inputChannels: 3, classes: 3, baseWidth: 4, depth: 2), seed: 1)
        let bad: [(LossKind, (inout LossOptions) -> Void, String)] = [
            (.dice, { $0.classWeights = [1, 2] }, "class weights have 2 values; expected 3"),
            (
                .dice,
                {
                    $0.classWeights = [1, 2, 3]
                    $0.excludeBackground = true
                }, "class weights have 3 values; expected 2 (one per class after excluding the background)"
            ),
            (.focal, { $0.classWeights = [1] }, "class weights"),
            (
                .diceCE, { $0.crossEntropyClassWeights = [1, 2] },
                "cross-entropy class weights have 2 values; expected 3"
            ),
            (.wasserstein, { $0.distanceMatrix = [0, 1, 1, 0] }, "distance matrix has 4 entries; expected 3×3"),
            (.wasserstein, { $0.distanceMatrix = [1, 1, 1, 1, 0, 1, 1, 1, 0] }, "distance matrix entry [0, 0] is 1.0"),
        ]
        for (kind, set, message) in bad {
            var configuration = TrainingConfiguration()
            configuration.loss = kind
            set(&configuration.lossOptions)
            try configuration.validate()
            assertError(try Trainer(model: model, configuration: configuration), contains: message)
        }
    }

    /// The options given are written to summary.json's configuration in snake case.
    func testSummaryRecordsTheOptionsGiven() throws {
        var configuration = TrainingConfiguration()
        configuration.loss = .tversky
        configuration.lossOptions.tverskyAlpha = 0.2
        configuration.lossOptions.batch = true
        let model = try UNet<Float>(UNetConfiguration(inputChannels: 3, classes: 2, baseWidth: 4, depth: 2), seed: 1)
        let fields = try Trainer(model: model, configuration: configuration).describe()
        XCTAssertEqual(fields.first { $0.key == "tversky_alpha" }?.value, .number(0.2))
        XCTAssertEqual(fields.first { $0.key == "batch_dice" }?.value, .bool(true))
        XCTAssertNil(fields.first { $0.key == "focal_gamma" })
    }
}
