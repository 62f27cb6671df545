// The data options shared by `train`, `eval` and `predict`: where the data comes from and how a
// folder of images becomes tensors. Every option is parsed and checked here, before any data is
// generated or read, so a typo fails at once.

import DiceKit
import Foundation

/// Parsed `--data`, `--val-data`, `--count`, `--size`, `--classes`, `--image-size`, `--resize`,
/// `--mask-encoding` and `--ignore-index`.
struct DataOptions {
    /// Where the images come from.
    enum Source: Equatable {
        /// The synthetic 2-D polyps, `--count` images of `--size`².
        case synthetic
        /// The synthetic 3-D blobs, `--count` volumes of `--size`³, one channel.
        case synthetic3d
        /// A .npy file, a folder with images.npy, or a folder with images/ + masks/.
        case path(String)
    }

    /// The value options this file parses (added to each command's spec).
    static let valueOptions: Set<String> = [
        "data", "val-data", "count", "size", "classes", "image-size", "resize", "mask-encoding", "ignore-index",
        "intensity", "target-spacing",
    ]

    /// The help lines shared by the commands.
    static let help = """
          --image-size H,W       resize every folder image (area/bilinear) and mask (nearest) to H × W
                                 on load (a single S means S × S); needed by train when the images differ
                                 in size, unless --patch-size is given (eval and predict take each image
                                 whole at its own size)
          --resize stretch|fit|crop   how an image of another aspect ratio reaches --image-size:
                                 stretch (default), fit (keep the ratio, pad with 0/background),
                                 crop (keep the ratio, cut the overhang)
          --mask-encoding binary|index|palette   binary: luminance ≥ 128 is class 1 (default for
                                 folders; the only mode for JPEG masks); index: pixel values are class indices
                                 (default for .npy); palette: a palette PNG read as its indices
          --ignore-index K       mask value K marks unlabelled pixels (e.g. 255, VOC's void): not a
                                 class, left out of the loss and the metrics (index/palette masks)
          --intensity zscore|none|window:LOW,HIGH   NIfTI volumes only, per volume and channel:
                                 zscore (default, nnU-Net's), as stored, or clipped to a window and
                                 mapped to [0, 1] (CT, e.g. window:-1000,1000)
          --target-spacing DZ,DY,DX|S|median   NIfTI volumes only: resample every volume to this
                                 voxel spacing (header units, mm) on load, so a voxel is the same size
                                 in every case (nnU-Net's target spacing); median (train only) takes
                                 each axis's median over the training cases. The checkpoint records it:
                                 predict and eval resample alike and score on each scan's own grid
          NIfTI volumes (.nii, .nii.gz): DIR/imagesTr/CASE_0000.nii.gz … (a file per channel) or
          CASE.nii.gz (3-D or 4-D), with DIR/labelsTr/CASE.nii.gz, as nnU-Net and the Decathlon lay
          them out; --image-size D,H,W resizes volumes of mixed sizes
          classes.json beside the data (["background", "polyp", …]) names the classes in tables and
          JSON; without it, the "labels" of a dataset.json do
        """

    let source: Source
    /// `--val-data`, a separate validation set read like `--data`.
    let validation: String?
    /// Synthetic image (volume) count and size.
    let count: Int, size: Int
    /// The loader's options (mask encoding, classes, image size, resize mode).
    var dataset: DatasetOptions
    /// The names from classes.json beside the data, if any.
    let classNames: [String]?
    /// The regions of an nnU-Net dataset.json beside the data (its labels name regions), if any.
    var datasetRegions: LabelRegions? = nil

