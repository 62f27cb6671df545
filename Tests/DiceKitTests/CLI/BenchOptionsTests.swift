// `dicekit-bench`'s options that fail before any benchmark runs: usage errors exit 2, a reference
// file that cannot be read or holds no JSON object exits 1 with one line (the file is read
// before the run, so a bad file costs no benchmark time), and a DICEKIT_ISA it cannot honour exits 2.
// And `--alternate`'s summary against a fixed reference: the ratio of each side's best run.

import XCTest

final class BenchOptionsTests: XCTestCase {
    private func runBench(_ arguments: [String]) throws -> ToolResult {
        try runTool("dicekit-bench", arguments)
    }

    func testUsageErrors() throws {
        for arguments in [
            ["--alternate", "3"], ["--reference", "true"], ["--alternate", "0", "--reference", "true"],
            ["--alternate", "x", "--reference", "true"], ["--against"],
            ["--against", "a.json", "--alternate", "2", "--reference", "true"],
            ["--bogus"],
        ] {
            let result = try runBench(arguments)
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
            XCTAssertTrue(result.stderr.hasPrefix("dicekit-bench: "), "\(arguments): \(result.stderr)")
        }
        let help = try runBench(["--help"])
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(
            help.stdout.contains("--quick          one warm-up run and a third of the repetitions"), help.stdout)
    }

    func testBadReferenceFilesFailAtOnce() throws {
        let dir = try temporaryDirectory(self)
        let missing = try runBench(["--against", dir.appendingPathComponent("none.json").path])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.hasSuffix("none.json: cannot be read\n"), missing.stderr)
        XCTAssertTrue(missing.stdout.isEmpty, "nothing ran: \(missing.stdout)")
        let text = dir.appendingPathComponent("text.json")
        try "Traceback (most recent call last):\n  oops\n".write(to: text, atomically: true, encoding: .utf8)
        let garbage = try runBench(["--against", text.path])
        XCTAssertEqual(garbage.status, 1)
        XCTAssertTrue(garbage.stderr.contains("no JSON object found"), garbage.stderr)
        XCTAssertEqual(garbage.stderr.split(separator: "\n").count, 1, garbage.stderr)
    }

    func testUnusableInstructionSetIsRefusedBeforeAnyRun() throws {
        // DICEKIT_ISA names the kernels' level; one this build does not know never runs silently at another.
        let result = try runTool("dicekit-bench", ["--quick"], environment: ["DICEKIT_ISA": "avx1024"])
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertTrue(
            result.stderr.hasPrefix("dicekit-bench: DICEKIT_ISA=avx1024 cannot be used: expected one of portable"),
            result.stderr)
        XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.stderr)
        XCTAssertTrue(result.stdout.isEmpty, "nothing ran: \(result.stdout)")
    }

    func testListNamesTheReferenceKeys() throws {
        let list = try runBench(["--list"])
        XCTAssertEqual(list.status, 0)
        XCTAssertTrue(list.stdout.contains("conv3x3_n8_h32_c128to128"), list.stdout)
    }

    func testAlternateReportsTheRatioOfTheBestRuns() throws {
        // A reference that always prints the same figures: its best run is that figure, so the best
        // runs' ratio is DiceKit's fastest run (smallest time, largest rate) over it.
        let key = "dice_sigmoid_n8_c1_256x256_ms"
        let result = try runBench([
            "--quick", "--filter", "dice_sigmoid_n8", "--alternate", "2", "--json",
            "--reference", "printf '{\"\(key)\": 30.0, \"triad_gbs\": 1.0}'",
        ])
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let json = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(lines.last!.utf8)) as? [String: Any], result.stdout)
        for (name, reference, timed) in [(key, 30.0, true), ("triad_gbs", 1.0, false)] {
            // The table row: key, DiceKit's median [min–max], the reference's, the ratios, the best runs' ratio.
            let row = try XCTUnwrap(lines.last { $0.hasPrefix(name + " ") }, result.stdout)
            let range = try XCTUnwrap(row.split(separator: "[").dropFirst().first?.split(separator: "]").first)
            let bounds = range.split(separator: "–").compactMap { Double($0) }
            XCTAssertEqual(bounds.count, 2, row)
            let expected = timed ? reference / bounds[0] : bounds[1] / reference
            let best = try XCTUnwrap(json[name + "_vs_reference_best"] as? Double, "\(json)")
            let medians = try XCTUnwrap(json[name + "_vs_reference"] as? Double, "\(json)")
            XCTAssertEqual(best, expected, accuracy: 2e-3 * expected, row)
            XCTAssertGreaterThanOrEqual(best, medians * (1 - 1e-3), row)
            XCTAssertTrue(row.hasSuffix("×"), row)
        }
    }
}
