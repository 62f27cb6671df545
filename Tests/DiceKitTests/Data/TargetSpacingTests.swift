// Resampling NIfTI volumes to a target spacing: parsing, the extents rule and the median; a
// folder of cases at two spacings read at one (the image as `VolumeResampling` resizes it, the
// labels by nearest neighbour, the stored grid kept for evaluation); a prediction input resampled
// and mapped back; whole-case evaluation scored on the stored grid; and the misuses refused.

import Foundation
import XCTest

@testable import DiceKit

final class TargetSpacingTests: XCTestCase {
    func testParsingTheExtentsRuleAndTheMedian() throws {
        XCTAssertEqual(try TargetSpacing(parsing: "1.5"), .spacing([1.5, 1.5, 1.5]))
        XCTAssertEqual(try TargetSpacing(parsing: "3, 0.8,0.8"), .spacing([3, 0.8, 0.8]))
        XCTAssertEqual(try TargetSpacing(parsing: "median"), .median)
        XCTAssertEqual(
            try TargetSpacing(parsing: TargetSpacing.spacing([3, 0.7, 0.7]).description), .spacing([3, 0.7, 0.7]))
        for bad in ["0", "-1", "nan", "inf", "1,2", "1,2,3,4", "", "abc", "0.0001", "1e5", "1,,2"] {
            XCTAssertThrowsError(try TargetSpacing(parsing: bad), bad) { error in
                XCTAssertTrue("\(error)".contains("expected DZ,DY,DX"), "\(error)")
            }
        }
        XCTAssertEqual(TargetSpacing.extents([10, 20, 30], spacing: [2, 0.5, 1], target: [1, 1, 1]), [20, 10, 30])
        XCTAssertEqual(TargetSpacing.extents([10, 20, 30], spacing: [1, 1, 1], target: [3, 1, 100]), [3, 20, 1])
        XCTAssertEqual(TargetSpacing.extents([5, 5, 5], spacing: [1, 1, 1], target: [2, 2, 2]), [3, 3, 3])
        XCTAssertEqual(TargetSpacing.median(of: [[3, 1, 1], [1, 0.5, 0.5], [2, 2, 0.7]]), [2, 1, 0.7])
        XCTAssertEqual(TargetSpacing.median(of: [[3, 1, 1], [1, 0.5, 0.5]]), [2, 0.75, 0.75])
    }

