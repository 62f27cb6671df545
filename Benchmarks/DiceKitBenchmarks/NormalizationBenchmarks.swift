// Batch normalisation in training mode on the reference U-Net's largest activations (batch 8,
// 128², 16 channels, as after its first and last 3×3 convolutions) and on a mid-sized one (64²,
// 32 channels): the forward pass (statistics, x̂ and y) and the backward pass (Σdy, Σdy·x̂ and
// dx). They move memory rather than multiply: the figures are also given as GB/s of the bytes
// each pass must read and write (forward: x read twice, x̂ and y written; backward: dy and x̂
// read twice, dx written).

import DiceKit

let normalizationBenchmarks: [Benchmark] = [(8, 128, 16), (8, 64, 32)].map { n, size, channels in
    Benchmark(key: "batchnorm_n\(n)_h\(size)_c\(channels)") { context in
        let norm = try BatchNorm<Float>(channels: channels)
        var generator = SeededGenerator(seed: 5)
        let input = Tensor<Float>.normal([n, size, size, channels], generator: &generator)
        let gradient = Tensor<Float>.normal([n, size, size, channels], generator: &generator)
        let forward = try context.time(warmup: 2, repetitions: 15) { _ = try norm.forward(input, mode: .training) }
        let backward = try context.time(warmup: 2, repetitions: 15) { _ = try norm.backward(gradient) }
        let bytes = Double(input.count * MemoryLayout<Float>.size)
        let key = "batchnorm_n\(n)_h\(size)_c\(channels)"
        return [
            Metric(key: key + "_forward_ms", value: forward * 1e3, unit: "ms"),
            Metric(key: key + "_backward_ms", value: backward * 1e3, unit: "ms"),
            Metric(key: key + "_forward_gb_per_s", value: 4 * bytes / forward / 1e9, unit: "GB/s"),
            Metric(key: key + "_backward_gb_per_s", value: 5 * bytes / backward / 1e9, unit: "GB/s"),
        ]
    }
}
