// PNG reading and writing through libpng's simplified API (png_image_*), which keeps libpng's
// setjmp/longjmp error handling inside C. Reads normalise every PNG flavour (grey, grey+alpha,
// RGB, RGBA, palette; 1–16 bits) to 8-bit channels; 16-bit files without colour-space chunks
// are taken as sRGB-encoded, so 16→8 bits is a plain rescale. Writes go to memory first and
// then through `AtomicFile`, so an interrupted write leaves any previous file intact.

internal import CPNG
import Foundation

/// Reading and writing PNG files (libpng).
public enum PNG {
    // png.h's composite format macros (PNG_FORMAT_RGBA, …) are `|` expressions that Swift does
    // not import; these are their values (png.h, "Simplified API").
    private static let flagAlpha = UInt32(PNG_FORMAT_FLAG_ALPHA)
    private static let flagColor = UInt32(PNG_FORMAT_FLAG_COLOR)
    private static let flagColormap = UInt32(PNG_FORMAT_FLAG_COLORMAP)
    /// The largest image `read` accepts, in pixels (2²⁸, e.g. 16384 × 16384).
    public static let maximumPixels: UInt64 = 1 << 28
    private static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Reads a PNG as 8-bit channels: 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA), as the
    /// file has them. Palette images become RGB (RGBA with transparency); 16-bit samples are
    /// reduced to 8 bits.
    ///
    /// - Throws: `PNGError.io` (missing file), `.notPNG`, `.truncated`, `.corrupt`.
    public static func read(contentsOf path: String) throws -> PNGImage {
        try reading(path) { image in
            let format = image.pointee.format
            let channels = (format & flagColor != 0 ? 3 : 1) + (format & flagAlpha != 0 ? 1 : 0)
            image.pointee.format = format & (flagColor | flagAlpha)
            let (width, height) = (Int(image.pointee.width), Int(image.pointee.height))
            var pixels = [UInt8](repeating: 0, count: width * height * channels)
            try finishRead(image, path: path, into: &pixels, colormap: nil)
            return try PNGImage(width: width, height: height, channels: channels, pixels: pixels)
        }
    }

    /// Reads a single-channel label image: for a palette PNG, each pixel's palette index; for any
    /// other PNG, its 8-bit grey level (colour images are converted to grey luminance).
    ///
    /// - Returns: the width, the height and `height × width` values, row-major.
    /// - Throws: as `read(contentsOf:)`.
    public static func readIndices(contentsOf path: String) throws -> (width: Int, height: Int, values: [UInt8]) {
        try reading(path) { image in
            let (width, height) = (Int(image.pointee.width), Int(image.pointee.height))
            var values = [UInt8](repeating: 0, count: width * height)
            if image.pointee.format & flagColormap != 0 {
                // Colour-mapped output of a palette file keeps the file's palette and its indices.
                image.pointee.format = flagColor | flagAlpha | flagColormap
                var colormap = [UInt8](repeating: 0, count: 4 * 256)
                try finishRead(image, path: path, into: &values, colormap: &colormap)
            } else {
                image.pointee.format = 0 // PNG_FORMAT_GRAY
                try finishRead(image, path: path, into: &values, colormap: nil)
            }
            return (width, height, values)
        }
    }

    /// Reads any PNG as its 8-bit luminance, one value per pixel (row-major): grey files as they
    /// are, colour and palette files by the luminance of each pixel's colour (libpng's
    /// RGB-to-grey conversion), never by a palette index.
    ///
    /// - Throws: as `read(contentsOf:)`.
    public static func readLuminance(contentsOf path: String) throws -> (width: Int, height: Int, values: [UInt8]) {
        try reading(path) { image in
            let (width, height) = (Int(image.pointee.width), Int(image.pointee.height))
            var values = [UInt8](repeating: 0, count: width * height)
            image.pointee.format = 0 // PNG_FORMAT_GRAY
            try finishRead(image, path: path, into: &values, colormap: nil)
            return (width, height, values)
        }
    }

    /// Reads a palette PNG's indices; `values` is nil when the file has no palette.
    ///
    /// - Throws: as `read(contentsOf:)`.
    public static func readPaletteIndices(contentsOf path: String) throws -> (width: Int, height: Int, values: [UInt8]?)
    {
        let isPalette = try reading(path) { $0.pointee.format & flagColormap != 0 }
        let read = try readIndices(contentsOf: path)
        return (read.width, read.height, isPalette ? read.values : nil)
    }

    /// Writes an 8-bit image (grey, grey + alpha, RGB or RGBA), atomically.
    ///
    /// - Throws: `PNGError.io` when the file cannot be written.
    public static func write(_ image: PNGImage, to path: String) throws {
        var header = png_image()
        header.version = UInt32(PNG_IMAGE_VERSION)
        header.width = UInt32(image.width)
        header.height = UInt32(image.height)
        header.format = [0, flagAlpha, flagColor, flagColor | flagAlpha][image.channels - 1] // GRAY, GA, RGB, RGBA
        try encode(header, path: path, pixels: image.pixels, colormap: nil)
    }

    /// Writes a palette PNG: one index per pixel (row-major) into `palette` (RGB triples,
    /// 1…256 entries). Readers show the colours; `readIndices` returns the indices.
    ///
    /// - Throws: `PNGError.invalidImage` for a bad size, an empty or too long palette, or an
    ///   index outside the palette; `PNGError.io` when the file cannot be written.
    public static func writeIndexed(
        _ indices: [UInt8], width: Int, height: Int,
        palette: [(red: UInt8, green: UInt8, blue: UInt8)], to path: String
    ) throws {
        guard width > 0, height > 0, indices.count == width * height else {
            throw PNGError.invalidImage("\(indices.count) indices for \(width) × \(height)")
        }
        guard (1...256).contains(palette.count) else {
            throw PNGError.invalidImage("palette of \(palette.count) colours; expected 1…256")
        }
        if let bad = indices.first(where: { Int($0) >= palette.count }) {
            throw PNGError.invalidImage("index \(bad) outside a palette of \(palette.count) colours")
        }
        var header = png_image()
        header.version = UInt32(PNG_IMAGE_VERSION)
        header.width = UInt32(width)
        header.height = UInt32(height)
        header.format = flagColor | flagColormap // PNG_FORMAT_RGB_COLORMAP
        header.colormap_entries = UInt32(palette.count)
        var colormap = palette.flatMap { [$0.red, $0.green, $0.blue] }
        try encode(header, path: path, pixels: indices, colormap: &colormap)
    }

    // MARK: - libpng plumbing

    /// Opens `path` with png_image_begin_read_from_file and runs `body` on the image header.
    ///
    /// libpng's error handler keeps the address of the png_image it was begun with, so the
    /// header lives at one heap address from begin to finish (a Swift local could be copied).
    private static func reading<R>(_ path: String, _ body: (UnsafeMutablePointer<png_image>) throws -> R) throws -> R {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw PNGError.io(path: path, reason: exists ? "cannot be read" : "no such file")
        }
        let head = (try? handle.read(upToCount: 8)) ?? Data()
        try? handle.close()
        guard [UInt8](head) == signature else { throw PNGError.notPNG(path: path) }
        let image = UnsafeMutablePointer<png_image>.allocate(capacity: 1)
        image.initialize(to: png_image())
        defer {
            png_image_free(image) // no-op when libpng has already freed it
            image.deallocate()
        }
        image.pointee.version = UInt32(PNG_IMAGE_VERSION)
        guard png_image_begin_read_from_file(image, path) != 0 else {
            throw classify(message(of: image), path: path)
        }
        // A header may claim any size up to 2³¹ − 1 per side: refuse to allocate absurd buffers.
        let pixels = UInt64(image.pointee.width) * UInt64(image.pointee.height)
        guard pixels <= maximumPixels else {
            throw PNGError.corrupt(
                path: path,
                reason:
                    "image of \(image.pointee.width) × \(image.pointee.height) pixels exceeds the limit of \(maximumPixels)"
            )
        }
        // 16-bit files without gAMA/sRGB chunks are sRGB-encoded in practice (not linear).
        image.pointee.flags |= UInt32(PNG_IMAGE_FLAG_16BIT_sRGB)
        return try body(image)
    }

    private static func finishRead(
        _ image: UnsafeMutablePointer<png_image>, path: String, into buffer: inout [UInt8],
        colormap: UnsafeMutablePointer<[UInt8]>?
    ) throws {
        let ok = buffer.withUnsafeMutableBytes { pixels in
            if let colormap {
                return colormap.pointee.withUnsafeMutableBytes { map in
                    png_image_finish_read(image, nil, pixels.baseAddress, 0, map.baseAddress)
                }
            }
            return png_image_finish_read(image, nil, pixels.baseAddress, 0, nil)
        }
        guard ok != 0 else { throw classify(message(of: image), path: path) }
    }

    private static func encode(
        _ value: png_image, path: String, pixels: [UInt8],
        colormap: UnsafeMutablePointer<[UInt8]>?
    ) throws {
        let header = UnsafeMutablePointer<png_image>.allocate(capacity: 1)
        header.initialize(to: value)
        defer {
            png_image_free(header)
            header.deallocate()
        }
        var size: png_alloc_size_t = 0
        func run(_ memory: UnsafeMutableRawPointer?) -> Int32 {
            pixels.withUnsafeBytes { source in
                if let colormap {
                    return colormap.pointee.withUnsafeBytes { map in
                        png_image_write_to_memory(header, memory, &size, 0, source.baseAddress, 0, map.baseAddress)
                    }
                }
                return png_image_write_to_memory(header, memory, &size, 0, source.baseAddress, 0, nil)
            }
        }
        guard run(nil) != 0 else {
            throw PNGError.io(path: path, reason: "libpng cannot encode: \(message(of: header))")
        }
        var bytes = [UInt8](repeating: 0, count: Int(size))
        let ok = bytes.withUnsafeMutableBytes { run($0.baseAddress) }
        guard ok != 0 else { throw PNGError.io(path: path, reason: "libpng cannot encode: \(message(of: header))") }
        do {
            try AtomicFile.write(Array(bytes.prefix(Int(size))), to: path)
        } catch DiceKitError.file(_, let reason) {
            throw PNGError.io(path: path, reason: reason)
        }
    }

    private static func message(of image: UnsafeMutablePointer<png_image>) -> String {
        withUnsafeBytes(of: &image.pointee.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    private static func classify(_ message: String, path: String) -> PNGError {
        let lower = message.lowercased()
        if lower.contains("read error") || lower.contains("eof") || lower.contains("truncat")
            || lower.contains("not enough")
        {
            return .truncated(path: path, reason: message)
        }
        if lower.contains("not a png") { return .notPNG(path: path) }
        return .corrupt(path: path, reason: message)
    }
}
