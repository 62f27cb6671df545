// Exact global losses: the statistics exchanged between the two passes (the Dice family, MCC),
// the errors sorted together (Lovász over the batch) or the per-rank means weighted by their
// samples (focal, in compounds with Dice; Lovász per image) give every rank the
// loss of the whole batch and the gradient of its own samples, equal to one process on the
// global batch to Float rounding. The ranks run one after the other here: a recording pass
// collects each rank's contribution, then each rank replays the gather with all of them (the
// same code path as MPI, which the mpirun tests in MPITrainingTests exercise end to end).

import XCTest

@testable import DiceKit

/// A stand-in for p ranks run in sequence: each collective (the k-th call of an evaluation)
/// records this rank's contribution and answers with all recorded so far (a rank not recorded
/// yet counts as one without samples: an empty gather, zeros in a sum).
final class ReplayCommunicator: Communicator {
    let rank: Int
    let size: Int
    /// calls[k][r]: rank r's contribution to the k-th collective.
    var calls: [[[Double]]]
    private var next = 0

    init(rank: Int, size: Int, calls: [[[Double]]]) {
        self.rank = rank
        self.size = size
        self.calls = calls
    }

    /// Records `values` as this rank's part of the next collective and returns every rank's.
    private func record(_ values: [Double]) -> [[Double]] {
        if next == calls.count { calls.append([[Double]](repeating: [], count: size)) }
        calls[next][rank] = values
        next += 1
        return calls[next - 1]
    }

    func allReduceSum(_ values: inout [Float]) throws { XCTFail("not used by the losses") }
    func allReduceSum(_ values: inout [Double]) throws {
        let parts = record(values)
        values = (0..<values.count).map { i in parts.reduce(0) { $0 + ($1.isEmpty ? 0 : $1[i]) } }
    }
    func broadcast(_ values: inout [Float], root: Int) throws { XCTFail("not used by the losses") }
    func allGather(_ values: [Double]) throws -> [[Double]] {
        record(values).map { $0.isEmpty ? [0] : $0 }
    }
}

