// Inference on images of any size: padding and cropping, sliding windows against MONAI's
// `sliding_window_inference` (Fixtures/sliding_window, made by
// Scripts/make_sliding_window_fixtures.py), and flip test-time augmentation.

import XCTest

@testable import DiceKit

final class SlidingWindowTests: XCTestCase {
    private func network(channels: Int = 3, classes: Int = 3, depth: Int = 2, rank: Int = 2, seed: UInt64 = 7) throws
        -> UNet<Float>
    {
        try UNet<Float>(
            UNetConfiguration(inputChannels: channels, classes: classes, baseWidth: 4, depth: depth, spatialRank: rank),
            seed: seed)
    }

    private func image(_ shape: [Int], seed: UInt64) -> Tensor<Float> {
        var generator = SeededGenerator(seed: seed)
        return Tensor<Float>.uniform(shape, generator: &generator)
    }

    /// MONAI 1.6.1, mode "gaussian", sigma_scale 0.125, on the reference U-Net's weights.
    func testGaussianBlendingMatchesMONAI() throws {
        let cases =
            try JSONSerialization.jsonObject(with: Data(contentsOf: fixtureURL("sliding_window/cases.json")))
            as! [String: [String: Any]]
        XCTAssertEqual(cases.count, 3)
        for (name, entry) in cases.sorted(by: { $0.key < $1.key }) {
            let model = try UNet<Float>.load(contentsOf: fixtureURL(entry["weights"] as! String).path)
            let input = try NPY.read(contentsOf: fixtureURL("sliding_window/\(name)_image.npy").path).tensor(
                of: Float.self)
            let expected = try NPY.read(contentsOf: fixtureURL("sliding_window/\(name)_logits.npy").path).tensor(
                of: Float.self)
            let window = try SlidingWindow(
                tile: entry["roi"] as! [Int], overlap: entry["overlap"] as! Double, batchSize: entry["batch"] as! Int)
            let logits = try Predictor.logits(model, image: input, settings: InferenceSettings(window: window))
            // Observed: at most 4.5e-8 (logits up to 0.22) on AMD Zen 5; the bound leaves room
            // for other GEMM kernels (Float sums in another order).
            assertClose(logits, expected, relativeTolerance: 1e-5, absoluteTolerance: 1e-6, name)
            // The windows overlap: blending differs from one pass over the whole image.
            let whole = try Predictor.logits(model, image: input)
            XCTAssertGreaterThan(zip(whole.scalars, expected.scalars).map { abs($0 - $1) }.max()!, 1e-4, name)
        }
    }

    func testWindowStartsFollowMONAI() throws {
        let half = try SlidingWindow(tile: [24], overlap: 0.5)
        XCTAssertEqual(half.starts(extent: 52, size: 24), [0, 12, 24, 28])
        XCTAssertEqual(half.starts(extent: 24, size: 24), [0])
        let quarter = try SlidingWindow(tile: [12], overlap: 0.25)
        XCTAssertEqual(quarter.starts(extent: 36, size: 12), [0, 9, 18, 24])
        XCTAssertEqual(try SlidingWindow(tile: [8], overlap: 0.99).starts(extent: 10, size: 8), [0, 1, 2])
        XCTAssertEqual(half.windows(extents: [52, 24], sizes: [24, 24]).count, 4)
        XCTAssertEqual(half.tile(for: [16, 40]), [16, 24], "a tile larger than the image is clamped")
        let map = half.importanceMap(sizes: [4, 6])
        XCTAssertEqual(map.count, 24)
        XCTAssertEqual(map[1 * 6 + 2], map[2 * 6 + 3], "symmetric")
        XCTAssertEqual(map.min()!, 1e-3, accuracy: 1e-9, "clamped below")
    }

    func testPaddingMaps() {
        XCTAssertEqual(SpatialRemap.padMap(extent: 3, before: 2, after: 3, mode: .reflect), [2, 1, 0, 1, 2, 1, 0, 1])
        XCTAssertEqual(SpatialRemap.padMap(extent: 1, before: 1, after: 2, mode: .reflect), [0, 0, 0, 0])
        XCTAssertEqual(SpatialRemap.padMap(extent: 2, before: 1, after: 1, mode: .zero), [-1, 0, 1, -1])
    }

