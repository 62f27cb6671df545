// DeepSupervisionLoss against MONAI 1.6's DeepSupervisionLoss (goldens from
// Scripts/make_deep_supervision_fixtures.py: DiceLoss softmax/sigmoid and FocalLoss, weight modes
// same/exp/two and explicit weights, 2-D and 3-D, non-integer size ratios), in Double (1e-9) and
// Float (2e-4, against MONAI's own float32 forward), in channels-first and channels-last; its
// gradient against central finite differences in Double; PyTorch's nearest-exact indices; and
// the errors of bad input.

import Foundation
import XCTest

@testable import DiceKit

final class DeepSupervisionLossTests: XCTestCase {
    private func load<T: BLASScalar>(_ file: String) throws -> Tensor<T> {
        try NPY.read(contentsOf: fixtureURL("deep_supervision/" + file).path).tensor(of: T.self)
    }

    /// The wrapped loss of a manifest entry.
    private func wrapped(_ o: [String: Any], layout: Layout) -> any SegmentationLoss {
        if o["loss"] as! String == "dice" {
            return DiceLoss(
                variant: .dice, activation: DiceActivation(rawValue: o["activation"] as! String)!, layout: layout)
        }
        return makeSegmentationLoss(o, layout: layout)
    }

    private func check<T: BLASScalar>(_ type: T.Type, tolerance: Double) throws {
        let data = try Data(contentsOf: fixtureURL("deep_supervision/cases.json"))
        let cases = try JSONSerialization.jsonObject(with: data) as! [[String: Any]]
        XCTAssertEqual(cases.count, 8)
        var modes = Set<String>()
        for c in cases {
            let name = c["name"] as! String
            let options = c["options"] as! [String: Any]
            let levels = c["levels"] as! Int
            let weighting: DeepSupervisionWeighting
            switch options["weighting"] as! String {
            case "explicit": weighting = .explicit(options["weights"] as! [Double])
            case let mode: weighting = try DeepSupervisionWeighting(name: mode)
            }
            modes.insert(options["weighting"] as! String)
            XCTAssertEqual(try weighting.weights(levels: levels), c["weights"] as! [Double], name)
            for layout in [Layout.channelsFirst, .channelsLast] {
                let change: (Tensor<T>) throws -> Tensor<T> = { try $0.converted(from: .channelsFirst, to: layout) }
                let predictions = try (0..<levels).map { try change(load("\(name)_pred\($0).npy")) }
                let stored: Tensor<T> = try load("\(name)_target.npy")
                let target: SegmentationTarget<T>
                if options["target"] as! String == "labels" {
                    // MONAI's [N, 1, spatial…] labels; DiceKit takes [N, spatial…] (or the channel axis).
                    var shape = stored.shape
                    shape.remove(at: 1)
                    target = .labels(try LabelMap(try stored.reshaped(to: shape)))
                } else {
                    target = .oneHot(try change(stored))
                }
                let loss = DeepSupervisionLoss(
                    loss: wrapped(options, layout: layout), weighting: weighting, layout: layout)
                let result = try loss.evaluate(predictions, target: target, gradient: true)
                let label = "\(name) [\(T.self), \(layout.rawValue)]"
                let expected: Tensor<T> = try load("\(name)_loss\(T.self == Float.self ? "32" : "64").npy")
                XCTAssertLessThanOrEqual(
                    abs(Double(result.value) - Double(expected.scalars[0])) / max(1, abs(Double(expected.scalars[0]))),
                    tolerance, "loss \(label): \(result.value) vs \(expected.scalars[0])")
                XCTAssertEqual(result.gradients?.count, levels, label)
                for l in 0..<levels {
                    let expectedGrad = try change(load("\(name)_grad\(l).npy"))
                    XCTAssertLessThanOrEqual(
                        scaledError(result.gradients![l], expectedGrad), tolerance, "gradient \(l) \(label)")
                }
            }
        }
        XCTAssertEqual(modes, ["same", "exp", "two", "explicit"])
    }

    func testGoldensDouble() throws { try check(Double.self, tolerance: 1e-9) }
    func testGoldensFloat() throws { try check(Float.self, tolerance: 2e-4) }

