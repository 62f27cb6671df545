// The clDice loss's two passes, one task per (sample, kept class) image.
// Pass 1: skel(p) and skel(g) of each image, and its four sums A' = Σ skel(p)·g, B' = Σ skel(p),
//   C' = Σ skel(g)·p, D' = Σ skel(g) (skel(g) is kept for pass 2).
// Per sample, with A = A' + s_nr, B = B' + s_dr, C = C' + s_nr, D = D' + s_dr, a = A/B, t = C/D,
//   h = a + t + smooth, L = 1 − 2at/h:
//   ∂L/∂a = −2t(t + smooth)/h²,  ∂L/∂t = −2a(a + smooth)/h²,
//   ∂L/∂skel(p)_j = ∂L/∂a·(g_j − a)/B,  ∂L/∂p_j (direct) = ∂L/∂t·skel(g)_j/D.
// Pass 2: skel(p) again, kept step by step, and its vector-Jacobian product with ∂L/∂skel(p)
//   (SoftSkeleton.skeletonBackward), plus the direct term; then back through the activation.
// Derivation: Docs/DiceMath.md, "clDice and the soft skeleton".

extension ClDiceLoss {
    func compute<T: BLASScalar>(_ x: Tensor<T>, _ target: SegmentationTarget<T>, _ wantGradient: Bool) throws
        -> DiceLossResult<T>
    {
        try checkOptions()
        let geometry = try SegmentationGeometry(prediction: x.shape, layout: layout, context: "clDice loss")
        guard let skeleton = SoftSkeleton(spatial: geometry.spatial, iterations: iterations) else {
            throw DiceKitError.shape(
                "clDice loss: prediction shape \(x.shape) has \(geometry.spatial.count) spatial axes; expected 2 (images) or 3 (volumes)"
            )
        }
        let input = try LossInput(x, target, layout: layout, ignoreIndex: nil, what: "clDice loss", hard: false)
        if activation == .softmax && input.c == 1 {
            throw DiceKitError.option("softmax over a single channel; expected ≥ 2 channels or activation sigmoid/none")
        }
        if excludeBackground && input.c == 1 {
            throw DiceKitError.option("exclude background with a single channel; expected ≥ 2 channels")
        }
        let (n, c, s) = (input.n, input.c, input.s)
        let first = excludeBackground ? 1 : 0
        let kept = c - first
        let planes = n * kept
        let p = input.probabilities(x, activation)
        // Pass 1: per image the four sums, and skel(g) (image-major, for pass 2).
        var sums = [Double](repeating: 0, count: 4 * planes)
        var targetSkeletons = [T](repeating: 0, count: wantGradient ? planes * s : 0)
        let keepTargets = wantGradient
        sums.withUnsafeMutableBufferPointer { out in
            targetSkeletons.withUnsafeMutableBufferPointer { skeletons in
                // Task t writes the sums and the target skeleton of image t only.
                let shared = TaskShared((out, skeletons))
                Self.runImages(planes) { plane in
                    let (out, keptSkeletons) = shared.buffers
                    let (i, k) = (plane / kept, first + plane % kept)
                    var image = [T](repeating: 0, count: 4 * s)
                    image.withUnsafeMutableBufferPointer { b in
                        let pp = UnsafeMutableBufferPointer(rebasing: b[0..<s])
                        let gg = UnsafeMutableBufferPointer(rebasing: b[s..<(2 * s)])
                        let sp = UnsafeMutableBufferPointer(rebasing: b[(2 * s)..<(3 * s)])
                        let sg = UnsafeMutableBufferPointer(rebasing: b[(3 * s)..<(4 * s)])
                        for q in 0..<s {
                            pp[q] = p[input.index(i, k, q)]
                            gg[q] = input.target(i, k, q)
                        }
                        skeleton.skeleton(UnsafeBufferPointer(pp), into: sp)
                        skeleton.skeleton(UnsafeBufferPointer(gg), into: sg)
                        var (a, b2, c2, d) = (0.0, 0.0, 0.0, 0.0)
                        for q in 0..<s {
                            a += Double(sp[q] * gg[q])
                            b2 += Double(sp[q])
                            c2 += Double(sg[q] * pp[q])
                            d += Double(sg[q])
                        }
                        out[4 * plane] = a
                        out[4 * plane + 1] = b2
                        out[4 * plane + 2] = c2
                        out[4 * plane + 3] = d
                        if keepTargets {
                            for q in 0..<s { keptSkeletons[plane * s + q] = sg[q] }
                        }
                    }
                }
            }
        }
        // Per sample: the loss and the factors of pass 2.
        var values = [Double](repeating: 0, count: n)
        var perSample = [(skeleton: Double, a: Double, b: Double, direct: Double)](repeating: (0, 0, 1, 0), count: n)
        let scale = reduction == .mean ? 1 / Double(n) : 1
        for i in 0..<n {
            var (a, b, cc, d) = (smoothNumerator, smoothDenominator, smoothNumerator, smoothDenominator)
            for k in 0..<kept {
                let j = 4 * (i * kept + k)
                a += sums[j]
                b += sums[j + 1]
                cc += sums[j + 2]
                d += sums[j + 3]
            }
            let precision = a / b
            let sensitivity = cc / d
            let h = precision + sensitivity + smooth
            values[i] = 1 - 2 * precision * sensitivity / h
            let dPrecision = -2 * sensitivity * (sensitivity + smooth) / (h * h)
            let dSensitivity = -2 * precision * (precision + smooth) / (h * h)
            perSample[i] = (scale * dPrecision / b, precision, b, scale * dSensitivity / d)
        }
        let loss: Tensor<T> =
            reduction == .none
            ? Tensor(uncheckedShape: [n], storage: values.map { T($0) })
            : Tensor(uncheckedShape: [], storage: [T(reduction.reduce(values.reduce(0, +), count: n))])
        guard wantGradient else { return DiceLossResult(loss: loss, gradient: nil) }
        let factors = perSample
        // Pass 2: d/dp into the prediction's layout (channel 0 stays 0 when excluded).
        var gradient = [T](repeating: 0, count: x.count)
        gradient.withUnsafeMutableBufferPointer { gs in
            targetSkeletons.withUnsafeBufferPointer { targetSkeletons in
                // Task t writes the gradient of image t's elements only (disjoint across images).
                let shared = TaskShared((gs, targetSkeletons))
                Self.runImages(planes) { plane in
                    let (gs, targetSkeletons) = shared.buffers
                    let (i, k) = (plane / kept, first + plane % kept)
                    let f = factors[i]
                    let skeletonFactor = T(f.skeleton)
                    let precision = T(f.a)
                    let direct = T(f.direct)
                    var image = [T](repeating: 0, count: 3 * s)
                    image.withUnsafeMutableBufferPointer { b in
                        let pp = UnsafeMutableBufferPointer(rebasing: b[0..<s])
                        let dSkeleton = UnsafeMutableBufferPointer(rebasing: b[s..<(2 * s)])
                        let dp = UnsafeMutableBufferPointer(rebasing: b[(2 * s)..<(3 * s)])
                        for q in 0..<s {
                            pp[q] = p[input.index(i, k, q)]
                            dSkeleton[q] = skeletonFactor * (input.target(i, k, q) - precision)
                            dp[q] = direct * targetSkeletons[plane * s + q]
                        }
                        skeleton.skeletonBackward(
                            UnsafeBufferPointer(pp), dSkeleton: UnsafeBufferPointer(dSkeleton), into: dp)
                        for q in 0..<s { gs[input.index(i, k, q)] = dp[q] }
                    }
                }
            }
        }
        input.backpropagate(&gradient, probabilities: p, activation)
        return DiceLossResult(loss: loss, gradient: Tensor(uncheckedShape: x.shape, storage: gradient))
    }

    /// Runs `body` for images 0..<count, over the cores when there is more than one image.
    static func runImages(_ count: Int, _ body: @Sendable (Int) -> Void) {
        if count > 1 && System.activeProcessorCount > 1 {
            WorkerPool.shared.run(count, body)
        } else {
            for t in 0..<count { body(t) }
        }
    }
}
