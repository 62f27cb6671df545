// Errors of the PNG reader and writer.

/// Why a PNG file could not be read or written. Each description is one line.
public enum PNGError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file cannot be opened, read or written.
    case io(path: String, reason: String)
    /// The file does not start with the PNG signature.
    case notPNG(path: String)
    /// The file ends before the image data does.
    case truncated(path: String, reason: String)
    /// libpng rejected the file (a bad chunk, CRC or compressed stream), with its message.
    case corrupt(path: String, reason: String)
    /// The pixels or options given to the writer do not describe an image.
    case invalidImage(String)

    /// One line: what is wrong and what was expected.
    public var description: String {
        switch self {
        case .io(let path, let reason): return "\(path): \(reason)"
        case .notPNG(let path): return "\(path): not a PNG file (expected the 8-byte PNG signature)"
        case .truncated(let path, let reason): return "\(path): truncated PNG file (\(reason))"
        case .corrupt(let path, let reason): return "\(path): corrupt PNG file (\(reason))"
        case .invalidImage(let why): return "invalid PNG image: \(why)"
        }
    }
}
