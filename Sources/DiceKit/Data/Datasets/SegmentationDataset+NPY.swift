// Loading a SegmentationDataset from .npy files.
//
// Conventions (all C-order, little-endian):
//   images: [N, H, W, C] or [N, D, H, W, C]; float32/float64 must lie in [0, 1] (finite), uint8
//           is divided by 255 and uint16 by 65535. Images with the labels' rank ([N, H, W]) are
//           single-channel and get C = 1.
//   masks:  [N, H, W] or [N, D, H, W] integer class indices (any integer dtype, or floats that
//           are whole numbers), each in 0..<classes or the ignore index (which may be negative).
//           Masks holding only 0 and 255 are refused as class indices (they are binary masks:
//           divide by 255, or read them as binary).
// File layouts: DIR/images.npy with DIR/masks.npy (or DIR/labels.npy, as the reference script
// `unet_torch.py make` writes), or FILE.npy with FILE_masks.npy beside it.

import Foundation

extension SegmentationDataset {
    /// Loads images and masks from two `.npy` files (see the file header for the conventions).
    ///
    /// - Parameters:
    ///   - classes: K; nil takes the largest label other than `ignoreIndex`, + 1 (at least 2).
    ///   - encoding: `.classIndices` (default: each value is the class) or `.binary` (every
    ///     nonzero value is class 1); `.palette` is refused.
    ///   - ignoreIndex: the mask value of unlabelled positions (`DatasetOptions.ignoreIndex`);
    ///     refused with `.binary`.
    /// - Throws: `NPYError` for unreadable files; `DiceKitError.shape` when the shapes do not fit
    ///   together; `DiceKitError.value` for an unsupported image dtype, float images outside
    ///   [0, 1] or not finite, 0/255 masks read as class indices, or a bad label.
    public static func loadNPY(
        images imagesPath: String, masks masksPath: String, classes: Int? = nil,
        encoding: MaskEncoding = .classIndices, ignoreIndex: Int? = nil
    ) throws -> SegmentationDataset {
        if encoding == .palette {
            throw DiceKitError.option(
                "\(masksPath): palette encoding applies to PNG masks; expected binary or index for .npy masks")
        }
        let ignore = try DatasetOptions(classes: classes, ignoreIndex: ignoreIndex).ignoreLabel(encoding: encoding)
        let imageArray = try NPY.read(contentsOf: imagesPath)
        let maskArray = try NPY.read(contentsOf: masksPath)
        guard maskArray.shape.count == 3 || maskArray.shape.count == 4 else {
            throw DiceKitError.shape("\(masksPath): mask shape \(maskArray.shape); expected [N, H, W] or [N, D, H, W]")
        }
        var imageShape = imageArray.shape
        if imageShape == maskArray.shape { imageShape.append(1) }
        guard Array(imageShape.dropLast()) == maskArray.shape else {
            throw DiceKitError.shape(
                "\(imagesPath): image shape \(imageArray.shape) does not fit mask shape \(maskArray.shape) of \(masksPath); expected the mask shape plus a channel axis, [\(maskArray.shape.map(String.init).joined(separator: ", ")), C]"
            )
        }
        let scale: Float
        switch imageArray.dtype {
        case .float32, .float64: scale = 1
        case .uint8: scale = 1 / 255
        case .uint16: scale = 1 / 65535
        default:
            throw DiceKitError.value(
                "\(imagesPath): image dtype \(imageArray.dtype); expected float32, float64, uint8 or uint16")
        }
        var images = try imageArray.tensor(of: Float.self).reshaped(to: imageShape)
        if scale != 1 {
            images = images.map { $0 * scale }
        } else {
            try checkUnitRange(images, path: imagesPath)
        }
        var labels = try int32Labels(maskArray.integers(), source: masksPath, ignore: ignore)
        if case .binary = encoding {
            labels = labels.map { $0 != 0 ? 1 : 0 }
        } else {
            var survey = LabelSurvey(ignore: ignore)
            survey.add(labels)
            try survey.refuseBinaryMasksReadAsIndices(path: masksPath, binaryHint: Self.binaryNPYHint)
        }
        do {
            return try SegmentationDataset(images: images, labels: labels, classes: classes, ignoreIndex: ignoreIndex)
        } catch DiceKitError.value(let message) {
            throw DiceKitError.value("\(masksPath): \(message) (raise the class count, or check the masks)")
        }
    }

