// bfloat16: the upper 16 bits of a Float (8 exponent bits, 7 stored significand bits, so a
// relative rounding error of at most 2⁻⁸ = u), the operand format of mixed-precision
// convolutions (Sources/CDiceKitKernels/convolution/bf16_convert.c). Rounding is to nearest, ties to even,
// on every CPU (the same bits from the vector and the scalar loop); subnormals are rounded, not
// flushed; values past the largest bfloat16 (3.3895314e38) become ±∞; a NaN stays a quiet NaN.

internal import CDiceKitKernels

/// Conversions between Float and bfloat16 bit patterns (round to nearest, ties to even).
public enum BFloat16 {
    /// The bfloat16 bit patterns of `values`, rounded to nearest with ties to even.
    ///
    /// Subnormal Floats round to the nearest bfloat16 subnormal (not to zero); values beyond the
    /// largest finite bfloat16 (0x7F7F) round to ±∞; a NaN keeps its sign and upper payload bits
    /// and is made quiet (bit 0x0040), so it never becomes an infinity.
    public static func bits(_ values: [Float]) -> [UInt16] {
        var out = [UInt16](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                if let s = src.baseAddress, let d = dst.baseAddress { dk_f32_to_bf16(s, d, values.count) }
            }
        }
        return out
    }

    /// The Floats that the bfloat16 bit patterns `bits` denote (exact).
    public static func floats(_ bits: [UInt16]) -> [Float] {
        bits.map { Float(bitPattern: UInt32($0) << 16) }
    }

    /// `value` rounded to the nearest bfloat16, as a Float.
    public static func rounded(_ value: Float) -> Float { floats(self.bits([value]))[0] }
}

/// The arithmetic of convolutions: Float throughout, or bfloat16 operands with Float accumulation.
///
/// With `.bfloat16`, the convolutions that take the direct kernels with input channels in
/// multiples of 16 (stride 1, no dilation, one group, output channels in multiples of 16) round
/// their input, kernel and output gradient to bfloat16 and accumulate in Float: forward, input
/// gradient and weight gradient. Every other convolution (a first layer on 1 or 3 channels, 1×1
/// and transposed convolutions), the weights kept by the optimiser, its state, normalisation
/// statistics and losses stay Float. On a CPU without a bfloat16 dot product (AVX512-BF16 or
/// AMX-BF16) everything runs in Float (`ComputePrecision.fallbackNotice` says so).
public enum ComputePrecision: String, CaseIterable, Sendable, Codable {
    /// IEEE single precision everywhere (the default).
    case float = "float32"
    /// bfloat16 operands, Float accumulation, where the CPU supports it.
    case bfloat16 = "bf16"

    /// Parses "float32" (also "float", "fp32") or "bf16" (also "bfloat16").
    ///
    /// - Throws: `DiceKitError.option` naming the value and the accepted ones.
    public init(parsing text: String) throws {
        switch text.lowercased() {
        case "float32", "float", "fp32", "f32": self = .float
        case "bf16", "bfloat16": self = .bfloat16
        default: throw DiceKitError.option("precision '\(text)': expected float32 or bf16")
        }
    }

    /// Whether this CPU runs bfloat16 convolutions (AVX512-BF16 or AMX-BF16 and the AVX-512 kernels in use).
    public static var bfloat16Available: Bool { dk_bf16_level_in_use() != DK_BF16_NONE }

    /// The precision that actually runs: `.float` for `.bfloat16` on a CPU without bfloat16.
    public var effective: ComputePrecision { self == .bfloat16 && !Self.bfloat16Available ? .float : self }

    /// The one-line notice for a `.bfloat16` request on a CPU without it, else nil.
    public var fallbackNotice: String? {
        guard self == .bfloat16, !Self.bfloat16Available else { return nil }
        return
            "note: --precision bf16: this CPU has neither AVX512-BF16 nor AMX-BF16 (or AVX-512 is disabled); running in float32"
    }
}

/// The bfloat16 kernel level of this CPU, for reports and tests.
public enum BFloat16KernelLevel: Int, Comparable, Sendable, CustomStringConvertible {
    /// No bfloat16 dot product: bfloat16 requests run in Float.
    case none = 0
    /// AVX512-BF16 (vdpbf16ps) with AVX-512 F/BW/VL.
    case avx512bf16 = 1
    /// AMX-BF16 tiles, permission granted by the kernel: the tile kernels of conv_amx.c
    /// (`BFloat16Arithmetic.tiles`) for forward passes and input gradients.
    case amx = 2

    /// The best level of this CPU (the AMX permission is requested once, thread-safely).
    public static var detected: BFloat16KernelLevel { BFloat16KernelLevel(dk_bf16_detected()) }

    /// The level in use (forced, else detected; `.none` when the Float kernels are forced below AVX-512).
    public static var current: BFloat16KernelLevel { BFloat16KernelLevel(dk_bf16_level_in_use()) }

    /// Forces `level` (nil: automatic), for tests that compare levels (e.g. AVX512-BF16 on an AMX CPU).
    ///
    /// - Throws: `DiceKitError.option` when the CPU lacks `level`; nothing changes then.
    public static func force(_ level: BFloat16KernelLevel?) throws {
        guard let level else {
            _ = dk_force_bf16(DK_BF16_AUTOMATIC.rawValue)
            return
        }
        guard dk_force_bf16(level.level.rawValue) == 0 else {
            throw DiceKitError.option("bfloat16 level \(level): this CPU supports at most \(detected)")
        }
    }

    /// "none", "avx512bf16" or "amx".
    public var description: String {
        switch self {
        case .none: return "none"
        case .avx512bf16: return "avx512bf16"
        case .amx: return "amx"
        }
    }

    public static func < (a: BFloat16KernelLevel, b: BFloat16KernelLevel) -> Bool { a.rawValue < b.rawValue }

    /// The level a dk_bf16_level names (`.none` for any other code).
    init(_ level: dk_bf16_level) {
        switch level {
        case DK_BF16_AVX512: self = .avx512bf16
        case DK_BF16_AMX: self = .amx
        default: self = .none
        }
    }

    /// The header's name for this level.
    var level: dk_bf16_level {
        switch self {
        case .none: return DK_BF16_NONE
        case .avx512bf16: return DK_BF16_AVX512
        case .amx: return DK_BF16_AMX
        }
    }
}
