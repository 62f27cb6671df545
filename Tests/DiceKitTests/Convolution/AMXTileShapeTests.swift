// The tile unit's shape that detection reads from CPUID before it asks Linux for the tile data
// (dk_amx_tiles_fit, platform/bf16_dispatch.c): palette 1 (leaf 0x1D) and the multiplier's limits
// (leaf 0x1E) must hold the tiles conv_amx_kernel.h configures, 8 tiles of 16 rows × 64 bytes and
// products of K = 16 rows into N = 64-byte rows. ldtilecfg faults on a configuration its palette
// cannot hold, so a smaller unit must never be configured: it counts as a failed self-check.

internal import CDiceKitKernels
import XCTest

@testable import DiceKit

final class AMXTileShapeTests: XCTestCase {
    /// CPUID (0x1D, 0), (0x1D, 1) and (0x1E, 0) of the AMX CPUs so far (Sapphire, Emerald and
    /// Granite Rapids): one palette; palette 1 of 8192 bytes, 1024 per tile, 64 per row, 8 tiles,
    /// 16 rows; K = 16, N = 64.
    private let palettes = dk_cpuid_regs(eax: 1, ebx: 0, ecx: 0, edx: 0)
    private let palette1 = dk_cpuid_regs(eax: 0x0400_2000, ebx: 0x0008_0040, ecx: 0x10, edx: 0)
    private let multiplier = dk_cpuid_regs(eax: 0, ebx: 0x0000_4010, ecx: 0, edx: 0)

    private func fit(
        _ palettes: dk_cpuid_regs, _ palette1: dk_cpuid_regs, _ multiplier: dk_cpuid_regs
    ) -> (fits: Bool, detail: String) {
        var (p, p1, m) = (palettes, palette1, multiplier)
        var buffer = [CChar](repeating: 1, count: 160)
        let fits = buffer.withUnsafeMutableBufferPointer { dk_amx_tiles_fit(&p, &p1, &m, $0.baseAddress, 160) }
        return (fits == 1, String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }

    /// A copy of `regs` with `change` made to it.
    private func changed(_ regs: dk_cpuid_regs, _ change: (inout dk_cpuid_regs) -> Void) -> dk_cpuid_regs {
        var copy = regs
        change(&copy)
        return copy
    }

    /// The shape of every AMX CPU so far fits, and so does a larger one; each limit below what the
    /// kernels configure is refused, with a detail that names the field, its value and the need.
    func testEachLimitOfTheTileUnitIsChecked() {
        XCTAssertEqual(fit(palettes, palette1, multiplier).fits, true)
        XCTAssertEqual(fit(palettes, palette1, multiplier).detail, "")
        let larger = fit(
            dk_cpuid_regs(eax: 2, ebx: 0, ecx: 0, edx: 0),
            dk_cpuid_regs(eax: 0x1000_8000, ebx: 0x0010_0080, ecx: 0x20, edx: 0),
            dk_cpuid_regs(eax: 0, ebx: 0x0000_8020, ecx: 0, edx: 0))
        XCTAssertTrue(larger.fits, larger.detail)

        let need = "; the kernels' tiles need"
        let shortfalls: [(String, dk_cpuid_regs, dk_cpuid_regs, dk_cpuid_regs)] = [
            ("palettes, CPUID 0x1D.0 EAX: 0\(need) 1", dk_cpuid_regs(), palette1, multiplier),
            (
                "tiles of palette 1, CPUID 0x1D.1 EBX[31:16]: 4\(need) 8", palettes,
                changed(palette1) { $0.ebx = 0x0004_0040 }, multiplier
            ),
            (
                "bytes per row of palette 1, CPUID 0x1D.1 EBX[15:0]: 32\(need) 64", palettes,
                changed(palette1) { $0.ebx = 0x0008_0020 }, multiplier
            ),
            (
                "rows per tile of palette 1, CPUID 0x1D.1 ECX[15:0]: 8\(need) 16", palettes,
                changed(palette1) { $0.ecx = 8 }, multiplier
            ),
            (
                "bytes per tile of palette 1, CPUID 0x1D.1 EAX[31:16]: 512\(need) 1024", palettes,
                changed(palette1) { $0.eax = 0x0200_2000 }, multiplier
            ),
            (
                "multiplier rows K, CPUID 0x1E.0 EBX[7:0]: 8\(need) 16", palettes, palette1,
                changed(multiplier) { $0.ebx = 0x0000_4008 }
            ),
            (
                "multiplier row bytes N, CPUID 0x1E.0 EBX[23:8]: 32\(need) 64", palettes, palette1,
                changed(multiplier) { $0.ebx = 0x0000_2010 }
            ),
        ]
        for (expected, p, p1, m) in shortfalls {
            let result = fit(p, p1, m)
            XCTAssertFalse(result.fits, expected)
            XCTAssertEqual(result.detail, expected)
        }
        // Leaves the CPU does not have read as zeros (dk_cpuid): nothing fits.
        XCTAssertFalse(fit(dk_cpuid_regs(), dk_cpuid_regs(), dk_cpuid_regs()).fits)
    }

    /// This CPU: where it reports AMX-BF16 and AMX-TILE with the tile state enabled, a unit that
    /// does not fit is a failed self-check naming the shortfall, and the tile data was never
    /// asked for; one that fits went on to the permission request.
    func testDetectionReadsTheTileUnitsShape() throws {
        var leaf7 = dk_cpuid_regs()
        let amx = dk_cpuid(7, 0, &leaf7) == 1 && leaf7.edx >> 22 & 1 == 1 && leaf7.edx >> 24 & 1 == 1
        try XCTSkipUnless(
            amx && dk_xcr0() & 0x60000 == 0x60000 && ComputePrecision.bfloat16Available,
            "this CPU reports no usable AMX tiles: detection never reads their shape")
        var (p, p1, m) = (dk_cpuid_regs(), dk_cpuid_regs(), dk_cpuid_regs())
        dk_cpuid(0x1D, 0, &p)
        dk_cpuid(0x1D, 1, &p1)
        dk_cpuid(0x1E, 0, &m)
        let shape = fit(p, p1, m)
        if shape.fits {
            XCTAssertNotEqual(dk_amx_permission(), -1, "the tile data was never asked for")
        } else {
            XCTAssertEqual(BFloat16Arithmetic.tileSelfCheck, .failed(shape.detail))
            XCTAssertEqual(dk_amx_permission(), -1, "the tile data was asked for a unit that does not fit")
        }
    }
}