    /// Parses and checks the data options; `defaultCount` is the synthetic count when not given.
    ///
    /// - Throws: `UsageError` naming the option for anything inconsistent; `DiceKitError` for a
    ///   missing path or a bad classes.json.
    static func parse(
        _ arguments: ParsedArguments, defaultSource: String? = "synthetic", defaultCount: Int,
        allowValidation: Bool = false, allowsMedianSpacing: Bool = false
    ) throws -> DataOptions {
        guard let raw = arguments.string("data") ?? defaultSource else {
            throw UsageError(message: "--data is required")
        }
        let source: Source = raw == "synthetic" ? .synthetic : raw == "synthetic3d" ? .synthetic3d : .path(raw)
        let synthetic = source != .path(raw)
        if !synthetic {
            for option in ["count", "size"] where arguments.string(option) != nil {
                throw UsageError(
                    message:
                        "--\(option) applies only to --data synthetic or synthetic3d; \(raw) is read as it is (drop --\(option))"
                )
            }
        }
        let count = try arguments.int("count", default: defaultCount, in: 1...100_000)!
        let size =
            source == .synthetic3d
            ? try arguments.int("size", default: 32, in: 8...256)!
            : try arguments.int("size", default: 128, in: 16...2048)!
        if synthetic {
            for option in ["mask-encoding", "image-size", "resize", "ignore-index", "intensity", "target-spacing"]
            where arguments.string(option) != nil {
                throw UsageError(
                    message:
                        "--\(option) applies to data read from files, not --data \(raw)\(option == "image-size" ? " (use --size)" : "")"
                )
            }
        }
        var options = try folderOptions(arguments, allowsMedianSpacing: allowsMedianSpacing)
        options.classes = try arguments.int("classes", in: 1...256)
        let validation = arguments.string("val-data")
        if validation != nil {
            guard allowValidation else { throw UsageError(message: "--val-data is not an option of this command") }
            guard !synthetic else {
                throw UsageError(
                    message:
                        "--val-data needs --data DIR|FILE.npy (the synthetic sets split off their own validation images)"
                )
            }
        }
        var classNames: [String]?
        var datasetRegions: LabelRegions?
        if case .path(let path) = source {
            for (option, value) in [("data", path), ("val-data", validation)] {
                guard let value else { continue }
                guard FileManager.default.fileExists(atPath: value) else {
                    throw DiceKitError.file(path: value, reason: "no such file or directory (--\(option))")
                }
                if options.imageSize != nil, isNPY(value) {
                    throw UsageError(
                        message:
                            "--image-size applies to image folders (images/ + masks/); \(value) is a .npy data set, used at its stored size"
                    )
                }
                if let spacing = arguments.string("target-spacing"), isNPY(value) {
                    throw UsageError(
                        message:
                            "--target-spacing \(spacing) applies to NIfTI volumes; \(value) is a .npy data set, which has no voxel spacing"
                    )
                }
                if options.masks == .palette, isNPY(value) {
                    throw UsageError(
                        message:
                            "--mask-encoding palette applies to PNG masks; \(value) is a .npy data set (use binary or index)"
                    )
                }
            }
            classNames = try ClassNames.load(besides: path)
            datasetRegions = try LabelRegions.load(besides: path)
            if let names = classNames {
                if let k = options.classes, k != names.count {
                    throw UsageError(
                        message:
                            "--classes \(k) disagrees with the \(names.count) names of \(ClassNames.path(for: path))")
                }
                options.classes = names.count
            }
        } else if let k = options.classes {
            let range = source == .synthetic ? 2...3 : 2...2
            guard range.contains(k) else {
                throw UsageError(
                    message:
                        "--classes \(k) for --data \(raw); expected \(range.lowerBound == range.upperBound ? "2" : "2 or 3")"
                )
            }
        }
        return DataOptions(
            source: source, validation: validation, count: count, size: size, dataset: options, classNames: classNames,
            datasetRegions: datasetRegions)
    }

