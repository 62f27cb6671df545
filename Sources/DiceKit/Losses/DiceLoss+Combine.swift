// The combine step: from the per-(sample, class) statistics to the loss value(s) and to the
// per-(sample, class) coefficients (a, b, f) of the gradient pass. Runs in Double on N·C numbers.
//
// Every value is a function of a few sums over a "unit" (one (sample, class) pair by default;
// one class over the batch with `batch`; one sample over its classes for the generalized variant
// and for seed-basic). For a unit with TP, P, G (and D = Σ|p − g| with soft labels) we compute
// ℓ and ∂ℓ/∂TP, ∂ℓ/∂P; the chain rule through the sums gives, per element,
//   ∂L/∂p = a·g + b (b·2p when squared) + f·sign(p − g)
// with a = ∂L/∂TP, b = ∂L/∂P, f = 0, or for soft labels (TP = (P + G − D)/2)
//   a = 0, b = ∂L/∂P + ½·∂L/∂TP, f = −½·∂L/∂TP.
// Derivations: Docs/DiceMath.md.

/// The loss values and the gradient coefficients.
struct CombinedLoss {
    /// Reduced: one value; `reduction: .none`: the per-unit values.
    var values: [Double]
    var shape: [Int]
    /// Per (sample, channel): coefficients of g, of 1 (or 2p), of sign(p − g).
    var a: [Double], b: [Double], f: [Double]
    /// The factor of the cross-entropy gradient (p − g) per element.
    var crossEntropyScale: Double
}

extension DiceLoss {
    /// One unit's loss and its derivatives with respect to TP and P.
    private struct UnitValue {
        var value: Double
        var dTP: Double
        var dP: Double
        var counted: Bool
    }

    /// The per-unit loss of the (non-generalized) variants, with the empty-class policy and the
    /// focal / log-cosh transform.
    private func unitValue(
        tp: Double, p: Double, g: Double, positions: Double, snr: Double, sdr: Double,
        variant: DiceVariant, policy: EmptyClassPolicy
    ) -> UnitValue {
        var base = 0.0
        var dTP = 0.0
        var dP = 0.0
        if g == 0 && policy != .smooth {
            switch policy {
            case .exclude: return UnitValue(value: 0, dTP: 0, dP: 0, counted: false)
            case .one: base = 0
            case .zero: base = 1
            case .penalize:
                if positions > 0 {
                    base = p / positions
                    dP = 1 / positions
                }
            case .smooth: break
            }
        } else {
            switch variant {
            case .dice, .logCoshDice, .generalized:
                let num = 2 * tp + snr
                let den = p + g + sdr
                base = 1 - num / den
                dTP = -2 / den
                dP = num / (den * den)
            case .jaccard:
                let num = 2 * tp + snr
                let den = 2 * (p + g - tp) + sdr
                base = 1 - num / den
                dTP = -(2 * den + 2 * num) / (den * den)
                dP = 2 * num / (den * den)
            case .tversky(let alpha, let beta), .focalTversky(let alpha, let beta, _):
                let num = tp + snr
                let den = tp + alpha * (p - tp) + beta * (g - tp) + sdr
                base = 1 - num / den
                dTP = -(den - num * (1 - alpha - beta)) / (den * den)
                dP = num * alpha / (den * den)
            }
        }
        switch variant {
        case .focalTversky(_, _, let gamma):
            // ℓ^γ; for ℓ ≤ 0 (only possible with unnormalised predictions) the value and slope are 0.
            guard base > 0 else { return UnitValue(value: 0, dTP: 0, dP: 0, counted: true) }
            let v = Double.pow(base, gamma)
            let slope = gamma * v / base
            return UnitValue(value: v, dTP: slope * dTP, dP: slope * dP, counted: true)
        case .logCoshDice:
            // log cosh x = |x| + log1p(e^(−2|x|)) − log 2, stable for every x; derivative tanh x.
            let x = Swift.abs(base)
            let v = x + Double.log1p(Double.exp(-2 * x)) - Double.log(2)
            let slope = Double.tanh(base)
            return UnitValue(value: v, dTP: slope * dTP, dP: slope * dP, counted: true)
        default:
            return UnitValue(value: base, dTP: dTP, dP: dP, counted: true)
        }
    }