    func testImagesThatFitRunAsTheyAre() throws {
        let model = try network()
        for shape in [[12, 16, 3], [8, 4, 3]] {
            let x = image(shape, seed: 1)
            let direct = try model.forward(try x.reshaped(to: [1] + shape), mode: .evaluation)
            for padding in PaddingMode.allCases {
                XCTAssertEqual(
                    try Predictor.logits(model, image: x, settings: InferenceSettings(padding: padding)),
                    try direct.reshaped(to: Array(shape.dropLast()) + [3]))
            }
        }
    }

    func testOddSizesArePaddedAndCroppedBack() throws {
        let model = try network()
        let x = image([13, 7, 3], seed: 2)
        let reflected = try Predictor.logits(model, image: x)
        XCTAssertEqual(reflected.shape, [13, 7, 3])
        // Zero padding by hand: 13 × 7 → 16 × 8 with (1, 0) rows and (0, 0) columns before.
        var padded = Tensor<Float>(shape: [1, 16, 8, 3])
        for y in 0..<13 {
            for x0 in 0..<7 { for c in 0..<3 { padded.scalars[((1 + y) * 8 + x0) * 3 + c] = x[y, x0, c] } }
        }
        let full = try model.forward(padded, mode: .evaluation)
        var cropped = [Float]()
        for y in 0..<13 { for x0 in 0..<7 { for c in 0..<3 { cropped.append(full[0, 1 + y, x0, c]) } } }
        let zero = try Predictor.logits(model, image: x, settings: InferenceSettings(padding: .zero))
        XCTAssertEqual(zero.scalars, cropped)
        XCTAssertNotEqual(zero, reflected, "the padding mode matters near the border")
        // A single pixel and a 3-D volume of odd extents.
        XCTAssertEqual(try Predictor.logits(model, image: image([1, 1, 3], seed: 3)).shape, [1, 1, 3])
        let volume = try network(channels: 1, classes: 2, rank: 3)
        XCTAssertEqual(
            try Predictor.logits(
                volume, image: image([5, 9, 6, 1], seed: 4),
                settings: InferenceSettings(window: try SlidingWindow(tile: [4, 8, 4]))
            ).shape, [5, 9, 6, 2])
    }

    func testOneWindowOverTheImageIsPlainInference() throws {
        let model = try network()
        let x = image([16, 12, 3], seed: 5)
        let plain = try Predictor.logits(model, image: x)
        for tile in [[16, 12], [64]] {
            let windowed = try Predictor.logits(
                model, image: x, settings: InferenceSettings(window: try SlidingWindow(tile: tile)))
            assertClose(windowed, plain, relativeTolerance: 1e-6, absoluteTolerance: 1e-7, "tile \(tile)")
        }
    }

    func testWindowBatchSizeDoesNotChangeTheResult() throws {
        let model = try network()
        let x = image([20, 28, 3], seed: 6)
        let one = try Predictor.logits(
            model, image: x,
            settings: InferenceSettings(window: try SlidingWindow(tile: [8], overlap: 0.5, batchSize: 1)))
        let many = try Predictor.logits(
            model, image: x,
            settings: InferenceSettings(window: try SlidingWindow(tile: [8], overlap: 0.5, batchSize: 7)))
        // The GEMMs block a batch of 7 windows differently from one: equal up to rounding.
        assertClose(one, many, relativeTolerance: 1e-5, absoluteTolerance: 1e-6)
        XCTAssertEqual(
            one,
            try Predictor.logits(
                model, image: x,
                settings: InferenceSettings(window: try SlidingWindow(tile: [8], overlap: 0.5, batchSize: 1))),
            "the same settings give the same bits")
    }

