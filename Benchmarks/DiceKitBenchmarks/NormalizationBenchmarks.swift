// Batch normalisation in training mode on the reference U-Net's largest activations (batch 8,
// 128², 16 channels, as after its first and last 3×3 convolutions) and on a mid-sized one (64²,
// 32 channels), and instance normalisation with affine parameters (nnU-Net's) on the 3-D U-Net
// benchmark's largest (two 64³ volumes, 16 channels): the forward pass (statistics, x̂ and y)
// and the backward pass (Σdy, Σdy·x̂ and dx). They move memory rather than multiply: the figures
// are also given as GB/s of the bytes each pass must read and write (forward: x read twice, x̂
// and y written; backward: dy and x̂ read twice, dx written).

import DiceKit

/// (layer, batch, side, channels, spatial rank) of each key.
private let normalizationShapes: [(kind: String, n: Int, side: Int, channels: Int, rank: Int)] = [
    ("batchnorm", 8, 128, 16, 2), ("batchnorm", 8, 64, 32, 2), ("instancenorm", 2, 64, 16, 3),
]

let normalizationBenchmarks: [Benchmark] = normalizationShapes.map { kind, n, size, channels, rank in
    let key = "\(kind)_n\(n)_\(rank == 2 ? "h" : "d")\(size)_c\(channels)"
    return Benchmark(key: key) { context in
        let norm: any Layer<Float> =
            kind == "batchnorm"
            ? try BatchNorm<Float>(channels: channels) : try InstanceNorm<Float>(channels: channels, affine: true)
        var generator = SeededGenerator(seed: 5)
        let shape = [n] + Array(repeating: size, count: rank) + [channels]
        let input = Tensor<Float>.normal(shape, generator: &generator)
        let gradient = Tensor<Float>.normal(shape, generator: &generator)
        let forward = try context.time(warmup: 2, repetitions: 15) { _ = try norm.forward(input, mode: .training) }
        let backward = try context.time(warmup: 2, repetitions: 15) { _ = try norm.backward(gradient) }
        let bytes = Double(input.count * MemoryLayout<Float>.size)
        return [
            Metric(key: key + "_forward_ms", value: forward * 1e3, unit: "ms"),
            Metric(key: key + "_backward_ms", value: backward * 1e3, unit: "ms"),
            Metric(key: key + "_forward_gb_per_s", value: 4 * bytes / forward / 1e9, unit: "GB/s"),
            Metric(key: key + "_backward_gb_per_s", value: 5 * bytes / backward / 1e9, unit: "GB/s"),
        ]
    }
}
