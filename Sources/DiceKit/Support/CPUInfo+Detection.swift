// Reading the CPU: CPUID through the C helper (Sources/CDiceKitKernels/cpuid.c), Linux's sysfs and
// /proc for what CPUID cannot say (online CPUs, which of them share a core, the clock).
//
// Register layouts follow Intel's SDM vol. 2A (CPUID) and AMD's APM vol. 3 (appendix E):
//   leaf 1 ECX: 12 FMA, 20 SSE4.2, 27 OSXSAVE, 28 AVX; EAX: stepping, model, family, extended model/family
//   leaf 7.0 EBX: 5 AVX2, 16 AVX512F, 17 AVX512DQ, 28 AVX512CD, 30 AVX512BW, 31 AVX512VL;
//            EDX: 22 AMX-BF16, 24 AMX-TILE, 25 AMX-INT8;  leaf 7.1 EAX: 5 AVX512-BF16
//   XCR0: bits 1–2 XMM/YMM state, 5–7 opmask/ZMM state, 17–18 AMX tile state
//   leaf 4 (Intel) and 0x8000001D (AMD) subleaf i: EAX[4:0] type (1 data, 2 instruction,
//   3 unified), EAX[7:5] level; size = (EBX[31:22]+1)·(EBX[21:12]+1)·(EBX[11:0]+1)·(ECX+1)

internal import CDiceKitKernels
import Foundation

extension CPUInfo {
    static func detect() -> CPUInfo {
        let leaf0 = cpuid(0)
        let vendor = leaf0.valid ? registerString([leaf0.ebx, leaf0.edx, leaf0.ecx]) : "unknown"
        let leaf1 = cpuid(1)
        let baseFamily = Int((leaf1.eax >> 8) & 0xF)
        let baseModel = Int((leaf1.eax >> 4) & 0xF)
        let family = baseFamily == 0xF ? baseFamily + Int((leaf1.eax >> 20) & 0xFF) : baseFamily
        let model = baseFamily >= 6 ? baseModel + Int((leaf1.eax >> 16) & 0xF) << 4 : baseModel
        let logical = onlineCPUCount()
        return CPUInfo(
            vendor: vendor, family: family, model: model, stepping: Int(leaf1.eax & 0xF),
            modelName: brandString() ?? procCPUInfoField("model name") ?? "unknown",
            instructionSets: detectInstructionSets(),
            caches: cpuidCaches(vendor: vendor) ?? sysfsCaches() ?? Caches(source: "unknown"),
            logicalCPUs: logical, cores: physicalCoreCount(logical: logical),
            clock: detectClock())
    }

    // MARK: - CPUID

    struct Registers { var eax: UInt32 = 0, ebx: UInt32 = 0, ecx: UInt32 = 0, edx: UInt32 = 0, valid = false }

    static func cpuid(_ leaf: UInt32, _ subleaf: UInt32 = 0) -> Registers {
        var r = dk_cpuid_regs()
        let ok = dk_cpuid(leaf, subleaf, &r) != 0
        return Registers(eax: r.eax, ebx: r.ebx, ecx: r.ecx, edx: r.edx, valid: ok)
    }

