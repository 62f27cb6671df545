// Uses DiceKit's public API only: a GEMM, the orthogonal initialiser and an .npy round trip.
// Exits non-zero if any result is wrong.

import DiceKit
import Foundation

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("consumer: \(message)\n".utf8))
    exit(1)
}

// 1. GEMM through the typed wrapper: [1 2; 3 4] · [5 6; 7 8] = [19 22; 43 50].
let a = try Tensor<Double>(shape: [2, 2], scalars: [1, 2, 3, 4])
let b = try Tensor<Double>(shape: [2, 2], scalars: [5, 6, 7, 8])
let product = try BLAS.matmul(a, b)
guard product.scalars == [19, 22, 43, 50] else { fail("matmul gave \(product.scalars)") }

// 2. An orthogonal 3×3×8×16 conv kernel: flattened to 72 × 16, WᵀW = I.
var generator = SeededGenerator(seed: 2024)
let kernel: Tensor<Float> = try Initializer.orthogonal(shape: [3, 3, 8, 16], generator: &generator)
let flat = try kernel.reshaped(to: [72, 16])
let gram = try BLAS.matmul(flat, flat, transposeA: .transpose)
var worst: Float = 0
for i in 0..<16 { for j in 0..<16 { worst = max(worst, abs(gram[i, j] - (i == j ? 1 : 0))) } }
guard worst < 1e-5 else { fail("orthogonal kernel is off identity by \(worst)") }

// 3. An .npy round trip through a temporary file.
let path = FileManager.default.temporaryDirectory.appendingPathComponent("dicekit-consumer-\(getpid()).npy").path
defer { try? FileManager.default.removeItem(atPath: path) }
try NPY.write(kernel, to: path)
let back = try NPY.read(contentsOf: path).tensor(of: Float.self)
guard back == kernel else { fail("npy round trip changed the tensor") }

print("consumer: DiceKit linked; GEMM, orthogonal initialiser (max |WᵀW − I| = \(worst)) and NPY round trip OK")
