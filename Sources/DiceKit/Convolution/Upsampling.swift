// Nearest and (bi/tri)linear upsampling by integer factors on channels-last tensors, with the
// backward passes (the adjoint scatter of the same weights). Coordinates follow PyTorch's
// `F.interpolate(scale_factor=s)`; per axis, for output coordinate o:
//   nearest:                    i = ⌊o / s⌋
//   linear, alignCorners false:  x = max((o + ½) / s − ½, 0)
//   linear, alignCorners true:   x = o · (in − 1) / (out − 1)   (0 when out = 1)
//   then i₀ = ⌊x⌋, i₁ = min(i₀ + 1, in − 1), λ = x − i₀, value = (1 − λ)·v[i₀] + λ·v[i₁].
// In 2-D this is bilinear, in 3-D trilinear (separable: the product of the per-axis weights).

/// Upsampling of a channels-last image or volume batch by integer factors, with backward.
///
/// Shapes: input [batch, H, W, C] or [batch, D, H, W, C]; output [batch, s_h·H, s_w·W, C] or
/// [batch, s_d·D, s_h·H, s_w·W, C].
public struct Upsampling: Sendable, Equatable {
    /// How output values are interpolated.
    public enum Mode: Sendable, Equatable {
        /// The nearest input cell (PyTorch's `mode="nearest"`).
        case nearest
        /// Bilinear in 2-D, trilinear in 3-D; `alignCorners` as in PyTorch (default there: false).
        case linear(alignCorners: Bool)
    }

    /// Integer factor per spatial axis (2 or 3 entries), e.g. [2, 2].
    public var scale: [Int]
    /// Interpolation; default `.nearest`.
    public var mode: Mode

    /// Upsampling by `scale` (2 or 3 factors ≥ 1).
    ///
    /// - Throws: `DiceKitError.option` for a factor list of the wrong length or a factor below 1.
    public init(scale: [Int], mode: Mode = .nearest) throws {
        guard scale.count == 2 || scale.count == 3, scale.allSatisfy({ $0 >= 1 }) else {
            throw DiceKitError.option("upsampling: scale \(scale) needs 2 or 3 factors ≥ 1")
        }
        self.scale = scale
        self.mode = mode
    }

    /// The output shape [batch, s·in…, C] for an input shape.
    ///
    /// - Throws: `DiceKitError.shape` for a rank other than scale.count + 2 or an empty axis.
    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        let rank = scale.count
        guard inputShape.count == rank + 2, inputShape.allSatisfy({ $0 >= 1 }) else {
            throw DiceKitError.shape(
                "upsampling: input shape \(inputShape); expected rank \(rank + 2) with non-empty axes for scale \(scale)"
            )
        }
        return [inputShape[0]] + (0..<rank).map { inputShape[$0 + 1] * scale[$0] } + [inputShape[rank + 1]]
    }

    /// The upsampled tensor.
    ///
    /// - Throws: as `outputShape(for:)`.
    public func forward<T: BLASScalar>(_ input: Tensor<T>) throws -> Tensor<T> {
        let plan = try self.plan(input.shape)
        return specialised(
            T.self, float: { plan.forward(input.reinterpreted(as: Float.self)).reinterpreted() },
            double: { plan.forward(input.reinterpreted(as: Double.self)).reinterpreted() })
    }

    /// ∂loss/∂input for an input of shape `inputShape`, given ∂loss/∂output.
    ///
    /// - Throws: as `outputShape(for:)`, and `DiceKitError.shape` when `outputGradient` does not
    ///   have the output's shape.
    public func backward<T: BLASScalar>(inputShape: [Int], outputGradient: Tensor<T>) throws -> Tensor<T> {
        let plan = try self.plan(inputShape)
        guard outputGradient.shape == plan.outputShape else {
            throw DiceKitError.shape(
                "upsampling backward: output gradient has shape \(outputGradient.shape); input \(inputShape) upsamples to \(plan.outputShape)"
            )
        }
        return specialised(
            T.self, float: { plan.backward(outputGradient.reinterpreted(as: Float.self)).reinterpreted() },
            double: { plan.backward(outputGradient.reinterpreted(as: Double.self)).reinterpreted() })
    }

    private func plan(_ inputShape: [Int]) throws -> UpsamplingPlan {
        let outputShape = try self.outputShape(for: inputShape)
        let rank = scale.count
        var axes: [UpsamplingPlan.Axis] = []
        if rank == 2 { axes.append(UpsamplingPlan.Axis(lower: [0], upper: [0], weight: [0])) }
        for i in 0..<rank {
            let (input, output) = (inputShape[i + 1], outputShape[i + 1])
            var axis = UpsamplingPlan.Axis(lower: [], upper: [], weight: [])
            for o in 0..<output {
                switch mode {
                case .nearest:
                    axis.append(o / scale[i], o / scale[i], 0)
                case .linear(let alignCorners):
                    let x: Double
                    if alignCorners {
                        x = output > 1 ? Double(o) * Double(input - 1) / Double(output - 1) : 0
                    } else {
                        x = Swift.max((Double(o) + 0.5) / Double(scale[i]) - 0.5, 0)
                    }
                    let i0 = Swift.min(Int(x), input - 1)
                    axis.append(i0, Swift.min(i0 + 1, input - 1), x - Double(i0))
                }
            }
            axes.append(axis)
        }
        return UpsamplingPlan(
            inputShape: inputShape, outputShape: outputShape, batch: inputShape[0],
            channels: inputShape[rank + 1], axes: axes)
    }
}

