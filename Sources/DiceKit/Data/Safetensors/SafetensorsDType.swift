// The element types of the safetensors format, named as in its JSON header.

/// A safetensors element type. Raw values are the header's spelling ("F32", "I64", …).
public enum SafetensorsDType: String, Sendable, CaseIterable {
    /// One-byte types: boolean, unsigned and signed 8-bit integers.
    case bool = "BOOL"
    case uint8 = "U8"
    case int8 = "I8"
    /// Two-byte types: 16-bit integers, IEEE half precision and bfloat16 (read only as floats).
    case uint16 = "U16"
    case int16 = "I16"
    case float16 = "F16"
    case bfloat16 = "BF16"
    /// Four-byte types: 32-bit integers and Float.
    case uint32 = "U32"
    case int32 = "I32"
    case float32 = "F32"
    /// Eight-byte types: 64-bit integers and Double.
    case uint64 = "U64"
    case int64 = "I64"
    case float64 = "F64"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .bool, .uint8, .int8: return 1
        case .uint16, .int16, .float16, .bfloat16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64: return 8
        }
    }

    /// True for F16, BF16, F32 and F64.
    public var isFloatingPoint: Bool { [.float16, .bfloat16, .float32, .float64].contains(self) }

    /// The dtype that stores `T` exactly: F32 for Float, F64 for Double.
    public static func of<T: BLASScalar>(_ type: T.Type) -> SafetensorsDType {
        T.precision == .single ? .float32 : .float64
    }

    /// Element `i` of little-endian `raw` bytes as a Double (exact for every dtype but 64-bit integers above 2⁵³).
    func load(_ raw: UnsafeRawBufferPointer, _ i: Int) -> Double {
        switch self {
        case .bool, .uint8: return Double(raw[i])
        case .int8: return Double(Int8(bitPattern: raw[i]))
        case .uint16: return Double(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
        case .int16: return Double(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self)))
        case .float16:
            return Double(halfToFloat(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))))
        case .bfloat16:
            let bits = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            return Double(Float(bitPattern: UInt32(bits) << 16))
        case .uint32: return Double(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
        case .int32: return Double(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)))
        case .float32:
            return Double(
                Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))))
        case .uint64: return Double(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))
        case .int64: return Double(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)))
        case .float64:
            return Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))
        }
    }
}

/// IEEE 754 binary16 bits → Float (exact; subnormals, infinities and NaN included).
func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h >> 15) << 31
    let exponent = Int((h >> 10) & 0x1F)
    let mantissa = UInt32(h & 0x3FF)
    if exponent == 0 {
        // Zero or subnormal: mantissa × 2⁻²⁴.
        let magnitude = Float(mantissa) * 0x1p-24
        return sign == 0 ? magnitude : -magnitude
    }
    if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
    return Float(bitPattern: sign | (UInt32(exponent - 15 + 127) << 23) | (mantissa << 13))
}
