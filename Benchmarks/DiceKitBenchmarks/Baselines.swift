// The baselines every later figure is a ratio to: OpenBLAS sgemm peak through our own GEMM
// wrapper, single-thread streaming bandwidth (triad), the BLAS thread count, and on a CPU with
// AVX512-BF16 the multiply-add rates of vdpbf16ps and of Float FMAs on one core (what decides
// whether the bfloat16 dot products or rounded operands are faster), and on a CPU whose AMX tile
// unit is granted the rate of its products in the tile kernels' blocks.

import DiceKit

let baselineBenchmarks: [Benchmark] = [
    Benchmark(key: "blas_threads", isBaseline: true) { _ in
        [Metric(key: "blas_threads", value: Double(BLAS.threadCount), unit: "threads")]
    },
    Benchmark(key: "sgemm_2048", isBaseline: true) { context in
        let n = 2048
        var generator = SeededGenerator(seed: 1)
        let a = Tensor<Float>.uniform([n, n], lower: -1, upper: 1, generator: &generator).scalars
        let b = Tensor<Float>.uniform([n, n], lower: -1, upper: 1, generator: &generator).scalars
        var c = [Float](repeating: 0, count: n * n)
        let seconds = context.time(warmup: 2, repetitions: 10) {
            BLAS.gemm(m: n, n: n, k: n, a: a, lda: n, b: b, ldb: n, c: &c, ldc: n)
        }
        return [Metric(key: "sgemm_2048_gflops", value: 2 * Double(n * n * n) / seconds / 1e9, unit: "GFLOP/s")]
    },
    Benchmark(key: "triad", isBaseline: true) { context in
        // a = b + s·c over three 256 MiB Float arrays, one thread: 3 × 256 MiB of traffic
        // (the write-allocate read of a is not counted, as in STREAM).
        let count = 256 * 1024 * 1024 / MemoryLayout<Float>.size
        var a = [Float](repeating: 0, count: count)
        let b = [Float](repeating: 1, count: count)
        let c = [Float](repeating: 2, count: count)
        let s: Float = 3
        let seconds = context.time(warmup: 1, repetitions: 6) {
            a.withUnsafeMutableBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    c.withUnsafeBufferPointer { pc in
                        for i in 0..<count { pa[i] = pb[i] + s * pc[i] }
                    }
                }
            }
        }
        precondition(a[count / 2] == 7, "triad produced a wrong value")
        return [Metric(key: "triad_gbs", value: 3 * Double(count * 4) / seconds / 1e9, unit: "GB/s")]
    },
    Benchmark(key: "bf16_multiply_add_rates", isBaseline: true) { _ in
        guard let rates = BFloat16MultiplyAddRates.measure(iterations: 1 << 18) else { return [] }
        printErr("bf16 multiply-add rates: \(rates.verdict(for: BFloat16Arithmetic.current))")
        return [
            Metric(key: "bf16_dot_multiply_adds_per_ns", value: rates.dotProducts, unit: "multiply-adds/ns"),
            Metric(key: "fma_multiply_adds_per_ns", value: rates.floatFMAs, unit: "multiply-adds/ns"),
            Metric(key: "bf16_dot_over_fma_rate", value: rates.ratio, unit: "×"),
        ]
            + (rates.tileProducts.map {
                [Metric(key: "amx_tile_multiply_adds_per_ns", value: $0, unit: "multiply-adds/ns")]
            } ?? [])
    },
]
