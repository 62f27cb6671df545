// What the two-term losses (Dice + focal, generalized Dice + focal, Dice + clDice, Dice +
// Hausdorff) share: the checks of the compound itself (weights, reductions, one layout) and the
// weighted sum of the two terms' values and gradients (and one scaled result, for the terms
// RegionLoss adds).

/// Helpers of the losses that sum two terms on the same logits and target.
enum CompoundLoss {
    /// The checks every two-term loss makes before its terms run: each weight finite and ≥ 0, no
    /// term with reduction none (the terms' per-unit shapes differ), one layout. `name` starts
    /// the reduction and layout messages.
    ///
    /// - Throws: `DiceKitError.value` for a weight, `DiceKitError.option` for the others.
    static func checkTerms(
        _ name: String, weights: [(name: String, value: Double)], reductions: [LossReduction], layouts: [Layout]
    ) throws {
        for (weight, v) in weights where !(v.isFinite && v >= 0) {
            throw DiceKitError.value("\(weight) is \(v); expected a finite number ≥ 0")
        }
        guard !reductions.contains(.none) else {
            throw DiceKitError.option(
                "\(name) with reduction none (the terms have different shapes); expected mean or sum")
        }
        guard let first = layouts.first, let other = layouts.first(where: { $0 != first }) else { return }
        throw DiceKitError.option(
            "\(name) terms with layouts \(first.rawValue) and \(other.rawValue); expected one layout")
    }

    /// wa·a + wb·b for two scalar-valued results, and the same sum of their gradients when both
    /// have one, written over a's gradient (no new buffer when the caller hands a over).
    static func combined<Scalar: BLASScalar>(
        _ a: consuming DiceLossResult<Scalar>, _ wa: Double, _ b: DiceLossResult<Scalar>, _ wb: Double
    ) -> DiceLossResult<Scalar> {
        let loss = Tensor<Scalar>(uncheckedShape: [], storage: [Scalar(wa) * a.value + Scalar(wb) * b.value])
        guard var g = a.gradient.take(), let gb = b.gradient else { return DiceLossResult(loss: loss, gradient: nil) }
        g.withUnsafeMutableBufferPointer { ga in
            gb.withUnsafeBufferPointer { gb in
                // Concrete loops (this generic body may run unspecialised from another module).
                specialised(
                    Scalar.self,
                    float: {
                        ga.withMemoryRebound(to: Float.self) { ga in
                            gb.withMemoryRebound(to: Float.self) {
                                Self.weightedSum(into: ga, Float(wa), $0, Float(wb))
                            }
                        }
                    },
                    double: {
                        ga.withMemoryRebound(to: Double.self) { ga in
                            gb.withMemoryRebound(to: Double.self) { Self.weightedSum(into: ga, wa, $0, wb) }
                        }
                    })
            }
        }
        return DiceLossResult(loss: loss, gradient: g)
    }

    /// w·a for a scalar-valued result, and its gradient scaled by w.
    static func scaled<Scalar: BLASScalar>(_ a: DiceLossResult<Scalar>, _ w: Double) -> DiceLossResult<Scalar> {
        guard w != 1 else { return a }
        var result = DiceLossResult(
            loss: Tensor<Scalar>(uncheckedShape: [], storage: [Scalar(w) * a.value]), gradient: a.gradient)
        result.gradient?.withUnsafeMutableBufferPointer { g in
            for i in g.indices { g[i] *= Scalar(w) }
        }
        return result
    }

    /// a ← wa·a + wb·b.
    static func weightedSum(
        into a: UnsafeMutableBufferPointer<Float>, _ wa: Float, _ b: UnsafeBufferPointer<Float>, _ wb: Float
    ) {
        for i in a.indices { a[i] = wa * a[i] + wb * b[i] }
    }
    /// a ← wa·a + wb·b.
    static func weightedSum(
        into a: UnsafeMutableBufferPointer<Double>, _ wa: Double, _ b: UnsafeBufferPointer<Double>, _ wb: Double
    ) {
        for i in a.indices { a[i] = wa * a[i] + wb * b[i] }
    }
}
