// SegmentationDataset: validation, seeded shuffling and splitting, batches, augmentation, and
// loading from .npy files and PNG folders.

import XCTest

@testable import DiceKit

final class SegmentationDatasetTests: XCTestCase {
    /// N samples of H × W with 1 channel; pixel value = its flat index, label = index % 3.
    private func indexed(_ n: Int, _ h: Int, _ w: Int) throws -> SegmentationDataset {
        let count = n * h * w
        return try SegmentationDataset(
            images: Tensor(shape: [n, h, w, 1], scalars: (0..<count).map(Float.init)),
            labels: (0..<count).map { Int32($0 % 3) }, classes: 3)
    }

    func testValidation() throws {
        XCTAssertThrowsError(try SegmentationDataset(images: Tensor(shape: [2, 3, 3]), labels: [])) {
            guard ($0 as? DiceKitError)?.kind == .shape else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try SegmentationDataset(images: Tensor(shape: [1, 2, 2, 1]), labels: [0, 0, 0]))
        XCTAssertThrowsError(
            try SegmentationDataset(images: Tensor(shape: [1, 2, 2, 1]), labels: [0, 0, 0, 2], classes: 2)
        ) {
            guard ($0 as? DiceKitError)?.kind == .value else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try SegmentationDataset(images: Tensor(shape: [1, 2, 2, 1]), labels: [0, -1, 0, 0]))
        XCTAssertEqual(try SegmentationDataset(images: Tensor(shape: [1, 2, 2, 1]), labels: [0, 0, 0, 0]).classes, 2)
    }

    func testShuffleAndSplitAreSeededPartitions() throws {
        let data = try indexed(10, 2, 2)
        XCTAssertEqual(data.shuffled(seed: 5), data.shuffled(seed: 5))
        XCTAssertNotEqual(data.shuffled(seed: 5), data.shuffled(seed: 6))
        let (training, validation) = try data.split(validationFraction: 0.2, seed: 9)
        XCTAssertEqual(training.count, 8)
        XCTAssertEqual(validation.count, 2)
        let firsts = (training.images.scalars + validation.images.scalars).enumerated().filter { $0.offset % 4 == 0 }
            .map(\.element)
        XCTAssertEqual(Set(firsts), Set((0..<10).map { Float($0 * 4) }), "every sample exactly once")
        XCTAssertEqual(try data.split(validationFraction: 0.2, seed: 9).validation, validation)
        XCTAssertThrowsError(try data.split(validationFraction: 1, seed: 1))
        XCTAssertThrowsError(try data.subset([0]).split(validationFraction: 0.5, seed: 1))
    }

    func testBatchesCoverTheEpoch() throws {
        let data = try indexed(7, 2, 3)
        let ordered = try data.batches(size: 3)
        XCTAssertEqual(ordered.count, 3)
        XCTAssertEqual(ordered.map(\.indices), [[0, 1, 2], [3, 4, 5], [6]])
        XCTAssertEqual(ordered.batch(2).images.shape, [1, 2, 3, 1])
        XCTAssertEqual(ordered.batch(2).labelShape, [1, 2, 3])
        let shuffled = try data.batches(size: 3, seed: 11, dropLast: true)
        XCTAssertEqual(shuffled.count, 2)
        let seen = shuffled.flatMap(\.indices)
        XCTAssertEqual(seen.count, 6)
        XCTAssertEqual(Set(seen).count, 6)
        XCTAssertEqual(
            try data.batches(size: 3, seed: 11).map(\.indices), try data.batches(size: 3, seed: 11).map(\.indices))
        XCTAssertThrowsError(try data.batches(size: 0))
    }

