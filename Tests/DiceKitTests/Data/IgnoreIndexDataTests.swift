// Data sets with unlabelled positions: the ignore index is accepted wherever masks are read (in
// memory, PNG folders in memory and streamed, .npy in memory and streamed, negative values in
// .npy), never counted as a class, filled in where a transform has no source pixel (`.fit`
// padding, the affine augmentation), skipped by the class statistics, and refused with a
// one-line message where it cannot work (binary masks, an index among the classes).

import XCTest

@testable import DiceKit

final class IgnoreIndexDataTests: XCTestCase {
    /// A 2 × 4 × 4 data set: a 2 × 2 square of class 1 (class 2 in the second sample) and a
    /// column of unlabelled positions.
    private func labels(ignore: Int32) -> [Int32] {
        var labels = [Int32](repeating: 0, count: 32)
        for (sample, cls) in [(0, Int32(1)), (1, Int32(2))] {
            for (y, x) in [(1, 1), (1, 2), (2, 1), (2, 2)] { labels[sample * 16 + y * 4 + x] = cls }
            for y in 0..<4 { labels[sample * 16 + y * 4 + 3] = ignore }
        }
        return labels
    }

    func testInMemoryDataSetsInferTheClassesWithoutTheIgnoreIndex() throws {
        let images = Tensor<Float>(shape: [2, 4, 4, 1], repeating: 0.5)
        let data = try SegmentationDataset(images: images, labels: labels(ignore: 255), ignoreIndex: 255)
        XCTAssertEqual(data.classes, 3)
        XCTAssertEqual(data.ignoreIndex, 255)
        XCTAssertEqual(data.subset([1]).ignoreIndex, 255)
        // 24 labelled positions: 16 background, 4 of each class.
        XCTAssertEqual(data.classFrequencies, [16.0 / 24, 4.0 / 24, 4.0 / 24])
        // Without the ignore index, 255 is a class.
        XCTAssertEqual(try SegmentationDataset(images: images, labels: labels(ignore: 255)).classes, 256)
        assertError(
            try SegmentationDataset(images: images, labels: labels(ignore: 255), classes: 3),
            contains: "label 255 at element 3; expected a class index in 0..<3")
        assertError(
            try SegmentationDataset(images: images, labels: labels(ignore: 1), ignoreIndex: 1),
            contains: "ignore index 1 is one of the class indices 0..<3")
        var other = labels(ignore: 255)
        other[0] = 9
        assertError(
            try SegmentationDataset(images: images, labels: other, classes: 3, ignoreIndex: 255),
            contains: "label 9 at element 0; expected a class index in 0..<3 or the ignore index 255")
    }

    func testNPYMasksMayUseANegativeIgnoreIndexInMemoryAndStreamed() throws {
        let directory = try temporaryDirectory(self)
        try NPY.write(
            Tensor<Float>(shape: [2, 4, 4, 1], repeating: 0.25), to: directory.appendingPathComponent("images.npy").path
        )
        try NPY.write(
            NPYArray(integers: labels(ignore: -1).map(Int.init), shape: [2, 4, 4], dtype: .int16),
            to: directory.appendingPathComponent("masks.npy").path)
        let options = DatasetOptions(ignoreIndex: -1)
        let loaded = try SegmentationDataset.load(from: directory.path, options: options)
        XCTAssertEqual(loaded.classes, 3)
        XCTAssertEqual(loaded.labels, labels(ignore: -1))
        let streamed = try SegmentationDataset.open(directory.path, options: options)
        XCTAssertEqual(streamed.classes, 3)
        XCTAssertEqual(streamed.ignoreIndex, -1)
        XCTAssertEqual(try streamed.samples([0, 1]), loaded)
        assertError(try SegmentationDataset.load(from: directory.path), contains: "label -1 at element 3")
        assertError(
            try SegmentationDataset.open(directory.path, options: DatasetOptions(masks: .binary, ignoreIndex: -1)),
            contains: "ignore index -1 with binary masks")
        assertError(
            try SegmentationDataset.open(directory.path, options: DatasetOptions(classes: 2, ignoreIndex: -1)),
            contains: "masks.npy: label 2; expected a class index in 0..<2 or the ignore index -1")
    }

