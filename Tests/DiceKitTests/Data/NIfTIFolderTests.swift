// NIfTI data sets: nnU-Net's layout (a file per channel) and the Decathlon's (4-D files, "._"
// forks), dataset.json class names, z-score and window normalisation, resizing volumes of mixed
// sizes, and the one-line errors for what does not fit (a missing label map, a gap in the
// channel files, other extents, regions in dataset.json).

import Foundation
import XCTest

@testable import DiceKit

final class NIfTIFolderTests: XCTestCase {
    /// A [D, H, W] ramp volume of `channels` channels whose value tells its voxel and channel.
    private func ramp(_ extents: [Int], channels: Int = 1, scale: Float = 1) -> [Float] {
        (0..<(extents.reduce(channels, *))).map { Float($0) * scale + 100 }
    }

    private func labels(_ extents: [Int]) -> [Int32] { (0..<extents.reduce(1, *)).map { Int32($0 % 7 == 0 ? 1 : 0) } }

    /// nnU-Net's layout: CASE_0000, CASE_0001 per case and labelsTr/CASE.
    private func makeNNUNet(_ directory: URL, cases: [String: [Int]], channels: Int) throws {
        for sub in ["imagesTr", "labelsTr"] {
            try FileManager.default.createDirectory(
                at: directory.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        for (name, extents) in cases {
            for c in 0..<channels {
                try NIfTI.write(
                    ramp(extents, scale: Float(c + 1)), extents: extents, channels: 1,
                    to: directory.appendingPathComponent("imagesTr/\(name)_000\(c).nii.gz").path, geometryOf: nil,
                    spacing: [3, 1, 0.5])
            }
            try NIfTI.writeLabels(
                labels(extents), extents: extents, to: directory.appendingPathComponent("labelsTr/\(name).nii.gz").path,
                geometryOf: nil)
        }
    }

    func testNNUNetLayoutReadsEveryChannelZScored() throws {
        let directory = try temporaryDirectory(self)
        try makeNNUNet(directory, cases: ["a": [4, 6, 8], "b": [4, 6, 8]], channels: 2)
        let dataset = try String(
            data: JSONSerialization.data(withJSONObject: ["labels": ["background": 0, "tumour": 1]]), encoding: .utf8)!
        try dataset.write(to: directory.appendingPathComponent("dataset.json"), atomically: true, encoding: .utf8)
        let source = try NIfTIFolderSource(directory: directory.path)
        XCTAssertEqual(source.cases.map(\.name), ["a", "b"])
        XCTAssertEqual(source.spatialShape, [4, 6, 8])
        XCTAssertEqual([source.channels, source.classes], [2, 2])
        XCTAssertEqual(source.native[0].spacing, [3, 1, 0.5])
        let sample = try source.sample(at: 1)
        XCTAssertEqual(sample.labels, labels([4, 6, 8]))
        for c in 0..<2 {
            let channel = stride(from: c, to: sample.image.count, by: 2).map { Double(sample.image[$0]) }
            let mean = channel.reduce(0, +) / Double(channel.count)
            let variance = channel.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(channel.count)
            XCTAssertEqual(mean, 0, accuracy: 1e-5)
            XCTAssertEqual(variance, 1, accuracy: 1e-4)
        }
        XCTAssertEqual(try ClassNames.load(besides: directory.path), ["background", "tumour"])
        let loaded = try SegmentationDataset.load(from: directory.path, options: DatasetOptions())
        XCTAssertEqual(loaded.images.shape, [2, 4, 6, 8, 2])
        XCTAssertTrue(try SegmentationDataset.open(directory.path, options: DatasetOptions()) is NIfTIFolderSource)
    }

    func testDecathlonLayoutReadsFourDimensionalFilesAndSkipsForks() throws {
        let directory = try temporaryDirectory(self)
        for sub in ["imagesTr", "labelsTr"] {
            try FileManager.default.createDirectory(
                at: directory.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        let extents = [3, 4, 5]
        // A stem ending in four digits that is a whole case (its label map carries the stem).
        for name in ["prostate_0001", "prostate_0002"] {
            try NIfTI.write(
                ramp(extents, channels: 2), extents: extents, channels: 2,
                to: directory.appendingPathComponent("imagesTr/\(name).nii.gz").path, geometryOf: nil)
            try NIfTI.writeLabels(
                labels(extents), extents: extents, to: directory.appendingPathComponent("labelsTr/\(name).nii.gz").path,
                geometryOf: nil)
        }
        try Data("resource fork".utf8).write(to: directory.appendingPathComponent("imagesTr/._prostate_0001.nii.gz"))
        try Data(#"{"labels": {"0": "background", "1": "PZ", "2": "TZ"}}"#.utf8).write(
            to: directory.appendingPathComponent("dataset.json"))
        var options = DatasetOptions()
        options.intensity = IntensityNormalization.none
        let source = try NIfTIFolderSource(directory: directory.path, options: options)
        XCTAssertEqual(source.cases.map(\.name), ["prostate_0001", "prostate_0002"])
        XCTAssertEqual(source.channels, 2)
        XCTAssertEqual(try source.sample(at: 0).image, ramp(extents, channels: 2))
        XCTAssertEqual(try ClassNames.load(besides: directory.path), ["background", "PZ", "TZ"])
    }

    func testMixedSizesNeedAVolumeSizeAndAreResizedToIt() throws {
        let directory = try temporaryDirectory(self)
        try makeNNUNet(directory, cases: ["a": [4, 6, 8], "b": [5, 7, 6]], channels: 1)
        XCTAssertThrowsError(try NIfTIFolderSource(directory: directory.path)) {
            XCTAssertTrue(
                "\($0)".contains("give a size to resize on load, e.g. dicekit train --image-size D,H,W"), "\($0)")
        }
        XCTAssertThrowsError(
            try NIfTIFolderSource(
                directory: directory.path, options: DatasetOptions(imageSize: try ImageSize(height: 8, width: 8)))
        ) { XCTAssertTrue("\($0)".contains("need a 3-D image size D,H,W"), "\($0)") }
        let size = try ImageSize(parsing: "4,8,8")
        XCTAssertEqual(size.extents, [4, 8, 8])
        XCTAssertEqual(size.description, "4 × 8 × 8")
        let source = try NIfTIFolderSource(directory: directory.path, options: DatasetOptions(imageSize: size))
        XCTAssertEqual(source.spatialShape, [4, 8, 8])
        XCTAssertEqual(source.native.map(\.extents), [[4, 6, 8], [5, 7, 6]])
        let sample = try source.sample(at: 1)
        XCTAssertEqual(sample.image.count, 4 * 8 * 8)
        XCTAssertEqual(Set(sample.labels), [0, 1])
        XCTAssertThrowsError(
            try SegmentationDataset.open(directory.path, options: DatasetOptions(imageSize: size, resize: .fit))
        ) { XCTAssertTrue("\($0)".contains("resized by stretching"), "\($0)") }
    }

    func testBrokenLayoutsNameTheFileAndWhatWasExpected() throws {
        let directory = try temporaryDirectory(self)
        try makeNNUNet(directory, cases: ["a": [2, 3, 4], "b": [2, 3, 4]], channels: 3)
        try FileManager.default.removeItem(at: directory.appendingPathComponent("imagesTr/b_0001.nii.gz"))
        XCTAssertThrowsError(try NIfTIFolderSource(directory: directory.path)) {
            XCTAssertTrue("\($0)".contains("case b has channel files _0000, _0002; expected _0000 … _0001"), "\($0)")
        }
        try FileManager.default.removeItem(at: directory.appendingPathComponent("imagesTr/b_0002.nii.gz"))
        XCTAssertThrowsError(try NIfTIFolderSource(directory: directory.path)) {
            XCTAssertTrue("\($0)".contains("1 channel(s); expected 3 like the other cases"), "\($0)")
        }
        try FileManager.default.removeItem(at: directory.appendingPathComponent("imagesTr/b_0000.nii.gz"))
        try FileManager.default.removeItem(at: directory.appendingPathComponent("labelsTr/a.nii.gz"))
        XCTAssertThrowsError(try NIfTIFolderSource(directory: directory.path)) {
            XCTAssertTrue("\($0)".contains("missing label map for case a (expected a.nii.gz)"), "\($0)")
        }
        try NIfTI.writeLabels(
            [Int32](repeating: 0, count: 8), extents: [2, 2, 2],
            to: directory.appendingPathComponent("labelsTr/a.nii.gz").path, geometryOf: nil)
        XCTAssertThrowsError(try NIfTIFolderSource(directory: directory.path)) {
            XCTAssertTrue(
                "\($0)".contains("extents [2, 2, 2]; expected [2, 3, 4] like its image a_0000.nii.gz"), "\($0)")
        }
        try NIfTI.writeLabels(
            [Int32](repeating: 5, count: 24), extents: [2, 3, 4],
            to: directory.appendingPathComponent("labelsTr/a.nii.gz").path, geometryOf: nil)
        XCTAssertThrowsError(
            try NIfTIFolderSource(directory: directory.path, options: DatasetOptions(classes: 3))
        ) { XCTAssertTrue("\($0)".contains("5"), "\($0)") }
        // Regions name regions, not classes: LabelRegions reads them, and wants their order.
        try Data(#"{"labels": {"background": 0, "whole": [1, 2]}}"#.utf8).write(
            to: directory.appendingPathComponent("dataset.json"))
        XCTAssertNil(try ClassNames.load(besides: directory.path))
        XCTAssertThrowsError(try LabelRegions.load(besides: directory.path)) {
            XCTAssertTrue("\($0)".contains("no \"regions_class_order\""), "\($0)")
        }
        for (json, expected) in [
            (#"{"labels": {"background": 0, "whole": [1, "x"]}}"#, "not a label or a list of labels"),
            (#"{"labels": {"background": 0, "ignore": 4}}"#, "--ignore-index 4"),
            ("[1, 2", "not a JSON object"),
        ] {
            let path = directory.appendingPathComponent("dataset.json")
            try Data(json.utf8).write(to: path)
            XCTAssertThrowsError(
                try ClassNames.load(besides: directory.path)
                    ?? LabelRegions.load(besides: directory.path).map { _ in [] }
            ) { XCTAssertTrue("\($0)".contains(expected), "\($0)") }
        }
    }

    func testOptionsOnlyVolumesTakeAreRefusedElsewhere() throws {
        let directory = try temporaryDirectory(self)
        let data = try SegmentationDataset.syntheticPolyps(count: 2, seed: 1, configuration: .init(size: 16))
        try NPY.write(data.images, to: directory.appendingPathComponent("x.npy").path)
        try NPY.write(
            try NPYArray(integers: data.labels.map(Int.init), shape: data.labelShape, dtype: .uint8),
            to: directory.appendingPathComponent("x_masks.npy").path)
        let path = directory.appendingPathComponent("x.npy").path
        XCTAssertThrowsError(try SegmentationDataset.open(path, options: DatasetOptions(intensity: .zscore))) {
            XCTAssertTrue("\($0)".contains("applies to NIfTI volumes"), "\($0)")
        }
        XCTAssertThrowsError(
            try SegmentationDataset.load(
                from: path, options: DatasetOptions(imageSize: try ImageSize(parsing: "2,4,4")))
        ) { XCTAssertTrue("\($0)".contains("a 3-D image size (2 × 4 × 4) applies to NIfTI volumes"), "\($0)") }
    }

    func testIntensityNormalisationsParseAndApply() throws {
        XCTAssertEqual(try IntensityNormalization(parsing: "window:-1000,1000"), .window(low: -1000, high: 1000))
        XCTAssertEqual(try IntensityNormalization(parsing: "window:-1000,1000").description, "window:-1000.0,1000.0")
        for bad in ["window:5,5", "window:1", "window:a,b", "z", "window:-inf,0"] {
            XCTAssertThrowsError(try IntensityNormalization(parsing: bad), bad)
        }
        var values: [Float] = [-2000, -1000, 0, 500, 3000]
        IntensityNormalization.window(low: -1000, high: 1000).apply(to: &values, channels: 1)
        XCTAssertEqual(values, [0, 0, 0.5, 0.75, 1])
        var constant: [Float] = [7, 7, 7, 7]
        IntensityNormalization.zscore.apply(to: &constant, channels: 2)
        XCTAssertEqual(constant, [0, 0, 0, 0])
    }

    func testVolumeResamplingMatchesTheImageResamplerSliceBySliceAndKeepsConstants() throws {
        // Along H and W the volume resampler is the 2-D one; along D it is the same 1-D taps.
        let (h, w, c) = (5, 7, 2)
        let slice = (0..<(h * w * c)).map { Float(($0 * 37) % 11) }
        let volume = slice + slice.map { $0 * 2 }
        let resized = VolumeResampling.resize(volume, extents: [2, h, w], channels: c, to: [2, 3, 10])
        let expected =
            ImageResampling.resizeImage(
                slice, height: h, width: w, channels: c, to: try ImageSize(height: 3, width: 10), mode: .stretch)
        for (a, b) in zip(resized.prefix(expected.count), expected) { XCTAssertEqual(a, b, accuracy: 1e-5) }
        for (a, b) in zip(resized.suffix(expected.count), expected) { XCTAssertEqual(a, 2 * b, accuracy: 1e-5) }
        let constant = VolumeResampling.resize(
            [Float](repeating: 3, count: 60), extents: [3, 4, 5], channels: 1, to: [7, 2, 9])
        for value in constant { XCTAssertEqual(value, 3, accuracy: 1e-6) }
        let labels: [Int32] = [0, 1, 2, 3, 4, 5, 6, 7]
        XCTAssertEqual(
            VolumeResampling.resizeLabels(labels, extents: [2, 2, 2], to: [4, 1, 2]), [2, 3, 2, 3, 6, 7, 6, 7])
    }
}
