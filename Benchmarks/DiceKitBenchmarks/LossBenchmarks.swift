// Dice forward+backward through the public API on the three shapes of
// shared/reference/bench_torch.py (same keys, so the two JSON outputs compare key by key):
// label targets, default options (channels-last, MONAI's smoothing), softmax or sigmoid; and one
// sigmoid shape with a dense one-hot target (`_onehot_`, the form of a region loss's target).
//
// Effective bandwidth counts the floor traffic of the two fused passes: the logits read once,
// the probabilities read back once from the gradient buffer, the gradient written once, and the
// Int32 labels read twice: 3·4·N·S·C + 2·4·N·S bytes (a dense target: 2·4·N·S·C). `_vs_triad` is that bandwidth over
// `triad_gbs` from the same run. Comparisons with MONAI come only from a reference run of the
// same sitting (`--against`, `--alternate`: Reference.swift), never from stored figures.

import DiceKit

func diceBenchmark(
    key: String, batch: Int, spatial: [Int], channels: Int, activation: DiceActivation, oneHot: Bool = false
) -> Benchmark {
    Benchmark(key: key) { context in
        var generator = SeededGenerator(seed: 42)
        let logits = Tensor<Float>.normal([batch] + spatial + [channels], generator: &generator)
        let positions = batch * spatial.reduce(1, *)
        let classes = max(channels, 2)
        let values = (0..<positions).map { _ in Int(generator.next() % UInt64(classes)) }
        let labels = try LabelMap(shape: [batch] + spatial, labels: values)
        // One-hot: channel c is 1 where the label is c (sigmoid channels, as a region loss's target).
        let target: SegmentationTarget<Float> =
            oneHot
            ? .oneHot(
                try Tensor(
                    shape: logits.shape,
                    scalars: values.flatMap { label in (0..<channels).map { Float(label == $0 ? 1 : 0) } }))
            : .labels(labels)
        let loss = DiceLoss(activation: activation)
        var sink: Float = 0
        let seconds = try context.time(warmup: 3, repetitions: 20) {
            let result = try loss.evaluate(logits, target: target, gradient: true)
            sink += result.value + result.gradient!.scalars[0]
        }
        precondition(sink.isFinite, "non-finite Dice result")
        // A dense target is read in both passes, as the labels are.
        let targetBytes = oneHot ? 2 * 4 * positions * channels : 2 * 4 * positions
        let bytes = Double(3 * 4 * positions * channels + targetBytes)
        let gbs = bytes / seconds / 1e9
        var metrics = [
            Metric(key: key + "_ms", value: seconds * 1e3, unit: "ms"),
            Metric(key: key + "_gbs", value: gbs, unit: "GB/s"),
        ]
        if let triad = context.baselines["triad_gbs"] {
            metrics.append(Metric(key: key + "_vs_triad", value: gbs / triad, unit: "×"))
        }
        return metrics
    }
}

let lossBenchmarks: [Benchmark] = [
    diceBenchmark(key: "dice_softmax_n8_c4_256x256", batch: 8, spatial: [256, 256], channels: 4, activation: .softmax),
    diceBenchmark(key: "dice_sigmoid_n8_c1_256x256", batch: 8, spatial: [256, 256], channels: 1, activation: .sigmoid),
    diceBenchmark(
        key: "dice_softmax_n2_c3_64x64x64", batch: 2, spatial: [64, 64, 64], channels: 3, activation: .softmax),
    diceBenchmark(
        key: "dice_sigmoid_onehot_n8_c3_256x256", batch: 8, spatial: [256, 256], channels: 3, activation: .sigmoid,
        oneHot: true),
    // Precision of the Float kernels' accumulation on a 128³ volume: the relative error of the
    // Float loss and gradient against the same input evaluated in Double.
    Benchmark(key: "dice_precision_128x128x128") { _ in
        var generator = SeededGenerator(seed: 3)
        let shape = [1, 128, 128, 128, 2]
        let logits = Tensor<Float>.normal(shape, standardDeviation: 2, generator: &generator)
        let positions = 128 * 128 * 128
        // A large object (about a quarter of the volume) so that TP, P and G are all ~10⁵–10⁶.
        let labels = try LabelMap(
            shape: [1, 128, 128, 128],
            labels: (0..<positions).map { i in
                let (z, y, x) = (i / (128 * 128), (i / 128) % 128, i % 128)
                return (z - 64) * (z - 64) + (y - 64) * (y - 64) + (x - 64) * (x - 64) < 50 * 50 ? 1 : 0
            })
        let loss = DiceLoss(activation: .softmax)
        let single = try loss.evaluate(logits, target: .labels(labels), gradient: true)
        let double = try loss.evaluate(logits.converted(to: Double.self), target: .labels(labels), gradient: true)
        let lossError = abs(Double(single.value) - double.value) / abs(double.value)
        var gradError = 0.0
        var scale = 0.0
        for i in 0..<single.gradient!.count {
            scale = max(scale, abs(double.gradient!.scalars[i]))
            gradError = max(gradError, abs(Double(single.gradient!.scalars[i]) - double.gradient!.scalars[i]))
        }
        // Reported in units of 1e-9 (the harness prints four decimals).
        return [
            Metric(key: "dice_precision_128x128x128_loss_rel_error_e9", value: lossError * 1e9, unit: "×1e-9"),
            Metric(
                key: "dice_precision_128x128x128_grad_rel_error_e9", value: gradError / scale * 1e9,
                unit: "×1e-9 of max|g|"),
        ]
    },
]
