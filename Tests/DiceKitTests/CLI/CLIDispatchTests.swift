// The tool's dispatch, help, version, usage errors (exit 2) and input errors (exit 1).

import XCTest

final class CLIDispatchTests: XCTestCase {
    func testHelpAndVersion() throws {
        let help = try runDicekit(["--help"])
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.stdout.contains("usage: dicekit <command>"))
        XCTAssertTrue(help.stdout.contains("info"))
        let version = try runDicekit(["--version"])
        XCTAssertEqual(version.status, 0)
        XCTAssertTrue(version.stdout.hasPrefix("dicekit "))
        let sub = try runDicekit(["info", "--help"])
        XCTAssertEqual(sub.status, 0)
        XCTAssertTrue(sub.stdout.contains("usage: dicekit info"))
    }

    func testUsageErrorsExitWithStatus2() throws {
        for arguments in [
            [], ["frobnicate"], ["check", "--size"], ["check", "--size", "x"],
            ["check", "--bogus"], ["check", "extra"], ["check", "--size", "3", "--size", "4"],
        ] {
            let result = try runDicekit(arguments)
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
            XCTAssertFalse(result.stderr.isEmpty, "\(arguments)")
        }
    }

    func testAForgottenValueAndAnExtraArgumentAreNamed() throws {
        // `--deep-supervision --out x`: the option after a value option is not taken as its value.
        let forgotten = try runDicekit(["train", "--deep-supervision", "--out", "x"])
        XCTAssertEqual(forgotten.status, 2, forgotten.stderr)
        XCTAssertTrue(
            forgotten.stderr.hasPrefix(
                "dicekit train: --deep-supervision needs a value; got the option '--out' after it"),
            forgotten.stderr)
        // A value given inline may start with dashes.
        let inline = try runDicekit(["check", "--size=--out"])
        XCTAssertTrue(inline.stderr.contains("--size expects"), inline.stderr)
        let extra = try runDicekit(["check", "--size", "8", "stray"])
        XCTAssertEqual(extra.status, 2, extra.stderr)
        XCTAssertTrue(extra.stderr.contains("got 1 (unexpected: 'stray')"), extra.stderr)
    }

    func testInputErrorsExitWithStatus1AndOneLine() throws {
        let missing = try runDicekit(["info", "/nonexistent/file.npy"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertEqual(missing.stderr, "dicekit info: /nonexistent/file.npy: no such file\n")
        let fortran = try runDicekit(["info", fixtureURL("npy/fortran.npy").path])
        XCTAssertEqual(fortran.status, 1)
        XCTAssertEqual(fortran.stderr.split(separator: "\n").count, 1)
        XCTAssertTrue(fortran.stderr.contains("Fortran order"), fortran.stderr)
    }

    func testInfoAndCheckRunOnRealData() throws {
        let info = try runDicekit(["info", fixtureURL("npy/int16.npy").path])
        XCTAssertEqual(info.status, 0, info.stderr)
        XCTAssertTrue(
            info.stdout.contains("\"dtype\": \"int16\", \"shape\": [2, 3, 4], \"min\": 0.0, \"max\": 23.0"), info.stdout
        )
        let check = try runDicekit(["check", "--size", "64"])
        XCTAssertEqual(check.status, 0, check.stderr)
        XCTAssertTrue(check.stdout.contains("\"ok\": true"), check.stdout)
    }
}
