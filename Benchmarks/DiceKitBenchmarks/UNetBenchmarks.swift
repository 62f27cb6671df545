// The reference U-Net (base 16, depth 4, batch 8, 128×128, 3 inputs, 2 classes): one Adam
// training step with the softmax Dice loss on label targets, and inference, with the keys of
// shared/reference/bench_torch.py. A per-stage breakdown (forward, loss, backward, optimiser)
// shows where the time goes, and a per-layer one of training and of inference. Beside it, what
// a weight-average update (`--ema`) adds to a step, against the Adam step it follows, and a
// 3-D U-Net's step and one-volume inference.

import DiceKit
import Dispatch

let unetBenchmarks: [Benchmark] = [
    Benchmark(key: "unet_b16_d4_n8_128") { context in
        let (n, size) = (8, 128)
        let model = try UNet<Float>(UNetConfiguration(inputChannels: 3, classes: 2, baseWidth: 16, depth: 4), seed: 0)
        var generator = SeededGenerator(seed: 3)
        let images = Tensor<Float>.normal([n, size, size, 3], generator: &generator)
        let labels = try LabelMap(
            shape: [n, size, size],
            labels: (0..<(n * size * size)).map { _ in Int(generator.next() % 2) })
        let loss = DiceLoss(variant: .dice, activation: .softmax)
        let optimizer = try Adam<Float>(learningRate: 1e-3)
        var stages = [Double](repeating: 0, count: 4)
        var steps = 0
        func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }
        let step = try context.time(warmup: 2, repetitions: 5) {
            let t0 = now()
            model.parameters.zeroGradients()
            let logits = try model.forward(images)
            let t1 = now()
            let result = try loss.evaluate(logits, target: .labels(labels), gradient: true)
            let t2 = now()
            try model.backward(result.gradient!)
            let t3 = now()
            optimizer.step(model.parameters.trainable)
            let t4 = now()
            for (i, d) in [t1 - t0, t2 - t1, t3 - t2, t4 - t3].enumerated() { stages[i] += d }
            steps += 1
        }
        // Per-stage breakdown over a few more steps (printed, not part of the JSON keys).
        let profile = LayerProfile()
        model.profile = profile
        for _ in 0..<3 {
            model.parameters.zeroGradients()
            let logits = try model.forward(images)
            try model.backward(try loss.evaluate(logits, target: .labels(labels), gradient: true).gradient!)
        }
        model.profile = nil
        let profiled = profile.stages.reduce(0) { $0 + $1.forward + $1.backward }
        printErr("  stage          forward ms  backward ms  share")
        for stage in profile.stages {
            let line =
                pad("  " + stage.name, 16) + pad(format(stage.forward / 3 * 1e3), 11, left: true)
                + pad(format(stage.backward / 3 * 1e3), 13, left: true)
                + pad(format((stage.forward + stage.backward) / profiled * 100) + "%", 8, left: true)
            printErr(line)
        }
        let infer = try context.time(warmup: 1, repetitions: 5) { _ = try model.forward(images, mode: .evaluation) }
        // Where inference goes, stage by stage (printed, not part of the JSON keys).
        try printInferenceStages(model, images, runs: 3, title: "unet_b16_d4_n\(n)_\(size)_infer")
        let total = stages.reduce(0, +)
        let key = "unet_b16_d4_n\(n)_\(size)"
        return [
            Metric(key: key + "_train_step_ms", value: step * 1e3, unit: "ms"),
            Metric(key: key + "_train_images_per_s", value: Double(n) / step, unit: "img/s"),
            Metric(key: key + "_infer_ms", value: infer * 1e3, unit: "ms"),
            Metric(key: key + "_share_forward", value: stages[0] / total, unit: "of step"),
            Metric(key: key + "_share_loss", value: stages[1] / total, unit: "of step"),
            Metric(key: key + "_share_backward", value: stages[2] / total, unit: "of step"),
            Metric(key: key + "_share_optimizer", value: stages[3] / total, unit: "of step"),
        ]
    },
    Benchmark(key: "weight_layout_b16_d4") { context in
        // What a training step spends on kernel layouts: every kernel is converted from
        // PyTorch's layout when its parameters changed (each step) and every kernel gradient back
        // (WeightLayout), over the reference U-Net's 1.94 M weights.
        let model = try UNet<Float>(UNetConfiguration(inputChannels: 3, classes: 2, baseWidth: 16, depth: 4), seed: 0)
        let kernels = model.parameters.trainable.map(\.value).filter { $0.rank == 4 }
        var sink: Float = 0
        let time = try context.time(warmup: 2, repetitions: 20) {
            for kernel in kernels { sink += try WeightLayout.toPyTorch(WeightLayout.fromPyTorch(kernel)).scalars[0] }
        }
        if sink.isNaN { printErr("weight_layout_b16_d4: NaN") }
        let values = kernels.reduce(0) { $0 + $1.count }
        return [
            Metric(key: "weight_layout_b16_d4_round_trip_ms", value: time * 1e3, unit: "ms"),
            Metric(
                key: "weight_layout_b16_d4_gb_per_s", value: Double(values * 4 * 4) / time / 1e9,
                unit: "GB/s (read and write, both ways)"),
        ]
    },
    Benchmark(key: "weight_average_b16_d4") { context in
        // The reference U-Net's weights (1.94 M values): one update of the average, and one Adam
        // step on gradients of ones, for scale; Scripts/bench_weight_average_torch.py times
        // PyTorch's AveragedModel and Adam on the same tensors. Also the gradient-norm clipping
        // every training step makes (`dicekit train --clip`, default 12), here without scaling.
        let model = try UNet<Float>(UNetConfiguration(inputChannels: 3, classes: 2, baseWidth: 16, depth: 4), seed: 0)
        let average = try WeightAverage(WeightAveraging(decay: 0.999), of: model.parameters)
        average.update(from: model.parameters) // the first update copies
        let update = context.time(warmup: 2, repetitions: 20) { average.update(from: model.parameters) }
        // The equal average of stochastic weight averaging: a + (p − a)/k, a division per value.
        let equal = try WeightAverage(.equal, of: model.parameters)
        equal.update(from: model.parameters)
        let equalUpdate = context.time(warmup: 2, repetitions: 20) { equal.update(from: model.parameters) }
        for p in model.parameters.trainable { p.gradient = p.value.map { _ in 1 } }
        let optimizer = try Adam<Float>(learningRate: 1e-6)
        let adam = context.time(warmup: 2, repetitions: 20) { optimizer.step(model.parameters.trainable) }
        var norm = 0.0
        let clip = try context.time(warmup: 2, repetitions: 20) {
            norm += try clipGradientNorm(model.parameters.trainable, maxNorm: 1e30)
        }
        if norm.isNaN { printErr("weight_average_b16_d4: NaN norm") }
        let values = model.parameters.all.reduce(0) { $0 + $1.value.count }
        return [
            Metric(key: "weight_average_b16_d4_update_ms", value: update * 1e3, unit: "ms"),
            Metric(key: "weight_average_b16_d4_adam_step_ms", value: adam * 1e3, unit: "ms"),
            Metric(key: "weight_average_b16_d4_clip_norm_ms", value: clip * 1e3, unit: "ms"),
            Metric(key: "weight_average_b16_d4_swa_update_ms", value: equalUpdate * 1e3, unit: "ms"),
            Metric(
                key: "weight_average_b16_d4_update_gb_per_s", value: Double(values * 4 * 3) / update / 1e9,
                unit: "GB/s (read 2, write 1 per value)"),
        ]
    },
    unet3dBenchmark(precision: .float),
    unet3dBenchmark(precision: .bfloat16),
]

