// Element-wise activations with their backward passes: ReLU, leaky ReLU and the logistic
// sigmoid. Each backward takes what its derivative needs: the input for (leaky) ReLU, the
// output for the sigmoid (σ′ = σ·(1 − σ)), so a network keeps one tensor per activation.

internal import CDiceKitKernels

/// The rectified linear unit, y = max(x, 0), element-wise.
public struct ReLU: Sendable, Equatable {
    /// A ReLU.
    public init() {}

    /// max(x, 0) for every element (NaN stays NaN).
    public func forward<T: BLASScalar>(_ input: Tensor<T>) -> Tensor<T> {
        ActivationKernels.rectifier(input, gradient: nil, slope: nil)
    }

    /// ∂loss/∂input = ∂loss/∂output where input > 0, else 0 (the subgradient 0 at 0, as PyTorch).
    ///
    /// - Throws: `DiceKitError.shape` when the shapes differ.
    public func backward<T: BLASScalar>(input: Tensor<T>, outputGradient: Tensor<T>) throws -> Tensor<T> {
        try ActivationKernels.checkShapes(input, outputGradient, "ReLU")
        return ActivationKernels.rectifier(input, gradient: outputGradient, slope: nil)
    }
}

/// The leaky rectified linear unit, y = x for x > 0 and a·x otherwise, element-wise.
public struct LeakyReLU: Sendable, Equatable {
    /// a, the slope for negative inputs; default 0.01 (PyTorch's).
    public var negativeSlope: Double

    /// A leaky ReLU with slope `negativeSlope` (default 0.01) below zero.
    public init(negativeSlope: Double = 0.01) { self.negativeSlope = negativeSlope }

    /// x for x > 0, a·x otherwise.
    public func forward<T: BLASScalar>(_ input: Tensor<T>) -> Tensor<T> {
        ActivationKernels.rectifier(input, gradient: nil, slope: negativeSlope)
    }

    /// ∂loss/∂input = ∂loss/∂output where input > 0, a·∂loss/∂output elsewhere.
    ///
    /// - Throws: `DiceKitError.shape` when the shapes differ.
    public func backward<T: BLASScalar>(input: Tensor<T>, outputGradient: Tensor<T>) throws -> Tensor<T> {
        try ActivationKernels.checkShapes(input, outputGradient, "leaky ReLU")
        return ActivationKernels.rectifier(input, gradient: outputGradient, slope: negativeSlope)
    }
}

/// The logistic sigmoid, σ(x) = 1 / (1 + e⁻ˣ), element-wise.
public struct Sigmoid: Sendable, Equatable {
    /// A sigmoid.
    public init() {}

    /// σ(x), computed without overflow: 1/(1 + e⁻ˣ) for x ≥ 0 and eˣ/(1 + eˣ) for x < 0.
    public func forward<T: BLASScalar>(_ input: Tensor<T>) -> Tensor<T> {
        ActivationKernels.dispatch(input, nil) { x, _ in
            ActivationKernels.sigmoid(x)
        } double: { x, _ in
            ActivationKernels.sigmoid(x)
        }
    }

    /// ∂loss/∂input = ∂loss/∂output · σ·(1 − σ), from the forward pass's output σ.
    ///
    /// - Throws: `DiceKitError.shape` when the shapes differ.
    public func backward<T: BLASScalar>(output: Tensor<T>, outputGradient: Tensor<T>) throws -> Tensor<T> {
        try ActivationKernels.checkShapes(output, outputGradient, "sigmoid")
        return ActivationKernels.dispatch(output, outputGradient) { s, g in
            g * s * (1 - s)
        } double: { s, g in
            g * s * (1 - s)
        }
    }
}

/// The element-wise loops, run on concrete Float or Double.
enum ActivationKernels {
    @inline(__always)
    static func sigmoid<T: BLASScalar>(_ x: T) -> T {
        if x >= 0 { return 1 / (1 + T.exp(-x)) }
        let e = T.exp(x)
        return e / (1 + e)
    }

    static func checkShapes<T: BLASScalar>(_ a: Tensor<T>, _ b: Tensor<T>, _ name: String) throws {
        guard a.shape == b.shape else {
            throw DiceKitError.shape("\(name) backward: output gradient has shape \(b.shape); expected \(a.shape)")
        }
    }

    /// ReLU (slope nil) or leaky ReLU: the forward pass of `x`, or with `gradient` the backward
    /// pass. Own loops rather than `dispatch`'s closures, so that they vectorise inside the
    /// worker pool's ranges (a closure called from there is not inlined); the activations of a
    /// U-Net are the largest tensors it touches.
    static func rectifier<T: BLASScalar>(_ x: Tensor<T>, gradient: Tensor<T>?, slope: Double?) -> Tensor<T> {
        specialised(
            T.self,
            float: {
                rectify(x.reinterpreted(as: Float.self), gradient?.reinterpreted(), slope.map { Float($0) })
                    .reinterpreted()
            },
            double: { rectify(x.reinterpreted(as: Double.self), gradient?.reinterpreted(), slope).reinterpreted() })
    }

    @_specialize(where T == Float)
    @_specialize(where T == Double)
    private static func rectify<T: BLASScalar>(_ x: Tensor<T>, _ gradient: Tensor<T>?, _ slope: T?) -> Tensor<T> {
        let storage = [T](unsafeUninitializedCapacity: x.count) { out, initialized in
            let po = out.baseAddress!
            x.withUnsafeBufferPointer { px in
                let px = px.baseAddress!
                if let gradient = gradient {
                    gradient.withUnsafeBufferPointer { pg in
                        // Each range writes its own elements.
                        let shared = TaskShared((px, pg.baseAddress!, po))
                        WorkerPool.shared.forEachRange(x.count) { range in
                            let (px, pg, po) = shared.buffers
                            rectifyBackward(
                                px + range.lowerBound, pg + range.lowerBound, po + range.lowerBound, range.count, slope)
                        }
                    }
                } else {
                    let shared = TaskShared((px, po))
                    WorkerPool.shared.forEachRange(x.count) { range in
                        let (px, po) = shared.buffers
                        rectifyForward(px + range.lowerBound, po + range.lowerBound, range.count, slope)
                    }
                }
            }
            initialized = x.count
        }
        return Tensor(uncheckedShape: x.shape, storage: storage)
    }

