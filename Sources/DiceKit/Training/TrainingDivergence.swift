// The error a diverging run ends with: where it diverged, what was not finite, and which
// checkpoint is the last good one.

/// Training stopped on a non-finite loss or gradient norm (see `NonFinitePolicy`).
///
/// `Trainer.fit` throws it after writing summary.json and curves.svg; `summary` is what they hold.
public struct TrainingDivergence: Error, CustomStringConvertible, Sendable {
    /// The epoch of the bad step (from 1).
    public var epoch: Int
    /// The step within the epoch (from 1).
    public var step: Int
    /// What was not finite: "loss" or "gradient norm".
    public var quantity: String
    /// Its value (NaN or ±∞).
    public var value: Double
    /// Consecutive steps skipped just before this one (0 under `NonFinitePolicy.stop`).
    public var skippedInARow: Int
    /// The last good training checkpoint and its epoch (the one resumed from until the run writes
    /// its own); nil when there is none.
    public var lastCheckpoint: (path: String, epoch: Int)?
    /// The summary of the finished epochs, as written to summary.json.
    public var summary: TrainingSummary

    /// One line: "training diverged at epoch 3, step 12: loss is nan; last good checkpoint
    /// runs/x/last.safetensors (epoch 2)".
    public var description: String {
        let skipped = skippedInARow > 0 ? " after \(skippedInARow) skipped step(s) in a row" : ""
        let kept =
            lastCheckpoint.map { "last good checkpoint \($0.path) (epoch \($0.epoch))" }
            ?? "no checkpoint kept (no epoch finished, or no output directory)"
        return "training diverged at epoch \(epoch), step \(step): \(quantity) is \(value)\(skipped); \(kept)"
    }
}
