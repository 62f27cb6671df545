// Runs the `dicekit` binary on one input with a time limit and judges what it did.
//
// A finding is: death by a signal (a trap, a crash, an abort), a run that outlives its time
// limit (a hang), output holding a raw framework error ("Error Domain=", "Fatal error",
// "Swift runtime failure", "UserInfo="), an exit status other than 0, 1 and 2, or a failing
// run whose error is not one non-empty line: on exit 1 the last line of stderr must be the
// "dicekit COMMAND: …" line (progress lines may precede it; a message spanning lines leaves
// its tail last); on exit 2 it is followed by the single "run … --help" hint.

import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What one run of the tool did.
struct RunResult {
    var status: Int32
    var signalled: Bool
    var timedOut: Bool
    var stdout: String
    var stderr: String
}

/// Runs `executable` with `arguments` in `directory`, killing it after `timeout` seconds.
func runTool(_ executable: String, _ arguments: [String], in directory: String, timeout: Double) throws -> RunResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.currentDirectoryURL = URL(fileURLWithPath: directory)
    var environment = ProcessInfo.processInfo.environment
    environment["DICEKIT_FUZZ"] = "1"
    process.environment = environment
    let (outPath, errPath) = (directory + "/.stdout", directory + "/.stderr")
    _ = FileManager.default.createFile(atPath: outPath, contents: nil)
    _ = FileManager.default.createFile(atPath: errPath, contents: nil)
    let (out, err) = (FileHandle(forWritingAtPath: outPath)!, FileHandle(forWritingAtPath: errPath)!)
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let deadline = Date().addingTimeInterval(timeout)
    var timedOut = false
    while process.isRunning {
        if Date() > deadline {
            timedOut = true
            kill(process.processIdentifier, SIGKILL)
            break
        }
        usleep(2_000)
    }
    process.waitUntilExit()
    try? out.close()
    try? err.close()
    let read = { (path: String) in
        (try? String(contentsOfFile: path, encoding: .utf8))
            ?? String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self)
    }
    return RunResult(
        status: process.terminationStatus, signalled: !timedOut && process.terminationReason == .uncaughtSignal,
        timedOut: timedOut, stdout: read(outPath), stderr: read(errPath))
}

/// Raw framework texts that must never reach the user.
let rawErrorMarkers = [
    "Error Domain=", "Fatal error", "Swift runtime failure", "UserInfo=", "NSCocoaErrorDomain", "Stack dump",
]

/// Why `result` of `dicekit COMMAND …` is a finding, or nil when it behaved.
func verdict(_ result: RunResult, command: String) -> String? {
    if result.timedOut { return "hang: killed after the time limit" }
    if result.signalled { return "crash: killed by signal \(result.status)" }
    for marker in rawErrorMarkers where result.stdout.contains(marker) || result.stderr.contains(marker) {
        return "raw error: output contains '\(marker)'"
    }
    let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    let trimmed = lines.last == "" ? Array(lines.dropLast()) : lines
    let prefix = "dicekit \(command): "
    switch result.status {
    case 0:
        return nil
    case 1:
        guard let last = trimmed.last, last.hasPrefix(prefix), last.count > prefix.count else {
            return "bad error: exit 1 but the last line of stderr is not one 'dicekit \(command): …' line"
        }
        return nil
    case 2:
        guard trimmed.count >= 2, trimmed[trimmed.count - 2].hasPrefix(prefix), trimmed.last!.hasPrefix("run 'dicekit")
        else {
            return "bad error: exit 2 without a one-line usage message"
        }
        return nil
    default:
        return "bad exit status \(result.status)"
    }
}
