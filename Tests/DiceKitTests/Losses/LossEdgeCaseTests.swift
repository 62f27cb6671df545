// Edge cases (each with its own test) and input validation. Values are checked against a naive
// Double reference that materialises the one-hot target (fine at these sizes), written from
// the formulas in Docs/DiceMath.md.

import XCTest

@testable import DiceKit

/// Naive reference: per-(n, c) Dice loss mean, channels-last, softmax/sigmoid/none, label targets.
func naiveDiceLoss(_ x: Tensor<Double>, labels: [Int], activation: DiceActivation, smooth: Double = 1e-5) -> Double {
    let c = x.shape.last!
    let n = x.shape[0]
    let s = x.count / (n * c)
    var total = 0.0
    for b in 0..<n {
        for k in 0..<c {
            var tp = 0.0
            var p = 0.0
            var g = 0.0
            for i in 0..<s {
                let base = (b * s + i) * c
                var prob: Double
                switch activation {
                case .none: prob = x.scalars[base + k]
                case .sigmoid: prob = 1 / (1 + Double.exp(-x.scalars[base + k]))
                case .softmax:
                    let m = (0..<c).map { x.scalars[base + $0] }.max()!
                    let sum = (0..<c).map { Double.exp(x.scalars[base + $0] - m) }.reduce(0, +)
                    prob = Double.exp(x.scalars[base + k] - m) / sum
                }
                let gv: Double = c == 1 ? (labels[b * s + i] == 1 ? 1 : 0) : (labels[b * s + i] == k ? 1 : 0)
                tp += prob * gv
                p += prob
                g += gv
            }
            total += 1 - (2 * tp + smooth) / (p + g + smooth)
        }
    }
    return total / Double(n * c)
}

final class LossEdgeCaseTests: XCTestCase {
    func evaluateBoth(_ loss: DiceLoss, _ x: Tensor<Double>, _ labels: LabelMap) throws -> (
        DiceLossResult<Double>, DiceLossResult<Float>
    ) {
        (
            try loss.evaluate(x, target: .labels(labels), gradient: true),
            try loss.evaluate(x.converted(to: Float.self), target: .labels(labels), gradient: true)
        )
    }

    func testEmptyTargetAndEmptyPrediction() throws {
        // p = 0 and g = 0 everywhere: Dice = 1 − s_nr/s_dr = 0 with MONAI's smoothing, zero gradient.
        let x = Tensor<Double>(shape: [2, 4, 4, 2])
        let target = Tensor<Double>(shape: [2, 4, 4, 2])
        let result = try DiceLoss().evaluate(x, target: .oneHot(target), gradient: true)
        XCTAssertEqual(result.value, 0, accuracy: 1e-15)
        XCTAssertTrue(result.gradient!.scalars.allSatisfy { $0.isFinite })
        // With the exclude policy nothing is counted: the mean of no values is 0.
        var exclude = DiceLoss()
        exclude.emptyClass = .exclude
        XCTAssertEqual(try exclude.evaluate(x, target: .oneHot(target)).value, 0)
        // Penalize: no prediction, no penalty, but a gradient of 1/S per unit of probability.
        var penalize = DiceLoss()
        penalize.emptyClass = .penalize
        let r = try penalize.evaluate(x, target: .oneHot(target), gradient: true)
        XCTAssertEqual(r.value, 0)
        XCTAssertEqual(r.gradient!.scalars[0], 1.0 / 16 / 4, accuracy: 1e-15) // 1/S × 1/(N·C) from the mean
    }

    func testAllBackground() throws {
        var generator = SeededGenerator(seed: 11)
        let x = Tensor<Double>.normal([2, 5, 5, 3], generator: &generator)
        let labels = try LabelMap(shape: [2, 5, 5], labels: Array(repeating: 0, count: 50))
        let loss = DiceLoss(activation: .softmax)
        let (d, f) = try evaluateBoth(loss, x, labels)
        XCTAssertEqual(d.value, naiveDiceLoss(x, labels: labels.labels, activation: .softmax), accuracy: 1e-12)
        XCTAssertEqual(Double(f.value), d.value, accuracy: 1e-5 * d.value)
        XCTAssertTrue(f.gradient!.scalars.allSatisfy { $0.isFinite })
        // Foreground classes all empty and excluded: nothing left to count.
        var only = loss
        only.excludeBackground = true
        only.emptyClass = .exclude
        XCTAssertEqual(try only.evaluate(x, target: .labels(labels)).value, 0)
    }

