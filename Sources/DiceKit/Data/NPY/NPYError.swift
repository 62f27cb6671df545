// Errors of the .npy reader and writer: one case per way a file can be wrong.

/// Why a `.npy` file could not be read or written. Each description is one line naming what is
/// wrong and what was expected.
public enum NPYError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file cannot be opened, read or written.
    case io(path: String, reason: String)
    /// The file does not start with the magic string "\x93NUMPY".
    case notNPY
    /// The format version is not 1.0, 2.0 or 3.0.
    case unsupportedVersion(major: Int, minor: Int)
    /// The header dictionary cannot be parsed.
    case malformedHeader(String)
    /// The array is stored in Fortran (column-major) order; only C order is supported.
    case fortranOrder
    /// The dtype is big-endian; only little-endian data is supported.
    case bigEndian(descr: String)
    /// The dtype holds Python objects (pickled); never loaded.
    case objectDType(descr: String)
    /// The dtype is none of float32/64, int8–64, uint8–64, bool.
    case unsupportedDType(descr: String)
    /// The product of the shape overflows, or an extent is negative.
    case shapeOverflow(shape: String)
    /// The data section is shorter than the shape and dtype require.
    case truncated(expectedBytes: Int, actualBytes: Int)
    /// The data section is longer than the shape and dtype say: the header lies about the size.
    case trailingData(expectedBytes: Int, actualBytes: Int)
    /// The array's dtype cannot be converted as asked (e.g. floats with a fraction read as labels).
    case conversion(String)

    /// One line: what is wrong and what was expected.
    public var description: String {
        switch self {
        case .io(let path, let reason): return "\(path): \(reason)"
        case .notNPY: return "not a .npy file: expected the magic string \\x93NUMPY at the start"
        case .unsupportedVersion(let major, let minor):
            return "unsupported .npy format version \(major).\(minor); expected 1.0, 2.0 or 3.0"
        case .malformedHeader(let why): return "malformed .npy header: \(why)"
        case .fortranOrder: return "the array is in Fortran order; expected C order (save with np.ascontiguousarray)"
        case .bigEndian(let descr): return "big-endian dtype '\(descr)'; expected little-endian"
        case .objectDType(let descr): return "object dtype '\(descr)' is not loaded; expected a numeric dtype"
        case .unsupportedDType(let descr):
            return "unsupported dtype '\(descr)'; expected float32, float64, int8–int64, uint8–uint64 or bool"
        case .shapeOverflow(let shape): return "shape \(shape) has a negative extent or an element count that overflows"
        case .truncated(let expected, let actual):
            return "truncated data: the header's shape and dtype need \(expected) bytes, the file holds \(actual)"
        case .trailingData(let expected, let actual):
            return
                "the header's shape and dtype need \(expected) bytes but the file holds \(actual): the header does not match the data"
        case .conversion(let why): return why
        }
    }
}
