// One entry point for every data source a user can name on the command line.

import Foundation

extension SegmentationDataset {
    /// Loads the data set a user names: `path` is
    /// - a directory holding images.npy (with masks.npy or labels.npy) → `loadNPY(directory:)`;
    /// - a directory holding imagesTr/ + labelsTr/ (or images/ + masks/) of NIfTI volumes →
    ///   `NIfTIFolderSource` (read whole);
    /// - a directory holding images/ (and masks/) → `loadImageFolder(_:options:warning:)`;
    /// - a file FILE.npy (with FILE_masks.npy) → `loadNPY(file:)`.
    /// (The synthetic sets have no path: call `syntheticPolyps(count:seed:configuration:)` or
    /// `syntheticBlobs3D(count:seed:depth:height:width:)`.)
    ///
    /// - Parameters:
    ///   - options: mask encoding (nil: binary for folders, class indices for .npy), class
    ///     count, and for folders the image size and resize mode.
    ///   - warning: receives one-line warnings about the data (see `loadImageFolder`).
    /// - Throws: `DiceKitError.file` when `path` matches no layout; `DiceKitError.option` for an
    ///   image size with a .npy source; otherwise as the loader.
    public static func load(
        from path: String, options: DatasetOptions,
        warning: (String) -> Void = { _ in }
    ) throws -> SegmentationDataset {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DiceKitError.file(path: path, reason: "no such file or directory")
        }
        let base = URL(fileURLWithPath: path)
        let isNPY =
            !isDirectory.boolValue
            || FileManager.default.fileExists(atPath: base.appendingPathComponent("images.npy").path)
        if isNPY { try refuseNIfTIOptions(options, path: path) }
        if isNPY, options.imageSize != nil {
            throw DiceKitError.option(
                "\(path): .npy data sets are used at their stored size; resize them beforehand or leave out the image size"
            )
        }
        let encoding = options.masks ?? .classIndices
        if !isDirectory.boolValue {
            guard path.hasSuffix(".npy") else {
                throw DiceKitError.file(path: path, reason: "expected a .npy file (with FILE_masks.npy) or a directory")
            }
            return try loadNPY(
                file: path, classes: options.classes, encoding: encoding, ignoreIndex: options.ignoreIndex)
        }
        if isNPY {
            return try loadNPY(
                directory: path, classes: options.classes, encoding: encoding, ignoreIndex: options.ignoreIndex)
        }
        if NIfTICases.layout(of: path) != nil {
            let source = try NIfTIFolderSource(directory: path, options: options)
            return try source.samples(Array(0..<source.count))
        }
        try refuseNIfTIOptions(options, path: path)
        if isImageFolder(path) { return try loadImageFolder(path, options: options, warning: warning) }
        throw DiceKitError.file(path: path, reason: layoutsExpected)
    }

    /// Whether `path` is a folder of pictures: a directory holding images/, without images.npy
    /// and without NIfTI volumes (`NIfTICases.layout(of:)`).
    public static func isImageFolder(_ path: String) -> Bool {
        let base = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(
            atPath: base.appendingPathComponent("images").path, isDirectory: &isDirectory)
            && isDirectory.boolValue
            && !FileManager.default.fileExists(atPath: base.appendingPathComponent("images.npy").path)
            && NIfTICases.layout(of: path) == nil
    }

    /// Whether `path` is a folder of NIfTI volumes and label maps (`imagesTr/` + `labelsTr/`, or
    /// `images/` + `masks/` or `imagesTs/` + `labelsTs/` of NIfTI files).
    public static func isNIfTIFolder(_ path: String) -> Bool { NIfTICases.layout(of: path) != nil }

    /// What `load` and `open` accept, for their error.
    static let layoutsExpected =
        "expected images.npy + masks.npy, images/ + masks/ with PNG or JPEG files, or imagesTr/ + labelsTr/ with NIfTI volumes"

    /// Refuses the options that only NIfTI volumes take.
    static func refuseNIfTIOptions(_ options: DatasetOptions, path: String) throws {
        if options.intensity != nil {
            throw DiceKitError.option(
                "\(path): an intensity normalisation applies to NIfTI volumes; pictures are read in [0, 1] and .npy as stored"
            )
        }
        if let size = options.imageSize, size.depth != nil {
            throw DiceKitError.option("\(path): a 3-D image size (\(size)) applies to NIfTI volumes; expected H,W")
        }
        if let spacing = options.targetSpacing {
            throw DiceKitError.option(
                "\(path): a target spacing (\(spacing)) applies to NIfTI volumes, whose headers give their voxel size; this data has none"
            )
        }
    }

    /// Loads the data set at `path` (see `load(from:options:warning:)`).
    ///
    /// - Parameters:
    ///   - masks: how image-folder masks become classes (default `.binary`); .npy masks are class indices.
    ///   - classes: K; nil takes max(label) + 1 (at least 2).
    /// - Throws: as `load(from:options:warning:)`.
    public static func load(from path: String, masks: MaskEncoding = .binary, classes: Int? = nil) throws
        -> SegmentationDataset
    {
        var isDirectory: ObjCBool = false
        let isFolder =
            FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
            && !FileManager.default.fileExists(
                atPath: URL(fileURLWithPath: path).appendingPathComponent("images.npy").path)
        return try load(from: path, options: DatasetOptions(masks: isFolder ? masks : nil, classes: classes))
    }
}

