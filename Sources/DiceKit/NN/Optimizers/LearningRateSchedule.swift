// Learning-rate schedules: constant, cosine annealing with linear warm-up, and nnU-Net's
// polynomial decay. A schedule maps a base rate and a step (epoch or iteration, as the caller
// chooses) to the rate of that step.

/// How the learning rate changes over training. `t` counts from 0 (epochs or iterations).
public enum LearningRateSchedule: Sendable, Equatable {
    /// lr(t) = base.
    case constant
    /// Linear warm-up, then cosine annealing to `minimum` (Loshchilov & Hutter 2017):
    /// ```
    /// t < w:       lr = base·(t + 1)/w
    /// w ≤ t ≤ T:   lr = minimum + (base − minimum)·(1 + cos(π·(t − w)/(T − w)))/2
    /// t > T:       lr = minimum
    /// ```
    /// with w = `warmup` (0 for none) and T = `total`.
    case cosine(warmup: Int, total: Int, minimum: Double)
    /// nnU-Net's polynomial decay (Isensee et al. 2021): lr = base·(1 − t/T)^exponent, with t
    /// clamped to [0, T], T = `total`, exponent 0.9 in nnU-Net.
    case polynomial(total: Int, exponent: Double)

    /// Cosine annealing with linear warm-up to zero.
    public static func cosine(warmup: Int, total: Int) -> LearningRateSchedule {
        .cosine(warmup: warmup, total: total, minimum: 0)
    }

    /// nnU-Net's polynomial decay with exponent 0.9.
    public static func polynomial(total: Int) -> LearningRateSchedule { .polynomial(total: total, exponent: 0.9) }

    /// Checks the schedule's own values.
    ///
    /// - Throws: `DiceKitError.option` when total ≤ 0, warmup < 0 or warmup > total, the minimum
    ///   is negative or the exponent is not positive.
    public func validate() throws {
        switch self {
        case .constant: return
        case .cosine(let warmup, let total, let minimum):
            guard total > 0, warmup >= 0, warmup <= total, minimum >= 0 else {
                throw DiceKitError.option(
                    "cosine schedule: warmup \(warmup), total \(total), minimum \(minimum); expected 0 ≤ warmup ≤ total, total > 0, minimum ≥ 0"
                )
            }
        case .polynomial(let total, let exponent):
            guard total > 0, exponent > 0 else {
                throw DiceKitError.option(
                    "polynomial schedule: total \(total), exponent \(exponent); expected both > 0")
            }
        }
    }

    /// The learning rate at step `t` for base rate `base`.
    public func learningRate(base: Double, step t: Int) -> Double {
        switch self {
        case .constant:
            return base
        case .cosine(let warmup, let total, let minimum):
            if t < warmup { return base * Double(t + 1) / Double(warmup) }
            if t >= total { return minimum }
            let progress = Double(t - warmup) / Double(max(total - warmup, 1))
            return minimum + (base - minimum) * (1 + Double.cos(Double.pi * progress)) / 2
        case .polynomial(let total, let exponent):
            let progress = Double(min(max(t, 0), total)) / Double(max(total, 1))
            return base * Double.pow(1 - progress, exponent)
        }
    }
}
