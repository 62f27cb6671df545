// Loading a SegmentationDataset from a folder of PNG images and masks.
//
// Layout (Kvasir-SEG and similar polyp sets after conversion to PNG):
//   DIR/images/NAME.png   RGB (grey, palette and alpha are accepted: alpha is dropped, grey is
//                         replicated to RGB unless every image is grey)
//   DIR/masks/NAME.png    the mask with the same file name
// Every image must have a mask; masks without an image are ignored. All images and masks must
// share one size (no resizing). Files are taken in sorted name order.

import Foundation

/// How mask pixels become class indices.
public enum MaskEncoding: Sendable, Equatable {
    /// Binary masks (Kvasir-SEG): grey level (luminance for colour masks) ≥ threshold is class 1,
    /// else 0. Default threshold 128.
    case binary(threshold: UInt8)
    /// Class indices: a palette PNG's palette index, or a grey PNG's grey level, is the class.
    case classIndices

    /// Binary masks thresholded at 128.
    public static let binary = MaskEncoding.binary(threshold: 128)
}

extension SegmentationDataset {
    /// Loads DIR/images/*.png with their masks DIR/masks/*.png (see the file header).
    ///
    /// - Parameters:
    ///   - masks: how mask pixels become classes (default `.binary`, threshold 128).
    ///   - classes: K; nil takes max(label) + 1 (at least 2).
    /// - Throws: `DiceKitError.file` for a missing folder, an empty image folder or a missing
    ///   mask; `PNGError` for an unreadable PNG; `DiceKitError.shape` naming the first file whose
    ///   size differs from the first image's.
    public static func loadPNGFolder(_ directory: String, masks encoding: MaskEncoding = .binary,
                                     classes: Int? = nil) throws -> SegmentationDataset {
        let base = URL(fileURLWithPath: directory)
        let (imageDirectory, maskDirectory) = (base.appendingPathComponent("images"), base.appendingPathComponent("masks"))
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: imageDirectory.path)
                .filter { $0.lowercased().hasSuffix(".png") }.sorted()
        } catch {
            throw DiceKitError.file(path: imageDirectory.path, reason: "cannot list the image folder; expected DIR/images/*.png")
        }
        guard !names.isEmpty else { throw DiceKitError.file(path: imageDirectory.path, reason: "no .png images") }
        var decoded = [PNGImage]()
        var labels = [Int32]()
        var size: (width: Int, height: Int)?
        for name in names {
            let imagePath = imageDirectory.appendingPathComponent(name).path
            let maskPath = maskDirectory.appendingPathComponent(name).path
            guard FileManager.default.fileExists(atPath: maskPath) else {
                throw DiceKitError.file(path: maskPath, reason: "missing mask for image \(name)")
            }
            let image = try PNG.read(contentsOf: imagePath)
            let mask = try PNG.readIndices(contentsOf: maskPath)
            let expected = size ?? (image.width, image.height)
            size = expected
            for (path, w, h) in [(imagePath, image.width, image.height), (maskPath, mask.width, mask.height)]
            where (w, h) != expected {
                throw DiceKitError.shape("\(path) is \(w) × \(h); expected \(expected.width) × \(expected.height) like \(names[0]) (resize the data set first)")
            }
            decoded.append(image)
            switch encoding {
            case .binary(let threshold): labels += mask.values.map { $0 >= threshold ? 1 : 0 }
            case .classIndices: labels += mask.values.map { Int32($0) }
            }
        }
        let grey = decoded.allSatisfy { $0.channels <= 2 }
        let channels = grey ? 1 : 3
        let (w, h) = size!
        var pixels = [Float]()
        pixels.reserveCapacity(decoded.count * w * h * channels)
        for image in decoded {
            let c = image.channels
            for p in 0..<(w * h) {
                for k in 0..<channels {
                    // Grey (+ alpha) images replicate their grey sample; alpha is dropped.
                    let source = c >= 3 ? k : 0
                    pixels.append(Float(image.pixels[p * c + source]) / 255)
                }
            }
        }
        let images = Tensor<Float>(uncheckedShape: [decoded.count, h, w, channels], storage: pixels)
        do {
            return try SegmentationDataset(images: images, labels: labels, classes: classes)
        } catch DiceKitError.value(let message) {
            throw DiceKitError.value("\(maskDirectory.path): \(message)")
        }
    }
}
