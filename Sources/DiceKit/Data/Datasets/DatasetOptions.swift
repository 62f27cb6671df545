// How a data set on disk becomes tensors: how masks become class indices, the class count, and
// the size every image is resized to on load.

/// How mask pixels become class indices.
public enum MaskEncoding: Sendable, Equatable {
    /// Binary masks (Kvasir-SEG): luminance (the grey level; for colour and palette masks the
    /// luminance of the colour) ≥ threshold is class 1, else 0. Default threshold 128, which also
    /// absorbs the noise of JPEG masks. For `.npy` masks: every nonzero value is class 1.
    case binary(threshold: UInt8)
    /// Class indices: a grey PNG's grey level (a palette PNG's palette index, a `.npy` value) is
    /// the class. Lossless masks only (JPEG masks are refused).
    case classIndices
    /// Palette PNG masks read as their palette indices; any other mask file is refused.
    case palette

    /// Binary masks thresholded at 128.
    public static let binary = MaskEncoding.binary(threshold: 128)
}

/// The size every image (and mask) of a folder data set is resized to on load: H × W for
/// pictures, D × H × W for NIfTI volumes.
public struct ImageSize: Sendable, Equatable, CustomStringConvertible {
    /// Slices of a volume, 1…4096; nil for a 2-D size.
    public let depth: Int?
    /// Rows, 1…16384.
    public let height: Int
    /// Columns, 1…16384.
    public let width: Int

    /// A size of `height` × `width` pixels.
    ///
    /// - Throws: `DiceKitError.option` when a side lies outside 1…16384.
    public init(height: Int, width: Int) throws {
        try self.init(depth: nil, height: height, width: width)
    }

    /// A size of `depth` × `height` × `width` voxels (nil depth: a 2-D size).
    ///
    /// - Throws: `DiceKitError.option` when a side lies outside 1…16384 (the depth 1…4096).
    public init(depth: Int?, height: Int, width: Int) throws {
        guard (1...16384).contains(height), (1...16384).contains(width), (1...4096).contains(depth ?? 1) else {
            let text = ([depth].compactMap { $0 } + [height, width]).map(String.init).joined(separator: " × ")
            throw DiceKitError.option("image size \(text); expected 1…16384 on each side (1…4096 slices)")
        }
        self.depth = depth
        self.height = height
        self.width = width
    }

    /// Parses "H,W" (also "HxW"), a single "S" for S × S, or "D,H,W" for a volume.
    ///
    /// - Throws: `DiceKitError.option` naming the text when it is not one to three positive integers.
    public init(parsing text: String) throws {
        let parts = text.split(whereSeparator: { $0 == "," || $0 == "x" || $0 == "×" }).map {
            Int($0.trimmingCharacters())
        }
        guard (1...3).contains(parts.count), parts.allSatisfy({ $0 != nil }) else {
            throw DiceKitError.option(
                "image size '\(text)'; expected H,W, a single S or D,H,W for volumes (e.g. 256,320, 256 or 32,64,64)")
        }
        let values = parts.map { $0! }
        switch values.count {
        case 3: try self.init(depth: values[0], height: values[1], width: values[2])
        case 2: try self.init(height: values[0], width: values[1])
        default: try self.init(height: values[0], width: values[0])
        }
    }

    /// [H, W], or [D, H, W] for a volume size.
    public var extents: [Int] { [depth].compactMap { $0 } + [height, width] }

    /// "H × W" or "D × H × W".
    public var description: String { extents.map(String.init).joined(separator: " × ") }
}

/// How the values of a NIfTI volume are brought to a common scale on load (per volume, so that
/// `predict` repeats it exactly).
public enum IntensityNormalization: Sendable, Equatable, CustomStringConvertible {
    /// The values as stored.
    case none
    /// Per volume and channel: (x − mean) / max(std, 1e−8), over every voxel (nnU-Net's
    /// ZScoreNormalization, its default for MRI).
    case zscore
    /// Clip to [low, high], then map to [0, 1] (a CT window, e.g. −1000,1000 HU; MONAI's
    /// ScaleIntensityRange with clip).
    case window(low: Float, high: Float)

