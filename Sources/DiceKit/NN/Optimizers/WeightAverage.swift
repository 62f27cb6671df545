// An average of a model's weights, kept beside the trained ones: the exponential moving average
// (PyTorch's `AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)`,
// Keras's optimiser option `use_ema`, timm's `ModelEma`) or the equal average of stochastic
// weight averaging (PyTorch's `AveragedModel(model, use_buffers=True)`).
//
// The first update copies every parameter and buffer; update k ≥ 2 moves each floating-point
// value a towards the trained value p. The moving average's weight w = 1 − decay_k goes as
// PyTorch's vectorised `lerp` computes it: a ← a + w·(p − a) for w < 0.5, a ← p + (w − 1)·(p − a)
// otherwise, each one fused multiply-add (the second form keeps a large step accurate). The
// equal average's update k is a ← a + (p − a)/k, as PyTorch's `get_swa_avg_fn` on a CPU (the
// passes are C's, dk_average.h).
// decay_k is `decay`, or with the warm-up min(decay, (1 + k)/(10 + k)) (TensorFlow's
// `ExponentialMovingAverage` with `num_updates`), which lets a short run's average leave its
// random initialisation. Integer
// buffers (BatchNorm's `num_batches_tracked`) are copied (timm's rule). Where the average goes
// in a training run (validation, checkpoints) is `Trainer`'s concern; how it is stored, Training's
// (TrainingCheckpoint.swift).

internal import CDiceKitKernels

/// How the averaged weights follow the trained ones: the decay, and whether it warms up.
public struct WeightAveraging: Sendable, Equatable {
    /// The weight of the old average at each update, 0 < decay < 1 (default 0.999, PyTorch's).
    public var decay: Double
    /// Whether update k uses min(decay, (1 + k)/(10 + k)) instead of `decay` (default false).
    public var warmup: Bool
    /// Whether the averaged model is validated and saved with BatchNorm statistics recomputed
    /// for its weights over the training set (PyTorch's `update_bn`, see
    /// `Trainer.recomputeBatchNormStatistics(on:)`) instead of the average of the trained
    /// model's statistics (default false). The average itself is the same either way.
    public var recomputesStatistics: Bool

    /// An average with the given decay, warm-up and statistics.
    public init(decay: Double = 0.999, warmup: Bool = false, recomputesStatistics: Bool = false) {
        self.decay = decay
        self.warmup = warmup
        self.recomputesStatistics = recomputesStatistics
    }

    /// The decay of update `k` (1-based; update 1 copies and uses none).
    public func decay(update k: Int) -> Double {
        warmup ? min(decay, Double(1 + k) / Double(10 + k)) : decay
    }

    /// How the averaged model's BatchNorm statistics are made: "average" or "recompute"
    /// (`dicekit train --ema-bn`).
    public var statisticsName: String { recomputesStatistics ? "recompute" : "average" }

    /// Checks the decay.
    ///
    /// - Throws: `DiceKitError.invalidOption` for a decay outside 0 < decay < 1.
    public func validate() throws {
        guard decay > 0, decay < 1 else {
            throw DiceKitError.invalidOption(
                name: "weight-average decay", value: "\(decay)", expected: "0 < decay < 1 (e.g. 0.999)")
        }
    }
}

/// How each update of a `WeightAverage` weighs the trained values.
public enum AveragingRule: Sendable, Equatable {
    /// An exponential moving average: update k has weight 1 − decay_k.
    case exponential(WeightAveraging)
    /// The equal average of the updates: update k has weight 1/k, applied as a + (p − a)/k
    /// (stochastic weight averaging).
    case equal

    /// The weight of the trained values at update `k` (1-based; update 1 copies).
    public func weight(update k: Int) -> Double {
        switch self {
        case .exponential(let averaging): return 1 - averaging.decay(update: k)
        case .equal: return 1 / Double(k)
        }
    }
}

/// The running average of every parameter and buffer of a `ParameterStore` (see the file header).
///
/// ```
/// let average = try WeightAverage(WeightAveraging(decay: 0.99), of: model.parameters)
/// … after every optimiser step: average.update(from: model.parameters)
/// let scores = try average.installed(in: model.parameters) { try trainer.evaluate(validation) }
/// ```
public final class WeightAverage<Scalar: BLASScalar> {
    /// How each update weighs the trained values.
    public let rule: AveragingRule
    /// The decay and warm-up of an exponential moving average (nil for the equal average).
    public var averaging: WeightAveraging? {
        if case .exponential(let averaging) = rule { return averaging }
        return nil
    }
    /// The averaged values, under the names, kinds and checkpoint layouts of the model's
    /// parameters (its `stateDict()` is a state_dict of the model).
    public let parameters: ParameterStore<Scalar>
    /// Updates so far (PyTorch's `n_averaged`); 0 until the first, which copies.
    public private(set) var updates = 0

