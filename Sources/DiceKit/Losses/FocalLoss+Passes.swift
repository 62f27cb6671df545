// The focal loss's passes. Sigmoid form, per element with u = ±z (the sign of 2t − 1):
//   softplus(v) = max(v, 0) + log1p(e^(−|v|)),  bce = softplus(−u) = −log σ(u),
//   F = (1 − p_t)^γ = e^(−γ·softplus(u))  (reduced: ((1 − p_t)/r)^γ, or 1 where p_t < r),
//   ℓ = w·F·bce,  dF/du = −γ·F·σ(u) (0 where F is clamped to 1),  dℓ/du = w·(dF/du·bce − F·σ(−u)),
//   dℓ/dz = (2t − 1)·dℓ/du.
// Softmax form, per position (log-softmax ls_c, p_c = e^ls_c, q_c = 1 − p_c):
//   h_c = w_c·g_c·(γ·q_c^(γ−1)·p_c·ls_c − q_c^γ),  dℓ/dz_j = h_j − p_j·Σ_c h_c.
// Normalized (sigmoid, per class k over the batch): L_k = A_k / Φ_k with A_k = Σ ℓ, Φ_k = Σ F, so
//   dL_k/du = (dℓ/du)/Φ_k − A_k/Φ_k²·dF/du; pass 1 gathers A_k and Φ_k, pass 2 writes the gradient.
// Derivations: Docs/DiceMath.md, "Focal loss". The common Float cases (channels-last labels, whole
// γ; the sigmoid form also with a dense 0/1 target, as region losses give it) run the AVX-512 or
// AVX2 kernels of Sources/CDiceKitKernels/focal/.

internal import CDiceKitKernels

extension FocalLoss {
    /// One sigmoid-form element: value, focal term, and their derivatives with respect to u.
    /// `integerGamma` ≥ 0 when γ is a whole number ≤ 8: the focal term is then σ(−u)^γ by
    /// multiplication instead of an exponential (same value up to rounding).
    @inline(__always)
    static func sigmoidElement<T: BLASScalar>(u: T, weight: T, gamma: T, integerGamma: Int, threshold: T?) -> (
        l: T, f: T, dl: T, df: T
    ) {
        let e = T.exp(-Swift.abs(u))
        let log1pe = logOnePlus(e)
        let bce = Swift.max(-u, 0) + log1pe
        // σ(u) and σ(−u) from e = e^(−|u|) without cancellation.
        let big = 1 / (1 + e)
        let small = e * big
        let sigU = u >= 0 ? big : small
        let sigMinusU = u >= 0 ? small : big
        var f: T
        var df: T
        if let r = threshold {
            if sigU < r {
                f = 1
                df = 0
            } else {
                f =
                    integerGamma >= 0
                    ? power(sigMinusU / r, integerGamma) : T.exp(gamma * (-(Swift.max(u, 0) + log1pe) - T.log(r)))
                df = -gamma * f * sigU
            }
        } else {
            f = integerGamma >= 0 ? power(sigMinusU, integerGamma) : T.exp(-gamma * (Swift.max(u, 0) + log1pe))
            df = -gamma * f * sigU
        }
        return (weight * f * bce, f, weight * (df * bce - f * sigMinusU), df)
    }

    /// log(1 + x) for x in [0, 1] as log(w)·x/(w − 1), w = 1 + x (Goldberg's correction: a few ulps,
    /// with glibc's fast `logf` instead of its slower `log1pf`).
    @inline(__always)
    static func logOnePlus<T: BLASScalar>(_ x: T) -> T {
        let w = 1 + x
        return w == 1 ? x : T.log(w) * x / (w - 1)
    }

    /// x^n for a small whole n ≥ 0, by multiplication.
    @inline(__always)
    static func power<T: BLASScalar>(_ x: T, _ n: Int) -> T {
        var r: T = 1
        for _ in 0..<n { r *= x }
        return r
    }

    /// γ as a whole number ≤ 8, or −1.
    var integerGamma: Int {
        gamma == gamma.rounded() && gamma >= 0 && gamma <= Double(DK_FOCAL_MAX_WHOLE_GAMMA) ? Int(gamma) : -1
    }