    /// Parses "none", "zscore" or "window:LOW,HIGH".
    ///
    /// - Throws: `DiceKitError.option` naming the text and what was expected.
    public init(parsing text: String) throws {
        switch text {
        case "none": self = .none
        case "zscore": self = .zscore
        default:
            let bounds = text.hasPrefix("window:") ? text.dropFirst(7).split(separator: ",").map { Float($0) } : []
            guard bounds.count == 2, let low = bounds[0], let high = bounds[1], low.isFinite, high.isFinite,
                low < high
            else {
                throw DiceKitError.option(
                    "intensity '\(text)'; expected none, zscore or window:LOW,HIGH with LOW < HIGH (e.g. window:-1000,1000)"
                )
            }
            self = .window(low: low, high: high)
        }
    }

    /// The text `init(parsing:)` reads.
    public var description: String {
        switch self {
        case .none: return "none"
        case .zscore: return "zscore"
        case .window(let low, let high): return "window:\(low),\(high)"
        }
    }

    /// `values` ([positions, C], channels-last) normalised in place, channel by channel; the sums
    /// run in Double, in order, so the same volume always gives the same bits.
    public func apply(to values: inout [Float], channels c: Int) {
        switch self {
        case .none: return
        case .window(let low, let high):
            let range = high - low
            for i in values.indices { values[i] = (min(max(values[i], low), high) - low) / range }
        case .zscore:
            let positions = values.count / max(c, 1)
            guard positions > 0 else { return }
            for k in 0..<c {
                var sum = 0.0
                for p in 0..<positions { sum += Double(values[p * c + k]) }
                let mean = sum / Double(positions)
                var squares = 0.0
                for p in 0..<positions {
                    let d = Double(values[p * c + k]) - mean
                    squares += d * d
                }
                let deviation = max((squares / Double(positions)).squareRoot(), 1e-8)
                for p in 0..<positions { values[p * c + k] = Float((Double(values[p * c + k]) - mean) / deviation) }
            }
        }
    }
}

/// How an image is brought to an `ImageSize` whose aspect ratio differs from its own.
public enum ResizeMode: String, Sendable, Equatable, CaseIterable {
    /// Scale each axis on its own to the target size (the aspect ratio changes).
    case stretch
    /// Keep the aspect ratio: scale to fit inside, centre, pad with 0 (background in masks).
    case fit
    /// Keep the aspect ratio: scale to cover the target, centre, crop what sticks out.
    case crop
}

/// How `SegmentationDataset.load(from:options:warning:)` reads a data set.
public struct DatasetOptions: Sendable, Equatable {
    /// How masks become classes; nil takes `.binary` for image folders and `.classIndices` for `.npy`.
    public var masks: MaskEncoding?
    /// K; nil takes max(label) + 1 (at least 2).
    public var classes: Int?
    /// Resize every image and mask of a folder to this size (nil: all must share one size).
    /// Images are resampled by area averaging when shrinking and bilinearly when enlarging; masks
    /// by nearest neighbour. `.npy` data sets are never resized.
    public var imageSize: ImageSize?
    /// How an image whose aspect ratio differs from `imageSize` is fitted (default `.stretch`).
    public var resize: ResizeMode
    /// The mask value of positions nobody labelled (PASCAL VOC's 255 "void", sparse annotations),
    /// or nil (default: every mask value is a class). It lies outside 0..<K and does not count
    /// towards the inferred class count; the losses and metrics of a `Trainer` whose
    /// `TrainingConfiguration.ignoreIndex` is the same leave those positions out. Needs
    /// class-index or palette masks (binary masks cannot hold it). Where a transform has no source
    /// pixel for a mask position (`.fit` padding, augmentation outside the image) that position
    /// gets the ignore index instead of the background.
    public var ignoreIndex: Int?
    /// How NIfTI volumes are normalised on load; nil takes `.zscore`. Other sources refuse it.
    public var intensity: IntensityNormalization?
    /// The voxel spacing NIfTI volumes are resampled to on load, or nil (read at their own grid).
    /// Excludes `imageSize`; other sources refuse it.
    public var targetSpacing: TargetSpacing?

    /// Options; every default keeps the data as it is on disk (NIfTI volumes: z-scored).
    public init(
        masks: MaskEncoding? = nil, classes: Int? = nil, imageSize: ImageSize? = nil, resize: ResizeMode = .stretch,
        ignoreIndex: Int? = nil, intensity: IntensityNormalization? = nil, targetSpacing: TargetSpacing? = nil
    ) {
        self.masks = masks
        self.classes = classes
        self.imageSize = imageSize
        self.resize = resize
        self.ignoreIndex = ignoreIndex
        self.intensity = intensity
        self.targetSpacing = targetSpacing
    }
}

extension Substring {
    fileprivate func trimmingCharacters() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
