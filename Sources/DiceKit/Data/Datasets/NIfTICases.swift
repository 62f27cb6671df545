// The cases of a folder of NIfTI volumes, in the layouts of nnU-Net v2 and of the Medical
// Segmentation Decathlon:
//   DIR/imagesTr/CASE_0000.nii.gz, CASE_0001.nii.gz, …   one file per channel (nnU-Net)
//   DIR/imagesTr/CASE.nii.gz                                one file, 3-D or 4-D (x, y, z, channel) (MSD)
//   DIR/labelsTr/CASE.nii.gz                                the label map of CASE
// (DIR/images/ + DIR/masks/ and DIR/imagesTs/ + DIR/labelsTs/ with NIfTI files work alike.) A stem ending in _ and four digits is
// a channel file unless a label map carries the whole stem. Names starting with "." (macOS's
// "._CASE.nii.gz" forks in the Decathlon's archives) are skipped.

import Foundation

/// One case of a NIfTI data set.
public struct NIfTICase: Sendable, Equatable {
    /// The case's name (the output's stem).
    public let name: String
    /// Its image files in channel order: one per channel, or one (3-D or 4-D) file.
    public let images: [String]
    /// Its label map, or nil.
    public let labels: String?
}

enum NIfTICases {
    /// (images folder, labels folder) when `directory` holds imagesTr/ (labelsTr/), images/
    /// (masks/) or imagesTs/ (labelsTs/) with NIfTI files in it, looked for in that order, else nil.
    static func layout(of directory: String) -> (images: String, labels: String)? {
        let base = URL(fileURLWithPath: directory)
        for (images, labels) in [("imagesTr", "labelsTr"), ("images", "masks"), ("imagesTs", "labelsTs")] {
            let folder = base.appendingPathComponent(images).path
            if (try? files(in: folder))?.isEmpty == false {
                return (folder, base.appendingPathComponent(labels).path)
            }
        }
        return nil
    }

    /// Refuses the loader options that do not apply to volumes: a 2-D image size, a resize mode
    /// other than stretch, an image size with a target spacing, a mask encoding other than class
    /// indices.
    ///
    /// - Throws: `DiceKitError.option` naming `path` and what was expected.
    static func checkOptions(_ options: DatasetOptions, path: String) throws {
        if let size = options.imageSize, size.depth == nil {
            throw DiceKitError.option("\(path): NIfTI volumes need a 3-D image size D,H,W; got \(size)")
        }
        if options.imageSize != nil, options.resize != .stretch {
            throw DiceKitError.option(
                "\(path): volumes are resized by stretching; resize mode \(options.resize.rawValue) applies to pictures"
            )
        }
        if let size = options.imageSize, let spacing = options.targetSpacing {
            throw DiceKitError.option(
                "\(path): image size \(size) and target spacing \(spacing) both set the volumes' extents; expected one of them"
            )
        }
        if options.masks != nil, options.masks != .classIndices {
            throw DiceKitError.option(
                "\(path): NIfTI label maps hold class indices; leave out the mask encoding or give index")
        }
    }

