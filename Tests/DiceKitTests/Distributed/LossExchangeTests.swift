// Exact global Dice: the loss statistics gathered between the two passes give every rank the
// loss of the whole batch and the gradient of its own samples, equal to one process on the
// global batch to Float rounding. The ranks run one after the other here: a recording pass
// collects each rank's contribution, then each rank replays the gather with all of them (the
// same code path as MPI, which the mpirun tests in MPITrainingTests exercise end to end).

import XCTest

@testable import DiceKit

/// A stand-in for p ranks run in sequence: `allGather` records this rank's contribution and
/// returns all recorded so far (a rank not recorded yet counts as one without samples).
final class ReplayCommunicator: Communicator {
    let rank: Int
    let size: Int
    var parts: [[Double]]

    init(rank: Int, size: Int, parts: [[Double]]) {
        self.rank = rank
        self.size = size
        self.parts = parts
    }

    func allReduceSum(_ values: inout [Float]) throws { XCTFail("not used by the loss") }
    func allReduceSum(_ values: inout [Double]) throws { XCTFail("not used by the loss") }
    func broadcast(_ values: inout [Float], root: Int) throws { XCTFail("not used by the loss") }
    func allGather(_ values: [Double]) throws -> [[Double]] {
        parts[rank] = values
        return parts.map { $0.isEmpty ? [0] : $0 }
    }
}

final class LossExchangeTests: XCTestCase {
    /// Splits a batch of `n` samples between `ranks` ranks (rank r takes samples r, r+p, …) and
    /// compares each rank's loss and gradient rows with one evaluation of the whole batch.
    private func check<T: BLASScalar>(
        _ type: T.Type, _ name: String, loss: DiceLoss, n: Int, ranks: Int, tolerance: Double,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let (h, w, c) = (5, 4, 3)
        var generator = SeededGenerator(seed: 11)
        let logits = try Tensor<T>(
            shape: [n, h, w, c], scalars: (0..<(n * h * w * c)).map { _ in T(4 * generator.nextUnit() - 2) })
        // Class 2 is absent from sample 0 (empty-class handling must be the batch's).
        let labels = (0..<(n * h * w)).map { i in i < h * w ? Int(generator.next() % 2) : Int(generator.next() % 3) }
        let whole = try loss.evaluate(
            logits, target: .labels(try LabelMap(shape: [n, h, w], labels: labels)), gradient: true)
        let shards = (0..<ranks).map { r in Array(stride(from: r, to: n, by: ranks)) }
        func rows(_ samples: [Int]) -> (Tensor<T>, LabelMap) {
            let x = samples.flatMap { logits.scalars[($0 * h * w * c)..<(($0 + 1) * h * w * c)] }
            let y = samples.flatMap { labels[($0 * h * w)..<(($0 + 1) * h * w)] }
            return (
                try! Tensor(shape: [samples.count, h, w, c], scalars: Array(x)),
                try! LabelMap(shape: [samples.count, h, w], labels: y)
            )
        }
        // Record every rank's contribution, then replay the gather on each rank.
        var parts = [[Double]](repeating: [], count: ranks)
        for r in 0..<ranks {
            let recorder = ReplayCommunicator(rank: r, size: ranks, parts: parts)
            let (x, y) = rows(shards[r])
            _ = try loss.evaluate(x, target: .labels(y), gradient: false, across: recorder)
            parts = recorder.parts
        }
        for r in 0..<ranks {
            let (x, y) = rows(shards[r])
            let result = try loss.evaluate(
                x, target: .labels(y), gradient: true, across: ReplayCommunicator(rank: r, size: ranks, parts: parts))
            XCTAssertEqual(
                Double(result.value), Double(whole.value), accuracy: tolerance * max(1, abs(Double(whole.value))),
                "\(name), p \(ranks), rank \(r): the global batch's loss", file: file, line: line)
            let gradient = result.gradient!.scalars
            let expected = whole.gradient!.scalars
            for (i, sample) in shards[r].enumerated() {
                for j in 0..<(h * w * c) {
                    let a = Double(gradient[i * h * w * c + j])
                    let b = Double(expected[sample * h * w * c + j])
                    XCTAssertEqual(
                        a, b, accuracy: tolerance * max(1e-3, abs(b)),
                        "\(name), p \(ranks), rank \(r) sample \(sample) element \(j)", file: file, line: line)
                }
            }
        }
    }

    private func losses() -> [(String, DiceLoss)] {
        var batchDice = DiceLoss(activation: .softmax)
        batchDice.batch = true
        var perImage = DiceLoss(activation: .softmax)
        perImage.crossEntropyWeight = 1
        var generalized = DiceLoss(variant: .generalized(), activation: .softmax)
        generalized.batch = true
        var excluded = DiceLoss(variant: .jaccard, activation: .softmax)
        excluded.emptyClass = .exclude
        var sum = DiceLoss(variant: .tversky(), activation: .sigmoid)
        sum.reduction = .sum
        sum.batch = true
        return [
            ("batch dice", batchDice), ("per-image dice-ce", perImage), ("generalized batch", generalized),
            ("jaccard, empty excluded", excluded), ("tversky sigmoid sum", sum),
        ]
    }

    func testTwoAndThreeRanksGiveTheGlobalBatchsLossAndGradientInDouble() throws {
        for (name, loss) in losses() {
            for ranks in [2, 3] {
                XCTAssertNoThrow(try check(Double.self, name, loss: loss, n: 7, ranks: ranks, tolerance: 1e-12))
            }
        }
    }

    func testTwoAndThreeRanksGiveTheGlobalBatchsLossAndGradientInFloat() throws {
        for (name, loss) in losses() {
            for ranks in [2, 3] {
                // Float rounding: the sums are the same Double sums added in another order;
                // the probabilities and the gradient are rounded to Float once.
                XCTAssertNoThrow(try check(Float.self, name, loss: loss, n: 7, ranks: ranks, tolerance: 1e-5))
            }
        }
    }

    func testARankWithoutSamplesContributesNothing() throws {
        var loss = DiceLoss(activation: .softmax)
        loss.batch = true
        let x = try Tensor<Double>(shape: [2, 2, 2, 2], scalars: (0..<(2 * 4 * 2)).map { Double($0 % 5) - 2 })
        let y = try LabelMap(shape: [2, 2, 2], labels: [0, 1, 1, 0, 1, 1, 0, 0])
        let whole = try loss.evaluate(x, target: .labels(y))
        // Rank 1 has no samples: it passes a placeholder and does not contribute.
        let placeholder = Tensor<Double>(shape: [1, 2, 2, 2])
        let none = try LabelMap(shape: [1, 2, 2], labels: [0, 0, 0, 0])
        var parts: [[Double]] = [[], []]
        let r0 = ReplayCommunicator(rank: 0, size: 2, parts: parts)
        _ = try loss.evaluate(x, target: .labels(y), across: r0)
        parts = r0.parts
        let r1 = ReplayCommunicator(rank: 1, size: 2, parts: parts)
        let value = try loss.evaluate(placeholder, target: .labels(none), contributes: false, across: r1).value
        XCTAssertEqual(r1.parts[1].count, 1, "only the cross-entropy slot (zero)")
        XCTAssertEqual(Double(value), Double(whole.value), accuracy: 1e-14)
    }
}