    func testSinglePixelObject() throws {
        var generator = SeededGenerator(seed: 12)
        let x = Tensor<Double>.normal([1, 9, 7, 2], generator: &generator)
        var raw = Array(repeating: 0, count: 63)
        raw[31] = 1
        let labels = try LabelMap(shape: [1, 9, 7], labels: raw)
        for activation in [DiceActivation.softmax, .sigmoid] {
            let loss = DiceLoss(activation: activation)
            let (d, f) = try evaluateBoth(loss, x, labels)
            XCTAssertEqual(d.value, naiveDiceLoss(x, labels: raw, activation: activation), accuracy: 1e-12)
            XCTAssertEqual(Double(f.value), d.value, accuracy: 1e-5 * d.value)
            let numeric = try finiteDifferenceGradient(at: x, step: .relative(1e-6)) {
                try loss.evaluate($0, target: .labels(labels)).value
            }
            XCTAssertLessThanOrEqual(scaledError(d.gradient!, numeric), 1e-6)
        }
    }

    func testHugeLogitsStayFinite() throws {
        var generator = SeededGenerator(seed: 13)
        var x = Tensor<Double>.normal([2, 6, 6, 3], generator: &generator)
        for i in 0..<x.count { x.storage[i] = x.storage[i] > 0 ? 1e4 : -1e4 }
        let labels = try LabelMap(shape: [2, 6, 6], labels: (0..<72).map { $0 % 3 })
        for activation in [DiceActivation.softmax, .sigmoid] {
            for ce in [0.0, 1.0] {
                for squared in [false, true] {
                    var loss = DiceLoss(activation: activation)
                    loss.crossEntropyWeight = ce
                    loss.squared = squared
                    let (d, f) = try evaluateBoth(loss, x, labels)
                    let what = "\(activation) ce \(ce) squared \(squared)"
                    XCTAssertTrue(d.value.isFinite && f.value.isFinite, what)
                    XCTAssertTrue(d.gradient!.scalars.allSatisfy(\.isFinite), what)
                    XCTAssertTrue(f.gradient!.scalars.allSatisfy(\.isFinite), what)
                }
            }
        }
    }

    func testThreeDimensionalVolumes() throws {
        var generator = SeededGenerator(seed: 14)
        let x = Tensor<Double>.normal([2, 4, 5, 6, 3], generator: &generator)
        let raw = (0..<240).map { _ in Int(generator.next() % 3) }
        let labels = try LabelMap(shape: [2, 4, 5, 6], labels: raw)
        let loss = DiceLoss(activation: .softmax)
        let (d, f) = try evaluateBoth(loss, x, labels)
        XCTAssertEqual(d.value, naiveDiceLoss(x, labels: raw, activation: .softmax), accuracy: 1e-12)
        XCTAssertEqual(Double(f.value), d.value, accuracy: 1e-5 * d.value)
        // Channels-first gives the same value and the transposed gradient.
        var first = loss
        first.layout = .channelsFirst
        let cf = try first.evaluate(
            x.converted(from: .channelsLast, to: .channelsFirst), target: .labels(labels), gradient: true)
        XCTAssertEqual(cf.value, d.value, accuracy: 1e-14)
        XCTAssertLessThanOrEqual(
            scaledError(try cf.gradient!.converted(from: .channelsFirst, to: .channelsLast), d.gradient!), 1e-14)
    }

