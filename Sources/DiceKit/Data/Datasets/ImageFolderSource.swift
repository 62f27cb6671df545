// A folder of PNG/JPEG images and masks read one sample at a time: the file list is kept, and
// each sample is decoded (and resized) when it is asked for, so memory does not grow with the
// number of images. Layout and conventions: SegmentationDataset+Folder.swift.
//
// Opening checks every pair once (decoded and dropped, one pair in memory at a time): sizes,
// channel counts, labels against the class count, class-index masks read as binary and 0/255
// masks read as class indices; so bad data fails before training, naming the file. A file that
// changes afterwards fails when its sample is read, with the same messages.

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

/// DIR/images/* with DIR/masks/*, decoded on demand (see the file header).
public struct ImageFolderSource: SegmentationSource {
    /// The image files, in sorted name order.
    public let imagePaths: [String]
    /// The mask file of each image.
    public let maskPaths: [String]
    /// The loader options (the mask encoding resolved, the class count as given).
    public let options: DatasetOptions
    /// [H, W] of every sample (after resizing).
    public let spatialShape: [Int]
    /// 3 when any image is colour (grey ones are replicated), else 1.
    public let channels: Int
    /// The class count: the given one, else the largest label other than the ignore index, + 1,
    /// over the masks (at least 2).
    public let classes: Int
    /// The label of unlabelled positions (`DatasetOptions.ignoreIndex`), or nil.
    public var ignoreIndex: Int? { options.ignoreIndex }
    /// The labels the masks may hold.
    private let range: LabelRange
    /// Decoded-sample figures (for tests of the memory bound).
    let decodes = DecodeCounter()

    /// The number of image/mask pairs.
    public var count: Int { imagePaths.count }

    private var encoding: MaskEncoding { options.masks ?? .binary }

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
        let base = URL(fileURLWithPath: directory)
        let (imageDirectory, maskDirectory) = (
            base.appendingPathComponent("images"), base.appendingPathComponent("masks")
        )
        let names = try SegmentationDataset.imageNames(in: imageDirectory.path)
        let maskNames = Dictionary(
            ((try? FileManager.default.contentsOfDirectory(atPath: maskDirectory.path)) ?? [])
                .filter(ImageFile.isImage).sorted().map { (ImageFile.stem($0), $0) },
            uniquingKeysWith: { first, _ in first })
        var maskPaths = [String]()
        for name in names {
            guard let mask = maskNames[ImageFile.stem(name)] else {
                throw DiceKitError.file(
                    path: maskDirectory.appendingPathComponent(name).path,
                    reason: "missing mask for image \(name) (expected masks/\(ImageFile.stem(name)).png, .jpg or .jpeg)"
                )
            }
            maskPaths.append(maskDirectory.appendingPathComponent(mask).path)
        }
        var resolved = options
        resolved.masks = options.masks ?? .binary
        let ignore = try options.ignoreLabel(encoding: resolved.masks!)
        self.imagePaths = names.map { imageDirectory.appendingPathComponent($0).path }
        self.maskPaths = maskPaths
        self.options = resolved

