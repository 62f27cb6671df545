// The tile kernels' test harness: one forward pass or weight gradient of a tile kernel of
// conv_amx.c over random bfloat16 data, on the software model, the tile unit, or the tile unit's
// compilation under the trap emulator (Tests/AMXTrapEmulator), with the Double sums of the same
// rounded operands and the bounds the results must keep; and the cases AMXTileKernelTests and
// AMXTrapEmulationTests run.

internal import AMXTrapEmulator
internal import CDiceKitKernels
import XCTest

@testable import DiceKit

/// Which compilation of the tile kernels runs a pass.
enum TileUnit: CustomStringConvertible {
    /// The kernels compiled against the software model of the tile unit (amx_model.h).
    case model
    /// The kernels compiled for the tile unit, where the AMX level is in use (else refused).
    case hardware
    /// The kernels compiled for the tile unit, without the level check: under the trap emulator
    /// on a CPU without AMX, natively on one with it.
    case trapped

    var description: String {
        switch self {
        case .model: "model"
        case .hardware: "tile unit"
        case .trapped: "tile unit's compilation under the trap emulator"
        }
    }
}

enum TileKernelHarness {
    /// A forward pass: output and kernel extents, channels, output range (nil: all), ReLU, bias.
    typealias ForwardCase = (
        output: [Int], kernel: [Int], cin: Int, cout: Int, range: Range<Int>?, relu: Bool, bias: Bool
    )

    /// A weight gradient: samples, output and kernel extents, channels, row and channel blocks.
    typealias WeightCase = (
        samples: Int, output: [Int], kernel: [Int], cin: Int, cout: Int, rows: Range<Int>, channels: Range<Int>
    )

    /// What the trap emulator's last #UD on this thread broke, else "".
    static var fault: String { String(cString: amx_trap_fault_detail()) }

    /// Forward cases: segments of 3·16 (chunks of 16) and 3·32 (chunks of 32) taps, one and two
    /// 16-channel blocks per tile pair (cout 16, 48), widths that end a tile mid-line, a range that
    /// starts and ends mid-grid, ReLU, no bias, 3-D, and 1×1 products over rows (the up-sampling's form).
    static let forwardCases: [ForwardCase] = [
        ([1, 8, 8], [1, 3, 3], 16, 16, nil, false, true),
        ([1, 8, 8], [1, 3, 3], 32, 48, nil, true, true),
        ([1, 9, 7], [1, 3, 3], 48, 32, 5..<50, false, false),
        ([1, 16, 18], [1, 3, 3], 64, 64, nil, false, true),
        ([3, 5, 6], [3, 3, 3], 16, 32, nil, false, true),
        ([1, 1, 37], [1, 1, 1], 64, 16, nil, false, false),
        ([1, 1, 40], [1, 1, 1], 16, 80, 3..<33, true, true),
    ]

    /// Weight-gradient cases: row and channel blocks in pairs and alone (odd block counts, ranges
    /// that start past 0), several samples, 3-D, and the 1×1 product over rows of the up-sampling.
    static let weightCases: [WeightCase] = [
        (2, [1, 8, 8], [1, 3, 3], 16, 16, 0..<9, 0..<1),
        (3, [1, 7, 9], [1, 3, 3], 32, 48, 0..<18, 0..<3),
        (1, [1, 9, 7], [1, 3, 3], 48, 32, 3..<20, 1..<2),
        (2, [3, 5, 6], [3, 3, 3], 16, 32, 0..<27, 0..<2),
        (2, [1, 1, 37], [1, 1, 1], 64, 16, 0..<4, 0..<1),
    ]

    /// One forward pass of the tile kernel over random bfloat16 data: the outputs (NaN where not
    /// written), the exact sums of the rounded operands, their Σ|a||b|, and the reduction length.
    struct Pass {
        var output: [Float], exact: [Double], magnitude: [Double], reduction: Int
    }

