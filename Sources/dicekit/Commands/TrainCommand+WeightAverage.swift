// `dicekit train --ema D [--ema-warmup] [--ema-bn average|recompute]`: an exponential moving
// average of the weights (`WeightAverage`; PyTorch's `AveragedModel` with
// `get_ema_multi_avg_fn(D)`, Keras's `use_ema`). Validation scores the averaged weights (with
// BatchNorm statistics recomputed for them with recompute: PyTorch's `update_bn`);
// best.safetensors and ema.safetensors hold them. The options are fixed for --resume: the
// average in last.safetensors belongs to them.

import DiceKit

extension TrainCommand {
    /// The help lines of the options.
    static let weightAverageHelp = """
          --ema D                keep an exponential moving average of the weights, decay D (0 < D < 1, e.g.
                                 0.999): validation scores it, best.safetensors and ema.safetensors hold it
                                 (PyTorch's AveragedModel with get_ema_multi_avg_fn(D), buffers averaged too)
          --ema-warmup           update k uses min(D, (1 + k)/(10 + k)) (TensorFlow's num_updates rule)
          --ema-bn average|recompute   the averaged model's BatchNorm statistics: the average of the
                                 model's (default) or recomputed for its weights by a pass over the training
                                 set before each validation (PyTorch's update_bn; better for short runs)
        """

    /// Reads `--ema`, `--ema-warmup` and `--ema-bn` into `config` and their record into `recorded`.
    ///
    /// - Throws: `UsageError` for a decay outside 0 < D < 1, another `--ema-bn` than average or
    ///   recompute, or `--ema-warmup` or `--ema-bn` without `--ema`.
    static func parseWeightAverage(
        _ arguments: ParsedArguments, into config: inout TrainingConfiguration, recorded: inout [String: String]
    ) throws {
        guard let decay = try arguments.double("ema") else {
            for option in ["ema-warmup", "ema-bn"] where arguments.flag(option) || arguments.string(option) != nil {
                throw UsageError(message: "--\(option) applies to --ema D; give the decay D (e.g. --ema 0.999)")
            }
            return
        }
        guard decay > 0, decay < 1 else {
            throw UsageError(message: "--ema expects a decay 0 < D < 1 (e.g. 0.999), got \(decay)")
        }
        let statistics = arguments.string("ema-bn") ?? "average"
        guard ["average", "recompute"].contains(statistics) else {
            throw UsageError(message: "--ema-bn expects average or recompute, got '\(statistics)'")
        }
        let averaging = WeightAveraging(
            decay: decay, warmup: arguments.flag("ema-warmup"), recomputesStatistics: statistics == "recompute")
        config.weightAveraging = averaging
        recorded["ema"] = "\(decay)"
        recorded["ema-warmup"] = "\(averaging.warmup)"
        recorded["ema-bn"] = averaging.statisticsName
    }
}
