// Runs the built `dicekit` executable (a dependency of this test target, so it is built first)
// and captures its exit status, standard output and standard error.

import XCTest

struct ToolResult {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// Runs `dicekit` with `arguments` from the build products folder; `environment` adds to (or
/// overrides) the test process's environment.
func runDicekit(_ arguments: [String], environment: [String: String] = [:],
                file: StaticString = #filePath, line: UInt = #line) throws -> ToolResult {
    let products = Bundle.module.bundleURL.deletingLastPathComponent()
    let tool = products.appendingPathComponent("dicekit")
    guard FileManager.default.isExecutableFile(atPath: tool.path) else {
        throw XCTSkip("dicekit executable not found at \(tool.path)")
    }
    let process = Process()
    process.executableURL = tool
    process.arguments = arguments
    if !environment.isEmpty {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ToolResult(status: process.terminationStatus,
                      stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
}