    func testFlipsAndRotationsMoveImagesAndLabelsTogether() throws {
        // 1 × 2 × 2: [[0, 1], [2, 3]].
        let data = try indexed(1, 2, 2)
        let flipW = Augmentation(horizontalFlip: 1).apply(to: data, seeds: [1])
        XCTAssertEqual(flipW.images.scalars, [1, 0, 3, 2])
        let flipH = Augmentation(verticalFlip: 1).apply(to: data, seeds: [1])
        XCTAssertEqual(flipH.images.scalars, [2, 3, 0, 1])
        // Quarter turns as np.rot90: k = 1 gives [[1, 3], [0, 2]].
        let rotations: Set<[Float]> = [[0, 1, 2, 3], [1, 3, 0, 2], [3, 2, 1, 0], [2, 0, 3, 1]]
        var seen = Set<[Float]>()
        for seed in 0..<40 as Range<UInt64> {
            let turned = Augmentation(rotate90: true).apply(to: data, seeds: [seed])
            XCTAssertTrue(rotations.contains(turned.images.scalars), "\(turned.images.scalars)")
            XCTAssertEqual(turned.labels, turned.images.scalars.map { Int32(Int($0) % 3) })
            seen.insert(turned.images.scalars)
        }
        XCTAssertEqual(seen, rotations, "all four turns occur")
        // Non-square samples train with augmentation: flips happen, quarter turns are skipped.
        let wide = try indexed(1, 2, 3)
        var orientations = Set<[Float]>()
        for seed in 0..<40 as Range<UInt64> {
            let moved = Augmentation(horizontalFlip: 0.5, verticalFlip: 0.5, rotate90: true).apply(
                to: wide, seeds: [seed])
            XCTAssertEqual(moved.images.shape, [1, 2, 3, 1])
            orientations.insert(moved.images.scalars)
        }
        XCTAssertEqual(
            orientations, [[0, 1, 2, 3, 4, 5], [2, 1, 0, 5, 4, 3], [3, 4, 5, 0, 1, 2], [5, 4, 3, 2, 1, 0]])
        XCTAssertNoThrow(try (try indexed(2, 2, 3)).batches(size: 1, seed: 1, augmentation: .standard).batch(0))
    }

    func testBrightnessContrastTouchOnlyImages() throws {
        let data = try SegmentationDataset.syntheticPolyps(count: 4, seed: 2, configuration: .init(size: 16))
        let jitter = Augmentation(brightness: 0.2, contrast: 0.3)
        let out = jitter.apply(to: data, seeds: [1, 2, 3, 4])
        XCTAssertEqual(out.labels, data.labels)
        XCTAssertNotEqual(out.images, data.images)
        XCTAssertEqual(out, jitter.apply(to: data, seeds: [1, 2, 3, 4]))
    }

    func testAugmentation3D() throws {
        let data = try SegmentationDataset.syntheticBlobs3D(count: 3, seed: 1, depth: 4, height: 6, width: 6)
        let batches = try data.batches(size: 2, seed: 4, augmentation: .standard)
        for batch in batches {
            XCTAssertEqual(batch.images.shape, [batch.count, 4, 6, 6, 1])
            XCTAssertEqual(
                batch.labels.filter { $0 == 1 }.count,
                batch.indices.map { i in data.labels[(i * 144)..<((i + 1) * 144)].filter { $0 == 1 }.count }.reduce(
                    0, +),
                "geometric transforms keep the label counts")
        }
    }

    // MARK: - Loading

    func testLoadsNPYDirectoryAndFilePair() throws {
        let directory = try temporaryDirectory(self)
        let bytes: [UInt8] = (0..<(2 * 3 * 3 * 3)).map { UInt8($0 * 4) }
        try NPY.write(
            NPYArray(dtype: .uint8, shape: [2, 3, 3, 3], data: bytes),
            to: directory.appendingPathComponent("images.npy").path)
        let labels = (0..<18).map { $0 % 2 }
        try NPY.write(
            NPYArray(integers: labels, shape: [2, 3, 3], dtype: .int64),
            to: directory.appendingPathComponent("labels.npy").path)
        let data = try SegmentationDataset.load(from: directory.path)
        XCTAssertEqual(data.images.shape, [2, 3, 3, 3])
        XCTAssertEqual(data.images.scalars[1], 4 / 255, accuracy: 1e-7)
        XCTAssertEqual(data.labels.map(Int.init), labels)

        let file = directory.appendingPathComponent("set.npy").path
        try NPY.write(Tensor<Float>(shape: [2, 3, 3], repeating: 0.5), to: file)
        XCTAssertThrowsError(try SegmentationDataset.load(from: file)) {
            XCTAssertTrue("\($0)".contains("set_masks.npy"))
        }
        try NPY.write(
            NPYArray(integers: labels, shape: [2, 3, 3], dtype: .uint8),
            to: directory.appendingPathComponent("set_masks.npy").path)
        let grey = try SegmentationDataset.load(from: file)
        XCTAssertEqual(grey.images.shape, [2, 3, 3, 1], "images with the labels' rank get one channel")
        try NPY.write(
            NPYArray(integers: labels, shape: [2, 9], dtype: .uint8),
            to: directory.appendingPathComponent("set_masks.npy").path)
        XCTAssertThrowsError(try SegmentationDataset.load(from: file)) {
            guard ($0 as? DiceKitError)?.kind == .shape else { return XCTFail("\($0)") }
        }
        try NPY.write(
            NPYArray(integers: labels.map { -$0 }, shape: [2, 3, 3], dtype: .int8),
            to: directory.appendingPathComponent("set_masks.npy").path)
        XCTAssertThrowsError(try SegmentationDataset.load(from: file)) {
            guard ($0 as? DiceKitError)?.kind == .value else { return XCTFail("\($0)") }
        }
    }

