// Errors of the .safetensors reader and writer: one case per way a file can be wrong.

/// Why a `.safetensors` file could not be read or written. Each description is one line naming
/// what is wrong and what was expected.
public enum SafetensorsError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file cannot be opened, read or written.
    case io(path: String, reason: String)
    /// The 8-byte header length is missing, zero, too large or beyond the end of the file.
    case badHeaderLength(length: UInt64, fileSize: Int)
    /// The JSON header cannot be parsed or does not have the documented structure.
    case malformedHeader(String)
    /// A tensor's dtype is not one of the safetensors dtypes.
    case unknownDType(tensor: String, dtype: String)
    /// A tensor's byte range lies outside the data section, or does not match its shape and dtype.
    case badOffsets(tensor: String, reason: String)
    /// Two tensors share bytes.
    case overlappingTensors(String, String)
    /// The data section is shorter than the tensors need.
    case truncated(expectedBytes: Int, actualBytes: Int)
    /// A tensor that was asked for is not in the file.
    case missingTensor(String)
    /// A tensor cannot be converted as asked (e.g. a float tensor with fractions read as integers).
    case conversion(tensor: String, reason: String)
    /// A tensor's shape has a negative extent or an element count that overflows.
    case invalidShape([Int])
    /// A tensor's bytes are not `count × dtype.size` for its shape (as `NPYError.truncated` /
    /// `.trailingData` for a `.npy` array).
    case byteCount(shape: [Int], dtype: SafetensorsDType, actualBytes: Int)
    /// Integers cannot be stored with `dtype`: `value` does not fit it, or (value nil) it is not
    /// an integer dtype (as `NPYError.conversion` for a `.npy` array).
    case unencodableInteger(value: Int?, dtype: SafetensorsDType)

    /// One line: what is wrong and what was expected.
    public var description: String {
        switch self {
        case .io(let path, let reason): return "\(path): \(reason)"
        case .badHeaderLength(let length, let size):
            return
                "bad safetensors header length \(length) for a file of \(size) bytes; expected 2 ≤ length ≤ size − 8 and ≤ \(SafetensorsFile.maximumHeaderLength)"
        case .malformedHeader(let why): return "malformed safetensors header: \(why)"
        case .unknownDType(let tensor, let dtype):
            return
                "tensor '\(tensor)' has unknown dtype '\(dtype)'; expected one of \(SafetensorsDType.allCases.map(\.rawValue).joined(separator: ", "))"
        case .badOffsets(let tensor, let reason): return "tensor '\(tensor)': bad data_offsets: \(reason)"
        case .overlappingTensors(let a, let b): return "tensors '\(a)' and '\(b)' overlap in the data section"
        case .truncated(let expected, let actual):
            return "truncated safetensors file: the header describes \(expected) data bytes, the file holds \(actual)"
        case .missingTensor(let name): return "no tensor named '\(name)' in the safetensors file"
        case .conversion(let tensor, let reason): return "tensor '\(tensor)': \(reason)"
        case .invalidShape(let shape):
            return "invalid shape \(shape): extents must be ≥ 0 and their product must fit in Int"
        case .byteCount(let shape, let dtype, let actual):
            let count = shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).partialValue }
            return "shape \(shape) of \(dtype.rawValue) needs \(count) × \(dtype.size) bytes, got \(actual)"
        case .unencodableInteger(let value?, let dtype): return "integer \(value) does not fit dtype \(dtype.rawValue)"
        case .unencodableInteger(nil, let dtype):
            return "integers cannot be stored with dtype \(dtype.rawValue); expected an integer dtype"
        }
    }
}