    func compute<T: BLASScalar>(_ x: Tensor<T>, _ target: SegmentationTarget<T>, _ wantGradient: Bool) throws
        -> DiceLossResult<T>
    {
        let input = try LossInput(
            x, target, layout: layout, ignoreIndex: ignoreIndex, what: "focal loss", hard: activation == .sigmoid)
        let weights = try checkedWeights(channels: input.c)
        let first = excludeBackground ? 1 : 0
        let kept = input.c - first
        let (n, s) = (input.n, input.s)
        // The positions of each sample that count (all of them without an ignore index).
        let counted = input.countedPositions()
        let elements = Double(counted.reduce(0, +) * kept)
        // Factor of every element's value of sample i in the reduced loss (normalized: per class,
        // below); 0 where nothing counts.
        let scales: [Double] = counted.map { m in
            switch reduction {
            case .mean: return elements > 0 ? 1 / elements : 0
            case .sum: return m > 0 ? 1 / Double(m) : 0
            case .none: return 1
            }
        }
        let hasIgnore = input.ignore != nil
        let ignore = input.ignore ?? 0
        let tasks = PositionTasks(n: n, s: s, c: input.c)
        // Per task: A_k (Σ ℓ) and Φ_k (Σ F) for each kept class.
        var partial = [Double](repeating: 0, count: tasks.ranges.count * 2 * kept)
        var gradient = wantGradient ? [T](repeating: 0, count: x.count) : []
        var values = reduction == .none ? [T](repeating: 0, count: n * kept * s) : []
        let gammaT = T(gamma)
        let thresholdT = reducedThreshold.map { T($0) }
        let alphaT = alpha.map { T($0) }
        let weightsT = weights.map { T($0) }
        let directGradient = wantGradient && !normalized
        let wholeGamma = integerGamma
        // Per class: the weight of an element whose target is 1, and of one whose target is 0.
        let w1 =
            activation == .sigmoid && classAlpha != nil
            ? zip(weightsT, classAlpha!).map { $0 * T($1) } : weightsT.map { $0 * (alphaT ?? 1) }
        let w0 = weightsT.map { $0 * (alphaT.map { 1 - $0 } ?? 1) }
        let hasLabels = input.labels != nil
        // The C kernels have AVX-512 and AVX2 + FMA variants; below those the Swift loops run.
        let vectorKernels = dk_isa().rawValue >= DK_ISA_AVX2.rawValue
        let labels = input.labels ?? []
        let dense = input.dense ?? []
        // The C kernel's case: Float, channels-last labels, 16 % C == 0, whole γ ≤ 8, plain sums,
        // nothing ignored. (The softmax kernel below needs no exception: an ignored label selects
        // no class, so its position adds nothing and gets a zero gradient.)
        let useKernel =
            T.self == Float.self && activation == .sigmoid && hasLabels && !hasIgnore && input.channelsLast
            && Int(DK_FOCAL_LANES) % input.c == 0
            && wholeGamma >= 0 && reducedThreshold == nil && !normalized && reduction != .none
            && (!wantGradient || directGradient)
            && kernelEnabled && vectorKernels
        // The same for a dense 0/1 target (region targets): C ≤ 16, AVX2 + FMA.
        let useDenseKernel =
            T.self == Float.self && activation == .sigmoid && !hasLabels && input.channelsLast
            && input.c <= Int(DK_FOCAL_LANES)
            && wholeGamma >= 0 && reducedThreshold == nil && !normalized && reduction != .none
            && (!wantGradient || directGradient)
            && kernelEnabled && vectorKernels
        // The softmax form's C kernel: Float, channels-last labels, C ≤ 16, whole γ ≤ 8, plain sums.
        let useSoftmaxKernel =
            T.self == Float.self && activation == .softmax && hasLabels && input.channelsLast
            && input.c <= Int(DK_FOCAL_LANES) && input.labelOffset == 0
            && wholeGamma >= 0 && reduction != .none
            && kernelEnabled && vectorKernels
        let kernelWeights = (0..<input.c).map { $0 < first ? Float(0) : Float(weightsT[$0 - first]) }
        let kernelW1 = (0..<input.c).map { $0 < first ? Float(0) : Float(w1[$0 - first]) }
        let kernelW0 = (0..<input.c).map { $0 < first ? Float(0) : Float(w0[$0 - first]) }
        let outChannels = input.channelsLast ? kept : 1
        let outPositions = input.channelsLast ? 1 : s
        x.withUnsafeBufferPointer { xs in
            gradient.withUnsafeMutableBufferPointer { gs in
                values.withUnsafeMutableBufferPointer { vs in
                    partial.withUnsafeMutableBufferPointer { ps in
                        // Task t writes its own partials, and the gradient and values of its own positions.
                        let shared = TaskShared((xs, gs, vs, ps))
                        tasks.run { task in
                            let (xs, gs, vs, ps) = shared.buffers
                            let (i, p0, p1) = tasks.ranges[task]
                            let out = ps.baseAddress! + task * 2 * kept
                            let scale = scales[i]
                            let scaleT = T(scale)
                            // The task's first element (channels-last, for the vector kernels).
                            let start = i * input.c * s + p0 * input.c
                            /// The input and gradient from (i, p0) as Float, for the vector kernels
                            /// (chosen only when the scalar type is Float).
                            func floatRange() -> (UnsafePointer<Float>, UnsafeMutablePointer<Float>?) {
                                let xf = UnsafeRawPointer(xs.baseAddress! + start).assumingMemoryBound(to: Float.self)
                                let gf =
                                    gs.isEmpty
                                    ? nil
                                    : UnsafeMutableRawPointer(gs.baseAddress! + start).assumingMemoryBound(
                                        to: Float.self)
                                return (xf, gf)
                            }
                            /// A sigmoid kernel's sums (Σ ℓ of class k at k, Σ F at C + k) as the task's partials.
                            func storeSigmoidSums(_ sums: [Double]) {
                                for k in first..<input.c {
                                    out[2 * (k - first)] = sums[k]
                                    out[2 * (k - first) + 1] = sums[input.c + k]
                                }
                            }
                            if useKernel {
                                // The vector kernel (focal_sigmoid_avx512.c or _avx2.c) for the common Float case.
                                let (xf, gf) = floatRange()
                                var sums = [Double](repeating: 0, count: 2 * input.c)
                                let ran = labels.withUnsafeBufferPointer { lb in
                                    dk_focal_sigmoid_labels_f32(
                                        xf, lb.baseAddress! + i * s + p0, p1 - p0, Int32(input.c), input.labelOffset,
                                        kernelW1, kernelW0, Int32(wholeGamma), Float(scale), gf, &sums)
                                }
                                precondition(ran == 1, "focal kernel refused arguments it was chosen for")
                                storeSigmoidSums(sums)
                            } else if useDenseKernel {
                                // focal_sigmoid_avx2.c's dense loop: targets read as 0/1 values.
                                let (xf, gf) = floatRange()
                                var sums = [Double](repeating: 0, count: 2 * input.c)
                                let ran = dense.withUnsafeBufferPointer { d in
                                    let tf = UnsafeRawPointer(d.baseAddress! + start).assumingMemoryBound(
                                        to: Float.self)
                                    return dk_focal_sigmoid_dense_f32(
                                        xf, tf, p1 - p0, Int32(input.c), kernelW1, kernelW0, Int32(wholeGamma),
                                        Float(scale), gf, &sums)
                                }
                                precondition(ran == 1, "focal dense kernel refused arguments it was chosen for")
                                storeSigmoidSums(sums)
                            } else if useSoftmaxKernel {
                                // The vector kernel (focal_softmax_avx512.c or _avx2.c) for the common Float case.
                                let (xf, gf) = floatRange()
                                var sums = [Double](repeating: 0, count: input.c)
                                let ran = labels.withUnsafeBufferPointer { lb in
                                    dk_focal_softmax_labels_f32(
                                        xf, lb.baseAddress! + i * s + p0, p1 - p0, Int32(input.c), Int32(first),
                                        kernelWeights, Int32(wholeGamma), Float(scale), gf, &sums)
                                }
                                precondition(ran == 1, "focal softmax kernel refused arguments it was chosen for")
                                for k in first..<input.c {
                                    out[2 * (k - first)] = sums[k]
                                    out[2 * (k - first) + 1] = 0
                                }
                            } else if activation == .sigmoid {
                                // Positions outer, channels inner: contiguous for channels-last.
                                let acc = UnsafeMutablePointer<Double>.allocate(capacity: 2 * kept)
                                defer { acc.deallocate() }
                                acc.initialize(repeating: 0, count: 2 * kept)
                                let cs = input.channelStride
                                let offset = input.labelOffset
                                for p in p0..<p1 {
                                    let label: Int32 = hasLabels ? labels[i * s + p] : -1
                                    if hasIgnore && label == ignore { continue }
                                    let base = input.index(i, 0, p)
                                    for k in first..<input.c {
                                        let idx = base + k * cs
                                        let positive = hasLabels ? label == Int32(k) + offset : dense[idx] == 1
                                        let z = xs[idx]
                                        let e = Self.sigmoidElement(
                                            u: positive ? z : -z, weight: positive ? w1[k - first] : w0[k - first],
                                            gamma: gammaT, integerGamma: wholeGamma, threshold: thresholdT)
                                        acc[2 * (k - first)] += Double(e.l)
                                        acc[2 * (k - first) + 1] += Double(e.f)
                                        if directGradient { gs[idx] = (positive ? e.dl : -e.dl) * scaleT }
                                        if !vs.isEmpty {
                                            vs[i * kept * s + p * outChannels + (k - first) * outPositions] = e.l
                                        }
                                    }
                                }
                                for j in 0..<(2 * kept) { out[j] = acc[j] }
                            } else {
                                softmaxRange(input, xs, gs, vs, i, p0, p1, first, weightsT, gammaT, scaleT, out)
                            }
                        }
                    }
                }
            }
        }
        var a = [Double](repeating: 0, count: kept)
        var phi = a
        for task in tasks.ranges.indices {
            for k in 0..<kept {
                a[k] += partial[task * 2 * kept + 2 * k]
                phi[k] += partial[task * 2 * kept + 2 * k + 1]
            }
        }
        let value: Double
        if normalized {
            let perClass = Double(Swift.max(counted.reduce(0, +), 1))
            value = (0..<kept).reduce(0.0) { $0 + a[$1] / Swift.max(phi[$1], 1e-6) / perClass } / Double(kept)
            if wantGradient {
                normalizedGradient(
                    input, x, &gradient, a: a, phi: phi, first: first, weights: weightsT, tasks: tasks,
                    norm: 1 / (perClass * Double(kept)))
            }
        } else if !hasIgnore || reduction != .sum {
            // Every sample has the same scale.
            value = a.reduce(0, +) * (scales.first ?? 0)
        } else {
            // Σ over tasks of the task's sample's scale × its sums.
            value = tasks.ranges.indices.reduce(0.0) { total, task in
                let sums = (0..<kept).reduce(0.0) { $0 + partial[task * 2 * kept + 2 * $1] }
                return total + sums * scales[tasks.ranges[task].sample]
            }
        }
        var shape = x.shape
        shape[layout.channelAxis(rank: shape.count)] = kept
        let loss =
            reduction == .none
            ? Tensor<T>(uncheckedShape: shape, storage: values) : Tensor<T>(uncheckedShape: [], storage: [T(value)])
        return DiceLossResult(
            loss: loss, gradient: wantGradient ? Tensor<T>(uncheckedShape: x.shape, storage: gradient) : nil)
    }

