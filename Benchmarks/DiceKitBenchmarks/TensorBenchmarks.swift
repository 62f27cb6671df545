// Tensor's own element loops (Tensor+Elementwise.swift) called from another module, as a
// program that links DiceKit calls them: `+` and `sum()` over 4 M Floats, the conversion of
// a [8, 128, 128, 32] batch from channels-last to channels-first (Layout.swift), and the
// reading of a 4 M-element float32 NPY array as a Float tensor. They are memory-bound loops;
// the keys guard against their running unspecialised (through the protocol's witnesses), which
// made them 83×, 34×, 2.1× and 17× slower.

import DiceKit

let tensorBenchmarks: [Benchmark] = [
    Benchmark(key: "tensor_elementwise") { context in
        var generator = SeededGenerator(seed: 1)
        let a = Tensor<Float>.uniform([4_000_000], lower: -1, upper: 1, generator: &generator)
        let b = Tensor<Float>.uniform([4_000_000], lower: -1, upper: 1, generator: &generator)
        var sink: Float = 0
        let add = context.time(warmup: 2, repetitions: 10) { sink += (a + b)[0] }
        let sum = context.time(warmup: 2, repetitions: 10) { sink += a.sum() }
        let batch = Tensor<Float>.uniform([8, 128, 128, 32], lower: -1, upper: 1, generator: &generator)
        let layout = try context.time(warmup: 2, repetitions: 10) {
            sink += try batch.converted(from: .channelsLast, to: .channelsFirst)[0, 1, 2, 3]
        }
        let array = NPYArray(a)
        let npy = context.time(warmup: 2, repetitions: 10) { sink += array.tensor(of: Float.self)[7] }
        if sink.isNaN { printErr("tensor_elementwise: NaN") }
        return [
            Metric(key: "tensor_add_4m_ms", value: add * 1e3, unit: "ms"),
            Metric(key: "tensor_sum_4m_ms", value: sum * 1e3, unit: "ms"),
            Metric(key: "tensor_layout_n8_128_c32_ms", value: layout * 1e3, unit: "ms"),
            Metric(key: "tensor_npy_read_4m_ms", value: npy * 1e3, unit: "ms"),
        ]
    }
]