extension SegmentationDataset {
    /// Opens the data set a user names without reading it into memory: an image folder as an
    /// `ImageFolderSource` (decoded on demand), a .npy data set as an `NPYSource` (each sample
    /// read from the file at its offset), NIfTI volumes as a `NIfTIFolderSource`. The layouts and checks are those of
    /// `load(from:options:warning:)`; samples read later fail with the same messages.
    ///
    /// - Throws: as `load(from:options:warning:)`.
    public static func open(
        _ path: String, options: DatasetOptions,
        warning: (String) -> Void = { _ in }
    ) throws -> any SegmentationSource {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DiceKitError.file(path: path, reason: "no such file or directory")
        }
        let base = URL(fileURLWithPath: path)
        let isNPY =
            !isDirectory.boolValue
            || FileManager.default.fileExists(atPath: base.appendingPathComponent("images.npy").path)
        if isNPY {
            try refuseNIfTIOptions(options, path: path)
            return try NPYSource(path: path, options: options)
        }
        if NIfTICases.layout(of: path) != nil { return try NIfTIFolderSource(directory: path, options: options) }
        try refuseNIfTIOptions(options, path: path)
        if isImageFolder(path) { return try ImageFolderSource(directory: path, options: options, warning: warning) }
        throw DiceKitError.file(path: path, reason: layoutsExpected)
    }
}

extension SegmentationDataset {
    /// Opens the data set a user names as cases to cut patches from (`PatchSource`) or to score
    /// whole: a NIfTI folder as a `NIfTICaseFolder` (each case at its own size, or resized to the
    /// image size or resampled to the target spacing with its stored grid kept),
    /// an image folder as an `ImageCaseFolder` (each picture at its own size, or resized to the
    /// image size with its stored grid kept), anything else as `UniformCases` of `open`.
    ///
    /// - Throws: as `open(_:options:warning:)`.
    public static func openCases(
        _ path: String, options: DatasetOptions,
        warning: (String) -> Void = { _ in }
    ) throws -> any CaseSource {
        if isNIfTIFolder(path) { return try NIfTICaseFolder(directory: path, options: options) }
        if isImageFolder(path) {
            try refuseNIfTIOptions(options, path: path)
            return try ImageCaseFolder(directory: path, options: options, warning: warning)
        }
        return UniformCases(try open(path, options: options, warning: warning))
    }
}
