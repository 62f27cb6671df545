// Mixed precision (`ComputePrecision.bfloat16`): the 3×3 convolution shapes of ConvBenchmarks
// and two small-image ones, and the reference U-Net (base 16 and 32, depth 4, batch 8, 128×128)
// with bfloat16 operands and Float accumulation, keyed with `_bf16` like
// shared/reference/bench_torch.py's autocast figures (`unet_b16_d4_n8_128_train_step_bf16_ms`,
// `…_infer_bf16_ms`, the same for base 32). The base-32 U-Net also gets its Float keys, so that
// every bf16 figure has DiceKit's own Float one beside it; each also times inference one image
// at a time (`unet_b32_d4_n1_128_infer_ms`, `…_infer_bf16_ms`: DiceKit's own, no reference
// measures them). On a CPU without AVX512-BF16 or AMX the bf16 keys measure the Float fallback
// (a notice says so).

import DiceKit
import Dispatch

private let bfloat16Settings = ConvolutionSettings(precision: .bfloat16)

/// The shapes of ConvBenchmarks, then the small-image stages of the base-32 U-Net (16² with 256
/// channels: `down.3`, `dec.0`; 8² with 512: `mid`), whose weight gradient reduces over few
/// positions per sample, and the base-16 U-Net's 16-channel level (128², `down.0`, `dec.3`);
/// last, the first convolutions of the base-32 `dec.0` (16², 512 → 256, its concatenated input
/// as one tensor) and `mid` (8², 256 → 512), whose weight gradients keep their sums in registers
/// across groups of samples (conv_bf16.c).
private let bfloat16ConvShapes =
    convShapes + [(8, 16, 256, 256), (8, 8, 512, 512), (8, 128, 16, 16), (8, 16, 512, 256), (8, 8, 256, 512)]

let bfloat16ConvBenchmarks: [Benchmark] =
    bfloat16ConvShapes.map { shape in
        bfloat16ConvBenchmark(
            key: "conv3x3_n\(shape.n)_h\(shape.h)_c\(shape.cin)to\(shape.cout)",
            input: [shape.n, shape.h, shape.h, shape.cin], outChannels: shape.cout)
    } + [
        // A 3-D U-Net's full-resolution level (base 16: `down.0`, and the last decoder block at
        // twice the channels in), about half of the 3-D step's products (`unet3d_b16_d3_*`).
        bfloat16ConvBenchmark(key: "conv3x3x3_n2_d64_c16to16", input: [2, 64, 64, 64, 16], outChannels: 16),
        bfloat16KernelRatesBenchmark,
    ]

/// `bf16_forward_kernel_rates`: the bfloat16 forward kernel in use, and the dot products'
/// weight-gradient kernel, on one padded sample in cache, one thread (`BFloat16KernelRates`), at
/// the U-Net levels' channels and sizes, in multiply–adds per nanosecond and as a share of the
/// instruction's rate (vdpbf16ps, or tdpbf16ps with the tiles): the kernels' own figures, beside
/// which the `conv3x3_*_bf16` keys hold the layer's.
private let bfloat16KernelRatesBenchmark = Benchmark(key: "bf16_forward_kernel_rates") { _ in
    guard let rates = BFloat16MultiplyAddRates.measure(iterations: 1 << 18) else {
        printErr("bf16_forward_kernel_rates: no AVX512-BF16 or AMX: nothing to measure")
        return []
    }
    let tiles = BFloat16Arithmetic.current == .tiles
    let peak = tiles ? rates.tileProducts ?? rates.dotProducts : rates.dotProducts
    var metrics: [Metric] = []
    for (channels, size) in [(16, 128), (32, 128), (64, 64), (128, 32), (256, 16), (512, 8)] {
        let measured = [
            ("forward", BFloat16KernelRates.measure(channels: channels, size: size, repetitions: 9)),
            ("wgrad", BFloat16KernelRates.measureWeightGradient(channels: channels, size: size, repetitions: 9)),
        ]
        for case (let kernel, let rate?) in measured {
            let key = "bf16_\(kernel)_kernel_c\(channels)_h\(size)"
            printErr(
                "  \(key): \(format(rate)) multiply-adds/ns, \(format(100 * rate / peak)) % of "
                    + (tiles ? "tdpbf16ps" : "vdpbf16ps"))
            metrics.append(Metric(key: key + "_multiply_adds_per_ns", value: rate, unit: "multiply-adds/ns"))
        }
    }
    return metrics
}