    /// Pass 2 of the normalized form: dL/dz = (2t − 1)·(dℓ/du / Φ_k − A_k/Φ_k²·dF/du)·`norm`,
    /// norm = 1/(counted positions·C'); ignored positions keep a zero gradient.
    private func normalizedGradient<T: BLASScalar>(
        _ input: LossInput<T>, _ x: Tensor<T>, _ gradient: inout [T], a: [Double], phi: [Double],
        first: Int, weights: [T], tasks: PositionTasks, norm: Double
    ) {
        let kept = input.c - first
        let gammaT = T(gamma)
        let thresholdT = reducedThreshold.map { T($0) }
        let alphaT = alpha.map { T($0) }
        let c1 = (0..<kept).map { T(norm / Swift.max(phi[$0], 1e-6)) }
        let c2 = (0..<kept).map { phi[$0] > 1e-6 ? T(norm * a[$0] / (phi[$0] * phi[$0])) : 0 }
        x.withUnsafeBufferPointer { xs in
            gradient.withUnsafeMutableBufferPointer { gs in
                // Task t writes the gradient of its own positions.
                let shared = TaskShared((xs, gs))
                tasks.run { task in
                    let (xs, gs) = shared.buffers
                    let (i, p0, p1) = tasks.ranges[task]
                    for k in first..<input.c {
                        let w = weights[k - first]
                        let k1 = c1[k - first]
                        let k2 = c2[k - first]
                        for p in p0..<p1 where !input.ignored(i, p) {
                            let idx = input.index(i, k, p)
                            let t = input.target(i, k, p)
                            let z = xs[idx]
                            let balance: T =
                                classAlpha.map { t == 1 ? T($0[k - first]) : 1 } ?? alphaT.map { t == 1 ? $0 : 1 - $0 }
                                ?? 1
                            let e = Self.sigmoidElement(
                                u: t == 1 ? z : -z, weight: w * balance, gamma: gammaT,
                                integerGamma: integerGamma, threshold: thresholdT)
                            let d = e.dl * k1 - e.df * k2
                            gs[idx] = t == 1 ? d : -d
                        }
                    }
                }
            }
        }
    }

