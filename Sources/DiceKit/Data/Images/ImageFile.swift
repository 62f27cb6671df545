// Image files by extension: .png through libpng, .jpg/.jpeg through libjpeg-turbo. One place that
// decides which reader a file gets, and how a mask file's pixels become class indices.

import Foundation

/// Reading images and masks of either format, chosen by the file's extension.
public enum ImageFile {
    /// The extensions read as images, lower case.
    public static let extensions: Set<String> = ["png", "jpg", "jpeg"]

    /// Whether `name` ends in .png, .jpg or .jpeg (any case).
    public static func isImage(_ name: String) -> Bool {
        extensions.contains((name as NSString).pathExtension.lowercased())
    }

    /// Whether `name` ends in .jpg or .jpeg (any case): a lossy file.
    public static func isJPEG(_ name: String) -> Bool {
        ["jpg", "jpeg"].contains((name as NSString).pathExtension.lowercased())
    }

    /// The file name without its extension ("a.b.jpg" → "a.b").
    public static func stem(_ name: String) -> String { (name as NSString).deletingPathExtension }

    /// Reads an image: PNG (`PNG.read`) or JPEG (`JPEG.read`), by extension.
    ///
    /// - Throws: `PNGError` / `JPEGError` from the reader; `DiceKitError.file` for another extension.
    public static func read(contentsOf path: String) throws -> PNGImage {
        if isJPEG(path) { return try JPEG.read(contentsOf: path) }
        guard (path as NSString).pathExtension.lowercased() == "png" else {
            throw DiceKitError.file(path: path, reason: "not an image file; expected .png, .jpg or .jpeg")
        }
        return try PNG.read(contentsOf: path)
    }

    /// Reads a mask file as one class index per pixel (row-major).
    ///
    /// - `.binary(t)`: luminance ≥ t is 1, else 0 (colour and palette masks by the colour's
    ///   luminance, JPEG masks included: the threshold absorbs their noise).
    /// - `.classIndices`: a grey PNG's grey level or a palette PNG's index; JPEG is refused.
    /// - `.palette`: a palette PNG's index; any other file is refused.
    ///
    /// - Throws: the readers' errors; `DiceKitError.value` naming the file when the encoding
    ///   does not suit it.
    public static func readMask(contentsOf path: String, encoding: MaskEncoding) throws -> (
        width: Int, height: Int, labels: [Int32]
    ) {
        if isJPEG(path) {
            guard case .binary(let threshold) = encoding else {
                throw DiceKitError.value(
                    "\(path): a JPEG mask holds lossy values; class-index and palette masks must be PNG (or use --mask-encoding binary)"
                )
            }
            let image = try JPEG.read(contentsOf: path)
            let grey = luminance(image)
            return (image.width, image.height, grey.map { $0 >= threshold ? 1 : 0 })
        }
        guard (path as NSString).pathExtension.lowercased() == "png" else {
            throw DiceKitError.file(path: path, reason: "not a mask file; expected .png, .jpg or .jpeg")
        }
        switch encoding {
        case .binary(let threshold):
            let grey = try PNG.readLuminance(contentsOf: path)
            return (grey.width, grey.height, grey.values.map { $0 >= threshold ? 1 : 0 })
        case .classIndices:
            let read = try PNG.readIndices(contentsOf: path)
            return (read.width, read.height, read.values.map { Int32($0) })
        case .palette:
            let read = try PNG.readPaletteIndices(contentsOf: path)
            guard let values = read.values else {
                throw DiceKitError.value(
                    "\(path): not a palette PNG; expected palette masks (or use --mask-encoding index for grey class indices)"
                )
            }
            return (read.width, read.height, values.map { Int32($0) })
        }
    }

    /// Rec. 601 luminance, round(0.299 R + 0.587 G + 0.114 B), of a 1–4 channel 8-bit image
    /// (grey is its own luminance; alpha is ignored).
    static func luminance(_ image: PNGImage) -> [UInt8] {
        let c = image.channels
        if c <= 2 { return stride(from: 0, to: image.pixels.count, by: c).map { image.pixels[$0] } }
        return (0..<(image.width * image.height)).map { p in
            let (r, g, b) = (
                Double(image.pixels[p * c]), Double(image.pixels[p * c + 1]), Double(image.pixels[p * c + 2])
            )
            return UInt8(min(255, (0.299 * r + 0.587 * g + 0.114 * b).rounded()))
        }
    }
}
