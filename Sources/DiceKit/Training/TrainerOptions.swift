// Settings of a training run.

/// What `Trainer.fit` does; every property has a default.
public struct TrainerOptions: Sendable {
    /// Epochs to train (the last epoch number when resuming); default 10.
    public var epochs: Int
    /// Mini-batch size; default 8.
    public var batchSize: Int
    /// Base learning rate, scaled per epoch by `schedule`; default 1e-3.
    public var learningRate: Double
    /// Learning-rate schedule over epochs (step t = epoch − 1); default constant.
    public var schedule: LearningRateSchedule
    /// Global gradient-norm limit (`clipGradientNorm`), or nil for none (default).
    public var gradientClipNorm: Double?
    /// Augmentation of training batches; default `.standard` (use `.none` for none; turn
    /// `rotate90` off for non-square images).
    public var augmentation: Augmentation
    /// Seed of the batch order and augmentation (epoch e uses seed &+ e); default 0.
    public var seed: UInt64
    /// Where metrics.jsonl, summary.json, curves.svg, last.safetensors and best.safetensors go;
    /// nil writes nothing (default).
    public var outputDirectory: String?
    /// Settings recorded under "configuration" in summary.json.
    public var configuration: [JSONField]
    /// Extra metadata for the checkpoint files (architecture, classes…).
    public var checkpointMetadata: [String: String]

    /// Options; see the properties for the defaults.
    public init(epochs: Int = 10, batchSize: Int = 8, learningRate: Double = 1e-3, schedule: LearningRateSchedule = .constant,
                gradientClipNorm: Double? = nil, augmentation: Augmentation = .standard, seed: UInt64 = 0,
                outputDirectory: String? = nil, configuration: [JSONField] = [], checkpointMetadata: [String: String] = [:]) {
        self.epochs = epochs
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.schedule = schedule
        self.gradientClipNorm = gradientClipNorm
        self.augmentation = augmentation
        self.seed = seed
        self.outputDirectory = outputDirectory
        self.configuration = configuration
        self.checkpointMetadata = checkpointMetadata
    }

    /// - Throws: `DiceKitError.option` for epochs or batch size below 1, a learning rate below 0,
    ///   a clip norm ≤ 0 or an invalid schedule.
    public func validate() throws {
        guard epochs >= 1, batchSize >= 1 else {
            throw DiceKitError.option("epochs \(epochs), batch size \(batchSize); expected both ≥ 1")
        }
        guard learningRate >= 0, learningRate.isFinite else {
            throw DiceKitError.option("learning rate \(learningRate); expected a finite value ≥ 0")
        }
        if let clip = gradientClipNorm, !(clip > 0) {
            throw DiceKitError.option("gradient clip norm \(clip); expected a value > 0")
        }
        try schedule.validate()
    }
}
