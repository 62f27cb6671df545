// The protocol every subcommand implements, and the registry the dispatcher reads.

/// A `dicekit` subcommand (a type with static members; `SendableMetatype` lets the registry
/// below be a global constant).
protocol Command: SendableMetatype {
    /// Its name, options and help text.
    static var spec: CommandSpec { get }
    /// Runs it. Throws `UsageError` for usage mistakes (exit 2) and any other error for bad input (exit 1).
    static func run(_ arguments: ParsedArguments) throws
}

/// Every subcommand, in the order `dicekit --help` lists them.
let commands: [Command.Type] = [
    TrainCommand.self,
    PredictCommand.self,
    EvalCommand.self,
    GradCommand.self,
    SynthCommand.self,
    LossCommand.self,
    MetricsCommand.self,
    InfoCommand.self,
    CheckCommand.self,
]