    /// `--mask-encoding`, `--image-size`, `--resize`, `--intensity`, `--target-spacing` (median
    /// only when `allowsMedianSpacing`: train) and `--ignore-index` (also used by `predict`).
    static func folderOptions(_ arguments: ParsedArguments, allowsMedianSpacing: Bool = false) throws -> DatasetOptions
    {
        var options = DatasetOptions()
        if let text = arguments.string("mask-encoding") {
            switch text {
            case "binary": options.masks = .binary
            case "index": options.masks = .classIndices
            case "palette": options.masks = .palette
            default: throw UsageError(message: "--mask-encoding expects binary|index|palette, got '\(text)'")
            }
        }
        if let text = arguments.string("image-size") {
            do { options.imageSize = try ImageSize(parsing: text) } catch let error as DiceKitError {
                throw UsageError(message: "--image-size: \(error.description)")
            }
        }
        if arguments.string("resize") != nil {
            guard options.imageSize != nil else { throw UsageError(message: "--resize needs --image-size H,W") }
            options.resize = try arguments.choice("resize", as: ResizeMode.self)!
        }
        if let text = arguments.string("intensity") {
            do { options.intensity = try IntensityNormalization(parsing: text) } catch let error as DiceKitError {
                throw UsageError(message: "--intensity: \(error.description)")
            }
        }
        if let text = arguments.string("target-spacing") {
            do { options.targetSpacing = try TargetSpacing(parsing: text) } catch let error as DiceKitError {
                throw UsageError(message: "--target-spacing: \(error.description)")
            }
            if let size = options.imageSize {
                throw UsageError(
                    message:
                        "--target-spacing \(text) and --image-size \(size) both set the volumes' extents; give one of them"
                )
            }
            if options.targetSpacing == .median, !allowsMedianSpacing {
                throw UsageError(
                    message:
                        "--target-spacing median is the training cases' median, for train; expected DZ,DY,DX (left out, the checkpoint's is taken)"
                )
            }
        }
        options.ignoreIndex = try arguments.int("ignore-index", in: Int(Int32.min)...Int(Int32.max))
        if let k = options.ignoreIndex, options.masks == .binary {
            throw UsageError(
                message:
                    "--ignore-index \(k) needs class-index masks (binary masks hold only 0 and 1); add --mask-encoding index or palette"
            )
        }
        return options
    }

