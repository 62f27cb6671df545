// Same seed and same thread count give the same bits (Support/Parallelism.swift): two short
// `dicekit train` runs at the default thread count and with more threads than processors give
// identical checkpoint tensors and metrics; the parallel reductions (lowered and direct
// convolution weight gradients, the losses) give identical bits on repeated calls with several
// workers, however the threads happen to be scheduled.

import Foundation
import XCTest

@testable import DiceKit

final class DeterminismTests: XCTestCase {
    /// Trains a tiny U-Net whose 16-channel layers take the direct kernels (on AVX-512) and
    /// whose 2-channel head takes the lowered path; returns the checkpoint's tensors and the
    /// metrics lines without their timing fields.
    private func train(_ extra: [String], environment: [String: String] = [:]) throws -> (
        [String: SafetensorsTensor], [String]
    ) {
        let dir = try temporaryDirectory(self).path
        let run = try runDicekit(
            [
                "train", "--count", "8", "--size", "32", "--depth", "2", "--base", "16",
                "--epochs", "2", "--batch-size", "4", "--seed", "3", "--out", dir,
            ] + extra,
            environment: environment)
        XCTAssertEqual(run.status, 0, run.stderr)
        let checkpoint = try SafetensorsFile.read(contentsOf: "\(dir)/last.safetensors")
        let lines = try String(contentsOfFile: "\(dir)/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
            line in
            var object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            object["seconds"] = nil
            object["images_per_second"] = nil
            object["data_wait_fraction"] = nil
            return String(
                decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
        }
        XCTAssertEqual(lines.count, 2)
        return (checkpoint.tensors, lines)
    }

    /// Fails with the number of elements whose bits differ (not the whole tensors).
    private func assertSameBits(
        _ a: Tensor<Float>, _ b: Tensor<Float>, _ what: String,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let differing = zip(a.scalars, b.scalars).filter { $0.bitPattern != $1.bitPattern }.count
        XCTAssertEqual(differing, 0, "\(what): \(differing) of \(a.count) elements differ", file: file, line: line)
    }

    /// Fails with the names of the tensors whose bytes differ.
    private func assertSameTensors(
        _ a: [String: SafetensorsTensor], _ b: [String: SafetensorsTensor],
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(a.keys.sorted(), b.keys.sorted(), file: file, line: line)
        let differing = a.keys.sorted().filter { a[$0] != b[$0] }
        XCTAssertEqual(differing, [], "\(differing.count) of \(a.count) tensors differ", file: file, line: line)
    }

    func testSameSeedTrainingsAreBitIdenticalAtTheDefaultThreadCount() throws {
        let first = try train([])
        let second = try train([])
        XCTAssertFalse(first.0.isEmpty)
        assertSameTensors(first.0, second.0)
        XCTAssertEqual(first.1, second.1)
    }

    func testSameSeedTrainingsAreBitIdenticalWithMoreThreadsThanProcessors() throws {
        let threads = String(System.activeProcessorCount + 3)
        let first = try train(["--threads", threads])
        let second = try train([], environment: [Parallelism.environmentVariable: threads])
        assertSameTensors(first.0, second.0)
        XCTAssertEqual(first.1, second.1)
    }

    /// Repeats a convolution's backward pass with `workers` workers and checks every repetition
    /// gives the first one's bits.
    private func assertRepeatable(
        input: [Int], kernel: [Int], cout: Int, allowsDirect: Bool, workers: Int,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let x = randomTensor(input, seed: 40).converted(to: Float.self)
        let w = randomTensor(kernel + [input.last!, cout], seed: 41).converted(to: Float.self)
        let conv = try Convolution(
            weight: w, bias: randomTensor([cout], seed: 43).converted(to: Float.self), padding: .same,
            settings: ConvolutionSettings(workers: workers, allowsDirect: allowsDirect))
        let y = try conv.forward(x)
        let dy = randomTensor(y.shape, seed: 42).converted(to: Float.self)
        let first = try conv.backward(input: x, outputGradient: dy)
        for _ in 0..<12 {
            let again = try conv.backward(input: x, outputGradient: dy)
            assertSameBits(again.weight, first.weight, "∂w", file: file, line: line)
            assertSameBits(again.bias!, first.bias!, "∂b", file: file, line: line)
            assertSameBits(again.input!, first.input!, "∂x", file: file, line: line)
        }
    }

    func testLoweredConvolutionGradientsRepeatWithMoreWorkersThanProcessors() throws {
        let workers = System.activeProcessorCount + 2
        // Fewer samples than workers: the workers share samples and private input gradients.
        try assertRepeatable(input: [2, 24, 24, 8], kernel: [3, 3], cout: 24, allowsDirect: false, workers: workers)
        // More samples than workers: whole samples per chunk.
        try assertRepeatable(input: [9, 12, 12, 8], kernel: [3, 3], cout: 24, allowsDirect: false, workers: workers)
    }

    func testDirectConvolutionGradientsRepeatWithMoreWorkersThanProcessors() throws {
        try XCTSkipUnless(ConvGeometry.directKernelsAvailable, "no AVX-512: the direct kernels never run here")
        let workers = System.activeProcessorCount + 2
        try assertRepeatable(input: [2, 24, 24, 16], kernel: [3, 3], cout: 32, allowsDirect: true, workers: workers)
        try assertRepeatable(input: [11, 16, 16, 16], kernel: [3, 3], cout: 16, allowsDirect: true, workers: workers)
    }
}
