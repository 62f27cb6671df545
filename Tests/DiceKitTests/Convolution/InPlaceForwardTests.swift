// The direct kernels' stride-1 forward passes read in place (Convolution/InPlaceForward.swift:
// the interior of the unpadded input plus padded border strips) give the bits of the padded
// copy, for the forward pass (bias, ReLU) and the input gradient (wide and few-channel
// kernels), 2-D and 3-D, symmetric and one-sided padding, one and two workers, one sample and
// several (the last sample's per-position tiles), at every level with direct kernels; and the
// plan's border boxes cover every output position once.

internal import CDiceKitKernels
import XCTest

@testable import DiceKit

final class InPlaceForwardTests: XCTestCase {
    override func tearDown() { try? KernelDispatch.force(nil) }

    /// A source pointer for plans, which never read it.
    private let dummy = UnsafePointer(UnsafeMutablePointer<Float>.allocate(capacity: 1))

    private func settings(workers: Int, inPlace: Bool) -> ConvolutionSettings {
        // The direct kernels' plan: not Winograd's padded batch (WinogradTests).
        ConvolutionSettings(workers: workers, readsInPlace: inPlace, allowsWinograd: false)
    }

    /// The forward pass (with and without the ReLU) and the backward pass in place against the
    /// padded copy, bit for bit (the forward pass must have an in-place plan).
    private func check(
        kernel: [Int], cin: Int, cout: Int, spatial: [Int], batch: Int, workers: Int, padding: Padding = .same,
        seed: UInt64, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let weight = randomTensor(kernel + [cin, cout], seed: seed).converted(to: Float.self)
        let bias = randomTensor([cout], seed: seed + 1).converted(to: Float.self)
        let copy = try Convolution(
            weight: weight, bias: bias, padding: padding, settings: settings(workers: workers, inPlace: false))
        var inPlace = copy
        inPlace.settings = settings(workers: workers, inPlace: true)
        let x = randomTensor([batch] + spatial + [cin], seed: seed + 2).converted(to: Float.self)
        XCTAssertNotNil(
            try plan(copy, input: x.shape), "no in-place plan: the copy would meet itself", file: file, line: line)
        let label = "kernel \(kernel), \(cin)→\(cout), \(spatial), batch \(batch), \(workers) workers"
        for rectified in [false, true] {
            let expected = try copy.forward(x, rectified: rectified)
            let actual = try inPlace.forward(x, rectified: rectified)
            assertSameBits(actual, expected, "y, rectified \(rectified), \(label)", file: file, line: line)
        }
        let dy = randomTensor(try copy.outputShape(for: x.shape), seed: seed + 3).converted(to: Float.self)
        let expected = try copy.backward(input: x, outputGradient: dy)
        let actual = try inPlace.backward(input: x, outputGradient: dy)
        assertSameBits(
            try XCTUnwrap(actual.input), try XCTUnwrap(expected.input), "dx, \(label)", file: file, line: line)
        assertSameBits(actual.weight, expected.weight, "dW, \(label)", file: file, line: line)
    }

    /// Fails with the first position whose bits differ (not the whole tensors).
    private func assertSameBits(
        _ actual: Tensor<Float>, _ expected: Tensor<Float>, _ label: String, file: StaticString, line: UInt
    ) {
        XCTAssertEqual(actual.shape, expected.shape, label, file: file, line: line)
        let (a, e) = (actual.scalars, expected.scalars)
        if let i = a.indices.first(where: { a[$0].bitPattern != e[$0].bitPattern }) {
            XCTFail("\(label): element \(i) is \(a[i]), the padded copy gives \(e[i])", file: file, line: line)
        }
    }

    /// The 2-D passes compared: kernel, channels, extents, padding.
    private let planeCases: [(kernel: [Int], cin: Int, cout: Int, spatial: [Int], padding: Padding)] = [
        // 16 and 32 output channels: grid tiles (three-tap with a 3-wide kernel).
        ([3, 3], 16, 16, [20, 26], .same),
        ([3, 3], 32, 32, [19, 24], .same),
        // 48: per-position tiles in K blocks.
        ([3, 3], 16, 48, [17, 18], .same),
        // A first layer on 3 channels: its input gradient on the few-channel kernel.
        ([3, 3], 3, 32, [24, 20], .same),
        // A 5-wide kernel (plain grid tiles), a 2-wide one padded after only, one-sided padding.
        ([5, 5], 16, 16, [40, 44], .same),
        ([2, 2], 16, 32, [12, 14], .same),
        ([3, 3], 16, 16, [18, 21], .explicit(before: [2, 0], after: [0, 1])),
    ]