    /// The NIfTI files of a folder, sorted, hidden ones left out.
    static func files(in folder: String) throws -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else {
            throw DiceKitError.file(path: folder, reason: "cannot be listed")
        }
        return names.filter { !$0.hasPrefix(".") && NIfTI.isNIfTI($0) }.sorted()
    }

    /// The cases of `images` (with their label maps from `labels`, where present).
    ///
    /// - Throws: `DiceKitError.file` naming the folder when it holds no NIfTI file, or a case
    ///   whose channel files have a gap (CASE_0000, CASE_0002) or that has both forms.
    static func list(images: String, labels: String?) throws -> [NIfTICase] {
        let names = try files(in: images)
        guard !names.isEmpty else {
            throw DiceKitError.file(path: images, reason: "no NIfTI files (expected CASE_0000.nii.gz or CASE.nii.gz)")
        }
        let labelFiles =
            labels.map { folder in
                Dictionary(
                    ((try? files(in: folder)) ?? []).map {
                        (NIfTI.stem($0), (folder as NSString).appendingPathComponent($0))
                    },
                    uniquingKeysWith: { first, _ in first })
            } ?? [:]
        var channelsOf = [String: [Int: String]]()
        var order = [String]()
        for name in names {
            let stem = NIfTI.stem(name)
            var key = stem
            var channel = 0
            if labelFiles[stem] == nil, let split = channelSuffix(stem) { (key, channel) = split }
            if channelsOf[key] == nil { order.append(key) }
            if channelsOf[key]?[channel] != nil {
                throw DiceKitError.file(
                    path: (images as NSString).appendingPathComponent(name),
                    reason: "a second image file for channel \(channel) of case \(key)")
            }
            channelsOf[key, default: [:]][channel] = (images as NSString).appendingPathComponent(name)
        }
        return try order.map { key in
            let files = channelsOf[key]!
            guard files.keys.sorted() == Array(0..<files.count) else {
                throw DiceKitError.file(
                    path: images,
                    reason:
                        "case \(key) has channel files \(files.keys.sorted().map { "_" + fourDigits($0) }.joined(separator: ", ")); expected _0000 … _\(fourDigits(files.count - 1)) without gaps"
                )
            }
            return NIfTICase(name: key, images: (0..<files.count).map { files[$0]! }, labels: labelFiles[key])
        }
    }

    /// (case, channel) when `stem` ends in "_" and four digits.
    private static func channelSuffix(_ stem: String) -> (String, Int)? {
        let characters = Array(stem)
        guard characters.count > 5, characters[characters.count - 5] == "_",
            characters.suffix(4).allSatisfy({ $0.isASCII && $0.isNumber }),
            let channel = Int(String(characters.suffix(4)))
        else { return nil }
        return (String(characters.prefix(characters.count - 5)), channel)
    }

    private static func fourDigits(_ n: Int) -> String {
        String(repeating: "0", count: max(0, 4 - String(n).count)) + String(n)
    }

    /// A case's image and, when it has one, its label map, checked to have the image's extents.
    ///
    /// - Throws: as `readImage(_:)`; `DiceKitError.shape` naming the label map when its extents differ.
    static func read(_ item: NIfTICase) throws -> (image: NIfTIVolume, labels: NIfTILabelMap?) {
        let image = try readImage(item)
        guard let path = item.labels else { return (image, nil) }
        let labels = try NIfTI.readLabels(contentsOf: path)
        guard labels.extents == image.extents else {
            throw DiceKitError.shape(
                "\(path): extents \(labels.extents); expected \(image.extents) like its image \((item.images[0] as NSString).lastPathComponent)"
            )
        }
        return (image, labels)
    }

    /// The image of one case: its channel files read and stacked channels-last.
    ///
    /// - Throws: the reader's errors; `DiceKitError.shape` naming the file when channel files
    ///   differ in extents or a channel file is itself 4-D.
    static func readImage(_ item: NIfTICase) throws -> NIfTIVolume {
        let first = try NIfTI.read(contentsOf: item.images[0])
        guard item.images.count > 1 else { return first }
        var values = [Float](repeating: 0, count: first.positions * item.images.count)
        for (k, path) in item.images.enumerated() {
            let volume = k == 0 ? first : try NIfTI.read(contentsOf: path)
            guard volume.extents == first.extents, volume.channels == 1 else {
                throw DiceKitError.shape(
                    "\(path): extents \(volume.extents) × \(volume.channels) channel(s); expected \(first.extents) × 1 like \((item.images[0] as NSString).lastPathComponent)"
                )
            }
            for p in 0..<first.positions { values[p * item.images.count + k] = volume.values[p] }
        }
        return NIfTIVolume(extents: first.extents, channels: item.images.count, spacing: first.spacing, values: values)
    }
}
