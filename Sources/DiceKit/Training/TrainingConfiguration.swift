// What `Trainer` needs to know: epochs, batch size, optimiser, schedule, loss, augmentation and
// where to write its outputs. Every field has a default that trains the synthetic polyp set well.

/// The optimisers `Trainer` can build.
public enum OptimizerKind: String, Sendable, CaseIterable {
    /// Adam with L2 weight decay (PyTorch's `Adam`).
    case adam
    /// Adam with decoupled weight decay (PyTorch's `AdamW`).
    case adamw
    /// SGD with momentum (Nesterov), as nnU-Net trains.
    case sgd
}

/// The learning-rate schedules `Trainer` can apply, stepped once per optimiser step.
public enum ScheduleKind: String, Sendable, CaseIterable {
    /// The base rate throughout.
    case constant
    /// Linear warm-up over the first epoch, then a cosine decay to 0.
    case cosine
    /// nnU-Net's (1 − t/T)^0.9.
    case poly
    /// The base rate, multiplied by `TrainingConfiguration.plateau`'s factor whenever the
    /// validation Dice stops improving (PyTorch's `ReduceLROnPlateau`); set per epoch.
    case plateau
}

/// What `Trainer` does with a training step whose loss or gradient norm is not finite.
public enum NonFinitePolicy: Sendable, Equatable {
    /// Stop training before the optimiser step (the default): `fit` writes the summary and the
    /// curves, keeps the last good checkpoint and throws `TrainingDivergence`.
    case stop
    /// Drop that step's update (the weights and the optimiser state stay as they were), count it
    /// in the summary's "skipped_steps"; a non-finite step that follows `maxConsecutive` (≥ 1)
    /// skipped steps in a row stops the run as `stop` does.
    case skip(maxConsecutive: Int)

    /// The spelling of `dicekit train --on-nonfinite`: "stop", "skip" (10 in a row) or "skip:N".
    public var name: String {
        switch self {
        case .stop: return "stop"
        case .skip(let n): return "skip:\(n)"
        }
    }

    /// Parses `name`'s spelling.
    ///
    /// - Throws: `DiceKitError.option` naming the value and the accepted forms.
    public init(name: String) throws {
        switch name {
        case "stop": self = .stop
        case "skip": self = .skip(maxConsecutive: 10)
        default:
            guard name.hasPrefix("skip:"), let n = Int(name.dropFirst(5)), n >= 1 else {
                throw DiceKitError.option("on-nonfinite '\(name)'; expected stop, skip or skip:N with N ≥ 1")
            }
            self = .skip(maxConsecutive: n)
        }
    }
}

/// Settings of a training run.
public struct TrainingConfiguration: Sendable {
    /// Passes over the training set (default 20).
    public var epochs = 20
    /// Images per optimiser step (default 8).
    public var batchSize = 8
    /// Base learning rate (default 1e-3).
    public var learningRate = 1e-3
    /// Optimiser (default Adam).
    public var optimizer: OptimizerKind = .adam
    /// Weight decay (default 0): L2 for Adam and SGD, decoupled for AdamW.
    public var weightDecay = 0.0
    /// SGD momentum (default 0.99 with Nesterov, nnU-Net's); unused by Adam.
    public var momentum = 0.99
    /// Learning-rate schedule (default cosine with a one-epoch warm-up).
    public var schedule: ScheduleKind = .cosine
    /// The rule of `ScheduleKind.plateau` (PyTorch's defaults); unused by the other schedules.
    public var plateau = LearningRatePlateau()
    /// Stop when the validation Dice has not improved for a number of epochs (nil, the default:
    /// train every epoch). Needs a validation set.
    public var earlyStopping: EarlyStopping?
    /// The objective (default Dice + cross-entropy, nnU-Net's: soft Dice alone with MONAI's
    /// per-image defaults can settle on "all background" when some images hold no object).
    public var loss: LossKind = .diceCE
    /// The objective's hyper-parameters (class weights, background exclusion, batch Dice, Tversky
    /// and focal exponents, term weights, …); the default keeps `loss`'s own settings.
    public var lossOptions = LossOptions()
    /// Deep supervision (`DeepSupervisionLoss` with these weights over the full-resolution output
    /// and `deepSupervisionLevels − 1` lower decoder levels' heads); nil (default) trains the
    /// full-resolution output alone.
    public var deepSupervision: DeepSupervisionWeighting? = nil
    /// With `deepSupervision`: the outputs supervised, full resolution included, 2...depth;
    /// nil (default) takes the model's depth (nnU-Net: every decoder level).
    public var deepSupervisionLevels: Int? = nil
    /// Clip the global gradient L2 norm to this value (default 12, nnU-Net's); nil disables.
    public var gradientClip: Double? = 12
    /// Per-sample augmentation (default flips, 90° rotations, brightness/contrast jitter).
    public var augmentation: Augmentation = .standard
    /// Batches prepared ahead on a background thread (decoded, resized, augmented) while a
    /// step runs, 1…64 (default 2). It changes memory use, never the batches.
    public var prefetchDepth = 2
    /// Seed of shuffling and augmentation (default 0).
    public var seed: UInt64 = 0
    /// Where checkpoints, metrics.jsonl, summary.json and curves.svg go; nil writes nothing.
    public var outputDirectory: String? = nil
    /// What to do with a non-finite loss or gradient norm (default: stop).
    public var onNonFinite: NonFinitePolicy = .stop
    /// The convolutions' arithmetic during training and validation (default `.float`; see
    /// `ComputePrecision`). Master weights, optimiser state, normalisation statistics, losses and
    /// checkpoints stay Float either way.
    public var precision: ComputePrecision = .float
    /// An exponential moving average of the weights, kept beside them (nil, the default: none).
    /// With one, validation scores the averaged weights, `best.safetensors` holds them when their
    /// Dice improves and `ema.safetensors` after every epoch; `last.safetensors` keeps the trained
    /// weights and the average (see `WeightAverage`, `TrainingCheckpoint`).
    public var weightAveraging: WeightAveraging?
    /// Stochastic weight averaging (nil, the default: none): the equal average of the weights
    /// at the ends of the epochs from its start on, the learning rate of the later epochs
    /// annealed to its rate. Validation scores the average from the start epoch on (the trained
    /// weights before), `best.safetensors` holds whichever scored best and `swa.safetensors`
    /// the average after every epoch from the start; `last.safetensors` keeps both. Not with
    /// `weightAveraging` (one average per run).
    public var stochasticWeightAveraging: StochasticWeightAveraging?
    /// Settings that a resumed run must repeat (option name → canonical value: data source,
    /// sizes, loss, seed, …), stored verbatim in every training checkpoint for the caller to
    /// compare on resume (`dicekit train --resume` does). Default empty.
    public var recordedOptions: [String: String] = [:]