    func testInPlaceGivesThePaddedCopysBitsAtEveryLevel() throws {
        let levels = InstructionSet.available.filter { $0 != .portable }
        try XCTSkipIf(levels.isEmpty, "no direct kernels on this CPU")
        for isa in levels {
            try KernelDispatch.force(isa)
            for workers in [1, 2] {
                // Batch 1 deals (sample, task) pairs out, batch 4 whole samples per worker.
                for batch in [1, 4] {
                    for (i, c) in planeCases.enumerated() {
                        try check(
                            kernel: c.kernel, cin: c.cin, cout: c.cout, spatial: c.spatial, batch: batch,
                            workers: workers,
                            padding: c.padding, seed: UInt64(i + 1))
                    }
                }
                try check(
                    kernel: [3, 3, 3], cin: 16, cout: 16, spatial: [24, 24, 25], batch: 2, workers: workers, seed: 8)
            }
            XCTAssertEqual(KernelDispatch.lastUsed(.convolution), isa, "\(isa)")
        }
    }

    func testPlansTheInteriorAndBorderOfLargeEnoughOutputs() throws {
        // 3×3 at 16² keeps 196 of 256 positions inside; at 8², 36 of 64.
        XCTAssertNotNil(try plan([16, 16]))
        XCTAssertNil(try plan([8, 8]))
        let p = try XCTUnwrap(plan([20, 26]))
        XCTAssertEqual([p.interior.oh, p.interior.ow, p.interior.yh, p.interior.yw], [18, 24, 20, 26])
        XCTAssertEqual(p.interiorOffset, (26 + 1) * 16)
        // Lines above and below the interior, then its columns left and right.
        XCTAssertEqual(p.strips.map(\.output.origin), [[0, 0, 0], [0, 19, 0], [0, 1, 0], [0, 1, 25]])
        XCTAssertEqual(p.strips.map(\.output.extents), [[1, 1, 26], [1, 1, 26], [1, 18, 1], [1, 18, 1]])
        XCTAssertEqual(p.strips.map(\.geometry.per_position), [0, 0, 1, 1])
        // In 3-D, line strips over several planes take per-position tiles too; planes do not.
        let volume = try XCTUnwrap(plan([24, 20, 26]))
        XCTAssertEqual(volume.strips.map(\.output.extents[1]), [20, 20, 1, 1, 18, 18])
        XCTAssertEqual(volume.strips.map(\.geometry.per_position), [0, 0, 1, 1, 1, 1])
        // Every output position in exactly one box, interior included, in 3-D too.
        for (output, interior) in [
            ([1, 20, 26], PositionBox(origin: [0, 1, 1], extents: [1, 18, 24])),
            ([9, 7, 8], PositionBox(origin: [2, 0, 1], extents: [5, 6, 6])),
        ] {
            var covered = [Int](repeating: 0, count: output.reduce(1, *))
            for box in InPlaceForward.border(output: output, interior: interior) + [interior] {
                for z in box.origin[0]..<(box.origin[0] + box.extents[0]) {
                    for y in box.origin[1]..<(box.origin[1] + box.extents[1]) {
                        for x in box.origin[2]..<(box.origin[2] + box.extents[2]) {
                            covered[(z * output[1] + y) * output[2] + x] += 1
                        }
                    }
                }
            }
            XCTAssertEqual(Set(covered), [1], "\(output)")
        }
    }