    /// Whether `path` names a .npy data set (a file, or a folder with images.npy).
    static func isNPY(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            return path.hasSuffix(".npy")
        }
        return !isDirectory.boolValue
            || FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("images.npy"))
    }

    /// The data set (and the `--val-data` set), warnings printed on stderr.
    ///
    /// - Parameters:
    ///   - seed: the synthetic sets' seed.
    ///   - classes: overrides the class count (eval: the model's); nil keeps the parsed one. The
    ///     synthetic polyps get it as their class count (default 2).
    func load(seed: UInt64, classes: Int? = nil) throws -> (data: SegmentationDataset, validation: SegmentationDataset?)
    {
        var options = dataset
        if let classes { options.classes = classes }
        let warn = { (message: String) in printError("warning: \(message)") }
        switch source {
        case .synthetic:
            let configuration = SyntheticPolypConfiguration(size: size, classes: min(options.classes ?? 2, 3))
            return (try .syntheticPolyps(count: count, seed: seed, configuration: configuration), nil)
        case .synthetic3d:
            return (try .syntheticBlobs3D(count: count, seed: seed, depth: size, height: size, width: size), nil)
        case .path(let path):
            var data = try SegmentationDataset.load(from: path, options: options, warning: warn)
            guard let validation else { return (data, nil) }
            var held = try SegmentationDataset.load(from: validation, options: options, warning: warn)
            guard held.channels == data.channels, held.spatialShape.count == data.spatialShape.count else {
                throw DiceKitError.shape(
                    "\(validation): images of shape \(held.images.shape.dropFirst()) do not match the training images \(data.images.shape.dropFirst()) of \(path)"
                )
            }
            if options.classes == nil, held.classes != data.classes {
                // One class count for both: the larger of the two.
                let k = max(held.classes, data.classes)
                data = try SegmentationDataset(
                    images: data.images, labels: data.labels, classes: k, ignoreIndex: options.ignoreIndex)
                held = try SegmentationDataset(
                    images: held.images, labels: held.labels, classes: k, ignoreIndex: options.ignoreIndex)
            }
            return (data, held)
        }
    }

    /// What `train` adds to `--seed` for its synthetic images (`eval --folds` generates them alike).
    static let trainingSeedOffset: UInt64 = 1000
    /// What `eval` adds to `--seed` for unseen synthetic images.
    static let evaluationSeedOffset: UInt64 = 2000

    /// The data set (and the `--val-data` set) opened for streaming: a folder or .npy data set
    /// is checked but not read into memory (`SegmentationDataset.open`); the synthetic sets are
    /// generated in memory. Warnings are printed on stderr.
    ///
    /// - Parameters:
    ///   - seed: the synthetic sets' seed.
    ///   - classes: overrides the class count (eval: the model's); nil keeps the parsed one.
    func open(seed: UInt64, classes: Int? = nil) throws -> (
        data: any SegmentationSource, validation: (any SegmentationSource)?
    ) {
        guard case .path(let path) = source else {
            let (data, held) = try load(seed: seed, classes: classes)
            return (data, held)
        }
        return try openPair(path, classes: classes) { path, options, warn in
            try SegmentationDataset.open(path, options: options, warning: warn)
        } describe: {
            ($0.channels, $0.spatialShape.count, $0.classes, "\($0.spatialShape + [$0.channels])")
        }
    }

    /// A folder of pictures (`images/` + `masks/`) opened as cases (`ImageCaseFolder`: each at
    /// its own size, or resized by `--image-size` with its own grid kept), for `eval` to score
    /// whole on their own grids; nil for any other data.
    ///
    /// - Parameter classes: overrides the class count (the model's); nil keeps the parsed one.
    func pictureCases(classes: Int? = nil) throws -> ImageCaseFolder? {
        guard case .path(let path) = source, SegmentationDataset.isImageFolder(path) else { return nil }
        var options = dataset
        if let classes { options.classes = classes }
        return try ImageCaseFolder(directory: path, options: options) { printError("warning: \($0)") }
    }

    /// A NIfTI folder read resized (`--image-size`) or resampled (a target spacing) as cases that
    /// keep their stored grids, to be scored there; nil for other data and for volumes read as stored.
    func resizedVolumeCases(classes: Int? = nil) throws -> NIfTICaseFolder? {
        guard case .path(let path) = source, SegmentationDataset.isNIfTIFolder(path),
            dataset.imageSize != nil || dataset.targetSpacing != nil
        else { return nil }
        var options = dataset
        if let classes { options.classes = classes }
        return try NIfTICaseFolder(directory: path, options: options)
    }

    /// The data set (and the `--val-data` set) as cases to cut patches from: a NIfTI folder keeps
    /// each case's own size (`SegmentationDataset.openCases`); other data is opened as by
    /// `open(seed:classes:)`, every sample a case.
    func openCases(seed: UInt64, classes: Int? = nil) throws -> (
        data: any CaseSource, validation: (any CaseSource)?
    ) {
        guard case .path(let path) = source else {
            let (data, held) = try open(seed: seed, classes: classes)
            return (UniformCases(data), held.map { UniformCases($0) })
        }
        return try openPair(path, classes: classes) { path, options, warn in
            try SegmentationDataset.openCases(path, options: options, warning: warn)
        } describe: {
            ($0.channels, $0.spatialRank, $0.classes, "\($0.spatialRank)-D with \($0.channels) channel(s)")
        }
    }

    /// `path` and `--val-data` opened by `opener`, checked to agree in channels and rank, with one
    /// class count for both (the larger, unless given).
    private func openPair<Source>(
        _ path: String, classes: Int?, _ opener: (String, DatasetOptions, (String) -> Void) throws -> Source,
        describe: (Source) -> (channels: Int, rank: Int, classes: Int, shape: String)
    ) throws -> (data: Source, validation: Source?) {
        let warn = { (message: String) in printError("warning: \(message)") }
        var options = dataset
        if let classes { options.classes = classes }
        var data = try opener(path, options, warn)
        // A median target spacing is the training cases': the validation cases are resampled to it.
        if let resolved = Self.targetSpacing(of: data) { options.targetSpacing = .spacing(resolved) }
        guard let validation else { return (data, nil) }
        var held = try opener(validation, options, warn)
        let (a, b) = (describe(data), describe(held))
        guard a.channels == b.channels, a.rank == b.rank else {
            throw DiceKitError.shape(
                "\(validation): images of shape \(b.shape) do not match the training images \(a.shape) of \(path)")
        }
        if options.classes == nil, a.classes != b.classes {
            // One class count for both: the larger of the two (both are opened again with it).
            options.classes = max(a.classes, b.classes)
            data = try opener(path, options, { _ in })
            held = try opener(validation, options, { _ in })
        }
        return (data, held)
    }

    /// The spacing a NIfTI source resamples its cases to (a median resolved), else nil.
    static func targetSpacing(of source: Any) -> [Double]? {
        (source as? NIfTICaseFolder)?.targetSpacing ?? (source as? NIfTIFolderSource)?.folder.targetSpacing
    }

    /// A short description of the source for progress messages.
    var name: String {
        switch source {
        case .synthetic: return "synthetic polyps"
        case .synthetic3d: return "synthetic 3-D blobs"
        case .path(let path): return path
        }
    }
}
