// One tensor of a .safetensors file: dtype, shape and raw little-endian bytes, with typed
// conversions to DiceKit tensors (floating point) and integer arrays (labels, counters).

/// A tensor as stored in a `.safetensors` file: its dtype, shape and little-endian element bytes.
public struct SafetensorsTensor: Sendable, Equatable {
    /// The element type.
    public let dtype: SafetensorsDType
    /// The extent of each axis (empty for a scalar).
    public let shape: [Int]
    /// The little-endian element bytes, `count × dtype.size` of them.
    public let data: [UInt8]

    /// The number of elements.
    public var count: Int { shape.reduce(1, *) }

    /// Wraps raw little-endian bytes.
    ///
    /// - Throws: `SafetensorsError.invalidShape` when an extent is negative or the element count
    ///   overflows; `SafetensorsError.byteCount` when `data.count` is not `count × dtype.size`.
    public init(dtype: SafetensorsDType, shape: [Int], data: [UInt8]) throws {
        guard let count = Tensor<Float>.elementCount(shape) else { throw SafetensorsError.invalidShape(shape) }
        guard count.multipliedReportingOverflow(by: dtype.size) == (data.count, false) else {
            throw SafetensorsError.byteCount(shape: shape, dtype: dtype, actualBytes: data.count)
        }
        self.dtype = dtype
        self.shape = shape
        self.data = data
    }

    /// A tensor's elements stored as F32 (Float) or F64 (Double).
    public init<T: BLASScalar>(_ tensor: Tensor<T>) {
        dtype = .of(T.self)
        shape = tensor.shape
        data = tensor.scalars.withUnsafeBytes { Array($0) }
    }

    /// Integers (labels, counters such as BatchNorm's `num_batches_tracked`) with an integer dtype.
    ///
    /// - Parameter dtype: default I64, PyTorch's `torch.long`.
    /// - Throws: `SafetensorsError.unencodableInteger` when a value does not fit the dtype or the
    ///   dtype is not an integer type; `DiceKitError.shape` when the count does not match the shape.
    public init(integers: [Int], shape: [Int], dtype: SafetensorsDType = .int64) throws {
        guard Tensor<Float>.elementCount(shape) == integers.count else {
            throw DiceKitError.shape("shape \(shape) does not hold \(integers.count) integers")
        }
        var bytes = [UInt8]()
        bytes.reserveCapacity(integers.count * dtype.size)
        func append<I: FixedWidthInteger>(_ value: I?, _ original: Int) throws {
            guard let value else { throw SafetensorsError.unencodableInteger(value: original, dtype: dtype) }
            withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
        }
        for value in integers {
            switch dtype {
            case .bool: try append(value == 0 || value == 1 ? UInt8(value) : nil, value)
            case .uint8: try append(UInt8(exactly: value), value)
            case .int8: try append(Int8(exactly: value), value)
            case .uint16: try append(UInt16(exactly: value), value)
            case .int16: try append(Int16(exactly: value), value)
            case .uint32: try append(UInt32(exactly: value), value)
            case .int32: try append(Int32(exactly: value), value)
            case .uint64: try append(UInt64(exactly: value), value)
            case .int64: try append(Int64(exactly: value), value)
            case .float16, .bfloat16, .float32, .float64:
                throw SafetensorsError.unencodableInteger(value: nil, dtype: dtype)
            }
        }
        try self.init(dtype: dtype, shape: shape, data: bytes)
    }

    /// The elements converted to a tensor of `T`, whatever the stored dtype.
    ///
    /// F16 and BF16 widen exactly; F64 read as Float rounds; integers become their values.
    public func tensor<T: BLASScalar>(of type: T.Type = T.self) -> Tensor<T> {
        // Concrete Float or Double code, as `NPYArray.tensor(of:)`.
        specialised(
            T.self, float: { concreteTensor(of: Float.self).reinterpreted() },
            double: { concreteTensor(of: Double.self).reinterpreted() })
    }

    /// `tensor(of:)` for a concrete scalar type.
    private func concreteTensor<T: BLASScalar>(of type: T.Type) -> Tensor<T> {
        if dtype == .of(T.self) {
            let values = data.withUnsafeBytes { raw in
                [T](unsafeUninitializedCapacity: count) { buffer, initialized in
                    UnsafeMutableRawBufferPointer(buffer).copyMemory(from: raw)
                    initialized = count
                }
            }
            return Tensor(uncheckedShape: shape, storage: values)
        }
        let values = data.withUnsafeBytes { raw in (0..<count).map { T(dtype.load(raw, $0)) } }
        return Tensor(uncheckedShape: shape, storage: values)
    }

    /// The elements as integers.
    ///
    /// - Parameter name: the tensor's name, for the error message.
    /// - Throws: `SafetensorsError.conversion` when a value is not a finite whole number or does
    ///   not fit in `Int`.
    public func integers(name: String = "tensor") throws -> [Int] {
        try data.withUnsafeBytes { raw in
            try (0..<count).map { i -> Int in
                switch dtype {
                case .int64: return Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)))
                case .uint64:
                    let v = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))
                    guard let x = Int(exactly: v) else {
                        throw SafetensorsError.conversion(
                            tensor: name, reason: "element \(i) is \(v); it does not fit in Int")
                    }
                    return x
                default:
                    let x = dtype.load(raw, i)
                    guard x.isFinite, x.rounded() == x, let v = Int(exactly: x) else {
                        throw SafetensorsError.conversion(
                            tensor: name, reason: "element \(i) is \(x); expected a whole number")
                    }
                    return v
                }
            }
        }
    }
}
