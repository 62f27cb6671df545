// The reference U-Net's up-sampling: 2×2 transposed convolutions with stride 2, one per decoder
// level of the base-32 network (`up.0`–`up.3`, batch 8), in float32 and in bfloat16. Keys
// `upconv2x2_n8_h<input side>_c<in>to<out>[_bf16]_<pass>_gflops`: the forward pass and the weight
// gradient alone, each at 2·N·H·W·Cin·Cout·4 FLOP, and the whole backward pass (`_bwd`: weight
// and input gradients, at twice that). The backward pass computes both gradients in one pass
// over the output gradient, so the input gradient has no time of its own to measure; the
// difference of the two backward times, this key's predecessor, was mostly noise where the
// weight gradient dominates.

import DiceKit

/// (batch, input side, input channels, output channels) of base 32's `up.0`–`up.3`.
private let upsamplingShapes: [(n: Int, h: Int, cin: Int, cout: Int)] = [
    (8, 8, 512, 256), (8, 16, 256, 128), (8, 32, 128, 64), (8, 64, 64, 32),
]

let upsamplingBenchmarks: [Benchmark] = [ComputePrecision.float, .bfloat16].flatMap { precision in
    upsamplingShapes.map { shape in
        let suffix = precision == .bfloat16 ? "_bf16" : ""
        let key = "upconv2x2_n\(shape.n)_h\(shape.h)_c\(shape.cin)to\(shape.cout)" + suffix
        return Benchmark(key: key) { context in
            if let notice = precision.fallbackNotice { printErr(notice) }
            var generator = SeededGenerator(seed: 11)
            let (n, h, cin, cout) = (shape.n, shape.h, shape.cin, shape.cout)
            let x = Tensor<Float>.uniform([n, h, h, cin], lower: -1, upper: 1, generator: &generator)
            let up = try TransposedConvolution<Float>(
                kernelSize: [2, 2], inputChannels: cin, outputChannels: cout, stride: [2],
                settings: ConvolutionSettings(precision: precision), generator: &generator)
            let gy = Tensor<Float>.uniform([n, 2 * h, 2 * h, cout], lower: -1, upper: 1, generator: &generator)
            let flops = 2.0 * Double(n * h * h * cin * cout * 4)
            var sink: Float = 0
            let forward = try context.time(warmup: 3, repetitions: 15) { sink += try up.forward(x).scalars[0] }
            let weightGradient = try context.time(warmup: 2, repetitions: 10) {
                sink += try up.backward(input: x, outputGradient: gy, computeInputGradient: false).weight.scalars[0]
            }
            let backward = try context.time(warmup: 2, repetitions: 10) {
                sink += try up.backward(input: x, outputGradient: gy).weight.scalars[0]
            }
            if sink.isNaN { printErr("\(key): NaN in the output") }
            return [
                Metric(key: key + "_fwd_gflops", value: flops / forward / 1e9, unit: "GFLOP/s"),
                Metric(key: key + "_wgrad_gflops", value: flops / weightGradient / 1e9, unit: "GFLOP/s"),
                Metric(key: key + "_bwd_gflops", value: 2 * flops / backward / 1e9, unit: "GFLOP/s"),
            ]
        }
    }
}
