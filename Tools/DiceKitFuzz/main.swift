// dicekit-fuzz: a deterministic mutation fuzzer for the `dicekit` command-line tool.
//
// It makes seed inputs with the tool (a synthetic data set as .npy and PNG files, a tiny
// training run with its checkpoint, optimiser state and metrics.jsonl), then, for input
// i = first ..< first + count, mutates one file of one kind of case (NPY, safetensors, PNG
// folder, resume folder) or writes small hostile `dicekit loss` inputs (LossCases.swift), with a
// generator seeded by (seed, i), runs one command on it with a time limit and judges the result
// (see Runner.swift for what counts as a finding). Findings are copied to the findings folder
// with the command and the tool's output, and the run ends with one summary line; the exit
// status is 1 when anything was found.
//
//   dicekit-fuzz [--count N (200)] [--seed S (1)] [--first I (0)] [--time-limit SECONDS (0: none)]
//                [--timeout SECONDS (20, per run)] [--findings DIR (fuzz-findings)]
//                [--work DIR (a temporary folder)] [--dicekit PATH (next to this binary)]
//                [--kinds npy,safetensors,png,resume,loss,nifti] [--verbose (a line per input)]

import Foundation

/// What `--help` prints (the options of the file header).
let usage = """
    usage: dicekit-fuzz [--count N (200)] [--seed S (1)] [--first I (0)] [--time-limit SECONDS (0: none)]
                        [--timeout SECONDS (20, per run)] [--findings DIR (fuzz-findings)]
                        [--work DIR (a temporary folder)] [--dicekit PATH (next to this binary)]
                        [--kinds npy,safetensors,png,resume,loss,nifti] [--verbose (a line per input)]
    Mutates seed inputs of each kind, runs dicekit on each and reports crashes, hangs, raw framework
    errors, unexpected exit statuses and errors that are not one line; exit status 1 when anything
    was found, 2 for a usage error.
    """

struct Options {
    var count = 200
    var seed: UInt64 = 1
    var first = 0
    var timeLimit = 0.0
    var timeout = 20.0
    var findings = "fuzz-findings"
    var work: String?
    var dicekit: String?
    var kinds = CaseKind.allCases
    var verbose = false

    static func parse(_ arguments: [String]) throws -> Options {
        var options = Options()
        var rest = arguments[...]
        while let name = rest.popFirst() {
            if name == "--verbose" {
                options.verbose = true
                continue
            }
            guard let value = rest.popFirst() else { throw FuzzError("\(name) needs a value") }
            func number<T: LosslessStringConvertible>(_: T.Type) throws -> T {
                guard let parsed = T(value) else { throw FuzzError("\(name) expects a number, got '\(value)'") }
                return parsed
            }
            switch name {
            case "--count": options.count = try number(Int.self)
            case "--seed": options.seed = try number(UInt64.self)
            case "--first": options.first = try number(Int.self)
            case "--time-limit": options.timeLimit = try number(Double.self)
            case "--timeout": options.timeout = try number(Double.self)
            case "--findings": options.findings = value
            case "--work": options.work = value
            case "--dicekit": options.dicekit = value
            case "--kinds":
                options.kinds = try value.split(separator: ",").map {
                    guard let kind = CaseKind(rawValue: String($0)) else {
                        throw FuzzError(
                            "unknown kind '\($0)'; expected \(CaseKind.allCases.map(\.rawValue).joined(separator: ", "))"
                        )
                    }
                    return kind
                }
            default: throw FuzzError("unknown option \(name)")
            }
        }
        guard options.count >= 0, options.first >= 0, options.timeout > 0, !options.kinds.isEmpty else {
            throw FuzzError("expected --count ≥ 0, --first ≥ 0, --timeout > 0 and at least one kind")
        }
        return options
    }
}

func absolute(_ path: String) -> String {
    path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
}

