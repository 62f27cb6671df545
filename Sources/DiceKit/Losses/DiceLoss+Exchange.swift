// Exact global Dice across processes: the hook between the two passes. Pass 1 gives every rank the
// statistics of its own samples (TP, P, G, D per (sample, class), the counted positions and the
// cross-entropy mean's denominator per sample, the cross-entropy sum): O(N·C) numbers. All ranks
// gather them into the table of the global batch, run the same combine step on it (so batch Dice,
// per-image Dice, the generalized weights and the mean's 1/N are those of the global batch), and
// keep the gradient coefficients of their own rows for pass 2. The loss value and the gradient are
// then a one-process run's on the global batch, to Float rounding (the sums are added in another
// order).

/// Gathers the per-sample loss statistics of a batch that is split across processes.
struct LossStatisticsExchange {
    let communicator: any Communicator
    /// False on a rank without samples in this step: it sends no rows (its prediction is a
    /// placeholder that only supplies the shapes).
    let contributes: Bool

    /// The global plan (N = the gathered samples), the gathered statistics (ranks in order) and
    /// the index of this rank's first row.
    func gather(plan: LossPlan, stats: LossStatistics) throws -> (plan: LossPlan, stats: LossStatistics, offset: Int) {
        let c = plan.c
        let width = 4 * c + 2
        let n = contributes ? plan.n : 0
        // Rows of [TP[C], P[C], G[C], D[C], counted, CE norm], then the cross-entropy sum.
        var local = [Double]()
        local.reserveCapacity(n * width + 1)
        for i in 0..<n {
            let row = (i * c)..<((i + 1) * c)
            local += stats.tp[row]
            local += stats.p[row]
            local += stats.g[row]
            local += stats.d[row]
            local.append(stats.counted[i])
            local.append(stats.crossEntropyNorm[i])
        }
        local.append(contributes ? stats.crossEntropy : 0)
        let all = try communicator.allGather(local)
        var global = LossStatistics(tp: [], p: [], g: [], d: [], counted: [], crossEntropy: 0, crossEntropyNorm: [])
        var offset = 0
        for (rank, part) in all.enumerated() {
            guard part.count % width == 1 else {
                throw DiceKitError.value(
                    "rank \(rank) sent \(part.count) loss statistics; expected rows of \(width) (classes \(c)) and one more: the ranks' models differ"
                )
            }
            if rank == communicator.rank { offset = global.counted.count }
            for i in 0..<(part.count / width) {
                let base = i * width
                global.tp += part[base..<(base + c)]
                global.p += part[(base + c)..<(base + 2 * c)]
                global.g += part[(base + 2 * c)..<(base + 3 * c)]
                global.d += part[(base + 3 * c)..<(base + 4 * c)]
                global.counted.append(part[base + 4 * c])
                global.crossEntropyNorm.append(part[base + 4 * c + 1])
            }
            global.crossEntropy += part[part.count - 1]
        }
        return (plan.resized(n: global.counted.count), global, offset)
    }
}

extension DiceLoss {
    /// The loss over the global batch that `communicator`'s ranks hold between them, and the
    /// gradient of that loss with respect to this rank's `prediction`: with every rank calling
    /// this on its share, the values are a one-process run's on the whole batch (batch Dice,
    /// per-image Dice and the mean all normalise by the global batch), to Float rounding.
    ///
    /// A collective: every rank must call it in the same step. The gathered table has the
    /// ranks' samples in rank order, so `reduction: .none` lists them in that order.
    ///
    /// - Parameters:
    ///   - prediction: this rank's logits, laid out as `layout`.
    ///   - target: this rank's targets.
    ///   - contributes: false on a rank without samples in this step (default true): it then
    ///     passes any one-sample `prediction`/`target` of the right shapes, contributes nothing
    ///     and its gradient is meaningless.
    ///   - gradient: whether to compute the gradient (default false).
    ///   - communicator: the ranks that share the batch.
    /// - Throws: as `evaluate(_:target:validMask:gradient:)`; `DiceKitError.value` when the ranks'
    ///   statistics do not fit together (different classes) or a collective fails.
    public func evaluate<Scalar: BLASScalar>(
        _ prediction: Tensor<Scalar>, target: SegmentationTarget<Scalar>,
        contributes: Bool = true, gradient: Bool = false,
        across communicator: any Communicator
    ) throws -> DiceLossResult<Scalar> {
        let exchange = LossStatisticsExchange(communicator: communicator, contributes: contributes)
        // Concrete hand-off, as in `evaluate(_:target:validMask:gradient:)`.
        return try specialised(
            Scalar.self,
            float: {
                try evaluateImpl(
                    prediction.reinterpreted(as: Float.self), target.reinterpreted(), nil, gradient, exchange: exchange
                ).reinterpreted()
            },
            double: {
                try evaluateImpl(
                    prediction.reinterpreted(as: Double.self), target.reinterpreted(), nil, gradient, exchange: exchange
                ).reinterpreted()
            })
    }
}
