// Focal, Lovász, clDice, Hausdorff DT, Dice + cross-entropy (plain, and with class weights and
// label smoothing) and the BraTS region losses (Dice, Dice + BCE, Dice + focal, Lovász-hinge)
// forward+backward through the public API on 8×4×256² (8×3×256² for the regions; label targets,
// channels-last),
// under the same keys as Scripts/bench_loss_family.py prints for MONAI's `FocalLoss`,
// `SoftclDiceLoss`, `SoftDiceclDiceLoss`, `DiceCELoss`, `HausdorffDTLoss` and smp's `LovaszLoss`, so that
// `--against REF.json` compares them key by key.

import DiceKit

/// `labels`: the label count of the targets (default: `channels`, or 2 when `binary`).
func familyBenchmark(
    key: String, loss: any SegmentationLoss, channels: Int = 4, binary: Bool = false, labels: Int? = nil
) -> Benchmark {
    Benchmark(key: key) { context in
        var generator = SeededGenerator(seed: 42)
        let logits = Tensor<Float>.normal([8, 256, 256, channels], generator: &generator)
        let positions = 8 * 256 * 256
        let classes = labels ?? (binary ? 2 : channels)
        let labels = try LabelMap(
            shape: [8, 256, 256], labels: (0..<positions).map { _ in Int(generator.next() % UInt64(classes)) })
        var sink: Float = 0
        let seconds = try context.time(warmup: 2, repetitions: 10) {
            let result = try loss.evaluate(logits, target: .labels(labels), gradient: true)
            sink += result.value + result.gradient!.scalars[0]
        }
        precondition(sink.isFinite, "non-finite \(key) result")
        return [Metric(key: key + "_ms", value: seconds * 1e3, unit: "ms")]
    }
}

let lossFamilyBenchmarks: [Benchmark] = [
    familyBenchmark(key: "focal_sigmoid_n8_c4_256x256", loss: FocalLoss(activation: .sigmoid)),
    familyBenchmark(key: "focal_softmax_n8_c4_256x256", loss: FocalLoss(activation: .softmax)),
    familyBenchmark(key: "lovasz_softmax_n8_c4_256x256", loss: LovaszLoss(variant: .softmax)),
    familyBenchmark(key: "lovasz_softmax_per_image_n8_c4_256x256", loss: LovaszLoss(variant: .softmax, perImage: true)),
    familyBenchmark(key: "lovasz_hinge_n8_c1_256x256", loss: LovaszLoss(variant: .hinge), channels: 1, binary: true),
    familyBenchmark(key: "cldice_softmax_n8_c4_256x256", loss: ClDiceLoss(activation: .softmax)),
    familyBenchmark(key: "cldice_dice_softmax_n8_c4_256x256", loss: DiceClDiceLoss(activation: .softmax)),
    familyBenchmark(key: "dice_ce_softmax_n8_c4_256x256", loss: diceCE(weighted: false)),
    familyBenchmark(key: "dice_ce_weighted_smoothed_softmax_n8_c4_256x256", loss: diceCE(weighted: true)),
    familyBenchmark(key: "hausdorff_dt_softmax_n8_c4_256x256", loss: HausdorffDTLoss(activation: .softmax)),
    familyBenchmark(key: "region_dice_n8_r3_256x256", loss: bratsRegions(crossEntropy: false), channels: 3, labels: 4),
    familyBenchmark(
        key: "region_dice_ce_n8_r3_256x256", loss: bratsRegions(crossEntropy: true), channels: 3, labels: 4),
    familyBenchmark(
        key: "region_dice_focal_n8_r3_256x256",
        loss: RegionLoss(regions: try! LabelRegions(parsing: "1,2,3;2,3;3"), loss: DiceFocalLoss(activation: .sigmoid)),
        channels: 3, labels: 4),
    familyBenchmark(
        key: "region_lovasz_hinge_n8_r3_256x256",
        loss: RegionLoss(regions: try! LabelRegions(parsing: "1,2,3;2,3;3"), loss: LovaszLoss(variant: .hinge)),
        channels: 3, labels: 4),
]

/// The BraTS regions (whole tumour {1, 2, 3}, tumour core {2, 3}, enhancing {3}) with MONAI's
/// tutorial Dice (`DiceLoss(sigmoid=True, squared_pred=True, smooth_nr=0, smooth_dr=1e-5)`), or
/// with `DiceCELoss(sigmoid=True)` (Dice + binary cross-entropy, nnU-Net's region loss).
func bratsRegions(crossEntropy: Bool) -> RegionLoss {
    var loss = DiceLoss(activation: .sigmoid)
    if crossEntropy {
        loss.crossEntropyWeight = 1
    } else {
        loss.squared = true
        loss.smoothNumerator = 0
        loss.smoothDenominator = 1e-5
    }
    return RegionLoss(regions: try! LabelRegions(parsing: "1,2,3;2,3;3"), loss: loss)
}

/// MONAI's `DiceCELoss(softmax=True)`; weighted: `weight=[0.2, 1, 2, 3], label_smoothing=0.1`.
func diceCE(weighted: Bool) -> DiceLoss {
    var loss = DiceLoss(activation: .softmax)
    loss.crossEntropyWeight = 1
    if weighted {
        loss.classWeights = [0.2, 1, 2, 3]
        loss.crossEntropyClassWeights = [0.2, 1, 2, 3]
        loss.labelSmoothing = 0.1
    }
    return loss
}
