// `dicekit train --ema D [--ema-warmup] [--ema-bn average|recompute]`: an exponential moving
// average of the weights (`WeightAverage`; PyTorch's `AveragedModel` with
// `get_ema_multi_avg_fn(D)`, Keras's `use_ema`). Validation scores the averaged weights (with
// BatchNorm statistics recomputed for them with recompute: PyTorch's `update_bn`);
// best.safetensors and ema.safetensors hold them.
// `dicekit train --swa E [--swa-lr X] [--swa-anneal-epochs N] [--swa-anneal cos|linear]
// [--swa-bn recompute|average]`: stochastic weight averaging (`StochasticWeightAveraging`;
// PyTorch's `AveragedModel` and `SWALR`): the equal average of the weights at the ends of epochs
// E, E + 1, …; swa.safetensors holds it. The options of both are fixed for --resume: the average
// in last.safetensors belongs to them.

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
          --swa E                stochastic weight averaging: the equal average of the weights at the ends of
                                 epochs E, E+1, … (1-based); validation scores it from epoch E, swa.safetensors
                                 holds it (PyTorch's AveragedModel and SWALR). Not with --ema
          --swa-lr X             after epoch E the rate anneals from the rate at the end of epoch E to X
                                 (default: stays there)   --swa-anneal-epochs N (10)   --swa-anneal cos|linear (cos)
          --swa-bn recompute|average   BatchNorm statistics of the average: recomputed by a pass over the
                                 training set before each validation (default; PyTorch's update_bn) or averaged
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

extension TrainCommand {
    /// Reads `--swa`, `--swa-lr`, `--swa-anneal-epochs`, `--swa-anneal` and `--swa-bn` into
    /// `config` and their record into `recorded`.
    ///
    /// - Throws: `UsageError` for a start outside 1...epochs, a rate ≤ 0, negative anneal epochs,
    ///   an unknown anneal or statistics word, the other options without `--swa`, or `--swa`
    ///   with `--ema`.
    static func parseStochasticWeightAverage(
        _ arguments: ParsedArguments, into config: inout TrainingConfiguration, recorded: inout [String: String]
    ) throws {
        let options = ["swa-lr", "swa-anneal-epochs", "swa-anneal", "swa-bn"]
        guard let start = try arguments.int("swa") else {
            if let option = options.first(where: { arguments.string($0) != nil }) {
                throw UsageError(
                    message: "--\(option) applies to --swa E; give the first averaged epoch E (e.g. --swa 15)")
            }
            return
        }
        guard arguments.string("ema") == nil else {
            throw UsageError(message: "--swa and --ema together; expected one weight average: --swa E or --ema D")
        }
        guard (1...config.epochs).contains(start) else {
            throw UsageError(
                message: "--swa expects the first averaged epoch in 1...\(config.epochs) (--epochs), got \(start)")
        }
        let rate = try arguments.double("swa-lr")
        if let rate, rate <= 0 { throw UsageError(message: "--swa-lr expects a rate > 0, got \(rate)") }
        let statistics = arguments.string("swa-bn") ?? "recompute"
        guard ["average", "recompute"].contains(statistics) else {
            throw UsageError(message: "--swa-bn expects recompute or average, got '\(statistics)'")
        }
        let swa = StochasticWeightAveraging(
            start: start, learningRate: rate,
            annealEpochs: try arguments.int("swa-anneal-epochs", default: 10, in: 0...1_000_000)!,
            anneal: try arguments.choice("swa-anneal", as: StochasticWeightAveraging.Anneal.self, default: .cosine)!,
            recomputesStatistics: statistics == "recompute")
        config.stochasticWeightAveraging = swa
        recorded["swa"] = "\(start)"
        recorded["swa-lr"] = rate.map { "\($0)" }
        recorded["swa-anneal-epochs"] = "\(swa.annealEpochs)"
        recorded["swa-anneal"] = swa.anneal.rawValue
        recorded["swa-bn"] = swa.statisticsName
    }
}
