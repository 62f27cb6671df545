// A folder of NIfTI volumes and label maps (nnU-Net's or the Decathlon's layout, see
// NIfTICases.swift) as cases of their own sizes, read one at a time, normalised
// (`DatasetOptions.intensity`, z-score by default) and, with a target spacing, resampled to it
// (TargetSpacing.swift), or with a D × H × W image size, resized to it (the image linearly or by
// area averaging, the label map by nearest neighbour, as `NIfTIFolderSource` always has). Either
// way each case keeps its stored grid, on which `eval` scores it. Opening checks every case once
// (one in memory at a time): channel files that agree, a label map of the image's extents, labels
// against the class count, a resampled size that fits in memory; so bad data fails before
// training, naming the file. dataset.json beside the folders names the classes (ClassNames).
// `NIfTIFolderSource` serves these cases at one size; `PatchSource` cuts patches from them.

import Foundation

/// DIR/imagesTr + DIR/labelsTr of NIfTI volumes of any sizes, read on demand (see the file header).
public struct NIfTICaseFolder: CaseSource {
    /// The cases, in sorted name order.
    public let cases: [NIfTICase]
    /// The loader options (the intensity normalisation resolved).
    public let options: DatasetOptions
    /// The channel count: channel files per case, or the fourth extent of a 4-D file.
    public let channels: Int
    /// The class count: the given one, else the largest label other than the ignore index, + 1.
    public let classes: Int
    /// The label of unlabelled voxels, or nil.
    public var ignoreIndex: Int? { options.ignoreIndex }
    /// Each case's extents [D, H, W] and spacing [dz, dy, dx] as stored.
    public let native: [(extents: [Int], spacing: [Double])]
    /// The spacing every case is resampled to (`options.targetSpacing` resolved), or nil.
    public var targetSpacing: [Double]? {
        if case .spacing(let values) = options.targetSpacing { return values }
        return nil
    }
    /// Each case's extents as `readCase` returns it (resampled to the target spacing, or the
    /// image size).
    private let resampled: [[Int]]
    private let range: LabelRange

    /// The number of cases.
    public var count: Int { cases.count }
    /// 3: volumes.
    public var spatialRank: Int { 3 }

    /// Lists the cases of `directory` and checks every one (see the file header).
    ///
    /// - Throws: `DiceKitError.file` when the layout is not found or a label map is missing;
    ///   `DiceKitError.option` for a 2-D image size, a resize mode other than stretch, or both an
    ///   image size and a target spacing; `DiceKitError.shape` naming the file for a label map
    ///   that does not fit its image or channel counts that differ; `DiceKitError.value` for labels
    ///   out of range or a case that its target spacing makes larger than `NIfTI.maximumVoxels`;
    ///   the reader's `NIfTIError`s.
    public init(directory: String, options: DatasetOptions = DatasetOptions()) throws {
        guard let layout = NIfTICases.layout(of: directory) else {
            throw DiceKitError.file(
                path: directory,
                reason: "expected imagesTr/ + labelsTr/ (or images/ + masks/, imagesTs/ + labelsTs/) with NIfTI files")
        }
        try NIfTICases.checkOptions(options, path: directory)
        let cases = try NIfTICases.list(images: layout.images, labels: layout.labels)
        if let missing = cases.first(where: { $0.labels == nil }) {
            throw DiceKitError.file(
                path: layout.labels,
                reason: "missing label map for case \(missing.name) (expected \(missing.name).nii.gz)")
        }
        var resolved = options
        resolved.masks = .classIndices
        resolved.intensity = options.intensity ?? .zscore
        let ignore = try SegmentationGeometry.ignoreLabel(options.ignoreIndex)
        var survey = LabelSurvey(ignore: ignore)
        var native = [(extents: [Int], spacing: [Double])]()
        var channels: Int?
        for item in cases {
            let (image, labels) = try Self.read(item, channels: channels)
            channels = image.channels
            native.append((image.extents, image.spacing))
            survey.add(labels.labels)
        }
        if options.targetSpacing == .median {
            resolved.targetSpacing = .spacing(TargetSpacing.median(of: native.map(\.spacing)))
        }
        var resampled = native.map(\.extents)
        if let size = options.imageSize?.extents { resampled = native.map { _ in size } }
        if case .spacing(let target) = resolved.targetSpacing {
            resampled = native.map { TargetSpacing.extents($0.extents, spacing: $0.spacing, target: target) }
            let limit = NIfTI.maximumVoxels / channels!
            if let large = resampled.firstIndex(where: { $0.reduce(1) { min($0 * $1, Int(Int32.max)) } > limit }) {
                throw DiceKitError.value(
                    "\(cases[large].images[0]): spacing \(native[large].spacing) resampled to \(target) makes \(resampled[large]) voxels; expected at most \(limit) (give a coarser target spacing)"
                )
            }
        }
        self.cases = cases
        self.options = resolved
        self.native = native
        self.resampled = resampled
        self.channels = channels!
        self.range = try survey.range(classes: options.classes, path: layout.labels)
        self.classes = range.classes
    }

