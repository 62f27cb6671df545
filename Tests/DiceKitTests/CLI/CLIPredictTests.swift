// `dicekit predict` on anything: a single image file, a folder of mixed sizes and formats, an
// .npy stack; masks, probabilities, sliding windows, flips; and the bad-input errors. The
// checkpoints are the committed reference U-Nets (Fixtures/unet: 3 inputs, 2 classes, depth 2;
// Fixtures/unet_variants/bn2d: 3 classes).

import XCTest

@testable import DiceKit

final class CLIPredictTests: XCTestCase {
    private let checkpoint = fixtureURL("unet/weights.safetensors").path

    private func picture(_ h: Int, _ w: Int, seed: UInt64) throws -> PNGImage {
        var generator = SeededGenerator(seed: seed)
        return try PNGImage(Tensor<Float>.uniform([h, w, 3], generator: &generator))
    }

    private func jsonLines(_ text: String) throws -> [[String: Any]] {
        try text.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
    }

    func testASingleImageOfOddSize() throws {
        let dir = try temporaryDirectory(self).path
        try PNG.write(try picture(13, 10, seed: 1), to: "\(dir)/shot.png")
        let result = try runDicekit([
            "predict", "--checkpoint", checkpoint, "--input", "\(dir)/shot.png", "--out", "\(dir)/out",
        ])
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = try jsonLines(result.stdout)
        XCTAssertEqual(lines.count, 1)
        XCTAssertEqual(lines[0]["image"] as? String, "shot")
        XCTAssertEqual(lines[0]["shape"] as? [Int], [13, 10])
        XCTAssertNil(lines[0]["dice"], "no ground truth")
        let mask = try PNG.read(contentsOf: "\(dir)/out/shot_mask.png")
        XCTAssertEqual([mask.width, mask.height, mask.channels], [10, 13, 1])
        XCTAssertTrue(Set(mask.pixels).isSubset(of: [0, 1]))
        let overlay = try PNG.read(contentsOf: "\(dir)/out/shot.png")
        XCTAssertEqual(
            [overlay.width, overlay.height], [2 * 10 + 4, 13], "image | prediction, no title without ground truth")
    }

    func testAFolderOfMixedSizesAndFormats() throws {
        let dir = try temporaryDirectory(self).path
        for folder in ["set/images", "set/masks"] {
            try FileManager.default.createDirectory(atPath: "\(dir)/\(folder)", withIntermediateDirectories: true)
        }
        try PNG.write(try picture(20, 12, seed: 2), to: "\(dir)/set/images/a.png")
        try JPEG.write(try picture(17, 9, seed: 3), to: "\(dir)/set/images/b.jpg")
        var generator = SeededGenerator(seed: 4)
        try NPY.write(Tensor<Float>.uniform([8, 8, 3], generator: &generator), to: "\(dir)/set/images/c.npy")
        let truth = (0..<(20 * 12)).map { UInt8($0 % 12 < 6 ? 255 : 0) }
        try PNG.write(try PNGImage(width: 12, height: 20, channels: 1, pixels: truth), to: "\(dir)/set/masks/a.png")
        // c's mask has no foreground: its Dice is null and its title says "DICE -".
        try PNG.write(
            try PNGImage(width: 8, height: 8, channels: 1, pixels: [UInt8](repeating: 0, count: 64)),
            to: "\(dir)/set/masks/c.png")
        let result = try runDicekit([
            "predict", "--checkpoint", checkpoint, "--input", "\(dir)/set", "--out", "\(dir)/out",
            "--masks", "\(dir)/masks", "--mask-values", "255", "--probabilities", "\(dir)/prob",
        ])
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = try jsonLines(result.stdout)
        XCTAssertEqual(lines.map { $0["image"] as? String }, ["a", "b", "c"])
        XCTAssertEqual(lines.map { $0["shape"] as? [Int] }, [[20, 12], [17, 9], [8, 8]])
        XCTAssertNotNil(lines[0]["dice_foreground"] as? Double, "a has ground truth")
        XCTAssertNil(lines[1]["dice"])
        XCTAssertTrue(lines[2]["dice_foreground"] is NSNull, "\(lines[2])")
        XCTAssertTrue(result.stderr.contains("dice_fg"), result.stderr)
        XCTAssertTrue(result.stderr.split(separator: "\n").contains { $0.hasPrefix("a ") }, result.stderr)
        for (name, h, w) in [("a", 20, 12), ("b", 17, 9), ("c", 8, 8)] {
            let mask = try PNG.read(contentsOf: "\(dir)/masks/\(name)_mask.png")
            XCTAssertEqual([mask.width, mask.height], [w, h], name)
            XCTAssertTrue(Set(mask.pixels).isSubset(of: [0, 255]), name)
            let probabilities = try NPY.read(contentsOf: "\(dir)/prob/\(name)_prob.npy").tensor(of: Float.self)
            XCTAssertEqual(probabilities.shape, [h, w, 2], name)
            XCTAssertEqual(probabilities[0, 0, 0] + probabilities[0, 0, 1], 1, accuracy: 1e-6)
            XCTAssertEqual(mask.pixels[0] == 255, probabilities[0, 0, 1] > probabilities[0, 0, 0], name)
        }
        XCTAssertFalse(
            FileManager.default.fileExists(atPath: "\(dir)/out/a_mask.png"), "--masks puts the masks elsewhere")
        let titled = try PNG.read(contentsOf: "\(dir)/out/a.png")
        let plain = try PNG.read(contentsOf: "\(dir)/out/b.png")
        XCTAssertGreaterThan(titled.height, 20, "a title strip above the panels")
        XCTAssertEqual(plain.height, 17)
        XCTAssertGreaterThan(try PNG.read(contentsOf: "\(dir)/out/c.png").height, 8)
        // The title is ink (dark pixels) in the strip above the panels.
        XCTAssertTrue(titled.pixels[0..<(titled.width * 3 * (titled.height - 20))].contains(0))
    }