    /// The classes' names (index 0 = background), from `classes.json` beside the data; written
    /// as `class_names` in `summary.json`'s configuration. Default nil (no names).
    public var classNames: [String]?

    /// The label of unlabelled positions (default nil: every position has a class). The loss
    /// and the validation metrics leave those positions out (the loss as if they were not
    /// there, with a zero gradient); it must lie outside 0..<classes, and the data sets must
    /// have the same `ignoreIndex` (or none). Refused with the objectives that need every
    /// position labelled (`LossKind.acceptsIgnoreIndex`).
    public var ignoreIndex: Int?

    /// The defaults above.
    public init() {}

    /// Checks ranges and combinations.
    ///
    /// - Throws: `DiceKitError.option` naming the offending value.
    public func validate() throws {
        guard epochs >= 1 else { throw DiceKitError.invalidOption(name: "epochs", value: "\(epochs)", expected: "≥ 1") }
        guard batchSize >= 1 else {
            throw DiceKitError.invalidOption(name: "batch size", value: "\(batchSize)", expected: "≥ 1")
        }
        guard learningRate > 0, learningRate.isFinite else {
            throw DiceKitError.invalidOption(
                name: "learning rate", value: "\(learningRate)", expected: "a finite value > 0")
        }
        guard weightDecay >= 0, weightDecay.isFinite else {
            throw DiceKitError.invalidOption(name: "weight decay", value: "\(weightDecay)", expected: "≥ 0")
        }
        guard (0..<1).contains(momentum) else {
            throw DiceKitError.invalidOption(name: "momentum", value: "\(momentum)", expected: "0 ≤ m < 1")
        }
        guard (1...64).contains(prefetchDepth) else {
            throw DiceKitError.invalidOption(name: "prefetch depth", value: "\(prefetchDepth)", expected: "1…64")
        }
        if case .skip(let n) = onNonFinite, n < 1 {
            throw DiceKitError.option("on-nonfinite skip:\(n); expected skip:N with N ≥ 1")
        }
        if let levels = deepSupervisionLevels, levels < 2 {
            throw DiceKitError.invalidOption(
                name: "deep supervision levels", value: "\(levels)", expected: "2...depth (full resolution included)")
        }
        try lossOptions.check(for: loss)
        try checkIgnoreIndex(classes: nil)
        try plateau.validate()
        try earlyStopping?.validate()
        try weightAveraging?.validate()
        try stochasticWeightAveraging?.validate()
        if weightAveraging != nil, stochasticWeightAveraging != nil {
            throw DiceKitError.option(
                "a moving average and stochastic weight averaging together; expected one weight average per run")
        }
        if let clip = gradientClip, !(clip > 0 && clip.isFinite) {
            throw DiceKitError.invalidOption(name: "gradient clip", value: "\(clip)", expected: "a finite value > 0")
        }
    }
}
