// A folder of PNG/JPEG images and masks as cases of their own sizes, each pair decoded when it is
// asked for: what `train --patch-size` cuts patches from and `eval --tile` scores whole, so a
// folder of mixed sizes (Kvasir-SEG's run from 332 × 487 to 1920 × 1072) needs no image size.
// `ImageFolderSource` serves the same pairs at one size. Layout and conventions:
// SegmentationDataset+Folder.swift.
//
// Opening checks every pair once (decoded and dropped, one pair in memory at a time): channel
// counts, a mask of its image's size, labels against the class count, class-index masks read as
// binary and 0/255 masks read as class indices; so bad data fails before training, naming the
// file. A file that changes afterwards fails when its case is read, with the same messages.

import Foundation

/// DIR/images/* with DIR/masks/*, each pair a case at its own size (see the file header).
public struct ImageCaseFolder: CaseSource {
    /// The image files, in sorted name order.
    public let imagePaths: [String]
    /// The mask file of each image.
    public let maskPaths: [String]
    /// The loader options (the mask encoding resolved, the class count as given).
    public let options: DatasetOptions
    /// 3 when any image is colour (grey ones are replicated), else 1.
    public let channels: Int
    /// The class count: the given one, else the largest label other than the ignore index, + 1,
    /// over the masks (at least 2).
    public let classes: Int
    /// The label of unlabelled positions (`DatasetOptions.ignoreIndex`), or nil.
    public var ignoreIndex: Int? { options.ignoreIndex }
    /// [H, W] of each case (after resizing, when the options give a size).
    private let sizes: [[Int]]
    /// [H, W] of each picture as stored.
    private let native: [[Int]]
    /// The labels the masks may hold.
    private let range: LabelRange

    /// The number of image/mask pairs.
    public var count: Int { imagePaths.count }
    /// 2: images.
    public var spatialRank: Int { 2 }

    /// Lists DIR/images and DIR/masks and checks every pair (see the file header).
    ///
    /// - Parameters:
    ///   - options: mask encoding (default `.binary`), class count, and an image size and resize
    ///     mode that resize every pair on load (the cases then share that size).
    ///   - warning: receives one-line warnings (grey images among colour ones).
    /// - Throws: as `SegmentationDataset.loadImageFolder(_:options:warning:)`, except that sizes
    ///   may differ from one pair to the next.
    public init(directory: String, options: DatasetOptions = DatasetOptions(), warning: (String) -> Void = { _ in })
        throws
    {
        try self.init(directory: directory, options: options, warning: warning, oneSize: false, collect: nil)
    }

