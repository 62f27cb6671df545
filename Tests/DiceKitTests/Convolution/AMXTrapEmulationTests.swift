// The tile unit's compilation of the AMX kernels (conv_amx.c), run on this CPU under the trap
// emulator (Tests/AMXTrapEmulator): each AMX instruction the CPU refuses is decoded from its bytes
// and executed on the software model of the tile unit, everything else runs natively. These tests
// check what the model's compilation of the same source cannot: the code the compiler emitted for
// the intrinsics (tile numbers, operand order, strides and addresses in registers) and the
// configuration's bytes in memory.
//
// - The decoder against the encodings the compiled kernels contain, and a hand-written probe of
//   every addressing form against scalar sums.
// - The library's self-check (exact sums, bit for bit) on the tile unit's compilation.
// - TileKernelHarness's cases on the tile unit's compilation, bit for bit equal to the model's
//   (the same instruction semantics in the same order: any difference is the compilation's), and
//   within the bound against Double; also from several threads at once (the tiles are per thread).
// - A U-Net training step with the tile arithmetic routed to the tile unit's compilation, bit for
//   bit equal to the same step on the model.
//
// On a CPU with AMX the same code runs on the tile unit itself and no instruction traps.

internal import AMXTrapEmulator
internal import CDiceKitKernels
import Dispatch
import XCTest

@testable import DiceKit

final class AMXTrapEmulationTests: XCTestCase {
    override func setUpWithError() throws {
        // Detection first: on a CPU with AMX it asks for the tile data, and the code then runs natively.
        _ = dk_bf16_detected()
        // The tile unit's compilation stores its tiles with AVX-512 F/BW instructions (every CPU
        // with AMX has them), which the emulator does not emulate: a CPU without them (AMD Zen 3)
        // would stop at the first store with an illegal instruction.
        try XCTSkipUnless(
            CPUInfo.current.instructionSets.isSuperset(of: [.avx512f, .avx512bw]),
            "no AVX-512 F/BW: the tile unit's compilation cannot run here, even emulated")
        try XCTSkipUnless(amx_trap_install() == 0, "the trap emulator runs on x86-64 Linux only")
    }

    override func tearDown() {
        amx_trap_remove()
    }

    /// Instructions emulated so far, by kind.
    private func counts() -> [Int] {
        var counts = [Int](repeating: 0, count: Int(AMX_TRAP_KINDS.rawValue))
        amx_trap_counts(&counts)
        return counts
    }

    /// Products (tdpbf16ps) emulated so far.
    private var trappedProducts: Int { counts()[Int(AMX_TRAP_TDPBF16PS.rawValue)] }

    /// Fails unless a product was emulated since trappedProducts was `before`, or the tile unit
    /// ran the instructions itself.
    private func assertTrapped(since before: Int, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(native || trappedProducts > before, "no tile instruction was trapped", file: file, line: line)
    }

    /// A kind as amx_trap_decode returns it.
    private func kind(_ kind: amx_trap_kind) -> Int32 { Int32(kind.rawValue) }

    /// Whether the tile unit runs the instructions itself (nothing traps).
    private var native: Bool { dk_amx_permission() == 1 }

