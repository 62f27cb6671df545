// The OpenBLAS core guard: which core it picks for which instruction sets, that a switch from a
// generic core gives the same GEMM results, and that an explicit OPENBLAS_CORETYPE or the off
// switch leaves OpenBLAS alone. The switching tests re-select cores in this process and restore
// the original one afterwards; they skip without a DYNAMIC_ARCH OpenBLAS or without AVX2 + FMA.

import XCTest

@testable import DiceKit

final class BLASCoreGuardTests: XCTestCase {
    func testCandidateCoresFollowTheInstructionSets() {
        let avx2: CPUInfo.InstructionSets = [.sse42, .avx, .avx2, .fma]
        XCTAssertEqual(BLAS.candidateCores(for: avx2), ["Haswell"])
        XCTAssertEqual(BLAS.candidateCores(for: avx2.union(.avx512Server)), ["SkylakeX", "Haswell"])
        XCTAssertEqual(
            BLAS.candidateCores(for: avx2.union(.avx512Server).union(.avx512bf16)),
            ["Cooperlake", "SkylakeX", "Haswell"])
        // AVX-512 F without BW/DQ/VL (Knights Landing) is not enough for SkylakeX.
        XCTAssertEqual(BLAS.candidateCores(for: avx2.union([.avx512f, .avx512cd])), ["Haswell"])
        XCTAssertEqual(BLAS.candidateCores(for: [.sse42, .avx]), [])
        XCTAssertEqual(BLAS.candidateCores(for: [.sse42, .avx, .avx2]), [], "AVX2 without FMA")
        XCTAssertTrue(BLAS.genericCores.contains("Prescott"))
        XCTAssertFalse(BLAS.genericCores.contains("Haswell"))
    }

    /// Re-selects `core` (skipping when that is impossible here) and returns the core to restore.
    private func switchableSetUp() throws -> (original: String, best: String) {
        let candidates = BLAS.candidateCores(for: CPUInfo.current.instructionSets)
        guard let best = candidates.first else { throw XCTSkip("the CPU has neither AVX2 + FMA nor AVX-512") }
        let original = BLAS.coreName
        guard BLAS.reselectCore("Prescott") == "Prescott" else {
            _ = BLAS.reselectCore(original)
            throw XCTSkip("OpenBLAS cannot re-select its core (not a DYNAMIC_ARCH build)")
        }
        addTeardownBlock { XCTAssertEqual(BLAS.reselectCore(original), original) }
        return (original, best)
    }

    private func products<T: BLASScalar>(_: T.Type) -> [T] {
        var generator = SeededGenerator(seed: 11)
        let (m, n, k) = (193, 131, 257)
        let a = Tensor<T>.uniform([m, k], lower: -1, upper: 1, generator: &generator).scalars
        let b = Tensor<T>.uniform([n, k], lower: -1, upper: 1, generator: &generator).scalars
        var c = [T](repeating: 0, count: m * n)
        BLAS.gemm(transposeB: .transpose, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: k, c: &c, ldc: n)
        return c
    }

    private func assertSame<T: BLASScalar>(_ x: [T], _ y: [T], relative: T, _ what: String) {
        let scale = y.reduce(T(0)) { max($0, abs($1)) }
        let worst = zip(x, y).reduce(T(0)) { max($0, abs($1.0 - $1.1)) }
        XCTAssertLessThanOrEqual(worst, relative * scale, "\(what): max difference \(worst) of max |c| \(scale)")
    }

