// Tensor storage for passes that write every element themselves: no zero-fill first (the
// convolutions' weight gradients, the normalisations' outputs and gradients), or zeros written
// as bytes rather than element by element through the scalar type's witnesses.

/// Storage for `count` scalars that the caller's pass overwrites whole before anyone reads it
/// (its elements are counted as initialised: trivial types, no deinitialisation).
func uninitialisedScalars<T: BLASScalar>(_ count: Int) -> [T] {
    [T](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
}

/// `count` zeros, written as bytes (all-zero bits are 0.0 in Float and Double).
func zeroedScalars<T: BLASScalar>(_ count: Int) -> [T] {
    [T](unsafeUninitializedCapacity: count) { buffer, initialized in
        _ = UnsafeMutableRawBufferPointer(buffer).initializeMemory(as: UInt8.self, repeating: 0)
        initialized = count
    }
}

extension Tensor {
    /// A tensor of `shape` whose elements the caller writes, every one, before anyone reads them
    /// (`uninitialisedScalars`).
    ///
    /// - Precondition: every extent is ≥ 0.
    static func uninitialised(_ shape: [Int]) -> Tensor {
        let count = Tensor.elementCount(shape)
        precondition(count != nil, "Tensor: invalid shape \(shape)")
        return Tensor(uncheckedShape: shape, storage: uninitialisedScalars(count!))
    }
}