    /// The encodings below are those of the kernels' debug and release compilations (objdump of
    /// conv_amx.c.o): rsp as a base with a 32-bit displacement, r8–r15 bases and indices, an 8-bit
    /// displacement, a register form with VEX.vvvv; and instructions the emulator must not take.
    func testDecoder() {
        let cases: [(bytes: [UInt8], kind: Int32, length: Int32)] = [
            ([0xC4, 0xE2, 0x78, 0x49, 0x84, 0x24, 0xC0, 0x00, 0x00, 0x00], kind(AMX_TRAP_LDTILECFG), 10),
            ([0xC4, 0xE2, 0x78, 0x49, 0x00], kind(AMX_TRAP_LDTILECFG), 5),
            ([0xC4, 0xE2, 0x78, 0x49, 0xC0], kind(AMX_TRAP_TILERELEASE), 5),
            ([0xC4, 0xE2, 0x7B, 0x49, 0xD8], kind(AMX_TRAP_TILEZERO), 5),
            ([0xC4, 0x82, 0x7B, 0x4B, 0x6C, 0x0D, 0x00], kind(AMX_TRAP_TILELOADD), 7),
            ([0xC4, 0xA2, 0x7B, 0x4B, 0x2C, 0x1B], kind(AMX_TRAP_TILELOADD), 6),
            ([0xC4, 0xA2, 0x7A, 0x4B, 0x84, 0x00, 0x00, 0xFC, 0xFF, 0xFF], kind(AMX_TRAP_TILESTORED), 10),
            ([0xC4, 0xE2, 0x42, 0x5C, 0xDD], kind(AMX_TRAP_TDPBF16PS), 5),
            ([0x0F, 0x0B], -1, 0), // ud2
            ([0xC4, 0xE2, 0x7B, 0x4B, 0x00], -1, 0), // tileloadd without a SIB byte
            ([0xC4, 0xE2, 0x02, 0x5C, 0xDD], -1, 0), // tdpbf16ps with vvvv = tmm15
            ([0xC4, 0xE2, 0xFB, 0x49, 0xD8], -1, 0), // tilezero with W1
            ([0xC4, 0xE3, 0x78, 0x49, 0xC0], -1, 0), // map 0F3A
            ([0xC4, 0xE2, 0x79, 0x49, 0x00], -1, 0), // sttilecfg: never emitted, not emulated
        ]
        for c in cases {
            var length: Int32 = 0
            let bytes = c.bytes + [UInt8](repeating: 0, count: 16 - c.bytes.count)
            let kind = amx_trap_decode(bytes, &length)
            XCTAssertEqual(kind, c.kind, "\(c.bytes.map { String($0, radix: 16) })")
            if kind >= 0 { XCTAssertEqual(length, c.length, "\(c.bytes.map { String($0, radix: 16) })") }
        }
    }

    /// The probe's instructions: two configurations (through rsp, then r9 + r8·2 + 8), three loads
    /// (disp8 with r10/r11, disp32 with r12/r13·2, a base without an index), a zero, a product,
    /// two stores, a release; its results equal the scalar sums.
    func testProbe() {
        let before = counts()
        XCTAssertEqual(
            amx_trap_probe(), 0, "the probe's tile results differ from its scalar sums \(TileKernelHarness.fault)")
        let emulated = zip(counts(), before).map { $0 - $1 }
        XCTAssertEqual(emulated, native ? [0, 0, 0, 0, 0, 0] : [2, 1, 1, 3, 2, 1])
    }

    /// The rate probe's products (BFloat16MultiplyAddRates.tileProducts) on both compilations:
    /// 4 products per round, each sum exactly 32 · 2⁻¹⁰ larger per round.
    func testRateProbeProducts() {
        for rounds in [1, 3] {
            let before = trappedProducts
            var model = 0.0
            var trapped = 0.0
            XCTAssertEqual(amx_trap_tile_products(0, rounds, &model), 0)
            XCTAssertEqual(amx_trap_tile_products(1, rounds, &trapped), 0, TileKernelHarness.fault)
            XCTAssertEqual(model, 32 * Double(rounds))
            XCTAssertEqual(trapped, 32 * Double(rounds))
            XCTAssertEqual(trappedProducts - before, native ? 0 : 4 * rounds)
        }
    }

