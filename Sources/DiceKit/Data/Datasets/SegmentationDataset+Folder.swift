// Loading a SegmentationDataset from a folder of image and mask files.
//
// Layout (Kvasir-SEG and similar polyp sets):
//   DIR/images/NAME.{png,jpg,jpeg}   RGB (grey, palette and alpha are accepted: alpha is dropped,
//                                    grey is replicated to RGB unless every image is grey)
//   DIR/masks/NAME.{png,jpg,jpeg}    the mask with the same base name (any of the extensions)
// Every image must have a mask; masks without an image are ignored. Files are taken in sorted
// name order. Without an image size every image and mask must share one size; with one, each is
// resized on load (see `DatasetOptions.imageSize`).

import Foundation

extension SegmentationDataset {
    /// Loads DIR/images/* with their masks DIR/masks/* (see the file header).
    ///
    /// - Parameters:
    ///   - options: mask encoding (default `.binary`), class count, image size and resize mode.
    ///   - warning: receives one-line warnings (an image whose channel count differs from the others).
    /// - Throws: `DiceKitError.file` for a missing folder, an empty image folder or a missing
    ///   mask; `PNGError`/`JPEGError` for an unreadable file; `DiceKitError.shape` naming the
    ///   first file whose size differs (from the first image's, or from its image's for a mask);
    ///   `DiceKitError.value` naming the mask file for a label ≥ the class count, and for
    ///   binary masks that look like class indices.
    ///
    /// Every image is decoded into memory (once: `ImageFolderSource`'s checking pass keeps them);
    /// `ImageFolderSource` reads the same folder one sample at a time (for training on data sets
    /// larger than memory).
    public static func loadImageFolder(
        _ directory: String, options: DatasetOptions = DatasetOptions(),
        warning: (String) -> Void = { _ in }
    ) throws -> SegmentationDataset {
        // The source's checking pass decodes every pair once; here they are kept.
        var images = [[Float]]()
        var colour = [Bool]()
        var labels = [Int32]()
        let source = try ImageFolderSource(directory: directory, options: options, warning: warning) {
            image, channels, mask in
            images.append(image)
            colour.append(channels == 3)
            labels += mask
        }
        let (h, w) = (source.spatialShape[0], source.spatialShape[1])
        var pixels = [Float]()
        pixels.reserveCapacity(images.count * h * w * source.channels)
        for (image, isColour) in zip(images, colour) {
            if isColour || source.channels == 1 {
                pixels += image
            } else {
                for value in image { pixels += [value, value, value] }
            }
        }
        return SegmentationDataset(
            unchecked: Tensor(uncheckedShape: [images.count, h, w, source.channels], storage: pixels),
            labels: labels, classes: source.classes, ignoreIndex: source.ignoreIndex)
    }

    /// Loads DIR/images/* with DIR/masks/*: `loadImageFolder` with the given mask encoding and
    /// class count (kept for callers of the PNG-only loader it replaces).
    ///
    /// - Throws: as `loadImageFolder(_:options:warning:)`.
    public static func loadPNGFolder(
        _ directory: String, masks encoding: MaskEncoding = .binary,
        classes: Int? = nil
    ) throws -> SegmentationDataset {
        try loadImageFolder(directory, options: DatasetOptions(masks: encoding, classes: classes))
    }

    /// Decodes the images `names` of `directory` (no masks), resized as `options` say:
    /// [N, H, W, C] in [0, 1], C = 3 unless every image is grey.
    ///
    /// - Throws: as `loadImageFolder(_:options:warning:)` for the images.
    public static func loadImages(
        in directory: String, names: [String], options: DatasetOptions = DatasetOptions(),
        warning: (String) -> Void = { _ in }
    ) throws -> Tensor<Float> {
        guard !names.isEmpty else { throw DiceKitError.file(path: directory, reason: "no .png, .jpg or .jpeg images") }
        var images = [[Float]]()
        var colour = [Bool]()
        var size: (width: Int, height: Int)?
        for name in names {
            let path = (directory as NSString).appendingPathComponent(name)
            let image = try ImageFile.read(contentsOf: path)
            let (pixels, w, h) = try prepared(image, path: path, options: options)
            size = try ImageCaseFolder.sameSize(w, h, as: size, path: path, first: names[0])
            images.append(pixels)
            colour.append(image.channels >= 3)
        }
        return stacked(
            images, colour: colour, names: names, height: size!.height, width: size!.width, folder: directory,
            warning: warning)
    }