        // The checking pass: one pair decoded at a time.
        var colour = [Bool]()
        var size: (width: Int, height: Int)?
        var largestRaw: Int32 = 0
        var anyAtThreshold = false
        var survey = LabelSurvey(ignore: ignore)
        for i in 0..<names.count {
            let pair = try Self.decode(image: imagePaths[i], mask: maskPaths[i], options: resolved)
            size = try Self.sameSize(pair.width, pair.height, as: size, path: imagePaths[i], first: names[0])
            colour.append(pair.channels == 3)
            collect?(pair.pixels, pair.channels, pair.labels)
            largestRaw = max(largestRaw, pair.largestRaw)
            anyAtThreshold = anyAtThreshold || pair.anyAtThreshold
            survey.add(pair.labels)
        }
        if case .binary(let threshold) = resolved.masks!, !anyAtThreshold,
            (1..<Int32(min(threshold, 32))).contains(largestRaw)
        {
            throw DiceKitError.value(
                "\(maskDirectory.path): every mask pixel is below the threshold \(threshold) and the largest grey level is \(largestRaw): these look like class-index masks (use --mask-encoding index)"
            )
        }
        if resolved.masks == .classIndices || resolved.masks == .palette {
            try survey.refuseBinaryMasksReadAsIndices(
                path: maskDirectory.path, binaryHint: "binary masks: use --mask-encoding binary")
        }
        range = try survey.range(classes: options.classes, path: maskDirectory.path)
        let c = colour.contains(true) ? 3 : 1
        let odd = zip(names, colour).filter { ($0.1 ? 3 : 1) != c }.map(\.0)
        if !odd.isEmpty {
            let listed = odd.prefix(3).joined(separator: ", ") + (odd.count > 3 ? " and \(odd.count - 3) more" : "")
            warning(
                "\(imageDirectory.path): \(listed) \(odd.count == 1 ? "is" : "are") grey (1 channel) among RGB images; replicated to RGB (convert to RGB to silence this)"
            )
        }
        spatialShape = [size!.height, size!.width]
        channels = c
        classes = range.classes
        decodes.reset()
    }

    /// Sample `index`: its image and mask decoded, checked and resized now.
    ///
    /// - Throws: the reader's error naming the file; `DiceKitError.shape` / `.value` naming the
    ///   file when it no longer fits the data set (another size, channel count or a label ≥ K).
    public func sample(at index: Int) throws -> SegmentationSample {
        precondition(index >= 0 && index < count, "ImageFolderSource: sample \(index) out of 0..<\(count)")
        let pair = try Self.decode(image: imagePaths[index], mask: maskPaths[index], options: options)
        guard [pair.height, pair.width] == spatialShape else {
            throw DiceKitError.shape(
                "\(imagePaths[index]) is \(pair.width) × \(pair.height); expected \(spatialShape[1]) × \(spatialShape[0]) like the other images"
            )
        }
        try range.check(pair.labels, context: maskPaths[index])
        var image = pair.pixels
        if pair.channels != channels {
            guard channels == 3 else {
                throw DiceKitError.shape(
                    "\(imagePaths[index]): 3 channels; expected 1 like the other images (it changed after the data set was opened)"
                )
            }
            image = image.flatMap { [$0, $0, $0] }
        }
        return SegmentationSample(image: image, labels: pair.labels)
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

    /// One pair decoded: the image in [0, 1] (1 or 3 channels, resized as `options` say) and
    /// the mask's labels (resized by nearest neighbour), after the per-file checks.
    private static func decode(image imagePath: String, mask maskPath: String, options: DatasetOptions) throws
        -> (
            pixels: [Float], channels: Int, width: Int, height: Int, labels: [Int32], largestRaw: Int32,
            anyAtThreshold: Bool
        )
    {
        let image = try ImageFile.read(contentsOf: imagePath)
        var mask: (width: Int, height: Int, labels: [Int32])
        var largestRaw: Int32 = 0
        var anyAtThreshold = false
        if case .binary(let threshold) = options.masks!, !ImageFile.isJPEG(maskPath) {
            // Keep the raw grey levels' range to catch class-index masks read as binary.
            let grey = try PNG.readLuminance(contentsOf: maskPath)
            largestRaw = Int32(grey.values.max() ?? 0)
            anyAtThreshold = grey.values.contains { $0 >= threshold }
            mask = (grey.width, grey.height, grey.values.map { $0 >= threshold ? 1 : 0 })
        } else {
            mask = try ImageFile.readMask(contentsOf: maskPath, encoding: options.masks!)
        }
        guard (mask.width, mask.height) == (image.width, image.height) else {
            throw DiceKitError.shape(
                "\(maskPath) is \(mask.width) × \(mask.height); expected \(image.width) × \(image.height) like its image \((imagePath as NSString).lastPathComponent)"
            )
        }
        let ignore = try options.ignoreLabel(encoding: options.masks!)
        if let classes = options.classes {
            try LabelRange(classes: classes, ignoreIndex: options.ignoreIndex, largest: 0)
                .check(mask.labels, context: maskPath)
        }
        let (pixels, w, h) = try SegmentationDataset.prepared(image, path: imagePath, options: options)
        if let target = options.imageSize {
            mask.labels = ImageResampling.resizeLabels(
                mask.labels, height: image.height, width: image.width,
                to: target, mode: options.resize, fill: ignore ?? 0)
        }
        return (pixels, image.channels >= 3 ? 3 : 1, w, h, mask.labels, largestRaw, anyAtThreshold)
    }

    /// `size` (the first image's), after checking that w × h matches it; shared with the
    /// in-memory folder data set (`SegmentationDataset+Folder.swift`).
    static func sameSize(
        _ w: Int, _ h: Int, as size: (width: Int, height: Int)?, path: String,
        first: String
    ) throws -> (width: Int, height: Int) {
        let expected = size ?? (w, h)
        guard (w, h) == expected else {
            throw DiceKitError.shape(
                "\(path) is \(w) × \(h); expected \(expected.width) × \(expected.height) like \(first) (give an image size to resize on load, e.g. dicekit train --image-size H,W)"
            )
        }
        return expected
    }
}
