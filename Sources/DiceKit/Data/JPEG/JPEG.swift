// JPEG reading and writing through libjpeg-turbo (Debian libjpeg62-turbo-dev). Every libjpeg
// call runs inside the C shim `CImageCodecs`, whose error handler longjmps back within C; Swift
// sees an error code and libjpeg's message. The reader is strict: libjpeg's warnings (corrupt
// data, a premature end of file) are errors, sizes are bounded before any allocation and
// progressive files may hold at most `maximumScans` scans. Writes go to memory first and then
// through `AtomicFile`.

internal import CImageCodecs
import Foundation

/// Reading and writing JPEG files (libjpeg-turbo).
public enum JPEG {
    /// The largest image `read` accepts, in pixels (2²⁸, as for PNG).
    public static let maximumPixels: UInt64 = PNG.maximumPixels
    /// The largest file `read` accepts, in bytes (1 GiB).
    public static let maximumFileSize = 1 << 30
    /// The most progressive scans a file may hold (real encoders write about 10; a crafted file
    /// with thousands makes decoding take minutes).
    public static let maximumScans = 1000

    /// Reads a JPEG as 8-bit channels: 1 for a greyscale file, 3 (RGB) for a colour one.
    ///
    /// - Throws: `JPEGError.io` (missing or unreadable file), `.notJPEG`, `.truncated`,
    ///   `.corrupt`, `.unsupported` (CMYK/YCCK, or more than `maximumPixels` pixels).
    public static func read(contentsOf path: String) throws -> PNGImage {
        let bytes = try contents(of: path)
        guard bytes.count >= 2, bytes[0] == 0xFF, bytes[1] == 0xD8 else { throw JPEGError.notJPEG(path: path) }
        return try decode(bytes, path: path)
    }

    /// Decodes JPEG bytes held in memory; `path` only names the source in errors.
    ///
    /// - Throws: as `read(contentsOf:)`.
    public static func decode(_ bytes: [UInt8], path: String = "<memory>") throws -> PNGImage {
        var image = dk_jpeg_image()
        let code = bytes.withUnsafeBufferPointer { buffer in
            dk_jpeg_decode(buffer.baseAddress, buffer.count, maximumPixels, Int32(maximumScans), &image)
        }
        defer { dk_jpeg_free(image.pixels) }
        guard code == Int32(DK_JPEG_OK), let pixels = image.pixels else {
            throw error(code, message(&image.message), path: path)
        }
        let (width, height, channels) = (Int(image.width), Int(image.height), Int(image.channels))
        let samples = Array(UnsafeBufferPointer(start: pixels, count: width * height * channels))
        do {
            return try PNGImage(width: width, height: height, channels: channels, pixels: samples)
        } catch {
            throw JPEGError.corrupt(path: path, reason: "decoded \(width) × \(height) × \(channels) samples")
        }
    }

    /// Writes a grey (1 channel) or RGB (3 channels) image at `quality` 1…100 (default 90), atomically.
    ///
    /// - Throws: `JPEGError.invalidImage` for 2 or 4 channels (JPEG has no alpha) or a quality
    ///   outside 1…100; `JPEGError.io` when the file cannot be written.
    public static func write(_ image: PNGImage, to path: String, quality: Int = 90) throws {
        try writeAtomically(try encode(image, quality: quality), path: path)
    }

    /// The JPEG bytes of a grey or RGB image at `quality` 1…100 (default 90).
    ///
    /// - Throws: `JPEGError.invalidImage` as `write(_:to:quality:)`.
    public static func encode(_ image: PNGImage, quality: Int = 90) throws -> [UInt8] {
        guard image.channels == 1 || image.channels == 3 else {
            throw JPEGError.invalidImage("\(image.channels) channels; expected 1 (grey) or 3 (RGB)")
        }
        guard (1...100).contains(quality) else { throw JPEGError.invalidImage("quality \(quality); expected 1…100") }
        var output: UnsafeMutablePointer<UInt8>?
        var size = 0
        var text = [CChar](repeating: 0, count: Int(DK_JPEG_MESSAGE_SIZE))
        let code = image.pixels.withUnsafeBufferPointer { pixels in
            dk_jpeg_encode(
                pixels.baseAddress, Int32(image.width), Int32(image.height), Int32(image.channels),
                Int32(quality), &output, &size, &text)
        }
        defer { dk_jpeg_free(output) }
        guard code == Int32(DK_JPEG_OK), let output else {
            throw JPEGError.invalidImage(
                String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return Array(UnsafeBufferPointer(start: output, count: size))
    }

    // MARK: - Plumbing

    private static func writeAtomically(_ bytes: [UInt8], path: String) throws {
        do {
            try AtomicFile.write(bytes, to: path)
        } catch DiceKitError.file(_, let reason) {
            throw JPEGError.io(path: path, reason: reason)
        }
    }

    private static func contents(of path: String) throws -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw JPEGError.io(path: path, reason: exists ? "cannot be read" : "no such file")
        }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()).map { Int(clamping: $0) } ?? 0
        guard size <= maximumFileSize else {
            throw JPEGError.unsupported(
                path: path, reason: "file of \(size) bytes exceeds the limit of \(maximumFileSize)")
        }
        do {
            try handle.seek(toOffset: 0)
            return [UInt8](try handle.readToEnd() ?? Data())
        } catch {
            throw JPEGError.io(path: path, reason: "cannot be read")
        }
    }

    private static func message<T>(_ tuple: inout T) -> String {
        withUnsafeBytes(of: &tuple) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
    }

    private static func error(_ code: Int32, _ message: String, path: String) -> JPEGError {
        switch code {
        case Int32(DK_JPEG_TRUNCATED): return .truncated(path: path, reason: message)
        case Int32(DK_JPEG_TOO_LARGE), Int32(DK_JPEG_UNSUPPORTED): return .unsupported(path: path, reason: message)
        case Int32(DK_JPEG_NO_MEMORY): return .io(path: path, reason: "out of memory (\(message))")
        default: return .corrupt(path: path, reason: message)
        }
    }
}