    func testAnNPYStackWithWindowsAndFlips() throws {
        let dir = try temporaryDirectory(self).path
        var generator = SeededGenerator(seed: 5)
        try NPY.write(Tensor<Float>.uniform([2, 12, 20, 3], generator: &generator), to: "\(dir)/x.npy")
        func logits(_ extra: [String]) throws -> Tensor<Float> {
            let result = try runDicekit(
                ["predict", "--checkpoint", checkpoint, "--input", "\(dir)/x.npy", "--logits", "\(dir)/l.npy"] + extra)
            XCTAssertEqual(result.status, 0, result.stderr)
            XCTAssertEqual(try jsonLines(result.stdout).count, 2)
            return try NPY.read(contentsOf: "\(dir)/l.npy").tensor(of: Float.self)
        }
        let plain = try logits([])
        XCTAssertEqual(plain.shape, [2, 12, 20, 2])
        let model = try UNet<Float>.load(contentsOf: checkpoint)
        let x = try NPY.read(contentsOf: "\(dir)/x.npy").tensor(of: Float.self)
        XCTAssertEqual(plain, try model.forward(x, mode: .evaluation), "sizes that fit run as they are")
        assertClose(
            try logits(["--tile", "64"]), plain, relativeTolerance: 1e-6, absoluteTolerance: 1e-7,
            "a tile larger than the image is clamped to it")
        let windowed = try logits(["--tile", "8,12", "--overlap", "0.5", "--batch-size", "3"])
        XCTAssertEqual(windowed.shape, plain.shape)
        XCTAssertNotEqual(windowed, plain)
        XCTAssertEqual(try logits(["--tta", "flip", "--padding", "zero"]).shape, plain.shape)
    }

    func testBadInputIsOneLine() throws {
        let dir = try temporaryDirectory(self).path
        try Data("not a png".utf8).write(to: URL(fileURLWithPath: "\(dir)/broken.png"))
        var generator = SeededGenerator(seed: 6)
        try NPY.write(Tensor<Float>.uniform([16, 16, 2], generator: &generator), to: "\(dir)/two.npy")
        try NPY.write(Tensor<Float>.uniform([16, 16, 3], generator: &generator), to: "\(dir)/ok.npy")
        let failures: [([String], String)] = [
            (["--input", "\(dir)/broken.png", "--out", "\(dir)/o"], "broken.png"),
            (["--input", "\(dir)/two.npy", "--out", "\(dir)/o"], "the checkpoint expects 3"),
            (["--input", "\(dir)/missing.png", "--out", "\(dir)/o"], "no such file"),
        ]
        for (arguments, fragment) in failures {
            let result = try runDicekit(["predict", "--checkpoint", checkpoint] + arguments)
            XCTAssertEqual(result.status, 1, "\(arguments): \(result.stderr)")
            XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.stderr)
            XCTAssertTrue(result.stderr.contains(fragment), result.stderr)
        }
        let usage: [([String], String)] = [
            (["--tile", "10"], "tile 10 is not a multiple of 2^depth = 4"),
            (["--tile", "8", "--overlap", "1"], "--overlap 1; expected a fraction in [0, 1)"),
            (["--tile", "8", "--overlap", "-0.5"], "expected a fraction in [0, 1)"),
            (["--overlap", "0.5"], "--overlap 0.5 needs --tile"),
            (["--tile", "8,x"], "--tile expects"),
            (["--tta", "rotate"], "--tta expects one of none|flip"),
            (["--mask-values", "128"], "--mask-values expects one of"),
        ]
        for (arguments, fragment) in usage {
            let result = try runDicekit(
                ["predict", "--checkpoint", checkpoint, "--input", "\(dir)/ok.npy", "--out", "\(dir)/o"] + arguments)
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(fragment), result.stderr)
        }
        let threeClasses = try runDicekit([
            "predict", "--checkpoint", fixtureURL("unet_variants/bn2d/weights.safetensors").path,
            "--input", "\(dir)/ok.npy", "--masks", "\(dir)/m", "--mask-values", "255",
        ])
        XCTAssertEqual(threeClasses.status, 2)
        XCTAssertTrue(threeClasses.stderr.contains("the checkpoint has 3 classes"), threeClasses.stderr)
        XCTAssertEqual(
            try runDicekit(["predict", "--checkpoint", checkpoint, "--input", "\(dir)/ok.npy"]).status, 2,
            "nothing to write")
    }
}
