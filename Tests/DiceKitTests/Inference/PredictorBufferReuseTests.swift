// Prediction with buffers reused between batches (one input batch refilled in place, the result
// allocated once): the logits are those of each batch run through the network on its own, bit
// for bit, with a shorter last batch, on repeated calls, and the caller's images stay untouched.

import XCTest

@testable import DiceKit

final class PredictorBufferReuseTests: XCTestCase {
    private func network() throws -> UNet<Float> {
        try UNet<Float>(UNetConfiguration(inputChannels: 3, classes: 3, baseWidth: 4, depth: 2), seed: 11)
    }

    func testBatchedLogitsEqualEachBatchOnItsOwn() throws {
        let model = try network()
        var generator = SeededGenerator(seed: 12)
        let images = Tensor<Float>.uniform([5, 16, 12, 3], generator: &generator)
        let copy = try Tensor(shape: images.shape, scalars: images.scalars)
        let per = 16 * 12 * 3
        for batchSize in [1, 2, 5, 8] {
            var expected: [Float] = []
            for start in stride(from: 0, to: 5, by: batchSize) {
                let end = min(start + batchSize, 5)
                let slice = try Tensor(
                    shape: [end - start, 16, 12, 3], scalars: Array(images.scalars[(start * per)..<(end * per)]))
                expected += try model.forward(slice, mode: .evaluation).scalars
            }
            let logits = try Predictor.logits(model, images: images, batchSize: batchSize)
            XCTAssertEqual(logits.shape, [5, 16, 12, 3])
            XCTAssertEqual(logits.scalars, expected, "batch size \(batchSize)")
            XCTAssertEqual(try Predictor.logits(model, images: images, batchSize: batchSize), logits, "repeated call")
        }
        XCTAssertEqual(images, copy, "the images are read, never written")
        XCTAssertEqual(try Predictor.logits(model, images: Tensor(shape: [0, 16, 12, 3])).shape, [0])
    }

    func testSlidingWindowBatchesEqualWindowsRunOneByOne() throws {
        let model = try network()
        var generator = SeededGenerator(seed: 13)
        let image = Tensor<Float>.uniform([20, 28, 3], generator: &generator)
        let window = try SlidingWindow(tile: [8], overlap: 0.5, batchSize: 5)
        // The windows, cut out and blended here without the batch buffer.
        let extents = [20, 28]
        let sizes = window.tile(for: extents)
        let positions = window.windows(extents: extents, sizes: sizes)
        XCTAssertNotEqual(positions.count % 5, 0, "a shorter last batch is exercised")
        let weight = window.importanceMap(sizes: sizes)
        var sum = [Float](repeating: 0, count: 20 * 28 * 3)
        var weights = [Float](repeating: 0, count: 20 * 28)
        for batchStart in stride(from: 0, to: positions.count, by: 5) {
            let batch = positions[batchStart..<min(batchStart + 5, positions.count)]
            var input: [Float] = []
            for start in batch {
                input += SpatialRemap.remap(
                    image.scalars, extents: extents, channels: 3,
                    maps: extents.indices.map { a in Array(start[a]..<(start[a] + sizes[a])) })
            }
            let output = try model.forward(
                Tensor(shape: [batch.count] + sizes + [3], scalars: input), mode: .evaluation)
            for (k, start) in batch.enumerated() {
                let count = sizes.reduce(3, *)
                SpatialRemap.accumulate(
                    output.scalars[(k * count)..<((k + 1) * count)], weight: weight, windowExtents: sizes, at: start,
                    into: &sum, weights: &weights, extents: extents, channels: 3)
            }
        }
        for p in 0..<(20 * 28) { for k in 0..<3 { sum[p * 3 + k] /= weights[p] } }
        let logits = try Predictor.logits(model, image: image, settings: InferenceSettings(window: window))
        XCTAssertEqual(logits.scalars, sum)
    }
}
