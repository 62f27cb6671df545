// The one Float/Double hand-off: a public generic entry point (which may run unspecialised when
// called from another module or through an existential) switches once on `Scalar.precision` and
// calls concrete Float or Double code, viewing its generic values as the concrete type with
// `reinterpreted`. BLASScalar has exactly these two conformers, which `precision` tells apart, so
// each view is between identical types (checked) and costs nothing at run time.

/// Calls `float` when `T` is Float and `double` when it is Double: the hand-off from a generic
/// public entry point to concrete, fully specialised code.
@inline(__always)
func specialised<T: BLASScalar, R>(_: T.Type, float: () throws -> R, double: () throws -> R) rethrows -> R {
    switch T.precision {
    case .single: return try float()
    case .double: return try double()
    }
}

extension Tensor {
    /// The same tensor viewed as `Tensor<U>`; `U` must be `Scalar` (checked).
    @inline(__always)
    func reinterpreted<U: BLASScalar>(as _: U.Type = U.self) -> Tensor<U> {
        precondition(Scalar.self == U.self, "reinterpreted: \(Scalar.self) is not \(U.self)")
        return unsafeBitCast(self, to: Tensor<U>.self)
    }
}

extension Array where Element: BLASScalar {
    /// The same array viewed as `[U]`; `U` must be `Element` (checked).
    @inline(__always)
    func reinterpreted<U: BLASScalar>(as _: U.Type = U.self) -> [U] {
        precondition(Element.self == U.self, "reinterpreted: \(Element.self) is not \(U.self)")
        return unsafeBitCast(self, to: [U].self)
    }
}

extension UnsafePointer where Pointee: BLASScalar {
    /// The same address as `UnsafePointer<U>` (a C kernel's Float argument); `U` must be
    /// `Pointee` (checked).
    @inline(__always)
    func reinterpreted<U: BLASScalar>(as _: U.Type = U.self) -> UnsafePointer<U> {
        precondition(Pointee.self == U.self, "reinterpreted: \(Pointee.self) is not \(U.self)")
        return UnsafeRawPointer(self).assumingMemoryBound(to: U.self)
    }
}

extension UnsafeMutablePointer where Pointee: BLASScalar {
    /// The same address as `UnsafeMutablePointer<U>`; `U` must be `Pointee` (checked).
    @inline(__always)
    func reinterpreted<U: BLASScalar>(as _: U.Type = U.self) -> UnsafeMutablePointer<U> {
        precondition(Pointee.self == U.self, "reinterpreted: \(Pointee.self) is not \(U.self)")
        return UnsafeMutableRawPointer(self).assumingMemoryBound(to: U.self)
    }
}
