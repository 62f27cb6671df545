// Finite differences in Double for every variant × activation × option combination, on small
// random shapes from a seeded generator: the analytic gradient must match central differences
// within 1e-6 relative to the gradient's scale (step 1e-6·max(1, |x|): truncation ~1e-12,
// rounding ~1e-10 of the loss, both far below the bound).

import XCTest

@testable import DiceKit

final class LossGradientTests: XCTestCase {
    enum TargetKind { case labels, oneHot, soft }

    /// One option set: how to configure the loss and which target/mask/shape to use.
    struct OptionSet: Sendable {
        let name: String
        var target: TargetKind = .labels
        var channelsFirst3D = false
        var emptyClass = false
        var ignore = false
        var mask = false
        var configure: @Sendable (inout DiceLoss) -> Void = { _ in }
    }

    static let optionSets: [OptionSet] = [
        OptionSet(name: "default"),
        OptionSet(name: "squared") { $0.squared = true },
        OptionSet(name: "soft labels", target: .soft) { $0.softLabels = true },
        OptionSet(name: "soft labels squared", target: .soft) { $0.squared = true },
        OptionSet(name: "one-hot target", target: .oneHot),
        OptionSet(name: "exclude background") { $0.excludeBackground = true },
        OptionSet(name: "batch") { $0.batch = true },
        OptionSet(name: "class weights") { $0.classWeights = [0.5, 1.5, 2] },
        OptionSet(name: "weights, no background, sum") {
            $0.classWeights = [0.7, 1.3]
            $0.excludeBackground = true
            $0.reduction = .sum
        },
        OptionSet(name: "reduction none") { $0.reduction = .none },
        OptionSet(name: "batch, none") {
            $0.batch = true
            $0.reduction = .none
        },
        OptionSet(name: "ignore index", ignore: true) { $0.ignoreIndex = 255 },
        OptionSet(name: "compound CE") {
            $0.crossEntropyWeight = 0.7
            $0.diceWeight = 0.6
        },
        OptionSet(name: "compound CE, one-hot, sum", target: .oneHot) {
            $0.crossEntropyWeight = 1.1
            $0.reduction = .sum
        },
        OptionSet(name: "compound CE, ignore", ignore: true) {
            $0.crossEntropyWeight = 0.5
            $0.ignoreIndex = 255
        },
        OptionSet(name: "CE class weights, smoothing") {
            $0.crossEntropyWeight = 0.8
            $0.crossEntropyClassWeights = [0.5, 2, 1.2]
            $0.labelSmoothing = 0.15
        },
        OptionSet(name: "CE class weights, ignore", ignore: true) {
            $0.crossEntropyWeight = 1.3
            $0.crossEntropyClassWeights = [0.3, 2, 0]
            $0.ignoreIndex = 255
        },
        OptionSet(name: "CE class weights, one-hot, smoothing, sum", target: .oneHot) {
            $0.crossEntropyWeight = 0.9
            $0.crossEntropyClassWeights = [1.5, 0.4, 1]
            $0.labelSmoothing = 0.1
            $0.reduction = .sum
        },
        OptionSet(name: "CE class weights, soft, smoothing", target: .soft) {
            $0.crossEntropyWeight = 1.1
            $0.crossEntropyClassWeights = [0.7, 1.9, 0.2]
            $0.labelSmoothing = 0.3
        },
        OptionSet(name: "CE pos weights, soft", target: .soft) {
            $0.crossEntropyWeight = 0.6
            $0.crossEntropyClassWeights = [2.5, 0.5, 1]
        },
        OptionSet(name: "empty smooth", emptyClass: true),
        OptionSet(name: "empty penalize", emptyClass: true) { $0.emptyClass = .penalize },
        OptionSet(name: "empty exclude", emptyClass: true) { $0.emptyClass = .exclude },
        OptionSet(name: "empty one", emptyClass: true) { $0.emptyClass = .one },
        OptionSet(name: "empty zero, batch", emptyClass: true) {
            $0.emptyClass = .zero
            $0.batch = true
        },
        OptionSet(name: "valid mask", mask: true),
        OptionSet(name: "valid mask, batch", mask: true) { $0.batch = true },
        OptionSet(name: "channels-first 3-D", channelsFirst3D: true) { $0.layout = .channelsFirst },
        OptionSet(name: "smoothing") {
            $0.smoothNumerator = 0.3
            $0.smoothDenominator = 0.1
        },
        OptionSet(name: "generalized simple") {
            if $0.variant.name == .generalized { $0.variant = .generalized(weighting: .simple) }
        },
        OptionSet(name: "generalized uniform, batch", emptyClass: true) {
            if $0.variant.name == .generalized { $0.variant = .generalized(weighting: .uniform) }
            $0.batch = true
        },
        OptionSet(name: "preset basic") { $0 = $0.seeded(.basic, epsilon: 1e-3) },
        OptionSet(name: "preset weighted", target: .oneHot) { $0 = $0.seeded(.weighted(classWeights: [0.2, 1, 3])) },
        OptionSet(name: "preset multiclass, mask", mask: true) { $0 = $0.seeded(.multiclass) },
    ]