/// `key`_bf16: a 3×3 (3×3×3 for a volume) convolution of an input of shape `input` (channels
/// last), padding 1, no bias, in bfloat16: forward, forward + backward, and each gradient alone,
/// in GFLOP/s (2 FLOPs per multiply-add).
private func bfloat16ConvBenchmark(key: String, input: [Int], outChannels cout: Int) -> Benchmark {
    Benchmark(key: key + "_bf16") { context in
        if let notice = ComputePrecision.bfloat16.fallbackNotice { printErr(notice) }
        var generator = SeededGenerator(seed: 7)
        let cin = input.last!
        let kernel = [Int](repeating: 3, count: input.count - 2)
        let x = Tensor<Float>.uniform(input, lower: -1, upper: 1, generator: &generator)
        let weight = Tensor<Float>.uniform(kernel + [cin, cout], lower: -0.1, upper: 0.1, generator: &generator)
        let conv = try Convolution(weight: weight, stride: [1], padding: .symmetric([1]), settings: bfloat16Settings)
        let gy = Tensor<Float>.uniform(input.dropLast() + [cout], lower: -1, upper: 1, generator: &generator)
        let flops = 2.0 * Double(input.dropLast().reduce(1, *) * kernel.reduce(1, *) * cin * cout)
        var sink: Float = 0
        let (forward, forwardBackward) = try forwardAndBackwardTimes(
            conv, x: x, gy: gy, context: context, warmup: 3, repetitions: 15, sink: &sink)
        let (weightGradient, inputGradient) = try gradientTimes(conv, x: x, gy: gy, context: context, sink: &sink)
        if sink.isNaN { printErr("\(key)_bf16: NaN in the output") }
        return [
            Metric(key: key + "_fwd_bf16_gflops", value: flops / forward / 1e9, unit: "GFLOP/s"),
            Metric(key: key + "_fwdbwd_bf16_gflops", value: 3 * flops / forwardBackward / 1e9, unit: "GFLOP/s"),
            Metric(key: key + "_wgrad_bf16_gflops", value: flops / weightGradient / 1e9, unit: "GFLOP/s"),
            Metric(key: key + "_dgrad_bf16_gflops", value: flops / inputGradient / 1e9, unit: "GFLOP/s"),
        ]
    }
}

