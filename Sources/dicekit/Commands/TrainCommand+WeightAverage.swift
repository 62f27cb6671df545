// `dicekit train --ema D [--ema-warmup]`: an exponential moving average of the weights
// (`WeightAverage`; PyTorch's `AveragedModel` with `get_ema_multi_avg_fn(D)`, Keras's `use_ema`).
// Validation scores the averaged weights; best.safetensors and ema.safetensors hold them. Both
// options are fixed for --resume: the average in last.safetensors belongs to its decay.

import DiceKit

extension TrainCommand {
    /// The help lines of the options.
    static let weightAverageHelp = """
          --ema D                keep an exponential moving average of the weights, decay D (0 < D < 1, e.g.
                                 0.999): validation scores it, best.safetensors and ema.safetensors hold it
                                 (PyTorch's AveragedModel with get_ema_multi_avg_fn(D), buffers averaged too)
          --ema-warmup           update k uses min(D, (1 + k)/(10 + k)) (TensorFlow's num_updates rule)
        """

    /// Reads `--ema` and `--ema-warmup` into `config` and their record into `recorded`.
    ///
    /// - Throws: `UsageError` for a decay outside 0 < D < 1 or `--ema-warmup` without `--ema`.
    static func parseWeightAverage(
        _ arguments: ParsedArguments, into config: inout TrainingConfiguration, recorded: inout [String: String]
    ) throws {
        guard let decay = try arguments.double("ema") else {
            if arguments.flag("ema-warmup") {
                throw UsageError(message: "--ema-warmup applies to --ema D; give the decay D (e.g. --ema 0.999)")
            }
            return
        }
        let averaging = WeightAveraging(decay: decay, warmup: arguments.flag("ema-warmup"))
        guard decay > 0, decay < 1 else {
            throw UsageError(message: "--ema expects a decay 0 < D < 1 (e.g. 0.999), got \(decay)")
        }
        config.weightAveraging = averaging
        recorded["ema"] = "\(decay)"
        recorded["ema-warmup"] = "\(averaging.warmup)"
    }
}
