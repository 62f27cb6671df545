// Inputs for prediction: images with names and, when masks are present, ground truth. Masks
// are optional here (unlike SegmentationDataset); layouts are the data set's plus a bare folder
// of PNG/JPEG images.

import Foundation

/// Images to run a model on, with names for the outputs and optional ground truth.
public struct PredictionInputs: Sendable {
    /// [N, spatial…, C] Float images (PNG and uint8 sources in [0, 1]).
    public let images: Tensor<Float>
    /// One name per image: the PNG file's name without extension, or "0000", "0001", … for .npy.
    public let names: [String]
    /// Ground-truth labels [N, spatial…] when masks were found, else nil.
    public let labels: [Int32]?

    /// Loads what `path` names:
    /// - FILE.npy: images (FILE_masks.npy, if present, gives labels);
    /// - a directory with images.npy (masks.npy or labels.npy, if present, give labels);
    /// - a directory with images/*.{png,jpg,jpeg} (masks/* give labels when every image has one);
    /// - a directory of *.png/*.jpg/*.jpeg images (no labels).
    ///
    /// - Parameter options: mask encoding, image size and resize mode for image folders (as
    ///   `SegmentationDataset.load(from:options:warning:)`); the class count is not checked.
    /// - Throws: `DiceKitError.file` when nothing loadable is found, and the loaders' errors;
    ///   `DiceKitError.shape` when images differ in size and no image size is given.
    public static func load(from path: String, options: DatasetOptions,
                            warning: (String) -> Void = { _ in }) throws -> PredictionInputs {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DiceKitError.file(path: path, reason: "no such file or directory")
        }
        let base = URL(fileURLWithPath: path)
        let fm = FileManager.default
        if !isDirectory.boolValue || fm.fileExists(atPath: base.appendingPathComponent("images.npy").path) {
            let imagesPath = isDirectory.boolValue ? base.appendingPathComponent("images.npy").path : path
            let maskCandidates = isDirectory.boolValue
                ? ["masks.npy", "labels.npy"].map { base.appendingPathComponent($0).path }
                : [(path.hasSuffix(".npy") ? String(path.dropLast(4)) : path) + "_masks.npy"]
            if options.imageSize != nil {
                throw DiceKitError.option("\(path): .npy inputs are used at their stored size; leave out the image size")
            }
            if maskCandidates.contains(where: { fm.fileExists(atPath: $0) }) {
                let data = try SegmentationDataset.load(from: path, options: options)
                return PredictionInputs(images: data.images, names: numbered(data.count), labels: data.labels)
            }
            let array = try NPY.read(contentsOf: imagesPath)
            guard array.shape.count == 4 || array.shape.count == 5 else {
                throw DiceKitError.shape("\(imagesPath): image shape \(array.shape); expected [N, H, W, C] or [N, D, H, W, C]")
            }
            let scale: Float = array.dtype == .uint8 ? 1 / 255 : (array.dtype == .uint16 ? 1 / 65535 : 1)
            var images = array.tensor(of: Float.self)
            if scale != 1 { images = images.map { $0 * scale } } else { try SegmentationDataset.checkUnitRange(images, path: imagesPath) }
            return PredictionInputs(images: images, names: numbered(array.shape[0]), labels: nil)
        }
        var sub: ObjCBool = false
        let imageFolder = base.appendingPathComponent("images")
        if fm.fileExists(atPath: imageFolder.path, isDirectory: &sub), sub.boolValue {
            let names = try imageNames(in: imageFolder.path)
            let maskFolder = base.appendingPathComponent("masks").path
            let maskStems = Set(((try? fm.contentsOfDirectory(atPath: maskFolder)) ?? []).filter(ImageFile.isImage).map(ImageFile.stem))
            if names.allSatisfy({ maskStems.contains(ImageFile.stem($0)) }) {
                var folderOptions = options
                folderOptions.classes = nil
                let data = try SegmentationDataset.loadImageFolder(path, options: folderOptions, warning: warning)
                return PredictionInputs(images: data.images, names: names.map(ImageFile.stem), labels: data.labels)
            }
            let images = try SegmentationDataset.loadImages(in: imageFolder.path, names: names, options: options, warning: warning)
            return PredictionInputs(images: images, names: names.map(ImageFile.stem), labels: nil)
        }
        let names = try imageNames(in: path)
        let images = try SegmentationDataset.loadImages(in: path, names: names, options: options, warning: warning)
        return PredictionInputs(images: images, names: names.map(ImageFile.stem), labels: nil)
    }

    /// Loads what `path` names (see `load(from:options:warning:)`), with image-folder masks read as `masks`.
    ///
    /// - Throws: as `load(from:options:warning:)`.
    public static func load(from path: String, masks: MaskEncoding = .binary) throws -> PredictionInputs {
        try load(from: path, options: DatasetOptions(masks: masks == .binary ? nil : masks))
    }

    private static func numbered(_ count: Int) -> [String] {
        (0..<count).map { i in String(repeating: "0", count: max(0, 4 - String(i).count)) + String(i) }
    }

    private static func imageNames(in directory: String) throws -> [String] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter(ImageFile.isImage).sorted()
        guard !names.isEmpty else {
            throw DiceKitError.file(path: directory, reason: "no .png, .jpg or .jpeg images (expected FILE.npy, DIR/images.npy, DIR/images/*.png|jpg or DIR/*.png|jpg)")
        }
        return names
    }
}
