// An array read from a .npy file: its dtype, shape and raw little-endian bytes, with typed
// conversions to tensors (floating point) and integer labels.

#if canImport(Glibc)
    import Glibc
#endif

/// The element types DiceKit reads from and writes to `.npy` files.
public enum NPYDType: String, Sendable, CaseIterable {
    /// NumPy's dtype of the same name (`bool` is one byte, 0 or 1).
    case float32, float64, int8, int16, int32, int64, uint8, uint16, uint32, uint64, bool

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .int8, .uint8, .bool: return 1
        case .int16, .uint16: return 2
        case .float32, .int32, .uint32: return 4
        case .float64, .int64, .uint64: return 8
        }
    }

    /// True for float32 and float64.
    public var isFloatingPoint: Bool { self == .float32 || self == .float64 }

    /// NumPy's little-endian descriptor, e.g. "<f4" or "|u1".
    public var descriptor: String {
        switch self {
        case .float32: return "<f4"
        case .float64: return "<f8"
        case .int8: return "|i1"
        case .int16: return "<i2"
        case .int32: return "<i4"
        case .int64: return "<i8"
        case .uint8: return "|u1"
        case .uint16: return "<u2"
        case .uint32: return "<u4"
        case .uint64: return "<u8"
        case .bool: return "|b1"
        }
    }
}

/// A C-ordered array loaded from (or about to be written to) a `.npy` file.
public struct NPYArray: Sendable, Equatable {
    /// The element type.
    public let dtype: NPYDType
    /// The extent of each axis (empty for a 0-d array).
    public let shape: [Int]
    /// The little-endian element bytes, `count × dtype.size` of them.
    public let data: [UInt8]

    /// The number of elements.
    public var count: Int { shape.reduce(1, *) }