    /// Loss values and gradient coefficients from the statistics.
    func combine(plan: LossPlan, stats: LossStatistics, validMask: [Bool]?) throws -> CombinedLoss {
        let nN = plan.n
        let nC = plan.c
        let c0 = plan.firstClass
        let nK = plan.classes
        func valid(_ n: Int, _ c: Int) -> Bool { validMask?[n * nC + c] ?? true }
        let soft = plan.soft
        func effectiveTP(_ i: Int) -> Double { soft ? (stats.p[i] + stats.g[i] - stats.d[i]) / 2 : stats.tp[i] }
        var dT = [Double](repeating: 0, count: nN * nC)
        var dP = dT
        var values: [Double] = []
        var shape: [Int] = []
        var total = 0.0
        let snr = epsilon ?? smoothNumerator
        let sdr = epsilon ?? smoothDenominator

        if preset == nil, case .generalized(let weighting) = variant {
            // Units: one sample, or the whole batch with `batch`; members: its classes.
            let units: [[Int]] = batch ? [Array(0..<nN)] : (0..<nN).map { [$0] }
            var unitValues: [Double] = []
            var counted: [Bool] = []
            var unitDerivatives: [[(Double, Double)]] = []
            for samples in units {
                var tp = [Double](repeating: 0, count: nK)
                var pp = tp
                var gg = tp
                var has = [Bool](repeating: false, count: nK)
                for n in samples {
                    for k in 0..<nK where valid(n, k + c0) {
                        let i = n * nC + k + c0
                        tp[k] += effectiveTP(i)
                        pp[k] += stats.p[i]
                        gg[k] += stats.g[i]
                        has[k] = true
                    }
                }
                var w = [Double](repeating: 0, count: nK)
                var maxFinite = 0.0
                for k in 0..<nK where has[k] {
                    switch weighting {
                    case .square: w[k] = 1 / (gg[k] * gg[k])
                    case .simple: w[k] = 1 / gg[k]
                    case .uniform: w[k] = 1
                    }
                    if w[k].isFinite { maxFinite = Swift.max(maxFinite, w[k]) }
                }
                // Sudre/MONAI rule: an infinite weight (empty class) becomes the largest finite one.
                for k in 0..<nK where has[k] && !w[k].isFinite { w[k] = maxFinite }
                var num = snr
                var den = sdr
                for k in 0..<nK where has[k] {
                    num += 2 * w[k] * tp[k]
                    den += w[k] * (pp[k] + gg[k])
                }
                let any = has.contains(true)
                unitValues.append(any ? 1 - num / den : 0)
                counted.append(any)
                unitDerivatives.append(
                    (0..<nK).map { k in has[k] ? (-2 * w[k] / den, num * w[k] / (den * den)) : (0, 0) })
            }
            let countedUnits = Double(counted.filter { $0 }.count)
            for (u, samples) in units.enumerated() where counted[u] {
                let r: Double
                switch reduction {
                case .mean: r = 1 / countedUnits
                case .sum, .none: r = 1
                }
                total += r * unitValues[u]
                for n in samples {
                    for k in 0..<nK where valid(n, k + c0) {
                        dT[n * nC + k + c0] += r * unitDerivatives[u][k].0
                        dP[n * nC + k + c0] += r * unitDerivatives[u][k].1
                    }
                }
            }
            values = unitValues
            shape = batch ? [1] : [nN, 1]
        } else {
            // Units as lists of (sample, channel) members, each with a class index and a weight.
            struct Unit {
                var members: [(Int, Int)]
                var classIndex: Int
                var sample: Int
            }
            var units: [Unit] = []
            let pooledClasses = preset == .basic
            let overBatch = preset == nil && batch
            if pooledClasses {
                for n in 0..<nN {
                    units.append(
                        Unit(members: (c0..<nC).filter { valid(n, $0) }.map { (n, $0) }, classIndex: -1, sample: n))
                }
                shape = [nN]
            } else if overBatch {
                for k in 0..<nK {
                    units.append(
                        Unit(
                            members: (0..<nN).filter { valid($0, k + c0) }.map { ($0, k + c0) }, classIndex: k,
                            sample: -1))
                }
                shape = [nK]
            } else {
                for n in 0..<nN {
                    for k in 0..<nK {
                        units.append(Unit(members: valid(n, k + c0) ? [(n, k + c0)] : [], classIndex: k, sample: n))
                    }
                }
                shape = [nN, nK]
            }
            let variant = preset != nil ? DiceVariant.dice : self.variant
            let policy = preset != nil ? EmptyClassPolicy.smooth : emptyClass
            var results: [UnitValue] = []
            for unit in units {
                guard !unit.members.isEmpty else {
                    results.append(UnitValue(value: 0, dTP: 0, dP: 0, counted: false))
                    continue
                }
                var tp = 0.0
                var p = 0.0
                var g = 0.0
                var positions = 0.0
                for (n, c) in unit.members {
                    let i = n * nC + c
                    tp += effectiveTP(i)
                    p += stats.p[i]
                    g += stats.g[i]
                    positions += stats.counted[n]
                }
                var r = unitValue(
                    tp: tp, p: p, g: g, positions: positions, snr: snr, sdr: sdr, variant: variant, policy: policy)
                if preset == nil, let weights = classWeights, unit.classIndex >= 0 {
                    let w = weights[unit.classIndex]
                    r.value *= w
                    r.dTP *= w
                    r.dP *= w
                }
                results.append(r)
            }
            // The factor of each unit in the reduced loss.
            var factors = [Double](repeating: 0, count: units.count)
            switch preset {
            case .basic?:
                let count = Double(results.filter(\.counted).count)
                for u in units.indices where results[u].counted { factors[u] = 1 / count }
            case .weighted(let weights)?:
                // Per class: mean over the batch; then the sum weighted by the preset's weights.
                var perClass = [Double](repeating: 0, count: nK)
                for u in units.indices where results[u].counted { perClass[units[u].classIndex] += 1 }
                for u in units.indices where results[u].counted {
                    let k = units[u].classIndex
                    factors[u] = weights[k] / perClass[k]
                }
            case .multiclass?:
                // Per class: mean over the batch; then the mean over the classes present.
                var perClass = [Double](repeating: 0, count: nK)
                for u in units.indices where results[u].counted { perClass[units[u].classIndex] += 1 }
                let classesPresent = Double(perClass.filter { $0 > 0 }.count)
                for u in units.indices where results[u].counted {
                    let k = units[u].classIndex
                    factors[u] = 1 / (perClass[k] * classesPresent)
                }
            case nil:
                let count = Double(results.filter(\.counted).count)
                for u in units.indices where results[u].counted { factors[u] = reduction == .mean ? 1 / count : 1 }
            }
            if reduction == .none { for u in units.indices where results[u].counted { factors[u] = 1 } }
            for (u, unit) in units.enumerated() where results[u].counted {
                total += factors[u] * results[u].value
                for (n, c) in unit.members {
                    dT[n * nC + c] += factors[u] * results[u].dTP
                    dP[n * nC + c] += factors[u] * results[u].dP
                }
            }
            values = results.map(\.value)
        }

        // Compound: dice-weight · Dice + ce-weight · CE.
        var crossEntropyScale = 0.0
        total *= diceWeight
        if plan.crossEntropy != .none {
            // The positions (elements for binary), or the labels' class weights (weighted softmax on labels).
            var count = stats.crossEntropyNorm.reduce(0, +)
            if plan.crossEntropy == .binary { count *= Double(nC) }
            let scale = reduction == .sum ? 1 : (count > 0 ? 1 / count : 0)
            total += crossEntropyWeight * scale * stats.crossEntropy
            crossEntropyScale = crossEntropyWeight * scale
        }
        var a = [Double](repeating: 0, count: nN * nC)
        var b = a
        var f = a
        for i in 0..<(nN * nC) {
            let t = diceWeight * dT[i]
            let q = diceWeight * dP[i]
            if soft {
                b[i] = q + t / 2
                f[i] = -t / 2
            } else {
                a[i] = t
                b[i] = q
            }
        }
        if reduction == .none {
            return CombinedLoss(
                values: values.map { diceWeight * $0 }, shape: shape, a: a, b: b, f: f,
                crossEntropyScale: crossEntropyScale)
        }
        return CombinedLoss(values: [total], shape: [], a: a, b: b, f: f, crossEntropyScale: crossEntropyScale)
    }
}
