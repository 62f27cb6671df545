// Rules that watch the validation foreground Dice from epoch to epoch: early stopping (Keras's
// `EarlyStopping`) and a learning rate that drops when the Dice stops rising (PyTorch's
// `ReduceLROnPlateau`, mode "max"). Both are replayed from the run's history, so a resumed run
// makes the same decisions as one that was never interrupted, without any state of their own in
// the checkpoint. Epochs without a validation Dice (no validation, or an epoch cut short by
// Ctrl-C) are passed over. See Docs/Training.md.

/// Stops training when the validation foreground Dice has not improved for `patience` epochs
/// (Keras's `EarlyStopping(monitor, mode="max", patience, min_delta)`).
public struct EarlyStopping: Sendable, Equatable {
    /// Validated epochs without improvement after which training stops (≥ 1).
    public var patience: Int
    /// An improvement must exceed the best Dice so far by more than this (≥ 0; default 0).
    public var minimumDelta: Double

    /// A rule with `patience` epochs and `minimumDelta`.
    public init(patience: Int, minimumDelta: Double = 0) {
        self.patience = patience
        self.minimumDelta = minimumDelta
    }

    /// Checks the values.
    ///
    /// - Throws: `DiceKitError.option` for a patience below 1 or a negative or non-finite delta.
    public func validate() throws {
        guard patience >= 1 else {
            throw DiceKitError.invalidOption(name: "early-stopping patience", value: "\(patience)", expected: "≥ 1")
        }
        guard minimumDelta >= 0, minimumDelta.isFinite else {
            throw DiceKitError.invalidOption(
                name: "early-stopping delta", value: "\(minimumDelta)", expected: "a finite value ≥ 0")
        }
    }

    /// Whether `history` ends the run: the epoch of the best Dice and the validated epochs since
    /// it when they reach `patience`, nil otherwise. An epoch improves when its Dice minus
    /// `minimumDelta` exceeds the best so far (the first validated epoch always does).
    public func verdict(_ history: [EpochMetrics]) -> (bestEpoch: Int, waited: Int)? {
        var best = -Double.infinity
        var bestEpoch = 0
        var waited = 0
        for epoch in history {
            guard let dice = epoch.validationDiceForeground else { continue }
            if dice - minimumDelta > best {
                (best, bestEpoch, waited) = (dice, epoch.epoch, 0)
            } else {
                waited += 1
            }
        }
        return waited >= patience ? (bestEpoch, waited) : nil
    }
}

/// Multiplies the learning rate by `factor` when the validation foreground Dice has not improved
/// for more than `patience` epochs (PyTorch's `ReduceLROnPlateau(mode="max", factor, patience,
/// threshold, threshold_mode="rel", cooldown, min_lr)`), applied per epoch.
public struct LearningRatePlateau: Sendable, Equatable {
    /// Validated epochs without improvement tolerated before a reduction (≥ 0; default 10).
    public var patience: Int
    /// The factor of each reduction, in (0, 1) (default 0.1).
    public var factor: Double
    /// An improvement must exceed best · (1 + threshold) (≥ 0; default 1e-4).
    public var threshold: Double
    /// Validated epochs after a reduction during which bad epochs are not counted (≥ 0; default 0).
    public var cooldown: Int
    /// The learning rate never drops below this (≥ 0; default 0).
    public var minimumLearningRate: Double

    /// PyTorch's defaults unless given.
    public init(
        patience: Int = 10, factor: Double = 0.1, threshold: Double = 1e-4, cooldown: Int = 0,
        minimumLearningRate: Double = 0
    ) {
        self.patience = patience
        self.factor = factor
        self.threshold = threshold
        self.cooldown = cooldown
        self.minimumLearningRate = minimumLearningRate
    }

    /// Checks the values.
    ///
    /// - Throws: `DiceKitError.option` naming the value out of range.
    public func validate() throws {
        guard patience >= 0 else {
            throw DiceKitError.invalidOption(name: "plateau patience", value: "\(patience)", expected: "≥ 0")
        }
        guard factor > 0, factor < 1 else {
            throw DiceKitError.invalidOption(name: "plateau factor", value: "\(factor)", expected: "a value in (0, 1)")
        }
        guard threshold >= 0, threshold.isFinite else {
            throw DiceKitError.invalidOption(name: "plateau threshold", value: "\(threshold)", expected: "≥ 0")
        }
        guard cooldown >= 0 else {
            throw DiceKitError.invalidOption(name: "plateau cooldown", value: "\(cooldown)", expected: "≥ 0")
        }
        guard minimumLearningRate >= 0, minimumLearningRate.isFinite else {
            throw DiceKitError.invalidOption(
                name: "minimum learning rate", value: "\(minimumLearningRate)", expected: "a finite value ≥ 0")
        }
    }

    /// The learning rate after the validated epochs of `history`, starting from `base`.
    public func learningRate(base: Double, after history: [EpochMetrics]) -> Double {
        var rate = base
        var best = -Double.infinity
        var bad = 0
        var cooling = 0
        for epoch in history {
            guard let dice = epoch.validationDiceForeground else { continue }
            if dice > best * (1 + threshold) {
                (best, bad) = (dice, 0)
            } else {
                bad += 1
            }
            if cooling > 0 {
                cooling -= 1
                bad = 0
            }
            if bad > patience {
                let reduced = max(rate * factor, minimumLearningRate)
                if rate - reduced > 1e-8 { rate = reduced } // PyTorch's eps
                (cooling, bad) = (cooldown, 0)
            }
        }
        return rate
    }
}