    /// ReLU (slope nil) or leaky ReLU of `buffer`'s elements, overwriting them (the same values
    /// as `rectifier(_:gradient: nil, slope:)`, without a second buffer).
    static func rectifyInPlace<T: BLASScalar>(_ buffer: UnsafeMutableBufferPointer<T>, slope: Double?) {
        guard let base = buffer.baseAddress else { return }
        // Each range reads and writes its own elements.
        let shared = TaskShared(UnsafeMutableRawPointer(base))
        let (leaky, a) = (Int32(slope == nil ? 0 : 1), slope ?? 0)
        WorkerPool.shared.forEachRange(buffer.count) { range in
            let start = shared.buffers + range.lowerBound * MemoryLayout<T>.stride
            if T.self == Float.self {
                dk_rectify_inplace_f32(start.assumingMemoryBound(to: Float.self), range.count, Float(a), leaky)
            } else {
                dk_rectify_inplace_f64(start.assumingMemoryBound(to: Double.self), range.count, a, leaky)
            }
        }
    }

    /// The backward pass of ReLU (slope nil) or leaky ReLU written over `gradient`, with the
    /// derivative read from the forward pass's `output` (positive exactly where the input was,
    /// for a slope ≥ 0): the same values as `rectifier(input, gradient:, slope:)`.
    ///
    /// Both in-place passes run in C (dk_activation.h): written over one buffer, the Swift
    /// loop's store is skipped where the value is unchanged, a branch per element.
    static func rectifyGradientInPlace<T: BLASScalar>(
        _ gradient: UnsafeMutableBufferPointer<T>, output: UnsafeBufferPointer<T>, slope: Double?
    ) {
        guard let g = gradient.baseAddress, let y = output.baseAddress else { return }
        // Each range reads and writes its own elements.
        let shared = TaskShared((UnsafeRawPointer(y), UnsafeMutableRawPointer(g)))
        let (leaky, a) = (Int32(slope == nil ? 0 : 1), slope ?? 0)
        WorkerPool.shared.forEachRange(gradient.count) { range in
            let offset = range.lowerBound * MemoryLayout<T>.stride
            let (y, g) = (shared.buffers.0 + offset, shared.buffers.1 + offset)
            if T.self == Float.self {
                dk_rectify_backward_inplace_f32(
                    y.assumingMemoryBound(to: Float.self), g.assumingMemoryBound(to: Float.self), range.count,
                    Float(a), leaky)
            } else {
                dk_rectify_backward_inplace_f64(
                    y.assumingMemoryBound(to: Double.self), g.assumingMemoryBound(to: Double.self), range.count, a,
                    leaky)
            }
        }
    }

    // Counted loops from 0 with selects, which the compiler vectorises (a branch per element
    // would mispredict on half of them).
    @inline(__always)
    private static func rectifyForward<T: BLASScalar>(
        _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ n: Int, _ slope: T?
    ) {
        if let a = slope {
            for i in 0..<n {
                let xi = x[i]
                y[i] = xi > 0 ? xi : a * xi
            }
        } else {
            // NaN stays NaN (x != x), as PyTorch.
            for i in 0..<n {
                let xi = x[i]
                y[i] = xi > 0 || xi != xi ? xi : 0
            }
        }
    }

    @inline(__always)
    private static func rectifyBackward<T: BLASScalar>(
        _ x: UnsafePointer<T>, _ g: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>,
        _ n: Int, _ slope: T?
    ) {
        // g[i] read unconditionally: a load under the condition would stay a branch.
        if let a = slope {
            for i in 0..<n {
                let (xi, gi) = (x[i], g[i])
                dx[i] = xi > 0 ? gi : a * gi
            }
        } else {
            for i in 0..<n {
                let (xi, gi) = (x[i], g[i])
                dx[i] = xi > 0 ? gi : 0
            }
        }
    }

    /// result[i] = f(a[i], b[i]) (b[i] = 0 when b is nil), with `float` or `double` per T.
    @inline(__always)
    static func dispatch<T: BLASScalar>(
        _ a: Tensor<T>, _ b: Tensor<T>?, float: (Float, Float) -> Float,
        double: (Double, Double) -> Double
    ) -> Tensor<T> {
        specialised(
            T.self, float: { apply(a.reinterpreted(as: Float.self), b?.reinterpreted(), float).reinterpreted() },
            double: { apply(a.reinterpreted(as: Double.self), b?.reinterpreted(), double).reinterpreted() })
    }

    @inline(__always)
    static func apply<T: BLASScalar>(_ a: Tensor<T>, _ b: Tensor<T>?, _ f: (T, T) -> T) -> Tensor<T> {
        let storage = [T](unsafeUninitializedCapacity: a.count) { out, initialized in
            a.withUnsafeBufferPointer { pa in
                if let b = b {
                    b.withUnsafeBufferPointer { pb in
                        for i in 0..<pa.count { out[i] = f(pa[i], pb[i]) }
                    }
                } else {
                    for i in 0..<pa.count { out[i] = f(pa[i], 0) }
                }
            }
            initialized = a.count
        }
        return Tensor(uncheckedShape: a.shape, storage: storage)
    }
}
