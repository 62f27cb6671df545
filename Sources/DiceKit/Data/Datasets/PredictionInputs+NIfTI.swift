// NIfTI volumes as prediction inputs. A path names NIfTI cases when it is a NIfTI file, or a
// folder holding imagesTs/, imagesTr/ or images/ with NIfTI files, or NIfTI files itself. Cases
// are grouped as in training (NIfTICases.swift); the ground truth is the label map of the same
// case in labelsTs/, labelsTr/ or masks/ beside the images folder, where there is one.
//
// Each volume is normalised as in training (`DatasetOptions.intensity`) and, with a D,H,W image
// size or a target spacing, resized to it; the item keeps the volume's own grid (`NIfTIGrid`), so
// that its scores are mapped back (`Item.scoresOnGrid`) before they are scored against the ground
// truth and written as CASE.nii.gz with the file's spacing and orientation.

import Foundation

/// The grid a NIfTI input came on: its extents and the file whose geometry its outputs take.
public struct NIfTIGrid: Sendable, Equatable {
    /// [D, H, W] as stored.
    public let extents: [Int]
    /// [dz, dy, dx] as stored.
    public let spacing: [Double]
    /// The image file (the first channel's) whose spacing, qform and sform the outputs copy.
    public let reference: String
}

extension PredictionInputs {
    /// The folders that hold images and their ground truth, in the order they are looked for.
    private static let niftiFolders = [("imagesTs", "labelsTs"), ("imagesTr", "labelsTr"), ("images", "masks")]

    /// Whether `path` names NIfTI volumes (a NIfTI file, or a folder of them as described above).
    public static func namesNIfTI(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return false }
        return ((try? niftiCases(path, isDirectory: isDirectory.boolValue)) ?? nil) != nil
    }

    /// The NIfTI cases `path` names, or nil when it names no NIfTI input.
    ///
    /// - Throws: as `NIfTICases.list(images:labels:)`.
    static func niftiCases(_ path: String, isDirectory: Bool) throws -> [NIfTICase]? {
        let fm = FileManager.default
        let base = URL(fileURLWithPath: path)
        if !isDirectory {
            guard NIfTI.isNIfTI(path) else { return nil }
            let folder = base.deletingLastPathComponent()
            let labels = niftiFolders.first { $0.0 == folder.lastPathComponent }.map {
                folder.deletingLastPathComponent().appendingPathComponent($0.1).path
            }
            let all = try NIfTICases.list(images: folder.path, labels: labels)
            let file = base.standardizedFileURL.path
            return all.filter { item in
                item.images.contains { URL(fileURLWithPath: $0).standardizedFileURL.path == file }
            }
        }
        for (images, labels) in niftiFolders {
            let folder = base.appendingPathComponent(images).path
            if (try? NIfTICases.files(in: folder))?.isEmpty == false {
                let truth = base.appendingPathComponent(labels).path
                return try NIfTICases.list(images: folder, labels: fm.fileExists(atPath: truth) ? truth : nil)
            }
        }
        if (try? NIfTICases.files(in: path))?.isEmpty == false { return try NIfTICases.list(images: path, labels: nil) }
        return nil
    }

    /// One NIfTI case: normalised, resized to the image size (if any), with its ground truth on its own grid.
    static func readNIfTI(_ item: NIfTICase, options: DatasetOptions) throws -> Item {
        let (volume, map) = try NIfTICases.read(item)
        var values = volume.values
        (options.intensity ?? .zscore).apply(to: &values, channels: volume.channels)
        let extents = try options.imageSize?.extents ?? resampledExtents(volume, options: options, path: item.images[0])
        values = VolumeResampling.resize(values, extents: volume.extents, channels: volume.channels, to: extents)
        if let map, let path = item.labels {
            var survey = LabelSurvey(ignore: try options.ignoreLabel(encoding: .classIndices))
            survey.add(map.labels)
            try survey.refuseBinaryMasksReadAsIndices(
                path: path, binaryHint: "a 0/255 label map; expected class indices")
        }
        return Item(
            name: item.name, source: item.images[0],
            image: try Tensor(shape: extents + [volume.channels], scalars: values),
            labels: map?.labels,
            grid: NIfTIGrid(extents: volume.extents, spacing: volume.spacing, reference: item.images[0])
        )
    }

    /// The extents of `volume` at `options.targetSpacing`, or as stored without one.
    ///
    /// - Throws: `DiceKitError.option` for `.median` (a training data set's statistic);
    ///   `DiceKitError.value` when the resampled volume would exceed `NIfTI.maximumVoxels`.
    private static func resampledExtents(_ volume: NIfTIVolume, options: DatasetOptions, path: String) throws -> [Int] {
        switch options.targetSpacing {
        case nil: return volume.extents
        case .median:
            throw DiceKitError.option(
                "\(path): target spacing median is the training cases' median; expected DZ,DY,DX (the checkpoint's, which predict takes when none is given)"
            )
        case .spacing(let target):
            let extents = TargetSpacing.extents(volume.extents, spacing: volume.spacing, target: target)
            let limit = NIfTI.maximumVoxels / volume.channels
            guard extents.reduce(1, { min($0 * $1, Int(Int32.max)) }) <= limit else {
                throw DiceKitError.value(
                    "\(path): spacing \(volume.spacing) resampled to \(target) makes \(extents) voxels; expected at most \(limit) (give a coarser target spacing)"
                )
            }
            return extents
        }
    }
}