    /// A forward pass that reads in place holds a border strip per worker, not a padded copy of
    /// the sample: it runs on the direct kernels under a workspace bound that the copy would
    /// exceed (a large 3-D volume), with the bits of the same pass under no bound; the backward
    /// pass, which pads, takes the lowered path there. The strip capacity is the plan's.
    func testInPlaceForwardFitsAWorkspaceTheCopyWouldExceed() throws {
        try XCTSkipUnless(ConvGeometry.directKernelsAvailable, "no direct kernels on this CPU")
        for (spatial, cin, seed) in [([20, 22], 16, UInt64(60)), ([24, 24, 24], 32, 62)] {
            let kernel = [Int](repeating: 3, count: spatial.count)
            let weight = randomTensor(kernel + [cin, 16], seed: seed).converted(to: Float.self)
            let x = randomTensor([1] + spatial + [cin], seed: seed + 1)
            let unbounded = try Convolution(
                weight: weight, padding: .same, settings: settings(workers: 2, inPlace: true))
            let g = try unbounded.geometry(x.shape)
            let p = try XCTUnwrap(plan(unbounded, input: x.shape))
            // The capacity counted against the bound holds the largest strip the pass pads, and
            // the kernels' read-ahead past it.
            let capacity = InPlaceForward.stripCapacity(
                kernel: g.kernel, inner: g.input, before: g.padBefore, after: g.padAfter, channels: cin)
            let largest = try XCTUnwrap(p.strips.map { $0.read.count }.max())
            XCTAssertEqual(capacity, (largest + 3 + Int(DK_CONV_SLACK_POSITIONS)) * cin, "\(spatial)")
            // A bound that holds a strip per worker, not the padded copy (every axis padded by 2).
            var bounded = unbounded
            bounded.settings.workspaceLimit = 4 * 2 * capacity
            XCTAssertLessThan(bounded.settings.workspaceLimit, 4 * cin * g.input.map { $0 + 2 }.reduce(1, *))
            XCTAssertTrue(
                g.runsDirect(Float.self, inputGradient: false, settings: bounded.settings, forwardOnly: true),
                "\(spatial)")
            XCTAssertFalse(g.runsDirect(Float.self, inputGradient: false, settings: bounded.settings), "\(spatial)")
            var copying = bounded
            copying.settings.readsInPlace = false
            XCTAssertFalse(
                g.runsDirect(Float.self, inputGradient: false, settings: copying.settings, forwardOnly: true),
                "\(spatial)")
            let xf = x.converted(to: Float.self)
            assertSameBits(
                try bounded.forward(xf), try unbounded.forward(xf), "y under the bound, \(spatial)", file: #filePath,
                line: #line)
            // The backward pass on the lowered path, against the Double convolution.
            let dy = randomTensor(try unbounded.outputShape(for: x.shape), seed: seed + 2)
            let reference = try Convolution(weight: weight.converted(to: Double.self), padding: .same)
                .backward(input: x, outputGradient: dy)
            let actual = try bounded.backward(input: xf, outputGradient: dy.converted(to: Float.self))
            let scale = reference.weight.scalars.map(abs).max()!
            let worst = zip(actual.weight.scalars, reference.weight.scalars).map { abs(Double($0) - $1) }.max()!
            XCTAssertLessThanOrEqual(worst, 1e-5 * scale, "dW under the bound, \(spatial)")
        }
    }

    func testReadsPastTheSampleOnlyNearItsEnd() throws {
        let p = try XCTUnwrap(plan([30, 30]))
        // The interior is 28 × 28; its last line's grid tiles read past the 30 × 30 sample.
        XCTAssertFalse(p.readsPastSample(0, 28 * 26))
        XCTAssertTrue(p.readsPastSample(0, 28 * 28))
        // Grid tiles up to the last position that reads nothing past it, then per position.
        let split = p.lastGridPosition(28 * 20, 28 * 28)
        XCTAssertFalse(p.readsPastSample(28 * 20, split))
        XCTAssertTrue(p.readsPastSample(28 * 20, split + 1))
        XCTAssertEqual(p.lastGridPosition(0, 28 * 26), 28 * 26)
    }

    /// The plan of a 3×3 (or, for three extents, 3×3×3) 'same' convolution of one sample of
    /// `spatial` extents, 16 → 16 channels.
    private func plan(_ spatial: [Int]) throws -> InPlaceForward? {
        let kernel = [Int](repeating: 3, count: spatial.count)
        let conv = try Convolution(weight: Tensor<Float>(shape: kernel + [16, 16]), padding: .same)
        return try plan(conv, input: [1] + spatial + [16])
    }

    /// The in-place plan of `conv`'s forward pass on an input of shape `input`.
    private func plan(_ conv: Convolution<Float>, input: [Int]) throws -> InPlaceForward? {
        let g = try conv.geometry(input)
        let source = PaddedSource(
            source: dummy, batch: g.batch, inner: g.input, channels: g.inChannels, before: g.padBefore,
            after: g.padAfter, kernelWidth: g.kernel[2])
        let geometry = dk_conv_geometry(
            hp: source.extents[1], wp: source.extents[2], output: g.output, kernel: g.kernel, cin: g.inChannels,
            cout: g.outChannels)
        return InPlaceForward(geometry, source: source)
    }
}
