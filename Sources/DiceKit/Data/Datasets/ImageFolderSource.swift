// A folder of PNG/JPEG images and masks of one size, read one sample at a time: the file list is
// kept, and each sample is decoded (and resized) when it is asked for, so memory does not grow
// with the number of images. The pairs are an `ImageCaseFolder` (ImageCaseFolder.swift: the
// checks made on opening and on every read) whose sizes must agree. Layout and conventions:
// SegmentationDataset+Folder.swift.

import Foundation
import Synchronization

/// Counts decoded samples: how many are held at once, and how many were decoded in all.
final class DecodeCounter: Sendable {
    private struct Figures {
        var live = 0, peak = 0, total = 0
    }

    private let state = Mutex(Figures())

    func acquire(_ n: Int = 1) {
        state.withLock {
            $0.live += n
            $0.total += n
            $0.peak = max($0.peak, $0.live)
        }
    }

    func release(_ n: Int = 1) {
        state.withLock { $0.live -= n }
    }

    /// (samples held now, most held at once, decoded in all).
    var figures: (live: Int, peak: Int, total: Int) {
        state.withLock { ($0.live, $0.peak, $0.total) }
    }

    func reset() {
        state.withLock { ($0.peak, $0.total) = ($0.live, 0) }
    }
}

/// DIR/images/* with DIR/masks/*, all of one size, decoded on demand (see the file header).
public struct ImageFolderSource: SegmentationSource {
    /// The pairs as cases, checked to share one size.
    let cases: ImageCaseFolder
    /// The image files, in sorted name order.
    public var imagePaths: [String] { cases.imagePaths }
    /// The mask file of each image.
    public var maskPaths: [String] { cases.maskPaths }
    /// The loader options (the mask encoding resolved, the class count as given).
    public var options: DatasetOptions { cases.options }
    /// [H, W] of every sample (after resizing).
    public let spatialShape: [Int]
    /// 3 when any image is colour (grey ones are replicated), else 1.
    public var channels: Int { cases.channels }
    /// The class count: the given one, else the largest label other than the ignore index, + 1,
    /// over the masks (at least 2).
    public var classes: Int { cases.classes }
    /// The label of unlabelled positions (`DatasetOptions.ignoreIndex`), or nil.
    public var ignoreIndex: Int? { cases.ignoreIndex }
    /// Decoded-sample figures (for tests of the memory bound).
    let decodes = DecodeCounter()

    /// The number of image/mask pairs.
    public var count: Int { cases.count }

    /// Lists DIR/images and DIR/masks and checks every pair (see the file header).
    ///
    /// - Parameters:
    ///   - options: mask encoding (default `.binary`), class count, image size and resize mode.
    ///   - warning: receives one-line warnings (grey images among colour ones).
    /// - Throws: as `SegmentationDataset.loadImageFolder(_:options:warning:)`.
    public init(directory: String, options: DatasetOptions = DatasetOptions(), warning: (String) -> Void = { _ in })
        throws
    {
        try self.init(directory: directory, options: options, warning: warning, collect: nil)
    }

    /// As the public initialiser; `collect` also receives every pair the checking pass decodes
    /// (its image in [0, 1] with its own channel count, 1 or 3, and its labels), in order.
    init(
        directory: String, options: DatasetOptions, warning: (String) -> Void,
        collect: ((_ image: [Float], _ channels: Int, _ labels: [Int32]) -> Void)?
    ) throws {
        // `oneSize` stops the checking pass at the first picture of another size.
        try self.init(
            cases: ImageCaseFolder(
                directory: directory, options: options, warning: warning, oneSize: true, collect: collect))
    }

    /// The pairs of `cases` served as samples of one size.
    ///
    /// - Throws: `DiceKitError.shape` naming the first picture whose size differs from the first's.
    public init(cases: ImageCaseFolder) throws {
        let first = cases.extents(ofCase: 0)
        if let odd = (0..<cases.count).first(where: { cases.extents(ofCase: $0) != first }) {
            let size = cases.extents(ofCase: odd)
            _ = try ImageCaseFolder.sameSize(
                size[1], size[0], as: (first[1], first[0]), path: cases.imagePaths[odd],
                first: (cases.imagePaths[0] as NSString).lastPathComponent)
        }
        self.cases = cases
        spatialShape = first
    }

    /// Sample `index`: its image and mask decoded, checked and resized now.
    ///
    /// - Throws: the reader's error naming the file; `DiceKitError.shape` / `.value` naming the
    ///   file when it no longer fits the data set (another size, channel count or a label ≥ K).
    public func sample(at index: Int) throws -> SegmentationSample {
        precondition(index >= 0 && index < count, "ImageFolderSource: sample \(index) out of 0..<\(count)")
        return try cases.readCase(index)
    }

    /// The samples at `indices`: all decoded first, then copied into one batch (the decoded
    /// samples held at once are counted; see `decodes`).
    public func samples(_ indices: [Int]) throws -> SegmentationDataset {
        var decoded = [SegmentationSample]()
        defer { decodes.release(decoded.count) }
        for index in indices {
            decoded.append(try sample(at: index))
            decodes.acquire()
        }
        let shape = [indices.count] + spatialShape + [channels]
        var pixels = [Float]()
        var labels = [Int32]()
        pixels.reserveCapacity(shape.reduce(1, *))
        labels.reserveCapacity(indices.count * positionsPerSample)
        for sample in decoded {
            pixels += sample.image
            labels += sample.labels
        }
        return SegmentationDataset(
            unchecked: Tensor(uncheckedShape: shape, storage: pixels), labels: labels, classes: classes,
            ignoreIndex: ignoreIndex)
    }
}
