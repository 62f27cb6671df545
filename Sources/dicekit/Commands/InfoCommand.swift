// `dicekit info FILE.npy…`: the dtype, shape and value range of .npy files, as JSON lines.

import DiceKit

enum InfoCommand: Command {
    static let spec = CommandSpec(
        name: "info",
        summary: "print dtype, shape and value range of .npy files",
        help: """
            usage: dicekit info FILE.npy [FILE.npy ...]

            Prints one JSON object per file: {"file", "dtype", "shape", "min", "max", "finite"}.
            Exits 1 with a one-line message if a file is missing or malformed.
            """,
        positionals: 1...1000
    )

    static func run(_ arguments: ParsedArguments) throws {
        for path in arguments.positionals {
            let array = try NPY.read(contentsOf: path)
            let values = array.tensor(of: Double.self)
            let shape = "[" + array.shape.map(String.init).joined(separator: ", ") + "]"
            printOutput(
                "{\"file\": \(jsonString(path)), \"dtype\": \"\(array.dtype.rawValue)\", \"shape\": \(shape), "
                    + "\"min\": \(jsonNumber(values.min() ?? .nan)), \"max\": \(jsonNumber(values.max() ?? .nan)), "
                    + "\"finite\": \(values.isFinite)}")
        }
    }
}
