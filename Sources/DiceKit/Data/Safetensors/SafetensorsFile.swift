// The .safetensors format (Hugging Face, https://github.com/huggingface/safetensors):
//
//   header length N (u64 little-endian) | N bytes of UTF-8 JSON | data section
//
// The JSON object maps each tensor name to {"dtype": "F32", "shape": [2, 3],
// "data_offsets": [begin, end]} (byte offsets into the data section, end exclusive), plus an
// optional "__metadata__" object of string → string. The writer pads the header with spaces so
// the data section starts at a multiple of 8 bytes, and orders tensors by element size
// (largest first) then name, so every tensor is aligned to its element size.
//
// The reader checks everything a file can lie about before it touches the data: the header
// length against the file size, the JSON structure, each dtype, each shape's element count
// against its byte range, ranges inside the data section and not overlapping.

import Foundation

/// The contents of a `.safetensors` file: named tensors and string metadata.
///
/// PyTorch's `safetensors.torch.save_file(state_dict, path)` writes this format; DiceKit's
/// checkpoints use PyTorch's names and layouts so either side can load the other's files.
public struct SafetensorsFile: Sendable, Equatable {
    /// The tensors by name.
    public var tensors: [String: SafetensorsTensor]
    /// The `__metadata__` strings (empty when the file has none).
    public var metadata: [String: String]