/// The U-Net step (Adam, softmax Dice on labels) and inference of base `base` in `precision`.
private func unetBenchmark(base: Int, precision: ComputePrecision) -> Benchmark {
    let suffix = precision == .bfloat16 ? "_bf16" : ""
    let key = "unet_b\(base)_d4_n8_128"
    return Benchmark(key: key + (precision == .bfloat16 ? "_bf16" : "_float")) { context in
        if let notice = precision.fallbackNotice { printErr(notice) }
        let (n, size) = (8, 128)
        let model = try UNet<Float>(UNetConfiguration(inputChannels: 3, classes: 2, baseWidth: base, depth: 4), seed: 0)
        model.precision = precision
        var generator = SeededGenerator(seed: 3)
        let images = Tensor<Float>.normal([n, size, size, 3], generator: &generator)
        let labels = try randomLabels([n, size, size], generator: &generator)
        let step = try context.time(warmup: 2, repetitions: 5, try trainingStep(model, inputs: images, labels: labels))
        // Where the step goes, stage by stage, in either precision: the bf16 step's stages beside
        // the Float step's.
        try printStepStages(model, images, labels, title: "\(key)\(suffix)")
        let infer = try context.time(warmup: 1, repetitions: 5) { _ = try model.forward(images, mode: .evaluation) }
        try printInferenceStages(model, images, runs: 3, title: "\(key)_infer\(suffix)")
        // One image at a time, as `dicekit predict` and a sliding window call the model: the
        // per-call work on the weights (packings, kept between calls) weighs most here.
        let image = Tensor<Float>.normal([1, size, size, 3], generator: &generator)
        let single = try context.time(warmup: 2, repetitions: 20) { _ = try model.forward(image, mode: .evaluation) }
        // The same, stage by stage: where one image's inference waits on a single core shows here.
        try printInferenceStages(model, image, runs: 10, title: "unet_b\(base)_d4_n1_128_infer\(suffix)")
        return [
            Metric(key: key + "_train_step" + suffix + "_ms", value: step * 1e3, unit: "ms"),
            Metric(key: key + "_infer" + suffix + "_ms", value: infer * 1e3, unit: "ms"),
            Metric(key: "unet_b\(base)_d4_n1_128_infer" + suffix + "_ms", value: single * 1e3, unit: "ms"),
        ]
    }
}

/// What a bfloat16 training step of the base-32 U-Net pays per weight of its 3×3 layers outside
/// the arithmetic (all but the first layer, which runs in Float): after each optimiser step, a
/// layer prepares its kernel for the bfloat16 kernels (packed for the forward pass and, flipped,
/// for the input gradient), and its backward pass writes the weight gradient and adds it to
/// the parameter's, in PyTorch's layout. Timed as a layer's training forward and backward
/// passes over one 3×3 input after a new value of its kernel, whose products (9 positions) cost
/// a small fraction of that.
private let bfloat16WeightsBenchmark = Benchmark(key: "bf16_weights_b32_d4") { context in
    if let notice = ComputePrecision.bfloat16.fallbackNotice { printErr(notice) }
    let model = try UNet<Float>(UNetConfiguration(inputChannels: 3, classes: 2, baseWidth: 32, depth: 4), seed: 0)
    let kernels = model.parameters.trainable.map(\.value)
        .filter { $0.rank == 4 && $0.shape[2] == 3 && $0.shape[0] % 16 == 0 && $0.shape[1] % 16 == 0 }
    var generator = SeededGenerator(seed: 5)
    let layers = try kernels.map { kernel in
        let layer = try ConvolutionLayer<Float>(
            kernelSize: [3, 3], inputChannels: kernel.shape[1], outputChannels: kernel.shape[0],
            generator: &generator)
        layer.precision = .bfloat16
        return layer
    }
    let inputs = kernels.map { Tensor<Float>(shape: [1, 3, 3, $0.shape[1]], repeating: 0.5) }
    var sink: Float = 0
    let time = try context.time(warmup: 2, repetitions: 10) {
        for (layer, (kernel, x)) in zip(layers, zip(kernels, inputs)) {
            layer.weight.value = kernel // a new version, as after an optimiser step
            let y = try layer.forward(x, mode: .training)
            sink += try layer.backward(y)?[0, 0, 0, 0] ?? 0
        }
    }
    if sink.isNaN { printErr("bf16_weights_b32_d4: NaN") }
    let weights = kernels.reduce(0) { $0 + $1.count }
    return [
        Metric(key: "bf16_weights_b32_d4_ms", value: time * 1e3, unit: "ms"),
        Metric(key: "bf16_weights_b32_d4_ns_per_weight", value: time / Double(weights) * 1e9, unit: "ns"),
    ]
}

let bfloat16UNetBenchmarks: [Benchmark] = [
    unetBenchmark(base: 16, precision: .bfloat16),
    unetBenchmark(base: 32, precision: .float),
    unetBenchmark(base: 32, precision: .bfloat16),
    bfloat16WeightsBenchmark,
]