/// Per-axis source indices and weights of one upsampling, normalised to (D, H, W).
struct UpsamplingPlan {
    struct Axis {
        var lower: [Int], upper: [Int], weight: [Double]
        mutating func append(_ i0: Int, _ i1: Int, _ lambda: Double) {
            lower.append(i0)
            upper.append(i1)
            weight.append(lambda)
        }
    }
    let inputShape: [Int], outputShape: [Int]
    let batch: Int, channels: Int
    let axes: [Axis]

    /// Calls `body(outputOffset, inputOffset, weight)` for every nonzero tap of every output pixel.
    @inline(__always)
    private func forEachTap<T: BLASScalar>(_: T.Type, _ body: (Int, Int, T) -> Void) {
        let (ad, ah, aw) = (axes[0], axes[1], axes[2])
        let inD = inputShape.count == 5 ? inputShape[1] : 1
        let inH = inputShape[inputShape.count - 3]
        let inW = inputShape[inputShape.count - 2]
        let c = channels
        let wTaps: [(lo: Int, hi: Int, l0: T, l1: T)] = (0..<aw.lower.count).map {
            (aw.lower[$0], aw.upper[$0], T(1 - aw.weight[$0]), T(aw.weight[$0]))
        }
        var out = 0
        for n in 0..<batch {
            for od in 0..<ad.lower.count {
                let (d0, d1, wd0, wd1) = (ad.lower[od], ad.upper[od], T(1 - ad.weight[od]), T(ad.weight[od]))
                for oh in 0..<ah.lower.count {
                    let (h0, h1, wh0, wh1) = (ah.lower[oh], ah.upper[oh], T(1 - ah.weight[oh]), T(ah.weight[oh]))
                    for tap in wTaps {
                        // The (up to) eight corners; taps of weight 0 (nearest, or an exact
                        // source coordinate) are skipped.
                        for (id, wd) in [(d0, wd0), (d1, wd1)] where wd != 0 {
                            for (ih, wh) in [(h0, wh0), (h1, wh1)] where wh != 0 {
                                let line = ((n * inD + id) * inH + ih) * inW
                                if tap.l0 != 0 { body(out, (line + tap.lo) * c, wd * wh * tap.l0) }
                                if tap.l1 != 0 { body(out, (line + tap.hi) * c, wd * wh * tap.l1) }
                            }
                        }
                        out += c
                    }
                }
            }
        }
    }

    func forward<T: BLASScalar>(_ x: Tensor<T>) -> Tensor<T> {
        var y = [T](repeating: 0, count: outputShape.reduce(1, *))
        let c = channels
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                forEachTap(T.self) { o, i, w in
                    for k in 0..<c { py[o + k] += w * px[i + k] }
                }
            }
        }
        return Tensor(uncheckedShape: outputShape, storage: y)
    }

    func backward<T: BLASScalar>(_ dy: Tensor<T>) -> Tensor<T> {
        var dx = [T](repeating: 0, count: inputShape.reduce(1, *))
        let c = channels
        dy.withUnsafeBufferPointer { pdy in
            dx.withUnsafeMutableBufferPointer { pdx in
                forEachTap(T.self) { o, i, w in
                    for k in 0..<c { pdx[i + k] += w * pdy[o + k] }
                }
            }
        }
        return Tensor(uncheckedShape: inputShape, storage: dx)
    }
}
