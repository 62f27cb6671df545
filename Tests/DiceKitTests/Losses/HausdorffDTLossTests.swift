// HausdorffDTLoss against MONAI 1.6's HausdorffDTLoss / LogHausdorffDTLoss (within 5e-7 in Double:
// MONAI rounds its distance fields to float32) and, for voxel spacing, the same formula with
// scipy's sampled distance transform in float64 (1e-10); goldens made by
// Scripts/make_hausdorff_fixtures.py; its gradient against central differences in Double; the
// distance field against a brute-force search; one-line errors.

import Foundation
import XCTest

@testable import DiceKit

final class HausdorffDTLossTests: XCTestCase {
    private struct Case {
        let name: String
        let options: [String: Any]
        /// MONAI's cases carry its float32 distance fields (the manifest's "reason").
        let doubleTolerance: Double?
    }

    private func cases() throws -> [Case] {
        let data = try Data(contentsOf: fixtureURL("hausdorff/cases.json"))
        let list = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        return list.map {
            Case(
                name: $0["name"] as! String, options: $0["options"] as! [String: Any],
                doubleTolerance: $0["doubleTolerance"] as? Double)
        }
    }

    private func loss(_ o: [String: Any]) -> HausdorffDTLoss {
        var loss = HausdorffDTLoss(activation: DiceActivation(rawValue: o["activation"] as! String)!)
        loss.layout = Layout(rawValue: o["layout"] as! String)!
        loss.alpha = o["alpha"] as! Double
        loss.excludeBackground = o["excludeBackground"] as! Bool
        loss.batch = o["batch"] as! Bool
        loss.reduction = LossReduction(rawValue: o["reduction"] as! String)!
        loss.logarithmic = o["logarithmic"] as! Bool
        loss.spacing = o["spacing"] as? [Double]
        return loss
    }

    private func tensor<T: BLASScalar>(_ file: String) throws -> Tensor<T> {
        try NPY.read(contentsOf: fixtureURL("hausdorff/" + file).path).tensor(of: T.self)
    }

    private func check<T: BLASScalar>(_: T.Type, tolerance: Double) throws {
        let all = try cases()
        XCTAssertEqual(all.count, 10)
        for c in all {
            let base = loss(c.options)
            let tolerance = T.self == Double.self ? max(tolerance, c.doubleTolerance ?? 0) : tolerance
            for swap in [false, true] {
                var loss = base
                let from = base.layout
                let to: Layout = swap ? (from == .channelsLast ? .channelsFirst : .channelsLast) : from
                loss.layout = to
                let change: (Tensor<T>) throws -> Tensor<T> = { try $0.converted(from: from, to: to) }
                let x = try change(tensor("\(c.name)_pred.npy"))
                let target: SegmentationTarget<T>
                if c.options["target"] as! String == "labels" {
                    let array = try NPY.read(contentsOf: fixtureURL("hausdorff/\(c.name)_target.npy").path)
                    target = .labels(try LabelMap(shape: array.shape, labels: array.integers()))
                } else {
                    target = .oneHot(try change(tensor("\(c.name)_target.npy")))
                }
                let result = try loss.evaluate(x, target: target, gradient: true)
                let expected: Tensor<T> = try tensor("\(c.name)_loss.npy")
                let what = "\(c.name) [\(T.self), \(to.rawValue)]"
                XCTAssertEqual(result.loss.shape, expected.shape, what)
                XCTAssertLessThanOrEqual(
                    scaledError(result.loss, expected), tolerance,
                    "\(what): \(result.loss.scalars) vs \(expected.scalars)")
                XCTAssertLessThanOrEqual(
                    scaledError(result.gradient!, try change(tensor("\(c.name)_grad.npy"))), tolerance, what)
            }
        }
    }

    func testGoldensDouble() throws { try check(Double.self, tolerance: 1e-10) }
    func testGoldensFloat() throws { try check(Float.self, tolerance: 1e-5) }