    func testWeightsOfEachMode() throws {
        XCTAssertEqual(try DeepSupervisionWeighting.same.weights(levels: 3), [1, 1, 1])
        XCTAssertEqual(try DeepSupervisionWeighting.exp.weights(levels: 6), [1, 0.5, 0.25, 0.125, 0.0625, 0.0625])
        XCTAssertEqual(try DeepSupervisionWeighting.two.weights(levels: 4), [1, 0.5, 0.5, 0.5])
        XCTAssertEqual(try DeepSupervisionWeighting.explicit([3, 2, 1]).weights(levels: 2), [3, 2])
        XCTAssertEqual(try DeepSupervisionWeighting(name: "0.5,0.25"), .explicit([0.5, 0.25]))
        XCTAssertThrowsError(try DeepSupervisionWeighting.explicit([1]).weights(levels: 2))
        for bad in ["linear", "", "1,,2", "1,nan", "-1,1", "inf"] {
            XCTAssertThrowsError(try DeepSupervisionWeighting(name: bad), bad) { error in
                XCTAssertTrue("\(error)".contains("same, exp, two"), "\(error)")
            }
        }
    }

    /// Indices PyTorch 2.15's F.interpolate(mode="nearest-exact") gives for float32 tensors.
    func testNearestExactIndicesArePyTorchs() {
        XCTAssertEqual(nearestExactSourceIndices(input: 8, output: 4), [1, 3, 5, 7])
        XCTAssertEqual(nearestExactSourceIndices(input: 7, output: 3), [1, 3, 5])
        XCTAssertEqual(nearestExactSourceIndices(input: 2, output: 5), [0, 0, 1, 1, 1])
        XCTAssertEqual(
            nearestExactSourceIndices(input: 6, output: 37),
            [
                0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5,
                5, 5,
            ])
        let labels = try! LabelMap(shape: [1, 4, 4], labels: Array(0..<16))
        let half = try! labels.resampledNearestExact(toSpatial: [2, 2], predictionRank: 4, layout: .channelsLast)
        XCTAssertEqual(half.shape, [1, 2, 2])
        XCTAssertEqual(half.labels, [5, 7, 13, 15])
    }

    func testGradientMatchesFiniteDifferences() throws {
        var generator = SeededGenerator(seed: 13)
        let shapes = [[2, 8, 6, 3], [2, 4, 3, 3], [2, 2, 2, 3]]
        let predictions = shapes.map { Tensor<Double>.normal($0, standardDeviation: 2, generator: &generator) }
        let labels = try LabelMap(shape: [2, 8, 6], labels: (0..<96).map { _ in Int(generator.next() % 3) })
        for weighting in [DeepSupervisionWeighting.exp, .same, .two, .explicit([0.3, 1.7, 0.9])] {
            var dice = DiceLoss(variant: .dice, activation: .softmax)
            dice.crossEntropyWeight = 0.5
            let loss = DeepSupervisionLoss(loss: dice, weighting: weighting)
            let result = try loss.evaluate(predictions, target: .labels(labels), gradient: true)
            for l in 0..<shapes.count {
                try assertGradient(result.gradients?[l], at: predictions[l], "level \(l), \(weighting)") { x in
                    var probe = predictions
                    probe[l] = x
                    return Double(try loss.evaluate(probe, target: .labels(labels), gradient: false).value)
                }
            }
        }
    }

    func testBadInputIsAnError() throws {
        let loss = DeepSupervisionLoss(loss: DiceLoss(activation: .softmax))
        let labels = try LabelMap(shape: [1, 4, 4], labels: Array(repeating: 1, count: 16))
        let full = Tensor<Float>(shape: [1, 4, 4, 2])
        XCTAssertThrowsError(try loss.evaluate([Tensor<Float>](), target: .labels(labels), gradient: true)) {
            XCTAssertTrue("\($0)".contains("no prediction"), "\($0)")
        }
        XCTAssertThrowsError(
            try loss.evaluate([full, Tensor<Float>(shape: [1, 2, 2, 2, 2])], target: .labels(labels), gradient: true)
        ) { XCTAssertTrue("\($0)".contains("prediction 1"), "\($0)") }
        XCTAssertThrowsError(
            try loss.evaluate([full, Tensor<Float>(shape: [1, 0, 2, 2])], target: .labels(labels), gradient: true))
        let few = DeepSupervisionLoss(loss: DiceLoss(activation: .softmax), weighting: .explicit([1]))
        XCTAssertThrowsError(
            try few.evaluate([full, Tensor<Float>(shape: [1, 2, 2, 2])], target: .labels(labels), gradient: true)
        ) { XCTAssertTrue("\($0)".contains("2 finite weights"), "\($0)") }
        let badLabels = try LabelMap(shape: [1, 4, 4], labels: Array(repeating: 5, count: 16))
        XCTAssertThrowsError(try loss.evaluate([full], target: .labels(badLabels), gradient: true))
        let badShape = try LabelMap(shape: [4, 4], labels: Array(repeating: 0, count: 16))
        XCTAssertThrowsError(
            try loss.evaluate([full, Tensor<Float>(shape: [1, 2, 2, 2])], target: .labels(badShape), gradient: true))
    }
}