    func testPNGFoldersKeepTheIgnoreIndexAndPadWithIt() throws {
        let directory = try temporaryDirectory(self)
        for sub in ["images", "masks"] {
            try FileManager.default.createDirectory(
                at: directory.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        let all = labels(ignore: 255)
        for i in 0..<2 {
            try PNG.write(
                try PNGImage(width: 4, height: 4, channels: 1, pixels: [UInt8](repeating: 100, count: 16)),
                to: directory.appendingPathComponent("images/\(i).png").path)
            try PNG.write(
                try PNGImage(width: 4, height: 4, channels: 1, pixels: all[(i * 16)..<(i * 16 + 16)].map { UInt8($0) }),
                to: directory.appendingPathComponent("masks/\(i).png").path)
        }
        var options = DatasetOptions(masks: .classIndices, ignoreIndex: 255)
        let loaded = try SegmentationDataset.load(from: directory.path, options: options)
        XCTAssertEqual(loaded.classes, 3)
        XCTAssertEqual(loaded.labels, all)
        XCTAssertEqual(try SegmentationDataset.open(directory.path, options: options).samples([0, 1]), loaded)
        // 4 × 4 fitted into 4 × 8: two columns of padding on each side are unlabelled.
        options.imageSize = try ImageSize(height: 4, width: 8)
        options.resize = .fit
        let padded = try SegmentationDataset.load(from: directory.path, options: options)
        for y in 0..<4 {
            let row = Array(padded.labels[(y * 8)..<(y * 8 + 8)])
            XCTAssertEqual(row[0], 255)
            XCTAssertEqual(row[7], 255)
            XCTAssertEqual(Array(row[2..<6]), Array(all[(y * 4)..<(y * 4 + 4)]))
        }
        assertError(
            try SegmentationDataset.load(from: directory.path, options: DatasetOptions(ignoreIndex: 255)),
            contains: "with binary masks")
        assertError(
            try SegmentationDataset.load(
                from: directory.path, options: DatasetOptions(masks: .classIndices, classes: 3)),
            contains: "or give --ignore-index 255 if it marks unlabelled pixels")
    }

    func testTheAffineAugmentationFillsWithTheIgnoreIndex() throws {
        let images = Tensor<Float>(shape: [2, 4, 4, 1], repeating: 0.5)
        let all = labels(ignore: 255)
        let augmentation = Augmentation(affineRotation: 45)
        let ignoring = try SegmentationDataset(images: images, labels: all, ignoreIndex: 255)
        let plain = try SegmentationDataset(images: images, labels: all.map { $0 == 255 ? 0 : $0 }, classes: 3)
        let a = augmentation.apply(to: ignoring, seeds: [3, 4])
        let b = augmentation.apply(to: plain, seeds: [3, 4])
        // Where the rotation leaves the sample, one gets the ignore index and the other the background.
        var outside = 0
        for (x, y) in zip(a.labels, b.labels) where x != y {
            XCTAssertEqual(x, 255)
            if y == 0 { outside += 1 }
        }
        XCTAssertGreaterThan(outside, 0, "a 45° turn of a square reaches outside it")
        XCTAssertEqual(a.ignoreIndex, 255)
    }

    func testMedianFrequencyWeightsCountLabelledPositionsOnly() throws {
        let images = Tensor<Float>(shape: [2, 4, 4, 1], repeating: 0.5)
        let data = try SegmentationDataset(images: images, labels: labels(ignore: 255), ignoreIndex: 255)
        // f = [16/24, 4/12, 4/12]: every sample has 12 labelled positions.
        let weights = try data.medianFrequencyWeights()
        let f = [16.0 / 24, 4.0 / 12, 4.0 / 12]
        for (w, expected) in zip(weights, f.map { f[1] / $0 }) { XCTAssertEqual(w, expected, accuracy: 1e-12) }
    }

    func testUnlabelledBordersStraddleEveryBoundary() throws {
        // One row of 8: classes 0 0 0 1 1 1 2 2.
        let images = Tensor<Float>(shape: [1, 1, 8, 1], repeating: 0)
        let data = try SegmentationDataset(images: images, labels: [0, 0, 0, 1, 1, 1, 2, 2], classes: 3)
        let bordered = try data.withUnlabelledBorders(width: 1, ignoreIndex: 255)
        XCTAssertEqual(bordered.labels, [0, 0, 255, 255, 1, 255, 255, 2])
        XCTAssertEqual(bordered.ignoreIndex, 255)
        // Existing unlabelled positions are no class: they do not make borders of their own.
        let again = try bordered.withUnlabelledBorders(width: 1, ignoreIndex: 255)
        XCTAssertEqual(again.labels, bordered.labels)
        let square = try SegmentationDataset(
            images: Tensor<Float>(shape: [1, 4, 4, 1], repeating: 0), labels: labels(ignore: 0)[0..<16].map { $0 },
            classes: 2)
        let ring = try square.withUnlabelledBorders(width: 1, ignoreIndex: 9)
        XCTAssertEqual(
            ring.labels.filter { $0 == 9 }.count, 16, "every position is within one step of the square's edge")
        assertError(try data.withUnlabelledBorders(width: 0, ignoreIndex: 255), contains: "border width")
        assertError(try data.withUnlabelledBorders(width: 1, ignoreIndex: 2), contains: "ignore index 2 is one of")
        assertError(try bordered.withUnlabelledBorders(width: 1, ignoreIndex: 254), contains: "the data set's own, 255")
    }
}
