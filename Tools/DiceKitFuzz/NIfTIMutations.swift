// NIfTI inputs for the fuzzer. The tool cannot decompress the seed's .nii.gz files, so a case
// writes one uncompressed NIfTI-1 volume itself (a 348-byte header, 4 bytes of extension flag,
// then the voxels), 8³ like the seed cases, and mutates it: a header field (extents, datatype,
// bits per voxel, data offset, spacing, scaling, the magic) to a hostile value half of the time,
// its bytes otherwise. It replaces one image or label map of a copy of the seed data set.

/// Little-endian int16 `value` at `offset`.
private func put16(_ bytes: inout [UInt8], _ offset: Int, _ value: Int) {
    bytes[offset] = UInt8(truncatingIfNeeded: value)
    bytes[offset + 1] = UInt8(truncatingIfNeeded: value >> 8)
}

/// Little-endian float32 `value` at `offset`.
private func putFloat(_ bytes: inout [UInt8], _ offset: Int, _ value: Float) {
    let bits = value.bitPattern
    for k in 0..<4 { bytes[offset + k] = UInt8(truncatingIfNeeded: bits >> (8 * k)) }
}

/// An uncompressed NIfTI-1 file of 8³ voxels: float32 image values, or uint8 labels (0 and 1).
func niftiSeedFile(labels: Bool, _ random: inout FuzzRandom) -> [UInt8] {
    var header = [UInt8](repeating: 0, count: 352)
    func put16(_ offset: Int, _ value: Int) { DiceKitFuzz.put16(&header, offset, value) }
    func putFloat(_ offset: Int, _ value: Float) { DiceKitFuzz.putFloat(&header, offset, value) }
    put16(0, 348) // sizeof_hdr (little-endian int32)
    for (axis, extent) in [3, 8, 8, 8, 1, 1, 1, 1].enumerated() { put16(40 + 2 * axis, extent) }
    put16(70, labels ? 2 : 16) // datatype: uint8 or float32
    put16(72, labels ? 8 : 32) // bitpix
    for axis in 0..<8 { putFloat(76 + 4 * axis, axis == 3 ? 2 : 0.8) }
    putFloat(108, 352) // vox_offset
    putFloat(112, 1) // scl_slope
    header[252] = 1 // qform_code
    putFloat(268, 0.8) // quatern_b (any)
    for (k, byte) in Array("n+1\0".utf8).enumerated() { header[344 + k] = byte }
    var voxels = [UInt8]()
    for i in 0..<512 {
        if labels {
            voxels.append(i % 5 == 0 ? 1 : 0)
        } else {
            let bits = Float(random.below(1000)).bitPattern
            for k in 0..<4 { voxels.append(UInt8(truncatingIfNeeded: bits >> (8 * k))) }
        }
    }
    return header + voxels
}

/// A mutated NIfTI-1 file: a header field (60 %) or its bytes.
func mutateNIfTI(_ bytes: [UInt8], _ random: inout FuzzRandom) -> [UInt8] {
    guard bytes.count >= 352, random.chance(0.6) else { return mutateBytes(bytes, &random) }
    var out = bytes
    func put16(_ offset: Int, _ value: Int) { DiceKitFuzz.put16(&out, offset, value) }
    func putFloat(_ offset: Int, _ value: Float) { DiceKitFuzz.putFloat(&out, offset, value) }
    let extents = [0, 1, 2, 7, 9, 255, 256, 4096, 32767, 32768, 65535]
    switch random.below(7) {
    case 0: put16(40 + 2 * random.below(8), random.pick(extents)) // dim[0…7]
    case 1: put16(70, random.pick([0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 768, 1024, 1280, 1536, 2304, 9999]))
    case 2: put16(72, random.pick([0, 1, 7, 8, 16, 32, 64, 255])) // bitpix
    case 3: putFloat(108, random.pick([0, 1, 347, 348, 352, 353, 1e9, -1, .nan])) // vox_offset
    case 4: putFloat(76 + 4 * random.below(8), random.pick([0, -1, 1e-30, 1e30, .nan, .infinity])) // pixdim
    case 5: putFloat(112 + 4 * random.below(2), random.pick([0, -1, 1e30, .nan, .infinity, 0.5])) // slope, inter
    default: out[344 + random.below(4)] = UInt8(random.below(256)) // the magic
    }
    return out
}
