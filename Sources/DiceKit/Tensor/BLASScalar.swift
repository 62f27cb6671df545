// BLASScalar: the two floating-point types DiceKit computes in, and the s/d dispatch.
//
// It sits in Tensor/ because `Tensor` is generic over it; Linalg/ (above) does the dispatch.
//
// Every kernel is written once, generic over `BLASScalar`, and specialised by the compiler for
// Float and Double. The protocol carries no C types: the BLAS and LAPACKE calls are made by
// internal wrappers that switch on `precision` (a constant the optimiser folds away).

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The precision of a `BLASScalar`, which selects the `s` (single) or `d` (double) routine.
public enum BLASPrecision: Sendable, Equatable {
    /// IEEE 754 binary32 (`Float`), the BLAS `s` routines.
    case single
    /// IEEE 754 binary64 (`Double`), the BLAS `d` routines.
    case double
}

/// A floating-point scalar that DiceKit's kernels, BLAS and LAPACKE wrappers accept: `Float` or `Double`.
///
/// The elementary functions are static requirements so that generic kernels call the C library's
/// `expf`/`exp` directly, without going through `Foundation`.
public protocol BLASScalar: BinaryFloatingPoint, SIMDScalar, Sendable, Codable,
    LosslessStringConvertible
where RawSignificand: FixedWidthInteger {
    /// The BLAS precision this type maps to.
    static var precision: BLASPrecision { get }
    /// The name NumPy gives this type's little-endian dtype (`"<f4"` or `"<f8"`).
    static var npyDescriptor: String { get }
    /// eˣ.
    static func exp(_ x: Self) -> Self
    /// Natural logarithm of x.
    static func log(_ x: Self) -> Self
    /// log(1 + x), accurate for small x.
    static func log1p(_ x: Self) -> Self
    /// eˣ − 1, accurate for small x.
    static func expm1(_ x: Self) -> Self
    /// Hyperbolic tangent.
    static func tanh(_ x: Self) -> Self
    /// xʸ.
    static func pow(_ x: Self, _ y: Self) -> Self
    /// Cosine.
    static func cos(_ x: Self) -> Self
    /// Sine.
    static func sin(_ x: Self) -> Self
}

extension Float: BLASScalar {
    /// `.single`: Float dispatches to the BLAS `s` routines.
    public static var precision: BLASPrecision { .single }
    /// `"<f4"`.
    public static var npyDescriptor: String { "<f4" }
    /// eˣ (C `expf`).
    @inlinable public static func exp(_ x: Float) -> Float { expf(x) }
    /// ln x (C `logf`).
    @inlinable public static func log(_ x: Float) -> Float { logf(x) }
    /// log(1 + x) (C `log1pf`).
    @inlinable public static func log1p(_ x: Float) -> Float { log1pf(x) }
    /// eˣ − 1 (C `expm1f`).
    @inlinable public static func expm1(_ x: Float) -> Float { expm1f(x) }
    /// tanh x (C `tanhf`).
    @inlinable public static func tanh(_ x: Float) -> Float { tanhf(x) }
    /// xʸ (C `powf`).
    @inlinable public static func pow(_ x: Float, _ y: Float) -> Float { powf(x, y) }
    /// cos x (C `cosf`).
    @inlinable public static func cos(_ x: Float) -> Float { cosf(x) }
    /// sin x (C `sinf`).
    @inlinable public static func sin(_ x: Float) -> Float { sinf(x) }
}

extension Double: BLASScalar {
    /// `.double`: Double dispatches to the BLAS `d` routines.
    public static var precision: BLASPrecision { .double }
    /// `"<f8"`.
    public static var npyDescriptor: String { "<f8" }
    /// eˣ (C `exp`).
    @inlinable public static func exp(_ x: Double) -> Double { _cExp(x) }
    /// ln x (C `log`).
    @inlinable public static func log(_ x: Double) -> Double { _cLog(x) }
    /// log(1 + x) (C `log1p`).
    @inlinable public static func log1p(_ x: Double) -> Double { _cLog1p(x) }
    /// eˣ − 1 (C `expm1`).
    @inlinable public static func expm1(_ x: Double) -> Double { _cExpm1(x) }
    /// tanh x (C `tanh`).
    @inlinable public static func tanh(_ x: Double) -> Double { _cTanh(x) }
    /// xʸ (C `pow`).
    @inlinable public static func pow(_ x: Double, _ y: Double) -> Double { _cPow(x, y) }
    /// cos x (C `cos`).
    @inlinable public static func cos(_ x: Double) -> Double { _cCos(x) }
    /// sin x (C `sin`).
    @inlinable public static func sin(_ x: Double) -> Double { _cSin(x) }
}

// The C library's double-precision functions share their names with the static requirements
// above; these module-level aliases let the Double conformance call them unambiguously.
@usableFromInline func _cExp(_ x: Double) -> Double { exp(x) }
@usableFromInline func _cLog(_ x: Double) -> Double { log(x) }
@usableFromInline func _cLog1p(_ x: Double) -> Double { log1p(x) }
@usableFromInline func _cExpm1(_ x: Double) -> Double { expm1(x) }
@usableFromInline func _cTanh(_ x: Double) -> Double { tanh(x) }
@usableFromInline func _cPow(_ x: Double, _ y: Double) -> Double { pow(x, y) }
@usableFromInline func _cCos(_ x: Double) -> Double { cos(x) }
@usableFromInline func _cSin(_ x: Double) -> Double { sin(x) }
