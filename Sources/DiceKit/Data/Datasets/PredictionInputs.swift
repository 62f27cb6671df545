// Inputs for prediction: images of any size, each with a name and, when a mask is there, its
// ground truth. Unlike SegmentationDataset, images need not share a size and masks are
// optional; image files are decoded one at a time (`item(_:channels:)`), so a folder of any
// length costs the memory of one image. `.npy` stacks are read whole.
//
// What `load(from:options:spatialRank:)` accepts (r = the network's spatial rank, 2 or 3):
//   FILE.npy                  [N, spatial…, C] (N images), [spatial…, C] or [spatial…] (one image);
//                             FILE_masks.npy beside it, if present, is the ground truth
//   FILE.png|jpg|jpeg         one image; DIR/masks/STEM.* is its ground truth when FILE is DIR/images/STEM.*
//   DIR/images.npy            as FILE.npy, with DIR/masks.npy or DIR/labels.npy
//   DIR/images/*              PNG/JPEG/NPY files (one image each), DIR/masks/STEM.* where present
//   DIR/*                     PNG/JPEG/NPY files (one image each; STEM_masks.npy is STEM.npy's ground truth)
//   NIfTI volumes (3-D networks; PredictionInputs+NIfTI.swift): FILE.nii(.gz), DIR/imagesTs/,
//                             DIR/imagesTr/, DIR/images/ or DIR/*.nii.gz, grouped into cases as
//                             nnU-Net does (CASE_0000, CASE_0001, … are the channels of CASE), with
//                             labelsTs/, labelsTr/ or masks/ beside them as the ground truth

import Foundation

/// Images to run a model on, with names for the outputs and optional ground truth.
public struct PredictionInputs: Sendable {
    /// One image, decoded.
    public struct Item: Sendable {
        /// The output name: the file's name without extension, or "0000", "0001", … in a stack.
        public let name: String
        /// The file the image came from (for messages).
        public let source: String
        /// The image [spatial…, C], values in [0, 1].
        public let image: Tensor<Float>
        /// Ground-truth class indices, one per spatial position of `outputExtents`, or nil without a mask.
        public let labels: [Int32]?
        /// For a NIfTI volume: its own grid (the image may have been resized to the network's),
        /// on which its outputs are written with the file's geometry; nil otherwise.
        public let grid: NIfTIGrid?
        /// For a picture resized on load: the picture as read, on whose grid its outputs and
        /// ground truth are; nil otherwise.
        public let original: ResizedPicture?

        /// An item without a NIfTI grid.
        init(
            name: String, source: String, image: Tensor<Float>, labels: [Int32]?, grid: NIfTIGrid? = nil,
            original: ResizedPicture? = nil
        ) {
            self.name = name
            self.source = source
            self.image = image
            self.labels = labels
            self.grid = grid
            self.original = original
        }

        /// The spatial extents of the image.
        public var extents: [Int] { Array(image.shape.dropLast()) }
        /// The spatial extents of the outputs and the ground truth: the NIfTI grid's, the picture's
        /// as read, else the image's.
        public var outputExtents: [Int] {
            grid?.extents ?? original.map { Array($0.image.shape.dropLast()) } ?? extents
        }
        /// The image on the outputs' grid (what an overlay draws).
        public var outputImage: Tensor<Float> { original?.image ?? image }

        /// `scores` [spatial…, K] (logits or probabilities on the image's grid) on the outputs'
        /// grid: a resized NIfTI volume's resampled per class (linear/area, as the image was), a
        /// resized picture's cut from the canvas and resampled to the picture's size
        /// (`ResizedPicture`); otherwise unchanged.
        ///
        /// - Throws: `DiceKitError.shape` when `scores` are not on the image's grid.
        public func scoresOnGrid(_ scores: Tensor<Float>) throws -> Tensor<Float> {
            guard outputExtents != extents || original != nil else { return scores }
            guard Array(scores.shape.dropLast()) == extents else {
                throw DiceKitError.shape("\(source): scores of shape \(scores.shape); expected \(extents) + [classes]")
            }
            let k = scores.shape.last!
            let target = outputExtents
            let values =
                if let original {
                    try ImageResampling.restoreImage(
                        scores.scalars, from: original.size, channels: k, height: target[0], width: target[1],
                        mode: original.mode)
                } else {
                    VolumeResampling.resize(scores.scalars, extents: extents, channels: k, to: target)
                }
            return try Tensor(shape: target + [k], scalars: values)
        }
    }

