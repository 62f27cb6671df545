// `dicekit check`: verifies the numerical core on this machine: a GEMM against a naive loop,
// an orthogonal initialisation (QᵀQ = I) and an SVD reconstruction, and prints what it measured.

import DiceKit

enum CheckCommand: Command {
    static let spec = CommandSpec(
        name: "check",
        summary: "verify BLAS/LAPACKE on this machine (GEMM, QR, SVD) and print the BLAS setup",
        help: """
        usage: dicekit check [--size N] [--seed S]

        Multiplies two random N×N matrices (default 256) through OpenBLAS and compares with a
        naive loop, builds a 3×3×16×32 orthogonal conv kernel and checks WᵀW = I, and
        reconstructs a random matrix from its SVD. Prints one JSON object; exits 1 on a mismatch.
        """,
        valueOptions: ["size", "seed"]
    )

    static func run(_ arguments: ParsedArguments) throws {
        let n = try arguments.int("size", default: 256, in: 1...4096)!
        let seed = try arguments.int("seed", default: 0, in: 0...Int.max)!
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
        print("{\"blas\": \(jsonString(BLAS.configuration)), \"threads\": \(Parallelism.threadCount), "
              + "\"gemm_\(n)_max_rel_error\": \(gemmError), \"orthogonal_max_error\": \(orthoError), "
              + "\"svd_reconstruction_error\": \(svdError), \"ok\": \(ok)}")
        if !ok { throw DiceKitError.value("numerical check failed: see the errors above (expected ≤ 1e-12, 1e-5, 1e-10)") }
    }
}
