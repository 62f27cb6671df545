// Errors of the NIfTI reader and writer.

/// Why a NIfTI file could not be read or written. Each description is one line.
public enum NIfTIError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file cannot be opened, read or written.
    case io(path: String, reason: String)
    /// The file has no valid NIfTI-1 or NIfTI-2 header.
    case notNIfTI(path: String)
    /// The header describes no volume DiceKit reads (bad extents, an unsupported datatype, too
    /// many voxels, non-finite scaling).
    case unsupported(path: String, reason: String)
    /// The voxel data ends before the header's extents do.
    case truncated(path: String)
    /// A voxel value DiceKit cannot use: NaN or infinity in an image, a fraction in a label map.
    case invalidValue(path: String, reason: String)
    /// The values or options given to the writer do not describe a volume.
    case invalidVolume(String)

    /// One line: what is wrong and what was expected.
    public var description: String {
        switch self {
        case .io(let path, let reason): return "\(path): \(reason)"
        case .notNIfTI(let path):
            return "\(path): not a NIfTI file (expected a NIfTI-1 or NIfTI-2 header: .nii, .nii.gz or .hdr/.img)"
        case .unsupported(let path, let reason): return "\(path): unsupported NIfTI file (\(reason))"
        case .truncated(let path):
            return "\(path): truncated NIfTI file (the voxel data is shorter than the header's extents)"
        case .invalidValue(let path, let reason): return "\(path): \(reason)"
        case .invalidVolume(let why): return "invalid NIfTI volume: \(why)"
        }
    }
}