    /// `weightBlock`: the geometry's weight_block (0: the kernels' 128 KiB, which holds every
    /// case's weights in one group of output-channel blocks; 1: groups of two blocks).
    /// `roundOutput`: the outputs stored as bfloat16 bits (round_output), returned widened (exact;
    /// NaN where not written). `nanInput`: the centre of the range's first window is NaN, so that
    /// the outputs reading it are NaN (kept by ReLU); the exact sums are then NaN there too.
    static func run(
        output: [Int], kernel: [Int], cin: Int, cout: Int, range: Range<Int>? = nil, relu: Bool = false,
        bias: Bool = true, weightBlock: Int = 0, roundOutput: Bool = false, nanInput: Bool = false,
        on unit: TileUnit = .model, seed: UInt64
    ) -> Pass {
        let (od, oh, ow) = (output[0], output[1], output[2])
        let (kd, kh, kw) = (kernel[0], kernel[1], kernel[2])
        let (dp, hp, wp) = (od + kd - 1, oh + kh - 1, ow + kw - 1)
        let count = dp * hp * wp * cin
        let slack = (kw + Int(DK_CONV_SLACK_POSITIONS)) * cin
        var generator = SeededGenerator(seed: seed)
        var x = (0..<count).map { _ in BFloat16.rounded(Float.random(in: -1...1, using: &generator)) }
        if nanInput {
            let (z, r) = (range?.lowerBound ?? 0).quotientAndRemainder(dividingBy: oh * ow)
            let (row, column) = r.quotientAndRemainder(dividingBy: ow)
            x[(((z + (kd - 1) / 2) * hp + row + (kh - 1) / 2) * wp + column + (kw - 1) / 2) * cin] = .nan
        }
        var xp = [UInt16](repeating: 0x7FC0, count: count + slack) // NaN after the sample
        dk_f32_to_bf16(x, &xp, count)
        let k = kd * kh * kw * cin
        let w = (0..<k * cout).map { _ in BFloat16.rounded(Float.random(in: -1...1, using: &generator)) }
        let b = (0..<cout).map { _ in Float.random(in: -1...1, using: &generator) }
        var g = dk_conv_geometry(hp: hp, wp: wp, output: output, kernel: kernel, cin: cin, cout: cout)
        g.relu = relu ? 1 : 0
        g.weight_block = weightBlock
        g.round_output = roundOutput ? 1 : 0
        var packed = [UInt16](repeating: 0, count: k * cout)
        dk_bf16_pack_weight_tiles(&g, w, &packed, 0)
        let positions = od * oh * ow
        let range = range ?? 0..<positions
        var y = [Float](repeating: .nan, count: positions * cout)
        var y16 = [UInt16](repeating: 0x7FC1, count: roundOutput ? positions * cout : 0) // NaN
        let status = b.withUnsafeBufferPointer { bp in
            let bias = bias ? bp.baseAddress : nil
            let call = { (target: UnsafeMutableRawPointer) -> Int32 in
                guard unit != .trapped else {
                    return amx_trap_forward(&g, xp, packed, bias, target, range.lowerBound, range.upperBound)
                }
                return dk_conv_forward_tiles_on(
                    unit == .hardware ? 1 : 0, &g, xp, packed, bias, target, range.lowerBound, range.upperBound)
            }
            return roundOutput
                ? y16.withUnsafeMutableBytes { call($0.baseAddress!) }
                : y.withUnsafeMutableBytes { call($0.baseAddress!) }
        }
        if roundOutput { y = y16.map { Float(bitPattern: UInt32($0) << 16) } }
        XCTAssertEqual(status, 0, "\(unit) stopped: \(TileKernelHarness.fault)")
        var exact = [Double](repeating: 0, count: positions * cout)
        var magnitude = [Double](repeating: 0, count: positions * cout)
        for q in range {
            let (z, r) = q.quotientAndRemainder(dividingBy: oh * ow)
            let (row, column) = r.quotientAndRemainder(dividingBy: ow)
            for co in 0..<cout {
                var sum = bias ? Double(b[co]) : 0
                var absolute = abs(sum)
                for dz in 0..<kd {
                    for dy in 0..<kh {
                        for dx in 0..<kw {
                            let input = (((z + dz) * hp + row + dy) * wp + column + dx) * cin
                            let tap = ((dz * kh + dy) * kw + dx) * cin
                            for ci in 0..<cin {
                                let product = Double(x[input + ci]) * Double(w[(tap + ci) * cout + co])
                                sum += product
                                absolute += abs(product)
                            }
                        }
                    }
                }
                exact[q * cout + co] = relu ? max(0, sum) : sum
                magnitude[q * cout + co] = absolute
            }
        }
        return Pass(output: y, exact: exact, magnitude: magnitude, reduction: k)
    }

    /// run(output:…) of a forward case.
    static func run(
        _ c: ForwardCase, weightBlock: Int = 0, roundOutput: Bool = false, nanInput: Bool = false,
        on unit: TileUnit = .model, seed: UInt64
    ) -> Pass {
        run(
            output: c.output, kernel: c.kernel, cin: c.cin, cout: c.cout, range: c.range, relu: c.relu, bias: c.bias,
            weightBlock: weightBlock, roundOutput: roundOutput, nanInput: nanInput, on: unit, seed: seed)
    }

    /// checkWeightGradient(samples:…) of a weight-gradient case.
    @discardableResult
    static func checkWeightGradient(
        _ c: WeightCase, positions: Int = 0, on unit: TileUnit = .model, accumulate: Bool = true, seed: UInt64,
        file: StaticString = #filePath, line: UInt = #line
    ) -> [Float] {
        checkWeightGradient(
            samples: c.samples, output: c.output, kernel: c.kernel, cin: c.cin, cout: c.cout, rows: c.rows,
            channels: c.channels, positions: positions, on: unit, accumulate: accumulate, seed: seed, file: file,
            line: line)
    }

    /// Every output in `range` within (K + 1)·2⁻²⁴·Σ|a||b| of the exact sum (K the reduction
    /// length), every other still NaN (not written).
    static func assertWithinBound(
        _ pass: Pass, range: Range<Int>, cout: Int, _ what: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        for i in 0..<pass.output.count {
            let stored = range.contains(i / cout)
            guard stored else {
                XCTAssertTrue(
                    pass.output[i].isNaN, "\(what): [\(i)] outside the range was written", file: file, line: line)
                continue
            }
            let bound = Double(pass.reduction + 1) * 0x1p-24 * pass.magnitude[i]
            let error = abs(Double(pass.output[i]) - pass.exact[i])
            XCTAssertLessThanOrEqual(error, bound, "\(what)[\(i)]", file: file, line: line)
            if !(error <= bound) { return }
        }
    }