    /// Wraps raw little-endian bytes.
    ///
    /// - Throws: `NPYError.truncated` / `.trailingData` when the byte count does not match.
    public init(dtype: NPYDType, shape: [Int], data: [UInt8]) throws {
        guard let count = Tensor<Float>.elementCount(shape) else {
            throw NPYError.shapeOverflow(shape: "\(shape)")
        }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.size)
        if overflow { throw NPYError.shapeOverflow(shape: "\(shape)") }
        if data.count < bytes { throw NPYError.truncated(expectedBytes: bytes, actualBytes: data.count) }
        if data.count > bytes { throw NPYError.trailingData(expectedBytes: bytes, actualBytes: data.count) }
        self.dtype = dtype
        self.shape = shape
        self.data = data
    }

    /// An array holding a tensor's elements as float32 (Float) or float64 (Double).
    public init<T: BLASScalar>(_ tensor: Tensor<T>) {
        dtype = T.precision == .single ? .float32 : .float64
        shape = tensor.shape
        data = tensor.scalars.withUnsafeBytes { Array($0) }
    }

    /// An array of integers (e.g. labels) stored with the given integer dtype.
    ///
    /// - Throws: `NPYError.conversion` if a value does not fit the dtype, `DiceKitError.shape` if
    ///   the count does not match the shape.
    public init(integers: [Int], shape: [Int], dtype: NPYDType = .int64) throws {
        guard Tensor<Float>.elementCount(shape) == integers.count else {
            throw DiceKitError.shape("shape \(shape) does not hold \(integers.count) integers")
        }
        var bytes = [UInt8]()
        bytes.reserveCapacity(integers.count * dtype.size)
        func append<I: FixedWidthInteger>(_ value: I) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        for value in integers {
            let fits: Bool
            switch dtype {
            case .int8: fits = Int8(exactly: value).map { append($0) } != nil
            case .int16: fits = Int16(exactly: value).map { append($0) } != nil
            case .int32: fits = Int32(exactly: value).map { append($0) } != nil
            case .int64: fits = Int64(exactly: value).map { append($0) } != nil
            case .uint8: fits = UInt8(exactly: value).map { append($0) } != nil
            case .uint16: fits = UInt16(exactly: value).map { append($0) } != nil
            case .uint32: fits = UInt32(exactly: value).map { append($0) } != nil
            case .uint64: fits = UInt64(exactly: value).map { append($0) } != nil
            case .bool:
                fits =
                    (value == 0 || value == 1)
                    && {
                        bytes.append(UInt8(value))
                        return true
                    }()
            case .float32, .float64:
                throw NPYError.conversion("integers cannot be stored with dtype \(dtype)")
            }
            if !fits { throw NPYError.conversion("value \(value) does not fit dtype \(dtype)") }
        }
        try self.init(dtype: dtype, shape: shape, data: bytes)
    }

    /// The elements converted to a tensor of `T`, whatever the stored numeric dtype.
    ///
    /// Integers and booleans become their numeric values; float64 read as Float is rounded.
    public func tensor<T: BLASScalar>(of type: T.Type = T.self) -> Tensor<T> {
        // Concrete Float or Double code: reached from another module, the generic loop would
        // convert and store each element through the protocol's witnesses.
        specialised(
            T.self, float: { concreteTensor(of: Float.self).reinterpreted() },
            double: { concreteTensor(of: Double.self).reinterpreted() })
    }

    /// `tensor(of:)` for a concrete scalar type.
    private func concreteTensor<T: BLASScalar>(of type: T.Type) -> Tensor<T> {
        var values = [T](repeating: 0, count: count)
        values.withUnsafeMutableBufferPointer { out in
            data.withUnsafeBytes { raw in
                switch dtype {
                case .float32: Self.forEachStored(UInt32.self, in: raw) { out[$0] = T(Float(bitPattern: $1)) }
                case .float64: Self.forEachStored(UInt64.self, in: raw) { out[$0] = T(Double(bitPattern: $1)) }
                case .int8: Self.forEachStored(Int8.self, in: raw) { out[$0] = T($1) }
                case .int16: Self.forEachStored(Int16.self, in: raw) { out[$0] = T($1) }
                case .int32: Self.forEachStored(Int32.self, in: raw) { out[$0] = T($1) }
                case .int64: Self.forEachStored(Int64.self, in: raw) { out[$0] = T($1) }
                case .uint8, .bool: Self.forEachStored(UInt8.self, in: raw) { out[$0] = T($1) }
                case .uint16: Self.forEachStored(UInt16.self, in: raw) { out[$0] = T($1) }
                case .uint32: Self.forEachStored(UInt32.self, in: raw) { out[$0] = T($1) }
                case .uint64: Self.forEachStored(UInt64.self, in: raw) { out[$0] = T($1) }
                }
            }
        }
        return Tensor(uncheckedShape: shape, storage: values)
    }

    /// The elements as integers, for label maps.
    ///
    /// Floating-point arrays are accepted when every value is a whole number.
    ///
    /// - Throws: `NPYError.conversion` naming the first value that is not a finite whole number
    ///   or does not fit in `Int`.
    public func integers() throws -> [Int] {
        if dtype.isFloatingPoint {
            return try tensor(of: Double.self).scalars.enumerated().map { i, x in
                guard x.isFinite, x.rounded() == x, let v = Int(exactly: x) else {
                    throw NPYError.conversion("element \(i) is \(x); expected a whole-number label")
                }
                return v
            }
        }
        var values = [Int](repeating: 0, count: count)
        try values.withUnsafeMutableBufferPointer { out in
            try data.withUnsafeBytes { raw in
                switch dtype {
                case .float32, .float64: preconditionFailure("floating-point dtypes are converted above")
                case .int8: Self.forEachStored(Int8.self, in: raw) { out[$0] = Int($1) }
                case .int16: Self.forEachStored(Int16.self, in: raw) { out[$0] = Int($1) }
                case .int32: Self.forEachStored(Int32.self, in: raw) { out[$0] = Int($1) }
                case .int64: Self.forEachStored(Int64.self, in: raw) { out[$0] = Int($1) }
                case .uint8, .bool: Self.forEachStored(UInt8.self, in: raw) { out[$0] = Int($1) }
                case .uint16: Self.forEachStored(UInt16.self, in: raw) { out[$0] = Int($1) }
                case .uint32: Self.forEachStored(UInt32.self, in: raw) { out[$0] = Int($1) }
                case .uint64:
                    try Self.forEachStored(UInt64.self, in: raw) { i, v in
                        guard let x = Int(exactly: v) else {
                            throw NPYError.conversion("element \(i) is \(v); it does not fit in a 64-bit signed label")
                        }
                        out[i] = x
                    }
                }
            }
        }
        return values
    }

    /// Calls `body` with the index and value of each stored element, read as the little-endian
    /// integer type `I` (a float's bit pattern for the floating-point dtypes).
    @inline(__always)
    private static func forEachStored<I: FixedWidthInteger>(
        _: I.Type, in raw: UnsafeRawBufferPointer, _ body: (Int, I) throws -> Void
    ) rethrows {
        let size = MemoryLayout<I>.size
        for i in 0..<(raw.count / size) {
            try body(i, I(littleEndian: raw.loadUnaligned(fromByteOffset: i * size, as: I.self)))
        }
    }
}
