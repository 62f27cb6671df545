// 3×3 convolutions (padding 1, batch 8, no bias, Float, channels-last) on the four shapes of
// shared/reference/bench_torch.py, with its key names so the two JSON outputs compare key by key.
// FLOPs are counted as bench_torch.py does: forward 2·N·H·W·Cin·Cout·9, forward+backward
// (input and weight gradients) 3× that.
//
// Extra figures per shape: the weight gradient's GFLOP/s alone (`_wgrad`) and the input
// gradient's (`_dgrad`, timed on its own as the adjoint's forward pass), the ratios
// to `sgemm_2048_gflops` of the same run, the GFLOP/s of the
// bare GEMM of the lowered shape [N·H·W × 9·Cin] × [9·Cin × Cout] (OpenBLAS on its own threads,
// operands prepared in advance), and forward time / bare GEMM time (the im2col overhead).
// The process runs under `AllocationPolicy.retainLargeBlocks()` (see main.swift).

import DiceKit

let convShapes: [(n: Int, h: Int, cin: Int, cout: Int)] = [
    (8, 128, 3, 32), (8, 128, 32, 32), (8, 64, 64, 64), (8, 32, 128, 128),
]

let convBenchmarks: [Benchmark] = convShapes.map { shape in
    let key = "conv3x3_n\(shape.n)_h\(shape.h)_c\(shape.cin)to\(shape.cout)"
    return Benchmark(key: key) { context in
        var generator = SeededGenerator(seed: 7)
        let (n, h, cin, cout) = (shape.n, shape.h, shape.cin, shape.cout)
        let x = Tensor<Float>.uniform([n, h, h, cin], lower: -1, upper: 1, generator: &generator)
        let weight = Tensor<Float>.uniform([3, 3, cin, cout], lower: -0.1, upper: 0.1, generator: &generator)
        let conv = try Convolution(weight: weight, stride: [1], padding: .symmetric([1]))
        let gy = Tensor<Float>.uniform([n, h, h, cout], lower: -1, upper: 1, generator: &generator)
        let flops = 2.0 * Double(n * h * h * cin * cout * 9)

        var sink: Float = 0
        let (forward, forwardBackward) = try forwardAndBackwardTimes(
            conv, x: x, gy: gy, context: context, warmup: 3, repetitions: 15, sink: &sink)
        let (weightGradient, inputGradient) = try gradientTimes(conv, x: x, gy: gy, context: context, sink: &sink)
        // The bare GEMM of the lowered shape.
        let (m, k) = (n * h * h, 9 * cin)
        let a = Tensor<Float>.uniform([m, k], lower: -1, upper: 1, generator: &generator).scalars
        let b = Tensor<Float>.uniform([k, cout], lower: -1, upper: 1, generator: &generator).scalars
        var c = [Float](repeating: 0, count: m * cout)
        let gemm = context.time(warmup: 3, repetitions: 15) {
            BLAS.gemm(m: m, n: cout, k: k, a: a, lda: k, b: b, ldb: cout, c: &c, ldc: cout)
        }
        if sink.isNaN { printErr("\(key): NaN in the output") }
        let sgemm = context.baselines["sgemm_2048_gflops"] ?? .nan
        let forwardRate = flops / forward / 1e9
        let forwardBackwardRate = 3 * flops / forwardBackward / 1e9
        return [
            Metric(key: key + "_fwd_gflops", value: forwardRate, unit: "GFLOP/s"),
            Metric(key: key + "_fwdbwd_gflops", value: forwardBackwardRate, unit: "GFLOP/s"),
            Metric(key: key + "_wgrad_gflops", value: flops / weightGradient / 1e9, unit: "GFLOP/s"),
            Metric(key: key + "_dgrad_gflops", value: flops / inputGradient / 1e9, unit: "GFLOP/s"),
            Metric(key: key + "_fwd_vs_sgemm", value: forwardRate / sgemm, unit: "×"),
            Metric(key: key + "_fwdbwd_vs_sgemm", value: forwardBackwardRate / sgemm, unit: "×"),
            Metric(key: key + "_gemm_gflops", value: flops / gemm / 1e9, unit: "GFLOP/s"),
            Metric(key: key + "_fwd_over_gemm_time", value: forward / gemm, unit: "×"),
        ]
    }
}

