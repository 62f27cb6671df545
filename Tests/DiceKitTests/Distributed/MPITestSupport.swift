// Runs the built `dicekit` under `mpirun` (Open MPI, installed by `make deps`): as root, with
// Open MPI's two opt-in variables; --oversubscribe for more ranks than cores. Tests skip with a
// clear message when mpirun is not installed. Every run has a time limit, so a hang fails the
// test instead of stalling the suite.

import Foundation
import XCTest

/// The `mpirun` on PATH; skips the test when there is none.
func mpirunPath() throws -> String {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for directory in path.split(separator: ":") {
        let candidate = "\(directory)/mpirun"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    throw XCTSkip("mpirun not found on PATH: install openmpi-bin and libopenmpi-dev (make deps) to run the MPI tests")
}

/// Runs `mpirun` with one application context per element of `contexts` (ranks, extra
/// environment for those ranks, dicekit arguments), i.e. `mpirun -np 2 dicekit … : -np 1 -x V=… dicekit …`,
/// and kills it after `timeout` seconds (the result then has `timedOut`). `options` go to mpirun
/// before the contexts (`-q`, `--hostfile FILE`); `signal` is sent to mpirun once its condition
/// holds (polled every 50 ms).
func runMPI(
    _ contexts: [(ranks: Int, environment: [String: String], arguments: [String])],
    options: [String] = [], signal: (number: Int32, when: () -> Bool)? = nil, timeout: Double = 60
) throws -> (result: ToolResult, timedOut: Bool, seconds: Double) {
    let mpirun = try mpirunPath()
    let products = Bundle.module.bundleURL.deletingLastPathComponent()
    let tool = products.appendingPathComponent("dicekit").path
    guard FileManager.default.isExecutableFile(atPath: tool) else {
        throw XCTSkip("dicekit executable not found at \(tool)")
    }
    var arguments = ["--oversubscribe", "--mca", "btl", "self,vader,tcp"] + options
    for (i, context) in contexts.enumerated() {
        if i > 0 { arguments.append(":") }
        arguments += ["-np", "\(context.ranks)"]
        for (name, value) in context.environment.sorted(by: { $0.key < $1.key }) {
            arguments += ["-x", "\(name)=\(value)"]
        }
        arguments += [tool] + context.arguments
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: mpirun)
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
    environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    // Under `make sanitize` (ASan): Open MPI's MCA components allocate at MPI_Init and are
    // dlclose'd at MPI_Finalize, so LeakSanitizer reports their blocks (ompi_op_base_op_select,
    // frames of unloaded modules) as leaks of every rank: none is DiceKit's. Leak reports are off
    // for the MPI ranks only; memory errors stay fatal. Without a sanitizer these are ignored.
    for name in ["ASAN_OPTIONS", "LSAN_OPTIONS"] {
        environment[name] = [environment[name], "detect_leaks=0"].compactMap { $0 }.joined(separator: ":")
    }
    process.environment = environment
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dicekit-mpi-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let outURL = directory.appendingPathComponent("out")
    let errURL = directory.appendingPathComponent("err")
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    let out = try FileHandle(forWritingTo: outURL)
    let err = try FileHandle(forWritingTo: errURL)
    process.standardOutput = out
    process.standardError = err
    let start = Date()
    try process.run()
    var timedOut = false
    var signalled = false
    while process.isRunning {
        if let signal, !signalled, signal.when() {
            signalled = true
            kill(process.processIdentifier, signal.number)
        }
        if Date().timeIntervalSince(start) > timeout {
            timedOut = true
            process.terminate()
            Thread.sleep(forTimeInterval: 1)
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            break
        }
        Thread.sleep(forTimeInterval: 0.05)
    }
    process.waitUntilExit()
    try out.close()
    try err.close()
    let result = ToolResult(
        status: process.terminationStatus, killedBySignal: process.terminationReason == .uncaughtSignal,
        stdout: try String(contentsOf: outURL, encoding: .utf8),
        stderr: try String(contentsOf: errURL, encoding: .utf8))
    return (result, timedOut, Date().timeIntervalSince(start))
}

/// `runMPI` with `ranks` ranks of one command.
func runMPI(ranks: Int, _ arguments: [String], options: [String] = [], timeout: Double = 60) throws -> (
    result: ToolResult, timedOut: Bool, seconds: Double
) {
    try runMPI([(ranks, [:], arguments)], options: options, timeout: timeout)
}