    func testCorrectingAGenericCoreGivesTheSameProducts() throws {
        let (_, best) = try switchableSetUp()
        let environmentBefore = getenv("OPENBLAS_CORETYPE").map { String(cString: $0) }
        let genericFloat = products(Float.self)
        let genericDouble = products(Double.self)

        let selection = BLAS.runCoreGuard(
            userCoreType: nil, guardSetting: nil,
            instructionSets: CPUInfo.current.instructionSets)
        XCTAssertEqual(selection.reason, .corrected, selection.description)
        XCTAssertEqual(selection.found, "Prescott")
        XCTAssertEqual(selection.chosen, best)
        XCTAssertTrue(selection.corrected)
        XCTAssertEqual(BLAS.currentCoreName(), best)
        XCTAssertEqual(
            getenv("OPENBLAS_CORETYPE").map { String(cString: $0) }, environmentBefore,
            "the guard restores the environment")

        // k = 257 products of values in [−1, 1]: different kernels sum in different orders, so the
        // results agree to a few ulps of the largest element, not bit for bit.
        assertSame(products(Float.self), genericFloat, relative: 1e-5, "Float, \(best) vs Prescott")
        assertSame(products(Double.self), genericDouble, relative: 1e-13, "Double, \(best) vs Prescott")
    }

    func testAReexecutedProcessReportsTheCorrection() throws {
        let (_, best) = try switchableSetUp()
        let sets = CPUInfo.current.instructionSets
        // From a generic core, the plan is the best candidate; an explicit variable or the off
        // switch plans nothing.
        XCTAssertEqual(BLAS.plannedCore(userCoreType: nil, guardSetting: nil, instructionSets: sets), best)
        XCTAssertNil(BLAS.plannedCore(userCoreType: "Prescott", guardSetting: nil, instructionSets: sets))
        XCTAssertNil(BLAS.plannedCore(userCoreType: nil, guardSetting: "off", instructionSets: sets))
        // As if OpenBLAS had loaded with OPENBLAS_CORETYPE=best after choosing Prescott itself.
        XCTAssertEqual(BLAS.reselectCore(best), best)
        XCTAssertNil(BLAS.plannedCore(userCoreType: nil, guardSetting: nil, instructionSets: sets), "not generic")
        let loaded = BLAS.runCoreGuard(
            userCoreType: best, guardSetting: nil, instructionSets: sets, reexecutedFrom: "Prescott")
        XCTAssertEqual(loaded.reason, .corrected, loaded.description)
        XCTAssertEqual(loaded.found, "Prescott")
        XCTAssertEqual(loaded.chosen, best)
        XCTAssertEqual(BLAS.currentCoreName(), best, "nothing switched at run time")
        // When the core asked for at load did not take, the guard decides as without the variable.
        XCTAssertEqual(BLAS.reselectCore("Prescott"), "Prescott")
        let retried = BLAS.runCoreGuard(
            userCoreType: "NoSuchCore", guardSetting: nil, instructionSets: sets, reexecutedFrom: "Prescott")
        XCTAssertEqual(retried.reason, .corrected, retried.description)
        XCTAssertEqual(retried.chosen, best)
    }

    func testExplicitVariableSwitchAndSuitableCoresAreLeftAlone() throws {
        let (_, best) = try switchableSetUp()
        let sets = CPUInfo.current.instructionSets
        let explicit = BLAS.runCoreGuard(userCoreType: "Prescott", guardSetting: nil, instructionSets: sets)
        XCTAssertEqual(explicit.reason, .explicit)
        XCTAssertEqual(BLAS.currentCoreName(), "Prescott")
        for off in ["0", "off", "FALSE", "no"] {
            let disabled = BLAS.runCoreGuard(userCoreType: nil, guardSetting: off, instructionSets: sets)
            XCTAssertEqual(disabled.reason, .disabled, off)
            XCTAssertEqual(disabled.chosen, "Prescott")
        }
        let poorCPU = BLAS.runCoreGuard(userCoreType: nil, guardSetting: "1", instructionSets: [.sse42])
        XCTAssertEqual(poorCPU.reason, .noBetterCore)
        XCTAssertEqual(BLAS.currentCoreName(), "Prescott")

        XCTAssertEqual(BLAS.reselectCore(best), best)
        let suitable = BLAS.runCoreGuard(userCoreType: nil, guardSetting: nil, instructionSets: sets)
        XCTAssertEqual(suitable.reason, .suitable)
        XCTAssertEqual(suitable.chosen, best)
        XCTAssertFalse(suitable.corrected)
    }
}
