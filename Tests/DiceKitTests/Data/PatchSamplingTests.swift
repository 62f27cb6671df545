// Patch-based training data: where patches are cut (uniform, centred on a foreground voxel of a
// class drawn uniformly, centred and padded on short axes), the bytes of a cut against a naive
// copy, determinism per (seed, index) whatever the batch size, a new draw every epoch and fixed
// validation patches, case-wise splits, and whole-case evaluation against the batched one.

import Foundation
import XCTest

@testable import DiceKit

final class PatchSamplingTests: XCTestCase {
    /// An image whose value tells position and channel, and labels from `label(position)`.
    private func sample(_ extents: [Int], channels: Int, label: (Int) -> Int32 = { _ in 0 }) -> SegmentationSample {
        let n = extents.reduce(1, *)
        return SegmentationSample(
            image: (0..<(n * channels)).map { Float($0) + 1 }, labels: (0..<n).map(label))
    }

    /// The patch at `corner` copied one position at a time.
    private func naiveCut(
        _ sample: SegmentationSample, extents: [Int], channels: Int, patch: [Int], corner: [Int], pad: Int32
    ) -> SegmentationSample {
        var image = [Float]()
        var labels = [Int32]()
        let positions = patch.reduce(1, *)
        for p in 0..<positions {
            var rest = p
            var source = [Int](repeating: 0, count: patch.count)
            for a in patch.indices.reversed() { (source[a], rest) = (rest % patch[a] + corner[a], rest / patch[a]) }
            let inside = zip(source, extents).allSatisfy { $0 >= 0 && $0 < $1 }
            let offset = zip(source, extents).reduce(0) { $0 * $1.1 + $1.0 }
            labels.append(inside ? sample.labels[offset] : pad)
            for c in 0..<channels { image.append(inside ? sample.image[offset * channels + c] : 0) }
        }
        return SegmentationSample(image: image, labels: labels)
    }

    func testUniformCornersCoverTheirRangeAndTheCutIsTheCasesBlock() throws {
        let sampling = try PatchSampling(extents: [3, 4], foregroundProbability: 0)
        let whole = sample([5, 7], channels: 2)
        var generator = SeededGenerator(seed: 3)
        var seen = Set<[Int]>()
        for _ in 0..<600 {
            let corner = sampling.corner(caseExtents: [5, 7], labels: whole.labels, classes: 2, using: &generator)
            XCTAssertTrue((0...2).contains(corner[0]) && (0...3).contains(corner[1]), "\(corner)")
            seen.insert(corner)
            XCTAssertEqual(
                sampling.cut(whole, caseExtents: [5, 7], channels: 2, corner: corner, padLabel: 0),
                naiveCut(whole, extents: [5, 7], channels: 2, patch: [3, 4], corner: corner, pad: 0))
        }
        XCTAssertEqual(seen.count, 3 * 4, "every start of 0...2 × 0...3")
    }

    func testShortAxesAreCentredAndPaddedWithTheIgnoreLabel() throws {
        let sampling = try PatchSampling(extents: [4, 4, 8], foregroundProbability: 0)
        let whole = sample([2, 6, 5], channels: 1) { Int32($0 % 2) }
        var generator = SeededGenerator(seed: 1)
        for _ in 0..<50 {
            let corner = sampling.corner(caseExtents: [2, 6, 5], labels: whole.labels, classes: 2, using: &generator)
            // D: 2 of 4 → start −1; W: 5 of 8 → start −⌊3/2⌋ = −1; H: 6 ≥ 4 → 0…2.
            XCTAssertEqual([corner[0], corner[2]], [-1, -1])
            XCTAssertTrue((0...2).contains(corner[1]))
            let cut = sampling.cut(whole, caseExtents: [2, 6, 5], channels: 1, corner: corner, padLabel: 255)
            XCTAssertEqual(
                cut, naiveCut(whole, extents: [2, 6, 5], channels: 1, patch: [4, 4, 8], corner: corner, pad: 255))
            XCTAssertEqual(cut.labels.filter { $0 == 255 }.count, 4 * 4 * 8 - 2 * 4 * 5)
        }
    }

