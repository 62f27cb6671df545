// Finite differences in Double for the combinations the option grid of LossGradientTests does
// not reach: single-channel predictions against binary-mask labels, soft labels with a one-hot
// target, Tversky and focal Tversky away from α/β = 0.3/0.7, cross-entropy together with squared
// denominators, a validity mask, the seed presets, batch statistics and class weights, and one
// sample large enough to be split into position chunks (value against the naive reference,
// gradient by directional and sampled central differences). Tolerance as in LossGradientTests:
// 1e-6 of the gradient's scale, step 1e-6·max(1, |x|).

import XCTest

@testable import DiceKit

final class LossGradientGapTests: XCTestCase {
    /// Asserts the closed-form gradient of `loss` at `x` matches central differences (1e-6).
    private func check(
        _ loss: DiceLoss, _ x: Tensor<Double>, _ target: SegmentationTarget<Double>, mask: Tensor<Double>? = nil,
        _ what: String, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let result = try loss.evaluate(x, target: target, validMask: mask, gradient: true)
        XCTAssertTrue(result.loss.scalars.allSatisfy(\.isFinite), what, file: file, line: line)
        let numeric = try finiteDifferenceGradient(at: x, step: .relative(1e-6)) {
            try loss.evaluate($0, target: target, validMask: mask).value
        }
        XCTAssertGreaterThan(
            numeric.scalars.map(abs).max() ?? 0, 1e-8, "vacuous gradient: \(what)", file: file, line: line)
        XCTAssertLessThanOrEqual(scaledError(result.gradient!, numeric), 1e-6, what, file: file, line: line)
    }

    private func labels(_ shape: [Int], classes: Int, generator: inout SeededGenerator) throws -> LabelMap {
        try LabelMap(
            shape: shape, labels: (0..<shape.reduce(1, *)).map { _ in Int(generator.next() % UInt64(classes)) })
    }

    func testSingleChannelWithBinaryMaskLabels() throws {
        var generator = SeededGenerator(seed: 500)
        var checked = 0
        for name in DiceVariant.Name.allCases {
            let variant = DiceVariant(name, alpha: 0.4, beta: 0.6, gamma: 1.3)
            for activation in [DiceActivation.sigmoid, .none] {
                let options: [(String, (inout DiceLoss) -> Void)] = [
                    ("default", { _ in }), ("batch", { $0.batch = true }), ("squared", { $0.squared = true }),
                    ("sum", { $0.reduction = .sum }), ("none", { $0.reduction = .none }),
                    ("ignore 255", { $0.ignoreIndex = 255 }), ("BCE", { $0.crossEntropyWeight = 0.8 }),
                ]
                for (name, configure) in options {
                    var loss = DiceLoss(variant: variant, activation: activation)
                    configure(&loss)
                    if loss.crossEntropyWeight > 0 && activation == .none { continue }
                    let x =
                        activation == .none
                        ? Tensor<Double>.uniform([2, 3, 4, 1], lower: 0.05, upper: 0.95, generator: &generator)
                        : Tensor<Double>.normal([2, 3, 4, 1], standardDeviation: 1.5, generator: &generator)
                    var mask = (0..<24).map { _ in Int(generator.next() % 2) }
                    if loss.ignoreIndex != nil { for i in stride(from: 2, to: 24, by: 7) { mask[i] = 255 } }
                    let target = SegmentationTarget<Double>.labels(try LabelMap(shape: [2, 3, 4], labels: mask))
                    try check(loss, x, target, "1 channel \(variant.name.rawValue) \(activation.rawValue) \(name)")
                    checked += 1
                }
            }
        }
        XCTAssertEqual(checked, DiceVariant.Name.allCases.count * 13)
        // The binary mask is the foreground channel: the same loss as its one-hot [N, H, W, 1] form.
        var loss = DiceLoss(activation: .sigmoid)
        loss.crossEntropyWeight = 1
        let x = Tensor<Double>.normal([2, 3, 4, 1], generator: &generator)
        let mask = (0..<24).map { _ in Int(generator.next() % 2) }
        let dense = try Tensor<Double>(shape: [2, 3, 4, 1], scalars: mask.map(Double.init))
        let a = try loss.evaluate(x, target: .labels(try LabelMap(shape: [2, 3, 4], labels: mask)), gradient: true)
        let b = try loss.evaluate(x, target: .oneHot(dense), gradient: true)
        XCTAssertEqual(a.value, b.value, accuracy: 1e-15)
        XCTAssertLessThanOrEqual(scaledError(a.gradient!, b.gradient!), 1e-15)
    }

