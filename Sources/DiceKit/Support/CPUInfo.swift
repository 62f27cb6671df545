// What the processor is, read at run time: vendor, family and model, the instruction sets the CPU
// and the operating system both enable, cache sizes, core count and (where it can be read) the
// clock. Used by the OpenBLAS core guard (Linalg/BLASCoreGuard.swift), `dicekit check` and
// `dicekit-bench`; nothing here is a constant tuned on one machine. Detection is in
// CPUInfo+Detection.swift, the peak arithmetic rate in CPUInfo+Peak.swift.

/// The processor this process runs on, as CPUID, sysfs and /proc report it.
///
/// ```
/// let cpu = CPUInfo.current
/// print(cpu.summary)   // AMD EPYC (AuthenticAMD family 26 model 2), 2 cores, SSE4.2 AVX AVX2 FMA AVX512F …
/// ```
public struct CPUInfo: Sendable, Equatable {
    /// Instruction-set extensions that the CPU reports and the operating system has enabled
    /// (XCR0 saves the vector registers they need).
    public struct InstructionSets: OptionSet, Sendable, Hashable {
        /// The raw bits.
        public let rawValue: UInt32
        /// Creates a set from raw bits.
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        /// SSE4.2.
        public static let sse42 = InstructionSets(rawValue: 1 << 0)
        /// AVX (256-bit floating point).
        public static let avx = InstructionSets(rawValue: 1 << 1)
        /// AVX2 (256-bit integer).
        public static let avx2 = InstructionSets(rawValue: 1 << 2)
        /// FMA3 (fused multiply-add).
        public static let fma = InstructionSets(rawValue: 1 << 3)
        /// AVX-512 Foundation.
        public static let avx512f = InstructionSets(rawValue: 1 << 4)
        /// AVX-512 Conflict Detection.
        public static let avx512cd = InstructionSets(rawValue: 1 << 5)
        /// AVX-512 Byte and Word.
        public static let avx512bw = InstructionSets(rawValue: 1 << 6)
        /// AVX-512 Doubleword and Quadword.
        public static let avx512dq = InstructionSets(rawValue: 1 << 7)
        /// AVX-512 Vector Length (the 128/256-bit forms).
        public static let avx512vl = InstructionSets(rawValue: 1 << 8)
        /// AVX-512 bfloat16 (`vdpbf16ps`).
        public static let avx512bf16 = InstructionSets(rawValue: 1 << 9)
        /// AMX tiles (AMX-TILE, with AMX-BF16 or AMX-INT8).
        public static let amx = InstructionSets(rawValue: 1 << 10)

        /// The five AVX-512 subsets of Skylake-SP and later (OpenBLAS's SkylakeX kernels need them).
        public static let avx512Server: InstructionSets = [.avx512f, .avx512cd, .avx512bw, .avx512dq, .avx512vl]

        /// Every set with its conventional name, in the order `names` lists them.
        public static let named: [(InstructionSets, String)] = [
            (.sse42, "SSE4.2"), (.avx, "AVX"), (.avx2, "AVX2"), (.fma, "FMA"),
            (.avx512f, "AVX512F"), (.avx512cd, "AVX512CD"), (.avx512bw, "AVX512BW"),
            (.avx512dq, "AVX512DQ"), (.avx512vl, "AVX512VL"), (.avx512bf16, "AVX512-BF16"), (.amx, "AMX"),
        ]

        /// The names of the sets present, e.g. ["SSE4.2", "AVX", "AVX2", "FMA", "AVX512F", …].
        public var names: [String] { Self.named.filter { contains($0.0) }.map(\.1) }
    }

    /// Cache sizes in bytes as one core sees them (`nil` when not reported).
    public struct Caches: Sendable, Equatable {
        /// Level-1 data cache per core.
        public var l1Data: Int?
        /// Level-2 cache (per core on current x86 CPUs).
        public var l2: Int?
        /// Level-3 cache (shared by the cores of a complex or socket).
        public var l3: Int?
        /// Where the sizes came from: "cpuid 4", "cpuid 0x8000001d", "cpuid 0x80000005/6", "sysfs" or "unknown".
        public var source: String
    }

    /// A clock rate and where it was read.
    public struct Clock: Sendable, Equatable {
        /// The rate in GHz.
        public var gigahertz: Double
        /// Where it came from and what it means, e.g. "cpufreq cpuinfo_max_freq (maximum)".
        public var source: String
    }

    /// The CPUID vendor string: "GenuineIntel", "AuthenticAMD", …; "unknown" off x86-64.
    public let vendor: String
    /// The display family (base family, plus the extended family when the base is 0xF): 6 for
    /// Intel Core/Xeon, 25 (0x19) for AMD Zen 3/4, 26 (0x1A) for Zen 5.
    public let family: Int
    /// The display model (with the extended model for families 6 and 0xF and above).
    public let model: Int
    /// The stepping.
    public let stepping: Int
    /// The brand string, e.g. "AMD EPYC" or "Intel(R) Xeon(R) Platinum 8581C CPU @ 2.10GHz".
    public let modelName: String
    /// The instruction sets usable by this process (CPU support and OS-saved register state).
    public let instructionSets: InstructionSets
    /// Cache sizes.
    public let caches: Caches
    /// Logical CPUs online (hardware threads).
    public let logicalCPUs: Int
    /// Physical cores among them (distinct core ids in sysfs; `logicalCPUs` when unreadable).
    public let cores: Int
    /// The clock, when it can be read (see `Clock.source`); `nil` otherwise.
    public let clock: Clock?

    /// The processor this process runs on, detected once.
    public static let current: CPUInfo = detect()

    /// One line for people: brand, vendor/family/model, cores, instruction sets.
    public var summary: String {
        "\(modelName) (\(vendor) family \(family) model \(model)), \(cores) core\(cores == 1 ? "" : "s")"
            + (logicalCPUs != cores ? " / \(logicalCPUs) threads" : "")
            + ", "
            + (instructionSets.names.isEmpty
                ? "no SIMD extension detected" : instructionSets.names.joined(separator: " "))
    }

    /// One line for people with the cache sizes, e.g. "L1d 48 KiB, L2 1 MiB, L3 32 MiB (cpuid 0x8000001d)".
    public var cacheSummary: String {
        func size(_ bytes: Int?) -> String {
            guard let bytes else { return "unknown" }
            return bytes % (1 << 20) == 0 ? "\(bytes >> 20) MiB" : "\(bytes >> 10) KiB"
        }
        return "L1d \(size(caches.l1Data)), L2 \(size(caches.l2)), L3 \(size(caches.l3)) (\(caches.source))"
    }
}
