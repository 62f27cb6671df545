// RegionLoss: MONAI's BraTS recipe, nnU-Net's region loss, MONAI's sigmoid focal and Dice + focal
// losses and smp's multilabel Lovász-hinge and MCC (Fixtures/regions,
// Scripts/make_region_fixtures.py), the closed-form gradient with an ignore index against central
// finite differences, the ignored positions' independence, and the errors.

import Foundation
import XCTest

@testable import DiceKit

final class RegionLossTests: XCTestCase {
    private struct Case: Decodable {
        let name: String
        let loss: String
        let regions: String
        let order: String
        let shape: [Int]
        let labels: [Int32]
        let logits: [Double]
        let ignoreIndex: Int?
        let options: [String: Double]
        let value: Double
        let gradient: [Double]
        let nnunetTotal: Double?
        let nnunetCE: Double?

        enum CodingKeys: String, CodingKey {
            case name, loss, regions, order, shape, labels, logits, options, value, gradient
            case ignoreIndex = "ignore_index"
            case nnunetTotal = "nnunet_total"
            case nnunetCE = "nnunet_ce"
        }
    }

    private func fixtures() throws -> [Case] {
        struct File: Decodable { let cases: [Case] }
        return try JSONDecoder().decode(File.self, from: Data(contentsOf: fixtureURL("regions/losses.json"))).cases
    }

    private func loss(_ c: Case) throws -> RegionLoss {
        var dice = DiceLoss()
        dice.squared = c.options["squared"] == 1
        dice.batch = c.options["batch"] == 1
        dice.smoothNumerator = c.options["smooth_nr"] ?? dice.smoothNumerator
        dice.smoothDenominator = c.options["smooth_dr"] ?? dice.smoothDenominator
        dice.crossEntropyWeight = c.options["ce_weight"] ?? 0
        let inner: any RegionObjective
        switch c.loss {
        case "dice": inner = dice
        case "focal": inner = FocalLoss(gamma: c.options["gamma"] ?? FocalLoss.defaultGamma)
        case "dice-focal":
            var loss = DiceFocalLoss(activation: .sigmoid)
            loss.dice.batch = dice.batch
            loss.focalWeight = c.options["focal_weight"] ?? 1
            inner = loss
        case "generalized-dice-focal": inner = GeneralizedDiceFocalLoss(activation: .sigmoid)
        case "lovasz-hinge": inner = LovaszLoss(variant: .hinge, perImage: c.options["per_image"] == 1)
        case "mcc": inner = MCCLoss(activation: .sigmoid)
        default: throw DiceKitError.option("fixture loss \(c.loss)")
        }
        return RegionLoss(
            regions: try LabelRegions(parsing: c.regions, order: c.order), loss: inner, ignoreIndex: c.ignoreIndex)
    }

    func testMatchesMONAIsBraTSRecipeAndNNUNetsRegionLoss() throws {
        let cases = try fixtures()
        XCTAssertEqual(cases.count, 19)
        XCTAssertEqual(
            Set(cases.map(\.loss)), ["dice", "focal", "dice-focal", "generalized-dice-focal", "lovasz-hinge", "mcc"])
        for c in cases {
            let x = try Tensor<Double>(shape: c.shape, scalars: c.logits)
            let labels = try LabelMap(shape: Array(c.shape.dropLast()), int32Labels: c.labels)
            let result = try loss(c).evaluate(x, target: .labels(labels), gradient: true)
            // nnU-Net computes its cross-entropy in Float (it casts the target): 1e-6 there.
            let tolerance = c.name.hasPrefix("nnunet") ? 1e-6 : 1e-10
            XCTAssertEqual(Double(result.value), c.value, accuracy: tolerance, c.name)
            let expected = try Tensor<Double>(shape: c.shape, scalars: c.gradient)
            XCTAssertLessThan(scaledError(result.gradient!, expected), tolerance * 10, c.name)
            if let total = c.nnunetTotal, let ce = c.nnunetCE {
                // nnU-Net's own forward with its ignore channel: the same Dice term; its masked
                // cross-entropy divides by the counted positions, DiceKit's by the elements.
                let regions = Double(c.shape.last!)
                XCTAssertEqual(Double(result.value), total + 1 - ce + ce / regions, accuracy: 1e-6, c.name)
            }
        }
    }

    /// One objective of each kind RegionLoss runs, with the options that change how ignored
    /// positions enter it (a cross-entropy or focal mean, batch Dice, an MCC element count).
    private func objectives() -> [(String, any RegionObjective)] {
        var diceCE = DiceLoss()
        diceCE.crossEntropyWeight = 1
        var tversky = DiceLoss(variant: .tversky())
        tversky.crossEntropyWeight = 0.5
        tversky.batch = true
        var diceFocal = DiceFocalLoss(activation: .sigmoid, gamma: 1.5)
        diceFocal.focalWeight = 0.25
        var summed = diceCE
        summed.reduction = .sum
        return [
            ("dice + BCE", diceCE), ("tversky + BCE, batch", tversky), ("jaccard", DiceLoss(variant: .jaccard)),
            ("dice + BCE, sum", summed), ("focal", FocalLoss()), ("dice + focal", diceFocal),
            ("generalized dice + focal", GeneralizedDiceFocalLoss(activation: .sigmoid, batch: true)),
            ("mcc", MCCLoss(activation: .sigmoid)),
        ]
    }

