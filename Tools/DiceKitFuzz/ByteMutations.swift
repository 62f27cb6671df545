// Format-blind mutations: bit flips, interesting bytes, truncation, insertion, deletion and
// duplication of byte ranges.

/// Applies one to three format-blind mutations to `bytes`.
func mutateBytes(_ bytes: [UInt8], _ random: inout FuzzRandom) -> [UInt8] {
    var out = bytes
    for _ in 0..<(1 + random.below(3)) {
        switch random.below(7) {
        case 0 where !out.isEmpty: // flip a few bits
            for _ in 0..<(1 + random.below(4)) { out[random.below(out.count)] ^= UInt8(1 << random.below(8)) }
        case 1 where !out.isEmpty: // an interesting byte
            out[random.below(out.count)] = random.pick([0x00, 0xFF, 0x7F, 0x80, 0x01, 0x20, 0x22, 0x5B, 0x7B, 0x2C])
        case 2 where !out.isEmpty: // truncate
            out = Array(out.prefix(random.below(out.count)))
        case 3: // insert random bytes
            let count = 1 + random.below(16)
            out.insert(
                contentsOf: (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) },
                at: random.below(out.count + 1))
        case 4 where out.count > 1: // delete a range
            let start = random.below(out.count)
            out.removeSubrange(start..<min(out.count, start + 1 + random.below(32)))
        case 5 where out.count > 1: // duplicate a range
            let start = random.below(out.count)
            let slice = out[start..<min(out.count, start + 1 + random.below(64))]
            out.insert(contentsOf: slice, at: random.below(out.count + 1))
        default: // overwrite a little-endian 32-bit word with an extreme value
            guard out.count >= 4 else { break }
            let at = random.below(out.count - 3)
            let value: UInt32 = random.pick([0, 1, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0x0001_0000, 0x1000])
            for k in 0..<4 { out[at + k] = UInt8(truncatingIfNeeded: value >> (8 * k)) }
        }
    }
    return out
}

/// Replaces one decimal number of `text` (chosen at random) with an interesting integer.
func replaceNumber(in text: String, _ random: inout FuzzRandom) -> String {
    let scalars = Array(text.unicodeScalars)
    var numbers: [Range<Int>] = []
    var i = 0
    while i < scalars.count {
        if ("0"..."9").contains(scalars[i])
            || (scalars[i] == "-" && i + 1 < scalars.count && ("0"..."9").contains(scalars[i + 1]))
        {
            let start = i
            i += 1
            while i < scalars.count, ("0"..."9").contains(scalars[i]) || scalars[i] == "." || scalars[i] == "e" {
                i += 1
            }
            numbers.append(start..<i)
        } else {
            i += 1
        }
    }
    guard !numbers.isEmpty else { return text }
    let range = random.pick(numbers)
    var out = String.UnicodeScalarView()
    out.append(contentsOf: scalars[..<range.lowerBound])
    out.append(contentsOf: random.pick(interestingIntegers).unicodeScalars)
    out.append(contentsOf: scalars[range.upperBound...])
    return String(out)
}
