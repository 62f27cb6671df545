// Runs the built `dicekit` executable (a dependency of this test target, so it is built first)
// and captures its exit status, standard output and standard error.

import XCTest

struct ToolResult {
    /// The exit status, or the signal's number when `killedBySignal`.
    let status: Int32
    let killedBySignal: Bool
    let stdout: String
    /// Standard error without the OpenBLAS core guard's notice (`reportCoreGuard`), which comes
    /// first, on its own line, on a machine where Debian's OpenBLAS picks a generic core (an
    /// Intel Xeon it does not know): the tests of one-line errors read the lines after it.
    let stderr: String
    /// Standard error as written.
    let rawStderr: String

    init(status: Int32, killedBySignal: Bool, stdout: String, stderr: String) {
        self.status = status
        self.killedBySignal = killedBySignal
        self.stdout = stdout
        self.rawStderr = stderr
        self.stderr = ToolResult.withoutCoreGuardNotice(stderr)
    }

    /// The prefixes of the core guard's notice lines (Sources/dicekit/CoreGuardNotice.swift).
    static let coreGuardPrefixes = ["dicekit: OpenBLAS core ", "dicekit: OpenBLAS runs its generic "]

    /// `text` without its lines that start with a core guard notice prefix.
    static func withoutCoreGuardNotice(_ text: String) -> String {
        guard coreGuardPrefixes.contains(where: { text.contains($0) }) else { return text }
        return text.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { line in !coreGuardPrefixes.contains { line.hasPrefix($0) } }
            .joined(separator: "\n")
    }
}

/// Runs `dicekit` with `arguments` from the build products folder, with `environment` added to
/// the test process's environment.
func runDicekit(
    _ arguments: [String], environment: [String: String] = [:],
    file: StaticString = #filePath, line: UInt = #line
) throws -> ToolResult {
    try runTool("dicekit", arguments, environment: environment)
}

/// Runs the built product `name` with `arguments`, with `environment` added to and `unset`
/// removed from the test process's environment; skips the test when the product is not built.
func runTool(
    _ name: String, _ arguments: [String], environment: [String: String] = [:],
    unset: [String] = []
) throws -> ToolResult {
    let products = Bundle.module.bundleURL.deletingLastPathComponent()
    let tool = products.appendingPathComponent(name)
    guard FileManager.default.isExecutableFile(atPath: tool.path) else {
        throw XCTSkip("\(name) executable not found at \(tool.path)")
    }
    let process = Process()
    process.executableURL = tool
    process.arguments = arguments
    if !environment.isEmpty || !unset.isEmpty {
        var merged = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        for name in unset { merged[name] = nil }
        process.environment = merged
    }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ToolResult(
        status: process.terminationStatus, killedBySignal: process.terminationReason == .uncaughtSignal,
        stdout: String(decoding: outData, as: UTF8.self),
        stderr: String(decoding: errData, as: UTF8.self))
}