func fuzz(_ options: Options) throws -> Int32 {
    let fm = FileManager.default
    let executable = absolute(CommandLine.arguments[0])
    let dicekit = absolute(options.dicekit ?? (executable as NSString).deletingLastPathComponent + "/dicekit")
    guard fm.isExecutableFile(atPath: dicekit) else {
        throw FuzzError("\(dicekit): no dicekit binary; build it or pass --dicekit PATH")
    }
    let work = absolute(options.work ?? NSTemporaryDirectory() + "dicekit-fuzz-\(getpid())")
    let findings = absolute(options.findings)
    defer { if options.work == nil { try? fm.removeItem(atPath: work) } }
    let started = Date()
    let seeds = try Seeds.make(in: work + "/seeds", dicekit: dicekit)
    var perKind = [CaseKind: Int]()
    var found = [String: Int]()
    var ran = 0
    for index in options.first..<(options.first + options.count) {
        if options.timeLimit > 0 && Date().timeIntervalSince(started) > options.timeLimit { break }
        var random = FuzzRandom(seed: options.seed, index: index)
        let kind = options.kinds[index % options.kinds.count]
        let directory = work + "/case"
        let fuzzCase = try makeCase(kind, in: directory, seeds: seeds, random: &random)
        let result = try runTool(dicekit, fuzzCase.arguments, in: directory, timeout: options.timeout)
        ran += 1
        if options.verbose {
            let last = result.stderr.split(separator: "\n").last.map(String.init) ?? ""
            print(
                "\(index) \(kind.rawValue) exit \(result.status): dicekit \(fuzzCase.arguments.prefix(3).joined(separator: " ")) … | \(last)"
            )
        }
        perKind[kind, default: 0] += 1
        if let problem = verdict(result, command: fuzzCase.arguments[0]) {
            found[String(problem.prefix { $0 != ":" }), default: 0] += 1
            let folder = findings + "/\(index)-\(kind.rawValue)"
            try? fm.removeItem(atPath: folder)
            try fm.createDirectory(atPath: findings, withIntermediateDirectories: true)
            try fm.copyItem(atPath: directory, toPath: folder)
            let report = """
                \(problem)
                input \(index) of seed \(options.seed) (reproduce: dicekit-fuzz --seed \(options.seed) --first \(index) --count 1 --kinds \(kind.rawValue) --work DIR)
                mutated: \(fuzzCase.mutated)
                command: dicekit \(fuzzCase.arguments.joined(separator: " "))
                exit status: \(result.status)\(result.signalled ? " (signal)" : "")
                \(result.stderr.split(separator: "\n").first { $0.contains("Fatal error") }.map { "trap: " + $0 } ?? "")
                --- stderr (first 20 lines; all of it in .stderr)
                \(result.stderr.split(separator: "\n", omittingEmptySubsequences: false).prefix(20).joined(separator: "\n"))
                --- stdout (last 500 characters; all of it in .stdout)
                \(String(result.stdout.suffix(500)))

                """
            try report.write(toFile: folder + "/finding.txt", atomically: true, encoding: .utf8)
            FileHandle.standardError.write(Data("dicekit-fuzz: input \(index) (\(kind.rawValue)): \(problem)\n".utf8))
        }
        if ran % 500 == 0 {
            FileHandle.standardError.write(
                Data("dicekit-fuzz: \(ran) inputs, \(found.values.reduce(0, +)) finding(s)\n".utf8))
        }
    }
    let seconds = Date().timeIntervalSince(started)
    let kinds = CaseKind.allCases.map { "\($0.rawValue) \(perKind[$0] ?? 0)" }.joined(separator: ", ")
    let total = found.values.reduce(0, +)
    let classes = found.keys.sorted().map { "\($0) \(found[$0]!)" }.joined(separator: ", ")
    print(
        "dicekit-fuzz: \(ran) inputs (\(kinds)) from seed \(options.seed), first \(options.first), in \(Int(seconds.rounded())) s: "
            + "\(total) finding(s)\(total > 0 ? " (\(classes)) in \(findings)" : "")")
    return total == 0 ? 0 : 1
}

do {
    let arguments = Array(CommandLine.arguments.dropFirst())
    if arguments.contains("--help") || arguments.contains("-h") {
        print(usage)
        exit(0)
    }
    exit(try fuzz(Options.parse(arguments)))
} catch {
    FileHandle.standardError.write(Data("dicekit-fuzz: \(error)\n".utf8))
    exit(2)
}
