// A sample's results do not depend on the samples around it: the forward product, and the input
// gradient when every worker has whole samples, of a sample in a batch of 4 are the bits of the
// same sample in a batch of 2 or alone, on the lowered path (GEMM tiles inside each sample; the
// widths below are not multiples of 16) and on the direct one; and so are a U-Net's logits and the
// clDice gradient they give, whose pooling winners turn a last-bit difference of the logits into a
// different gradient (a data-parallel rank holds part of one process's batch; Docs/Distributed.md).

import XCTest

@testable import DiceKit

final class ConvolutionBatchIndependenceTests: XCTestCase {
    /// Samples `indices` of `t` (batch first) as a batch.
    func samples(_ t: Tensor<Float>, _ indices: [Int]) -> Tensor<Float> {
        let per = t.count / t.shape[0]
        let scalars = t.scalars
        return Tensor(
            uncheckedShape: [indices.count] + Array(t.shape.dropFirst()),
            storage: indices.flatMap { scalars[($0 * per)..<(($0 + 1) * per)] })
    }

    /// The subsets of a batch of 4 compared with it, the batch itself first.
    let subsets = [[1, 3], [0, 2], [2], [0, 1, 2]]

    /// How many elements of `subset` of `whole` differ from `part` (0 when bit-identical).
    func differing(_ whole: Tensor<Float>, _ subset: [Int], _ part: Tensor<Float>) -> Int {
        zip(samples(whole, subset).scalars, part.scalars).filter { $0.bitPattern != $1.bitPattern }.count
    }

    func testConvolutionOfASampleDoesNotDependOnTheBatch() throws {
        var generator = SeededGenerator(seed: 41)
        // (input channels, output channels, size, kernel): a U-Net's lowered layers (16 → 8 at
        // 16 × 16 crossed OpenBLAS's small-matrix bound between batches 2 and 4), a pointwise
        // head and a direct 16 → 16 layer.
        let layers = [(3, 4, 32, 3), (16, 8, 16, 3), (8, 4, 32, 3), (24, 12, 8, 3), (4, 2, 32, 1), (16, 16, 16, 3)]
        for (cin, cout, size, k) in layers {
            for workers in [1, 2, 3] {
                let conv = try Convolution<Float>(
                    kernelSize: [k, k], inputChannels: cin, outputChannels: cout, padding: k == 1 ? .valid : .same,
                    settings: ConvolutionSettings(workers: workers), generator: &generator)
                let x = Tensor<Float>.normal([4, size, size, cin], generator: &generator)
                let dy = Tensor<Float>.normal([4, size, size, cout], generator: &generator)
                let y = try conv.forward(x)
                let dx = try XCTUnwrap(conv.backward(input: x, outputGradient: dy).input)
                let label = "\(cin) → \(cout), \(size)², \(k)×\(k), \(workers) workers"
                for subset in subsets {
                    let part = samples(x, subset)
                    XCTAssertEqual(differing(y, subset, try conv.forward(part)), 0, "\(label): y of \(subset)")
                    // The input gradient of samples shared between workers is a sum of private buffers.
                    guard subset.count >= workers else { continue }
                    let partGradient = try conv.backward(input: part, outputGradient: samples(dy, subset)).input
                    XCTAssertEqual(
                        differing(dx, subset, try XCTUnwrap(partGradient)), 0, "\(label): dx of \(subset)")
                }
            }
        }
    }

    func testTransposedConvolutionOfASampleDoesNotDependOnTheBatch() throws {
        var generator = SeededGenerator(seed: 42)
        for (cin, cout, size) in [(8, 4, 16), (16, 8, 8), (12, 6, 4)] {
            let weight = Tensor<Float>.normal([2, 2, cout, cin], generator: &generator)
            let bias = Tensor<Float>.normal([cout], generator: &generator)
            let up = try TransposedConvolution<Float>(
                weight: weight, bias: bias, stride: [2], settings: ConvolutionSettings(workers: 1))
            let x = Tensor<Float>.normal([4, size, size, cin], generator: &generator)
            let dy = Tensor<Float>.normal([4, 2 * size, 2 * size, cout], generator: &generator)
            let y = try up.forward(x)
            let dx = try XCTUnwrap(up.backward(input: x, outputGradient: dy).input)
            for subset in subsets {
                let part = samples(x, subset)
                XCTAssertEqual(differing(y, subset, try up.forward(part)), 0, "\(cin) → \(cout): y of \(subset)")
                let partGradient = try up.backward(input: part, outputGradient: samples(dy, subset)).input
                XCTAssertEqual(
                    differing(dx, subset, try XCTUnwrap(partGradient)), 0, "\(cin) → \(cout): dx of \(subset)")
            }
        }
    }

    /// The MPI tests' network (depth 2, base 4, group norm) at initialisation: near-flat
    /// probabilities, many near-ties in the soft skeleton's pooling; on one thread (`--threads 1`,
    /// one GEMM tile per sample and layer) and two.
    func testUNetLogitsAndTheirClDiceGradientOfASampleDoNotDependOnTheBatch() throws {
        let configuration = UNetConfiguration(
            inputChannels: 3, classes: 2, baseWidth: 4, depth: 2, normalization: .group(groups: 2))
        let net = try UNet<Float>(configuration, seed: 5)
        var generator = SeededGenerator(seed: 43)
        let x = Tensor<Float>.uniform([4, 32, 32, 3], lower: 0, upper: 1, generator: &generator)
        let labels = (0..<(4 * 32 * 32)).map { ($0 % 32) / 4 % 3 == 0 ? 1 : 0 }
        let loss = ClDiceLoss(activation: .softmax)
        let original = Parallelism.threadCount
        defer { Parallelism.threadCount = original }
        for threads in [1, 2] {
            Parallelism.threadCount = threads
            let logits = try net.forward(x, mode: .training)
            let target = try LabelMap(shape: [4, 32, 32], labels: labels)
            let gradient = try XCTUnwrap(loss.evaluate(logits, target: .labels(target), gradient: true).gradient)
            for subset in [[0, 2], [1, 3]] {
                let part = try net.forward(samples(x, subset), mode: .training)
                XCTAssertEqual(differing(logits, subset, part), 0, "\(threads) threads: logits of \(subset)")
                let partTarget = try LabelMap(
                    shape: [2, 32, 32], labels: subset.flatMap { labels[($0 * 1024)..<(($0 + 1) * 1024)] })
                // The mean over 2 samples, scaled by 2/4 as a rank's share of the global batch.
                let partGradient = try XCTUnwrap(
                    loss.evaluate(part, target: .labels(partTarget), gradient: true).gradient)
                XCTAssertEqual(
                    differing(gradient, subset, 0.5 * partGradient), 0,
                    "\(threads) threads: clDice gradient of \(subset)")
            }
        }
    }
}