    /// The self-check that detection runs on the tile unit, on the tile unit's compilation.
    func testSelfCheck() {
        let before = trappedProducts
        var detail = [CChar](repeating: 0, count: 256)
        let result = detail.withUnsafeMutableBufferPointer { amx_trap_self_check($0.baseAddress, 256) }
        XCTAssertEqual(result, 0, detail.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        assertTrapped(since: before)
    }

    /// The forward cases: the same bits as the model, written where the model writes (NaN
    /// elsewhere), within the bound against Double; also with the output channels in groups of
    /// two blocks (a weight block of 1 byte), against the model's one group; and stored as
    /// bfloat16 with a NaN among the inputs, where the tile unit's compilation stores with
    /// AVX-512 and the model's with scalar code (conv_amx.c), bit for bit (NaN kept by ReLU).
    func testForwardSameBitsAsTheModel() {
        let before = trappedProducts
        for (index, c) in TileKernelHarness.forwardCases.enumerated() {
            let seed = 7000 + UInt64(index)
            let model = TileKernelHarness.run(c, seed: seed)
            for weightBlock in [0, 1] {
                let trapped = TileKernelHarness.run(c, weightBlock: weightBlock, on: .trapped, seed: seed)
                let positions = c.output.reduce(1, *)
                TileKernelHarness.assertWithinBound(
                    trapped, range: c.range ?? 0..<positions, cout: c.cout, "trapped, case \(index)")
                let first = trapped.output.indices.first {
                    trapped.output[$0].bitPattern != model.output[$0].bitPattern
                }
                XCTAssertNil(
                    first, "case \(index), weight block \(weightBlock): output [\(first ?? 0)] differs from the model's"
                )
            }
            let model16 = TileKernelHarness.run(c, roundOutput: true, nanInput: true, seed: seed)
            let trapped16 = TileKernelHarness.run(c, roundOutput: true, nanInput: true, on: .trapped, seed: seed)
            let first = trapped16.output.indices.first {
                trapped16.output[$0].bitPattern != model16.output[$0].bitPattern
            }
            XCTAssertNil(first, "case \(index), bfloat16 outputs: output [\(first ?? 0)] differs from the model's")
            XCTAssertLessThan(
                model16.output.filter { !$0.isNaN }.count, model.output.filter { !$0.isNaN }.count,
                "case \(index): no output read the NaN input")
        }
        assertTrapped(since: before)
    }

    /// The weight-gradient cases: the same bits as the model, 0.5 kept outside the blocks, within
    /// the bound against Double; also with the batch's grid positions in chunks of 32 (dW's tiles
    /// stored and loaded again around every chunk), against the model's one chunk.
    func testWeightGradientSameBitsAsTheModel() {
        for (index, c) in TileKernelHarness.weightCases.enumerated() {
            let seed = 7300 + UInt64(index)
            for accumulate in [true, false] {
                let model = TileKernelHarness.checkWeightGradient(c, accumulate: accumulate, seed: seed)
                for positions in [0, 32] {
                    let trapped = TileKernelHarness.checkWeightGradient(
                        c, positions: positions, on: .trapped, accumulate: accumulate, seed: seed)
                    let first = trapped.indices.first { trapped[$0].bitPattern != model[$0].bitPattern }
                    XCTAssertNil(
                        first,
                        "case \(index), chunks of \(positions), accumulate \(accumulate): dW[\(first ?? 0)] differs from the model's"
                    )
                }
            }
        }
    }

    /// Four threads at once, each its own case: each thread's tiles stay its own.
    func testThreadsKeepTheirOwnTiles() {
        let cases = Array(TileKernelHarness.forwardCases.prefix(4))
        let models = cases.enumerated().map { TileKernelHarness.run($1, seed: 7400 + UInt64($0)).output }
        // Each thread counts the outputs of its case that differ from the model's.
        var differences = [Int](repeating: -1, count: cases.count)
        differences.withUnsafeMutableBufferPointer { buffer in
            let shared = TaskShared(buffer.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: cases.count) { index in
                let trapped = TileKernelHarness.run(cases[index], on: .trapped, seed: 7400 + UInt64(index))
                shared.buffers[index] =
                    zip(trapped.output, models[index]).filter { $0.bitPattern != $1.bitPattern }.count
            }
        }
        XCTAssertEqual(differences, [Int](repeating: 0, count: cases.count))
    }

    /// A 1×1 head fused into a convolution's stores on the tile unit's compilation (its AVX-512
    /// form of the block outputs the head reads, two 16-channel blocks at a time from 32 features
    /// on: 48 and 64 here; the U-Net step below has 16) gives the model's logits, bit for bit.
    func testFusedHeadSameBitsAsTheModel() throws {
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no AVX512-BF16: the head fuses on bfloat16 passes only")
        try BFloat16Arithmetic.with(.tiles) {
            for features in [48, 64] {
                var generator = SeededGenerator(seed: 97)
                var convolution = try Convolution<Float>(
                    kernelSize: [3, 3], inputChannels: 32, outputChannels: features, padding: .same,
                    generator: &generator)
                convolution.bias = randomTensor([features], seed: 98).converted(to: Float.self)
                convolution.settings.precision = .bfloat16
                // The head's kernel, [classes × features], and its bias.
                let weight = randomTensor([3 * features], seed: 99).converted(to: Float.self).scalars
                let bias: [Float] = [0.5, -0.25, 0.125]
                let x = randomTensor([2, 9, 11, 32], seed: 100).converted(to: Float.self)
                let logits = {
                    try weight.withUnsafeBufferPointer { w in
                        try bias.withUnsafeBufferPointer { b in
                            let head = FusedHead(weight: w.baseAddress!, bias: b.baseAddress!, classes: 3)
                            return try convolution.forward(.parts([x]), rectified: true, head: head).scalars
                        }
                    }
                }
                let model = try logits()
                let (calls, products) = (dk_conv_tile_calls(1), trappedProducts)
                let trapped: [Float]
                do {
                    dk_amx_route_to_tile_unit(1)
                    defer { dk_amx_route_to_tile_unit(0) }
                    trapped = try logits()
                }
                XCTAssertGreaterThan(dk_conv_tile_calls(1), calls, "the tile unit's compilation did not run")
                assertTrapped(since: products)
                XCTAssertEqual(trapped.map(\.bitPattern), model.map(\.bitPattern), "\(features) features")
            }
        }
    }

    /// One U-Net forward and backward pass in bfloat16 with the tile arithmetic (the network and
    /// batch of UNetBFloat16Tests): the logits, then every trainable parameter's gradient, then
    /// the logits of an evaluation pass (whose last convolution applies the head in its stores).
    private func unetStep() throws -> [[Float]] {
        let configuration = UNetConfiguration(inputChannels: 3, classes: 2, baseWidth: 16, depth: 2)
        let data = try SegmentationDataset.syntheticPolyps(count: 4, seed: 21, configuration: .init(size: 32))
        let batch = try XCTUnwrap(try data.batches(size: 4).makeIterator().next())
        let loss = LossKind.diceCE.loss(classes: configuration.classes)
        let target = SegmentationTarget<Float>.labels(try LabelMap(shape: batch.labelShape, int32Labels: batch.labels))
        let model = try UNet<Float>(configuration, seed: 5)
        model.precision = .bfloat16
        // Biases that are not zero (a fresh network's are), so that the stores' additions count.
        for (index, bias) in model.parameters.trainable.filter({ $0.name.hasSuffix("bias") }).enumerated() {
            bias.value = randomTensor(bias.value.shape, seed: 60 + UInt64(index)).converted(to: Float.self)
        }
        model.parameters.zeroGradients()
        let logits = try model.forward(batch.images, mode: .training)
        _ = try model.backward(try XCTUnwrap(try loss.evaluate(logits, target: target, gradient: true).gradient))
        let evaluation = try model.forward(batch.images, mode: .evaluation)
        return [logits.scalars] + model.parameters.trainable.map(\.gradient.scalars) + [evaluation.scalars]
    }

    /// The whole data flow: a U-Net training step and an evaluation pass with the tile arithmetic,
    /// their convolutions (forward, input and weight gradients, up-sampling, the fused head)
    /// routed to the tile unit's compilation and
    /// run by the worker pool's threads, gives the bits of the same step on the model.
    func testUNetStepSameBitsAsTheModel() throws {
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no AVX512-BF16: the U-Net runs in Float here")
        try BFloat16Arithmetic.with(.tiles) {
            let model = try unetStep()
            let (calls, products) = (dk_conv_tile_calls(1), trappedProducts)
            dk_amx_route_to_tile_unit(1)
            defer { dk_amx_route_to_tile_unit(0) }
            let trapped = try unetStep()
            XCTAssertGreaterThan(dk_conv_tile_calls(1), calls, "the tile unit's compilation did not run")
            assertTrapped(since: products)
            XCTAssertEqual(trapped.count, model.count)
            for (index, (a, b)) in zip(trapped, model).enumerated() {
                let what =
                    index == 0 ? "logits" : index == model.count - 1 ? "evaluation logits" : "gradient \(index - 1)"
                XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), what)
            }
        }
    }
}
