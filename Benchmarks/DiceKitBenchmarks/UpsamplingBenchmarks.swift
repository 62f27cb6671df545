// The reference U-Net's up-sampling: 2×2 transposed convolutions with stride 2, one per decoder
// level of the base-32 network (`up.0`–`up.3`, batch 8), and the 2×2×2 ones of the 3-D U-Net
// benchmark (base 16, depth 3, two 64³ volumes: `up.0`–`up.2`), in float32 and in bfloat16. Keys
// `upconv2x2_n8_h<input side>_c<in>to<out>[_bf16]_<pass>_gflops` (`upconv2x2x2_n2_d<input side>…`
// for volumes): the forward pass and the weight gradient alone, each at
// 2·N·(input positions)·Cin·Cout·(kernel volume) FLOP, and the whole backward pass (`_bwd`: weight
// and input gradients, at twice that). The backward pass computes both gradients in one pass over
// the output gradient, so the input gradient has no time of its own to measure; the difference of
// the two backward times, this key's predecessor, was mostly noise where the weight gradient
// dominates.

import DiceKit

/// (batch, input side, input channels, output channels, spatial rank) of base 32's `up.0`–`up.3`
/// and of the 3-D benchmark's `up.0`–`up.2`.
private let upsamplingShapes: [(n: Int, side: Int, cin: Int, cout: Int, rank: Int)] = [
    (8, 8, 512, 256, 2), (8, 16, 256, 128, 2), (8, 32, 128, 64, 2), (8, 64, 64, 32, 2),
    (2, 8, 128, 64, 3), (2, 16, 64, 32, 3), (2, 32, 32, 16, 3),
]

let upsamplingBenchmarks: [Benchmark] = [ComputePrecision.float, .bfloat16].flatMap { precision in
    upsamplingShapes.map { shape in
        let suffix = precision == .bfloat16 ? "_bf16" : ""
        let (n, side, cin, cout, rank) = (shape.n, shape.side, shape.cin, shape.cout, shape.rank)
        let kernel = rank == 2 ? "2x2" : "2x2x2"
        let key = "upconv\(kernel)_n\(n)_\(rank == 2 ? "h" : "d")\(side)_c\(cin)to\(cout)" + suffix
        return Benchmark(key: key) { context in
            if let notice = precision.fallbackNotice { printErr(notice) }
            var generator = SeededGenerator(seed: 11)
            let spatial = Array(repeating: side, count: rank)
            let x = Tensor<Float>.uniform([n] + spatial + [cin], lower: -1, upper: 1, generator: &generator)
            let up = try TransposedConvolution<Float>(
                kernelSize: Array(repeating: 2, count: rank), inputChannels: cin, outputChannels: cout, stride: [2],
                settings: ConvolutionSettings(precision: precision), generator: &generator)
            let gy = Tensor<Float>.uniform(
                [n] + spatial.map { 2 * $0 } + [cout], lower: -1, upper: 1, generator: &generator)
            let flops = 2.0 * Double(n * spatial.reduce(1, *) * cin * cout * (1 << rank))
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