    func testForcedPatchesHoldForegroundWithTheClassDrawnUniformly() throws {
        // Class 1 is one voxel, class 2 a large block: drawing voxels uniformly would almost never
        // centre on class 1; drawing the class first centres on it half of the time.
        let extents = [1, 64]
        let whole = sample(extents, channels: 1) { $0 == 3 ? 1 : ($0 >= 40 ? 2 : 0) }
        let sampling = try PatchSampling(extents: [1, 8], foregroundProbability: 1)
        var generator = SeededGenerator(seed: 7)
        var onOne = 0
        let draws = 4000
        for _ in 0..<draws {
            let corner = sampling.corner(caseExtents: extents, labels: whole.labels, classes: 3, using: &generator)
            let cut = sampling.cut(whole, caseExtents: extents, channels: 1, corner: corner, padLabel: 0)
            XCTAssertTrue(cut.labels.contains { $0 > 0 }, "\(corner)")
            if cut.labels.contains(1) {
                // Voxel 3 − 8/2 = −1, clamped to 0.
                XCTAssertEqual(corner, [0, 0])
                onOne += 1
            } else {
                XCTAssertTrue((36...56).contains(corner[1]), "centred on class 2 and clamped: \(corner)")
            }
        }
        XCTAssertEqual(Double(onOne) / Double(draws), 0.5, accuracy: 0.03)
    }

    func testTheForegroundProbabilityIsHonouredAndEmptyCasesGetUniformPatches() throws {
        // One foreground voxel at 100 of 200: a uniform 8-wide patch holds it with probability
        // 8/193; with p = 0.33 a patch holds it with probability 0.33 + 0.67 · 8/193.
        let extents = [1, 200]
        let whole = sample(extents, channels: 1) { $0 == 100 ? 1 : 0 }
        let sampling = try PatchSampling(extents: [1, 8], foregroundProbability: 0.33)
        var generator = SeededGenerator(seed: 11)
        let draws = 6000
        var holding = 0
        for _ in 0..<draws {
            let corner = sampling.corner(caseExtents: extents, labels: whole.labels, classes: 2, using: &generator)
            if (corner[1]..<(corner[1] + 8)).contains(100) { holding += 1 }
        }
        XCTAssertEqual(Double(holding) / Double(draws), 0.33 + 0.67 * 8 / 193, accuracy: 0.025)

        let empty = sample(extents, channels: 1)
        let always = try PatchSampling(extents: [1, 8], foregroundProbability: 1)
        let corners = Set(
            (0..<200).map { _ in
                always.corner(caseExtents: extents, labels: empty.labels, classes: 2, using: &generator)[1]
            })
        XCTAssertGreaterThan(corners.count, 50, "no foreground: uniform positions")
    }

    func testSettingsAreChecked() {
        assertError(try PatchSampling(extents: [4]), contains: "patch size")
        assertError(try PatchSampling(extents: [4, 0]), contains: "patch size")
        assertError(
            try PatchSampling(extents: [4, 4], foregroundProbability: 1.5), contains: "foreground oversampling")
        assertError(
            try PatchSampling(extents: [4, 4], foregroundProbability: .nan), contains: "foreground oversampling")
        assertError(try PatchSampling(extents: [4, 4], patchesPerCase: 0), contains: "patches per case")
    }

    /// Six 2-D cases of 12 × 10, two channels, a square of class 1 in each.
    private func cases() throws -> SegmentationDataset {
        let (n, h, w) = (6, 12, 10)
        let images = (0..<(n * h * w * 2)).map { Float(($0 * 7919) % 101) / 101 }
        let labels = (0..<(n * h * w)).map { i -> Int32 in
            let (s, y, x) = (i / (h * w), i / w % h, i % w)
            return (y >= s && y < s + 3 && x >= 2 && x < 5) ? 1 : 0
        }
        return try SegmentationDataset(images: Tensor(shape: [n, h, w, 2], scalars: images), labels: labels)
    }