    /// imagesTr/labelsTr with case a [4, 6, 8] at 2 × 1 × 1 mm and case b [8, 6, 5] at 1 × 1 × 2 mm.
    private func makeFolder(_ directory: URL) throws -> [(extents: [Int], spacing: [Double], labels: [Int32])] {
        for sub in ["imagesTr", "labelsTr"] {
            try FileManager.default.createDirectory(
                at: directory.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        let cases: [(String, [Int], [Double])] = [("a", [4, 6, 8], [2, 1, 1]), ("b", [8, 6, 5], [1, 1, 2])]
        var written = [(extents: [Int], spacing: [Double], labels: [Int32])]()
        for (name, extents, spacing) in cases {
            let n = extents.reduce(1, *)
            let values = (0..<n).map { Float(($0 * 37) % 101) + 50 }
            let labels = (0..<n).map { Int32(($0 * 13) % 5 == 0 ? 1 : 0) }
            let image = directory.appendingPathComponent("imagesTr/\(name)_0000.nii.gz").path
            try NIfTI.write(values, extents: extents, channels: 1, to: image, geometryOf: nil, spacing: spacing)
            try NIfTI.writeLabels(
                labels, extents: extents, to: directory.appendingPathComponent("labelsTr/\(name).nii.gz").path,
                geometryOf: image)
            written.append((extents, spacing, labels))
        }
        return written
    }

    func testAFolderOfTwoSpacingsIsReadAtTheTargetSpacingAndKeepsItsStoredGrid() throws {
        let directory = try temporaryDirectory(self)
        let stored = try makeFolder(directory)
        let plain = try NIfTICaseFolder(directory: directory.path)
        let folder = try NIfTICaseFolder(
            directory: directory.path, options: DatasetOptions(targetSpacing: .spacing([1, 1, 1])))
        XCTAssertEqual(folder.targetSpacing, [1, 1, 1])
        XCTAssertEqual(folder.extents(ofCase: 0), [8, 6, 8])
        XCTAssertEqual(folder.extents(ofCase: 1), [8, 6, 10])
        XCTAssertEqual(folder.spacing(ofCase: 0), [1, 1, 1])
        for index in 0..<2 {
            let grid = try XCTUnwrap(folder.storedGrid(ofCase: index))
            XCTAssertEqual(grid.extents, stored[index].extents)
            XCTAssertEqual(grid.spacing, stored[index].spacing)
            XCTAssertEqual(try folder.readStoredLabels(index), stored[index].labels)
            // Normalised as stored, then resampled: the image linearly, the labels by nearest neighbour.
            let original = try plain.readCase(index)
            let read = try folder.readCase(index)
            let target = folder.extents(ofCase: index)
            XCTAssertEqual(
                read.image, VolumeResampling.resize(original.image, extents: grid.extents, channels: 1, to: target))
            XCTAssertEqual(
                read.labels, VolumeResampling.resizeLabelsByClass(original.labels, extents: grid.extents, to: target))
        }
        // Case a doubles its slices: slices 2z and 2z + 1 lie a quarter slice from slice z, whose
        // labels weigh 3/4 in both.
        let labels = try folder.readCase(0).labels
        XCTAssertEqual(Array(labels[0..<48]), Array(stored[0].labels[0..<48]))
        XCTAssertEqual(Array(labels[48..<96]), Array(stored[0].labels[0..<48]))

        // The median of 2 and 1 (slices) and of 1 and 2 (columns): 1.5 mm, resolved on opening.
        let median = try NIfTICaseFolder(directory: directory.path, options: DatasetOptions(targetSpacing: .median))
        XCTAssertEqual(median.targetSpacing, [1.5, 1, 1.5])
        XCTAssertEqual(median.options.targetSpacing, .spacing([1.5, 1, 1.5]))
        XCTAssertEqual(median.extents(ofCase: 0), [5, 6, 5])
        XCTAssertEqual(median.extents(ofCase: 1), [5, 6, 7])
        assertClose(median.spacing(ofCase: 0)!, [1.6, 1, 1.6], relativeTolerance: 0, absoluteTolerance: 1e-12)
        // A spacing the case already has reads it as stored.
        let same = try NIfTICaseFolder(
            directory: directory.path, options: DatasetOptions(targetSpacing: .spacing([2, 1, 1])))
        XCTAssertNil(same.storedGrid(ofCase: 0))
        XCTAssertNotNil(same.storedGrid(ofCase: 1))
        // A subset forwards the stored grid.
        let subset = try CaseSubset(folder, indices: [1])
        XCTAssertEqual(subset.storedGrid(ofCase: 0)?.extents, [8, 6, 5])
        XCTAssertEqual(try subset.readStoredLabels(0), stored[1].labels)
    }

    func testLabelMapsAreResampledClassByClass() throws {
        // A one-voxel-thick plane of label 2 at x = 1 of [1, 1, 4], halved along x: the pair
        // (x 0, x 1) averages to 1/2 background and 1/2 label 2 (the smaller value wins the tie),
        // (x 2, x 3) to label 1 entirely. Nearest neighbour would keep x 0 and x 2 only.
        XCTAssertEqual(
            VolumeResampling.resizeLabelsByClass([0, 2, 1, 1], extents: [1, 1, 4], to: [1, 1, 2]), [0, 1])
        XCTAssertEqual(
            VolumeResampling.resizeLabelsByClass([2, 2, 0, 1], extents: [1, 1, 4], to: [1, 1, 2]), [2, 0])
        // Three voxels onto two: output 0 covers x 0 and half of x 1 (2/3 and 1/3 of its weight),
        // output 1 the other half of x 1 and x 2.
        XCTAssertEqual(VolumeResampling.resizeLabelsByClass([3, 0, 0], extents: [1, 1, 3], to: [1, 1, 2]), [3, 0])
        XCTAssertEqual(VolumeResampling.resizeLabelsByClass([0, 3, 0], extents: [1, 1, 3], to: [1, 1, 2]), [0, 0])
        XCTAssertEqual(VolumeResampling.resizeLabelsByClass([3, 3, 0], extents: [1, 1, 3], to: [1, 1, 2]), [3, 0])
        // Doubling one axis weighs the nearer voxel 3/4: nearest neighbour's labels. (Along three
        // axes at once, the nearest voxel weighs 27/64 and three neighbours of one value can
        // outweigh it.)
        let labels: [Int32] = [0, 1, 1, 255, 0, 2, 2, 1]
        XCTAssertEqual(
            VolumeResampling.resizeLabelsByClass(labels, extents: [2, 2, 2], to: [2, 2, 4]),
            VolumeResampling.resizeLabels(labels, extents: [2, 2, 2], to: [2, 2, 4]))
        XCTAssertNotEqual(
            VolumeResampling.resizeLabelsByClass(labels, extents: [2, 2, 2], to: [4, 4, 4]),
            VolumeResampling.resizeLabels(labels, extents: [2, 2, 2], to: [4, 4, 4]))
        // One value fills the output.
        XCTAssertEqual(
            VolumeResampling.resizeLabelsByClass([7, 7], extents: [1, 1, 2], to: [2, 1, 3]), [7, 7, 7, 7, 7, 7])
    }

    func testMisusesAreRefusedWithWhatWasExpected() throws {
        let directory = try temporaryDirectory(self)
        _ = try makeFolder(directory)
        let both = DatasetOptions(imageSize: try ImageSize(parsing: "8,8,8"), targetSpacing: .spacing([1, 1, 1]))
        XCTAssertThrowsError(try NIfTICaseFolder(directory: directory.path, options: both)) { error in
            XCTAssertTrue("\(error)".contains("expected one of them"), "\(error)")
        }
        XCTAssertThrowsError(
            try NIfTICaseFolder(
                directory: directory.path, options: DatasetOptions(targetSpacing: .spacing([1e-3, 1e-3, 1e-3])))
        ) { error in
            XCTAssertTrue(
                "\(error)".contains("a_0000.nii.gz") && "\(error)".contains("coarser target spacing"), "\(error)")
        }
        // Mixed resampled extents without patches: named, with the way out.
        XCTAssertThrowsError(
            try NIfTIFolderSource(
                directory: directory.path, options: DatasetOptions(targetSpacing: .spacing([1, 1, 1])))
        ) { error in
            XCTAssertTrue(
                "\(error)".contains("at the target spacing") && "\(error)".contains("--patch-size"), "\(error)")
        }
        // Sources without voxel sizes refuse it.
        XCTAssertThrowsError(
            try SegmentationDataset.refuseNIfTIOptions(
                DatasetOptions(targetSpacing: .spacing([1, 1, 1])), path: "images.npy")
        ) { error in
            XCTAssertTrue("\(error)".contains("applies to NIfTI volumes"), "\(error)")
        }
        // Prediction inputs take a spacing, not the training cases' median.
        XCTAssertThrowsError(
            try PredictionInputs.load(
                from: directory.path, options: DatasetOptions(targetSpacing: .median), spatialRank: 3
            ).item(0, channels: 1)
        ) { error in
            XCTAssertTrue("\(error)".contains("median"), "\(error)")
        }
    }

    func testPredictionInputsAreResampledAndTheirScoresMappedBack() throws {
        let directory = try temporaryDirectory(self)
        let stored = try makeFolder(directory)
        let inputs = try PredictionInputs.load(
            from: directory.path, options: DatasetOptions(targetSpacing: .spacing([1, 1, 1])), spatialRank: 3)
        let item = try inputs.item(0, channels: 1)
        XCTAssertEqual(item.image.shape, [8, 6, 8, 1])
        XCTAssertEqual(item.grid?.extents, stored[0].extents)
        let scores = try Tensor(shape: [8, 6, 8, 2], scalars: (0..<768).map { Float($0 % 2) })
        XCTAssertEqual(try item.scoresOnGrid(scores).shape, [4, 6, 8, 2])
    }

    func testWholeCaseEvaluationScoresResampledCasesOnTheirStoredGrid() throws {
        let directory = try temporaryDirectory(self)
        let stored = try makeFolder(directory)
        let folder = try NIfTICaseFolder(
            directory: directory.path, options: DatasetOptions(targetSpacing: .spacing([1, 1, 1])))
        var architecture = UNetConfiguration(inputChannels: 1, classes: 2, baseWidth: 4, depth: 1)
        architecture.spatialRank = 3
        let trainer = try Trainer(model: try UNet<Float>(architecture, seed: 3), configuration: TrainingConfiguration())
        var seen = [(predicted: [Int], target: [Int], labels: [Int32])]()
        let scores = try trainer.evaluate(cases: folder, settings: InferenceSettings()) { predicted, target in
            seen.append((predicted.shape, target.shape, target.labels.map { Int32($0) }))
        }
        XCTAssertEqual(seen.count, 2)
        for index in 0..<2 {
            XCTAssertEqual(seen[index].predicted, [1] + stored[index].extents)
            XCTAssertEqual(seen[index].target, [1] + stored[index].extents)
            XCTAssertEqual(seen[index].labels, stored[index].labels)
        }
        XCTAssertTrue(scores.loss.isFinite)
    }
}
