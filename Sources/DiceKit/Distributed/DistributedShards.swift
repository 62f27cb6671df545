// Which samples each rank takes: PyTorch's DistributedSampler semantics (one shuffled order
// that every rank derives from the same seed; rank r takes every p-th sample starting at r, so
// the shards are disjoint), applied per global batch so that a run on p ranks with batch B per
// rank sees exactly the global batches of one process with batch p·B. Unlike PyTorch's sampler,
// nothing is padded: the last, partial global batch is split the same way, so a rank may get
// fewer samples (or none) in the last step, and every metric stays the one-process value.

/// The per-rank sample indices of an epoch's global batches.
public struct DistributedShards: Sendable, Equatable {
    /// The epoch's order of all sample indices (the same on every rank).
    public let order: [Int]
    /// Samples per rank in a full step (B).
    public let batchPerRank: Int
    /// The number of ranks (p ≥ 1).
    public let ranks: Int

    /// The shards of `order` for `ranks` ranks with `batchPerRank` samples each per step.
    ///
    /// - Precondition: `batchPerRank` ≥ 1 and `ranks` ≥ 1.
    public init(order: [Int], batchPerRank: Int, ranks: Int) {
        precondition(
            batchPerRank >= 1 && ranks >= 1, "DistributedShards: batch \(batchPerRank) and ranks \(ranks) must be ≥ 1")
        self.order = order
        self.batchPerRank = batchPerRank
        self.ranks = ranks
    }

    /// The global batch size p·B.
    public var globalBatch: Int { batchPerRank * ranks }

    /// Steps per epoch, ⌈N / (p·B)⌉: the same on every rank and equal to one process's with batch p·B.
    public var steps: Int { (order.count + globalBatch - 1) / globalBatch }

    /// The samples of global batch `step` (all ranks), in one process's order.
    public func globalBatch(_ step: Int) -> ArraySlice<Int> {
        precondition(step >= 0 && step < steps, "DistributedShards: step \(step) out of 0..<\(steps)")
        return order[(step * globalBatch)..<Swift.min((step + 1) * globalBatch, order.count)]
    }

    /// The positions (in the epoch's order) of rank `rank`'s samples in step `step`: every p-th
    /// position of the global batch, starting at `rank`. Empty when the last batch is too short.
    public func positions(step: Int, rank: Int) -> [Int] {
        precondition(rank >= 0 && rank < ranks, "DistributedShards: rank \(rank) out of 0..<\(ranks)")
        let batch = globalBatch(step)
        return Array(stride(from: batch.startIndex + rank, to: batch.endIndex, by: ranks))
    }

    /// The sample indices of rank `rank` in step `step`.
    public func indices(step: Int, rank: Int) -> [Int] { positions(step: step, rank: rank).map { order[$0] } }
}