    func testPatchesDependOnSeedAndIndexOnlyAndChangeEachEpoch() throws {
        let sampling = try PatchSampling(extents: [8, 8], foregroundProbability: 0.5, patchesPerCase: 2)
        let source = try PatchSource(cases: UniformCases(try cases()), sampling: sampling, seed: 5)
        XCTAssertEqual([source.count] + source.spatialShape, [12, 8, 8])
        XCTAssertEqual(try source.sample(at: 3), try source.sample(at: 3))
        let pairs = try (0..<6).filter { try source.sample(at: 2 * $0) != source.sample(at: 2 * $0 + 1) }
        XCTAssertGreaterThan(pairs.count, 3, "the two patches of a case are drawn apart")
        // A plan with a seed draws the source for that seed: the same bytes whatever the batch size.
        let epoch = source.drawn(seed: 42)
        for size in [1, 4, 5] {
            let plan = try BatchPlan(source: source, size: size, seed: 42)
            var index = 0
            for i in 0..<plan.count {
                let batch = try plan.batch(i)
                for (slot, sampleIndex) in batch.indices.enumerated() {
                    let expected = try epoch.sample(at: sampleIndex)
                    let n = expected.image.count
                    XCTAssertEqual(Array(batch.images.scalars[(slot * n)..<((slot + 1) * n)]), expected.image)
                    index += 1
                }
            }
            XCTAssertEqual(index, 12)
        }
        // Another epoch, other patches; no seed (validation), the source's own.
        XCTAssertNotEqual(
            try BatchPlan(source: source, size: 12, seed: 43).batch(0).images.scalars,
            try BatchPlan(source: source, size: 12, seed: 42).batch(0).images.scalars)
        XCTAssertEqual(
            try BatchPlan(source: source, size: 12).batch(0).images.scalars,
            try source.samples(Array(0..<12)).images.scalars)
    }

    func testSplitsAreByCase() throws {
        let sampling = try PatchSampling(extents: [8, 8])
        let (training, validation) = try PatchSource.split(
            UniformCases(try cases()), validationFraction: 0.34, sampling: sampling, seed: 0)
        XCTAssertEqual(Set(training.caseIndices).intersection(validation.caseIndices), [])
        XCTAssertEqual(Set(training.caseIndices + validation.caseIndices), Set(0..<6))
        XCTAssertEqual(validation.count, 2)
        let samples = try SourceSubset.split(try cases(), validationFraction: 0.34, seed: 0)
        XCTAssertEqual(validation.caseIndices, samples.validation.indices, "the cases SourceSubset.split holds out")
        assertError(
            try PatchSource(
                cases: UniformCases(try cases()), sampling: try PatchSampling(extents: [4, 4, 4]), seed: 0),
            contains: "expected 2 for images")
        assertError(
            try PatchSource(cases: UniformCases(try cases()), caseIndices: [6], sampling: sampling, seed: 0),
            contains: "case index")
    }

    func testWholeCaseEvaluationAgreesWithTheBatchedOne() throws {
        let data = try cases()
        let padded = try SegmentationDataset(
            images: data.images, labels: data.labels, classes: 2)
        let model = try UNet<Float>(UNetConfiguration(inputChannels: 2, classes: 2, baseWidth: 4, depth: 1), seed: 3)
        let trainer = try Trainer(model: model, configuration: TrainingConfiguration())
        let batched = try trainer.evaluate(padded, batchSize: 1)
        var observed = 0
        let whole = try trainer.evaluate(
            cases: UniformCases(padded), settings: InferenceSettings(padding: .zero),
            observe: { predicted, _ in
                XCTAssertEqual(predicted.shape, [1, 12, 10])
                observed += 1
            })
        XCTAssertEqual(observed, 6)
        XCTAssertEqual(whole.loss, batched.loss, accuracy: 1e-6)
        XCTAssertEqual(whole.dice, batched.dice)
        XCTAssertEqual(whole.iou, batched.iou)
        // A window over 12 × 10 in tiles of 8 × 8 still predicts every position.
        let windowed = try trainer.evaluate(
            cases: UniformCases(padded), settings: InferenceSettings(window: try SlidingWindow(tile: [8, 8])))
        XCTAssertEqual(windowed.dice.count, 2)
        XCTAssertTrue(windowed.loss.isFinite)
        assertError(
            try trainer.evaluate(
                cases: UniformCases(
                    try SegmentationDataset(
                        images: Tensor(shape: [1, 4, 4, 3], repeating: 0), labels: [Int32](repeating: 0, count: 16))),
                settings: InferenceSettings()),
            contains: "the model expects 2-D with 2")
    }
}
