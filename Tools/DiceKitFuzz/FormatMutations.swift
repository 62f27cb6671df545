// Mutations that know the formats, so they reach past the first checks of each reader: NPY
// header fields (shape tuple, dtype, order, version, header length), safetensors JSON header
// values (numbers, dtypes, names, duplicated entries, rank-0 shapes) with the length field
// usually fixed up, PNG chunks (IHDR fields, chunk lengths, data bytes) with their CRC
// recomputed, and metrics.jsonl lines.

// MARK: - NPY

/// A mutated `.npy` file: its header dictionary or framing (half the time), or its bytes.
func mutateNPY(_ bytes: [UInt8], _ random: inout FuzzRandom) -> [UInt8] {
    guard bytes.count > 10, random.chance(0.6) else { return mutateBytes(bytes, &random) }
    let major = Int(bytes[6])
    let lengthBytes = major == 1 ? 2 : 4
    var length = 0
    for k in 0..<lengthBytes where 8 + k < bytes.count { length |= Int(bytes[8 + k]) << (8 * k) }
    let start = 8 + lengthBytes
    guard start + length <= bytes.count else { return mutateBytes(bytes, &random) }
    var header = String(decoding: bytes[start..<(start + length)], as: UTF8.self)
    let data = Array(bytes[(start + length)...])
    var version = bytes[6]
    switch random.below(6) {
    case 0: // a new shape tuple
        let rank = random.below(6)
        let extents = (0..<rank).map { _ in
            random.chance(0.5) ? random.pick(interestingIntegers) : String(random.below(40))
        }
        let tuple = rank == 1 ? "(\(extents[0]),)" : "(" + extents.joined(separator: ", ") + ")"
        if let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") {
            header.replaceSubrange(open.lowerBound...close, with: "'shape': \(tuple)")
        }
    case 1: // a number of the header
        header = replaceNumber(in: header, &random)
    case 2: // another dtype
        let dtype = random.pick([
            "<f4", "<f8", "|u1", "<u2", "<i8", ">f4", ">i2", "|O", "<f2", "<c8", "<U3", "|b1", "<i4", "V8", "",
        ])
        if let open = header.range(of: "'descr': '"), let close = header[open.upperBound...].firstIndex(of: "'") {
            header.replaceSubrange(open.upperBound..<close, with: dtype)
        }
    case 3: // Fortran order, or a header that is not a dictionary
        header =
            random.chance(0.5)
            ? header.replacingOccurrences(of: "False", with: "True")
            : random.pick(["{", "}", "{'descr': '<f4'}", "[1, 2]", "{'shape': (1,), 'shape': (2,)}", ""])
    case 4: // another format version
        version = random.pick([0, 1, 2, 3, 4, 255])
    default: // the header's bytes
        header = String(decoding: mutateBytes(Array(header.utf8), &random), as: UTF8.self)
    }
    var out = Array(bytes[0..<6]) + [version, bytes[7]]
    let newHeader = Array(header.utf8)
    let storedLength = random.chance(0.9) ? newHeader.count : random.below(1 << (8 * lengthBytes))
    for k in 0..<lengthBytes { out.append(UInt8(truncatingIfNeeded: storedLength >> (8 * k))) }
    return out + newHeader + data
}

// MARK: - safetensors