/// A 3×3×3 convolution of a volume (batch 2, 64³, 16 → 16 channels, padding 1, no bias): DiceKit's
/// own figure for 3-D data (the reference script has no 3-D convolution), forward and
/// forward + backward, FLOPs counted as for the 2-D shapes (27 taps).
let volumeConvBenchmark = Benchmark(key: "conv3x3x3_n2_d64_c16to16") { context in
    var generator = SeededGenerator(seed: 8)
    let (n, d, cin, cout) = (2, 64, 16, 16)
    let x = Tensor<Float>.uniform([n, d, d, d, cin], lower: -1, upper: 1, generator: &generator)
    let weight = Tensor<Float>.uniform([3, 3, 3, cin, cout], lower: -0.1, upper: 0.1, generator: &generator)
    let conv = try Convolution(weight: weight, stride: [1], padding: .symmetric([1]))
    let gy = Tensor<Float>.uniform([n, d, d, d, cout], lower: -1, upper: 1, generator: &generator)
    let flops = 2.0 * Double(n * d * d * d * cin * cout * 27)
    var sink: Float = 0
    let (forward, forwardBackward) = try forwardAndBackwardTimes(
        conv, x: x, gy: gy, context: context, warmup: 2, repetitions: 9, sink: &sink)
    if sink.isNaN { printErr("conv3x3x3: NaN in the output") }
    return [
        Metric(key: "conv3x3x3_n2_d64_c16to16_fwd_gflops", value: flops / forward / 1e9, unit: "GFLOP/s"),
        Metric(
            key: "conv3x3x3_n2_d64_c16to16_fwdbwd_gflops", value: 3 * flops / forwardBackward / 1e9, unit: "GFLOP/s"),
    ]
}

/// The U-Net's 1×1 head (batch 8, 128², 16 or 32 features to 2 logits, with bias, Float): the
/// forward pass that ends every inference, a pass over its input with almost no arithmetic. Its
/// time, and the bytes of input and output it moves per second.
let headConvBenchmark = Benchmark(key: "conv1x1_n8_h128_head") { context in
    var generator = SeededGenerator(seed: 9)
    var metrics: [Metric] = []
    for cin in [16, 32] {
        let (n, h, cout) = (8, 128, 2)
        let x = Tensor<Float>.uniform([n, h, h, cin], lower: -1, upper: 1, generator: &generator)
        let weight = Tensor<Float>.uniform([1, 1, cin, cout], lower: -0.1, upper: 0.1, generator: &generator)
        let conv = try Convolution(weight: weight, bias: Tensor.zeros([cout]), stride: [1], padding: .symmetric([0]))
        var sink: Float = 0
        let forward = try context.time(warmup: 3, repetitions: 20) { sink += try conv.forward(x).scalars[0] }
        if sink.isNaN { printErr("conv1x1 head: NaN in the output") }
        let key = "conv1x1_n\(n)_h\(h)_c\(cin)to\(cout)"
        let bytes = Double(n * h * h * (cin + cout) * MemoryLayout<Float>.size)
        metrics += [
            Metric(key: key + "_fwd_ms", value: forward * 1e3, unit: "ms"),
            Metric(key: key + "_fwd_gbs", value: bytes / forward / 1e9, unit: "GB/s"),
        ]
    }
    return metrics
}

/// The two backward passes apart, each timed on its own: the weight gradient alone, and the
/// input gradient alone as the forward pass of the adjoint transposed convolution (the same
/// kernel tensor, stride, padding and settings), which runs the input-gradient pass of the same
/// geometry and kernels without the weight gradient (`ConvolutionKernels.transposedForward`).
func gradientTimes(
    _ conv: Convolution<Float>, x: Tensor<Float>, gy: Tensor<Float>, context: BenchContext, sink: inout Float
) throws -> (weightGradient: Double, inputGradient: Double) {
    let weightGradient = try context.time(warmup: 2, repetitions: 10) {
        sink += try conv.backward(input: x, outputGradient: gy, computeInputGradient: false).weight.scalars[0]
    }
    let adjoint = try TransposedConvolution(
        weight: conv.weight, stride: conv.stride, padding: conv.padding, dilation: conv.dilation,
        groups: conv.groups, settings: conv.settings)
    let inputGradient = try context.time(warmup: 2, repetitions: 10) { sink += try adjoint.forward(gy).scalars[0] }
    return (weightGradient, inputGradient)
}

/// Medians, in seconds, of `conv`'s forward pass on `x` and of that pass followed by the backward
/// pass with output gradient `gy` (input and weight gradients); an element of each output is
/// added to `sink`, so that no pass can be left out.
func forwardAndBackwardTimes(
    _ conv: Convolution<Float>, x: Tensor<Float>, gy: Tensor<Float>, context: BenchContext, warmup: Int,
    repetitions: Int, sink: inout Float
) throws -> (forward: Double, forwardBackward: Double) {
    let forward = try context.time(warmup: warmup, repetitions: repetitions) {
        let y = try conv.forward(x)
        sink += y.scalars[0]
    }
    let forwardBackward = try context.time(warmup: warmup, repetitions: repetitions) {
        let y = try conv.forward(x)
        let g = try conv.backward(input: x, outputGradient: gy)
        sink += y.scalars[0] + g.weight.scalars[0]
    }
    return (forward, forwardBackward)
}