    /// An image as Float samples in [0, 1] without alpha, resized when `options` give a size.
    static func prepared(_ image: PNGImage, path: String, options: DatasetOptions) throws -> (
        pixels: [Float], width: Int, height: Int
    ) {
        var pixels = try rgbOrGrey(image.pixels.map { Float($0) / 255 }, channels: image.channels, path: path)
        let c = image.channels >= 3 ? 3 : 1
        guard let target = options.imageSize else { return (pixels, image.width, image.height) }
        pixels = ImageResampling.resizeImage(
            pixels, height: image.height, width: image.width, channels: c, to: target, mode: options.resize)
        return (pixels, target.width, target.height)
    }

    /// One [N, H, W, C] tensor: C = 3 when any image is colour (grey ones replicated, with a warning), else 1.
    private static func stacked(
        _ images: [[Float]], colour: [Bool], names: [String], height h: Int, width w: Int,
        folder: String, warning: (String) -> Void
    ) -> Tensor<Float> {
        let channels = folderChannels(names: names, colour: colour, folder: folder, warning: warning)
        var pixels = [Float]()
        pixels.reserveCapacity(images.count * w * h * channels)
        for (image, isColour) in zip(images, colour) {
            if isColour || channels == 1 {
                pixels += image
            } else {
                for value in image { pixels += [value, value, value] }
            }
        }
        return Tensor<Float>(uncheckedShape: [images.count, h, w, channels], storage: pixels)
    }

    /// A folder's channel count: 3 when any of its images (`names`, whether each is `colour`) is
    /// colour, else 1; the grey ones among colour images are named in one warning (they are
    /// replicated to RGB).
    static func folderChannels(names: [String], colour: [Bool], folder: String, warning: (String) -> Void) -> Int {
        let channels = colour.contains(true) ? 3 : 1
        let odd = zip(names, colour).filter { ($0.1 ? 3 : 1) != channels }.map(\.0)
        if !odd.isEmpty {
            let listed = odd.prefix(3).joined(separator: ", ") + (odd.count > 3 ? " and \(odd.count - 3) more" : "")
            warning(
                "\(folder): \(listed) \(odd.count == 1 ? "is" : "are") grey (1 channel) among RGB images; replicated to RGB (convert to RGB to silence this)"
            )
        }
        return channels
    }

    /// The image files (.png, .jpg, .jpeg) of a folder, sorted.
    static func imageNames(in directory: String) throws -> [String] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory).filter(ImageFile.isImage).sorted()
        } catch {
            throw DiceKitError.file(
                path: directory, reason: "cannot list the image folder; expected DIR/images/*.png or *.jpg")
        }
        guard !names.isEmpty else { throw DiceKitError.file(path: directory, reason: "no .png, .jpg or .jpeg images") }
        return names
    }

    /// Interleaved samples reduced to RGB (alpha dropped) or kept grey (alpha dropped).
    static func rgbOrGrey(_ pixels: [Float], channels c: Int, path: String) throws -> [Float] {
        switch c {
        case 1, 3: return pixels
        case 2: return stride(from: 0, to: pixels.count, by: 2).map { pixels[$0] }
        case 4: return (0..<(pixels.count / 4)).flatMap { p in pixels[(p * 4)..<(p * 4 + 3)] }
        default: throw DiceKitError.shape("\(path): \(c) channels; expected 1–4")
        }
    }
}