    func testBatchOfOne() throws {
        var generator = SeededGenerator(seed: 15)
        let x = Tensor<Double>.normal([1, 8, 8, 4], generator: &generator)
        let raw = (0..<64).map { _ in Int(generator.next() % 4) }
        let labels = try LabelMap(shape: [1, 8, 8], labels: raw)
        let loss = DiceLoss(activation: .softmax)
        let (d, f) = try evaluateBoth(loss, x, labels)
        XCTAssertEqual(d.value, naiveDiceLoss(x, labels: raw, activation: .softmax), accuracy: 1e-12)
        XCTAssertEqual(Double(f.value), d.value, accuracy: 1e-5 * d.value)
        var batch = loss
        batch.batch = true
        XCTAssertEqual(try batch.evaluate(x, target: .labels(labels)).value, d.value, accuracy: 1e-14)
    }

    func testLabelsWithChannelAxisAreAccepted() throws {
        var generator = SeededGenerator(seed: 16)
        let x = Tensor<Double>.normal([2, 3, 4, 2], generator: &generator)
        let raw = (0..<24).map { _ in Int(generator.next() % 2) }
        let a = try DiceLoss(activation: .softmax).evaluate(
            x, target: .labels(LabelMap(shape: [2, 3, 4], labels: raw))
        ).value
        let b = try DiceLoss(activation: .softmax).evaluate(
            x, target: .labels(LabelMap(shape: [2, 3, 4, 1], labels: raw))
        ).value
        XCTAssertEqual(a, b)
    }

    /// Accumulation precision: a 64³ Float volume (C kernels) against Double on the same input.
    func testLargeVolumeFloatAccumulation() throws {
        var generator = SeededGenerator(seed: 17)
        let x = Tensor<Float>.normal([1, 64, 64, 64, 2], generator: &generator)
        let raw = (0..<(64 * 64 * 64)).map { i in
            (i / 4096 - 32) * (i / 4096 - 32) + ((i / 64) % 64 - 32) * ((i / 64) % 64 - 32) < 400 ? 1 : 0
        }
        let labels = try LabelMap(shape: [1, 64, 64, 64], labels: raw)
        let loss = DiceLoss(activation: .softmax)
        let f = try loss.evaluate(x, target: .labels(labels)).value
        let d = try loss.evaluate(x.converted(to: Double.self), target: .labels(labels)).value
        XCTAssertLessThanOrEqual(abs(Double(f) - d) / d, 1e-6)
    }

    // MARK: - Validation: one-line errors naming the value (assertError: LossTestSupport.swift)

