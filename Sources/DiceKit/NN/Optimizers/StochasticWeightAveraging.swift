// Stochastic weight averaging (Izmailov et al. 2018): the equal average of the weights at the
// ends of the epochs from `start` on, PyTorch's `AveragedModel(model)` updated once per epoch,
// with the learning rate of the later epochs set by PyTorch's `SWALR`. The average itself is a
// `WeightAverage` of rule `.equal`; where it goes in a training run is `Trainer`'s concern.
//
// The learning rate of epoch e > start (1-based epochs) anneals from r₀, the rate of the last
// step of epoch `start`, to `learningRate` over `annealEpochs` epochs and stays there:
//
//     j = e − start,  t = min(1, j / annealEpochs)  (t = 1 when annealEpochs = 0)
//     α = (1 − cos(π·t))/2  (cosine)  or  α = t  (linear)
//     lr = learningRate·α + r₀·(1 − α)
//
// which is the rate `SWALR(optimizer, swa_lr, anneal_epochs, anneal_strategy)` gives after its
// j-th `step()`, when the loop steps it after each averaged epoch (PyTorch's recipe). Epochs up
// to `start` follow the run's own schedule.

/// Where stochastic weight averaging starts, and the learning rate of the epochs after.
public struct StochasticWeightAveraging: Sendable, Equatable {
    /// How the learning rate goes from the run's rate to `learningRate` (PyTorch's
    /// `anneal_strategy`).
    public enum Anneal: String, Sendable, CaseIterable {
        /// α = (1 − cos(π·t))/2 (PyTorch's default).
        case cosine = "cos"
        /// α = t.
        case linear
    }

    /// The first epoch (1-based) whose final weights enter the average; each later epoch's do too.
    public var start: Int
    /// The rate the epochs after `start` anneal to (PyTorch's `swa_lr`); nil keeps the rate of
    /// the last step of epoch `start` (default nil).
    public var learningRate: Double?
    /// Epochs over which the rate anneals to `learningRate`, ≥ 0 (default 10, PyTorch's).
    public var annealEpochs: Int
    /// The shape of the anneal (default cosine).
    public var anneal: Anneal
    /// Whether the averaged model is validated and saved with BatchNorm statistics recomputed
    /// for its weights over the training set (`Trainer.recomputeBatchNormStatistics(on:)`,
    /// PyTorch's `update_bn`, default true: its recipe) instead of the average of the trained
    /// model's statistics.
    public var recomputesStatistics: Bool

    /// Averaging from epoch `start`, annealing to `learningRate` (nil: no change).
    public init(
        start: Int, learningRate: Double? = nil, annealEpochs: Int = 10, anneal: Anneal = .cosine,
        recomputesStatistics: Bool = true
    ) {
        self.start = start
        self.learningRate = learningRate
        self.annealEpochs = annealEpochs
        self.anneal = anneal
        self.recomputesStatistics = recomputesStatistics
    }

    /// How the averaged model's BatchNorm statistics are made: "average" or "recompute"
    /// (`dicekit train --swa-bn`).
    public var statisticsName: String { recomputesStatistics ? "recompute" : "average" }

    /// The learning rate of epoch `epoch` (1-based) when the last step of epoch `start` had
    /// `startRate`; nil for the epochs up to `start`, which follow the run's schedule.
    public func learningRate(epoch: Int, startRate: Double) -> Double? {
        guard epoch > start else { return nil }
        guard let target = learningRate else { return startRate }
        let t = annealEpochs == 0 ? 1 : min(1, Double(epoch - start) / Double(annealEpochs))
        let alpha = anneal == .cosine ? (1 - Double.cos(Double.pi * t)) / 2 : t
        return target * alpha + startRate * (1 - alpha)
    }

    /// Checks the settings. A start after the run's last epoch is allowed (a run trained in
    /// parts, resumed with more epochs later); until then nothing is averaged.
    ///
    /// - Throws: `DiceKitError.invalidOption` for a start below 1, a rate that is not finite
    ///   and > 0, or negative anneal epochs.
    public func validate() throws {
        guard start >= 1 else {
            throw DiceKitError.invalidOption(
                name: "weight-averaging start epoch", value: "\(start)", expected: "≥ 1 (1-based epochs)")
        }
        if let rate = learningRate, !(rate > 0 && rate.isFinite) {
            throw DiceKitError.invalidOption(
                name: "weight-averaging learning rate", value: "\(rate)", expected: "a finite value > 0")
        }
        guard annealEpochs >= 0 else {
            throw DiceKitError.invalidOption(
                name: "weight-averaging anneal epochs", value: "\(annealEpochs)", expected: "≥ 0")
        }
    }
}
