// The AMX tile arithmetic (Sources/CDiceKitKernels/convolution/conv_amx.c).
//
// BFloat16ConvolutionTests' cases with the tiles forced, against Double within the bound of
// BFloat16Convolution.swift: on a CPU whose AMX level is in use the tile unit runs them, on any
// other CPU with AVX512-BF16 the tile kernel's software model does (the same source, compiled
// against a model of ldtilecfg, tileloadd, tilestored, tilezero and tdpbf16ps that checks every
// tile shape), which checks the kernel's addressing, blocking, packing and stores.
//
// The kernel alone (AMXTileKernelTests), on bfloat16 data against a Double sum of the same
// rounded operands, where only the Float accumulation errs: |y − y_exact| ≤ K·2⁻²⁴·Σ|a||b| + the
// rounding of the bias addition. Positions off the output grid and past the range are not
// written, and NaN in the read-ahead slack after the sample does not reach a stored output.
// The weight gradient likewise, with the bound over its reduction (samples × grid positions).
// Where AMX is in use, the tile unit against Double and the model, and the forced AVX512-BF16
// level on the AMX CPU. The self-check that detection runs on the tile unit (exact sums, bit for
// bit) passes on the model, and on the tile unit where Linux grants the tile data.

internal import CDiceKitKernels
import XCTest

@testable import DiceKit

extension BFloat16ConvolutionTests {
    func testTilesSixteenChannelsSamePadding() throws { try withTiles { try testSixteenChannelsSamePadding() } }

    func testTilesThirtyTwoToFortyEightChannelsOddWidth() throws {
        try withTiles { try testThirtyTwoToFortyEightChannelsOddWidth() }
    }

    func testTilesWideLayerValidPadding() throws { try withTiles { try testWideLayerValidPadding() } }

    func testTilesThreeDimensional() throws { try withTiles { try testThreeDimensional() } }

    func testTilesWeightGradientRowsSplitWithinSegment() throws {
        try withTiles { try testWeightGradientRowsSplitWithinSegment() }
    }

    func testTilesSameBitsForEveryWorkerCount() throws { try withTiles { try testSameBitsForEveryWorkerCount() } }

    func testTilesTransposed() throws {
        try withTiles {
            try testTransposedOneChunk()
            try testTransposedSeveralChunksAndPartials()
        }
    }
}

