// PredictionInputs: images with or without masks from every supported layout.

import XCTest

@testable import DiceKit

final class PredictionInputsTests: XCTestCase {
    func testLayouts() throws {
        let directory = try temporaryDirectory(self)
        let data = try SegmentationDataset.syntheticPolyps(count: 2, seed: 4, configuration: .init(size: 8))
        // FILE.npy alone, then with FILE_masks.npy.
        let file = directory.appendingPathComponent("x.npy").path
        try NPY.write(data.images, to: file)
        var inputs = try PredictionInputs.load(from: file)
        XCTAssertEqual(try inputs.stacked().images, data.images)
        XCTAssertEqual(inputs.names, ["0000", "0001"])
        XCTAssertNil(try inputs.stacked().labels)
        XCTAssertFalse(inputs.hasGroundTruth)
        try NPY.write(
            NPYArray(integers: data.labels.map(Int.init), shape: data.labelShape),
            to: directory.appendingPathComponent("x_masks.npy").path)
        XCTAssertEqual(try PredictionInputs.load(from: file).stacked().labels, data.labels)
        // A bare folder of PNGs, then images/ without and with masks/.
        let bare = directory.appendingPathComponent("bare")
        let images = directory.appendingPathComponent("set/images")
        let masks = directory.appendingPathComponent("set/masks")
        for folder in [bare, images, masks] {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        }
        for n in 0..<2 {
            let picture = try PNGImage(
                Tensor<Float>(shape: [8, 8, 3], scalars: Array(data.images.scalars[(n * 192)..<((n + 1) * 192)])))
            try PNG.write(picture, to: bare.appendingPathComponent("f\(n).png").path)
            try PNG.write(picture, to: images.appendingPathComponent("f\(n).png").path)
        }
        inputs = try PredictionInputs.load(from: bare.path)
        XCTAssertEqual(inputs.names, ["f0", "f1"])
        XCTAssertEqual(try inputs.stacked().images.shape, [2, 8, 8, 3])
        XCTAssertNil(try PredictionInputs.load(from: images.deletingLastPathComponent().path).stacked().labels)
        for n in 0..<2 {
            try PNG.write(
                PNGImage(
                    width: 8, height: 8, channels: 1,
                    pixels: data.labels[(n * 64)..<((n + 1) * 64)].map { UInt8($0 * 255) }),
                to: masks.appendingPathComponent("f\(n).png").path)
        }
        XCTAssertEqual(
            try PredictionInputs.load(from: images.deletingLastPathComponent().path).stacked().labels, data.labels)
        XCTAssertThrowsError(try PredictionInputs.load(from: directory.appendingPathComponent("set/masks/none").path))
        let empty = directory.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        XCTAssertThrowsError(try PredictionInputs.load(from: empty.path)) {
            guard case DiceKitError.file = $0 else { return XCTFail("\($0)") }
        }
    }
}

final class PredictionInputsAnySizeTests: XCTestCase {
    func testSingleFilesAndTheirGroundTruth() throws {
        let directory = try temporaryDirectory(self).path
        for folder in ["set/images", "set/masks"] {
            try FileManager.default.createDirectory(atPath: "\(directory)/\(folder)", withIntermediateDirectories: true)
        }
        try PNG.write(
            try PNGImage(width: 5, height: 3, channels: 1, pixels: [UInt8](repeating: 200, count: 15)),
            to: "\(directory)/set/images/g.png")
        try PNG.write(
            try PNGImage(width: 5, height: 3, channels: 1, pixels: [UInt8](repeating: 255, count: 15)),
            to: "\(directory)/set/masks/g.png")
        let inputs = try PredictionInputs.load(from: "\(directory)/set/images/g.png")
        XCTAssertEqual(inputs.names, ["g"])
        XCTAssertTrue(inputs.hasGroundTruth)
        let grey = try inputs.item(0)
        XCTAssertEqual(grey.image.shape, [3, 5, 1])
        XCTAssertEqual(grey.labels, [Int32](repeating: 1, count: 15))
        XCTAssertEqual(try inputs.item(0, channels: 3).image.shape, [3, 5, 3], "grey replicated for an RGB network")
        XCTAssertThrowsError(try inputs.item(0, channels: 2)) { XCTAssertTrue("\($0)".contains("expects 2"), "\($0)") }
        // One image in an .npy without a batch axis keeps the file's name; a stack is numbered.
        try NPY.write(Tensor<Float>(shape: [6, 4, 3], repeating: 0.5), to: "\(directory)/one.npy")
        XCTAssertEqual(try PredictionInputs.load(from: "\(directory)/one.npy").names, ["one"])
        try NPY.write(Tensor<Float>(shape: [6, 4], repeating: 0.5), to: "\(directory)/flat.npy")
        XCTAssertEqual(try PredictionInputs.load(from: "\(directory)/flat.npy").item(0).image.shape, [6, 4, 1])
        // Volumes: [D, H, W, C] is one volume for a 3-D network.
        let volume = try PredictionInputs.load(from: "\(directory)/one.npy", spatialRank: 3)
        XCTAssertEqual(try volume.item(0).image.shape, [6, 4, 3, 1])
        XCTAssertThrowsError(try PredictionInputs.load(from: "\(directory)/set/images/g.png", spatialRank: 3).item(0))
        try NPY.write(Tensor<Float>(shape: [6, 4, 3], repeating: 2), to: "\(directory)/bright.npy")
        XCTAssertThrowsError(try PredictionInputs.load(from: "\(directory)/bright.npy")) {
            XCTAssertTrue("\($0)".contains("[0, 1]"), "\($0)")
        }
    }

    func testABareFolderOfImagesAndArrays() throws {
        let directory = try temporaryDirectory(self).path
        try NPY.write(Tensor<Float>(shape: [4, 6, 3], repeating: 0.25), to: "\(directory)/a.npy")
        try NPY.write(
            try NPYArray(integers: [Int](repeating: 1, count: 24), shape: [4, 6], dtype: .uint8),
            to: "\(directory)/a_masks.npy")
        try NPY.write(Tensor<Float>(shape: [2, 4, 6, 3], repeating: 0.25), to: "\(directory)/stack.npy")
        try PNG.write(
            try PNGImage(width: 7, height: 9, channels: 3, pixels: [UInt8](repeating: 9, count: 189)),
            to: "\(directory)/b.png")
        let inputs = try PredictionInputs.load(from: directory)
        XCTAssertEqual(inputs.names, ["a", "b", "stack"])
        XCTAssertEqual(try inputs.item(0).labels, [Int32](repeating: 1, count: 24))
        XCTAssertEqual(try inputs.item(1).image.shape, [9, 7, 3])
        XCTAssertThrowsError(try inputs.item(2)) { XCTAssertTrue("\($0)".contains("one image per file"), "\($0)") }
    }
}