    /// As the public initialiser; with `oneSize`, every pair must have the first one's size
    /// (`DiceKitError.shape` naming the first that does not). `collect` also receives every pair
    /// the checking pass decodes (its image in [0, 1] with its own channel count, 1 or 3, and its
    /// labels), in order.
    init(
        directory: String, options: DatasetOptions, warning: (String) -> Void, oneSize: Bool,
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
        var sizes = [[Int]]()
        var native = [[Int]]()
        var largestRaw: Int32 = 0
        var anyAtThreshold = false
        var survey = LabelSurvey(ignore: ignore)
        for i in 0..<names.count {
            let pair = try Self.decode(image: imagePaths[i], mask: maskPaths[i], options: resolved)
            if oneSize, let first = sizes.first {
                _ = try Self.sameSize(
                    pair.width, pair.height, as: (first[1], first[0]), path: imagePaths[i], first: names[0])
            }
            sizes.append([pair.height, pair.width])
            native.append(pair.stored)
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
        channels = SegmentationDataset.folderChannels(
            names: names, colour: colour, folder: imageDirectory.path, warning: warning)
        self.sizes = sizes
        self.native = native
        classes = range.classes
    }

    /// [H, W] of case `index` as `readCase(_:)` returns it.
    public func extents(ofCase index: Int) -> [Int] { sizes[index] }

    /// [H, W] when every case has it, else nil.
    public var sharedExtents: [Int]? { sizes.allSatisfy { $0 == sizes[0] } ? sizes[0] : nil }

    /// Case `index`'s size as stored and a spacing of 1, when an image size resizes it by
    /// stretching or fitting (so that a prediction on the resized grid can be brought back to
    /// the picture's, `scoresOnStoredGrid`); nil when it is read as stored or cropped.
    public func storedGrid(ofCase index: Int) -> (extents: [Int], spacing: [Double])? {
        guard options.imageSize != nil, options.resize != .crop, native[index] != sizes[index] else { return nil }
        return (native[index], [1, 1])
    }

    /// Case `index`'s mask as stored (checked as when the folder was opened).
    ///
    /// - Throws: the reader's errors; `DiceKitError.shape` / `.value` naming the file when it no
    ///   longer fits the data set.
    public func readStoredLabels(_ index: Int) throws -> [Int32] {
        precondition(index >= 0 && index < count, "ImageCaseFolder: case \(index) out of 0..<\(count)")
        let mask = try Self.readMask(maskPaths[index], options: options)
        guard [mask.height, mask.width] == native[index] else {
            throw DiceKitError.shape(
                "\(maskPaths[index]) is \(mask.width) × \(mask.height); expected \(native[index][1]) × \(native[index][0]) as when the data set was opened (it changed since)"
            )
        }
        try range.check(mask.labels, context: maskPaths[index])
        return mask.labels
    }

    /// `scores` [H, W, channels] on case `index`'s resized grid brought back to the picture's
    /// (`ImageResampling.restoreImage`: the fit padding cut away, then resampled as the picture
    /// was); unchanged without a stored grid.
    ///
    /// - Throws: `DiceKitError.option` for a picture side outside `ImageSize`'s range.
    public func scoresOnStoredGrid(_ scores: [Float], channels: Int, ofCase index: Int) throws -> [Float] {
        guard let stored = storedGrid(ofCase: index)?.extents, let size = options.imageSize else { return scores }
        return try ImageResampling.restoreImage(
            scores, from: size, channels: channels, height: stored[0], width: stored[1], mode: options.resize)
    }

    /// Case `index`: its image and mask decoded, checked and resized now.
    ///
    /// - Throws: the reader's error naming the file; `DiceKitError.shape` / `.value` naming the
    ///   file when it no longer fits the data set (another size or channel count than when the
    ///   folder was opened, or a label ≥ K).
    public func readCase(_ index: Int) throws -> SegmentationSample {
        precondition(index >= 0 && index < count, "ImageCaseFolder: case \(index) out of 0..<\(count)")
        let pair = try Self.decode(image: imagePaths[index], mask: maskPaths[index], options: options)
        let expected = sizes[index]
        guard [pair.height, pair.width] == expected else {
            throw DiceKitError.shape(
                "\(imagePaths[index]) is \(pair.width) × \(pair.height); expected \(expected[1]) × \(expected[0]) as when the data set was opened (it changed since)"
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

    /// A mask as stored, read as `options.masks` says, with the largest raw grey level and whether
    /// any reaches the threshold (binary PNG masks; to catch class-index masks read as binary).
    private static func readMask(_ maskPath: String, options: DatasetOptions) throws -> (
        width: Int, height: Int, labels: [Int32], largestRaw: Int32, anyAtThreshold: Bool
    ) {
        guard case .binary(let threshold) = options.masks!, !ImageFile.isJPEG(maskPath) else {
            let mask = try ImageFile.readMask(contentsOf: maskPath, encoding: options.masks!)
            return (mask.width, mask.height, mask.labels, 0, false)
        }
        let grey = try PNG.readLuminance(contentsOf: maskPath)
        return (
            grey.width, grey.height, grey.values.map { $0 >= threshold ? 1 : 0 }, Int32(grey.values.max() ?? 0),
            grey.values.contains { $0 >= threshold }
        )
    }

    /// One pair decoded: the image in [0, 1] (1 or 3 channels, resized as `options` say) and
    /// the mask's labels (resized by nearest neighbour), after the per-file checks; `stored` is
    /// [H, W] as stored.
    private static func decode(image imagePath: String, mask maskPath: String, options: DatasetOptions) throws
        -> (
            pixels: [Float], channels: Int, width: Int, height: Int, labels: [Int32], largestRaw: Int32,
            anyAtThreshold: Bool, stored: [Int]
        )
    {
        let image = try ImageFile.read(contentsOf: imagePath)
        var mask = try readMask(maskPath, options: options)
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
        return (
            pixels, image.channels >= 3 ? 3 : 1, w, h, mask.labels, mask.largestRaw, mask.anyAtThreshold,
            [image.height, image.width]
        )
    }

    /// `size` (the first image's), after checking that w × h matches it; shared with the
    /// in-memory image loader (`SegmentationDataset.loadImages`).
    static func sameSize(
        _ w: Int, _ h: Int, as size: (width: Int, height: Int)?, path: String,
        first: String
    ) throws -> (width: Int, height: Int) {
        let expected = size ?? (w, h)
        guard (w, h) == expected else {
            throw DiceKitError.shape(
                "\(path) is \(w) × \(h); expected \(expected.width) × \(expected.height) like \(first) (give a size to resize on load, e.g. dicekit train --image-size H,W, or train on patches with --patch-size H,W)"
            )
        }
        return expected
    }
}