/// A 3-D U-Net (base 16, depth 3, one input channel, 2 classes, as `dicekit train --data
/// synthetic3d --depth 3`) in `precision` (`_bf16` keys for `.bfloat16`, as
/// Scripts/bench_unet3d_torch.py's autocast ones): one Adam step on two 64³ volumes (the patches
/// of nnU-Net's 3-D training), and inference of one 96³ volume, as `dicekit predict` runs a
/// case. The full-resolution layers' whole padded copies would exceed the default workspace
/// bound here, which decides between the direct kernels and the lowered path (Convolution.md,
/// "Windows of rows for the weight gradient").
private func unet3dBenchmark(precision: ComputePrecision) -> Benchmark {
    let suffix = precision == .bfloat16 ? "_bf16" : ""
    return Benchmark(key: "unet3d_b16_d3" + suffix) { context in
        if let notice = precision.fallbackNotice { printErr(notice) }
        let configuration = UNetConfiguration(inputChannels: 1, classes: 2, baseWidth: 16, depth: 3, spatialRank: 3)
        let model = try UNet<Float>(configuration, seed: 0)
        model.precision = precision
        var generator = SeededGenerator(seed: 5)
        let (n, size) = (2, 64)
        let volumes = Tensor<Float>.normal([n, size, size, size, 1], generator: &generator)
        let labels = try randomLabels([n, size, size, size], generator: &generator)
        let step = try context.time(warmup: 1, repetitions: 3, try trainingStep(model, inputs: volumes, labels: labels))
        try printStepStages(model, volumes, labels, title: "unet3d_b16_d3\(suffix)")
        let volume = Tensor<Float>.normal([1, 96, 96, 96, 1], generator: &generator)
        let infer = try context.time(warmup: 1, repetitions: 5) { _ = try model.forward(volume, mode: .evaluation) }
        try printInferenceStages(model, volume, runs: 2, title: "unet3d_b16_d3_infer\(suffix)")
        return [
            Metric(key: "unet3d_b16_d3_n2_64_train_step\(suffix)_ms", value: step * 1e3, unit: "ms"),
            Metric(key: "unet3d_b16_d3_n1_96_infer\(suffix)_ms", value: infer * 1e3, unit: "ms"),
        ]
    }
}

