// `dicekit check`'s JSON (CPU fields, the OpenBLAS core, the sgemm figure) and the core guard as
// the tool applies it at start-up, in child processes whose environment sets OPENBLAS_CORETYPE
// or removes it explicitly (the tests never depend on the variable of the machine's environment).

import XCTest

@testable import DiceKit

final class CLICheckTests: XCTestCase {
    /// Runs `dicekit` with `set` added to and `unset` removed from this process's environment.
    private func runDicekit(_ arguments: [String], set: [String: String] = [:], unset: [String]) throws -> ToolResult {
        try runTool("dicekit", arguments, environment: set, unset: unset)
    }

    private func checkJSON(set: [String: String] = [:], unset: [String]) throws -> [String: Any] {
        let result = try runDicekit(["check", "--size", "32", "--sgemm-size", "256"], set: set, unset: unset)
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        return try XCTUnwrap(object, result.stdout)
    }

    func testCheckReportsTheCPUTheCoreAndTheSgemmRate() throws {
        let json = try checkJSON(unset: ["DICEKIT_OPENBLAS_GUARD"])
        let cpu = CPUInfo.current
        XCTAssertEqual(json["cpu_vendor"] as? String, cpu.vendor)
        XCTAssertEqual(json["cpu_family"] as? Int, cpu.family)
        XCTAssertEqual(json["cpu_model"] as? String, cpu.modelName)
        XCTAssertEqual(json["cpu_model_number"] as? Int, cpu.model)
        XCTAssertEqual(json["cpu_isa"] as? [String], cpu.instructionSets.names)
        XCTAssertEqual(json["cpu_cores"] as? Int, cpu.cores)
        XCTAssertEqual(json["cpu_l2_bytes"] as? Int, cpu.caches.l2)
        let sgemm = try XCTUnwrap(json["sgemm_gflops"] as? Double)
        XCTAssertGreaterThan(sgemm, 0)
        XCTAssertEqual(json["sgemm_size"] as? Int, 256)
        XCTAssertNotNil(json["openblas_core"] as? String)
        XCTAssertNotNil(json["openblas_core_found"] as? String)
        if let peak = json["peak_gflops"] as? Double {
            let fraction = try XCTUnwrap(json["sgemm_fraction_of_peak"] as? Double)
            XCTAssertEqual(fraction, sgemm / peak, accuracy: 1e-9 * fraction)
            // The clock may be a nominal rate below the boost clock, hence some room above 1.
            XCTAssertLessThan(fraction, 2, "sgemm \(sgemm) GFLOP/s against a peak of \(peak)")
        } else {
            XCTAssertTrue(json["sgemm_fraction_of_peak"] is NSNull)
        }
        XCTAssertEqual(json["ok"] as? Bool, true)
    }

    /// The bfloat16 line names the kernels; without any, what runs instead and no arithmetic
    /// (there is none to choose).
    func testTheBFloat16LineSaysWhatRuns() throws {
        let result = try runDicekit(
            ["check", "--size", "32", "--sgemm-size", "256"], unset: ["DICEKIT_BF16_ARITHMETIC"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let line = try XCTUnwrap(result.stderr.split(separator: "\n").first { $0.hasPrefix("bf16 kernels: ") })
        if ComputePrecision.bfloat16Available {
            XCTAssertTrue(line.contains("; arithmetic: "), String(line))
        } else {
            XCTAssertEqual(line, "bf16 kernels: none (--precision bf16 runs in float32 here)")
        }
    }

    /// `dicekit` corrects the core by running itself again with OPENBLAS_CORETYPE set, so that
    /// OpenBLAS loads with it; the report is that of a correction all the same.
    func testTheCorrectionHappensAtLoad() throws {
        guard BLAS.coreSelection.reason == .corrected else {
            throw XCTSkip("OpenBLAS's own core is kept here (\(BLAS.coreSelection))")
        }
        let json = try checkJSON(unset: ["OPENBLAS_CORETYPE", "DICEKIT_OPENBLAS_GUARD", BLAS.coreGuardFoundVariable])
        XCTAssertEqual(json["openblas_core_reason"] as? String, "corrected")
        XCTAssertEqual(json["openblas_core_found"] as? String, BLAS.coreSelection.found)
        XCTAssertEqual(json["openblas_core"] as? String, BLAS.coreSelection.chosen)
        XCTAssertTrue((json["openblas_core_detail"] as? String)?.contains("loaded") ?? false, "\(json)")
    }

    func testAnExplicitCoreTypeIsLeftAlone() throws {
        guard BLAS.configuration.contains("DYNAMIC_ARCH") else { throw XCTSkip("OpenBLAS without DYNAMIC_ARCH") }
        // Nehalem is a generic core: without the variable the guard would replace it.
        let result = try runDicekit(
            ["check", "--size", "32", "--sgemm-size", "128"],
            set: ["OPENBLAS_CORETYPE": "Nehalem"], unset: ["DICEKIT_OPENBLAS_GUARD"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(json["openblas_core_found"] as? String, "Nehalem")
        XCTAssertEqual(json["openblas_core"] as? String, "Nehalem")
        XCTAssertEqual(json["openblas_core_reason"] as? String, "explicit")
        XCTAssertFalse(result.rawStderr.contains("dicekit: OpenBLAS core"), result.rawStderr)
    }

    /// Where the guard corrects the core (this process's own selection tells), every command
    /// says so once, on the first line of stderr, and an error still takes one line after it.
    func testTheNoticeIsOneLineBeforeAnError() throws {
        let result = try runDicekit(["loss", "--variant", "nonsense"], set: [:], unset: ["OPENBLAS_CORETYPE"])
        XCTAssertNotEqual(result.status, 0)
        let lines = result.rawStderr.split(separator: "\n")
        let noticed = BLAS.coreSelection.reason == .corrected
        XCTAssertEqual(lines.first?.hasPrefix("dicekit: OpenBLAS core "), noticed, result.rawStderr)
        XCTAssertEqual(lines.filter { $0.hasPrefix("dicekit: OpenBLAS core ") }.count, noticed ? 1 : 0)
        XCTAssertEqual(result.stderr.split(separator: "\n").first?.hasPrefix("dicekit loss: "), true, result.stderr)
    }

    func testWithoutTheVariableNoGenericCoreRunsOnAnAVX2CPU() throws {
        let json = try checkJSON(unset: ["OPENBLAS_CORETYPE", "DICEKIT_OPENBLAS_GUARD"])
        let reason = try XCTUnwrap(json["openblas_core_reason"] as? String)
        XCTAssertNotEqual(reason, "explicit")
        let core = try XCTUnwrap(json["openblas_core"] as? String)
        if !BLAS.candidateCores(for: CPUInfo.current.instructionSets).isEmpty,
            BLAS.configuration.contains("DYNAMIC_ARCH")
        {
            XCTAssertFalse(BLAS.genericCores.contains(core), "\(core) (\(reason)) on a CPU with AVX2 + FMA")
        }
        let off = try checkJSON(set: ["DICEKIT_OPENBLAS_GUARD": "0"], unset: ["OPENBLAS_CORETYPE"])
        XCTAssertEqual(off["openblas_core_reason"] as? String, "disabled")
        XCTAssertEqual(off["openblas_core"] as? String, off["openblas_core_found"] as? String)
    }
}
