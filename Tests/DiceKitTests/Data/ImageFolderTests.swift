// Image folders as they come: PNG and JPEG files matched by base name, mixed sizes resized on
// load (stretch, fit, crop), the three mask encodings (palette masks read by colour in binary
// mode), classes.json, and the data checks that name the file, the value and the fix.

import XCTest

@testable import DiceKit

final class ImageFolderTests: XCTestCase {
    /// DIR with images/ and masks/ subfolders.
    private func folder() throws -> URL {
        let directory = try temporaryDirectory(self)
        for sub in ["images", "masks"] {
            try FileManager.default.createDirectory(
                at: directory.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        return directory
    }

    /// A synthetic polyp of h × w as an RGB image and a 0/255 mask.
    private func polyp(_ h: Int, _ w: Int, seed: UInt64) throws -> (image: PNGImage, mask: PNGImage, labels: [Int32]) {
        let data = try SegmentationDataset.syntheticPolyps(
            count: 1, seed: seed, configuration: .init(height: h, width: w))
        let image = try PNGImage(try Tensor(shape: [h, w, 3], scalars: data.images.scalars))
        let mask = try PNGImage(width: w, height: h, channels: 1, pixels: data.labels.map { UInt8($0 * 255) })
        return (image, mask, data.labels)
    }

    func testJPEGFolderOfMixedSizesNeedsAndUsesAnImageSize() throws {
        let directory = try folder()
        var sources = [[Int32]]()
        for (i, (h, w)) in [(40, 56), (48, 48), (64, 40)].enumerated() {
            let sample = try polyp(h, w, seed: UInt64(i))
            try JPEG.write(sample.image, to: directory.appendingPathComponent("images/f\(i).jpg").path)
            try JPEG.write(sample.mask, to: directory.appendingPathComponent("masks/f\(i).jpg").path, quality: 90)
            sources.append(sample.labels)
        }
        XCTAssertThrowsError(try SegmentationDataset.load(from: directory.path)) {
            guard case DiceKitError.shape(let message) = $0 else { return XCTFail("\($0)") }
            XCTAssertTrue(message.contains("f1.jpg") && message.contains("--image-size"), message)
        }
        let data = try SegmentationDataset.load(
            from: directory.path, options: DatasetOptions(imageSize: try ImageSize(parsing: "32,48")))
        XCTAssertEqual(data.images.shape, [3, 32, 48, 3])
        XCTAssertEqual(data.classes, 2)
        // JPEG noise on the masks is absorbed by the threshold: at full size the labels match.
        let full = try SegmentationDataset.load(
            from: directory.path, options: DatasetOptions(imageSize: try ImageSize(height: 40, width: 56)))
        let first = Array(full.labels[0..<(40 * 56)])
        let agreement = zip(first, sources[0]).filter { $0 == $1 }.count
        XCTAssertGreaterThan(Double(agreement) / Double(first.count), 0.995)
    }

    func testMasksMatchImagesByBaseName() throws {
        let directory = try folder()
        let sample = try polyp(16, 16, seed: 3)
        try JPEG.write(sample.image, to: directory.appendingPathComponent("images/a.jpeg").path)
        try PNG.write(sample.mask, to: directory.appendingPathComponent("masks/a.png").path)
        let data = try SegmentationDataset.load(from: directory.path)
        XCTAssertEqual(data.labels, sample.labels)
        try JPEG.write(sample.image, to: directory.appendingPathComponent("images/b.jpg").path)
        XCTAssertThrowsError(try SegmentationDataset.load(from: directory.path)) {
            guard case DiceKitError.file(_, let reason) = $0 else { return XCTFail("\($0)") }
            XCTAssertTrue(reason.contains("b.jpg"), reason)
        }
    }

    func testResizeModesPlaceTheImage() throws {
        // A 2 × 4 image of ones onto 4 × 4: stretch fills it, fit pads rows 0 and 3, crop keeps the middle.
        let ones = [Float](repeating: 1, count: 8)
        let size = try ImageSize(height: 4, width: 4)
        XCTAssertEqual(
            ImageResampling.resizeImage(ones, height: 2, width: 4, channels: 1, to: size, mode: .stretch),
            [Float](repeating: 1, count: 16))
        let fit = ImageResampling.resizeImage(ones, height: 2, width: 4, channels: 1, to: size, mode: .fit)
        XCTAssertEqual(fit, [0, 0, 0, 0] + [Float](repeating: 1, count: 8) + [0, 0, 0, 0])
        let ramp: [Float] = [0, 1, 2, 3, 4, 5, 6, 7]
        let crop = ImageResampling.resizeImage(
            ramp, height: 2, width: 4, channels: 1, to: try ImageSize(height: 2, width: 2), mode: .crop)
        XCTAssertEqual(crop, [1, 2, 5, 6])
        // Area averaging when shrinking: 4 × 4 → 2 × 2 gives the 2 × 2 block means.
        let grid = (0..<16).map(Float.init)
        XCTAssertEqual(
            ImageResampling.resizeImage(
                grid, height: 4, width: 4, channels: 1, to: try ImageSize(height: 2, width: 2), mode: .stretch),
            [2.5, 4.5, 10.5, 12.5])
        // Bilinear with half-pixel centres when enlarging 1 × 2 → 1 × 4: [0, 0.25, 0.75, 1].
        XCTAssertEqual(
            ImageResampling.resizeImage(
                [0, 1], height: 1, width: 2, channels: 1, to: try ImageSize(height: 1, width: 4), mode: .stretch),
            [0, 0.25, 0.75, 1])
        // Masks by nearest neighbour, padded with background.
        XCTAssertEqual(
            ImageResampling.resizeLabels(
                [1, 2], height: 1, width: 2, to: try ImageSize(height: 2, width: 4), mode: .stretch),
            [1, 1, 2, 2, 1, 1, 2, 2])
        XCTAssertEqual(
            ImageResampling.resizeLabels(
                [1, 2], height: 1, width: 2, to: try ImageSize(height: 4, width: 4), mode: .fit),
            [0, 0, 0, 0, 1, 1, 2, 2, 1, 1, 2, 2, 0, 0, 0, 0])
        XCTAssertEqual(try ImageSize(parsing: "64"), try ImageSize(height: 64, width: 64))
        XCTAssertEqual(try ImageSize(parsing: "3,4,5").extents, [3, 4, 5])
        for bad in ["", "0", "3,4,5,6", "a,b", "-2", "5000,4,4"] {
            XCTAssertThrowsError(try ImageSize(parsing: bad), bad)
        }
    }

    /// Issue 9, item 7: a palette mask whose index 1 is white is read by its colour in binary mode.
    func testPaletteMasksByColourOrIndex() throws {
        let directory = try folder()
        try PNG.write(
            try PNGImage(width: 2, height: 2, channels: 3, pixels: [UInt8](repeating: 90, count: 12)),
            to: directory.appendingPathComponent("images/p.png").path)
        let maskPath = directory.appendingPathComponent("masks/p.png").path
        try PNG.writeIndexed(
            [0, 1, 1, 2], width: 2, height: 2, palette: [(0, 0, 0), (255, 255, 255), (20, 20, 20)], to: maskPath)
        XCTAssertEqual(try SegmentationDataset.load(from: directory.path).labels, [0, 1, 1, 0])
        let indexed = try SegmentationDataset.load(from: directory.path, options: DatasetOptions(masks: .palette))
        XCTAssertEqual(indexed.labels, [0, 1, 1, 2])
        XCTAssertEqual(indexed.classes, 3)
        // Palette mode refuses a grey mask; index and palette modes refuse JPEG masks.
        try PNG.write(try PNGImage(width: 2, height: 2, channels: 1, pixels: [0, 1, 1, 0]), to: maskPath)
        XCTAssertThrowsError(
            try SegmentationDataset.load(from: directory.path, options: DatasetOptions(masks: .palette))
        ) {
            XCTAssertTrue("\($0)".contains("not a palette PNG"), "\($0)")
        }
        XCTAssertEqual(
            try SegmentationDataset.load(from: directory.path, options: DatasetOptions(masks: .classIndices)).labels,
            [0, 1, 1, 0])
        try FileManager.default.removeItem(atPath: maskPath)
        try JPEG.write(
            try PNGImage(width: 2, height: 2, channels: 1, pixels: [0, 1, 1, 0]),
            to: directory.appendingPathComponent("masks/p.jpg").path)
        XCTAssertThrowsError(
            try SegmentationDataset.load(from: directory.path, options: DatasetOptions(masks: .classIndices))
        ) {
            XCTAssertTrue("\($0)".contains("p.jpg") && "\($0)".contains("lossy"), "\($0)")
        }
    }

    func testChecksThatSpeak() throws {
        let directory = try folder()
        let sample = try polyp(8, 8, seed: 1)
        try PNG.write(sample.image, to: directory.appendingPathComponent("images/a.png").path)
        // Class-index masks (0/1/2) read as binary would all be background: refused with the fix.
        let indices = try PNGImage(width: 8, height: 8, channels: 1, pixels: (0..<64).map { UInt8($0 % 3) })
        try PNG.write(indices, to: directory.appendingPathComponent("masks/a.png").path)
        XCTAssertThrowsError(try SegmentationDataset.load(from: directory.path)) {
            XCTAssertTrue("\($0)".contains("--mask-encoding index") && "\($0)".contains("2"), "\($0)")
        }
        // A label ≥ the class count names the mask file.
        XCTAssertThrowsError(
            try SegmentationDataset.load(
                from: directory.path, options: DatasetOptions(masks: .classIndices, classes: 2))
        ) {
            XCTAssertTrue("\($0)".contains("masks/a.png") && "\($0)".contains("label 2"), "\($0)")
        }
        // 0/255 masks read as class indices would make a 256-class model: refused with the fix.
        let binaryMask = try PNGImage(width: 8, height: 8, channels: 1, pixels: (0..<64).map { $0 < 20 ? 255 : 0 })
        try PNG.write(binaryMask, to: directory.appendingPathComponent("masks/a.png").path)
        XCTAssertThrowsError(
            try SegmentationDataset.load(from: directory.path, options: DatasetOptions(masks: .classIndices))
        ) {
            XCTAssertTrue("\($0)".contains("0 and 255") && "\($0)".contains("--mask-encoding binary"), "\($0)")
        }
        // One grey image among RGB ones: loaded as RGB, with a warning naming it.
        try PNG.write(sample.mask, to: directory.appendingPathComponent("masks/a.png").path)
        try PNG.write(sample.mask, to: directory.appendingPathComponent("images/b.png").path)
        try PNG.write(sample.mask, to: directory.appendingPathComponent("masks/b.png").path)
        var warnings = [String]()
        let data = try SegmentationDataset.load(from: directory.path, options: DatasetOptions()) { warnings.append($0) }
        XCTAssertEqual(data.images.shape, [2, 8, 8, 3])
        XCTAssertEqual(warnings.count, 1)
        XCTAssertTrue(warnings.first?.contains("b.png") == true, "\(warnings)")
    }

    func testNPYChecks() throws {
        let directory = try temporaryDirectory(self)
        let images = directory.appendingPathComponent("images.npy").path
        let masks = directory.appendingPathComponent("masks.npy").path
        try NPY.write(Tensor<Float>(shape: [2, 2, 2, 1], repeating: 0.5), to: images)
        let binary = [0, 255, 255, 0, 0, 0, 255, 0]
        try NPY.write(NPYArray(integers: binary, shape: [2, 2, 2], dtype: .uint8), to: masks)
        XCTAssertThrowsError(try SegmentationDataset.load(from: directory.path)) {
            XCTAssertTrue("\($0)".contains("0 and 255") && "\($0)".contains("masks.npy"), "\($0)")
        }
        let read = try SegmentationDataset.load(from: directory.path, options: DatasetOptions(masks: .binary))
        XCTAssertEqual(read.labels, [0, 1, 1, 0, 0, 0, 1, 0])
        XCTAssertThrowsError(
            try SegmentationDataset.load(from: directory.path, options: DatasetOptions(masks: .palette)))
        XCTAssertThrowsError(
            try SegmentationDataset.load(
                from: directory.path, options: DatasetOptions(imageSize: try ImageSize(parsing: "4"))))
        try NPY.write(NPYArray(integers: binary.map { $0 / 255 }, shape: [2, 2, 2], dtype: .uint8), to: masks)
        XCTAssertThrowsError(try SegmentationDataset.load(from: directory.path, options: DatasetOptions(classes: 1))) {
            XCTAssertTrue("\($0)".contains("label 1") && "\($0)".contains("class count"), "\($0)")
        }
        // Float images in 0–255, or not finite, are refused with the fix.
        try NPY.write(Tensor<Float>(shape: [2, 2, 2, 1], repeating: 200), to: images)
        XCTAssertThrowsError(try SegmentationDataset.load(from: directory.path)) {
            XCTAssertTrue("\($0)".contains("divide the images by 255") && "\($0)".contains("images.npy"), "\($0)")
        }
        try NPY.write(Tensor<Float>(shape: [2, 2, 2, 1], scalars: [0, 0, .nan, 0, 0, 0, 0, 0]), to: images)
        XCTAssertThrowsError(try SegmentationDataset.load(from: directory.path)) {
            XCTAssertTrue("\($0)".contains("nan"), "\($0)")
        }
    }

    func testClassNames() throws {
        let directory = try temporaryDirectory(self)
        let path = directory.appendingPathComponent("classes.json").path
        XCTAssertNil(try ClassNames.load(besides: directory.path))
        try Data(#"["background", "polyp"]"#.utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(try ClassNames.load(besides: directory.path), ["background", "polyp"])
        XCTAssertEqual(
            try ClassNames.load(besides: directory.appendingPathComponent("set.npy").path), ["background", "polyp"])
        try Data(#"{"1": "polyp", "0": "background", "2": "tool"}"#.utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(try ClassNames.read(contentsOf: path), ["background", "polyp", "tool"])
        for bad in [#"{"0": "a", "2": "b"}"#, #"["a", "a"]"#, "[]", #"["a", 3]"#, "{", #"{"x": "a"}"#, #"[""]"#] {
            try Data(bad.utf8).write(to: URL(fileURLWithPath: path))
            XCTAssertThrowsError(try ClassNames.read(contentsOf: path), bad) {
                guard case DiceKitError.file(let file, let reason) = $0 else { return XCTFail("\($0)") }
                XCTAssertEqual(file, path)
                XCTAssertFalse(reason.contains("\n"))
            }
        }
    }

    func testPlacementKeepsTheAspectRatio() throws {
        let square = try ImageSize(height: 64, width: 64)
        // 100 × 50 (H × W): fit scales by 0.64 → 64 × 32 centred; crop by 1.28 → 128 × 64, 32 rows cut above.
        let corners = { (p: ResizePlacement) in [p.height, p.width, p.top, p.left] }
        XCTAssertEqual(corners(ResizePlacement(height: 100, width: 50, size: square, mode: .fit)), [64, 32, 0, 16])
        XCTAssertEqual(corners(ResizePlacement(height: 100, width: 50, size: square, mode: .crop)), [128, 64, -32, 0])
        XCTAssertEqual(corners(ResizePlacement(height: 100, width: 50, size: square, mode: .stretch)), [64, 64, 0, 0])
        // Rounding never leaves a gap on the side that should match: 3 × 7 onto 5 × 5.
        let odd = ResizePlacement(height: 3, width: 7, size: try ImageSize(height: 5, width: 5), mode: .fit)
        XCTAssertEqual(odd.width, 5)
    }

    func testPredictionInputsFromABareFolderOfMixedJPEGs() throws {
        let directory = try temporaryDirectory(self)
        for (i, (h, w)) in [(30, 20), (24, 36)].enumerated() {
            try JPEG.write(
                try polyp(h, w, seed: UInt64(i)).image, to: directory.appendingPathComponent("shot\(i).JPG").path)
        }
        // Each image at its own size, or all resized on load.
        let own = try PredictionInputs.load(from: directory.path, options: DatasetOptions())
        XCTAssertEqual(try (0..<2).map { try own.item($0).image.shape }, [[30, 20, 3], [24, 36, 3]])
        XCTAssertThrowsError(try own.stacked())
        let inputs = try PredictionInputs.load(
            from: directory.path, options: DatasetOptions(imageSize: try ImageSize(parsing: "32"), resize: .fit))
        XCTAssertEqual(try inputs.stacked().images.shape, [2, 32, 32, 3])
        XCTAssertEqual(inputs.names, ["shot0", "shot1"])
        XCTAssertNil(try inputs.stacked().labels)
    }
}
