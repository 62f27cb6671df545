// Synchronised batch normalisation: the per-channel statistics of a batch that is split across
// processes. In the forward pass every rank contributes (rows, mean, M2 = Σ(x − mean)²) per
// channel; the contributions are all-gathered and merged in rank order with Chan et al.'s
// pairwise formula (stable, and the same bits on every rank):
//   n = n_a + n_b,  δ = m_b − m_a,  m = m_a + δ·n_b/n,  M2 = M2_a + M2_b + δ²·n_a·n_b/n.
// In the backward pass Σdy and Σdy·x̂ per channel are summed over the ranks, because
// dx = scale·γ·(dy − [Σdy + x̂·Σdy·x̂]/K) involves the whole batch's K rows.
// (Chan, Golub & LeVeque 1979, "Updating formulae and a pairwise algorithm for computing sample variances".)

/// Shares BatchNorm's batch statistics between the ranks of a communicator (synchronised batch
/// normalisation). Set on a network's BatchNorm layers by the trainer; one object serves them all.
public final class BatchNormSynchronizer {
    /// The ranks that share each batch.
    public let communicator: any Communicator
    /// False on a rank without samples in this step: its forward pass runs on a placeholder and
    /// contributes no rows, and its backward pass returns a zero input gradient (default true).
    public var contributes = true

    /// A synchroniser over `communicator`'s ranks.
    public init(communicator: any Communicator) {
        self.communicator = communicator
    }

    /// The global rows, mean and biased variance per channel from this rank's.
    func merge(rows: Int, mean: [Double], variance: [Double]) throws -> (rows: Int, mean: [Double], variance: [Double])
    {
        let c = mean.count
        let n = contributes ? rows : 0
        let local =
            [Double(n)] + (contributes ? mean : [Double](repeating: 0, count: c))
            + (contributes ? variance.map { $0 * Double(rows) } : [Double](repeating: 0, count: c))
        let parts = try communicator.allGather(local)
        var total = 0.0
        var m = [Double](repeating: 0, count: c)
        var m2 = [Double](repeating: 0, count: c)
        for (rank, part) in parts.enumerated() {
            guard part.count == 2 * c + 1 else {
                throw DiceKitError.value(
                    "rank \(rank) sent \(part.count) batch-norm statistics; expected \(2 * c + 1) (\(c) channels): the ranks' models differ"
                )
            }
            let nb = part[0]
            guard nb > 0 else { continue }
            let combined = total + nb
            for k in 0..<c {
                let delta = part[1 + k] - m[k]
                m[k] += delta * nb / combined
                m2[k] += part[1 + c + k] + delta * delta * total * nb / combined
            }
            total = combined
        }
        return (Int(total), m, m2.map { total > 0 ? $0 / total : 0 })
    }

    /// Σdy and Σdy·x̂ per channel summed over the ranks.
    func sum(_ dBeta: [Double], _ dGamma: [Double]) throws -> (dBeta: [Double], dGamma: [Double]) {
        var values = (contributes ? dBeta : dBeta.map { _ in 0 }) + (contributes ? dGamma : dGamma.map { _ in 0 })
        try communicator.allReduceSum(&values)
        return (Array(values[0..<dBeta.count]), Array(values[dBeta.count...]))
    }
}