    func testSoftLabelsWithOneHotTarget() throws {
        var generator = SeededGenerator(seed: 510)
        for name in DiceVariant.Name.allCases {
            let variant = DiceVariant(name, alpha: 0.6, beta: 0.4, gamma: 0.8)
            for activation in DiceActivation.allCases {
                for batch in [false, true] {
                    var loss = DiceLoss(variant: variant, activation: activation)
                    loss.softLabels = true
                    loss.batch = batch
                    let x =
                        activation == .none
                        ? Tensor<Double>.uniform([2, 3, 4, 3], lower: 0.05, upper: 0.95, generator: &generator)
                        : Tensor<Double>.normal([2, 3, 4, 3], standardDeviation: 1.5, generator: &generator)
                    let raw = (0..<24).map { _ in Int(generator.next() % 3) }
                    let oneHot = try Tensor<Double>(
                        shape: [2, 3, 4, 3], scalars: (0..<72).map { raw[$0 / 3] == $0 % 3 ? 1 : 0 })
                    let what = "soft labels, one-hot, \(name.rawValue) \(activation.rawValue) batch \(batch)"
                    try check(loss, x, .oneHot(oneHot), what)
                    // Wang & Blaschko's TP equals Σ p·g for a hard target: the same loss as without softLabels.
                    var hard = loss
                    hard.softLabels = false
                    XCTAssertEqual(
                        try loss.evaluate(x, target: .oneHot(oneHot)).value,
                        try hard.evaluate(x, target: .oneHot(oneHot)).value, accuracy: 1e-12, what)
                }
            }
        }
    }

    func testTverskyAtSeveralAlphaBeta() throws {
        var generator = SeededGenerator(seed: 520)
        let pairs: [(Double, Double)] = [(0.5, 0.5), (0.1, 0.9), (0.9, 0.1), (0, 1), (1, 0), (0.7, 0.7), (2, 0.25)]
        for name in [DiceVariant.Name.tversky, .focalTversky] {
            for (alpha, beta) in pairs {
                for gamma in name == .tversky ? [1.0] : [0.75, 2] {
                    for activation in DiceActivation.allCases {
                        let variant = DiceVariant(name, alpha: alpha, beta: beta, gamma: gamma)
                        let loss = DiceLoss(variant: variant, activation: activation)
                        let x =
                            activation == .none
                            ? Tensor<Double>.uniform([2, 3, 4, 3], lower: 0.05, upper: 0.95, generator: &generator)
                            : Tensor<Double>.normal([2, 3, 4, 3], standardDeviation: 1.5, generator: &generator)
                        try check(
                            loss, x, .labels(try labels([2, 3, 4], classes: 3, generator: &generator)),
                            "\(name.rawValue) α \(alpha) β \(beta) γ \(gamma) \(activation.rawValue)")
                    }
                }
            }
        }
        // α = β = 0.5 is the Dice loss.
        let tversky = DiceLoss(variant: .tversky(alpha: 0.5, beta: 0.5), activation: .softmax)
        let x = Tensor<Double>.normal([2, 3, 4, 3], generator: &generator)
        let target = SegmentationTarget<Double>.labels(try labels([2, 3, 4], classes: 3, generator: &generator))
        var dice = DiceLoss(variant: .dice, activation: .softmax)
        dice.smoothNumerator = tversky.smoothNumerator
        dice.smoothDenominator = tversky.smoothDenominator
        XCTAssertEqual(
            try tversky.evaluate(x, target: target).value, try dice.evaluate(x, target: target).value, accuracy: 1e-6)
    }

