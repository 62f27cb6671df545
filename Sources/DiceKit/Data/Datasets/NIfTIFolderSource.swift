// A folder of NIfTI volumes (`NIfTICaseFolder`) as samples of one size: each case is read,
// normalised, and resampled to the target spacing or resized to the image size
// (`DatasetOptions.imageSize` D × H × W: linear/area for the image, nearest for the labels) by the
// case folder. Without an image size every case must have the same extents (after resampling).

/// DIR/imagesTr + DIR/labelsTr of NIfTI volumes, read on demand at one size (see the file header).
public struct NIfTIFolderSource: SegmentationSource {
    /// The cases at their own sizes.
    public let folder: NIfTICaseFolder
    /// [D, H, W] of every sample (after resizing).
    public let spatialShape: [Int]

    /// The cases, in sorted name order.
    public var cases: [NIfTICase] { folder.cases }
    /// The loader options (the intensity normalisation resolved).
    public var options: DatasetOptions { folder.options }
    /// The channel count.
    public var channels: Int { folder.channels }
    /// The class count.
    public var classes: Int { folder.classes }
    /// The label of unlabelled voxels, or nil.
    public var ignoreIndex: Int? { folder.ignoreIndex }
    /// Each case's extents and spacing [dz, dy, dx] as stored (before resizing).
    public var native: [(extents: [Int], spacing: [Double])] { folder.native }
    /// The number of cases.
    public var count: Int { folder.count }

    /// Lists the cases of `directory` and checks every one (`NIfTICaseFolder`).
    ///
    /// - Throws: as `NIfTICaseFolder.init(directory:options:)`; `DiceKitError.shape` naming the
    ///   file of the first case whose extents differ from the first case's, without an image size.
    public init(directory: String, options: DatasetOptions = DatasetOptions()) throws {
        let folder = try NIfTICaseFolder(directory: directory, options: options)
        let first = folder.extents(ofCase: 0)
        let resampled = folder.targetSpacing == nil ? "" : " at the target spacing"
        if options.imageSize == nil,
            let other = (0..<folder.count).first(where: { folder.extents(ofCase: $0) != first })
        {
            throw DiceKitError.shape(
                "\(folder.cases[other].images[0]): extents \(folder.extents(ofCase: other))\(resampled); expected \(first) like case \(folder.cases[0].name) (\(resampled.isEmpty ? "give a size to resize on load, e.g. dicekit train --image-size D,H,W, or " : "")train on patches with --patch-size D,H,W; eval scores whole cases with --tile)"
            )
        }
        self.folder = folder
        self.spatialShape = options.imageSize?.extents ?? first
    }

    /// Sample `index`: read, normalised and resized now (`NIfTICaseFolder.readCase(_:)`).
    ///
    /// - Throws: as `NIfTICaseFolder.readCase(_:)`.
    public func sample(at index: Int) throws -> SegmentationSample { try folder.readCase(index) }
}