/// A mutated `.safetensors` file: its JSON header (most of the time) or its bytes.
func mutateSafetensors(_ bytes: [UInt8], _ random: inout FuzzRandom) -> [UInt8] {
    guard bytes.count > 8, random.chance(0.75) else { return mutateBytes(bytes, &random) }
    var length = 0
    for k in 0..<8 { length |= Int(bytes[k]) << (8 * k) }
    guard length >= 2, 8 + length <= bytes.count else { return mutateBytes(bytes, &random) }
    var header = String(decoding: bytes[8..<(8 + length)], as: UTF8.self)
    let data = Array(bytes[(8 + length)...])
    let names = tensorNames(header)
    switch random.below(8) {
    case 0, 1: // a number (shape extent or data offset)
        for _ in 0..<(1 + random.below(2)) { header = replaceNumber(in: header, &random) }
    case 2: // a dtype
        let dtypes = ["F32", "F64", "F16", "BF16", "I64", "U8", "BOOL", "I32", "X99", ""]
        header = replaceFirst(in: header, of: random.pick(["\"F32\"", "\"I64\""]), with: "\"\(random.pick(dtypes))\"")
    case 3 where !names.isEmpty: // a name: truncated, emptied, or an unknown one
        let name = random.pick(names)
        let replacement = random.pick([
            "down.", "down", "head", "head.", "", "down.0.0.weightx", "mid.9.weight", "down.x.0.weight",
            "down.99.0.weight", "up.-1.bias", "optimizer.step", "__metadata__", "two\\nlines", "\\u0000",
            String(name.dropLast()),
        ])
        header = replaceFirst(in: header, of: "\"\(name)\"", with: "\"\(replacement)\"")
    case 4 where !names.isEmpty: // a shape of rank 0, rank 1, or a huge one
        let name = random.pick(names)
        if let entry = header.range(of: "\"\(name)\""),
            let shape = header[entry.upperBound...].range(of: "\"shape\":["),
            let close = header[shape.upperBound...].firstIndex(of: "]")
        {
            let newShape = random.pick([
                "", "0", "1", "1000000,3,3,0", "4611686018427387904,4611686018427387904", "4097,3,3,3",
                "2,2,2,2,2,2", "-1,3,3,3", "1,1,1,1",
            ])
            header.replaceSubrange(shape.upperBound..<close, with: newShape)
        }
    case 5 where !names.isEmpty: // an entry duplicated
        let name = random.pick(names)
        if let entry = header.range(of: "\"\(name)\":{"), let close = header[entry.upperBound...].firstIndex(of: "}") {
            let text = String(header[entry.lowerBound...close])
            header.insert(contentsOf: text + ",", at: entry.lowerBound)
        }
    case 6: // metadata values
        header = replaceFirst(
            in: header, of: random.pick(["\"batch\"", "\"relu\"", "\"none\"", "\"2\""]),
            with: random.pick([
                "\"group:0\"", "\"group:3\"", "\"leaky_relu:nan\"", "\"instance\"", "\"bogus\"", "1", "null",
            ]))
    default: // the header's bytes
        header = String(decoding: mutateBytes(Array(header.utf8), &random), as: UTF8.self)
    }
    var newHeader = Array(header.utf8)
    while newHeader.count % 8 != 0 { newHeader.append(0x20) }
    let storedLength =
        random.chance(0.9) ? UInt64(newHeader.count) : random.pick([0, 1, UInt64(length), UInt64.max, 1 << 40])
    var out = [UInt8]()
    for k in 0..<8 { out.append(UInt8(truncatingIfNeeded: storedLength >> (8 * k))) }
    return out + newHeader + data
}

/// The tensor names of a safetensors JSON header (keys followed by `:{"dtype"`).
private func tensorNames(_ header: String) -> [String] {
    var names: [String] = []
    var rest = header[...]
    while let marker = rest.range(of: "\":{\"dtype\"") {
        let before = rest[..<marker.lowerBound]
        if let quote = before.lastIndex(of: "\"") { names.append(String(before[before.index(after: quote)...])) }
        rest = rest[marker.upperBound...]
    }
    return names
}

/// `text` with the first occurrence of `target` replaced (unchanged when there is none).
private func replaceFirst(in text: String, of target: String, with replacement: String) -> String {
    guard let range = text.range(of: target) else { return text }
    var out = text
    out.replaceSubrange(range, with: replacement)
    return out
}

// MARK: - PNG

