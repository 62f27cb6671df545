// The soft skeleton through the C kernel (CDiceKitKernels, skeleton/soft_skeleton.c): the same
// values, tie rule and gradient as the reference loops of SoftSkeleton.swift (the tests compare
// the two), vectorised and with the forward pass kept for the backward one. The clDice passes
// call these; the reference loops stay as the readable statement of the rule.

internal import CDiceKitKernels

extension SoftSkeleton {

    /// Integers of workspace `kernelSkeletonProducts` needs.
    var workspaceIntegers: Int { Int(DK_SKELETON_INTEGERS_PER_ELEMENT) * count }

    /// Scalars of workspace the kernel needs, with or without the gradient.
    func workspaceCount(gradient: Bool) -> Int {
        dk_soft_skeleton_work(count, Int32(iterations), gradient ? 1 : 0)
    }

    /// The skeleton of `image` (`count` values) into `skeleton`; `work` holds
    /// `workspaceCount(gradient: false)` values.
    func kernelSkeleton<T: BLASScalar>(
        _ image: UnsafeBufferPointer<T>, into skeleton: UnsafeMutableBufferPointer<T>,
        work: UnsafeMutableBufferPointer<T>
    ) {
        precondition(image.count >= count && skeleton.count >= count && work.count >= workspaceCount(gradient: false))
        let k = Int32(iterations)
        let v: Int32 = volumetric ? 1 : 0
        if T.self == Float.self {
            dk_soft_skeleton_f32(
                floats(image), depth, height, width, v, k, floats(skeleton), floats(work))
        } else {
            dk_soft_skeleton_f64(
                doubles(image), depth, height, width, v, k, doubles(skeleton), doubles(work))
        }
    }

    /// The skeleton of `image` into `skeleton`, and the vector-Jacobian products of two
    /// cotangents at once: `cotangents` and `products` hold pairs (2·`count` values, element j's
    /// at 2j and 2j + 1), products[2j + c] = Σ_q cotangents[2q + c]·∂skeleton_q/∂image_j.
    /// `work` holds `workspaceCount(gradient: true)` values and `integers` `workspaceIntegers`.
    func kernelSkeletonProducts<T: BLASScalar>(
        _ image: UnsafeBufferPointer<T>, cotangents: UnsafeBufferPointer<T>,
        skeleton: UnsafeMutableBufferPointer<T>, products: UnsafeMutableBufferPointer<T>,
        work: UnsafeMutableBufferPointer<T>, integers: UnsafeMutableBufferPointer<Int32>
    ) {
        precondition(count < Int(Int32.max), "clDice image of \(count) elements; the kernel indexes with Int32")
        precondition(
            image.count >= count && cotangents.count >= 2 * count && skeleton.count >= count
                && products.count >= 2 * count && work.count >= workspaceCount(gradient: true)
                && integers.count >= workspaceIntegers)
        let k = Int32(iterations)
        let v: Int32 = volumetric ? 1 : 0
        if T.self == Float.self {
            dk_soft_skeleton_vjp2_f32(
                floats(image), floats(cotangents), depth, height, width, v, k, floats(skeleton), floats(products),
                floats(work), integers.baseAddress!)
        } else {
            dk_soft_skeleton_vjp2_f64(
                doubles(image), doubles(cotangents), depth, height, width, v, k, doubles(skeleton),
                doubles(products), doubles(work), integers.baseAddress!)
        }
    }
}

// The buffers' addresses as the C scalar type (T is Float or Double, checked by the caller).
@inline(__always)
private func floats<T>(_ b: UnsafeBufferPointer<T>) -> UnsafePointer<Float> {
    UnsafeRawPointer(b.baseAddress!).assumingMemoryBound(to: Float.self)
}
@inline(__always)
private func floats<T>(_ b: UnsafeMutableBufferPointer<T>) -> UnsafeMutablePointer<Float> {
    UnsafeMutableRawPointer(b.baseAddress!).assumingMemoryBound(to: Float.self)
}
@inline(__always)
private func doubles<T>(_ b: UnsafeBufferPointer<T>) -> UnsafePointer<Double> {
    UnsafeRawPointer(b.baseAddress!).assumingMemoryBound(to: Double.self)
}
@inline(__always)
private func doubles<T>(_ b: UnsafeMutableBufferPointer<T>) -> UnsafeMutablePointer<Double> {
    UnsafeMutableRawPointer(b.baseAddress!).assumingMemoryBound(to: Double.self)
}
