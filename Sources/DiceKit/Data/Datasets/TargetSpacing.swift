// The voxel spacing NIfTI volumes are resampled to on load, so that one voxel is the same
// physical size in every case (nnU-Net's target spacing, MONAI's Spacingd): a scan of 0.7 mm
// pixels and 5 mm slices and one of 1 mm isotropic voxels then show an organ at the same size in
// voxels. A case of extents e and spacing s becomes max(1, round(e · s / t)) voxels along each
// axis; the image is resampled as `VolumeResampling` resizes (area averaging when an axis
// shrinks, linear when it grows), the label map class by class (each value's indicator resampled
// alike, the value of greatest weight kept, as nnU-Net resamples segmentations; nearest neighbour
// would drop thin structures where an axis shrinks). Predictions are mapped back to each scan's
// own grid before they are written or scored.

/// The voxel spacing NIfTI volumes are resampled to on load (see the file header).
public enum TargetSpacing: Sendable, Equatable, CustomStringConvertible {
    /// [dz, dy, dx] in the headers' units (millimetres, as a rule).
    case spacing([Double])
    /// Each axis's median spacing over the cases of the folder being opened (nnU-Net's default);
    /// `NIfTICaseFolder` resolves it to `.spacing` when it opens the training cases.
    case median

    /// The finest spacing accepted, 1e-3 (a micrometre in millimetres), and the coarsest, 1e4.
    static let range = 1e-3...1e4

    /// Parses "DZ,DY,DX", a single "S" for S along every axis, or "median".
    ///
    /// - Throws: `DiceKitError.option` naming the text and what was expected.
    public init(parsing text: String) throws {
        if text == "median" {
            self = .median
            return
        }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map {
            Double(String($0).trimmingSpaces())
        }
        guard parts.count == 1 || parts.count == 3,
            parts.allSatisfy({ $0.map { Self.range.contains($0) } ?? false })
        else {
            throw DiceKitError.option(
                "target spacing '\(text)'; expected DZ,DY,DX, a single S (each in 0.001…10000, the headers' units, e.g. mm) or median"
            )
        }
        let values = parts.map { $0! }
        self = .spacing(values.count == 1 ? [values[0], values[0], values[0]] : values)
    }

    /// The text `init(parsing:)` reads: "median", or "DZ,DY,DX" with each value's shortest exact form.
    public var description: String {
        switch self {
        case .median: return "median"
        case .spacing(let values): return values.map { "\($0)" }.joined(separator: ",")
        }
    }

    /// The extents of a volume of `extents` [D, H, W] and `spacing` [dz, dy, dx] resampled to
    /// `target`: max(1, round(e · s / t)) along each axis.
    public static func extents(_ extents: [Int], spacing: [Double], target: [Double]) -> [Int] {
        precondition(
            extents.count == 3 && spacing.count == 3 && target.count == 3,
            "TargetSpacing: extents \(extents), spacing \(spacing), target \(target)")
        return (0..<3).map { axis in
            let exact = Double(extents[axis]) * spacing[axis] / target[axis]
            return max(1, Int(min(exact, Double(Int32.max)).rounded()))
        }
    }

    /// Each axis's median over `spacings` (for an even count, the mean of the two middle values).
    ///
    /// - Precondition: `spacings` is not empty; every entry has three values.
    public static func median(of spacings: [[Double]]) -> [Double] {
        precondition(!spacings.isEmpty && spacings.allSatisfy { $0.count == 3 }, "TargetSpacing: \(spacings)")
        return (0..<3).map { axis in
            let sorted = spacings.map { $0[axis] }.sorted()
            let middle = sorted.count / 2
            return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
        }
    }
}
