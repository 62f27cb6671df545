// Inputs for prediction: images with names and, when masks are present, ground truth. Masks
// are optional here (unlike SegmentationDataset); layouts are the data set's plus a bare folder
// of PNG images.

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
    /// - a directory with images/*.png (masks/*.png give labels when every image has one);
    /// - a directory of *.png images (no labels).
    ///
    /// - Throws: `DiceKitError.file` when nothing loadable is found, and the loaders' errors;
    ///   `DiceKitError.shape` when PNG images differ in size.
    public static func load(from path: String, masks: MaskEncoding = .binary) throws -> PredictionInputs {
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
            if maskCandidates.contains(where: { fm.fileExists(atPath: $0) }) {
                let data = try SegmentationDataset.load(from: path)
                return PredictionInputs(images: data.images, names: numbered(data.count), labels: data.labels)
            }
            let array = try NPY.read(contentsOf: imagesPath)
            guard array.shape.count == 4 || array.shape.count == 5 else {
                throw DiceKitError.shape("\(imagesPath): image shape \(array.shape); expected [N, H, W, C] or [N, D, H, W, C]")
            }
            let scale: Float = array.dtype == .uint8 ? 1 / 255 : (array.dtype == .uint16 ? 1 / 65535 : 1)
            var images = array.tensor(of: Float.self)
            if scale != 1 { images = images.map { $0 * scale } }
            return PredictionInputs(images: images, names: numbered(array.shape[0]), labels: nil)
        }
        var sub: ObjCBool = false
        let imageFolder = base.appendingPathComponent("images")
        if fm.fileExists(atPath: imageFolder.path, isDirectory: &sub), sub.boolValue {
            let names = try pngNames(in: imageFolder.path)
            let maskFolder = base.appendingPathComponent("masks").path
            if names.allSatisfy({ fm.fileExists(atPath: maskFolder + "/" + $0) }) {
                let data = try SegmentationDataset.loadPNGFolder(path, masks: masks)
                return PredictionInputs(images: data.images, names: names.map(stem), labels: data.labels)
            }
            return try PredictionInputs(images: readPNGs(imageFolder.path, names), names: names.map(stem), labels: nil)
        }
        let names = try pngNames(in: path)
        return try PredictionInputs(images: readPNGs(path, names), names: names.map(stem), labels: nil)
    }

    private static func numbered(_ count: Int) -> [String] {
        (0..<count).map { i in String(repeating: "0", count: max(0, 4 - String(i).count)) + String(i) }
    }

    private static func stem(_ name: String) -> String { String(name.dropLast(4)) }

    private static func pngNames(in directory: String) throws -> [String] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.lowercased().hasSuffix(".png") }.sorted()
        guard !names.isEmpty else {
            throw DiceKitError.file(path: directory, reason: "no .png images (expected FILE.npy, DIR/images.npy, DIR/images/*.png or DIR/*.png)")
        }
        return names
    }

    /// RGB (or grey, when every image is grey) images of one size, [N, H, W, C] in [0, 1].
    private static func readPNGs(_ directory: String, _ names: [String]) throws -> Tensor<Float> {
        let decoded = try names.map { try PNG.read(contentsOf: directory + "/" + $0) }
        let (w, h) = (decoded[0].width, decoded[0].height)
        for (image, name) in zip(decoded, names) where (image.width, image.height) != (w, h) {
            throw DiceKitError.shape("\(directory)/\(name) is \(image.width) × \(image.height); expected \(w) × \(h) like \(names[0])")
        }
        let channels = decoded.allSatisfy { $0.channels <= 2 } ? 1 : 3
        var pixels = [Float]()
        pixels.reserveCapacity(decoded.count * w * h * channels)
        for image in decoded {
            for p in 0..<(w * h) {
                for k in 0..<channels { pixels.append(Float(image.pixels[p * image.channels + (image.channels >= 3 ? k : 0)]) / 255) }
            }
        }
        return Tensor(uncheckedShape: [decoded.count, h, w, channels], storage: pixels)
    }
}
