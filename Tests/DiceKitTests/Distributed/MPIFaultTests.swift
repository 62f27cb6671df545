// Faults and stops of `dicekit train --distributed` under mpirun (Docs/Distributed.md, "Faults"):
// a rank that raises an error is reported by rank 0 in one line naming the rank, the error, the
// epoch and step and the last good checkpoint, and the job ends within seconds; Ctrl-C on mpirun
// (which passes SIGTERM on to the ranks) and SIGUSR1 (passed on as it is) save at a step
// boundary, and the saved run resumes; the runs launch through a hostfile of localhost slots.
// Skipped without mpirun.

import Foundation
import XCTest

@testable import DiceKit

final class MPIFaultTests: XCTestCase {
    private func command(_ out: String, count: Int = 10, epochs: Int, extra: [String] = []) -> [String] {
        [
            "train", "--count", "\(count)", "--size", "32", "--depth", "2", "--base", "4", "--norm", "group:2",
            "--no-augment", "--threads", "1", "--seed", "5", "--epochs", "\(epochs)", "--batch-size", "2",
            "--distributed", "--out", out,
        ] + extra
    }

    /// The stderr lines that report a fault (`dicekit: rank …`).
    private func faultLines(_ stderr: String) -> [Substring] {
        stderr.split(separator: "\n").filter { $0.hasPrefix("dicekit: rank") }
    }

    private func epochsLogged(_ dir: String) -> Int {
        ((try? String(contentsOfFile: "\(dir)/metrics.jsonl", encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    func testAFailingRankIsReportedByRankZeroInOneLine() throws {
        let root = try temporaryDirectory(self).path
        let arguments = command("\(root)/failed", epochs: 4)
        // Rank 1 throws before step 2 of epoch 2 while rank 0 waits for it in a collective.
        let (run, timedOut, seconds) = try runMPI(
            [(1, [:], arguments), (1, ["DICEKIT_TEST_FAIL_AT": "rank-step:2"], arguments)], options: ["-q"],
            timeout: 45)
        XCTAssertFalse(timedOut, "the job hung: \(run.stderr)")
        XCTAssertNotEqual(run.status, 0)
        XCTAssertLessThan(seconds, 45)
        let lines = faultLines(run.stderr)
        XCTAssertEqual(lines.count, 1, run.stderr)
        let line = String(lines.first ?? "")
        XCTAssertTrue(line.hasPrefix("dicekit: rank 1 of 2 failed: "), line)
        XCTAssertTrue(line.contains("test failure requested at rank-step of epoch 2"), line)
        // Rank 0 is in step 2 (or, on a busy machine, just leaving step 1) when the error arrives.
        XCTAssertTrue(line.contains("at epoch 2, step "), line)
        XCTAssertTrue(line.contains("; last good checkpoint \(root)/failed/last.safetensors (epoch 1)"), line)
        XCTAssertFalse(run.stderr.contains("MPI_ABORT"), "mpirun -q adds no block: \(run.stderr)")
        XCTAssertEqual(try TrainingCheckpoint.read(contentsOf: "\(root)/failed/last.safetensors").epoch, 1)
    }

    func testCtrlCAndSIGUSR1OnMPIRunSaveAtAStepBoundaryAndResumeThroughAHostfile() throws {
        let root = try temporaryDirectory(self).path
        let hostfile = "\(root)/hosts.txt"
        try "localhost slots=2\n".write(toFile: hostfile, atomically: true, encoding: .utf8)
        // mpirun passes Ctrl-C on as SIGTERM, `odls_base_sigkill_timeout` seconds after it and as
        // long before its SIGKILL.
        let options = ["--hostfile", hostfile, "--mca", "odls_base_sigkill_timeout", "2"]
        let out = "\(root)/run"
        let (stopped, timedOut, _) = try runMPI(
            [(2, [:], command(out, count: 40, epochs: 200))], options: options,
            signal: (SIGINT, { self.epochsLogged(out) >= 1 }), timeout: 60)
        XCTAssertFalse(timedOut, stopped.stderr)
        XCTAssertTrue(stopped.stderr.contains("interrupted: saved \(out)/last.safetensors"), stopped.stderr)
        XCTAssertTrue(stopped.stdout.contains("\"interrupted\": true"), stopped.stdout)
        let saved = try TrainingCheckpoint.read(contentsOf: "\(out)/last.safetensors")
        XCTAssertTrue((1..<200).contains(saved.epoch), "epoch \(saved.epoch)")
        XCTAssertEqual(epochsLogged(out), saved.epoch)

        // Resumed on two ranks; SIGUSR1 reaches the ranks as it is, and mpirun ends with 0.
        let (resumed, resumeTimedOut, _) = try runMPI(
            [(2, [:], command(out, count: 40, epochs: 200, extra: ["--resume", "\(out)/last.safetensors"]))],
            options: options, signal: (SIGUSR1, { self.epochsLogged(out) > saved.epoch }), timeout: 60)
        XCTAssertFalse(resumeTimedOut, resumed.stderr)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("interrupted: saved \(out)/last.safetensors"), resumed.stderr)
        XCTAssertGreaterThan(try TrainingCheckpoint.read(contentsOf: "\(out)/last.safetensors").epoch, saved.epoch)
    }
}
