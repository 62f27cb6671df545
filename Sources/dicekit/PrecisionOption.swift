// `--precision float32|bf16` (train, eval, predict): the convolutions' arithmetic. bf16 runs the
// qualifying convolutions with bfloat16 operands and Float accumulation on a CPU with
// AVX512-BF16 or AMX-BF16; elsewhere it prints a one-line notice and runs in float32 (and where
// the AMX tiles failed their self-check, a notice that the arithmetic of a CPU without AMX runs;
// where the CPU's products run at the Float rate, rounded operands, a notice that bf16 brings
// its numerics and memory there, not speed).

import DiceKit

enum PrecisionOption {
    /// The help lines of `--precision`.
    static let help = """
        --precision P  float32 (default) or bf16: convolutions with bfloat16 operands and float32
                       accumulation (AVX512-BF16/AMX CPUs; else a notice and float32). Weights,
                       optimiser state, statistics, losses and checkpoints stay float32.
        """

    /// The requested precision (default float32); prints the fallback notice on stderr when the
    /// CPU cannot run bf16.
    ///
    /// - Throws: `UsageError` for a value other than float32 or bf16.
    static func parse(_ arguments: ParsedArguments) throws -> ComputePrecision {
        guard let text = arguments.string("precision") else { return .float }
        let precision: ComputePrecision
        do { precision = try ComputePrecision(parsing: text) } catch let error as DiceKitError {
            throw UsageError(message: "--precision: \(error.description)")
        }
        if precision == .bfloat16, let message = BFloat16Arithmetic.environmentError {
            throw UsageError(message: message)
        }
        if let notice = precision.fallbackNotice { printError(notice) }
        if precision == .bfloat16, let notice = BFloat16Arithmetic.tileFallbackNotice { printError(notice) }
        if precision.effective == .bfloat16, let notice = BFloat16Arithmetic.roundedOperandsNotice {
            printError(notice)
        }
        return precision
    }
}