    func testLoadsPNGFolder() throws {
        let directory = try temporaryDirectory(self)
        let (images, masks) = (directory.appendingPathComponent("images"), directory.appendingPathComponent("masks"))
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: masks, withIntermediateDirectories: true)
        let source = try SegmentationDataset.syntheticPolyps(count: 2, seed: 8, configuration: .init(size: 16))
        for n in 0..<2 {
            let pixels = Array(source.images.scalars[(n * 768)..<((n + 1) * 768)])
            try PNG.write(
                PNGImage(Tensor(shape: [16, 16, 3], scalars: pixels)),
                to: images.appendingPathComponent("frame\(n).png").path)
            let mask = source.labels[(n * 256)..<((n + 1) * 256)].map { UInt8($0 * 255) }
            try PNG.write(
                PNGImage(width: 16, height: 16, channels: 1, pixels: mask),
                to: masks.appendingPathComponent("frame\(n).png").path)
        }
        let loaded = try SegmentationDataset.load(from: directory.path)
        XCTAssertEqual(loaded.images.shape, [2, 16, 16, 3])
        XCTAssertEqual(loaded.labels, source.labels)
        XCTAssertLessThanOrEqual(loaded.images.maxAbsDifference(source.images), 0.5 / 255 + 1e-6)

        // Grey levels and palette indices as class indices.
        let greyIndices = source.labels[0..<256].map { UInt8($0) }
        try PNG.write(
            PNGImage(width: 16, height: 16, channels: 1, pixels: greyIndices),
            to: masks.appendingPathComponent("frame0.png").path)
        try PNG.writeIndexed(
            [UInt8](repeating: 2, count: 256), width: 16, height: 16,
            palette: [(0, 0, 0), (255, 0, 0), (0, 0, 255)], to: masks.appendingPathComponent("frame1.png").path)
        let indexed = try SegmentationDataset.loadPNGFolder(directory.path, masks: .classIndices)
        XCTAssertEqual(indexed.classes, 3)
        XCTAssertEqual(Set(indexed.labels[256...]), [2])
        XCTAssertEqual(Array(indexed.labels[..<256]), Array(source.labels[..<256]))

        // A mask of another size, then a missing mask.
        try PNG.write(
            PNGImage(width: 8, height: 16, channels: 1, pixels: .init(repeating: 0, count: 128)),
            to: masks.appendingPathComponent("frame1.png").path)
        XCTAssertThrowsError(try SegmentationDataset.load(from: directory.path)) {
            guard case DiceKitError.shape(let message) = $0 else { return XCTFail("\($0)") }
            XCTAssertTrue(message.contains("frame1.png") && message.contains("8 × 16"), message)
        }
        try FileManager.default.removeItem(at: masks.appendingPathComponent("frame1.png"))
        XCTAssertThrowsError(try SegmentationDataset.load(from: directory.path)) {
            guard case DiceKitError.file = $0 else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try SegmentationDataset.load(from: directory.appendingPathComponent("nothing").path))
    }
}
