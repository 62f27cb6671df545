// The clDice loss's two passes over the (sample, kept class) images, in one task per core.
// Pass 1: skel(p) and skel(g) of each image (the C kernel, SoftSkeleton+CKernel.swift), and its
//   four sums A' = Σ skel(p)·g, B' = Σ skel(p), C' = Σ skel(g)·p, D' = Σ skel(g).
// Per sample, with A = A' + s_nr, B = B' + s_dr, C = C' + s_nr, D = D' + s_dr, a = A/B, t = C/D,
//   h = a + t + smooth, L = 1 − 2at/h:
//   ∂L/∂a = −2t(t + smooth)/h²,  ∂L/∂t = −2a(a + smooth)/h²,
//   ∂L/∂skel(p)_j = f·(g_j − a) with f = ∂L/∂a / B,  ∂L/∂p_j (direct) = ∂L/∂t·skel(g)_j/D.
// The skeleton's vector-Jacobian product is linear in its cotangent, and f and a are per-sample
// numbers known only after pass 1, so pass 1 (with the gradient) runs the backward pass once with
// the two cotangents g and 1 − g, on the forward pass it has just made:
//   ∂L/∂p = f·(1 − a)·J(p)ᵀg − f·a·J(p)ᵀ(1 − g) + direct term
// (g and 1 − g rather than g and 1: the two parts then cancel little in Float). Pass 2 only
// combines them and goes back through the activation. Derivation: Docs/DiceMath.md §9.6.

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
        try checkWorkspace(spatial: geometry.spatial, T.self, gradient: wantGradient)
        let first = excludeBackground ? 1 : 0
        let kept = c - first
        let planes = n * kept
        let p = input.probabilities(x, activation)
        // Pass 1: per image the four sums, skel(g) and (with the gradient) the two products.
        var sums = [Double](repeating: 0, count: 4 * planes)
        var targetSkeletons = [T](repeating: 0, count: wantGradient ? planes * s : 0)
        var products = [T](repeating: 0, count: wantGradient ? 2 * planes * s : 0)
        let keepGradient = wantGradient
        sums.withUnsafeMutableBufferPointer { out in
            targetSkeletons.withUnsafeMutableBufferPointer { skeletons in
                products.withUnsafeMutableBufferPointer { products in
                    // Task t runs a contiguous group of images with one workspace (allocated and
                    // faulted in once), writing the sums, target skeletons and products of its
                    // images only; each image's results do not depend on the grouping.
                    let shared = TaskShared((out, skeletons, products))
                    let groups = Swift.min(planes, Swift.max(1, System.activeProcessorCount))
                    Self.runImages(groups) { group in
                        let (out, keptSkeletons, keptProducts) = shared.buffers
                        let scratch = 6 * s + skeleton.workspaceCount(gradient: keepGradient)
                        var image = [T](repeating: 0, count: scratch)
                        var integers = [Int32](repeating: 0, count: keepGradient ? skeleton.workspaceIntegers : 0)
                        image.withUnsafeMutableBufferPointer { b in
                            integers.withUnsafeMutableBufferPointer { w in
                                let pp = UnsafeMutableBufferPointer(rebasing: b[0..<s])
                                let gg = UnsafeMutableBufferPointer(rebasing: b[s..<(2 * s)])
                                let sp = UnsafeMutableBufferPointer(rebasing: b[(2 * s)..<(3 * s)])
                                let sg = UnsafeMutableBufferPointer(rebasing: b[(3 * s)..<(4 * s)])
                                let cotangents = UnsafeMutableBufferPointer(rebasing: b[(4 * s)..<(6 * s)])
                                let work = UnsafeMutableBufferPointer(rebasing: b[(6 * s)...])
                                for plane in (group * planes / groups)..<((group + 1) * planes / groups) {
                                    let (i, k) = (plane / kept, first + plane % kept)
                                    for q in 0..<s {
                                        pp[q] = p[input.index(i, k, q)]
                                        gg[q] = input.target(i, k, q)
                                    }
                                    skeleton.kernelSkeleton(UnsafeBufferPointer(gg), into: sg, work: work)
                                    if keepGradient {
                                        // The cotangents (g, 1 − g), pairwise; the products go to this image's slot.
                                        for q in 0..<s {
                                            cotangents[2 * q] = gg[q]
                                            cotangents[2 * q + 1] = 1 - gg[q]
                                        }
                                        skeleton.kernelSkeletonProducts(
                                            UnsafeBufferPointer(pp), cotangents: UnsafeBufferPointer(cotangents),
                                            skeleton: sp,
                                            products: UnsafeMutableBufferPointer(
                                                rebasing: keptProducts[(2 * plane * s)..<(2 * (plane + 1) * s)]),
                                            work: work, integers: w)
                                    } else {
                                        skeleton.kernelSkeleton(UnsafeBufferPointer(pp), into: sp, work: work)
                                    }
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
                                    if keepGradient {
                                        for q in 0..<s { keptSkeletons[plane * s + q] = sg[q] }
                                    }
                                }
                            }
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
                products.withUnsafeBufferPointer { products in
                    // Task t writes the gradient of image t's elements only (disjoint across images).
                    let shared = TaskShared((gs, targetSkeletons, products))
                    Self.runImages(planes) { plane in
                        let (gs, targetSkeletons, products) = shared.buffers
                        let (i, k) = (plane / kept, first + plane % kept)
                        let f = factors[i]
                        let onTarget = T(f.skeleton * (1 - f.a))
                        let offTarget = T(-f.skeleton * f.a)
                        let direct = T(f.direct)
                        for q in 0..<s {
                            let j = plane * s + q
                            gs[input.index(i, k, q)] =
                                direct * targetSkeletons[j]
                                + (onTarget * products[2 * j] + offTarget * products[2 * j + 1])
                        }
                    }
                }
            }
        }
        input.backpropagate(&gradient, probabilities: p, activation)
        return DiceLossResult(loss: loss, gradient: Tensor(uncheckedShape: x.shape, storage: gradient))
    }

    /// The most workspace one image's task may take (2 GiB): the forward pass kept for the
    /// gradient grows with the iterations (capped at the image's diameter).
    static let workspaceLimit = 2.0 * 1_073_741_824

    /// Refuses iterations whose workspace per image passes `workspaceLimit` (with the gradient,
    /// each task keeps the forward pass of one image: (3K + 16) images, K capped at the diameter).
    ///
    /// - Throws: `DiceKitError.value` naming the iterations and the most that fit.
    func checkWorkspace<T: BLASScalar>(spatial: [Int], _: T.Type, gradient: Bool) throws {
        guard let skeleton = SoftSkeleton(spatial: spatial, iterations: iterations) else { return }
        let size = Double(MemoryLayout<T>.size)
        let bytes = Double(skeleton.workspaceCount(gradient: gradient)) * size
        guard bytes > Self.workspaceLimit else { return }
        let most = (Self.workspaceLimit / size / Double(skeleton.count) - 16) / 3
        throw DiceKitError.value(
            "clDice iterations \(iterations) on \(spatial) images need \(Int(bytes / 1_048_576)) MiB per image; expected at most \(Swift.max(Int(most), 0)) iterations for this size"
        )
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