    /// Case `index`'s extents as `readCase` returns it: as stored, resampled to the target
    /// spacing, or the image size.
    public func extents(ofCase index: Int) -> [Int] { resampled[index] }

    /// Case `index`'s spacing [dz, dy, dx] as `readCase` returns it: from its header, or, resampled,
    /// the stored size over the new extents (the target spacing up to the rounding of the extents).
    public func spacing(ofCase index: Int) -> [Double]? {
        let (extents, spacing) = native[index]
        guard resampled[index] != extents else { return spacing }
        return (0..<3).map { spacing[$0] * Double(extents[$0]) / Double(resampled[index][$0]) }
    }

    /// Case `index`'s extents and spacing as stored, when it is read resampled or resized; else nil.
    public func storedGrid(ofCase index: Int) -> (extents: [Int], spacing: [Double])? {
        resampled[index] == native[index].extents ? nil : native[index]
    }

    /// Case `index`'s label map as stored (checked as when the folder was opened).
    ///
    /// - Throws: the reader's errors; `DiceKitError.shape` / `.value` naming the file when it no
    ///   longer fits the data set.
    public func readStoredLabels(_ index: Int) throws -> [Int32] {
        precondition(index >= 0 && index < count, "NIfTICaseFolder: case \(index) out of 0..<\(count)")
        let path = cases[index].labels!
        let map = try NIfTI.readLabels(contentsOf: path)
        guard map.extents == native[index].extents else {
            throw DiceKitError.shape(
                "\(path): extents \(map.extents); expected \(native[index].extents) as when the data set was opened")
        }
        try range.check(map.labels, context: path)
        return map.labels
    }

    /// Case `index` read, normalised and (with a target spacing) resampled now: the image
    /// linearly or by area averaging, the label map class by class (`resizeLabelsByClass`); with
    /// an image size, resized to it: the image likewise, the label map by nearest neighbour.
    ///
    /// - Throws: the reader's errors; `DiceKitError.shape` / `.value` naming the file when it no
    ///   longer fits the data set.
    public func readCase(_ index: Int) throws -> SegmentationSample {
        precondition(index >= 0 && index < count, "NIfTICaseFolder: case \(index) out of 0..<\(count)")
        let item = cases[index]
        let (image, map) = try Self.read(item, channels: channels)
        guard image.extents == native[index].extents else {
            throw DiceKitError.shape(
                "\(item.images[0]): extents \(image.extents); expected \(native[index].extents) as when the data set was opened"
            )
        }
        try range.check(map.labels, context: item.labels!)
        var values = image.values
        options.intensity!.apply(to: &values, channels: channels)
        let (stored, target) = (native[index].extents, resampled[index])
        return SegmentationSample(
            image: VolumeResampling.resize(values, extents: stored, channels: channels, to: target),
            labels: options.imageSize == nil
                ? VolumeResampling.resizeLabelsByClass(map.labels, extents: stored, to: target)
                : VolumeResampling.resizeLabels(map.labels, extents: stored, to: target))
    }

    /// A case's image and label map, checked against each other (and `channels` when known).
    private static func read(_ item: NIfTICase, channels: Int?) throws -> (NIfTIVolume, NIfTILabelMap) {
        let (image, labels) = try NIfTICases.read(item)
        if let channels, image.channels != channels {
            throw DiceKitError.shape(
                "\(item.images[0]): \(image.channels) channel(s); expected \(channels) like the other cases")
        }
        return (image, labels!)
    }
}
