// The instruction sets of the C kernels (Sources/CDiceKitKernels), named alike on both sides of the
// sealed boundary: `InstructionSet` mirrors the header's dk_isa_level, `KernelFamily` its
// dk_kernel_family. The CPU is inspected once, thread-safely (pthread_once in platform/cpu_dispatch.c).

internal import CDiceKitKernels

/// An instruction-set level of DiceKit's C kernels.
public enum InstructionSet: Int, CaseIterable, Comparable, Sendable, CustomStringConvertible {
    /// Baseline C code: SSE2 on x86-64, and the only level on other CPUs (aarch64). For
    /// convolutions: the lowered im2col + GEMM path.
    case portable = 0
    /// AVX2 with FMA: the Dice- and focal-loss, direct convolution, max-pooling, normalisation
    /// and kernel-layout kernels.
    case avx2 = 1
    /// AVX-512 F/BW/DQ with FMA (pooling also needs VL): every kernel family.
    case avx512 = 2

    /// The best level this CPU runs.
    public static var detected: InstructionSet { InstructionSet(dk_isa_detected()) }

    /// Every level this CPU runs, lowest first.
    public static var available: [InstructionSet] { allCases.filter { $0 <= detected } }

    /// The level in use: the forced one (`KernelDispatch.force`), else `detected`.
    public static var current: InstructionSet { InstructionSet(dk_isa()) }

    /// "portable", "avx2" or "avx512".
    public var description: String {
        switch self {
        case .portable: return "portable"
        case .avx2: return "avx2"
        case .avx512: return "avx512"
        }
    }

    public static func < (a: InstructionSet, b: InstructionSet) -> Bool { a.rawValue < b.rawValue }

    /// The level a dk_isa_level names; nil for DK_ISA_NONE (a family that has not run yet).
    init?(level: dk_isa_level) {
        switch level {
        case DK_ISA_PORTABLE: self = .portable
        case DK_ISA_AVX2: self = .avx2
        case DK_ISA_AVX512: self = .avx512
        default: return nil
        }
    }

    /// A level the CPU detection or the level in use returned (never DK_ISA_NONE).
    init(_ level: dk_isa_level) {
        self = InstructionSet(level: level) ?? .portable
    }

    /// The header's name for this level.
    var level: dk_isa_level {
        switch self {
        case .portable: return DK_ISA_PORTABLE
        case .avx2: return DK_ISA_AVX2
        case .avx512: return DK_ISA_AVX512
        }
    }
}

/// The C kernel families whose last-used instruction set is recorded (for tests).
enum KernelFamily {
    /// The Dice-loss passes.
    case loss
    /// 2×2 max pooling.
    case pooling
    /// Convolutions: `.avx512` or `.avx2` for the direct kernels, `.portable` for the lowered path.
    case convolution
    /// bfloat16 convolutions: `.avx512` for the AVX512-BF16 kernels.
    case bfloat16Convolution

    var family: dk_kernel_family {
        switch self {
        case .loss: return DK_KERNEL_LOSS
        case .pooling: return DK_KERNEL_POOL
        case .convolution: return DK_KERNEL_CONV
        case .bfloat16Convolution: return DK_KERNEL_CONV_BF16
        }
    }
}
