// Uses DiceKit's public API only: a GEMM, the orthogonal initialiser, an .npy round trip, a
// softmax Dice loss with its gradient, and one U-Net training step.
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

// 4. A softmax Dice loss on label targets: perfect logits give a loss near 0.
let labels = try LabelMap(shape: [1, 4, 4], labels: (0..<16).map { $0 % 2 })
var perfect = [Float](repeating: -20, count: 32)
for (i, label) in labels.labels.enumerated() { perfect[2 * i + label] = 20 }
let loss = DiceLoss(variant: .dice, activation: .softmax)
let good = try loss.evaluate(
    try Tensor(shape: [1, 4, 4, 2], scalars: perfect), target: .labels(labels), gradient: true)
guard good.value < 1e-3, good.gradient?.shape == [1, 4, 4, 2] else {
    fail("Dice loss of perfect logits is \(good.value)")
}

// 5. One U-Net training step on random data lowers the loss of that batch.
let model = try UNet<Float>(UNetConfiguration(inputChannels: 3, classes: 2, baseWidth: 4, depth: 2), seed: 1)
var config = TrainingConfiguration()
config.learningRate = 1e-2
config.loss = .dice
let trainer = try Trainer(model: model, configuration: config)
let images = Tensor<Float>.uniform([2, 16, 16, 3], generator: &generator)
let batchLabels = try LabelMap(shape: [2, 16, 16], labels: (0..<512).map { ($0 / 8) % 2 })
let before = try loss.evaluate(try model.forward(images, mode: .evaluation), target: .labels(batchLabels)).value
let dataset = try SegmentationDataset(images: images, labels: batchLabels.labels.map { Int32($0) }, classes: 2)
for _ in 0..<5 { _ = try trainer.trainStep(try dataset.batches(size: 2).batch(0)) }
let after = try loss.evaluate(try model.forward(images, mode: .evaluation), target: .labels(batchLabels)).value
guard after < before else { fail("five training steps did not lower the loss (\(before) → \(after))") }

print(
    "consumer: DiceKit linked; GEMM, orthogonal initialiser (max |WᵀW − I| = \(worst)), NPY round trip, "
        + "Dice loss and U-Net training step (loss \(before) → \(after)) OK")
