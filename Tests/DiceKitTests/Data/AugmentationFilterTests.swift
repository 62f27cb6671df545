// The image-only filters of augmentation: the Gaussian blur against SciPy's gaussian_filter
// (Fixtures/augmentation/blur.json, Scripts/make_augmentation_fixtures.py), and `noise` and
// `blur` through `Augmentation.apply`: masks untouched, the drawn probability and strength, the
// earlier augmentations' draws unchanged, names.

import XCTest

@testable import DiceKit

final class AugmentationFilterTests: XCTestCase {
    private struct Case: Decodable {
        let name: String
        let shape: [Int]
        let sigma: Double
        let sample: [Float]
        let blurred: [Double]
    }

    private struct Fixture: Decodable { let cases: [Case] }

    func testBlurMatchesSciPysGaussianFilter() throws {
        let data = try Data(contentsOf: fixtureURL("augmentation/blur.json"))
        let fixture = try JSONDecoder().decode(Fixture.self, from: data)
        XCTAssertEqual(fixture.cases.count, 5)
        for golden in fixture.cases {
            var image = golden.sample
            Augmentation.gaussianBlur(
                &image, extents: Array(golden.shape.dropLast()), channels: golden.shape.last!, sigma: golden.sigma)
            let worst = zip(image, golden.blurred).map { abs(Double($0) - $1) }.max()!
            XCTAssertLessThan(worst, 2e-6, golden.name)
        }
        XCTAssertEqual(Augmentation.reflected(-1, 4), 0)
        XCTAssertEqual(Augmentation.reflected(-3, 4), 2)
        XCTAssertEqual(Augmentation.reflected(5, 4), 2)
        XCTAssertEqual(Augmentation.reflected(9, 4), 1)
        XCTAssertEqual(Augmentation.gaussianKernel(sigma: 1).count, 9)
    }

    /// `count` samples of 16², each a constant value, with the synthetic set's masks.
    private func flat(count: Int) throws -> SegmentationDataset {
        let polyps = try SegmentationDataset.syntheticPolyps(count: count, seed: 4, configuration: .init(size: 16))
        return SegmentationDataset(
            unchecked: Tensor(
                uncheckedShape: polyps.images.shape, storage: .init(repeating: 0.5, count: polyps.images.count)),
            labels: polyps.labels, classes: 2, ignoreIndex: nil)
    }

    func testNoiseIsDrawnWithItsProbabilityAndStrengthAndLeavesMasksAlone() throws {
        let data = try flat(count: 400)
        let out = Augmentation(kinds: [.noise]).apply(to: data, seeds: (0..<400).map { UInt64($0) })
        XCTAssertEqual(out.labels, data.labels)
        let n = 16 * 16 * 3
        var noisy = 0
        for i in 0..<400 {
            let values = out.images.scalars[(i * n)..<((i + 1) * n)].map { Double($0) - 0.5 }
            guard values.contains(where: { $0 != 0 }) else { continue }
            noisy += 1
            let deviation = (values.map { $0 * $0 }.reduce(0, +) / Double(n)).squareRoot()
            XCTAssertLessThan(deviation, 0.05 * 1.1, "sample \(i): σ is drawn from [0, 0.05]")
        }
        // p = 0.15 over 400 samples: 60 expected, binomial standard deviation 7.1.
        XCTAssertTrue((35...85).contains(noisy), "\(noisy) noisy samples")
    }

    func testBlurKeepsConstantsAndMasksAndSmoothsEdges() throws {
        let constant = try flat(count: 8)
        let always = Augmentation(blurProbability: 1, blurSigma: 1)
        let kept = always.apply(to: constant, seeds: (0..<8).map { UInt64($0) })
        XCTAssertEqual(kept.labels, constant.labels)
        for value in kept.images.scalars { XCTAssertEqual(value, 0.5, accuracy: 1e-6) }

        // A polyp image: the blur of one σ in [0.5, 1] pixels; the total brightness stays (reflect).
        let polyps = try SegmentationDataset.syntheticPolyps(count: 1, seed: 2, configuration: .init(size: 16))
        let blurred = always.apply(to: polyps, seeds: [11]).images.scalars
        let matches = stride(from: 0.5, through: 1.0, by: 0.001).contains { sigma in
            var image = polyps.images.scalars
            Augmentation.gaussianBlur(&image, extents: [16, 16], channels: 3, sigma: sigma)
            return zip(image, blurred).allSatisfy { abs($0 - $1) < 1e-3 }
        }
        XCTAssertTrue(matches, "the blur is a Gaussian of σ in [0.5, 1]")
        XCTAssertNotEqual(blurred, polyps.images.scalars)
    }

    func testEarlierDrawsAndNamesAreUnchanged() throws {
        let data = try SegmentationDataset.syntheticPolyps(count: 4, seed: 1, configuration: .init(size: 16))
        let seeds: [UInt64] = [5, 6, 7, 8]
        let before = Augmentation(kinds: [.flip, .rot90, .affine]).apply(to: data, seeds: seeds)
        let after = Augmentation(kinds: [.flip, .rot90, .affine, .noise, .blur]).apply(to: data, seeds: seeds)
        XCTAssertEqual(after.labels, before.labels, "noise and blur draw after the geometric augmentations")
        XCTAssertEqual(try Augmentation(names: "blur,flip,noise").names, "flip,noise,blur")
        XCTAssertNil(Augmentation(noiseProbability: 0.5, noiseStandardDeviation: 0.05).names)
        XCTAssertThrowsError(try Augmentation(blurProbability: 1, blurSigma: 9).validate(spatialShape: [8, 8]))
        XCTAssertThrowsError(
            try Augmentation(noiseProbability: 2, noiseStandardDeviation: 0.1).validate(spatialShape: [8, 8]))
        XCTAssertThrowsError(
            try Augmentation(noiseProbability: 1, noiseStandardDeviation: -1).validate(spatialShape: [8, 8]))
    }
}
