// Every command that writes files checks its outputs before it loads or generates any data,
// and fails with one line naming the path and the reason; no raw Foundation error text.

import XCTest

@testable import DiceKit

final class CLIFileErrorTests: XCTestCase {
    /// `dicekit arguments` exits 1 with one stderr line containing every fragment.
    private func assertOneLineError(_ arguments: [String], mentioning fragments: [String], line: UInt = #line) throws {
        let result = try runDicekit(arguments)
        XCTAssertEqual(result.status, 1, result.stderr, line: line)
        // One line of error; a notice before it (`--precision bf16` running in float32 on a CPU
        // without bfloat16 kernels) is not part of the error.
        let lines = result.stderr.split(separator: "\n").filter { !$0.hasPrefix("note: ") }
        XCTAssertEqual(lines.count, 1, result.stderr, line: line)
        for fragment in fragments { XCTAssertTrue(result.stderr.contains(fragment), result.stderr, line: line) }
        XCTAssertFalse(result.stderr.contains("Error Domain"), line: line)
    }

    func testOutputThatIsAFile() throws {
        let file = try temporaryDirectory(self).appendingPathComponent("in-the-way").path
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        try assertOneLineError(
            ["synth", "--out", file, "--count", "2", "--size", "16"], mentioning: [file, "is a file"])
        try assertOneLineError(
            ["synth", "--out", file + "/sub", "--count", "2", "--size", "16", "--png"], mentioning: [file, "is a file"])
        // Checked before the (missing) checkpoint and input are read.
        try assertOneLineError(
            ["predict", "--checkpoint", "/missing.safetensors", "--input", "/missing.npy", "--out", file],
            mentioning: [file, "is a file"])
        try assertOneLineError(
            ["train", "--data", "/missing-data", "--out", file + "/run", "--epochs", "1"],
            mentioning: [file, "is a file"])
    }

    func testOutputInsideProcOrSys() throws {
        try assertOneLineError(
            ["train", "--data", "/missing-data", "--out", "/proc/dicekit-run", "--epochs", "1"],
            mentioning: ["/proc/dicekit-run", "pseudo file system"])
        try assertOneLineError(
            ["synth", "--out", "/sys/dicekit", "--count", "2", "--size", "16"], mentioning: ["/sys/dicekit"])
        try assertOneLineError(
            ["predict", "--checkpoint", "/missing.safetensors", "--input", "/missing.npy", "--logits", "/proc/l.npy"],
            mentioning: ["/proc/l.npy"])
        try assertOneLineError(
            [
                "grad", "--checkpoint", "/missing.safetensors", "--images", "/a.npy", "--labels", "/b.npy", "--out",
                "/proc/g.safetensors",
            ],
            mentioning: ["/proc/g.safetensors"])
    }

    func testHugeWidthCheckpointIsAOneLineError() throws {
        // down.0.0.weight [1000000, 3, 3, 0] with no data: a U-Net of width 10⁶ if trusted.
        let header =
            #"{"down.0.0.weight":{"dtype":"F32","shape":[1000000,3,3,0],"data_offsets":[0,0]},"head.weight":{"dtype":"F32","shape":[2,16,1,1],"data_offsets":[0,128]}}"#
        var bytes = [UInt8]()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { bytes += $0 }
        bytes += Array(header.utf8) + [UInt8](repeating: 0, count: 128)
        let path = try temporaryDirectory(self).appendingPathComponent("huge.safetensors").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        try assertOneLineError(
            ["eval", "--checkpoint", path, "--data", "synthetic", "--count", "1", "--size", "16"],
            mentioning: ["base width 1000000"])
    }

    func testACheckpointWhoseOutputsOverflowIsAOneLineError() throws {
        // Every kernel × 10²⁰: four layers deep the logits overflow Float (NaN and ±inf).
        let configuration = UNetConfiguration(baseWidth: 4, depth: 1)
        var file = try UNet<Float>(configuration, seed: 1).parameters.stateDict(metadata: configuration.metadata)
        for name in file.names where name.hasSuffix("weight") {
            let kernel = try file.tensor(named: name, as: Float.self)
            file.setTensor(try Tensor(shape: kernel.shape, scalars: kernel.scalars.map { $0 * 1e20 }), named: name)
        }
        let root = try temporaryDirectory(self)
        let path = root.appendingPathComponent("overflowing.safetensors").path
        try file.write(to: path)
        var generator = SeededGenerator(seed: 2)
        let images = root.appendingPathComponent("images.npy").path
        try NPY.write(Tensor<Float>.uniform([2, 16, 16, 3], generator: &generator), to: images)
        for precision in ["float32", "bf16"] {
            try assertOneLineError(
                [
                    "eval", "--checkpoint", path, "--data", "synthetic", "--count", "2", "--size", "16",
                    "--precision", precision,
                ],
                mentioning: ["the model's logits are not finite", "expected finite values"])
            try assertOneLineError(
                [
                    "predict", "--checkpoint", path, "--input", images, "--masks",
                    root.appendingPathComponent("masks-\(precision)").path, "--precision", precision,
                ],
                mentioning: ["0000: the model's logits are not finite"])
        }
    }

    func testErrorQuotingANameWithALineBreakStaysOneLine() throws {
        let configuration = UNetConfiguration(baseWidth: 4, depth: 1)
        var file = try UNet<Float>(configuration).parameters.stateDict(metadata: configuration.metadata)
        file.setTensor(Tensor<Float>([1]), named: "two\nlines")
        let path = try temporaryDirectory(self).appendingPathComponent("named.safetensors").path
        try file.write(to: path)
        try assertOneLineError(
            ["eval", "--checkpoint", path, "--data", "synthetic", "--count", "1", "--size", "16"],
            mentioning: ["two; lines"])
    }
}
