// `dicekit check`: verifies the numerical core on this machine: a GEMM against a naive loop,
// an orthogonal initialisation (QᵀQ = I) and an SVD reconstruction, and prints what it measured,
// with the CPU (CPUInfo), OpenBLAS's core before and after the core guard, a measured sgemm
// rate beside the CPU's peak, and the bfloat16 dot product's multiply-add rate beside the Float
// FMA's (BFloat16MultiplyAddRates).

import DiceKit
import Dispatch

enum CheckCommand: Command {
    static let spec = CommandSpec(
        name: "check",
        summary: "verify BLAS/LAPACKE on this machine (GEMM, QR, SVD); print the CPU, the BLAS setup and sgemm GFLOP/s",
        help: """
            usage: dicekit check [--size N] [--seed S] [--sgemm-size M]

            Multiplies two random N×N matrices (default 256) through OpenBLAS and compares with a
            naive loop, builds a 3×3×16×32 orthogonal conv kernel and checks WᵀW = I, and
            reconstructs a random matrix from its SVD. Then times an M×M×M single-precision GEMM
            (default 2048; median of 5 after one warm-up) and compares it with the CPU's peak
            (cores × FLOP per cycle × clock; "unknown" when the clock cannot be read). On a CPU
            with AVX512-BF16, measures vdpbf16ps's multiply-add rate against Float FMAs on one
            core and says which bfloat16 arithmetic it favours (DICEKIT_BF16_ARITHMETIC).
            Prints the CPU (vendor, family/model, instruction sets, caches, cores, clock) and
            OpenBLAS's core before and after the core guard on stderr, and everything as one JSON
            object on stdout; exits 1 on a mismatch.
            """,
        valueOptions: ["size", "seed", "sgemm-size"]
    )