    /// A network whose every kernel is mirror-symmetric commutes with flips, so the mean over
    /// flipped copies (each flipped back) is the plain prediction; a missing flip-back would
    /// average mirrored predictions instead.
    func testFlipAugmentationOnAFlipEquivariantNetwork() throws {
        let model = try network()
        var state = model.parameters.stateDict()
        for name in state.names where name.hasSuffix("weight") {
            let w = try state.tensor(named: name, as: Float.self)
            guard w.rank == 4 else { continue }
            let (kh, kw) = (w.shape[2], w.shape[3])
            var symmetric = w
            for i in 0..<(w.shape[0] * w.shape[1]) {
                for y in 0..<kh {
                    for x in 0..<kw {
                        let at = { (yy: Int, xx: Int) in w.scalars[(i * kh + yy) * kw + xx] }
                        symmetric.scalars[(i * kh + y) * kw + x] =
                            (at(y, x) + at(kh - 1 - y, x) + at(y, kw - 1 - x) + at(kh - 1 - y, kw - 1 - x)) / 4
                    }
                }
            }
            state.setTensor(symmetric, named: name)
        }
        try model.parameters.load(state)
        let x = image([12, 16, 3], seed: 8)
        let plain = try Predictor.logits(model, image: x)
        let augmented = try Predictor.logits(model, image: x, settings: InferenceSettings(augmentation: .flip))
        assertClose(augmented, plain, relativeTolerance: 1e-5, absoluteTolerance: 1e-6)
        // On an ordinary network the flips disagree, so the average differs.
        let ordinary = try network()
        XCTAssertNotEqual(
            try Predictor.logits(ordinary, image: x, settings: InferenceSettings(augmentation: .flip)),
            try Predictor.logits(ordinary, image: x))
    }

    /// The flip average by hand (each flip written out with index arithmetic) for a volume:
    /// all 8 combinations of the three axes, each prediction flipped back.
    func testFlipAugmentationOfAVolumeAveragesEveryFlip() throws {
        let model = try network(channels: 1, classes: 2, rank: 3, seed: 3)
        let x = image([4, 8, 6, 1], seed: 9)
        func flipped(_ t: Tensor<Float>, _ mask: Int) -> Tensor<Float> {
            var out = t
            let (d, h, w, c) = (t.shape[0], t.shape[1], t.shape[2], t.shape[3])
            for z in 0..<d {
                for y in 0..<h {
                    for x0 in 0..<w {
                        for k in 0..<c {
                            let (sz, sy, sx) = (
                                mask & 1 != 0 ? d - 1 - z : z, mask & 2 != 0 ? h - 1 - y : y,
                                mask & 4 != 0 ? w - 1 - x0 : x0
                            )
                            out.scalars[((z * h + y) * w + x0) * c + k] = t[sz, sy, sx, k]
                        }
                    }
                }
            }
            return out
        }
        var mean = Tensor<Float>(shape: [4, 8, 6, 2])
        for mask in 0..<8 {
            let back = flipped(try Predictor.logits(model, image: flipped(x, mask)), mask)
            for i in 0..<mean.count { mean.scalars[i] += back.scalars[i] / 8 }
        }
        assertClose(
            try Predictor.logits(model, image: x, settings: InferenceSettings(augmentation: .flip)), mean,
            relativeTolerance: 1e-5, absoluteTolerance: 1e-6)
    }

    func testBadSettingsNameTheValue() throws {
        let model = try network()
        XCTAssertThrowsError(try SlidingWindow(tile: [16], overlap: 1)) {
            XCTAssertTrue("\($0)".contains("[0, 1)"), "\($0)")
        }
        XCTAssertThrowsError(try SlidingWindow(tile: [16], overlap: -0.1))
        XCTAssertThrowsError(try SlidingWindow(tile: [0]))
        let odd = InferenceSettings(window: try SlidingWindow(tile: [10]))
        XCTAssertThrowsError(try Predictor.logits(model, image: image([16, 16, 3], seed: 1), settings: odd)) {
            XCTAssertTrue("\($0)".contains("tile 10 is not a multiple of 2^depth = 4"), "\($0)")
        }
        XCTAssertThrowsError(try Predictor.logits(model, image: image([16, 16, 1], seed: 1))) {
            XCTAssertTrue("\($0)".contains("expects 3"), "\($0)")
        }
        XCTAssertThrowsError(try Predictor.logits(model, image: image([4, 16, 16, 3], seed: 1)))
    }

    func testProbabilities() throws {
        let p = try Predictor.probabilities(try Tensor(shape: [2, 2], scalars: [0, 0, 1000, 0]))
        XCTAssertEqual(p.scalars, [0.5, 0.5, 1, 0])
        XCTAssertEqual(try Predictor.probabilities(try Tensor(shape: [1, 1], scalars: [0])).scalars, [0.5])
    }
}
