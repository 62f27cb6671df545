// dicekit: the command-line tool. Dispatches to a subcommand; see Docs/CLI.md.
//
// Exit status: 0 on success, 1 on bad input (one line on stderr), 2 on bad usage.

import DiceKit

#if canImport(Glibc)
    import Glibc
#endif

let version = "0.1.0"

let overview = """
    dicekit \(version): Dice-family losses, metrics and U-Net training on OpenBLAS

    usage: dicekit <command> [options]
           dicekit <command> --help
           dicekit --version

    commands:
    \(commands.map { "  " + $0.spec.name.padding(12) + $0.spec.summary }.joined(separator: "\n"))
    """

extension String {
    func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(1, width - count)) }
}

func main() -> ExitStatus {
    let arguments = Array(CommandLine.arguments.dropFirst())
    guard let first = arguments.first else {
        printError(overview)
        return .usage
    }
    switch first {
    case "-h", "--help", "help":
        printOutput(overview)
        return .success
    case "--version", "version":
        printOutput("dicekit \(version)")
        return .success
    default:
        break
    }
    guard let command = commands.first(where: { $0.spec.name == first }) else {
        printError("dicekit: unknown command '\(first)'; run 'dicekit --help' for the list")
        return .usage
    }
    let rest = Array(arguments.dropFirst())
    if rest.contains("--help") || rest.contains("-h") {
        printOutput(command.spec.help)
        return .success
    }
    reportCoreGuard()
    do {
        try ThreadsOption.applyEnvironment()
        let parsed = try ParsedArguments.parse(rest, spec: command.spec)
        try command.run(parsed)
        return .success
    } catch let error as UsageError {
        printError("dicekit \(first): \(flattened(error.message))")
        printError("run 'dicekit \(first) --help' for usage")
        return .usage
    } catch {
        printError("dicekit \(first): \(oneLine(error))")
        return .failure
    }
}

// OpenBLAS loads with the core the guard would choose, rather than switching it at run time.
BLAS.reexecuteWithCorrectedCoreIfNeeded()
AllocationPolicy.retainLargeBlocks() // reuse freed tensor buffers across training steps
exit(main().rawValue)