    /// A file holding the given tensors and metadata (both default to empty).
    public init(tensors: [String: SafetensorsTensor] = [:], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    /// The tensor names, sorted.
    public var names: [String] { tensors.keys.sorted() }

    /// The tensor called `name` converted to a DiceKit tensor of `T`.
    ///
    /// - Throws: `SafetensorsError.missingTensor` when there is no such tensor.
    public func tensor<T: BLASScalar>(named name: String, as type: T.Type = T.self) throws -> Tensor<T> {
        guard let entry = tensors[name] else { throw SafetensorsError.missingTensor(name) }
        return entry.tensor(of: T.self)
    }

    /// Stores a DiceKit tensor under `name` as F32 (Float) or F64 (Double).
    public mutating func setTensor<T: BLASScalar>(_ tensor: Tensor<T>, named name: String) {
        tensors[name] = SafetensorsTensor(tensor)
    }

    // MARK: - Files

    /// Reads a `.safetensors` file.
    ///
    /// - Throws: `SafetensorsError` naming what is wrong with the file.
    public static func read(contentsOf path: String) throws -> SafetensorsFile {
        try decode(withIOErrors(path) { try FileSystem.readFile(path) })
    }

    /// The `__metadata__` strings of a `.safetensors` file, read from its header alone: the
    /// header gets every check `read(contentsOf:)` makes (its length against the file's size, the
    /// JSON, each entry, the ranges inside the data section and not overlapping), so a file this
    /// accepts `read(contentsOf:)` accepts too, while the tensors' bytes are not read.
    ///
    /// - Throws: `SafetensorsError` naming what is wrong with the file.
    public static func readMetadata(contentsOf path: String) throws -> [String: String] {
        let start = try withIOErrors(path) { try FileSystem.readPrefix(path, count: 8) }
        let length = try headerLength(start.bytes, fileSize: start.fileSize)
        let whole = try withIOErrors(path) { try FileSystem.readPrefix(path, count: 8 + length) }
        guard whole.bytes.count == 8 + length else {
            throw SafetensorsError.badHeaderLength(length: UInt64(length), fileSize: whole.bytes.count)
        }
        return try Header(whole.bytes[8...], dataBytes: whole.fileSize - 8 - length).metadata
    }

    /// Runs a file-system read, reporting its failure as `SafetensorsError.io`.
    private static func withIOErrors<R>(_ path: String, _ body: () throws -> R) throws -> R {
        do {
            return try body()
        } catch DiceKitError.file(let path, let reason) {
            throw SafetensorsError.io(
                path: path,
                reason: reason == "is a directory; expected a file"
                    ? "is a directory; expected a .safetensors file" : reason)
        }
    }

    /// Writes the file atomically: a temporary file in the same directory is renamed into place,
    /// so an interrupted write leaves any previous file at `path` intact.
    ///
    /// - Throws: `SafetensorsError.io` when the file cannot be written.
    public func write(to path: String) throws {
        try write(to: path, failAfterBytes: nil)
    }

    /// Test hook: `write(to:)` with a failure injected after `failAfterBytes` bytes.
    func write(to path: String, failAfterBytes: Int?) throws {
        do {
            try AtomicFile.write(encode(), to: path, failAfterBytes: failAfterBytes)
        } catch DiceKitError.file(_, let reason) {
            throw SafetensorsError.io(path: path, reason: reason)
        }
    }

    // MARK: - Bytes

    /// The bytes of the file: header length, JSON header, data.
    public func encode() -> [UInt8] {
        let order = tensors.keys.sorted { a, b in
            let (sa, sb) = (tensors[a]!.dtype.size, tensors[b]!.dtype.size)
            return sa != sb ? sa > sb : a < b
        }
        var fields = [String]()
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            fields.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for name in order {
            let entry = tensors[name]!
            let shape = entry.shape.map(String.init).joined(separator: ",")
            fields.append(
                "\(jsonString(name)):{\"dtype\":\"\(entry.dtype.rawValue)\",\"shape\":[\(shape)],"
                    + "\"data_offsets\":[\(offset),\(offset + entry.data.count)]}")
            offset += entry.data.count
        }
        var header = Array("{\(fields.joined(separator: ","))}".utf8)
        while (8 + header.count) % 8 != 0 { header.append(0x20) }
        var bytes = [UInt8]()
        bytes.reserveCapacity(8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { bytes += $0 }
        bytes += header
        for name in order { bytes += tensors[name]!.data }
        return bytes
    }

    /// The largest JSON header accepted, in bytes (the reference implementation's limit).
    public static let maximumHeaderLength = 100_000_000

    /// Parses the bytes of a `.safetensors` file.
    ///
    /// Every length, offset and byte count is checked (with overflow-checked arithmetic) before
    /// any tensor is copied: the header length against the file size and
    /// `maximumHeaderLength`, the JSON structure and its keys (a name given twice is refused,
    /// not silently replaced), each dtype, each shape's byte count against its byte range, and
    /// every range inside the data section without overlaps.
    ///
    /// - Throws: `SafetensorsError` naming what is wrong.
    public static func decode(_ bytes: [UInt8]) throws -> SafetensorsFile {
        let length = try headerLength(bytes, fileSize: bytes.count)
        let dataStart = 8 + length
        let header = try Header(bytes[8..<dataStart], dataBytes: bytes.count - dataStart)
        var file = SafetensorsFile(metadata: header.metadata)
        for (name, info) in header.entries {
            file.tensors[name] = try SafetensorsTensor(
                dtype: info.dtype, shape: info.shape,
                data: Array(bytes[(dataStart + info.begin)..<(dataStart + info.end)]))
        }
        return file
    }

    /// The header's length from a file's first 8 bytes, checked against the file's size and the
    /// largest header accepted.
    private static func headerLength(_ start: [UInt8], fileSize: Int) throws -> Int {
        guard start.count >= 8, fileSize >= 8 else {
            throw SafetensorsError.badHeaderLength(length: 0, fileSize: fileSize)
        }
        let length = start.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard length >= 2, length <= UInt64(fileSize - 8), length <= UInt64(maximumHeaderLength) else {
            throw SafetensorsError.badHeaderLength(length: length, fileSize: fileSize)
        }
        return Int(length)
    }

    /// Throws when an object of the JSON header has the same key twice (JSON parsers keep the
    /// last one; a checkpoint with two tensors of one name is ambiguous, so it is refused).
    /// Keys are compared after unescaping, so `"a"` and `"\u0061"` are the same key.
    static func refuseDuplicateKeys(_ header: [UInt8]) throws {
        var stack: [(isObject: Bool, keys: Set<String>)] = []
        var expectingKey = false
        var i = 0
        while i < header.count {
            let byte = header[i]
            switch byte {
            case UInt8(ascii: "{"):
                stack.append((true, []))
                expectingKey = true
            case UInt8(ascii: "["):
                stack.append((false, []))
                expectingKey = false
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if !stack.isEmpty { stack.removeLast() }
                expectingKey = false
            case UInt8(ascii: ","):
                expectingKey = stack.last?.isObject ?? false
            case UInt8(ascii: "\""):
                var j = i + 1
                while j < header.count && header[j] != UInt8(ascii: "\"") {
                    j += header[j] == UInt8(ascii: "\\") ? 2 : 1
                }
                guard j < header.count else { return } // unterminated: the JSON parser reports it
                if expectingKey, !stack.isEmpty {
                    let literal = Array(header[i...j])
                    // An invalid escape leaves the key undecoded; the JSON parser reports it.
                    if let decoded =
                        (try? JSONSerialization.jsonObject(
                            with: Data([UInt8(ascii: "[")] + literal + [UInt8(ascii: "]")]))) as? [String],
                        let key = decoded.first
                    {
                        guard stack[stack.count - 1].keys.insert(key).inserted else {
                            let what = stack.count == 1 ? "tensor name" : "key"
                            throw SafetensorsError.malformedHeader(
                                "the \(what) '\(key)' appears twice; expected unique names")
                        }
                    }
                    expectingKey = false
                }
                i = j
            default:
                break
            }
            i += 1
        }
    }
}

/// A file's JSON header, validated against the size of the data section that follows it.
private struct Header {
    let metadata: [String: String]
    let entries: [(name: String, info: TensorInfo)]

    init(_ bytes: ArraySlice<UInt8>, dataBytes available: Int) throws {
        let headerBytes = Array(bytes)
        try SafetensorsFile.refuseDuplicateKeys(headerBytes)
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(headerBytes))
        } catch {
            throw SafetensorsError.malformedHeader("the header is not valid JSON")
        }
        guard let object = json as? [String: Any] else {
            throw SafetensorsError.malformedHeader("the header is not a JSON object")
        }
        var metadata = [String: String]()
        var entries = [(name: String, info: TensorInfo)]()
        for (name, value) in object {
            if name == "__metadata__" {
                guard let strings = value as? [String: String] else {
                    throw SafetensorsError.malformedHeader("__metadata__ must map strings to strings")
                }
                metadata = strings
                continue
            }
            entries.append((name, try TensorInfo(name: name, json: value)))
        }
        // Ranges first, all of them, so nothing is copied out of a file that lies about its size.
        if let needed = entries.map(\.info.end).max(), needed > available {
            throw SafetensorsError.truncated(expectedBytes: needed, actualBytes: available)
        }
        var ranges = entries.map { (name: $0.name, begin: $0.info.begin, end: $0.info.end) }
        ranges.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var furthest: (name: String, end: Int)?
        for range in ranges where range.begin < range.end {
            if let previous = furthest, range.begin < previous.end {
                throw SafetensorsError.overlappingTensors(previous.name, range.name)
            }
            if furthest == nil || range.end > furthest!.end { furthest = (range.name, range.end) }
        }
        self.metadata = metadata
        self.entries = entries
    }
}