    /// A picture as read, before it was resized for the network (`DatasetOptions.imageSize`):
    /// predictions go back to its grid as `ImageResampling.restoreImage` brings them.
    public struct ResizedPicture: Sendable {
        /// The picture [H, W, C] in [0, 1], as read.
        public let image: Tensor<Float>
        /// The size it was resized to.
        public let size: ImageSize
        /// How it was placed on that size (`.stretch` or `.fit`).
        public let mode: ResizeMode
    }

    /// Where an item's pixels are.
    enum Entry: Sendable {
        /// Image `index` of the stack.
        case stacked(index: Int)
        /// An image file and its mask file, if any.
        case file(image: String, mask: String?)
        /// A NIfTI case (its channel files and label map).
        case nifti(NIfTICase)
    }

    /// A `.npy` stack read whole: [N, spatial…, C] and its labels, if any.
    struct Stack: Sendable {
        let images: Tensor<Float>
        let labels: [Int32]?
        let path: String
        /// Whether the file held one image without a batch axis.
        let single: Bool
    }

    /// One name per image, in input order.
    public let names: [String]
    /// 2 for images, 3 for volumes.
    public let spatialRank: Int
    /// Whether at least one image has ground truth.
    public let hasGroundTruth: Bool
    let entries: [Entry]
    let stack: Stack?
    let options: DatasetOptions

    /// The number of images.
    public var count: Int { entries.count }

    /// Whether any input is a picture file (PNG/JPEG: what an image size resizes).
    public var holdsPictures: Bool {
        entries.contains {
            guard case .file(let image, _) = $0 else { return false }
            return ImageFile.isImage(image)
        }
    }