    func testValidation() throws {
        var generator = SeededGenerator(seed: 18)
        let x = Tensor<Float>.normal([2, 4, 4, 3], generator: &generator)
        let labels = try LabelMap(shape: [2, 4, 4], labels: (0..<32).map { $0 % 3 })
        let softmax = DiceLoss(activation: .softmax)
        for value in [Float.nan, .infinity, -.infinity] {
            var bad = x
            bad.storage[37] = value
            assertError(
                try softmax.evaluate(bad, target: .labels(labels)), contains: "prediction element 37 is \(value)")
            assertError(
                try softmax.evaluate(bad.converted(to: Double.self), target: .labels(labels)),
                contains: "prediction element 37")
            assertError(
                try DiceLoss(activation: .sigmoid).evaluate(bad, target: .labels(labels)), contains: "element 37")
        }
        var high = labels.labels
        high[5] = 3
        assertError(
            try softmax.evaluate(x, target: .labels(LabelMap(shape: [2, 4, 4], labels: high))),
            contains: "label 3 at element 5; expected 0..<3")
        var negative = labels.labels
        negative[9] = -1
        assertError(
            try softmax.evaluate(
                x.converted(to: Double.self), target: .labels(LabelMap(shape: [2, 4, 4], labels: negative))),
            contains: "label -1 at element 9")
        assertError(
            try softmax.evaluate(x, target: .labels(LabelMap(shape: [2, 4, 4], labels: negative))),
            contains: "label -1 at element 9")
        var big = Tensor<Float>.normal([2, 16, 16, 3], generator: &generator) // large enough for the vector loop
        let bigLabels = (0..<512).map { $0 == 300 ? -7 : $0 % 3 }
        assertError(
            try softmax.evaluate(big, target: .labels(LabelMap(shape: [2, 16, 16], labels: bigLabels))),
            contains: "label -7 at element 300")
        big.storage[1000] = -.infinity
        assertError(
            try softmax.evaluate(
                big, target: .labels(LabelMap(shape: [2, 16, 16], labels: bigLabels.map { abs($0) % 3 }))),
            contains: "prediction element 1000 is -inf")
        var ignored = softmax
        ignored.ignoreIndex = 3
        XCTAssertNoThrow(try ignored.evaluate(x, target: .labels(LabelMap(shape: [2, 4, 4], labels: high))))
        var weights = softmax
        weights.classWeights = [1, 2]
        assertError(
            try weights.evaluate(x, target: .labels(labels)), contains: "class weights have 2 values; expected 3")
        weights.excludeBackground = true
        XCTAssertNoThrow(try weights.evaluate(x, target: .labels(labels)))
        let one = Tensor<Float>.normal([2, 4, 4, 1], generator: &generator)
        let binary = try LabelMap(shape: [2, 4, 4], labels: (0..<32).map { $0 % 2 })
        assertError(try softmax.evaluate(one, target: .labels(binary)), contains: "softmax over a single channel")
        assertError(
            try DiceLoss(activation: .sigmoid).evaluate(one, target: .labels(labels)),
            contains: "label 2 at element 2; expected 0 or 1")
        assertError(
            try softmax.evaluate(x, target: .oneHot(Tensor(shape: [2, 4, 3, 3]))),
            contains: "target shape [2, 4, 3, 3] does not match prediction shape [2, 4, 4, 3]")
        assertError(
            try softmax.evaluate(
                x, target: .labels(LabelMap(shape: [2, 4, 5], labels: Array(repeating: 0, count: 40)))),
            contains: "label shape [2, 4, 5]")
        assertError(
            try softmax.evaluate(x, target: .labels(labels), validMask: Tensor(shape: [2, 2])),
            contains: "valid mask shape [2, 2]; expected [2, 3]")
        assertError(
            try softmax.evaluate(x, target: .labels(labels), validMask: Tensor(shape: [2, 3], repeating: 0.5)),
            contains: "valid mask element 0 is 0.5")
        assertError(try softmax.evaluate(Tensor<Float>(shape: [4, 3]), target: .labels(labels)), contains: "rank 2")
        var ce = DiceLoss()
        ce.crossEntropyWeight = 1
        assertError(try ce.evaluate(x, target: .labels(labels)), contains: "cross-entropy needs logits")
        var denseIgnore = softmax
        denseIgnore.ignoreIndex = 1
        assertError(
            try denseIgnore.evaluate(x, target: .oneHot(Tensor(shape: x.shape))),
            contains: "ignore index with a dense target")
        var generalized = DiceLoss(variant: .generalized(), activation: .softmax)
        generalized.classWeights = [1, 1, 1]
        assertError(try generalized.evaluate(x, target: .labels(labels)), contains: "generalized")
        var negativeSmooth = softmax
        negativeSmooth.smoothDenominator = -1
        assertError(try negativeSmooth.evaluate(x, target: .labels(labels)), contains: "smooth-dr is -1.0")
        assertError(
            try DiceLoss.seed(.weighted(classWeights: [1, 2])).evaluate(x, target: .labels(labels)),
            contains: "class weights have 2 values; expected 3")
        assertError(
            try DiceLoss.seed(.weighted(classWeights: [1, -2, 1])).evaluate(x, target: .labels(labels)),
            contains: "class weight -2.0; expected finite values ≥ 0")
        assertError(
            try DiceLoss.seed(.basic, epsilon: -1).evaluate(x, target: .labels(labels)), contains: "epsilon is -1.0")
        assertError(
            try DiceLoss(variant: .focalTversky(gamma: 0), activation: .softmax).evaluate(x, target: .labels(labels)),
            contains: "gamma is 0.0")
        assertError(
            try DiceLoss(variant: .tversky(alpha: -1), activation: .softmax).evaluate(x, target: .labels(labels)),
            contains: "alpha is -1.0")
    }

