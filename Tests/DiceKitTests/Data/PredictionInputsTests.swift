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
        XCTAssertEqual(inputs.images, data.images)
        XCTAssertEqual(inputs.names, ["0000", "0001"])
        XCTAssertNil(inputs.labels)
        try NPY.write(NPYArray(integers: data.labels.map(Int.init), shape: data.labelShape), to: directory.appendingPathComponent("x_masks.npy").path)
        XCTAssertEqual(try PredictionInputs.load(from: file).labels, data.labels)
        // A bare folder of PNGs, then images/ without and with masks/.
        let bare = directory.appendingPathComponent("bare")
        let images = directory.appendingPathComponent("set/images"), masks = directory.appendingPathComponent("set/masks")
        for folder in [bare, images, masks] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
        for n in 0..<2 {
            let picture = try PNGImage(Tensor<Float>(shape: [8, 8, 3], scalars: Array(data.images.scalars[(n * 192)..<((n + 1) * 192)])))
            try PNG.write(picture, to: bare.appendingPathComponent("f\(n).png").path)
            try PNG.write(picture, to: images.appendingPathComponent("f\(n).png").path)
        }
        inputs = try PredictionInputs.load(from: bare.path)
        XCTAssertEqual(inputs.names, ["f0", "f1"])
        XCTAssertEqual(inputs.images.shape, [2, 8, 8, 3])
        XCTAssertNil(try PredictionInputs.load(from: images.deletingLastPathComponent().path).labels)
        for n in 0..<2 {
            try PNG.write(PNGImage(width: 8, height: 8, channels: 1, pixels: data.labels[(n * 64)..<((n + 1) * 64)].map { UInt8($0 * 255) }),
                          to: masks.appendingPathComponent("f\(n).png").path)
        }
        XCTAssertEqual(try PredictionInputs.load(from: images.deletingLastPathComponent().path).labels, data.labels)
        XCTAssertThrowsError(try PredictionInputs.load(from: directory.appendingPathComponent("set/masks/none").path))
        let empty = directory.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        XCTAssertThrowsError(try PredictionInputs.load(from: empty.path)) {
            guard case DiceKitError.file = $0 else { return XCTFail("\($0)") }
        }
    }
}