    static func run(_ arguments: ParsedArguments) throws {
        let n = try arguments.int("size", default: 256, in: 1...4096)!
        let seed = try arguments.int("seed", default: 0, in: 0...Int.max)!
        let sgemmSize = try arguments.int("sgemm-size", default: 2048, in: 16...8192)!
        var generator = SeededGenerator(seed: UInt64(seed))
        let a = Tensor<Double>.normal([n, n], generator: &generator)
        let b = Tensor<Double>.normal([n, n], generator: &generator)
        let c = try BLAS.matmul(a, b)
        var gemmError = 0.0
        for i in 0..<n {
            for j in 0..<n {
                var sum = 0.0
                for k in 0..<n { sum += a[i, k] * b[k, j] }
                gemmError = max(gemmError, abs(sum - c[i, j]) / max(1, abs(sum)))
            }
        }
        let w: Tensor<Float> = try Initializer.orthogonal(shape: [3, 3, 16, 32], gain: 1, generator: &generator)
        let flat = try w.reshaped(to: [144, 32])
        let gram = try BLAS.matmul(flat, flat, transposeA: .transpose)
        var orthoError: Float = 0
        for i in 0..<32 { for j in 0..<32 { orthoError = max(orthoError, abs(gram[i, j] - (i == j ? 1 : 0))) } }
        let m = Tensor<Double>.normal([40, 24], generator: &generator)
        let (u, s, vt) = try LAPACK.svd(m)
        var us = u
        for i in 0..<40 { for j in 0..<24 { us[i, j] *= s[j] } }
        let svdError = try BLAS.matmul(us, vt).maxAbsDifference(m)
        let ok = gemmError < 1e-12 && orthoError < 1e-5 && svdError < 1e-10

        let cpu = CPUInfo.current
        let selection = BLAS.coreSelection
        let sgemm = measureSgemm(size: sgemmSize)
        let peak = cpu.singlePrecisionPeak
        let fraction = peak.gigaflops.map { sgemm / $0 }
        printError("CPU: \(cpu.summary)")
        printError(
            "caches: \(cpu.cacheSummary); clock: "
                + (cpu.clock.map { "\(DecimalText.fixed($0.gigahertz, digits: 3)) GHz (\($0.source))" } ?? "unknown"))
        printError("OpenBLAS core: \(selection)")
        let bf16Level = BFloat16KernelLevel.current
        // Without bfloat16 kernels there is no arithmetic to choose: the line says what runs instead.
        printError(
            "bf16 kernels: \(bf16Level)"
                + (bf16Level == .none
                    ? " (--precision bf16 runs in float32 here)"
                    : "; arithmetic: \(BFloat16Arithmetic.selection); AMX tile self-check: \(BFloat16Arithmetic.tileSelfCheck)")
        )
        let rates = BFloat16MultiplyAddRates.measure()
        if let rates {
            printError("bf16 multiply-add rates (one core): \(rates.verdict(for: BFloat16Arithmetic.current))")
        }
        printError(
            "sgemm \(sgemmSize)³: \(DecimalText.fixed(sgemm, digits: 1)) GFLOP/s on \(BLAS.threadCount) thread(s); peak "
                + (peak.gigaflops.map {
                    "\(DecimalText.fixed($0, digits: 1)) GFLOP/s (\(cpu.cores) cores × \(peak.basis) × clock): "
                        + "\(DecimalText.fixed(fraction! * 100, digits: 1)) % of it"
                } ?? "unknown (the clock cannot be read)"))

        let fields: [(String, String)] = [
            ("blas", jsonString(BLAS.configuration)),
            ("threads", "\(Parallelism.threadCount)"),
            ("gemm_\(n)_max_rel_error", "\(gemmError)"),
            ("orthogonal_max_error", "\(orthoError)"),
            ("svd_reconstruction_error", "\(svdError)"),
            ("cpu_vendor", jsonString(cpu.vendor)),
            ("cpu_family", "\(cpu.family)"),
            ("cpu_model", jsonString(cpu.modelName)),
            ("cpu_model_number", "\(cpu.model)"),
            ("cpu_isa", "[" + cpu.instructionSets.names.map(jsonString).joined(separator: ", ") + "]"),
            ("cpu_l1d_bytes", jsonOptional(cpu.caches.l1Data)),
            ("cpu_l2_bytes", jsonOptional(cpu.caches.l2)),
            ("cpu_l3_bytes", jsonOptional(cpu.caches.l3)),
            ("cpu_cache_source", jsonString(cpu.caches.source)),
            ("cpu_logical_cpus", "\(cpu.logicalCPUs)"),
            ("cpu_cores", "\(cpu.cores)"),
            ("cpu_clock_ghz", cpu.clock.map { jsonNumber($0.gigahertz) } ?? "null"),
            ("cpu_clock_source", cpu.clock.map { jsonString($0.source) } ?? "null"),
            ("openblas_core_found", jsonString(selection.found)),
            ("openblas_core", jsonString(selection.chosen)),
            ("openblas_core_reason", jsonString(selection.reason.rawValue)),
            ("openblas_core_detail", jsonString(selection.detail)),
            ("bf16_level", jsonString(BFloat16KernelLevel.current.description)),
            ("bf16_arithmetic", jsonString(BFloat16Arithmetic.current.rawValue)),
            ("amx_self_check", jsonString(BFloat16Arithmetic.tileSelfCheck.description)),
            ("bf16_dot_multiply_adds_per_ns", rates.map { jsonNumber($0.dotProducts) } ?? "null"),
            ("bf16_fma_multiply_adds_per_ns", rates.map { jsonNumber($0.floatFMAs) } ?? "null"),
            ("bf16_dot_over_fma_rate", rates.map { jsonNumber($0.ratio) } ?? "null"),
            ("amx_tile_multiply_adds_per_ns", rates?.tileProducts.map { jsonNumber($0) } ?? "null"),
            ("sgemm_size", "\(sgemmSize)"),
            ("sgemm_gflops", jsonNumber(sgemm)),
            ("peak_gflops", peak.gigaflops.map { jsonNumber($0) } ?? "null"),
            ("peak_flops_per_cycle_per_core", "\(peak.flopsPerCycle)"),
            ("peak_basis", jsonString(peak.basis)),
            ("sgemm_fraction_of_peak", fraction.map { jsonNumber($0) } ?? "null"),
            ("ok", "\(ok)"),
        ]
        printOutput("{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}")
        if !ok {
            throw DiceKitError.value("numerical check failed: see the errors above (expected ≤ 1e-12, 1e-5, 1e-10)")
        }
    }

    /// GFLOP/s of an M×M×M sgemm through `BLAS.gemm`: the median of 5 timed calls after one warm-up.
    static func measureSgemm(size: Int) -> Double {
        var generator = SeededGenerator(seed: 1)
        let a = Tensor<Float>.uniform([size, size], lower: -1, upper: 1, generator: &generator).scalars
        let b = Tensor<Float>.uniform([size, size], lower: -1, upper: 1, generator: &generator).scalars
        var c = [Float](repeating: 0, count: size * size)
        var samples: [Double] = []
        for repetition in 0..<6 {
            let start = DispatchTime.now().uptimeNanoseconds
            BLAS.gemm(m: size, n: size, k: size, a: a, lda: size, b: b, ldb: size, c: &c, ldc: size)
            if repetition > 0 { samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9) }
        }
        samples.sort()
        return 2 * Double(size) * Double(size) * Double(size) / samples[samples.count / 2] / 1e9
    }

    private static func jsonOptional(_ value: Int?) -> String { value.map { "\($0)" } ?? "null" }
}