    /// Central differences in Double for every activation × option set (the distance fields are
    /// constants of the step: a step of 1e-6 moves no probability across 0.5 here).
    func testGradientMatchesFiniteDifferences() throws {
        var generator = SeededGenerator(seed: 5)
        let labels = try LabelMap(
            shape: [2, 7, 6], labels: (0..<84).map { i in (i % 42) / 14 == 1 ? 1 : ((i % 6) > 3 ? 2 : 0) })
        let options: [(String, (inout HausdorffDTLoss) -> Void)] = [
            ("default", { _ in }),
            (
                "background, sum",
                {
                    $0.excludeBackground = false
                    $0.reduction = .sum
                }
            ),
            (
                "alpha 1.5, batch",
                {
                    $0.alpha = 1.5
                    $0.batch = true
                }
            ),
            (
                "log, none",
                {
                    $0.logarithmic = true
                    $0.reduction = .none
                }
            ),
            (
                "log, spacing",
                {
                    $0.logarithmic = true
                    $0.spacing = [2, 0.5]
                }
            ),
        ]
        for activation in [DiceActivation.softmax, .sigmoid, .none] {
            let x =
                activation == .none
                ? Tensor<Double>.uniform([2, 7, 6, 3], lower: 0.05, upper: 0.95, generator: &generator)
                : Tensor<Double>.normal([2, 7, 6, 3], standardDeviation: 2, generator: &generator)
            for (name, configure) in options {
                var loss = HausdorffDTLoss(activation: activation)
                configure(&loss)
                let result = try loss.evaluate(x, target: .labels(labels), gradient: true)
                try assertGradient(result.gradient, at: x, step: 1e-6, "\(activation) \(name)") {
                    Double(try loss.evaluate($0, target: .labels(labels), gradient: false).value)
                }
            }
        }
    }

    /// The distance field: for every position, the distance to the nearest position of the other
    /// kind (brute force, with spacing), D^α; D = 0 (D^0 = 1) for an empty or full mask.
    func testFieldAgainstBruteForce() throws {
        var generator = SeededGenerator(seed: 6)
        let shape = [5, 7, 4]
        let spacing = [1.5, 1, 0.75]
        let mask = (0..<140).map { _ in generator.nextUnit() < 0.3 }
        let field = HausdorffDTLoss.field(mask, shape, spacing, 1.5)
        for q in 0..<140 {
            let a = gridCoordinates(q, shape: shape)
            var best = Double.infinity
            for r in 0..<140 where mask[r] != mask[q] {
                let b = gridCoordinates(r, shape: shape)
                best = min(best, (0..<3).reduce(0) { $0 + pow(spacing[$1] * Double(a[$1] - b[$1]), 2) })
            }
            XCTAssertEqual(field[q], pow(best.squareRoot(), 1.5), accuracy: 1e-12, "position \(q)")
        }
        XCTAssertEqual(
            HausdorffDTLoss.field([Bool](repeating: true, count: 8), [8], [1], 2), [Double](repeating: 0, count: 8))
        XCTAssertEqual(
            HausdorffDTLoss.field([Bool](repeating: false, count: 8), [8], [1], 0), [Double](repeating: 1, count: 8))
    }

    func testErrorsAreOneLine() throws {
        var generator = SeededGenerator(seed: 7)
        let x = Tensor<Float>.normal([2, 6, 6, 3], generator: &generator)
        let labels = try LabelMap(shape: [2, 6, 6], labels: (0..<72).map { $0 % 3 })
        var loss = HausdorffDTLoss(activation: .softmax)
        loss.alpha = -1
        assertError(try loss.evaluate(x, target: .labels(labels), gradient: false), contains: "alpha is -1.0")
        loss.alpha = 2
        loss.spacing = [1]
        assertError(
            try loss.evaluate(x, target: .labels(labels), gradient: false),
            contains: "spacing has 1 values [1.0]; expected 2")
        loss.spacing = [1, 0]
        assertError(try loss.evaluate(x, target: .labels(labels), gradient: false), contains: "spacing 0.0")
        loss.spacing = nil
        let flat = Tensor<Float>.normal([2, 36, 3], generator: &generator)
        assertError(
            try loss.evaluate(
                flat, target: .labels(LabelMap(shape: [2, 36], labels: (0..<72).map { $0 % 3 })), gradient: false),
            contains: "expected 2-D or 3-D images")
        var bad = x
        bad.storage[4] = .nan
        assertError(
            try loss.evaluate(bad, target: .labels(labels), gradient: false), contains: "prediction element 4 is nan")
        let one = Tensor<Float>.normal([2, 6, 6, 1], generator: &generator)
        assertError(
            try loss.evaluate(
                one, target: .labels(LabelMap(shape: [2, 6, 6], labels: (0..<72).map { $0 % 2 })), gradient: false),
            contains: "softmax over a single channel")
        assertError(
            try loss.evaluate(
                x, target: .labels(LabelMap(shape: [2, 6, 6], labels: (0..<72).map { $0 % 4 })), gradient: false),
            contains: "label 3")
    }
}
