// Image folders of mixed sizes as cases of their own sizes (`ImageCaseFolder`): what patches are
// cut from and what eval scores whole; and pictures resized for prediction brought back to their
// own grid (`ImageResampling.restoreImage`, `PredictionInputs.Item.scoresOnGrid`).

import XCTest

@testable import DiceKit

final class ImageCaseFolderTests: XCTestCase {
    private let sizes = [(40, 56), (48, 48), (64, 40)]

    /// DIR/images/fI.png and DIR/masks/fI.png of `sizes` (synthetic polyps), with their labels.
    private func mixedFolder() throws -> (directory: URL, labels: [[Int32]]) {
        let directory = try temporaryDirectory(self)
        for sub in ["images", "masks"] {
            try FileManager.default.createDirectory(
                at: directory.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        var labels = [[Int32]]()
        for (i, (h, w)) in sizes.enumerated() {
            let data = try SegmentationDataset.syntheticPolyps(
                count: 1, seed: UInt64(i), configuration: .init(height: h, width: w))
            try PNG.write(
                try PNGImage(try Tensor(shape: [h, w, 3], scalars: data.images.scalars)),
                to: directory.appendingPathComponent("images/f\(i).png").path)
            try PNG.write(
                try PNGImage(width: w, height: h, channels: 1, pixels: data.labels.map { UInt8($0 * 255) }),
                to: directory.appendingPathComponent("masks/f\(i).png").path)
            labels.append(data.labels)
        }
        return (directory, labels)
    }

    func testAFolderOfMixedSizesOpensAsCasesOfTheirOwnSizes() throws {
        let (directory, labels) = try mixedFolder()
        let cases = try SegmentationDataset.openCases(directory.path, options: DatasetOptions())
        XCTAssertTrue(cases is ImageCaseFolder, "\(type(of: cases))")
        XCTAssertEqual([cases.count, cases.spatialRank, cases.channels, cases.classes], [3, 2, 3, 2])
        for (i, (h, w)) in sizes.enumerated() {
            XCTAssertEqual(cases.extents(ofCase: i), [h, w])
            let sample = try cases.readCase(i)
            XCTAssertEqual(sample.image.count, h * w * 3)
            XCTAssertEqual(sample.labels, labels[i])
        }
        // Patches are cut from them, each at its own size.
        let patches = try PatchSource(cases: cases, sampling: try PatchSampling(extents: [32, 32]), seed: 1)
        XCTAssertEqual(try patches.samples([0, 1, 2]).images.shape, [3, 32, 32, 3])

        // Served at one size they are refused, naming the ways out; with an image size they are one size.
        XCTAssertThrowsError(try SegmentationDataset.open(directory.path, options: DatasetOptions())) {
            guard case DiceKitError.shape(let message) = $0 else { return XCTFail("\($0)") }
            for part in ["f1.png", "--image-size H,W", "--patch-size H,W"] {
                XCTAssertTrue(message.contains(part), message)
            }
        }
        let resized = try SegmentationDataset.openCases(
            directory.path, options: DatasetOptions(imageSize: try ImageSize(height: 32, width: 32)))
        XCTAssertEqual((0..<3).map { resized.extents(ofCase: $0) }, [[32, 32], [32, 32], [32, 32]])
    }

    func testAResizedPictureKeepsItsOwnGridForScoring() throws {
        let (directory, labels) = try mixedFolder()
        let size = try ImageSize(height: 32, width: 32)
        let cases = try ImageCaseFolder(
            directory: directory.path, options: DatasetOptions(imageSize: size, resize: .fit))
        XCTAssertEqual(cases.sharedExtents, [32, 32])
        for (i, (h, w)) in sizes.enumerated() {
            XCTAssertEqual(try cases.readCase(i).labels.count, 32 * 32)
            XCTAssertEqual(cases.storedGrid(ofCase: i)?.extents, [h, w])
            XCTAssertEqual(try cases.readStoredLabels(i), labels[i])
            let scores = [Float](repeating: 0.5, count: 32 * 32 * 2)
            let back = try cases.scoresOnStoredGrid(scores, channels: 2, ofCase: i)
            XCTAssertEqual(back.count, h * w * 2)
            XCTAssertEqual(back.map { abs($0 - 0.5) }.max()!, 0, accuracy: 1e-6)
        }
        // A crop has no scores for what it cut off: its cases are scored on the resized grid.
        let cropped = try ImageCaseFolder(
            directory: directory.path, options: DatasetOptions(imageSize: size, resize: .crop))
        XCTAssertNil(cropped.storedGrid(ofCase: 0))
        // Read as stored, nothing is brought back.
        XCTAssertNil(try ImageCaseFolder(directory: directory.path).storedGrid(ofCase: 0))
    }

    func testACaseThatChangesAfterOpeningIsAnErrorNamingIt() throws {
        let (directory, _) = try mixedFolder()
        let cases = try ImageCaseFolder(directory: directory.path)
        let data = try SegmentationDataset.syntheticPolyps(count: 1, seed: 9, configuration: .init(height: 8, width: 8))
        let image = directory.appendingPathComponent("images/f1.png").path
        try PNG.write(try PNGImage(try Tensor(shape: [8, 8, 3], scalars: data.images.scalars)), to: image)
        try PNG.write(
            try PNGImage(width: 8, height: 8, channels: 1, pixels: data.labels.map { UInt8($0 * 255) }),
            to: directory.appendingPathComponent("masks/f1.png").path)
        XCTAssertNoThrow(try cases.readCase(0))
        XCTAssertThrowsError(try cases.readCase(1)) {
            guard case DiceKitError.shape(let message) = $0 else { return XCTFail("\($0)") }
            XCTAssertTrue(message.contains(image) && message.contains("expected 48 × 48"), message)
            XCTAssertFalse(message.contains("\n"))
        }
    }

    func testRestoringACanvasDropsThePaddingAndReturnsToTheImagesSize() throws {
        let (h, w, c) = (30, 20, 2)
        let canvas = try ImageSize(height: 32, width: 32)
        // A constant field comes back constant: the fit canvas's zero padding is cut away first.
        let constant = [Float](repeating: 2.5, count: h * w * c)
        for mode in [ResizeMode.fit, .stretch] {
            let placed = ImageResampling.resizeImage(constant, height: h, width: w, channels: c, to: canvas, mode: mode)
            let back = try ImageResampling.restoreImage(
                placed, from: canvas, channels: c, height: h, width: w, mode: mode)
            XCTAssertEqual(back.count, h * w * c)
            XCTAssertEqual(back.map { abs($0 - 2.5) }.max()!, 0, accuracy: 1e-5, "\(mode)")
        }
        // A smooth ramp comes back close to itself; its two channels stay apart.
        var ramp = [Float]()
        for y in 0..<h { for x in 0..<w { ramp += [Float(y) / Float(h), -Float(x) / Float(w)] } }
        let placed = ImageResampling.resizeImage(ramp, height: h, width: w, channels: c, to: canvas, mode: .fit)
        let back = try ImageResampling.restoreImage(placed, from: canvas, channels: c, height: h, width: w, mode: .fit)
        XCTAssertLessThan(zip(back, ramp).map { abs($0 - $1) }.max()!, 0.03)
    }

    func testAPictureResizedForPredictionHasItsOutputsOnItsOwnGrid() throws {
        let (directory, labels) = try mixedFolder()
        let size = try ImageSize(height: 32, width: 32)
        let inputs = try PredictionInputs.load(
            from: directory.path, options: DatasetOptions(imageSize: size, resize: .fit))
        let item = try inputs.item(2)
        XCTAssertEqual(item.image.shape, [32, 32, 3])
        XCTAssertEqual(item.outputExtents, [64, 40])
        XCTAssertEqual(item.outputImage.shape, [64, 40, 3])
        XCTAssertEqual(item.labels, labels[2])
        let scores = try Tensor(shape: [32, 32, 2], scalars: [Float](repeating: 1, count: 32 * 32 * 2))
        XCTAssertEqual(try item.scoresOnGrid(scores).shape, [64, 40, 2])
        XCTAssertThrowsError(
            try item.scoresOnGrid(try Tensor(shape: [16, 16, 2], scalars: [Float](repeating: 0, count: 512))))
        // Read at their own size, nothing moves.
        let own = try PredictionInputs.load(from: directory.path).item(2)
        XCTAssertEqual(own.outputExtents, own.extents)
        XCTAssertEqual(
            try own.scoresOnGrid(try Tensor(shape: [64, 40, 2], scalars: [Float](repeating: 0, count: 5120))).shape,
            [64, 40, 2])
        // A crop has no prediction for what it cut off.
        XCTAssertThrowsError(
            try PredictionInputs.load(from: directory.path, options: DatasetOptions(imageSize: size, resize: .crop))
        ) {
            guard case DiceKitError.option(let message) = $0 else { return XCTFail("\($0)") }
            XCTAssertTrue(message.contains("crop") && message.contains("stretch or fit"), message)
        }
    }
}