    /// The softmax form over positions p0..<p1 of sample i: values, gradient and the per-class sums.
    private func softmaxRange<T: BLASScalar>(
        _ input: LossInput<T>, _ xs: UnsafeBufferPointer<T>, _ gs: UnsafeMutableBufferPointer<T>,
        _ vs: UnsafeMutableBufferPointer<T>, _ i: Int, _ p0: Int, _ p1: Int, _ first: Int,
        _ weights: [T], _ gamma: T, _ scale: T, _ out: UnsafeMutablePointer<Double>
    ) {
        let c = input.c
        let kept = c - first
        let wholeGamma = integerGamma
        let ls = UnsafeMutablePointer<T>.allocate(capacity: 2 * c)
        defer { ls.deallocate() }
        let h = ls + c
        var sums = [Double](repeating: 0, count: kept)
        let outChannels = input.channelsLast ? kept : 1
        let outPositions = input.channelsLast ? 1 : input.s
        let probs = UnsafeMutablePointer<T>.allocate(capacity: c)
        defer { probs.deallocate() }
        let cs = input.channelStride
        for p in p0..<p1 {
            let base = input.index(i, 0, p)
            var m = -T.infinity
            for k in first..<c { m = Swift.max(m, xs[base + k * cs]) }
            var total: T = 0
            for k in first..<c {
                let e = T.exp(xs[base + k * cs] - m)
                probs[k] = e
                total += e
            }
            let lse = m + T.log(total)
            let inverse = 1 / total
            var hSum: T = 0
            for k in first..<c {
                let l = xs[base + k * cs] - lse
                let prob = probs[k] * inverse
                probs[k] = prob
                ls[k] = l
                let g = input.target(i, k, p)
                guard g != 0 else {
                    h[k] = 0
                    if !vs.isEmpty { vs[i * kept * input.s + p * outChannels + (k - first) * outPositions] = 0 }
                    continue
                }
                let q = 1 - prob
                let w = weights[k - first]
                let qg: T = wholeGamma >= 0 ? Self.power(q, wholeGamma) : T.pow(q, gamma)
                let value = -w * qg * l * g
                sums[k - first] += Double(value)
                if !vs.isEmpty { vs[i * kept * input.s + p * outChannels + (k - first) * outPositions] = value }
                let focal: T =
                    (gamma == 0 || q <= 0)
                    ? 0
                    : gamma * (wholeGamma >= 1 ? Self.power(q, wholeGamma - 1) : T.pow(q, gamma - 1)) * prob * l
                h[k] = w * g * (focal - qg) * scale
                hSum += h[k]
            }
            if !gs.isEmpty {
                for k in first..<c { gs[base + k * cs] = h[k] - probs[k] * hSum }
            }
        }
        for k in 0..<kept {
            out[2 * k] = sums[k]
            out[2 * k + 1] = 0
        }
    }
}