    /// The tile weight gradient of `samples` samples over kernel row blocks `rows` and channel
    /// blocks `channels` (16 each), added to dW = 0.5 everywhere (or, without `accumulate`,
    /// written over it), against the Double sum of the same rounded operands: within
    /// (N·grid + 1)·2⁻²⁴·Σ|a||b| inside the blocks, 0.5 outside. `positions`: grid positions per
    /// chunk of the kernel's loop (0: the whole batch in one).
    @discardableResult
    static func checkWeightGradient(
        samples: Int, output: [Int], kernel: [Int], cin: Int, cout: Int, rows: Range<Int>, channels: Range<Int>,
        positions chunk: Int = 0, on unit: TileUnit = .model, accumulate: Bool = true, seed: UInt64,
        file: StaticString = #filePath,
        line: UInt = #line
    ) -> [Float] {
        let (od, oh, ow) = (output[0], output[1], output[2])
        let (kd, kh, kw) = (kernel[0], kernel[1], kernel[2])
        let (hp, wp) = (oh + kh - 1, ow + kw - 1)
        let count = (od + kd - 1) * hp * wp * cin
        let positions = od * oh * ow
        var generator = SeededGenerator(seed: seed)
        let x = (0..<samples * count).map { _ in BFloat16.rounded(Float.random(in: -1...1, using: &generator)) }
        let dy = (0..<samples * positions * cout).map { _ in
            BFloat16.rounded(Float.random(in: -1...1, using: &generator))
        }
        var g = dk_conv_geometry(hp: hp, wp: wp, output: output, kernel: kernel, cin: cin, cout: cout)
        let xtStride = cin * dk_conv_tile_transpose_row(&g)
        let dygStride = dk_conv_tile_grid_length(&g) * cout
        var xt = [UInt16](repeating: 0, count: samples * xtStride)
        var dyg = [UInt16](repeating: 0, count: samples * dygStride)
        var xp = [UInt16](repeating: 0, count: count)
        for n in 0..<samples {
            dk_f32_to_bf16(Array(x[(n * count)..<((n + 1) * count)]), &xp, count)
            xt.withUnsafeMutableBufferPointer { dk_bf16_transpose_grid(&g, xp, $0.baseAddress! + n * xtStride) }
            dyg.withUnsafeMutableBufferPointer {
                dk_bf16_pack_gradient_grid(&g, Array(dy[(n * positions * cout)...]), $0.baseAddress! + n * dygStride)
            }
        }
        let k = kd * kh * kw * cin
        var dw = [Float](repeating: 0.5, count: k * cout)
        var status: Int32 = 0
        if unit == .trapped {
            status = amx_trap_weight_grad(
                &g, xt, xtStride, dyg, dygStride, samples, &dw, rows.lowerBound, rows.upperBound, channels.lowerBound,
                channels.upperBound, chunk, accumulate ? 1 : 0)
        } else {
            status = dk_conv_weight_grad_tiles_on(
                unit == .hardware ? 1 : 0, &g, xt, xtStride, dyg, dygStride, samples, &dw, rows.lowerBound,
                rows.upperBound, channels.lowerBound, channels.upperBound, chunk, accumulate ? 1 : 0)
        }
        XCTAssertEqual(status, 0, "\(unit) stopped: \(TileKernelHarness.fault)", file: file, line: line)
        let grid = dk_conv_tile_grid_length(&g)
        for row in 0..<k {
            let (s, j) = row.quotientAndRemainder(dividingBy: kw * cin)
            let (dz, ky, kx, ci) = (s / kh, s % kh, j / cin, j % cin)
            for co in 0..<cout {
                guard rows.contains(row / 16), channels.contains(co / 16) else {
                    XCTAssertEqual(
                        dw[row * cout + co], 0.5, "(\(row), \(co)) outside the blocks", file: file, line: line)
                    continue
                }
                var (sum, magnitude) = accumulate ? (0.5, 0.5) : (0.0, 0.0)
                for n in 0..<samples {
                    for q in 0..<positions {
                        let (z, r) = q.quotientAndRemainder(dividingBy: oh * ow)
                        let (y, xx) = r.quotientAndRemainder(dividingBy: ow)
                        let input = n * count + (((z + dz) * hp + y + ky) * wp + xx + kx) * cin + ci
                        let product = Double(x[input]) * Double(dy[(n * positions + q) * cout + co])
                        sum += product
                        magnitude += abs(product)
                    }
                }
                let bound = Double(samples * grid + 1) * 0x1p-24 * magnitude
                let error = abs(Double(dw[row * cout + co]) - sum)
                XCTAssertLessThanOrEqual(error, bound, "(\(row), \(co))", file: file, line: line)
                if !(error <= bound) { return dw }
            }
        }
        return dw
    }
}