    func testGradientWithIgnoredPositionsMatchesFiniteDifferences() throws {
        let regions = try LabelRegions(parsing: "1,2,3;2,3;3")
        var generator = SeededGenerator(seed: 5)
        let shape = [2, 3, 4, 3]
        let labels = try LabelMap(
            shape: [2, 3, 4], int32Labels: (0..<24).map { _ in [0, 1, 2, 3, 255][Int(generator.next() % 5)] })
        let x = try Tensor<Double>(shape: shape, scalars: (0..<72).map { _ in 4 * generator.nextUnit() - 2 })
        // (Lovász-hinge is piecewise linear: its gradient is checked on the goldens.)
        for (name, objective) in objectives() {
            let loss = RegionLoss(regions: regions, loss: objective, ignoreIndex: 255)
            let analytic = try loss.evaluate(x, target: .labels(labels), gradient: true).gradient
            try assertGradient(analytic, at: x, bound: 1e-7, name) {
                Double(try loss.evaluate($0, target: .labels(labels), gradient: false).value)
            }
        }
    }

    func testIgnoredPositionsChangeNeitherTheValueNorTheOtherGradients() throws {
        let labels = try LabelMap(shape: [1, 2, 3], int32Labels: [0, 1, 7, 2, 7, 1])
        let kept = [0, 1, 3, 5]
        let keptLabels = try LabelMap(shape: [1, 4], int32Labels: kept.map { labels.storage[$0] })
        for (name, objective) in objectives() + [("lovasz-hinge", LovaszLoss(variant: .hinge))] {
            let loss = RegionLoss(regions: try LabelRegions(parsing: "1,2;2"), loss: objective, ignoreIndex: 7)
            var x = try Tensor<Double>(shape: [1, 2, 3, 2], scalars: (0..<12).map { Double($0) / 3 - 2 })
            let before = try loss.evaluate(x, target: .labels(labels), gradient: true)
            x.scalars[4] = 40
            x.scalars[9] = -3
            let after = try loss.evaluate(x, target: .labels(labels), gradient: true)
            XCTAssertEqual(before.value, after.value, name)
            XCTAssertEqual(before.gradient!.scalars, after.gradient!.scalars, name)
            XCTAssertEqual([4, 5, 8, 9].map { after.gradient!.scalars[$0] }, [0, 0, 0, 0], name)
            // Without the ignored positions the loss is the one of the counted positions alone.
            let alone = try loss.evaluate(
                try Tensor<Double>(
                    shape: [1, 4, 2], scalars: kept.flatMap { [x.scalars[2 * $0], x.scalars[2 * $0 + 1]] }),
                target: .labels(keptLabels), gradient: true)
            XCTAssertEqual(Double(after.value), Double(alone.value), accuracy: 1e-12, name)
            let keptGradient = kept.flatMap { [after.gradient!.scalars[2 * $0], after.gradient!.scalars[2 * $0 + 1]] }
            XCTAssertLessThan(
                zip(keptGradient, alone.gradient!.scalars).map { abs($0 - $1) }.max()!, 1e-12, name)
        }
    }

    func testRefusesWhatItCannotScore() throws {
        let loss = RegionLoss(regions: try LabelRegions(parsing: "1,2;2"), loss: DiceLoss(), ignoreIndex: 9)
        let x = Tensor<Float>(shape: [1, 2, 2, 2])
        let labels = try LabelMap(shape: [1, 2, 2], int32Labels: [0, 1, 2, 3])
        XCTAssertEqual(
            lossErrorMessage(loss, x, .labels(labels)),
            "value error: region loss: label 3 at element 3; expected 0..<3 (the labels of regions 1,2;2) or the ignore index 9"
        )
        XCTAssertEqual(
            lossErrorMessage(loss, Tensor<Float>(shape: [1, 2, 2, 3]), .labels(labels)),
            "shape error: region loss: prediction of shape [1, 2, 2, 3]; expected [N, spatial…, 2] (one channel per region)"
        )
        XCTAssertEqual(
            lossErrorMessage(loss, x, .oneHot(x)), "option error: region loss takes label maps; got a dense target")
        var none = DiceLoss()
        none.reduction = .none
        XCTAssertEqual(
            lossErrorMessage(
                RegionLoss(regions: loss.regions, loss: none, ignoreIndex: 9), x,
                .labels(try LabelMap(shape: [1, 2, 2], int32Labels: [0, 1, 2, 9]))),
            "option error: region loss (dice) with an ignore index and reduction none; expected reduction mean or sum")
        var summedFocal = FocalLoss()
        summedFocal.reduction = .sum
        XCTAssertEqual(
            lossErrorMessage(
                RegionLoss(
                    regions: loss.regions, loss: DiceFocalLoss(dice: DiceLoss(), focal: summedFocal), ignoreIndex: 9),
                x, .labels(try LabelMap(shape: [1, 2, 2], int32Labels: [0, 1, 2, 9]))),
            "option error: region loss (focal) with an ignore index and reduction sum (a sum of each image's spatial means); expected reduction mean"
        )
        XCTAssertEqual(
            lossErrorMessage(
                RegionLoss(regions: loss.regions, loss: LovaszLoss()), x,
                .labels(try LabelMap(shape: [1, 2, 2], int32Labels: [0, 1, 2, 0]))),
            "option error: region loss with lovasz-softmax (a softmax over exclusive classes); expected lovasz-hinge")
    }
}
