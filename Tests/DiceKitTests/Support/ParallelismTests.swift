// The one thread-count setting (Support/Parallelism.swift): it sizes the worker pool and
// OpenBLAS together, no call runs on more threads than it allows, and the command-line tool
// takes it as --threads or DICEKIT_THREADS and refuses nonsense.

import XCTest

@testable import DiceKit

final class ParallelismTests: XCTestCase {
    /// The distinct threads that run the tasks of one large pool call.
    private func threadsUsed() -> Int {
        let count = 2000
        var ids = [pthread_t](repeating: pthread_t(), count: count)
        ids.withUnsafeMutableBufferPointer { buffer in
            let shared = TaskShared(buffer.baseAddress!)
            WorkerPool.shared.run(count) { i in
                let base = shared.buffers
                var s: Float = 0
                for k in 0..<500 { s += Float(k) }
                base[i] = s > 0 ? pthread_self() : pthread_t()
            }
        }
        return Set(ids.map { UInt($0) }).count
    }

    func testThreadCountSizesThePoolAndOpenBLAS() {
        let original = Parallelism.threadCount
        defer { Parallelism.threadCount = original }
        for threads in [1, 3, System.activeProcessorCount + 2] {
            Parallelism.threadCount = threads
            XCTAssertEqual(Parallelism.threadCount, threads)
            XCTAssertEqual(WorkerPool.shared.workers, threads - 1)
            XCTAssertEqual(BLAS.threadCount, threads)
            XCTAssertLessThanOrEqual(threadsUsed(), threads)
        }
        Parallelism.threadCount = 0
        XCTAssertEqual(Parallelism.threadCount, 1, "clamped to 1")
    }

    func testCommandLineThreadOptions() throws {
        let bad = try runDicekit(["train", "--threads", "0"])
        XCTAssertEqual(bad.status, 2, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("--threads"), bad.stderr)
        let environment = try runDicekit(
            ["eval", "--checkpoint", "x.safetensors", "--data", "synthetic"],
            environment: [Parallelism.environmentVariable: "many"])
        XCTAssertEqual(environment.status, 1, environment.stderr)
        XCTAssertTrue(environment.stderr.contains("DICEKIT_THREADS='many'"), environment.stderr)
        let check = try runDicekit(["check", "--size", "8"], environment: [Parallelism.environmentVariable: "3"])
        XCTAssertTrue(check.stdout.contains("\"threads\": 3"), check.stdout)
        for command in ["train", "eval", "predict"] {
            XCTAssertTrue(try runDicekit([command, "--help"]).stdout.contains("--threads T"), command)
        }
    }
}