    func testCrossEntropyCombinedWithOtherOptions() throws {
        var generator = SeededGenerator(seed: 530)
        let options: [(String, Bool, (inout DiceLoss) -> Void)] = [
            ("squared", false, { $0.squared = true }),
            ("valid mask", true, { _ in }),
            ("valid mask, batch", true, { $0.batch = true }),
            ("batch", false, { $0.batch = true }),
            ("class weights", false, { $0.classWeights = [0.3, 1.2, 2.5] }),
            (
                "batch, class weights, squared, sum", false,
                {
                    $0.batch = true
                    $0.classWeights = [1, 0.5, 2]
                    $0.squared = true
                    $0.reduction = .sum
                }
            ),
            (
                "exclude background, weights", false,
                {
                    $0.excludeBackground = true
                    $0.classWeights = [0.4, 1.6]
                }
            ),
            ("seed-basic", false, { $0 = $0.seeded(.basic) }),
            ("seed-weighted", false, { $0 = $0.seeded(.weighted(classWeights: [0.2, 1, 3])) }),
            ("seed-multiclass, mask", true, { $0 = $0.seeded(.multiclass) }),
            (
                "jaccard, squared, batch", false,
                {
                    $0.variant = .jaccard
                    $0.squared = true
                    $0.batch = true
                }
            ),
            (
                "generalized, batch", false,
                {
                    $0.variant = .generalized()
                    $0.batch = true
                }
            ),
            (
                "focal tversky, weights", false,
                {
                    $0.variant = .focalTversky(alpha: 0.2, beta: 0.8)
                    $0.classWeights = [1, 2, 3]
                }
            ),
        ]
        for activation in [DiceActivation.softmax, .sigmoid] {
            for (name, masked, configure) in options {
                var loss = DiceLoss(activation: activation)
                loss.crossEntropyWeight = 0.9
                loss.diceWeight = 1.2
                configure(&loss)
                let x = Tensor<Double>.normal([2, 3, 4, 3], standardDeviation: 1.5, generator: &generator)
                let mask = masked ? try Tensor<Double>(shape: [2, 3], scalars: [1, 0, 1, 1, 1, 0]) : nil
                let target = SegmentationTarget<Double>.labels(
                    try labels([2, 3, 4], classes: 3, generator: &generator))
                try check(loss, x, target, mask: mask, "CE \(activation.rawValue) \(name)")
                // The compound is exactly dice-weight·(Dice part) + ce-weight·(CE part).
                var diceOnly = loss
                var ceOnly = loss
                diceOnly.crossEntropyWeight = 0
                ceOnly.diceWeight = 0
                let total = try loss.evaluate(x, target: target, validMask: mask).value
                let parts =
                    try diceOnly.evaluate(x, target: target, validMask: mask).value
                    + ceOnly.evaluate(x, target: target, validMask: mask).value
                XCTAssertEqual(total, parts, accuracy: 1e-12, "CE \(activation.rawValue) \(name)")
            }
        }
    }

    /// One sample of 128×128×4 (65,536 elements) is split into position chunks on a multi-core
    /// machine; the value must equal the naive reference and the gradient central differences.
    func testSplitSampleValueAndGradient() throws {
        var generator = SeededGenerator(seed: 540)
        let x = Tensor<Double>.normal([1, 128, 128, 4], standardDeviation: 2, generator: &generator)
        let raw = (0..<(128 * 128)).map { i in
            ((i / 128 - 64) * (i / 128 - 64) + (i % 128 - 50) * (i % 128 - 50)) < 900 ? 1 + i % 3 : 0
        }
        let labels = try LabelMap(shape: [1, 128, 128], labels: raw)
        let loss = DiceLoss(variant: .dice, activation: .softmax)
        let plan = try loss.makePlan(x, .labels(labels), nil)
        let tasks = LossTasks(plan: plan)
        if System.activeProcessorCount > 1 {
            XCTAssertGreaterThan(
                tasks.chunksPerSample, 1, "the sample is not split on \(System.activeProcessorCount) cores")
        }
        let result = try loss.evaluate(x, target: .labels(labels), gradient: true)
        XCTAssertEqual(result.value, naiveDiceLoss(x, labels: raw, activation: .softmax), accuracy: 1e-13)

        let gradient = result.gradient!
        let h = 1e-5
        func value(_ probe: Tensor<Double>) throws -> Double { try loss.evaluate(probe, target: .labels(labels)).value }
        // Directional derivatives along random directions (every element at once) ...
        for seed in UInt64(541)...542 {
            let v = randomTensor(x.shape, seed: seed)
            var plus = x
            var minus = x
            for i in 0..<x.count {
                plus.storage[i] += h * v.storage[i]
                minus.storage[i] -= h * v.storage[i]
            }
            let analytic = dot(gradient, v)
            XCTAssertEqual(
                (try value(plus) - value(minus)) / (2 * h), analytic, accuracy: 1e-6 * abs(analytic),
                "direction \(seed)")
        }
        // ... and single elements on both sides of every chunk boundary, plus a few anywhere.
        let scale = gradient.scalars.map(abs).max()!
        var entries: [Int] = []
        for chunk in 1..<max(2, tasks.chunksPerSample) {
            let boundary = min(plan.s - 1, chunk * tasks.chunkLength)
            entries += [(boundary - 1) * 4 + 1, boundary * 4 + 2]
        }
        entries += (0..<4).map { _ in Int(generator.next() % UInt64(x.count)) }
        var probe = x
        for i in entries {
            probe.storage[i] = x.storage[i] + h
            let plus = try value(probe)
            probe.storage[i] = x.storage[i] - h
            let minus = try value(probe)
            probe.storage[i] = x.storage[i]
            XCTAssertEqual((plus - minus) / (2 * h), gradient.scalars[i], accuracy: 1e-6 * scale, "element \(i)")
        }
    }
}
