// NIfTI reading and writing through Debian's NIfTI library (libnifti2, libniftiio-dev), behind
// the C shim `CNIfTICodec`: NIfTI-1 and NIfTI-2, single files (.nii, .nii.gz) and pairs
// (.hdr/.img). The header is checked before any voxel is allocated (extents, datatype, at most
// `maximumVoxels` voxels), scaling (scl_slope, scl_inter) is applied, images must be finite and
// label maps whole numbers.
//
// Axes: a NIfTI file stores x fastest, then y, z and time. DiceKit reads it as the row-major
// array [D, H, W] = [nz, ny, nx] without moving a voxel, as SimpleITK and nnU-Net do; spacing is
// [dz, dy, dx]. A 4-D file (x, y, z, t), as in the Medical Segmentation Decathlon, holds one 3-D
// volume per channel and becomes channels-last [D, H, W, C]. Writing keeps the reference image's
// spacing, qform and sform, so that a prediction overlays its scan in any viewer.

internal import CNIfTICodec
import Foundation

/// A volume read from a NIfTI file, in DiceKit's layout.
public struct NIfTIVolume: Sendable, Equatable {
    /// [D, H, W] = [nz, ny, nx] (1 for an axis the file does not have).
    public let extents: [Int]
    /// The channel count: the file's fourth and fifth extents multiplied (1 for a 3-D file).
    public let channels: Int
    /// [dz, dy, dx], the voxel spacing (the header's pixdim, usually millimetres).
    public let spacing: [Double]
    /// [D, H, W, C] values, channels-last, scaling applied.
    public let values: [Float]

    /// Voxels per channel.
    public var positions: Int { extents.reduce(1, *) }
}

/// A label map read from a NIfTI file.
public struct NIfTILabelMap: Sendable, Equatable {
    /// [D, H, W] = [nz, ny, nx].
    public let extents: [Int]
    /// [dz, dy, dx].
    public let spacing: [Double]
    /// One class index per voxel, row-major (x fastest).
    public let labels: [Int32]
}

/// Reading and writing NIfTI files (libnifti2).
public enum NIfTI {
    /// The most voxels (all channels) `read` accepts: 2³⁰, 4 GiB as Float.
    public static let maximumVoxels = 1 << 30

    /// Whether `path` names a NIfTI file by its extension (.nii, .nii.gz or .hdr).
    public static func isNIfTI(_ path: String) -> Bool {
        let lower = path.lowercased()
        return lower.hasSuffix(".nii") || lower.hasSuffix(".nii.gz") || lower.hasSuffix(".hdr")
    }

    /// `name` without its NIfTI extension (.nii.gz, .nii or .hdr), else unchanged.
    public static func stem(_ name: String) -> String {
        for suffix in [".nii.gz", ".nii", ".hdr"] where name.lowercased().hasSuffix(suffix) {
            return String(name.dropLast(suffix.count))
        }
        return name
    }

    /// Reads an image volume as Float.
    ///
    /// - Throws: `NIfTIError.io` (missing or unreadable file), `.notNIfTI`, `.unsupported` (more
    ///   than 5 dimensions, an extent < 1, a complex or RGB datatype, more than
    ///   `maximumVoxels` voxels, a spacing that is not positive), `.truncated`, and
    ///   `.invalidValue` for NaN or infinity.
    public static func read(contentsOf path: String) throws -> NIfTIVolume {
        let file = try OpenFile(path: path)
        defer { file.close() }
        let (extents, channels) = file.layout
        let raw = try file.voxelData(as: Float.self, copy: dk_nifti_copy_float)
        if let bad = raw.firstIndex(where: { !$0.isFinite }) {
            throw NIfTIError.invalidValue(
                path: path, reason: "voxel \(bad) is \(raw[bad]); expected finite image values")
        }
        let values = channels == 1 ? raw : channelsLast(raw, positions: extents.reduce(1, *), channels: channels)
        return NIfTIVolume(extents: extents, channels: channels, spacing: try file.spacing(), values: values)
    }

    /// Reads a label map (one class index per voxel).
    ///
    /// - Throws: as `read(contentsOf:)`; `.unsupported` for a file with more than one channel;
    ///   `.invalidValue` naming the first voxel that is not a whole number in the 32-bit range.
    public static func readLabels(contentsOf path: String) throws -> NIfTILabelMap {
        let file = try OpenFile(path: path)
        defer { file.close() }
        let (extents, channels) = file.layout
        guard channels == 1 else {
            throw NIfTIError.unsupported(
                path: path, reason: "a label map of \(channels) channels; expected one 3-D volume of class indices")
        }
        let labels = try file.voxelData(as: Int32.self, copy: dk_nifti_copy_labels)
        return NIfTILabelMap(extents: extents, spacing: try file.spacing(), labels: labels)
    }