    /// Random inputs for one combination: N = 2, C = 3, spatial 3×4 (or 2×3×2, channels-first).
    static func inputs(_ set: OptionSet, activation: DiceActivation, generator: inout SeededGenerator)
        throws -> (Tensor<Double>, SegmentationTarget<Double>, Tensor<Double>?)
    {
        let (n, c) = (2, 3)
        let spatial = set.channelsFirst3D ? [2, 3, 2] : [3, 4]
        let shape = set.channelsFirst3D ? [n, c] + spatial : [n] + spatial + [c]
        let positions = n * spatial.reduce(1, *)
        let x =
            activation == .none
            ? Tensor<Double>.uniform(shape, lower: 0.05, upper: 0.95, generator: &generator)
            : Tensor<Double>.normal(shape, standardDeviation: 1.5, generator: &generator)
        var labels = (0..<positions).map { _ in Int(generator.next() % 3) }
        if set.emptyClass { labels = labels.map { $0 == 2 ? 0 : $0 } }
        if set.ignore { for i in stride(from: 1, to: positions, by: 5) { labels[i] = 255 } }
        let layout: Layout = set.channelsFirst3D ? .channelsFirst : .channelsLast
        func dense(_ value: (Int, Int) -> Double) throws -> Tensor<Double> {
            var t = Tensor<Double>(shape: [n] + spatial + [c])
            for i in 0..<positions { for k in 0..<c { t.storage[i * c + k] = value(i, k) } }
            return try t.converted(from: .channelsLast, to: layout)
        }
        let target: SegmentationTarget<Double>
        switch set.target {
        case .labels: target = .labels(try LabelMap(shape: [n] + spatial, labels: labels))
        case .oneHot: target = .oneHot(try dense { i, k in labels[i] == k ? 1 : 0 })
        case .soft:
            var raw = (0..<(positions * c)).map { _ in 0.05 + generator.nextUnit() }
            for i in 0..<positions {
                let sum = raw[(i * c)..<(i * c + c)].reduce(0, +)
                for k in 0..<c { raw[i * c + k] /= sum }
            }
            target = .soft(try dense { i, k in raw[i * c + k] })
        }
        let mask = set.mask ? try Tensor<Double>(shape: [n, c], scalars: [1, 0, 1, 1, 1, 0]) : nil
        return (x, target, mask)
    }

    /// Combinations that must be refused with an option error.
    static func isInvalid(_ loss: DiceLoss) -> Bool {
        if loss.crossEntropyWeight > 0 && loss.activation == .none { return true }
        if loss.labelSmoothing != 0 && loss.activation != .softmax { return true }
        if loss.preset == nil && loss.variant.name == .generalized
            && (loss.classWeights != nil || loss.emptyClass != .smooth)
        {
            return true
        }
        return false
    }

    func testFiniteDifferencesEveryCombination() throws {
        var generator = SeededGenerator(seed: 2025)
        var checked = 0
        var refused = 0
        for name in DiceVariant.Name.allCases {
            let variant = DiceVariant(name, alpha: 0.3, beta: 0.7, gamma: 1.5)
            for activation in DiceActivation.allCases {
                for set in Self.optionSets {
                    var loss = DiceLoss(variant: variant, activation: activation)
                    set.configure(&loss)
                    let (x, target, mask) = try Self.inputs(set, activation: activation, generator: &generator)
                    let label = "\(name.rawValue) × \(activation.rawValue) × \(set.name)"
                    if Self.isInvalid(loss) {
                        XCTAssertThrowsError(try loss.evaluate(x, target: target, validMask: mask), label) { error in
                            guard (error as? DiceKitError)?.kind == .option else {
                                return XCTFail("\(label): \(error)")
                            }
                        }
                        refused += 1
                        continue
                    }
                    let result = try loss.evaluate(x, target: target, validMask: mask, gradient: true)
                    XCTAssertTrue(result.loss.scalars.allSatisfy(\.isFinite), label)
                    let numeric = try finiteDifferenceGradient(at: x, step: .relative(1e-6)) {
                        try loss.evaluate($0, target: target, validMask: mask).value
                    }
                    let error = scaledError(result.gradient!, numeric)
                    XCTAssertLessThanOrEqual(error, 1e-6, label)
                    checked += 1
                }
            }
        }
        XCTAssertGreaterThan(checked, 400)
        XCTAssertGreaterThan(refused, 0)
    }

    /// The Float path (C kernels where they apply) agrees with Double on the same combinations.
    func testFloatMatchesDouble() throws {
        var generator = SeededGenerator(seed: 99)
        for activation in DiceActivation.allCases {
            for set in Self.optionSets {
                var loss = DiceLoss(variant: .dice, activation: activation)
                set.configure(&loss)
                if Self.isInvalid(loss) { continue }
                let (x, target, mask) = try Self.inputs(set, activation: activation, generator: &generator)
                let targetF: SegmentationTarget<Float>
                switch target {
                case .labels(let l): targetF = .labels(l)
                case .oneHot(let t): targetF = .oneHot(t.converted(to: Float.self))
                case .soft(let t): targetF = .soft(t.converted(to: Float.self))
                }
                let d = try loss.evaluate(x, target: target, validMask: mask, gradient: true)
                let f = try loss.evaluate(
                    x.converted(to: Float.self), target: targetF, validMask: mask?.converted(to: Float.self),
                    gradient: true)
                XCTAssertLessThanOrEqual(scaledError(f.loss.converted(to: Double.self), d.loss), 1e-5, set.name)
                XCTAssertLessThanOrEqual(
                    scaledError(f.gradient!.converted(to: Double.self), d.gradient!), 1e-5, set.name)
            }
        }
    }
}