/// A mutated PNG file: a chunk-level change with the CRC fixed up (most of the time), so the
/// mutation reaches the decoder instead of stopping at the checksum, or raw byte mutations.
func mutatePNG(_ bytes: [UInt8], _ random: inout FuzzRandom) -> [UInt8] {
    var chunks = parseChunks(bytes)
    guard !chunks.isEmpty, random.chance(0.8) else { return mutateBytes(bytes, &random) }
    switch random.below(6) {
    case 0, 1: // an IHDR field: width, height, bit depth, colour type, compression, filter, interlace
        if let i = chunks.firstIndex(where: { $0.type == "IHDR" }), chunks[i].data.count == 13 {
            var d = chunks[i].data
            switch random.below(5) {
            case 0: put32(&d, 0, random.pick([0, 1, 3, 16, 17, 65535, 1 << 20, 0x7FFF_FFFF, 0xFFFF_FFFF]))
            case 1: put32(&d, 4, random.pick([0, 1, 3, 16, 17, 65535, 1 << 20, 0x7FFF_FFFF, 0xFFFF_FFFF]))
            case 2: d[8] = random.pick([0, 1, 2, 4, 8, 16, 3, 32])
            case 3: d[9] = random.pick([0, 2, 3, 4, 6, 1, 5, 7])
            default: d[10 + random.below(3)] = random.pick([0, 1, 2, 255])
            }
            chunks[i].data = d
        }
    case 2: // bytes inside a chunk's data (IDAT: a corrupt zlib stream)
        let i = random.below(chunks.count)
        chunks[i].data = mutateBytes(chunks[i].data, &random)
    case 3: // a chunk's length field lies
        let i = random.below(chunks.count)
        chunks[i].lengthOverride = random.pick([
            0, 1, UInt32(chunks[i].data.count + 1), 0x7FFF_FFFF, 0xFFFF_FFFF, UInt32(random.below(1 << 16)),
        ])
    case 4: // a chunk removed or repeated
        let i = random.below(chunks.count)
        if random.chance(0.5) { chunks.remove(at: i) } else { chunks.insert(chunks[i], at: i) }
    default: // a palette or transparency chunk added
        let type = random.pick(["PLTE", "tRNS", "gAMA", "sBIT", "iCCP"])
        let count = random.pick([0, 1, 3, 6, 768, 769])
        chunks.insert(
            PNGChunk(type: type, data: (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }),
            at: min(1, chunks.count))
    }
    var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    for chunk in chunks {
        var length = [UInt8]()
        put32(&length, 0, chunk.lengthOverride ?? UInt32(chunk.data.count))
        let typeBytes = Array(chunk.type.utf8)
        out += length + typeBytes + chunk.data
        var crc = [UInt8]()
        put32(&crc, 0, crc32(typeBytes + chunk.data))
        out += crc
    }
    return out
}

/// One chunk of a PNG stream; `lengthOverride` writes a wrong length field.
struct PNGChunk {
    var type: String
    var data: [UInt8]
    var lengthOverride: UInt32? = nil
}

/// The chunks of a well-formed PNG file (empty when it is not one).
func parseChunks(_ bytes: [UInt8]) -> [PNGChunk] {
    var chunks: [PNGChunk] = []
    var at = 8
    while at + 12 <= bytes.count {
        let length = Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])
        guard at + 12 + length <= bytes.count else { break }
        chunks.append(
            PNGChunk(
                type: String(decoding: bytes[(at + 4)..<(at + 8)], as: UTF8.self),
                data: Array(bytes[(at + 8)..<(at + 8 + length)])))
        at += 12 + length
    }
    return chunks
}

/// Writes `value` big-endian at `offset` (appending when `bytes` is too short).
func put32(_ bytes: inout [UInt8], _ offset: Int, _ value: UInt32) {
    while bytes.count < offset + 4 { bytes.append(0) }
    for k in 0..<4 { bytes[offset + k] = UInt8(truncatingIfNeeded: value >> (8 * (3 - k))) }
}

/// The CRC-32 of PNG chunks (ISO 3309, polynomial 0xEDB88320, reflected).
func crc32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
}

// MARK: - metrics.jsonl

/// A mutated metrics log: numbers, lines duplicated, dropped or added, or raw bytes.
func mutateMetricsLog(_ bytes: [UInt8], _ random: inout FuzzRandom) -> [UInt8] {
    var lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(
        String.init)
    switch random.below(5) {
    case 0, 1:
        let i = random.below(lines.count)
        lines[i] = replaceNumber(in: lines[i], &random)
    case 2:
        let i = random.below(lines.count)
        lines.insert(lines[i], at: i)
    case 3:
        lines.insert(
            random.pick([
                "{\"epoch\": 1e400}", "{\"epoch\": -3, \"val_dice\": [1e308]}", "[[[[[[[[[[",
                "{\"epoch\": 2, \"val_dice\": \"x\"}",
                "{\"epoch\": 9223372036854775807}", "null", "{\"epoch\": 1, \"train_loss\": 1e38, \"val_loss\": 8e37}",
                String(repeating: "[", count: 5000),
            ]), at: random.below(lines.count + 1))
    default:
        return mutateBytes(bytes, &random)
    }
    return Array(lines.joined(separator: "\n").utf8)
}