    /// Writes a label map [D, H, W] as uint8 (int16 or int32 when a label needs it), atomically,
    /// with the spacing and orientation of `reference` (a NIfTI image of the same first three
    /// extents), or, when `reference` is nil, `spacing` [dz, dy, dx] in mm (default 1) on the
    /// scanner axes.
    ///
    /// - Throws: `NIfTIError.invalidVolume` for a label count other than D·H·W, a spacing that is
    ///   not three positive values, or a path without a .nii/.nii.gz extension;
    ///   `.unsupported`/`.notNIfTI`/`.io` for the reference (also when its extents differ); `.io`
    ///   when the file cannot be written.
    public static func writeLabels(
        _ labels: [Int32], extents: [Int], to path: String, geometryOf reference: String?, spacing: [Double]? = nil
    ) throws {
        try checkWrite(count: labels.count, extents: extents, channels: 1, path: path, spacing: spacing)
        let xyz = (spacing ?? [1, 1, 1]).reversed() as [Double]
        try write(to: path, reference: reference, extents: extents) { temporary, handle, header in
            labels.withUnsafeBufferPointer { buffer in
                xyz.withUnsafeBufferPointer {
                    dk_nifti_write_labels(
                        temporary, handle, $0.baseAddress, Int64(extents[2]), Int64(extents[1]), Int64(extents[0]),
                        buffer.baseAddress, &header)
                }
            }
        }
    }

    /// Writes Float values [D, H, W, C] (channels-last; one 3-D volume per channel in the file,
    /// 4-D when C > 1) as float32, atomically, with the geometry of `reference` as in
    /// `writeLabels(_:extents:to:geometryOf:spacing:)`.
    ///
    /// - Throws: as `writeLabels(_:extents:to:geometryOf:spacing:)`.
    public static func write(
        _ values: [Float], extents: [Int], channels: Int, to path: String, geometryOf reference: String?,
        spacing: [Double]? = nil
    ) throws {
        try checkWrite(count: values.count, extents: extents, channels: channels, path: path, spacing: spacing)
        let planar = channels == 1 ? values : channelsFirst(values, positions: extents.reduce(1, *), channels: channels)
        let xyz = (spacing ?? [1, 1, 1]).reversed() as [Double]
        try write(to: path, reference: reference, extents: extents) { temporary, handle, header in
            planar.withUnsafeBufferPointer { buffer in
                xyz.withUnsafeBufferPointer {
                    dk_nifti_write_float(
                        temporary, handle, $0.baseAddress, Int64(extents[2]), Int64(extents[1]), Int64(extents[0]),
                        Int64(channels), buffer.baseAddress, &header)
                }
            }
        }
    }

    // MARK: - Plumbing

    private static func checkWrite(count: Int, extents: [Int], channels: Int, path: String, spacing: [Double]?) throws {
        if let spacing, spacing.count != 3 || !spacing.allSatisfy({ $0.isFinite && $0 > 0 }) {
            throw NIfTIError.invalidVolume("spacing \(spacing); expected three positive sizes [dz, dy, dx]")
        }
        guard extents.count == 3, extents.allSatisfy({ $0 >= 1 }), channels >= 1 else {
            throw NIfTIError.invalidVolume("extents \(extents) and \(channels) channel(s); expected [D, H, W] ≥ 1")
        }
        guard count == extents.reduce(channels, *) else {
            throw NIfTIError.invalidVolume(
                "\(count) values for extents \(extents) × \(channels); expected \(extents.reduce(channels, *))")
        }
        let lower = path.lowercased()
        guard lower.hasSuffix(".nii") || lower.hasSuffix(".nii.gz") else {
            throw NIfTIError.invalidVolume("\(path): expected a .nii or .nii.gz file name")
        }
    }

    /// Runs `body` on a temporary file of the same extension in the system's temporary folder, then
    /// moves its bytes into place with `AtomicFile` (fsync, rename): an interrupted write leaves the
    /// old file.
    private static func write(
        to path: String, reference: String?, extents: [Int],
        _ body: (String, OpaquePointer?, inout dk_nifti_header) -> Int32
    ) throws {
        let geometry = try reference.map { try OpenFile(path: $0) }
        defer { geometry?.close() }
        if let geometry, geometry.layout.extents != extents {
            throw NIfTIError.invalidVolume(
                "extents \(extents) to write with the geometry of \(geometry.path), whose extents are \(geometry.layout.extents)"
            )
        }
        // libnifti2 writes (and compresses) into the system's temporary folder, so a kill at this
        // point leaves nothing in the output folder; AtomicFile then moves the bytes into place.
        let suffix = path.lowercased().hasSuffix(".gz") ? ".nii.gz" : ".nii"
        let temporary = FileManager.default.temporaryDirectory.appendingPathComponent(
            "dicekit-nifti-\(getpid())-\(UInt32.random(in: 0...UInt32.max))\(suffix)"
        ).path
        defer { unlink(temporary) }
        var header = dk_nifti_header()
        let code = body(temporary, geometry?.handle, &header)
        guard code == Int32(DK_NIFTI_OK) else {
            throw NIfTIError.io(path: path, reason: message(&header.message))
        }
        do {
            try AtomicFile.write(try FileSystem.readFile(temporary), to: path)
        } catch DiceKitError.file(_, let reason) {
            throw NIfTIError.io(path: path, reason: reason)
        }
    }