    /// The weighted cross-entropy's options: in range, and only where a cross-entropy uses them.
    func testCrossEntropyOptionValidation() throws {
        var generator = SeededGenerator(seed: 19)
        let x = Tensor<Float>.normal([2, 4, 4, 3], generator: &generator)
        let labels = try LabelMap(shape: [2, 4, 4], labels: (0..<32).map { $0 % 3 })
        func attempt(_ configure: (inout DiceLoss) -> Void) -> () throws -> Any {
            var loss = DiceLoss(activation: .softmax)
            loss.crossEntropyWeight = 1
            configure(&loss)
            return { try loss.evaluate(x, target: .labels(labels)) }
        }
        assertError(
            try attempt { $0.crossEntropyClassWeights = [1, 2] }(),
            contains: "cross-entropy class weights have 2 values; expected 3 (one per channel, the background included)"
        )
        assertError(
            try attempt {
                $0.crossEntropyClassWeights = [1, 2]
                $0.excludeBackground = true
            }(), contains: "have 2 values; expected 3")
        for bad in [-1.0, .nan, .infinity] {
            assertError(
                try attempt { $0.crossEntropyClassWeights = [1, bad, 1] }(),
                contains: "cross-entropy class weight \(bad); expected finite values ≥ 0")
        }
        assertError(
            try attempt {
                $0.crossEntropyClassWeights = [1, 2, 3]
                $0.crossEntropyWeight = 0
            }(), contains: "cross-entropy class weights with a ce-weight of 0")
        for bad in [-0.1, 1.5, .nan, -.infinity] {
            assertError(
                try attempt { $0.labelSmoothing = bad }(),
                contains: "label smoothing is \(bad); expected a number in [0, 1]")
        }
        assertError(
            try attempt {
                $0.labelSmoothing = 0.1
                $0.activation = .sigmoid
            }(), contains: "label smoothing 0.1 with activation sigmoid; expected the softmax cross-entropy")
        assertError(
            try attempt {
                $0.labelSmoothing = 0.1
                $0.crossEntropyWeight = 0
            }(), contains: "label smoothing 0.1 with a ce-weight of 0")
        XCTAssertNoThrow(
            try attempt {
                $0.labelSmoothing = 1
                $0.crossEntropyClassWeights = [0, 0, 2]
            }())
    }
}

