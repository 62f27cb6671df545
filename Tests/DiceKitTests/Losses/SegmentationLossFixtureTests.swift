// Goldens from MONAI 1.6 (FocalLoss, DiceFocalLoss, GeneralizedWassersteinDiceLoss) and
// segmentation_models_pytorch 0.6 (FocalLoss normalized/reduced, LovaszLoss, MCCLoss), with and
// without an ignore index (MONAI's losses and smp's MCC on the labelled positions alone), made by
// Scripts/make_segmentation_loss_fixtures.py (see its header for the producing code). Each case
// runs in Double (1e-9, relative to the tensor's scale) and Float (2e-4), in the case's own
// layout (channels-first) and converted to channels-last.

import Foundation
import XCTest

@testable import DiceKit

/// The loss a manifest entry describes, in `layout`.
func makeSegmentationLoss(_ o: [String: Any], layout: Layout) -> any SegmentationLoss {
    let activation = (o["activation"] as? String).map { DiceActivation(rawValue: $0)! }
    let reduction = (o["reduction"] as? String).map { LossReduction(rawValue: $0)! } ?? .mean
    switch o["loss"] as! String {
    case "focal":
        var loss = FocalLoss(
            activation: activation ?? .sigmoid, gamma: o["gamma"] as? Double ?? 2, alpha: o["alpha"] as? Double,
            layout: layout)
        loss.classWeights = o["classWeights"] as? [Double]
        loss.excludeBackground = o["excludeBackground"] as? Bool ?? false
        loss.reduction = reduction
        loss.normalized = o["normalized"] as? Bool ?? false
        loss.reducedThreshold = o["reducedThreshold"] as? Double
        loss.ignoreIndex = o["ignoreIndex"] as? Int
        return loss
    case "dice-focal":
        var loss = DiceFocalLoss(
            activation: activation!, gamma: o["gamma"] as? Double ?? 2, alpha: o["alpha"] as? Double,
            classWeights: o["classWeights"] as? [Double], excludeBackground: o["excludeBackground"] as? Bool ?? false,
            reduction: reduction, layout: layout)
        loss.diceWeight = o["diceWeight"] as? Double ?? 1
        loss.focalWeight = o["focalWeight"] as? Double ?? 1
        return loss
    case "lovasz-softmax", "lovasz-hinge":
        var loss = LovaszLoss(
            variant: LovaszVariant(rawValue: o["loss"] as! String)!, perImage: o["perImage"] as? Bool ?? false,
            layout: layout)
        loss.ignoreIndex = o["ignoreIndex"] as? Int
        return loss
    case "wasserstein":
        var loss = WassersteinDiceLoss(
            distanceMatrix: o["distanceMatrix"] as! [Double],
            weighting: WassersteinWeighting(rawValue: o["weighting"] as! String)!, layout: layout)
        loss.reduction = reduction
        loss.ignoreIndex = o["ignoreIndex"] as? Int
        return loss
    case "mcc":
        var loss = MCCLoss(activation: activation ?? .none, layout: layout)
        loss.ignoreIndex = o["ignoreIndex"] as? Int
        return loss
    default:
        fatalError("unknown loss \(o["loss"]!)")
    }
}

/// Checks every case of a golden folder (`cases.json` + `<name>_pred/_target/_loss/_grad.npy`,
/// channels-first) in both layouts: the loss and its gradient within `tolerance` of the
/// reference's, relative to their largest value; `make` builds the loss from a case's options.
func checkLossGoldens<T: BLASScalar>(
    _ type: T.Type, folder: String, cases count: Int, losses: Set<String>, tolerance: Double,
    make: ([String: Any], Layout) -> any SegmentationLoss, file: StaticString = #filePath, line: UInt = #line
) throws {
    func load(_ name: String) throws -> Tensor<T> {
        try NPY.read(contentsOf: fixtureURL("\(folder)/\(name)").path).tensor(of: T.self)
    }
    let data = try Data(contentsOf: fixtureURL("\(folder)/cases.json"))
    let cases = try JSONSerialization.jsonObject(with: data) as! [[String: Any]]
    XCTAssertEqual(cases.count, count, file: file, line: line)
    var seen = Set<String>()
    for c in cases {
        let name = c["name"] as! String
        let options = c["options"] as! [String: Any]
        seen.insert(options["loss"] as! String)
        for layout in [Layout.channelsFirst, .channelsLast] {
            let change: (Tensor<T>) throws -> Tensor<T> = { try $0.converted(from: .channelsFirst, to: layout) }
            let x = try change(load("\(name)_pred.npy"))
            let target: SegmentationTarget<T>
            switch options["target"] as! String {
            case "labels":
                let array = try NPY.read(contentsOf: fixtureURL("\(folder)/\(name)_target.npy").path)
                target = .labels(try LabelMap(shape: array.shape, labels: array.integers()))
            case "soft": target = .soft(try change(load("\(name)_target.npy")))
            default: target = .oneHot(try change(load("\(name)_target.npy")))
            }
            // Per-element losses ([N, C, spatial…]) follow the layout; scalars and [N] do not.
            var expectedLoss = try load("\(name)_loss.npy")
            if expectedLoss.rank >= 4 { expectedLoss = try change(expectedLoss) }
            let expectedGrad = try change(load("\(name)_grad.npy"))
            let result = try make(options, layout).evaluate(x, target: target, gradient: true)
            let label = "\(name) [\(c["source"]!), \(T.self), \(layout.rawValue)]"
            XCTAssertEqual(result.loss.shape, expectedLoss.shape, label, file: file, line: line)
            if result.loss.shape == expectedLoss.shape {
                XCTAssertLessThanOrEqual(
                    scaledError(result.loss, expectedLoss), tolerance,
                    "loss \(label): \(result.loss.scalars.prefix(4)) vs \(expectedLoss.scalars.prefix(4))",
                    file: file, line: line)
            }
            XCTAssertLessThanOrEqual(
                scaledError(result.gradient!, expectedGrad), tolerance, "gradient \(label)", file: file, line: line)
        }
    }
    XCTAssertEqual(seen, losses, file: file, line: line)
}

final class SegmentationLossFixtureTests: XCTestCase {
    func check<T: BLASScalar>(_ type: T.Type, tolerance: Double) throws {
        try checkLossGoldens(
            T.self, folder: "segmentation_losses", cases: 30,
            losses: ["focal", "dice-focal", "lovasz-softmax", "lovasz-hinge", "wasserstein", "mcc"],
            tolerance: tolerance, make: makeSegmentationLoss)
    }

    func testGoldensDouble() throws { try check(Double.self, tolerance: 1e-9) }
    func testGoldensFloat() throws { try check(Float.self, tolerance: 2e-4) }
}