/// Labels of two classes drawn uniformly, for a step's loss.
func randomLabels(_ shape: [Int], generator: inout SeededGenerator) throws -> LabelMap {
    try LabelMap(shape: shape, labels: (0..<shape.reduce(1, *)).map { _ in Int(generator.next() % 2) })
}

/// One training step of `model` on `inputs` as the U-Net keys time it: gradients zeroed, the
/// forward pass, the softmax Dice loss on `labels`, the backward pass and an Adam step (1e-3).
func trainingStep(_ model: UNet<Float>, inputs: Tensor<Float>, labels: LabelMap) throws -> () throws -> Void {
    let loss = DiceLoss(variant: .dice, activation: .softmax)
    let optimizer = try Adam<Float>(learningRate: 1e-3)
    return {
        model.parameters.zeroGradients()
        let logits = try model.forward(inputs)
        try model.backward(try loss.evaluate(logits, target: .labels(labels), gradient: true).gradient!)
        optimizer.step(model.parameters.trainable)
    }
}

/// Prints where a training step of `model` on `inputs` and `labels` (softmax Dice, as
/// `trainingStep`) goes, stage by stage: the forward and backward milliseconds of each, the mean
/// of 2 steps (not part of the JSON keys).
func printStepStages(_ model: UNet<Float>, _ inputs: Tensor<Float>, _ labels: LabelMap, title: String) throws {
    let loss = DiceLoss(variant: .dice, activation: .softmax)
    let profile = LayerProfile()
    model.profile = profile
    defer { model.profile = nil }
    for _ in 0..<2 {
        model.parameters.zeroGradients()
        let logits = try model.forward(inputs)
        try model.backward(try loss.evaluate(logits, target: .labels(labels), gradient: true).gradient!)
    }
    printErr("  \(title) stage   forward ms  backward ms")
    for stage in profile.stages {
        printErr(
            pad("  " + stage.name, 16) + pad(format(stage.forward / 2 * 1e3), 11, left: true)
                + pad(format(stage.backward / 2 * 1e3), 13, left: true))
    }
}

/// Prints the mean time of each stage of `model`'s inference on `input` over `runs` calls and
/// its share of their sum (not part of the JSON keys).
func printInferenceStages(_ model: UNet<Float>, _ input: Tensor<Float>, runs: Int, title: String) throws {
    let profile = LayerProfile()
    model.profile = profile
    defer { model.profile = nil }
    for _ in 0..<runs { _ = try model.forward(input, mode: .evaluation) }
    let total = profile.stages.reduce(0) { $0 + $1.forward }
    printErr("  \(title) stage   forward ms   share")
    for stage in profile.stages {
        printErr(
            pad("  " + stage.name, 16) + pad(format(stage.forward / Double(runs) * 1e3), 11, left: true)
                + pad(format(stage.forward / total * 100) + "%", 9, left: true))
    }
}