    /// Finds the images `path` names (see the file header for the layouts).
    ///
    /// - Parameters:
    ///   - options: mask encoding (default binary for image masks, class indices for `.npy`),
    ///     and an image size and resize mode that resize image files (and masks) on load; `.npy`
    ///     inputs are never resized.
    ///   - spatialRank: 2 (images, default) or 3 (volumes): how `.npy` shapes are read.
    /// - Throws: `DiceKitError.file` when nothing loadable is found; `DiceKitError.option` for an
    ///   image size with `.npy` input; the `.npy` stack's read and shape errors.
    public static func load(
        from path: String, options: DatasetOptions = DatasetOptions(),
        spatialRank: Int = 2
    ) throws -> PredictionInputs {
        precondition(spatialRank == 2 || spatialRank == 3, "PredictionInputs: spatial rank \(spatialRank)")
        var isDirectory: ObjCBool = false
        let fm = FileManager.default
        guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DiceKitError.file(path: path, reason: "no such file or directory")
        }
        let base = URL(fileURLWithPath: path)
        func made(_ entries: [Entry], _ names: [String], _ stack: Stack? = nil) -> PredictionInputs {
            let truth =
                stack.map { $0.labels != nil }
                ?? entries.contains {
                    switch $0 {
                    case .file(_, let mask): return mask != nil
                    case .nifti(let item): return item.labels != nil
                    case .stacked: return false
                    }
                }
            return PredictionInputs(
                names: names, spatialRank: spatialRank, hasGroundTruth: truth, entries: entries, stack: stack,
                options: options)
        }
        if let cases = try niftiCases(path, isDirectory: isDirectory.boolValue) {
            guard spatialRank == 3 else {
                throw DiceKitError.shape("\(path): NIfTI volumes; a 2-D network needs pictures or .npy images")
            }
            try NIfTICases.checkOptions(options, path: path)
            return made(cases.map { .nifti($0) }, cases.map(\.name))
        }
        try SegmentationDataset.refuseNIfTIOptions(options, path: path)
        if options.imageSize != nil, options.resize == .crop {
            throw DiceKitError.option(
                "\(path): resize mode crop cuts off part of each picture, which then has no prediction on the picture's own grid; expected stretch or fit"
            )
        }
        if !isDirectory.boolValue {
            if isNPY(path) {
                let stack = try readStack(
                    path, masks: [stem(path) + "_masks.npy"], options: options, spatialRank: spatialRank)
                let n = stack.images.shape[0]
                return made(
                    (0..<n).map { .stacked(index: $0) },
                    stack.single ? [ImageFile.stem((path as NSString).lastPathComponent)] : numbered(n), stack)
            }
            guard ImageFile.isImage(path) else {
                throw DiceKitError.file(
                    path: path, reason: "not an input file; expected .png, .jpg, .jpeg or .npy (or a folder)")
            }
            let parent = base.deletingLastPathComponent()
            let mask =
                parent.lastPathComponent == "images"
                ? maskFile(
                    for: base.lastPathComponent,
                    in: parent.deletingLastPathComponent().appendingPathComponent("masks").path) : nil
            return made([.file(image: path, mask: mask)], [ImageFile.stem(base.lastPathComponent)])
        }
        if fm.fileExists(atPath: base.appendingPathComponent("images.npy").path) {
            let stack = try readStack(
                base.appendingPathComponent("images.npy").path,
                masks: ["masks.npy", "labels.npy"].map { base.appendingPathComponent($0).path },
                options: options, spatialRank: spatialRank)
            let n = stack.images.shape[0]
            return made((0..<n).map { .stacked(index: $0) }, numbered(n), stack)
        }
        var sub: ObjCBool = false
        let imageFolder = base.appendingPathComponent("images")
        if fm.fileExists(atPath: imageFolder.path, isDirectory: &sub), sub.boolValue {
            let files = try inputFiles(in: imageFolder.path)
            let masks = base.appendingPathComponent("masks").path
            return made(
                files.map {
                    .file(image: imageFolder.appendingPathComponent($0).path, mask: maskFile(for: $0, in: masks))
                },
                files.map(ImageFile.stem))
        }
        let files = try inputFiles(in: path).filter { !$0.hasSuffix("_masks.npy") }
        let present = Set(try inputFiles(in: path))
        return made(
            files.map { name in
                let mask =
                    isNPY(name) && present.contains(stem(name) + "_masks.npy")
                    ? base.appendingPathComponent(stem(name) + "_masks.npy").path : nil
                return .file(image: base.appendingPathComponent(name).path, mask: mask)
            }, files.map(ImageFile.stem))
    }

    /// Loads what `path` names for a 2-D network, with image-folder masks read as `masks`.
    ///
    /// - Throws: as `load(from:options:spatialRank:)`.
    public static func load(from path: String, masks: MaskEncoding) throws -> PredictionInputs {
        try load(from: path, options: DatasetOptions(masks: masks == .binary ? nil : masks))
    }

    /// Image `index`, decoded (and resized when the options give a size). With `channels` = 3 a
    /// grey image is replicated to RGB; any other mismatch with `channels` is an error.
    ///
    /// - Throws: `PNGError`/`JPEGError`/`NPYError` for an unreadable file; `DiceKitError.shape`
    ///   naming the file for a channel count other than `channels`, a shape that is not one
    ///   image, or a mask whose size differs from its image's; `DiceKitError.value` for float
    ///   values outside [0, 1] and for bad labels.
    public func item(_ index: Int, channels: Int? = nil) throws -> Item {
        precondition(entries.indices.contains(index), "PredictionInputs.item: index \(index) of \(count)")
        var item: Item
        switch entries[index] {
        case .stacked(let i):
            let stack = stack!
            let shape = Array(stack.images.shape.dropFirst())
            let size = shape.reduce(1, *)
            let positions = shape.dropLast().reduce(1, *)
            item = Item(
                name: names[index], source: stack.path,
                image: try Tensor(shape: shape, scalars: Array(stack.images.scalars[(i * size)..<((i + 1) * size)])),
                labels: stack.labels.map { Array($0[(i * positions)..<((i + 1) * positions)]) })
        case .file(let image, let mask):
            item = try Self.readFile(image, mask: mask, name: names[index], options: options, spatialRank: spatialRank)
        case .nifti(let volume):
            item = try Self.readNIfTI(volume, options: options)
        }
        guard let channels, item.image.shape.last != channels else { return item }
        if channels == 3, item.image.shape.last == 1 {
            let grey = item.image.scalars
            var rgb = [Float](repeating: 0, count: grey.count * 3)
            for (p, value) in grey.enumerated() { (rgb[3 * p], rgb[3 * p + 1], rgb[3 * p + 2]) = (value, value, value) }
            return Item(
                name: item.name, source: item.source, image: try Tensor(shape: item.extents + [3], scalars: rgb),
                labels: item.labels, grid: item.grid, original: item.original)
        }
        throw DiceKitError.shape(
            "\(item.source): an image of \(item.image.shape.last!) channel(s); the checkpoint expects \(channels)")
    }

    /// Every image stacked into [N, spatial…, C] with the labels of all (nil unless every image has them).
    ///
    /// - Throws: as `item(_:channels:)`; `DiceKitError.shape` naming the first image whose size differs.
    public func stacked(channels: Int? = nil) throws -> (images: Tensor<Float>, labels: [Int32]?) {
        var pixels = [Float]()
        var labels: [Int32]? = []
        var shape: [Int]?
        for i in 0..<count {
            let item = try item(i, channels: channels)
            if let shape, shape != item.image.shape {
                throw DiceKitError.shape(
                    "\(item.source) is \(item.image.shape) unlike \(shape) of \(names[0]); expected one size to stack")
            }
            if item.outputExtents != item.extents, item.labels != nil {
                throw DiceKitError.option(
                    "\(item.source): resized on load, its ground truth is on its own grid; expected images read at their own size to stack"
                )
            }
            shape = item.image.shape
            pixels += item.image.scalars
            if let truth = item.labels { labels? += truth } else { labels = nil }
        }
        return (try Tensor(shape: [count] + (shape ?? []), scalars: pixels), labels)
    }

    // MARK: - Reading

    private static func isNPY(_ path: String) -> Bool { (path as NSString).pathExtension.lowercased() == "npy" }

    private static func stem(_ path: String) -> String { isNPY(path) ? String(path.dropLast(4)) : path }

    private static func numbered(_ count: Int) -> [String] {
        (0..<count).map { i in String(repeating: "0", count: max(0, 4 - String(i).count)) + String(i) }
    }

    /// Image and `.npy` files of a folder, sorted.
    private static func inputFiles(in directory: String) throws -> [String] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { ImageFile.isImage($0) || isNPY($0) }.sorted()
        guard !names.isEmpty else {
            throw DiceKitError.file(
                path: directory,
                reason: "no .png, .jpg, .jpeg or .npy files (expected FILE, DIR/images.npy, DIR/images/* or DIR/*)")
        }
        return names
    }

    /// The mask of image file `name` in `folder`: the first of STEM.png, .jpg, .jpeg, .npy there.
    private static func maskFile(for name: String, in folder: String) -> String? {
        ["png", "jpg", "jpeg", "npy", "PNG", "JPG", "JPEG"].map {
            (folder as NSString).appendingPathComponent(ImageFile.stem(name) + "." + $0)
        }
        .first { FileManager.default.fileExists(atPath: $0) }
    }

    /// An `.npy` array as images [N, spatial…, C] in [0, 1] with the first existing mask file.
    private static func readStack(_ path: String, masks: [String], options: DatasetOptions, spatialRank r: Int) throws
        -> Stack
    {
        if options.imageSize != nil {
            throw DiceKitError.option("\(path): .npy inputs are used at their stored size; leave out the image size")
        }
        let array = try NPY.read(contentsOf: path)
        var shape = array.shape
        switch shape.count {
        case r + 2: break
        case r + 1: shape.insert(1, at: 0)
        case r: shape = [1] + shape + [1]
        default:
            let spatial = r == 2 ? "H, W" : "D, H, W"
            throw DiceKitError.shape(
                "\(path): shape \(array.shape); expected [N, \(spatial), C], [\(spatial), C] or [\(spatial)] for a \(r)-D network"
            )
        }
        guard shape.dropLast().allSatisfy({ $0 >= 1 }), shape.last! >= 1 else {
            throw DiceKitError.shape("\(path): shape \(array.shape) holds no image; expected every extent ≥ 1")
        }
        let images = try unitImages(array, shape: shape, path: path)
        guard let maskPath = masks.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            return Stack(images: images, labels: nil, path: path, single: array.shape.count <= r + 1)
        }
        let labels = try npyLabels(maskPath, expected: Array(shape.dropLast()), options: options)
        return Stack(images: images, labels: labels, path: path, single: array.shape.count <= r + 1)
    }

    /// Float images in [0, 1]: uint8 / 255, uint16 / 65535, floats checked.
    private static func unitImages(_ array: NPYArray, shape: [Int], path: String) throws -> Tensor<Float> {
        let scale: Float
        switch array.dtype {
        case .float32, .float64: scale = 1
        case .uint8: scale = 1 / 255
        case .uint16: scale = 1 / 65535
        default:
            throw DiceKitError.value("\(path): image dtype \(array.dtype); expected float32, float64, uint8 or uint16")
        }
        var images = try array.tensor(of: Float.self).reshaped(to: shape)
        if scale != 1 {
            images = images.map { $0 * scale }
        } else {
            try SegmentationDataset.checkUnitRange(images, path: path)
        }
        return images
    }

    /// Class indices from a `.npy` mask whose shape is `expected` (or `expected` without a leading 1).
    private static func npyLabels(_ path: String, expected: [Int], options: DatasetOptions) throws -> [Int32] {
        let array = try NPY.read(contentsOf: path)
        guard array.shape == expected || [1] + array.shape == expected || array.shape == expected + [1] else {
            throw DiceKitError.shape("\(path): mask shape \(array.shape); expected \(expected) to fit the images")
        }
        let encoding = options.masks ?? .classIndices
        let ignore = try options.ignoreLabel(encoding: encoding)
        var labels = try SegmentationDataset.int32Labels(array.integers(), source: path, ignore: ignore)
        switch encoding {
        case .binary: labels = labels.map { $0 != 0 ? 1 : 0 }
        case .palette:
            throw DiceKitError.option(
                "\(path): palette encoding applies to PNG masks; expected binary or index for .npy masks")
        case .classIndices:
            var survey = LabelSurvey(ignore: ignore)
            survey.add(labels)
            try survey.refuseBinaryMasksReadAsIndices(
                path: path, binaryHint: "a binary mask: use --mask-encoding binary")
        }
        return labels
    }

    /// One image file (PNG, JPEG or a one-image `.npy`) with its mask.
    private static func readFile(
        _ path: String, mask: String?, name: String, options: DatasetOptions, spatialRank r: Int
    ) throws -> Item {
        if isNPY(path) {
            let stack = try readStack(
                path, masks: mask.map { isNPY($0) ? [$0] : [] } ?? [], options: options, spatialRank: r)
            guard stack.images.shape[0] == 1 else {
                throw DiceKitError.shape(
                    "\(path): \(stack.images.shape[0]) images in one file; expected one image per file in a folder (give the file itself as the input for a stack)"
                )
            }
            let extents = Array(stack.images.shape.dropFirst().dropLast())
            var labels = stack.labels
            if let mask, !isNPY(mask) {
                let read = try ImageFile.readMask(contentsOf: mask, encoding: options.masks ?? .binary)
                guard [read.height, read.width] == extents else {
                    throw DiceKitError.shape(
                        "\(mask) is \(read.width) × \(read.height); expected the extents \(extents) of its image \(path)"
                    )
                }
                labels = read.labels
            }
            return Item(
                name: name, source: path, image: try stack.images.reshaped(to: Array(stack.images.shape.dropFirst())),
                labels: labels)
        }
        guard r == 2 else {
            throw DiceKitError.shape("\(path): a 2-D picture; a 3-D network needs .npy volumes [D, H, W, C]")
        }
        let picture = try ImageFile.read(contentsOf: path)
        var pixels = try SegmentationDataset.rgbOrGrey(
            picture.pixels.map { Float($0) / 255 }, channels: picture.channels, path: path)
        let c = picture.channels >= 3 ? 3 : 1
        let (h, w) = (picture.height, picture.width)
        var labels: [Int32]?
        if let mask {
            let read: (width: Int, height: Int, labels: [Int32])
            if isNPY(mask) {
                read = (w, h, try npyLabels(mask, expected: [h, w], options: options))
            } else {
                read = try ImageFile.readMask(contentsOf: mask, encoding: options.masks ?? .binary)
            }
            guard (read.width, read.height) == (w, h) else {
                throw DiceKitError.shape(
                    "\(mask) is \(read.width) × \(read.height); expected \(w) × \(h) like its image \(path)")
            }
            labels = read.labels
        }
        let read = try Tensor(shape: [h, w, c], scalars: pixels)
        guard let size = options.imageSize else { return Item(name: name, source: path, image: read, labels: labels) }
        // The network sees the resized picture; the ground truth and the outputs stay on its own grid.
        pixels = ImageResampling.resizeImage(pixels, height: h, width: w, channels: c, to: size, mode: options.resize)
        return Item(
            name: name, source: path, image: try Tensor(shape: [size.height, size.width, c], scalars: pixels),
            labels: labels, original: ResizedPicture(image: read, size: size, mode: options.resize))
    }
}
