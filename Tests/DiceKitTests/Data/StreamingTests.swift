// Data sets read one batch at a time: a folder source gives the in-memory loader's batches while
// holding a bounded number of decoded samples; the prefetched batches do not depend on the
// queue depth; a corrupt file found mid-epoch surfaces with its name; cancelling stops the
// producer; .npy sources read samples by offset; the trainer reports its data wait.

import Synchronization
import XCTest

@testable import DiceKit

/// A source that counts its reads and takes `delay` seconds per sample.
private final class CountingSource: SegmentationSource, Sendable {
    let base: SegmentationDataset
    let delay: Double
    private let readCount = Mutex(0)

    init(_ base: SegmentationDataset, delay: Double) {
        self.base = base
        self.delay = delay
    }

    var count: Int { base.count }
    var spatialShape: [Int] { base.spatialShape }
    var channels: Int { base.channels }
    var classes: Int { base.classes }
    var ignoreIndex: Int? { base.ignoreIndex }
    var reads: Int { readCount.withLock { $0 } }

    func sample(at index: Int) throws -> SegmentationSample {
        readCount.withLock { $0 += 1 }
        Thread.sleep(forTimeInterval: delay)
        return try base.sample(at: index)
    }
}

final class StreamingTests: XCTestCase {
    /// DIR/images + DIR/masks with `count` synthetic polyps as PNG files f00.png, f01.png, …
    private func polypFolder(count: Int, size: Int = 32) throws -> URL {
        let directory = try temporaryDirectory(self)
        for sub in ["images", "masks"] {
            try FileManager.default.createDirectory(
                at: directory.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        let data = try SegmentationDataset.syntheticPolyps(count: count, seed: 7, configuration: .init(size: size))
        for i in 0..<count {
            let part = data.subset([i])
            let image = try PNGImage(try Tensor(shape: [size, size, 3], scalars: part.images.scalars))
            let mask = try PNGImage(width: size, height: size, channels: 1, pixels: part.labels.map { UInt8($0 * 255) })
            let name = String(format: "f%02d.png", i)
            try PNG.write(image, to: directory.appendingPathComponent("images/\(name)").path)
            try PNG.write(mask, to: directory.appendingPathComponent("masks/\(name)").path)
        }
        return directory
    }

    private func drain(_ prefetcher: BatchPrefetcher, pause: Double = 0) throws -> [SegmentationBatch] {
        var batches = [SegmentationBatch]()
        while let batch = try prefetcher.next() {
            batches.append(batch)
            if pause > 0 { Thread.sleep(forTimeInterval: pause) }
        }
        return batches
    }

    func testFolderSourceGivesTheInMemoryBatchesWithABoundedNumberOfDecodedSamples() throws {
        let directory = try polypFolder(count: 24)
        let source = try ImageFolderSource(directory: directory.path)
        XCTAssertEqual(source.decodes.figures.live, 0, "opening decodes and drops every pair")
        XCTAssertEqual(source.decodes.figures.total, 0)
        let memory = try SegmentationDataset.loadImageFolder(directory.path)
        XCTAssertEqual([source.count] + source.spatialShape + [source.channels], memory.images.shape)

        let plan = try BatchPlan(source: source, size: 3, seed: 5, augmentation: .standard)
        let prefetcher = try BatchPrefetcher(plan: plan, depth: 2)
        // A slow consumer lets the producer run ahead as far as the queue allows.
        let streamed = try drain(prefetcher, pause: 0.002)
        let expected = Array(try memory.batches(size: 3, seed: 5, augmentation: .standard))
        XCTAssertEqual(streamed.map(\.images), expected.map(\.images))
        XCTAssertEqual(streamed.map(\.labels), expected.map(\.labels))
        XCTAssertEqual(streamed.map(\.indices), expected.map(\.indices))

        let figures = source.decodes.figures
        XCTAssertEqual(figures.total, 24, "every sample decoded once per epoch, nothing cached")
        XCTAssertEqual(figures.live, 0)
        XCTAssertLessThanOrEqual(
            figures.peak, 3, "at most one batch of decoded samples at once, not the 24 of the folder")
        XCTAssertGreaterThanOrEqual(figures.peak, 1)
        XCTAssertLessThanOrEqual(prefetcher.peakQueued, 2, "the queue holds at most `depth` batches")
        XCTAssertTrue(prefetcher.producerFinished)
    }

    func testStreamedBatchesDoNotDependOnTheQueueDepthOrTiming() throws {
        let data = try SegmentationDataset.syntheticPolyps(count: 10, seed: 2, configuration: .init(size: 16))
        let augmentation = Augmentation(kinds: Set(Augmentation.Kind.allCases))
        let plan = try BatchPlan(source: CountingSource(data, delay: 0), size: 3, seed: 9, augmentation: augmentation)
        let direct = try (0..<plan.count).map { try plan.batch($0) }
        for (depth, pause) in [(1, 0.0), (2, 0.001), (4, 0.0), (16, 0.003)] {
            let slow = try BatchPlan(
                source: CountingSource(data, delay: 0.0005), size: 3, seed: 9, augmentation: augmentation)
            let streamed = try drain(try BatchPrefetcher(plan: slow, depth: depth), pause: pause)
            XCTAssertEqual(streamed.map(\.images), direct.map(\.images), "depth \(depth)")
            XCTAssertEqual(streamed.map(\.labels), direct.map(\.labels), "depth \(depth)")
        }
        let otherSeed = try BatchPlan(source: data, size: 3, seed: 10, augmentation: augmentation)
        XCTAssertNotEqual(try otherSeed.batch(0).images, direct[0].images, "the seed matters")
    }

    func testACorruptFileFoundMidEpochSurfacesWithItsName() throws {
        let directory = try polypFolder(count: 8)
        let source = try ImageFolderSource(directory: directory.path)
        let corrupt = directory.appendingPathComponent("images/f05.png").path
        try Data([0x89, 0x50, 0x4E, 0x47, 1, 2, 3]).write(to: URL(fileURLWithPath: corrupt))

        let prefetcher = try BatchPrefetcher(plan: try BatchPlan(source: source, size: 2), depth: 2)
        XCTAssertNotNil(try prefetcher.next())
        XCTAssertNotNil(try prefetcher.next())
        XCTAssertThrowsError(try prefetcher.next()) { error in
            XCTAssertTrue("\(error)".contains("f05.png"), "\(error)")
            XCTAssertFalse("\(error)".contains("\n"), "one line: \(error)")
        }
        XCTAssertNil(try prefetcher.next(), "the producer stopped at the error")
        XCTAssertTrue(prefetcher.producerFinished)

        // The same error ends training, in the training thread.
        let model = try UNet<Float>(UNetConfiguration(inputChannels: 3, classes: 2, baseWidth: 2, depth: 1), seed: 1)
        var config = TrainingConfiguration()
        config.epochs = 1
        config.batchSize = 2
        XCTAssertThrowsError(try Trainer(model: model, configuration: config).fit(training: source, validation: nil)) {
            error in
            XCTAssertTrue("\(error)".contains("f05.png"), "\(error)")
        }
    }

    func testCancelAndDeinitStopTheProducer() throws {
        let data = try SegmentationDataset.syntheticPolyps(count: 200, seed: 2, configuration: .init(size: 16))
        let source = CountingSource(data, delay: 0.001)
        let prefetcher = try BatchPrefetcher(plan: try BatchPlan(source: source, size: 2), depth: 2)
        XCTAssertNotNil(try prefetcher.next())
        prefetcher.cancel()
        XCTAssertTrue(prefetcher.producerFinished, "cancel returns after the producer left its loop")
        let reads = source.reads
        XCTAssertLessThanOrEqual(reads, 2 * (1 + 2 + 1), "one taken, two queued, one in hand")
        Thread.sleep(forTimeInterval: 0.05)
        XCTAssertEqual(source.reads, reads, "nothing is read after cancel")
        XCTAssertNil(try prefetcher.next())

        let dropped = CountingSource(data, delay: 0.001)
        do {
            let scoped = try BatchPrefetcher(plan: try BatchPlan(source: dropped, size: 2), depth: 3)
            _ = try scoped.next()
        }
        let afterDrop = dropped.reads
        Thread.sleep(forTimeInterval: 0.05)
        XCTAssertEqual(dropped.reads, afterDrop, "a dropped prefetcher stops its producer")
        XCTAssertLessThan(afterDrop, 200)
    }

    func testNPYSourceReadsSamplesByOffset() throws {
        let directory = try temporaryDirectory(self)
        let data = try SegmentationDataset.syntheticPolyps(count: 6, seed: 4, configuration: .init(size: 16))
        try NPY.write(data.images, to: directory.appendingPathComponent("images.npy").path)
        try NPY.write(
            try NPYArray(integers: data.labels.map(Int.init), shape: data.labelShape, dtype: .uint8),
            to: directory.appendingPathComponent("masks.npy").path)
        let source = try SegmentationDataset.open(directory.path, options: DatasetOptions())
        XCTAssertTrue(source is NPYSource)
        let memory = try SegmentationDataset.load(from: directory.path, options: DatasetOptions())
        XCTAssertEqual(try source.samples(Array(0..<6)), memory)
        XCTAssertEqual(try source.sample(at: 4), try memory.sample(at: 4))

        // 0/255 masks are refused as class indices, naming the file, as by the in-memory loader.
        try NPY.write(
            try NPYArray(integers: data.labels.map { Int($0) * 255 }, shape: data.labelShape, dtype: .uint8),
            to: directory.appendingPathComponent("masks.npy").path)
        XCTAssertThrowsError(try NPYSource(path: directory.path, options: DatasetOptions())) {
            XCTAssertTrue("\($0)".contains("masks.npy") && "\($0)".contains("255"), "\($0)")
        }
        // A file cut short is refused when opened.
        let images = directory.appendingPathComponent("images.npy").path
        let bytes = try Data(contentsOf: URL(fileURLWithPath: images))
        try bytes.prefix(bytes.count - 10).write(to: URL(fileURLWithPath: images))
        XCTAssertThrowsError(try NPYSource(path: directory.path, options: DatasetOptions(masks: .binary)))
    }

    func testTrainingReportsTheShareOfTimeSpentWaitingForData() throws {
        let dir = try temporaryDirectory(self).path
        let data = try SegmentationDataset.syntheticPolyps(count: 8, seed: 3, configuration: .init(size: 16))
        var config = TrainingConfiguration()
        config.epochs = 1
        config.batchSize = 4
        config.outputDirectory = dir
        let model = try UNet<Float>(UNetConfiguration(inputChannels: 3, classes: 2, baseWidth: 2, depth: 1), seed: 1)
        // A source 20 ms per sample: the first batch at least (80 ms) is waited for.
        let summary = try Trainer(model: model, configuration: config).fit(
            training: CountingSource(data, delay: 0.02), validation: nil)
        let fraction = try XCTUnwrap(summary.epochs.first?.dataWaitFraction)
        XCTAssertGreaterThan(fraction, 0)
        XCTAssertLessThanOrEqual(fraction, 1)
        let json = try String(contentsOfFile: "\(dir)/summary.json", encoding: .utf8)
        XCTAssertTrue(json.contains("\"data_wait_fraction\""), json)
        let line = try String(contentsOfFile: "\(dir)/metrics.jsonl", encoding: .utf8)
        XCTAssertEqual(EpochMetrics(jsonLine: String(line.split(separator: "\n")[0]))?.dataWaitFraction, fraction)
    }
}
