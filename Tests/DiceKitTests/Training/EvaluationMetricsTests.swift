// Validation Dice, IoU and loss against MONAI on the same predictions (Fixtures/metrics, made by
// Scripts/make_verification_fixtures.py): a U-Net checkpoint whose logits equal its input (so the
// arg-max prediction is fixed by the images, with a margin of 0.3) on seven 16×16 images in
// which class 1 or 2 is absent from some. The references are MONAI DiceMetric and MeanIoU
// (include_background=True, ignore_empty=True, reduction="mean_batch") and, per batch size, the
// mean over batches of MONAI DiceLoss and DiceCELoss (softmax=True, to_onehot_y=True), the
// objectives `--loss dice` and the default `--loss dice-ce`. Batch sizes 1, 3, 4 and 7
// (3 and 4 do not divide 7) exercise the per-batch aggregation by class.

import XCTest

@testable import DiceKit

/// The MONAI references of Fixtures/metrics/metrics.json.
struct MetricsGolden {
    let dice: [Double], iou: [Double]
    /// Mean over batches of the batch's loss, by batch size: MONAI DiceLoss and DiceCELoss.
    let diceLoss: [Int: Double], diceCELoss: [Int: Double]

    init() throws {
        let json =
            try JSONSerialization.jsonObject(with: Data(contentsOf: fixtureURL("metrics/metrics.json")))
            as! [String: Any]
        dice = json["dice"] as! [Double]
        iou = json["iou"] as! [Double]
        func byBatchSize(_ key: String) -> [Int: Double] {
            Dictionary(uniqueKeysWithValues: (json[key] as! [String: Double]).map { (Int($0.key)!, $0.value) })
        }
        diceLoss = byBatchSize("loss")
        diceCELoss = byBatchSize("loss_dice_ce")
    }
}

final class EvaluationMetricsTests: XCTestCase {
    func testFixedModelIsTheIdentity() throws {
        let model = try UNet<Float>.load(contentsOf: fixtureURL("metrics/weights.safetensors").path)
        let data = try SegmentationDataset.load(from: fixtureURL("metrics").path, classes: 3)
        XCTAssertEqual(try model.forward(data.images, mode: .evaluation), data.images)
    }

    func testEvaluateMatchesMONAIForEveryBatchSize() throws {
        let golden = try MetricsGolden()
        let data = try SegmentationDataset.load(from: fixtureURL("metrics").path, classes: 3)
        XCTAssertEqual(data.count, 7)
        let model = try UNet<Float>.load(contentsOf: fixtureURL("metrics/weights.safetensors").path)
        var diceOnly = TrainingConfiguration()
        diceOnly.loss = .dice
        let trainers = [
            (try Trainer(model: model, configuration: TrainingConfiguration()), golden.diceCELoss),
            (try Trainer(model: model, configuration: diceOnly), golden.diceLoss),
        ]
        for (trainer, expectedLoss) in trainers {
            for batchSize in [1, 3, 4, 7] {
                let scores = try trainer.evaluate(data, batchSize: batchSize)
                let what = "\(trainer.configuration.loss), batch \(batchSize)"
                // Dice and IoU are ratios of integer counts: Float vs Double rounding only.
                for c in 0..<3 {
                    XCTAssertEqual(scores.dice[c], golden.dice[c], accuracy: 1e-6, "dice class \(c), \(what)")
                    XCTAssertEqual(scores.iou[c], golden.iou[c], accuracy: 1e-6, "IoU class \(c), \(what)")
                }
                // The loss in Float against MONAI in Double: observed ≤ 1e-7.
                XCTAssertEqual(scores.loss, expectedLoss[batchSize]!, accuracy: 1e-6, "loss, \(what)")
            }
        }
    }
}
