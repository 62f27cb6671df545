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

/// The size every image (and mask) of a folder data set is resized to on load.
public struct ImageSize: Sendable, Equatable, CustomStringConvertible {
    /// Rows, 1…16384.
    public let height: Int
    /// Columns, 1…16384.
    public let width: Int

    /// A size of `height` × `width` pixels.
    ///
    /// - Throws: `DiceKitError.option` when a side lies outside 1…16384.
    public init(height: Int, width: Int) throws {
        guard (1...16384).contains(height), (1...16384).contains(width) else {
            throw DiceKitError.option("image size \(height) × \(width); expected 1…16384 on each side")
        }
        self.height = height
        self.width = width
    }

    /// Parses "H,W" (also "HxW") or a single "S" for S × S.
    ///
    /// - Throws: `DiceKitError.option` naming the text when it is not one or two positive integers.
    public init(parsing text: String) throws {
        let parts = text.split(whereSeparator: { $0 == "," || $0 == "x" || $0 == "×" }).map {
            Int($0.trimmingCharacters())
        }
        guard (1...2).contains(parts.count), parts.allSatisfy({ $0 != nil }) else {
            throw DiceKitError.option("image size '\(text)'; expected H,W or a single S (e.g. 256,320 or 256)")
        }
        try self.init(height: parts[0]!, width: parts.count == 2 ? parts[1]! : parts[0]!)
    }

    /// "H × W".
    public var description: String { "\(height) × \(width)" }
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

    /// Options; every default keeps the data as it is on disk.
    public init(
        masks: MaskEncoding? = nil, classes: Int? = nil, imageSize: ImageSize? = nil, resize: ResizeMode = .stretch,
        ignoreIndex: Int? = nil
    ) {
        self.masks = masks
        self.classes = classes
        self.imageSize = imageSize
        self.resize = resize
        self.ignoreIndex = ignoreIndex
    }
}

extension Substring {
    fileprivate func trimmingCharacters() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