    /// [C][positions] → [positions][C].
    private static func channelsLast(_ planar: [Float], positions: Int, channels: Int) -> [Float] {
        var out = [Float](repeating: 0, count: planar.count)
        for c in 0..<channels {
            for p in 0..<positions { out[p * channels + c] = planar[c * positions + p] }
        }
        return out
    }

    /// [positions][C] → [C][positions].
    private static func channelsFirst(_ interleaved: [Float], positions: Int, channels: Int) -> [Float] {
        var out = [Float](repeating: 0, count: interleaved.count)
        for c in 0..<channels {
            for p in 0..<positions { out[c * positions + p] = interleaved[p * channels + c] }
        }
        return out
    }

    fileprivate static func message<T>(_ tuple: inout T) -> String {
        withUnsafeBytes(of: &tuple) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
    }
}

/// An open NIfTI file: its checked header, voxels read on `load()`.
private final class OpenFile {
    let path: String
    let handle: OpaquePointer?
    let header: dk_nifti_header

    init(path: String) throws {
        self.path = path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw NIfTIError.io(path: path, reason: isDirectory.boolValue ? "a directory, not a file" : "no such file")
        }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw NIfTIError.io(path: path, reason: "cannot be read")
        }
        var handle: OpaquePointer?
        var header = dk_nifti_header()
        let code = dk_nifti_open(path, Int64(NIfTI.maximumVoxels), &handle, &header)
        guard code == Int32(DK_NIFTI_OK) else {
            if code == Int32(DK_NIFTI_UNREADABLE) { throw NIfTIError.notNIfTI(path: path) }
            throw NIfTIError.unsupported(path: path, reason: NIfTI.message(&header.message))
        }
        self.handle = handle
        self.header = header
    }

    func close() { dk_nifti_close(handle) }

    /// All voxels, every channel.
    var voxels: Int { (1...max(1, Int(header.dims.0))).reduce(1) { $0 * extent($1) } }

    /// ([nz, ny, nx], nt · nu).
    var layout: (extents: [Int], channels: Int) { ([extent(3), extent(2), extent(1)], extent(4) * extent(5)) }

    /// Extent of axis `axis` (1 = x … 5 = u), 1 beyond the header's dimension count.
    private func extent(_ axis: Int) -> Int {
        guard axis <= Int(header.dims.0) else { return 1 }
        return withUnsafeBytes(of: header.dims) { Int($0.load(fromByteOffset: axis * 8, as: Int64.self)) }
    }

    /// [dz, dy, dx] from pixdim, for the axes the file has (1 for the others).
    func spacing() throws -> [Double] {
        let pixdim = withUnsafeBytes(of: header.pixdim) { Array($0.bindMemory(to: Double.self)) }
        return try [3, 2, 1].map { axis in
            guard axis <= Int(header.dims.0) else { return 1 }
            let value = abs(pixdim[axis])
            guard value.isFinite, value > 0 else {
                throw NIfTIError.unsupported(
                    path: path, reason: "spacing \(pixdim[axis]) along axis \(axis) (pixdim); expected a positive size")
            }
            return value
        }
    }

    func load() throws {
        var header = self.header
        try check(dk_nifti_load(handle, &header), &header)
    }

    /// Every voxel loaded and converted by `copy` (one of the codec's dk_nifti_copy_* functions).
    func voxelData<T: Numeric>(
        as type: T.Type,
        copy: (OpaquePointer?, UnsafeMutablePointer<T>?, Int64, UnsafeMutablePointer<dk_nifti_header>?) -> Int32
    ) throws -> [T] {
        var values = [T](repeating: 0, count: voxels)
        try load()
        var header = self.header
        let code = values.withUnsafeMutableBufferPointer { copy(handle, $0.baseAddress, Int64(voxels), &header) }
        try check(code, &header)
        return values
    }

    func check(_ code: Int32, _ header: inout dk_nifti_header) throws {
        switch code {
        case Int32(DK_NIFTI_OK): return
        case Int32(DK_NIFTI_TRUNCATED): throw NIfTIError.truncated(path: path)
        case Int32(DK_NIFTI_NOT_INTEGER):
            throw NIfTIError.invalidValue(path: path, reason: NIfTI.message(&header.message))
        default: throw NIfTIError.io(path: path, reason: NIfTI.message(&header.message))
        }
    }
}