/// One tensor's entry in the JSON header, validated.
private struct TensorInfo {
    let dtype: SafetensorsDType
    let shape: [Int]
    let begin: Int
    let end: Int

    init(name: String, json: Any) throws {
        guard let fields = json as? [String: Any] else {
            throw SafetensorsError.malformedHeader("entry '\(name)' is not an object")
        }
        guard let dtypeName = fields["dtype"] as? String else {
            throw SafetensorsError.malformedHeader("entry '\(name)' has no string 'dtype'")
        }
        guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
            throw SafetensorsError.unknownDType(tensor: name, dtype: dtypeName)
        }
        guard let shape = integerList(fields["shape"]), shape.allSatisfy({ $0 >= 0 }) else {
            throw SafetensorsError.malformedHeader("entry '\(name)' needs 'shape': a list of integers ≥ 0")
        }
        guard let offsets = integerList(fields["data_offsets"]), offsets.count == 2 else {
            throw SafetensorsError.malformedHeader("entry '\(name)' needs 'data_offsets': [begin, end]")
        }
        let (begin, end) = (offsets[0], offsets[1])
        guard begin >= 0, end >= begin else {
            throw SafetensorsError.badOffsets(
                tensor: name, reason: "[\(begin), \(end)] is not a range with 0 ≤ begin ≤ end")
        }
        // Every product overflow-checked, the message included: a shape like [2⁶², 2⁶²] is an
        // error to report, not a trap while reporting it.
        let bytes = Tensor<Float>.elementCount(shape).flatMap { count -> Int? in
            let (product, overflow) = count.multipliedReportingOverflow(by: dtype.size)
            return overflow ? nil : product
        }
        guard bytes == end - begin else {
            throw SafetensorsError.badOffsets(
                tensor: name,
                reason: "[\(begin), \(end)] holds \(end - begin) bytes; shape \(shape) of \(dtypeName) needs "
                    + (bytes.map { "\($0)" } ?? "more than \(Int.max)"))
        }
        self.dtype = dtype
        self.shape = shape
        self.begin = begin
        self.end = end
    }
}

/// A JSON array of whole numbers, or nil.
private func integerList(_ value: Any?) -> [Int]? {
    guard let array = value as? [Any] else { return nil }
    var result = [Int]()
    for element in array {
        // JSON true/false bridge to NSNumber too, with the Objective-C type code "c": not integers.
        guard let number = element as? NSNumber, number.objCType.pointee != CChar(UInt8(ascii: "c")) else { return nil }
        // The double first: int64Value of a number beyond Int64 is not defined.
        let double = number.doubleValue
        guard double.isFinite, double.rounded() == double, abs(double) < 0x1p63 else { return nil }
        let integer = number.int64Value
        guard Double(integer) == double else { return nil }
        result.append(Int(integer))
    }
    return result
}
