// CPUInfo against what Linux reports independently (/proc/cpuinfo flags, sysfs caches), the
// parsers it uses, and the peak-rate table.

import XCTest

@testable import DiceKit

final class CPUInfoTests: XCTestCase {
    private var isX86: Bool {
        #if arch(x86_64)
            return true
        #else
            return false
        #endif
    }

    func testCacheSizesArePositiveAndPlausible() throws {
        guard isX86 else { throw XCTSkip("CPUID caches are read on x86-64 only") }
        let caches = CPUInfo.current.caches
        let l1 = try XCTUnwrap(caches.l1Data, caches.source)
        let l2 = try XCTUnwrap(caches.l2, caches.source)
        XCTAssertTrue((8 << 10)...(256 << 10) ~= l1, "L1d \(l1) bytes")
        XCTAssertTrue((128 << 10)...(64 << 20) ~= l2, "L2 \(l2) bytes")
        XCTAssertGreaterThan(l2, l1)
        if let l3 = caches.l3 {
            XCTAssertTrue((1 << 20)...(2 << 30) ~= l3, "L3 \(l3) bytes")
            XCTAssertGreaterThanOrEqual(l3, l2)
        }
        // The kernel's view (sysfs) of the same caches, where it has one.
        if let sysfs = CPUInfo.sysfsCaches() {
            XCTAssertEqual(sysfs.l1Data, caches.l1Data, "sysfs \(sysfs) vs \(caches)")
            XCTAssertEqual(sysfs.l2, caches.l2, "sysfs \(sysfs) vs \(caches)")
        }
    }

    func testCoresAndIdentity() throws {
        let cpu = CPUInfo.current
        XCTAssertGreaterThanOrEqual(cpu.cores, 1)
        XCTAssertLessThanOrEqual(cpu.cores, cpu.logicalCPUs)
        guard isX86 else { return }
        XCTAssertTrue(!cpu.vendor.isEmpty && cpu.vendor != "unknown", cpu.vendor)
        XCTAssertGreaterThanOrEqual(cpu.family, 6)
        XCTAssertFalse(cpu.modelName.isEmpty)
        if let clock = cpu.clock { XCTAssertTrue(0.2...10 ~= clock.gigahertz, "\(clock)") }
    }

    func testInstructionSetsMatchTheKernelsFlags() throws {
        guard isX86, let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else {
            throw XCTSkip("no /proc/cpuinfo flags")
        }
        let flags = Set(line.split(separator: ":")[1].split(separator: " ").map(String.init))
        let sets = CPUInfo.current.instructionSets
        let pairs: [(CPUInfo.InstructionSets, String)] = [
            (.sse42, "sse4_2"), (.avx, "avx"), (.avx2, "avx2"), (.fma, "fma"), (.avx512f, "avx512f"),
            (.avx512cd, "avx512cd"), (.avx512bw, "avx512bw"), (.avx512dq, "avx512dq"), (.avx512vl, "avx512vl"),
            (.avx512bf16, "avx512_bf16"), (.amx, "amx_tile"),
        ]
        // Linux lists a flag only when the kernel enables the register state, as CPUInfo requires.
        for (set, flag) in pairs {
            XCTAssertEqual(sets.contains(set), flags.contains(flag), "\(flag)")
        }
    }

    func testParsers() {
        XCTAssertEqual(CPUInfo.parseSize("48K"), 48 << 10)
        XCTAssertEqual(CPUInfo.parseSize("32768K"), 32 << 20)
        XCTAssertEqual(CPUInfo.parseSize("2M"), 2 << 20)
        XCTAssertNil(CPUInfo.parseSize("big"))
        XCTAssertEqual(CPUInfo.parseCPUList("0-3,8,10-11"), [0, 1, 2, 3, 8, 10, 11])
        XCTAssertEqual(CPUInfo.parseCPUList("0"), [0])
        XCTAssertNil(CPUInfo.parseCPUList("3-1"))
        XCTAssertNil(CPUInfo.parseCPUList("x"))
        XCTAssertEqual(CPUInfo.brandClock("Intel(R) Xeon(R) Platinum 8581C CPU @ 2.10GHz")?.gigahertz, 2.1)
        XCTAssertNil(CPUInfo.brandClock("AMD EPYC"))
    }

    private func cpu(
        _ vendor: String, family: Int, model: Int = 0, _ sets: CPUInfo.InstructionSets,
        cores: Int = 2, ghz: Double? = 2.5
    ) -> CPUInfo {
        CPUInfo(
            vendor: vendor, family: family, model: model, stepping: 0, modelName: "test",
            instructionSets: sets, caches: CPUInfo.Caches(source: "test"), logicalCPUs: cores, cores: cores,
            clock: ghz.map { CPUInfo.Clock(gigahertz: $0, source: "test") })
    }

    func testPeakRateTable() {
        let avx2: CPUInfo.InstructionSets = [.sse42, .avx, .avx2, .fma]
        let avx512 = avx2.union(.avx512Server)
        XCTAssertEqual(
            cpu("GenuineIntel", family: 6, model: 207, avx512.union(.amx)).singlePrecisionPeak.flopsPerCycle, 64)
        XCTAssertEqual(
            cpu("AuthenticAMD", family: 0x19, model: 0x11, avx512).singlePrecisionPeak.flopsPerCycle, 32, "Zen 4")
        XCTAssertEqual(
            cpu("AuthenticAMD", family: 0x1A, model: 2, avx512).singlePrecisionPeak.flopsPerCycle, 64, "Zen 5")
        XCTAssertEqual(cpu("GenuineIntel", family: 6, model: 63, avx2).singlePrecisionPeak.flopsPerCycle, 32, "Haswell")
        XCTAssertEqual(
            cpu("AuthenticAMD", family: 0x17, model: 0x01, avx2).singlePrecisionPeak.flopsPerCycle, 16, "Zen 1")
        XCTAssertEqual(
            cpu("AuthenticAMD", family: 0x17, model: 0x31, avx2).singlePrecisionPeak.flopsPerCycle, 32, "Zen 2")
        XCTAssertEqual(cpu("GenuineIntel", family: 6, [.sse42, .avx]).singlePrecisionPeak.flopsPerCycle, 16)
        XCTAssertEqual(cpu("GenuineIntel", family: 6, [.sse42]).singlePrecisionPeak.flopsPerCycle, 8)
        XCTAssertEqual(cpu("AuthenticAMD", family: 0x1A, avx512, cores: 2, ghz: 2.5).singlePrecisionPeak.gigaflops, 320)
        XCTAssertNil(cpu("AuthenticAMD", family: 0x1A, avx512, ghz: nil).singlePrecisionPeak.gigaflops)
    }
}
