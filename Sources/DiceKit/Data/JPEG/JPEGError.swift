// Errors of the JPEG reader and writer.

/// Why a JPEG file could not be read or written. Each description is one line.
public enum JPEGError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file cannot be opened, read or written.
    case io(path: String, reason: String)
    /// The file does not start with the JPEG start-of-image marker (FF D8).
    case notJPEG(path: String)
    /// The file ends before the image data does.
    case truncated(path: String, reason: String)
    /// libjpeg rejected the file (a bad marker, table or entropy-coded segment), with its message.
    case corrupt(path: String, reason: String)
    /// A valid JPEG that DiceKit does not read (CMYK or YCCK colour), or one beyond the size limit.
    case unsupported(path: String, reason: String)
    /// The pixels or options given to the writer do not describe an image.
    case invalidImage(String)

    /// One line: what is wrong and what was expected.
    public var description: String {
        switch self {
        case .io(let path, let reason): return "\(path): \(reason)"
        case .notJPEG(let path): return "\(path): not a JPEG file (expected the start-of-image marker FF D8)"
        case .truncated(let path, let reason): return "\(path): truncated JPEG file (\(reason))"
        case .corrupt(let path, let reason): return "\(path): corrupt JPEG file (\(reason))"
        case .unsupported(let path, let reason): return "\(path): unsupported JPEG file (\(reason))"
        case .invalidImage(let why): return "invalid JPEG image: \(why)"
        }
    }
}