    private static func registerString(_ registers: [UInt32]) -> String {
        var bytes: [UInt8] = []
        for r in registers { for i in 0..<4 { bytes.append(UInt8((r >> (8 * UInt32(i))) & 0xFF)) } }
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self).trimmingCharacters(in: .whitespaces)
    }

    private static func brandString() -> String? {
        guard cpuid(0x8000_0000).eax >= 0x8000_0004 else { return nil }
        let parts = (0x8000_0002...0x8000_0004).map { cpuid(UInt32($0)) }
        let text = registerString(parts.flatMap { [$0.eax, $0.ebx, $0.ecx, $0.edx] })
        return text.isEmpty ? nil : text
    }

    static func detectInstructionSets() -> InstructionSets {
        let leaf1 = cpuid(1)
        let leaf7 = cpuid(7, 0)
        let leaf7s1 = cpuid(7, 1)
        func bit(_ r: UInt32, _ i: UInt32) -> Bool { (r >> i) & 1 == 1 }
        let xcr0 = dk_xcr0()
        let osYMM = xcr0 & 0x6 == 0x6
        let osZMM = xcr0 & 0xE6 == 0xE6
        let osAMX = xcr0 & 0x60000 == 0x60000
        var sets: InstructionSets = []
        if bit(leaf1.ecx, 20) { sets.insert(.sse42) }
        if bit(leaf1.ecx, 28), osYMM { sets.insert(.avx) }
        if bit(leaf7.ebx, 5), osYMM { sets.insert(.avx2) }
        if bit(leaf1.ecx, 12), osYMM { sets.insert(.fma) }
        if osZMM {
            for (i, set) in [
                (16, InstructionSets.avx512f), (28, .avx512cd), (30, .avx512bw), (17, .avx512dq), (31, .avx512vl),
            ]
            where bit(leaf7.ebx, UInt32(i)) { sets.insert(set) }
            if bit(leaf7s1.eax, 5), sets.contains(.avx512f) { sets.insert(.avx512bf16) }
        }
        if bit(leaf7.edx, 24), bit(leaf7.edx, 22) || bit(leaf7.edx, 25), osAMX { sets.insert(.amx) }
        return sets
    }

    // MARK: - Caches

    /// Deterministic cache parameters: leaf 4 on Intel, 0x8000001D on AMD and Hygon (with
    /// TOPOEXT), else AMD's legacy 0x80000005/6.
    static func cpuidCaches(vendor: String) -> Caches? {
        let amd = vendor == "AuthenticAMD" || vendor == "HygonGenuine"
        let topoext = (cpuid(0x8000_0001).ecx >> 22) & 1 == 1
        let leaf: UInt32? = amd ? (topoext ? 0x8000_001D : nil) : (cpuid(0).eax >= 4 ? 4 : nil)
        if let leaf {
            var caches = Caches(source: leaf == 4 ? "cpuid 4" : "cpuid 0x8000001d")
            for index in 0..<16 {
                let r = cpuid(leaf, UInt32(index))
                let type = r.eax & 0x1F
                let level = (r.eax >> 5) & 0x7
                if !r.valid || type == 0 { break }
                let size =
                    Int((r.ebx >> 22) + 1) * Int(((r.ebx >> 12) & 0x3FF) + 1) * Int((r.ebx & 0xFFF) + 1)
                    * Int(r.ecx + 1)
                switch (level, type) {
                case (1, 1): caches.l1Data = size
                case (2, 2...3): caches.l2 = size
                case (3, 2...3): caches.l3 = size
                default: break
                }
            }
            if caches.l1Data != nil || caches.l2 != nil { return caches }
        }
        guard amd, cpuid(0x8000_0000).eax >= 0x8000_0006 else { return nil }
        let l1 = cpuid(0x8000_0005)
        let l2l3 = cpuid(0x8000_0006)
        let l3 = Int(l2l3.edx >> 18) * 512 * 1024
        return Caches(
            l1Data: Int(l1.ecx >> 24) * 1024, l2: Int(l2l3.ecx >> 16) * 1024,
            l3: l3 > 0 ? l3 : nil, source: "cpuid 0x80000005/6")
    }

    /// /sys/devices/system/cpu/cpu0/cache/index*/{level,type,size}.
    static func sysfsCaches() -> Caches? {
        var caches = Caches(source: "sysfs")
        for index in 0..<16 {
            let base = "/sys/devices/system/cpu/cpu0/cache/index\(index)/"
            guard let level = readLine(base + "level").flatMap(Int.init), let type = readLine(base + "type"),
                let size = readLine(base + "size").flatMap(parseSize)
            else { break }
            switch (level, type) {
            case (1, "Data"): caches.l1Data = size
            case (2, "Data"), (2, "Unified"): caches.l2 = size
            case (3, "Data"), (3, "Unified"): caches.l3 = size
            default: break
            }
        }
        return caches.l1Data != nil || caches.l2 != nil ? caches : nil
    }

    /// "48K", "1024K", "32M" → bytes.
    static func parseSize(_ text: String) -> Int? {
        let scale: Int
        var digits = Substring(text)
        switch text.last {
        case "K":
            scale = 1 << 10
            digits.removeLast()
        case "M":
            scale = 1 << 20
            digits.removeLast()
        case "G":
            scale = 1 << 30
            digits.removeLast()
        default: scale = 1
        }
        return Int(digits).map { $0 * scale }
    }

    // MARK: - Cores

    static func onlineCPUCount() -> Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// Distinct (package, core) pairs among the online CPUs; `logical` when sysfs is unreadable.
    static func physicalCoreCount(logical: Int) -> Int {
        guard let online = readLine("/sys/devices/system/cpu/online").flatMap(parseCPUList) else { return logical }
        var cores = Set<String>()
        for cpu in online {
            let base = "/sys/devices/system/cpu/cpu\(cpu)/topology/"
            guard let core = readLine(base + "core_id") else { return logical }
            cores.insert((readLine(base + "physical_package_id") ?? "0") + ":" + core)
        }
        return cores.isEmpty ? logical : cores.count
    }

    /// "0-3,8,10-11" → [0, 1, 2, 3, 8, 10, 11].
    static func parseCPUList(_ text: String) -> [Int]? {
        var cpus: [Int] = []
        for part in text.split(separator: ",") {
            let bounds = part.split(separator: "-").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard let first = bounds.first ?? nil, bounds.allSatisfy({ $0 != nil }) else { return nil }
            let last = bounds.count > 1 ? bounds[1]! : first
            guard last >= first else { return nil }
            cpus += Array(first...last)
        }
        return cpus.isEmpty ? nil : cpus
    }

    // MARK: - Clock

    /// The first of: cpufreq's maximum, CPUID leaf 0x16's maximum or base (Intel), the "@ x.xxGHz"
    /// of the brand string, /proc/cpuinfo's "cpu MHz" (a hypervisor's or firmware's nominal rate).
    static func detectClock() -> Clock? {
        if let khz = readLine("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").flatMap(Double.init), khz > 0 {
            return Clock(gigahertz: khz / 1e6, source: "cpufreq cpuinfo_max_freq (maximum)")
        }
        if cpuid(0).eax >= 0x16 {
            let r = cpuid(0x16)
            if r.ebx & 0xFFFF > 0 {
                return Clock(gigahertz: Double(r.ebx & 0xFFFF) / 1e3, source: "cpuid 0x16 (maximum)")
            }
            if r.eax & 0xFFFF > 0 { return Clock(gigahertz: Double(r.eax & 0xFFFF) / 1e3, source: "cpuid 0x16 (base)") }
        }
        if let brand = brandString(), let clock = brandClock(brand) { return clock }
        if let mhz = procCPUInfoField("cpu MHz").flatMap(Double.init), mhz > 0 {
            return Clock(gigahertz: mhz / 1e3, source: "/proc/cpuinfo cpu MHz (nominal; boost clocks may be higher)")
        }
        return nil
    }

    /// "… CPU @ 2.10GHz" → 2.1 GHz.
    static func brandClock(_ brand: String) -> Clock? {
        guard let at = brand.range(of: "@"), brand.hasSuffix("GHz") else { return nil }
        let number = brand[at.upperBound...].dropLast(3).trimmingCharacters(in: .whitespaces)
        guard let ghz = Double(number), ghz > 0 else { return nil }
        return Clock(gigahertz: ghz, source: "brand string (nominal)")
    }

    // MARK: - Files

    private static func readLine(_ path: String) -> String? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let line = text.split(separator: "\n").first.map(String.init)?.trimmingCharacters(in: .whitespaces)
        return line?.isEmpty == false ? line : nil
    }

    private static func procCPUInfoField(_ name: String) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == name {
                return parts[1].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }
}

extension CPUInfo.Caches {
    init(source: String) { self.init(l1Data: nil, l2: nil, l3: nil, source: source) }
}
