// Ignored positions are left out of every training objective as if they were not there: the
// loss with an ignore index equals the same loss on the batch with those positions removed
// (each sample keeping its own), the gradient of every other position is that batch's, and the
// ignored positions get exactly zero. The objectives without an ignore index are checked against
// MONAI, PyTorch and smp goldens elsewhere (SegmentationLossFixtureTests, LossFixtureTests), so
// this pins the ignored form to the references too.

import XCTest

@testable import DiceKit

final class IgnoreIndexLossTests: XCTestCase {
    private let (n, h, w, c) = (3, 6, 5, 3)
    /// Ignored positions per sample (the same count in each, so the compacted batch is a tensor).
    private let ignoredPerSample = 8
    private let ignore = 7

    /// Logits, labels with `ignoredPerSample` positions of each sample set to the ignore index,
    /// and which positions those are.
    private func batch<T: BLASScalar>(_ type: T.Type, seed: UInt64) throws -> (Tensor<T>, [Int], [Bool]) {
        var generator = SeededGenerator(seed: seed)
        let logits = try Tensor<T>(
            shape: [n, h, w, c], scalars: (0..<(n * h * w * c)).map { _ in T(4 * generator.nextUnit() - 2) })
        var labels = (0..<(n * h * w)).map { _ in Int(generator.next() % UInt64(c)) }
        var ignored = [Bool](repeating: false, count: n * h * w)
        for i in 0..<n {
            var chosen = Set<Int>()
            while chosen.count < ignoredPerSample { chosen.insert(Int(generator.next() % UInt64(h * w))) }
            for p in chosen {
                labels[i * h * w + p] = ignore
                ignored[i * h * w + p] = true
            }
        }
        return (logits, labels, ignored)
    }

    /// The batch without its ignored positions: [N, S', 1, C] and [N, S', 1].
    private func compacted<T: BLASScalar>(_ logits: Tensor<T>, _ labels: [Int], _ ignored: [Bool]) throws -> (
        Tensor<T>, LabelMap
    ) {
        let kept = h * w - ignoredPerSample
        var x = [T]()
        var y = [Int]()
        for q in 0..<(n * h * w) where !ignored[q] {
            x += logits.scalars[(q * c)..<((q + 1) * c)]
            y.append(labels[q])
        }
        return (try Tensor(shape: [n, kept, 1, c], scalars: x), try LabelMap(shape: [n, kept, 1], labels: y))
    }

    private func check<T: BLASScalar>(_ type: T.Type, tolerance: Double) throws {
        let (logits, labels, ignored) = try batch(T.self, seed: 5)
        let (x, y) = try compacted(logits, labels, ignored)
        let target = try LabelMap(shape: [n, h, w], labels: labels)
        var options = LossOptions()
        options.distanceMatrix = [0, 1, 2, 1, 0, 1.5, 2, 1.5, 0]
        for kind in LossKind.allCases where kind.acceptsIgnoreIndex {
            let loss = options.objective(kind, classes: c, ignoreIndex: ignore)
            let whole = try loss.evaluate(logits, target: .labels(target), gradient: true)
            let reference = try options.objective(kind, classes: c).evaluate(x, target: .labels(y), gradient: true)
            let expected = Double(reference.value)
            XCTAssertEqual(
                Double(whole.value), expected, accuracy: tolerance * max(1, abs(expected)),
                "\(kind.rawValue) (\(T.self)): the loss of the batch without its ignored positions")
            let g = whole.gradient!.scalars
            let r = reference.gradient!.scalars
            var next = 0
            for q in 0..<(n * h * w) {
                for k in 0..<c {
                    let value = Double(g[q * c + k])
                    if ignored[q] {
                        XCTAssertEqual(value, 0, "\(kind.rawValue) (\(T.self)): ignored position \(q) channel \(k)")
                    } else {
                        XCTAssertEqual(
                            value, Double(r[next * c + k]),
                            accuracy: tolerance * max(1e-3, abs(Double(r[next * c + k]))),
                            "\(kind.rawValue) (\(T.self)): position \(q) channel \(k)")
                    }
                }
                if !ignored[q] { next += 1 }
            }
        }
    }

    func testEveryObjectiveLeavesIgnoredPositionsOutInDouble() throws {
        try check(Double.self, tolerance: 1e-11)
    }

    func testEveryObjectiveLeavesIgnoredPositionsOutInFloat() throws {
        // The vector kernels (focal, Dice) sum in other groupings over the two batches.
        try check(Float.self, tolerance: 2e-5)
    }

    func testTheFocalReductionsAndNormalizedFormLeaveIgnoredPositionsOut() throws {
        let (logits, labels, ignored) = try batch(Double.self, seed: 9)
        let (x, y) = try compacted(logits, labels, ignored)
        let target = try LabelMap(shape: [n, h, w], labels: labels)
        var cases: [(String, FocalLoss)] = []
        for reduction in [LossReduction.mean, .sum] {
            for activation in [DiceActivation.sigmoid, .softmax] {
                var focal = FocalLoss(activation: activation, gamma: 1.5)
                focal.reduction = reduction
                cases.append(("\(activation) \(reduction)", focal))
            }
        }
        var normalized = FocalLoss(activation: .sigmoid)
        normalized.normalized = true
        cases.append(("normalized", normalized))
        var weighted = FocalLoss(activation: .sigmoid, alpha: 0.25)
        weighted.classWeights = [0.5, 2, 1]
        cases.append(("alpha and weights", weighted))
        for (name, plain) in cases {
            var loss = plain
            loss.ignoreIndex = ignore
            let whole = try loss.evaluate(logits, target: .labels(target), gradient: true)
            let reference = try plain.evaluate(x, target: .labels(y), gradient: true)
            XCTAssertEqual(Double(whole.value), Double(reference.value), accuracy: 1e-12, name)
            let kept = zip(whole.gradient!.scalars.indices, whole.gradient!.scalars).filter { !ignored[$0.0 / c] }
            XCTAssertEqual(kept.count, reference.gradient!.count, name)
            for ((_, a), b) in zip(kept, reference.gradient!.scalars) {
                XCTAssertEqual(a, b, accuracy: 1e-12 * max(1e-3, abs(b)), name)
            }
        }
    }

    func testABatchWithEveryPositionIgnoredHasAFiniteLossAndNoGradient() throws {
        let logits = try Tensor<Float>(
            shape: [2, 4, 4, c], scalars: (0..<(2 * 16 * c)).map { Float($0 % 5) - 2 })
        let target = try LabelMap(shape: [2, 4, 4], labels: [Int](repeating: ignore, count: 32))
        var options = LossOptions()
        options.distanceMatrix = WassersteinDiceLoss.uniformDistances(classes: c)
        for kind in LossKind.allCases where kind.acceptsIgnoreIndex {
            let result = try options.objective(kind, classes: c, ignoreIndex: ignore)
                .evaluate(logits, target: .labels(target), gradient: true)
            XCTAssertTrue(result.value.isFinite, "\(kind.rawValue): \(result.value)")
            XCTAssertTrue(result.gradient!.scalars.allSatisfy { $0 == 0 }, "\(kind.rawValue): a nonzero gradient")
        }
    }
}