    /// Float images must be finite and in [0, 1] (a tolerance of 1e-3 absorbs rounding).
    static func checkUnitRange(_ images: Tensor<Float>, path: String) throws {
        var (low, high) = (Float.infinity, -Float.infinity)
        for (i, x) in images.scalars.enumerated() {
            guard x.isFinite else {
                throw DiceKitError.value("\(path): image value \(x) at element \(i); expected finite values in [0, 1]")
            }
            low = min(low, x)
            high = max(high, x)
        }
        guard low >= -1e-3, high <= 1 + 1e-3 else {
            let hint =
                high > 1.5 && low >= 0
                ? "divide the images by 255, or store them as uint8" : "rescale the images to [0, 1]"
            throw DiceKitError.value("\(path): float image values span [\(low), \(high)]; expected [0, 1] (\(hint))")
        }
    }

    /// Loads DIR/images.npy with DIR/masks.npy (or, failing that, DIR/labels.npy).
    ///
    /// - Throws: `DiceKitError.file` when neither mask file exists; otherwise as
    ///   `loadNPY(images:masks:classes:)`.
    public static func loadNPY(
        directory: String, classes: Int? = nil, encoding: MaskEncoding = .classIndices, ignoreIndex: Int? = nil
    ) throws -> SegmentationDataset {
        let base = URL(fileURLWithPath: directory)
        let images = base.appendingPathComponent("images.npy").path
        let candidates = ["masks.npy", "labels.npy"].map { base.appendingPathComponent($0).path }
        guard let masks = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw DiceKitError.file(path: directory, reason: "no masks.npy or labels.npy beside images.npy")
        }
        return try loadNPY(images: images, masks: masks, classes: classes, encoding: encoding, ignoreIndex: ignoreIndex)
    }

    /// Loads FILE.npy (images) with FILE_masks.npy (masks) beside it.
    ///
    /// - Throws: `DiceKitError.file` when the mask file is missing; otherwise as
    ///   `loadNPY(images:masks:classes:)`.
    public static func loadNPY(
        file: String, classes: Int? = nil, encoding: MaskEncoding = .classIndices, ignoreIndex: Int? = nil
    ) throws -> SegmentationDataset {
        let stem = file.hasSuffix(".npy") ? String(file.dropLast(4)) : file
        let masks = stem + "_masks.npy"
        guard FileManager.default.fileExists(atPath: masks) else {
            throw DiceKitError.file(
                path: file, reason: "no mask file \(masks) beside it (convention: FILE.npy + FILE_masks.npy)")
        }
        return try loadNPY(images: file, masks: masks, classes: classes, encoding: encoding, ignoreIndex: ignoreIndex)
    }

    /// How to read 0/255 .npy masks, for the message that refuses them as class indices.
    static let binaryNPYHint = "a binary mask: divide it by 255, or pass --mask-encoding binary"

    /// Integer labels as Int32, rejecting negatives (other than `ignore`) and values beyond Int32.
    static func int32Labels(_ values: [Int], source: String, ignore: Int32?) throws -> [Int32] {
        var labels = [Int32](repeating: 0, count: values.count)
        for (i, value) in values.enumerated() {
            guard value >= 0 || value == ignore.map(Int.init), let label = Int32(exactly: value) else {
                throw DiceKitError.value("\(source): label \(value) at element \(i); expected a class index ≥ 0")
            }
            labels[i] = label
        }
        return labels
    }
}
