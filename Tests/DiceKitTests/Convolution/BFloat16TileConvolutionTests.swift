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

    /// The tile weight gradient under a workspace bound that its copies of the whole batch
    /// exceed: groups of one sample (`ConvGeometry.tileWeightGradientGroup`), each group's sums
    /// added to the previous ones'; the same bits as the whole batch at once.
    func testTileWeightGradientInGroupsOfSamples() throws {
        try withTiles {
            let x = randomTensor([3, 10, 12, 16], seed: 1350).converted(to: Float.self)
            let w = randomTensor([3, 3, 16, 32], seed: 1351).converted(to: Float.self)
            let dy = randomTensor([3, 10, 12, 32], seed: 1352).converted(to: Float.self)
            let unbounded = try Convolution(
                weight: w, padding: .same, settings: ConvolutionSettings(workers: 2, precision: .bfloat16))
            let geometry = try unbounded.geometry(x.shape)
            let g = dk_conv_geometry(hp: 12, wp: 14, output: [1, 10, 12], kernel: [1, 3, 3], cin: 16, cout: 32)
            let source = PaddedSource(
                source: UnsafePointer(bitPattern: MemoryLayout<Float>.alignment)!, batch: 3, inner: [1, 10, 12],
                channels: 16, before: [0, 1, 1], after: [0, 1, 1], kernelWidth: 3)
            let whole = geometry.tileWeightGradientGroup(g, padded: source, workers: 2, limit: .max)
            let one = geometry.tileWeightGradientGroup(g, padded: source, workers: 2, limit: 2 * whole.elements / 3)
            XCTAssertEqual(whole.samples, 3)
            XCTAssertEqual(one.samples, 1)
            XCTAssertLessThan(one.elements, whole.elements / 2)
            var bounded = unbounded
            bounded.settings.workspaceLimit = 2 * one.elements
            XCTAssertTrue(
                geometry.runsDirect(
                    Float.self, inputGradient: false, settings: bounded.settings, backwardOnly: true,
                    kernels: .bfloat16(tiles: true)))
            let calls = dk_conv_tile_calls(0) + dk_conv_tile_calls(1)
            let expected = try unbounded.backward(input: x, outputGradient: dy, computeInputGradient: false)
            let actual = try bounded.backward(input: x, outputGradient: dy, computeInputGradient: false)
            XCTAssertGreaterThanOrEqual(dk_conv_tile_calls(0) + dk_conv_tile_calls(1), calls + 2 + 3)
            XCTAssertEqual(actual.weight.scalars.map(\.bitPattern), expected.weight.scalars.map(\.bitPattern))
        }
    }

    func testTilesTwoSamplesPerWorkerRoundWindowsWhenWholeSamplesExceedTheBound() throws {
        try withTiles { try testTwoSamplesPerWorkerRoundWindowsWhenWholeSamplesExceedTheBound() }
    }

    func testTilesWeightGradientOverSeveralChunks() throws {
        // 2 samples of 98 × 98 grid positions, 9408 of them summed each: more than one chunk here?
        let chunk = ConvBlocking.current.tileWeightGradientChunk(inChannels: 16, outChannels: 16, span: 2 * 98 + 2)
        try XCTSkipIf(chunk >= 2 * 9408, "L2 of \(ConvBlocking.current.l2) bytes: one chunk holds the whole batch")
        try withTiles { try testWeightGradientOverSeveralChunks() }
    }

    func testTilesTransposed() throws {
        try withTiles {
            try testTransposedOneChunk()
            try testTransposedFewChannelsTakeTheChunkedForward()
            try testTransposedSeveralChunksAndPartials()
            try testTransposedVolumes()
            try testTransposedForwardIsTheScatteredProduct()
        }
    }
}