final class AMXTileKernelTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no AVX512-BF16: no bfloat16 path here")
    }

    /// One forward pass of the tile kernel over random bfloat16 data: the outputs (NaN where not
    /// written), the exact sums of the rounded operands, their Σ|a||b|, and the reduction length.
    private struct Pass {
        var output: [Float], exact: [Double], magnitude: [Double], reduction: Int
    }

    private func run(
        output: [Int], kernel: [Int], cin: Int, cout: Int, range: Range<Int>? = nil, relu: Bool = false,
        bias: Bool = true, hardware: Bool = false, seed: UInt64
    ) throws -> Pass {
        let (od, oh, ow) = (output[0], output[1], output[2])
        let (kd, kh, kw) = (kernel[0], kernel[1], kernel[2])
        let (dp, hp, wp) = (od + kd - 1, oh + kh - 1, ow + kw - 1)
        let count = dp * hp * wp * cin
        let slack = (kw + Int(DK_CONV_SLACK_POSITIONS)) * cin
        var generator = SeededGenerator(seed: seed)
        let x = (0..<count).map { _ in BFloat16.rounded(Float.random(in: -1...1, using: &generator)) }
        var xp = [UInt16](repeating: 0x7FC0, count: count + slack) // NaN after the sample
        dk_f32_to_bf16(x, &xp, count)
        let k = kd * kh * kw * cin
        let w = (0..<k * cout).map { _ in BFloat16.rounded(Float.random(in: -1...1, using: &generator)) }
        let b = (0..<cout).map { _ in Float.random(in: -1...1, using: &generator) }
        var g = dk_conv_geometry(hp: hp, wp: wp, output: output, kernel: kernel, cin: cin, cout: cout)
        g.relu = relu ? 1 : 0
        var packed = [UInt16](repeating: 0, count: k * cout)
        dk_bf16_pack_weight_tiles(&g, w, &packed, 0)
        let positions = od * oh * ow
        let range = range ?? 0..<positions
        var y = [Float](repeating: .nan, count: positions * cout)
        let status = b.withUnsafeBufferPointer { bp in
            dk_conv_forward_tiles_on(
                hardware ? 1 : 0, &g, xp, packed, bias ? bp.baseAddress : nil, &y, range.lowerBound, range.upperBound)
        }
        XCTAssertEqual(status, 0)
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

    private func assertWithinBound(
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

    /// Segments of 3·16 (chunks of 16) and 3·32 (chunks of 32) taps, one and two 16-channel
    /// blocks per tile pair (cout 16, 48), widths that end a tile mid-line, a range that starts and
    /// ends mid-grid, ReLU, no bias, 3-D, and 1×1 products over rows (the up-sampling's form).
    func testModelAgainstDouble() throws {
        let cases: [(output: [Int], kernel: [Int], cin: Int, cout: Int, range: Range<Int>?, relu: Bool, bias: Bool)] = [
            ([1, 8, 8], [1, 3, 3], 16, 16, nil, false, true),
            ([1, 8, 8], [1, 3, 3], 32, 48, nil, true, true),
            ([1, 9, 7], [1, 3, 3], 48, 32, 5..<50, false, false),
            ([1, 16, 18], [1, 3, 3], 64, 64, nil, false, true),
            ([3, 5, 6], [3, 3, 3], 16, 32, nil, false, true),
            ([1, 1, 37], [1, 1, 1], 64, 16, nil, false, false),
            ([1, 1, 40], [1, 1, 1], 16, 80, 3..<33, true, true),
        ]
        for (index, c) in cases.enumerated() {
            let pass = try run(
                output: c.output, kernel: c.kernel, cin: c.cin, cout: c.cout, range: c.range, relu: c.relu,
                bias: c.bias, seed: 7000 + UInt64(index))
            let positions = c.output.reduce(1, *)
            assertWithinBound(pass, range: c.range ?? 0..<positions, cout: c.cout, "case \(index)")
        }
    }

    /// The tile weight gradient of `samples` samples over kernel row blocks `rows` and channel
    /// blocks `channels` (16 each), added to dW = 0.5 everywhere, against the Double sum of the
    /// same rounded operands: within (N·grid + 1)·2⁻²⁴·Σ|a||b| inside the blocks, 0.5 outside.
    private func checkWeightGradient(
        samples: Int, output: [Int], kernel: [Int], cin: Int, cout: Int, rows: Range<Int>, channels: Range<Int>,
        hardware: Bool = false, seed: UInt64, file: StaticString = #filePath, line: UInt = #line
    ) throws -> [Float] {
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
        let status = dk_conv_weight_grad_tiles_on(
            hardware ? 1 : 0, &g, xt, xtStride, dyg, dygStride, samples, &dw, rows.lowerBound, rows.upperBound,
            channels.lowerBound, channels.upperBound)
        XCTAssertEqual(status, 0, file: file, line: line)
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
                var (sum, magnitude) = (0.5, 0.5)
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

    /// Both row and channel blocks in pairs and alone (odd block counts, ranges that start past
    /// 0), several samples, 3-D, and the 1×1 product over rows of the up-sampling.
    func testWeightGradientModelAgainstDouble() throws {
        let cases:
            [(samples: Int, output: [Int], kernel: [Int], cin: Int, cout: Int, rows: Range<Int>, channels: Range<Int>)] =
                [
                    (2, [1, 8, 8], [1, 3, 3], 16, 16, 0..<9, 0..<1),
                    (3, [1, 7, 9], [1, 3, 3], 32, 48, 0..<18, 0..<3),
                    (1, [1, 9, 7], [1, 3, 3], 48, 32, 3..<20, 1..<2),
                    (2, [3, 5, 6], [3, 3, 3], 16, 32, 0..<27, 0..<2),
                    (2, [1, 1, 37], [1, 1, 1], 64, 16, 0..<4, 0..<1),
                ]
        for (index, c) in cases.enumerated() {
            _ = try checkWeightGradient(
                samples: c.samples, output: c.output, kernel: c.kernel, cin: c.cin, cout: c.cout, rows: c.rows,
                channels: c.channels, seed: 7300 + UInt64(index))
        }
    }

    /// The tile packing holds every weight once, in its block, pair and lane: element (k, c) of
    /// [K × Cout] at ((c/16 · K/2 + k/2)·16 + c mod 16)·2 + k mod 2; flipped, row t·Cout + co of the
    /// flipped kernel is W[taps − 1 − t][·][co].
    func testTilePacking() {
        let (cin, cout, taps) = (16, 32, 9)
        let k = taps * cin
        let w = (0..<k * cout).map { Float($0) } // exact in bfloat16 up to 256, then rounded: compare rounded
        var g = dk_conv_geometry(hp: 5, wp: 5, output: [1, 3, 3], kernel: [1, 3, 3], cin: cin, cout: cout)
        var packed = [UInt16](repeating: 0, count: k * cout)
        var flipped = packed
        dk_bf16_pack_weight_tiles(&g, w, &packed, 0)
        dk_bf16_pack_weight_tiles(&g, w, &flipped, 1)
        func value(_ bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }
        for row in 0..<k {
            for c in 0..<cout {
                let index = ((c / 16 * (k / 2) + row / 2) * 16 + c % 16) * 2 + row % 2
                XCTAssertEqual(value(packed[index]), BFloat16.rounded(w[row * cout + c]), "forward (\(row), \(c))")
            }
        }
        let rows = taps * cout
        for row in 0..<rows {
            let (t, co) = row.quotientAndRemainder(dividingBy: cout)
            for ci in 0..<cin {
                let index = ((ci / 16 * (rows / 2) + row / 2) * 16 + ci % 16) * 2 + row % 2
                let source = w[((taps - 1 - t) * cin + ci) * cout + co]
                XCTAssertEqual(value(flipped[index]), BFloat16.rounded(source), "flipped (\(row), \(ci))")
            }
        }
    }

    /// The tile unit, where the AMX level is in use, against Double and against the model; where
    /// it is not, a request for it is refused without running.
    func testHardwareAgainstDoubleAndModel() throws {
        guard BFloat16KernelLevel.detected == .amx else {
            var g = dk_conv_geometry(hp: 3, wp: 3, output: [1, 1, 1], kernel: [1, 3, 3], cin: 16, cout: 16)
            var y = [Float](repeating: 0, count: 16)
            let status = dk_conv_forward_tiles_on(1, &g, [UInt16](repeating: 0, count: 1024), [], nil, &y, 0, 1)
            XCTAssertEqual(status, -1, "the tile unit was run on a CPU without AMX")
            throw XCTSkip("no AMX tiles granted on this CPU (\(BFloat16KernelLevel.detected)): the model alone runs")
        }
        let before = dk_conv_tile_calls(1)
        for (index, (output, cin, cout)) in [([1, 16, 18], 64, 64), ([1, 9, 7], 16, 48)].enumerated() {
            let kernel = [1, 3, 3]
            let seed = 7100 + UInt64(index)
            let tiles = try run(output: output, kernel: kernel, cin: cin, cout: cout, hardware: true, seed: seed)
            let model = try run(output: output, kernel: kernel, cin: cin, cout: cout, seed: seed)
            let positions = output.reduce(1, *)
            assertWithinBound(tiles, range: 0..<positions, cout: cout, "tile unit, case \(index)")
            for i in 0..<tiles.output.count {
                let bound = 2 * Double(tiles.reduction + 1) * 0x1p-24 * tiles.magnitude[i]
                XCTAssertEqual(
                    Double(tiles.output[i]), Double(model.output[i]), accuracy: bound, "tile unit vs model [\(i)]")
            }
        }
        let tiles = try checkWeightGradient(
            samples: 2, output: [1, 9, 7], kernel: [1, 3, 3], cin: 48, cout: 32, rows: 0..<27, channels: 0..<2,
            hardware: true, seed: 7110)
        let model = try checkWeightGradient(
            samples: 2, output: [1, 9, 7], kernel: [1, 3, 3], cin: 48, cout: 32, rows: 0..<27, channels: 0..<2,
            seed: 7110)
        let difference = zip(tiles, model).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(difference, 1e-3, "weight gradient: tile unit vs model")
        XCTAssertGreaterThan(dk_conv_tile_calls(1), before, "the tile unit did not run")
    }

    /// dk_amx_self_check on the tile unit or the model: its result and its detail line.
    private func selfCheck(hardware: Bool) -> (result: Int32, detail: String) {
        var buffer = [CChar](repeating: 0, count: 256)
        return buffer.withUnsafeMutableBufferPointer {
            let result = dk_amx_self_check(hardware ? 1 : 0, $0.baseAddress, 256)
            return (result, String(cString: $0.baseAddress!))
        }
    }

    /// The self-check (conv_amx_check.c) passes on the model; on a CPU whose tile data was
    /// granted, detection ran it on the tile unit and it passed there too (a failure would have
    /// left the AVX512-BF16 level and skipped every other tile-unit test: it fails here instead).
    func testSelfCheck() throws {
        let model = selfCheck(hardware: false)
        XCTAssertEqual(model.result, 0, "model: \(model.detail)")
        XCTAssertEqual(model.detail, "")
        let check = BFloat16Arithmetic.tileSelfCheck
        if case .failed = check { XCTFail("tile unit: \(check)") }
        guard dk_amx_permission() == 1 else {
            XCTAssertEqual(check, .notRun)
            let refused = selfCheck(hardware: true)
            XCTAssertEqual(refused.result, -1, "the tile unit was run without the tile data")
            XCTAssertTrue(refused.detail.contains("no AMX tile data"), refused.detail)
            throw XCTSkip("no AMX tile data granted on this CPU: the self-check ran on the model only")
        }
        XCTAssertEqual(check, .passed)
        XCTAssertEqual(BFloat16KernelLevel.detected, .amx)
        let hardware = selfCheck(hardware: true)
        XCTAssertEqual(hardware.result, 0, "tile unit: \(hardware.detail)")
    }

    /// What a failed self-check makes the reports say: the automatic choice's reason, the error
    /// for DICEKIT_BF16_ARITHMETIC=amx and the CLI's notice each name the failure and its detail.
    func testFailedSelfCheckIsReported() {
        let failed = BFloat16Arithmetic.TileSelfCheck.failed(
            "forward 16→16: output (position 3, channel 1) is 2, expected 5")
        for automatic in [BFloat16Arithmetic.roundedOperands, .dotProducts] {
            let reason = BFloat16Arithmetic.reason(for: automatic, failed)
            XCTAssertTrue(reason.contains("failed their self-check (forward 16→16: output"), reason)
            XCTAssertFalse(BFloat16Arithmetic.reason(for: automatic, .notRun).contains("self-check"))
        }
        XCTAssertTrue(BFloat16Arithmetic.reason(for: .tiles, .passed).contains("self-check passed"))
        let error = BFloat16Arithmetic.amxUnavailableError(failed)
        XCTAssertTrue(
            error.hasPrefix("DICEKIT_BF16_ARITHMETIC=amx: the AMX tiles failed their self-check (forward"), error)
        let notice = BFloat16Arithmetic.tileFallbackNotice(failed)
        XCTAssertTrue(notice?.contains("self-check (forward 16→16") == true, notice ?? "nil")
        XCTAssertNil(BFloat16Arithmetic.tileFallbackNotice(.passed))
        XCTAssertNil(BFloat16Arithmetic.tileFallbackNotice(.notRun))
        XCTAssertEqual(failed.description, "failed: forward 16→16: output (position 3, channel 1) is 2, expected 5")
    }

    /// On an AMX CPU, forcing the AVX512-BF16 level turns the automatic tile arithmetic off and
    /// the dot-product kernels run; automatic again, the tiles are chosen.
    func testForcedAVX512LevelOnAnAMXCPU() throws {
        try XCTSkipUnless(BFloat16KernelLevel.detected == .amx, "no AMX tiles granted on this CPU")
        BFloat16Arithmetic.force(nil)
        XCTAssertEqual(BFloat16Arithmetic.automatic, .tiles)
        try BFloat16KernelLevel.force(.avx512bf16)
        defer { try? BFloat16KernelLevel.force(nil) }
        XCTAssertFalse(BFloat16Arithmetic.tilesAvailable)
        XCTAssertNotEqual(BFloat16Arithmetic.automatic, .tiles)
        let x = randomTensor([2, 6, 7, 16], seed: 7200).converted(to: Float.self)
        let w = randomTensor([3, 3, 16, 32], seed: 7201).converted(to: Float.self)
        let conv = try Convolution(weight: w, padding: .same, settings: ConvolutionSettings(precision: .bfloat16))
        let y = try BFloat16Arithmetic.with(.dotProducts) { try conv.forward(x) }
        XCTAssertEqual(KernelDispatch.lastUsed(.bfloat16Convolution), .avx512)
        let float = try Convolution(weight: w, padding: .same).forward(x)
        XCTAssertNotEqual(y.scalars, float.scalars, "the bfloat16 path did not run")
    }

    /// DICEKIT_BF16_ARITHMETIC=amx where the AMX level is not in use: `--precision bf16` is a
    /// usage error that names the variable and what this CPU has; `dicekit check` says it is ignored.
    func testAMXEnvironmentWithoutAMXIsAUsageError() throws {
        try XCTSkipIf(BFloat16Arithmetic.tilesAvailable, "AMX tiles are in use here")
        let result = try runDicekit(
            [
                "eval", "--checkpoint", fixtureURL("metrics/weights.safetensors").path,
                "--data", fixtureURL("metrics").path, "--precision", "bf16",
            ], environment: [BFloat16Arithmetic.environmentVariable: "amx"])
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertTrue(
            result.stderr.contains("DICEKIT_BF16_ARITHMETIC=amx") && result.stderr.contains("no AMX-BF16 tiles"),
            result.stderr)
        // `dicekit check` runs on, with the automatic arithmetic, and says the variable was ignored.
        let check = try runDicekit(
            ["check", "--size", "32", "--sgemm-size", "64"],
            environment: [BFloat16Arithmetic.environmentVariable: "amx"])
        XCTAssertEqual(check.status, 0, check.stderr)
        XCTAssertTrue(check.stderr.contains("ignored"), check.stderr)
        let object = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(check.stdout.utf8)) as? [String: Any], check.stdout)
        XCTAssertEqual(object["bf16_arithmetic"] as? String, BFloat16Arithmetic.automatic.rawValue)
        XCTAssertEqual(object["amx_self_check"] as? String, BFloat16Arithmetic.tileSelfCheck.description)
    }
}