/// Large enough inputs to run in parallel tasks: the fused per-sample passes must give the
/// same loss and gradient as the two-dispatch path, for every separable configuration.
final class LossFusedPassTests: XCTestCase {
    func testFusedMatchesTwoPass() throws {
        var generator = SeededGenerator(seed: 21)
        let x = Tensor<Double>.normal([4, 64, 72, 4], standardDeviation: 2, generator: &generator)
        var raw = (0..<(4 * 64 * 72)).map { _ in Int(generator.next() % 4) }
        for i in stride(from: 0, to: raw.count, by: 11) { raw[i] = 255 }
        let ignoring = try LabelMap(shape: [4, 64, 72], labels: raw)
        let clean = try LabelMap(shape: [4, 64, 72], labels: raw.map { $0 == 255 ? 1 : $0 })
        let soft = Tensor<Double>.uniform(x.shape, generator: &generator)
        let configurations: [(String, (inout DiceLoss) -> Void)] = [
            ("default", { _ in }), ("sum", { $0.reduction = .sum }), ("none", { $0.reduction = .none }),
            (
                "exclude background, weights",
                {
                    $0.excludeBackground = true
                    $0.classWeights = [1, 2, 3]
                }
            ),
            (
                "jaccard squared",
                {
                    $0.variant = .jaccard
                    $0.squared = true
                }
            ),
            ("focal tversky", { $0.variant = .focalTversky(alpha: 0.2, beta: 0.8) }),
            ("log-cosh", { $0.variant = .logCoshDice }),
            ("generalized", { $0.variant = .generalized() }),
            ("penalize", { $0.emptyClass = .penalize }),
            ("seed-basic", { $0 = $0.seeded(.basic) }),
            ("seed-weighted", { $0 = $0.seeded(.weighted(classWeights: [1, 2, 3, 4])) }),
            (
                "seed-multiclass none",
                {
                    $0 = $0.seeded(.multiclass)
                    $0.reduction = .none
                }
            ),
            (
                "compound CE",
                {
                    $0.crossEntropyWeight = 0.8
                    $0.ignoreIndex = nil
                }
            ),
            (
                "compound CE, squared, sum",
                {
                    $0.crossEntropyWeight = 1.3
                    $0.squared = true
                    $0.reduction = .sum
                    $0.ignoreIndex = nil
                }
            ),
            ("compound CE, ignore (two passes)", { $0.crossEntropyWeight = 0.5 }),
            (
                // Softmax: the mean divides by the batch's label weights (two passes); sigmoid: fused.
                "weighted CE, smoothing",
                {
                    $0.crossEntropyWeight = 0.9
                    $0.crossEntropyClassWeights = [0.5, 1, 2, 1.5]
                    if $0.activation == .softmax { $0.labelSmoothing = 0.1 }
                    $0.ignoreIndex = nil
                }
            ),
        ]
        for activation in [DiceActivation.softmax, .sigmoid] {
            for (name, configure) in configurations {
                var loss = DiceLoss(activation: activation)
                loss.ignoreIndex = 255
                configure(&loss)
                let labels = loss.ignoreIndex == nil ? clean : ignoring
                for precision in ["Double", "Float"] {
                    func run(_ fused: Bool) throws -> (Tensor<Double>, Tensor<Double>) {
                        var loss = loss
                        loss.fusedPasses = fused
                        if precision == "Double" {
                            let r = try loss.evaluate(x, target: .labels(labels), gradient: true)
                            return (r.loss, r.gradient!)
                        }
                        let r = try loss.evaluate(x.converted(to: Float.self), target: .labels(labels), gradient: true)
                        return (r.loss.converted(to: Double.self), r.gradient!.converted(to: Double.self))
                    }
                    let (l1, g1) = try run(true)
                    let (l2, g2) = try run(false)
                    let what = "\(activation) \(name) \(precision)"
                    XCTAssertEqual(l1, l2, what)
                    XCTAssertLessThanOrEqual(scaledError(g1, g2), precision == "Double" ? 1e-14 : 1e-6, what)
                }
            }
            // Dense soft targets take the Swift passes.
            var loss = DiceLoss(activation: activation)
            loss.softLabels = true
            loss.fusedPasses = false
            let unfused = try loss.evaluate(x, target: .soft(soft), gradient: true)
            loss.fusedPasses = true
            let fusedResult = try loss.evaluate(x, target: .soft(soft), gradient: true)
            XCTAssertLessThanOrEqual(scaledError(fusedResult.gradient!, unfused.gradient!), 1e-14)
        }
    }
}

final class LabelMapTests: XCTestCase {
    func testLabelMapFromTensors() throws {
        let f = try LabelMap(Tensor<Float>(shape: [1, 3], scalars: [0, 2, 1]))
        let d = try LabelMap(Tensor<Double>(shape: [1, 3], scalars: [0, 2, 1]))
        XCTAssertEqual(f, d)
        XCTAssertEqual(f.labels, [0, 2, 1])
        XCTAssertThrowsError(try LabelMap(Tensor<Float>(shape: [2], scalars: [0, 1.5])))
        XCTAssertThrowsError(try LabelMap(Tensor<Double>(shape: [1], scalars: [.nan])))
        XCTAssertThrowsError(try LabelMap(shape: [2, 2], labels: [0, 1, 2]))
        XCTAssertThrowsError(try LabelMap(shape: [1], labels: [Int(Int32.max) + 1]))
    }
}