final class LossExchangeTests: XCTestCase {
    /// Splits a batch of `n` samples between `ranks` ranks (rank r takes samples r, r+p, …) and
    /// compares each rank's loss and gradient rows with one evaluation of the whole batch.
    private func check<T: BLASScalar>(
        _ type: T.Type, _ name: String, loss: any DistributedSegmentationLoss, n: Int, ranks: Int, tolerance: Double,
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
        var calls: [[[Double]]] = []
        for r in 0..<ranks {
            let recorder = ReplayCommunicator(rank: r, size: ranks, calls: calls)
            let (x, y) = rows(shards[r])
            _ = try loss.evaluate(x, target: .labels(y), contributes: true, gradient: false, across: recorder)
            calls = recorder.calls
        }
        for r in 0..<ranks {
            let (x, y) = rows(shards[r])
            let result = try loss.evaluate(
                x, target: .labels(y), contributes: true, gradient: true,
                across: ReplayCommunicator(rank: r, size: ranks, calls: calls))
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

    private func losses() -> [(String, any DistributedSegmentationLoss)] {
        var batchDice = DiceLoss(activation: .softmax)
        batchDice.batch = true
        var perImage = DiceLoss(activation: .softmax)
        perImage.crossEntropyWeight = 1
        // The CE mean divides by the global batch's sum of the labels' class weights.
        var weightedCE = perImage
        weightedCE.crossEntropyClassWeights = [0.3, 2, 1.4]
        weightedCE.labelSmoothing = 0.1
        var posWeighted = DiceLoss(activation: .sigmoid)
        posWeighted.crossEntropyWeight = 0.7
        posWeighted.crossEntropyClassWeights = [2.5, 0.5, 1]
        var generalized = DiceLoss(variant: .generalized(), activation: .softmax)
        generalized.batch = true
        var excluded = DiceLoss(variant: .jaccard, activation: .softmax)
        excluded.emptyClass = .exclude
        var sum = DiceLoss(variant: .tversky(), activation: .sigmoid)
        sum.reduction = .sum
        sum.batch = true
        // Label 1 ignored: the samples send different numbers of errors.
        var ignoring = LovaszLoss(variant: .softmax)
        ignoring.ignoreIndex = 1
        var focalSum = FocalLoss(activation: .softmax, gamma: 1.5)
        focalSum.reduction = .sum
        var diceFocal = DiceFocalLoss(activation: .softmax, gamma: 2, alpha: 0.25, excludeBackground: true)
        diceFocal.focalWeight = 0.5
        var diceHausdorff = DiceHausdorffLoss(activation: .softmax, alpha: 1.5)
        diceHausdorff.dice.batch = true
        diceHausdorff.hausdorffWeight = 0.3
        var hausdorffSum = DiceHausdorffLoss(activation: .sigmoid, reduction: .sum)
        hausdorffSum.hausdorff.logarithmic = true
        // Label 1 ignored: the focal mean weighs each rank by its counted positions.
        var focalIgnoring = FocalLoss(activation: .softmax)
        focalIgnoring.ignoreIndex = 1
        var sigmoidFocalIgnoring = FocalLoss(activation: .sigmoid, gamma: 1.5)
        sigmoidFocalIgnoring.ignoreIndex = 1
        var mccIgnoring = MCCLoss(activation: .softmax)
        mccIgnoring.ignoreIndex = 1
        var diceFocalIgnoring = DiceFocalLoss(activation: .softmax)
        diceFocalIgnoring.dice.ignoreIndex = 1
        diceFocalIgnoring.focal.ignoreIndex = 1
        // Regions over labels 1 and 2 (order 1, 2, 1 gives both back); label 2 ignored in the
        // second: the Dice alone and the rescaled cross-entropy, both exchanged.
        let regions = try! LabelRegions(regions: [[1, 2], [2], [1]], order: [1, 2, 1])
        var regionDiceCE = DiceLoss(variant: .dice)
        regionDiceCE.crossEntropyWeight = 1
        regionDiceCE.batch = true
        let labelOne = try! LabelRegions(regions: [[1], [1], [1]], order: [1, 1, 1])
        let regionIgnoring = RegionLoss(regions: labelOne, loss: regionDiceCE, ignoreIndex: 2)
        return [
            ("batch dice", batchDice), ("per-image dice-ce", perImage), ("generalized batch", generalized),
            ("dice-ce, class weights, smoothing", weightedCE), ("dice + BCE, pos_weight", posWeighted),
            ("jaccard, empty excluded", excluded), ("tversky sigmoid sum", sum),
            ("focal sigmoid mean", FocalLoss(activation: .sigmoid)), ("focal softmax sum", focalSum),
            ("dice-focal", diceFocal),
            ("generalized dice-focal batch", GeneralizedDiceFocalLoss(activation: .softmax, batch: true)),
            ("mcc softmax", MCCLoss(activation: .softmax)), ("mcc sigmoid", MCCLoss(activation: .sigmoid)),
            ("lovasz softmax batch", LovaszLoss(variant: .softmax)),
            ("lovasz hinge batch", LovaszLoss(variant: .hinge)),
            ("lovasz softmax batch, ignore 1", ignoring), ("lovasz per image", LovaszLoss(perImage: true)),
            ("dice-hausdorff, batch dice", diceHausdorff), ("dice-hausdorff sigmoid sum, log", hausdorffSum),
            ("focal softmax mean, ignore 1", focalIgnoring), ("focal sigmoid mean, ignore 1", sigmoidFocalIgnoring),
            ("mcc softmax, ignore 1", mccIgnoring), ("dice-focal, ignore 1", diceFocalIgnoring),
            ("regions, batch dice + BCE", RegionLoss(regions: regions, loss: regionDiceCE)),
            ("regions, dice + BCE, ignore 2", regionIgnoring),
            (
                "regions, generalized dice-focal batch",
                RegionLoss(regions: regions, loss: GeneralizedDiceFocalLoss(activation: .sigmoid, batch: true))
            ),
            (
                "regions, dice-focal, ignore 2",
                RegionLoss(regions: labelOne, loss: DiceFocalLoss(activation: .sigmoid), ignoreIndex: 2)
            ),
            (
                "regions, lovasz-hinge, ignore 2",
                RegionLoss(regions: labelOne, loss: LovaszLoss(variant: .hinge), ignoreIndex: 2)
            ),
            ("regions, mcc, ignore 2", RegionLoss(regions: labelOne, loss: MCCLoss(), ignoreIndex: 2)),
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
        let r0 = ReplayCommunicator(rank: 0, size: 2, calls: [])
        _ = try loss.evaluate(x, target: .labels(y), across: r0)
        let r1 = ReplayCommunicator(rank: 1, size: 2, calls: r0.calls)
        let value = try loss.evaluate(placeholder, target: .labels(none), contributes: false, across: r1).value
        XCTAssertEqual(r1.calls[0][1].count, 1, "only the cross-entropy slot (zero)")
        XCTAssertEqual(Double(value), Double(whole.value), accuracy: 1e-14)
        // The same for the losses that sum over the ranks: the placeholder adds nothing.
        var focal = FocalLoss(activation: .softmax)
        focal.reduction = .sum
        let others: [(String, any DistributedSegmentationLoss)] = [
            ("focal mean", FocalLoss(activation: .softmax)), ("focal sum", focal),
            ("dice-focal", DiceFocalLoss(activation: .softmax)), ("mcc", MCCLoss(activation: .softmax)),
            ("lovasz softmax", LovaszLoss(variant: .softmax)), ("lovasz hinge", LovaszLoss(variant: .hinge)),
        ]
        for (name, loss) in others {
            let whole = try loss.evaluate(x, target: .labels(y), gradient: true)
            let r0 = ReplayCommunicator(rank: 0, size: 2, calls: [])
            _ = try loss.evaluate(x, target: .labels(y), contributes: true, gradient: false, across: r0)
            let r1 = ReplayCommunicator(rank: 1, size: 2, calls: r0.calls)
            _ = try loss.evaluate(placeholder, target: .labels(none), contributes: false, gradient: false, across: r1)
            for (r, samples, labels, contributes) in [(0, x, y, true), (1, placeholder, none, false)] {
                let replay = ReplayCommunicator(rank: r, size: 2, calls: r1.calls)
                let result = try loss.evaluate(
                    samples, target: .labels(labels), contributes: contributes, gradient: true, across: replay)
                XCTAssertEqual(Double(result.value), Double(whole.value), accuracy: 1e-12, "\(name), rank \(r)")
                if contributes {
                    for (a, b) in zip(result.gradient!.scalars, whole.gradient!.scalars) {
                        XCTAssertEqual(a, b, accuracy: 1e-12 * max(1, abs(b)), "\(name): rank 0's gradient")
                    }
                }
            }
        }
    }

    func testLovaszTiesAreOrderedAsInTheGlobalBatch() throws {
        // Every sample has the same logits, so each error ties with its counterparts in the other
        // samples; ties go by position, so the slopes depend on where each sample sits in the
        // gathered batch. Two ranks take samples 0, 2 and 1, 3 (the trainer's interleaving).
        let (n, s, c) = (4, 6, 2)
        let one = (0..<(s * c)).map { Double($0 % 5) * 0.5 - 1 }
        let x = try Tensor<Double>(shape: [n, s, 1, c], scalars: Array((0..<n).map { _ in one }.joined()))
        let labels = (0..<(n * s)).map { ($0 * 7 / 3) % 2 }
        let loss = LovaszLoss(variant: .softmax)
        let whole = try loss.evaluate(
            x, target: .labels(try LabelMap(shape: [n, s, 1], labels: labels)), gradient: true)
        func part(_ r: Int) throws -> (Tensor<Double>, LabelMap) {
            let samples = [r, r + 2]
            return (
                try Tensor(shape: [2, s, 1, c], scalars: Array(samples.map { _ in one }.joined())),
                try LabelMap(shape: [2, s, 1], labels: samples.flatMap { labels[($0 * s)..<(($0 + 1) * s)] })
            )
        }
        let recorder0 = ReplayCommunicator(rank: 0, size: 2, calls: [])
        let (x0, y0) = try part(0)
        _ = try loss.evaluate(x0, target: .labels(y0), across: recorder0)
        let recorder1 = ReplayCommunicator(rank: 1, size: 2, calls: recorder0.calls)
        let (x1, y1) = try part(1)
        _ = try loss.evaluate(x1, target: .labels(y1), across: recorder1)
        for r in 0..<2 {
            let (xr, yr) = try part(r)
            let result = try loss.evaluate(
                xr, target: .labels(yr), gradient: true,
                across: ReplayCommunicator(rank: r, size: 2, calls: recorder1.calls))
            XCTAssertEqual(result.value, whole.value, accuracy: 1e-15)
            for (i, sample) in [r, r + 2].enumerated() {
                XCTAssertEqual(
                    Array(result.gradient!.scalars[(i * s * c)..<((i + 1) * s * c)]),
                    Array(whole.gradient!.scalars[(sample * s * c)..<((sample + 1) * s * c)]),
                    "rank \(r), sample \(sample): the slopes of one process on the global batch")
            }
        }
    }

    func testAMalformedLovaszContributionIsAOneLineError() throws {
        let x = Tensor<Double>(shape: [1, 2, 2, 2])
        let y = try LabelMap(shape: [1, 2, 2], labels: [0, 1, 1, 0])
        // Rank 1's part: a fractional sample count; a count past the end; a NaN count; one value too many.
        for bad in [[0.5], [1, 1e9, 0, 0], [1, .nan, 0, 0, 0, 0, 0], [0, 0, 0]] as [[Double]] {
            let replay = ReplayCommunicator(rank: 0, size: 2, calls: [[[], bad]])
            XCTAssertThrowsError(try LovaszLoss().evaluate(x, target: .labels(y), across: replay)) { error in
                XCTAssertTrue("\(error)".contains("rank 1 sent a malformed list"), "\(error)")
                XCTAssertFalse("\(error)".contains("\n"))
            }
        }
    }

    func testSettingsThatCannotBeExchangedAreRefused() throws {
        let x = Tensor<Double>(shape: [1, 2, 2, 2])
        let y = try LabelMap(shape: [1, 2, 2], labels: [0, 1, 1, 0])
        var none = FocalLoss(activation: .sigmoid)
        none.reduction = .none
        var normalized = FocalLoss(activation: .sigmoid)
        normalized.normalized = true
        for (loss, text) in [(none, "reduction none"), (normalized, "normalized focal loss across ranks")] {
            let replay = ReplayCommunicator(rank: 0, size: 2, calls: [])
            XCTAssertThrowsError(try loss.evaluate(x, target: .labels(y), across: replay)) { error in
                XCTAssertTrue("\(error)".contains(text), "\(error)")
            }
            XCTAssertTrue(replay.calls.isEmpty, "refused before any collective")
        }
        var batchHausdorff = DiceHausdorffLoss(activation: .softmax)
        batchHausdorff.hausdorff.batch = true
        let replay = ReplayCommunicator(rank: 0, size: 2, calls: [])
        XCTAssertThrowsError(try batchHausdorff.evaluate(x, target: .labels(y), across: replay)) { error in
            XCTAssertTrue("\(error)".contains("a batch Hausdorff term"), "\(error)")
        }
        XCTAssertTrue(replay.calls.isEmpty, "refused before any collective")
    }
}