final class AMXTileKernelTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no AVX512-BF16: no bfloat16 path here")
    }

    /// TileKernelHarness.forwardCases on the model, against Double.
    func testModelAgainstDouble() {
        for (index, c) in TileKernelHarness.forwardCases.enumerated() {
            let pass = TileKernelHarness.run(c, seed: 7000 + UInt64(index))
            let positions = c.output.reduce(1, *)
            TileKernelHarness.assertWithinBound(pass, range: c.range ?? 0..<positions, cout: c.cout, "case \(index)")
        }
    }

    /// The forward cases with their output channels in groups of two 16-channel blocks (a
    /// weight block of 1 byte; conv_amx_kernel.h), which wide layers get from L2: the bits of the
    /// one group the cases' weights make at the default block, with 3 to 5 blocks (the last group
    /// a single block at 48 and 80 channels).
    func testChannelGroupsKeepTheBits() {
        var grouped = 0
        for (index, c) in TileKernelHarness.forwardCases.enumerated() where c.cout >= 48 {
            let seed = 7000 + UInt64(index)
            let whole = TileKernelHarness.run(c, seed: seed)
            let groups = TileKernelHarness.run(c, weightBlock: 1, seed: seed)
            let first = groups.output.indices.first { groups.output[$0].bitPattern != whole.output[$0].bitPattern }
            XCTAssertNil(first, "case \(index): output [\(first ?? 0)] differs between the groupings")
            grouped += 1
        }
        XCTAssertEqual(grouped, 3)
    }

    /// TileKernelHarness.weightCases on the model, against Double: added to dW, and written
    /// over it (`accumulate` 0, the tile weight gradient's own use: its tiles start from zero).
    func testWeightGradientModelAgainstDouble() {
        for (index, c) in TileKernelHarness.weightCases.enumerated() {
            TileKernelHarness.checkWeightGradient(c, seed: 7300 + UInt64(index))
            TileKernelHarness.checkWeightGradient(c, accumulate: false, seed: 7300 + UInt64(index))
        }
    }

    /// The weight-gradient cases with the batch's grid positions in chunks of 32, 64 and 96
    /// (chunks that end mid-sample and span two samples; conv_amx_kernel.h), which large images
    /// get from L2: the bits of the whole batch in one chunk, added to dW and written over it.
    func testWeightGradientChunksKeepTheBits() {
        for (index, c) in TileKernelHarness.weightCases.enumerated() {
            let seed = 7300 + UInt64(index)
            for accumulate in [true, false] {
                let whole = TileKernelHarness.checkWeightGradient(c, accumulate: accumulate, seed: seed)
                for positions in [32, 64, 96] {
                    let chunked = TileKernelHarness.checkWeightGradient(
                        c, positions: positions, accumulate: accumulate, seed: seed)
                    let first = chunked.indices.first { chunked[$0].bitPattern != whole[$0].bitPattern }
                    XCTAssertNil(
                        first,
                        "case \(index), chunks of \(positions), accumulate \(accumulate): dW[\(first ?? 0)] differs")
                }
            }
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

    /// The vector packing (dk_bf16_pack_weight_tiles_channels: the dot products' AVX-512 packers
    /// placing their runs where the tiles read them) gives the reference's bits, forward and
    /// flipped, from DiceKit's and PyTorch's layouts, whole and in channel ranges (as the workers
    /// split it), 2-D and 3-D, with values that round (ties, NaN, subnormals among them).
    func testVectorTilePackingMatchesTheReference() {
        var generator = SeededGenerator(seed: 7500)
        for (kernel, cin, cout) in [
            ([1, 3, 3], 16, 32), ([1, 3, 3], 48, 64), ([3, 3, 3], 32, 16), ([1, 1, 1], 64, 48),
        ] {
            let taps = kernel.reduce(1, *)
            let count = taps * cin * cout
            var w = (0..<count).map { _ in Float.random(in: -2...2, using: &generator) }
            w[0] = .nan
            w[1] = 1 + 0x1p-8 // a tie, to even
            w[2] = 0x1p-130 // subnormal
            var g = dk_conv_geometry(hp: 5, wp: 5, output: [1, 3, 3], kernel: kernel, cin: cin, cout: cout)
            for pytorch: Int32 in [0, 1] {
                for flipped: Int32 in [0, 1] {
                    var reference = [UInt16](repeating: 0, count: count)
                    dk_bf16_pack_weight_tiles_from(&g, w, pytorch, &reference, flipped)
                    for ranges in [[0..<cout], [0..<16, 16..<cout]] where ranges.last!.lowerBound < cout {
                        var packed = [UInt16](repeating: 0xFFFF, count: count)
                        for range in ranges {
                            dk_bf16_pack_weight_tiles_channels(
                                &g, w, pytorch, &packed, flipped, range.lowerBound, range.upperBound)
                        }
                        let first = packed.indices.first { packed[$0] != reference[$0] }
                        XCTAssertNil(
                            first,
                            "\(kernel) \(cin)→\(cout), pytorch \(pytorch), flipped \(flipped), \(ranges.count) ranges: "
                                + "[\(first ?? 0)] differs")
                    }
                }
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
            let tiles = TileKernelHarness.run(
                output: output, kernel: kernel, cin: cin, cout: cout, on: .hardware, seed: seed)
            let model = TileKernelHarness.run(output: output, kernel: kernel, cin: cin, cout: cout, seed: seed)
            let positions = output.reduce(1, *)
            TileKernelHarness.assertWithinBound(tiles, range: 0..<positions, cout: cout, "tile unit, case \(index)")
            for i in 0..<tiles.output.count {
                let bound = 2 * Double(tiles.reduction + 1) * 0x1p-24 * tiles.magnitude[i]
                XCTAssertEqual(
                    Double(tiles.output[i]), Double(model.output[i]), accuracy: bound, "tile unit vs model [\(i)]")
            }
        }
        let tiles = TileKernelHarness.checkWeightGradient(
            samples: 2, output: [1, 9, 7], kernel: [1, 3, 3], cin: 48, cout: 32, rows: 0..<27, channels: 0..<2,
            on: .hardware, seed: 7110)
        let model = TileKernelHarness.checkWeightGradient(
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
        if case .failed = check, dk_amx_permission() == -1 {
            // A tile unit smaller than the kernels' tiles, never configured (AMXTileShapeTests).
            throw XCTSkip("AMX tiles unused here: \(check)")
        }
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