    /// An average of `model`'s parameters, holding a copy of their current values until the
    /// first update.
    ///
    /// - Throws: `DiceKitError.invalidOption` for a decay outside 0 < decay < 1.
    public convenience init(_ averaging: WeightAveraging, of model: ParameterStore<Scalar>) throws {
        try self.init(.exponential(averaging), of: model)
    }

    /// An average of `model`'s parameters under `rule`, holding a copy of their current values
    /// until the first update.
    ///
    /// - Throws: `DiceKitError.invalidOption` for an exponential rule's decay outside 0 < decay < 1.
    public init(_ rule: AveragingRule, of model: ParameterStore<Scalar>) throws {
        if case .exponential(let averaging) = rule { try averaging.validate() }
        self.rule = rule
        parameters = ParameterStore()
        for p in model.all {
            parameters.register(
                Parameter(name: p.name, value: p.value, kind: p.kind, checkpointLayout: p.checkpointLayout))
        }
    }

    /// Moves the average towards `model`'s current values (the first update copies them).
    ///
    /// - Precondition: `model` is the store the average was made of (same names and shapes).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func update(from model: ParameterStore<Scalar>) {
        precondition(model.all.count == parameters.all.count, "WeightAverage: the model's parameters changed")
        updates += 1
        let weight = Scalar(rule.weight(update: updates))
        // PyTorch's lerp: a + w·(p − a) for a small weight, p + (w − 1)·(p − a) for a large one.
        let small = abs(weight) < 0.5
        let coefficient = small ? weight : weight - 1
        let (equal, count) = (rule == .equal, Double(updates))
        for (average, trained) in zip(parameters.all, model.all) {
            precondition(average.value.shape == trained.value.shape, "WeightAverage: '\(trained.name)' changed shape")
            if updates == 1 || average.kind == .integerBuffer {
                average.value = trained.value
                continue
            }
            guard trained.value.count > 0 else { continue }
            trained.value.withUnsafeBufferPointer { p in
                average.value.withUnsafeMutableBufferPointer { a in
                    // Element-wise (dk_average.h), so the split over the worker pool does not
                    // change a bit.
                    let shared = TaskShared((UnsafeRawPointer(p.baseAddress!), UnsafeMutableRawPointer(a.baseAddress!)))
                    let (fromTarget, w) = (Int32(small ? 0 : 1), Double(coefficient))
                    WorkerPool.shared.forEachRange(a.count) { range in
                        let offset = range.lowerBound * MemoryLayout<Scalar>.stride
                        let (pp, ap) = (shared.buffers.0 + offset, shared.buffers.1 + offset)
                        if equal, Scalar.self == Float.self {
                            dk_mean_update_f32(
                                ap.assumingMemoryBound(to: Float.self), pp.assumingMemoryBound(to: Float.self),
                                range.count, Float(count))
                        } else if equal {
                            dk_mean_update_f64(
                                ap.assumingMemoryBound(to: Double.self), pp.assumingMemoryBound(to: Double.self),
                                range.count, count)
                        } else if Scalar.self == Float.self {
                            dk_lerp_inplace_f32(
                                ap.assumingMemoryBound(to: Float.self), pp.assumingMemoryBound(to: Float.self),
                                range.count, Float(w), fromTarget)
                        } else {
                            dk_lerp_inplace_f64(
                                ap.assumingMemoryBound(to: Double.self), pp.assumingMemoryBound(to: Double.self),
                                range.count, w, fromTarget)
                        }
                    }
                }
            }
        }
    }

    /// Runs `body` with the averaged values in `model` (a validation, a saved model), then puts
    /// `model`'s own values back, whatever `body` did to them.
    ///
    /// - Precondition: `model` is the store the average was made of.
    public func installed<R>(in model: ParameterStore<Scalar>, _ body: () throws -> R) rethrows -> R {
        precondition(model.all.count == parameters.all.count, "WeightAverage: the model's parameters changed")
        let own = model.all.map(\.value)
        for (trained, average) in zip(model.all, parameters.all) { trained.value = average.value }
        defer { for (trained, value) in zip(model.all, own) { trained.value = value } }
        return try body()
    }

    /// Restores an average saved after `updates` updates, its values already loaded into
    /// `parameters` (e.g. with `parameters.load(_:)` from a checkpoint).
    ///
    /// - Throws: `DiceKitError.value` for a negative count.
    public func restore(updates: Int) throws {
        guard updates >= 0 else {
            throw DiceKitError.value("weight average: update count \(updates); expected ≥ 0")
        }
        self.updates = updates
    }
}
