// The engine's invariants: tiling, workers and the workspace bound change nothing but rounding;
// im2col and col2im are adjoint and match a direct definition; weight layouts round-trip;
// the initialisers have the documented spread.

import XCTest

@testable import DiceKit

final class ConvolutionEngineTests: XCTestCase {
    func testTilingWorkersAndWorkspaceDoNotChangeResults() throws {
        let x = randomTensor([3, 9, 10, 5], seed: 200)
        let w = randomTensor([3, 3, 5, 4], seed: 201)
        let b = randomTensor([4], seed: 202)
        let r = randomTensor([3, 9, 10, 4], seed: 203)
        let reference = try Convolution(
            weight: w, bias: b, padding: .same, settings: ConvolutionSettings(tileRows: 4096, workers: 1))
        let y0 = try reference.forward(x)
        let g0 = try reference.backward(input: x, outputGradient: r)
        let variants = [
            ConvolutionSettings(tileRows: 7, workers: 1),
            ConvolutionSettings(tileRows: 13, workers: 2), // samples split 1 + 2
            ConvolutionSettings(workers: 3), // one sample per worker
            ConvolutionSettings(tileRows: 11, workers: 5), // more workers than samples: private buffers
            ConvolutionSettings(workspaceLimit: 1), // one lowered row per tile
            ConvolutionSettings(),
        ]
        for settings in variants {
            var conv = reference
            conv.settings = settings
            assertClose(
                try conv.forward(x), y0, relativeTolerance: 1e-12, absoluteTolerance: 1e-12, "forward \(settings)")
            let g = try conv.backward(input: x, outputGradient: r)
            assertClose(g.input!, g0.input!, relativeTolerance: 1e-12, absoluteTolerance: 1e-12, "∂x \(settings)")
            assertClose(g.weight, g0.weight, relativeTolerance: 1e-12, absoluteTolerance: 1e-12, "∂w \(settings)")
            assertClose(g.bias!, g0.bias!, relativeTolerance: 1e-12, absoluteTolerance: 1e-12, "∂b \(settings)")
        }
    }

    func testTileRowsRespectTheWorkspaceBound() {
        let settings = ConvolutionSettings(workspaceLimit: 1 << 20)
        // 1152 Float columns (3×3×128): at most 1 MiB / (4608 B × 2 workers) = 113 rows.
        XCTAssertEqual(settings.tileRows(patch: 1152, elementSize: 4, workers: 2), 113)
        XCTAssertEqual(ConvolutionSettings().tileRows(patch: 27, elementSize: 4, workers: 2), 1024)
        // Automatic: one L2 of lowered tile (227 rows of 4608 B in 1 MiB, raised to 256; 455 in 2 MiB).
        let l2 = ConvBlocking.current.l2
        XCTAssertEqual(
            ConvolutionSettings().tileRows(patch: 1152, elementSize: 4, workers: 2), min(max(l2 / 4608, 256), 1024))
        if l2 == 1 << 20 {
            XCTAssertEqual(ConvolutionSettings().tileRows(patch: 1152, elementSize: 4, workers: 2), 256)
        }
        XCTAssertEqual(ConvolutionSettings(workspaceLimit: 10).tileRows(patch: 1152, elementSize: 4, workers: 2), 1)
    }

    func testIm2colMatchesTheIndexMapping() throws {
        let x = randomTensor([2, 5, 6, 3], seed: 210)
        let padding = Padding.explicit(before: [1, 0], after: [0, 2])
        let col = try Lowering.im2col(x, kernelSize: [2, 3], stride: [2, 1], padding: padding, dilation: [1, 2])
        // OH = ⌊(5 + 1 − 1·1 − 1)/2⌋ + 1 = 3, OW = ⌊(6 + 2 − 2·2 − 1)/1⌋ + 1 = 4.
        XCTAssertEqual(col.shape, [2 * 3 * 4, 2 * 3 * 3])
        for n in 0..<2 {
            for oh in 0..<3 {
                for ow in 0..<4 {
                    for kh in 0..<2 {
                        for kw in 0..<3 {
                            for c in 0..<3 {
                                let (ih, iw) = (oh * 2 - 1 + kh, ow - 0 + kw * 2)
                                let expected = (0..<5).contains(ih) && (0..<6).contains(iw) ? x[n, ih, iw, c] : 0
                                XCTAssertEqual(col[(n * 3 + oh) * 4 + ow, (kh * 3 + kw) * 3 + c], expected)
                            }
                        }
                    }
                }
            }
        }
    }

    func testCol2imAndCol2volAreAdjoints() throws {
        // ⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩ for every x and c.
        let x = randomTensor([2, 5, 6, 3], seed: 220)
        let col = try Lowering.im2col(x, kernelSize: [3, 2], stride: [1, 2], padding: .same, dilation: [2, 1])
        let c = randomTensor(col.shape, seed: 221)
        let back = try Lowering.col2im(
            c, inputShape: x.shape, kernelSize: [3, 2], stride: [1, 2], padding: .same, dilation: [2, 1])
        XCTAssertEqual(dot(col, c), dot(x, back), accuracy: 1e-10)

        let v = randomTensor([1, 4, 3, 5, 2], seed: 222)
        let vcol = try Lowering.vol2col(v, kernelSize: [2, 2, 3], stride: [2, 1, 1], padding: .symmetric([1, 0, 1]))
        XCTAssertEqual(vcol.shape, [1 * 3 * 2 * 5, 2 * 2 * 3 * 2])
        let vc = randomTensor(vcol.shape, seed: 223)
        let vback = try Lowering.col2vol(
            vc, inputShape: v.shape, kernelSize: [2, 2, 3], stride: [2, 1, 1], padding: .symmetric([1, 0, 1]))
        XCTAssertEqual(dot(vcol, vc), dot(v, vback), accuracy: 1e-10)
    }

    func testConvolutionIsIm2colTimesWeight() throws {
        let x = randomTensor([2, 6, 5, 3], seed: 230)
        let w = randomTensor([3, 3, 3, 4], seed: 231)
        let conv = try Convolution(weight: w, stride: [2], padding: .same)
        let col = try Lowering.im2col(x, kernelSize: [3, 3], stride: [2], padding: .same)
        let product = try BLAS.matmul(col, try w.reshaped(to: [27, 4]))
        assertClose(
            try conv.forward(x).reshaped(to: product.shape), product, relativeTolerance: 1e-13, absoluteTolerance: 1e-13
        )
    }

    func testPointwiseMatchesGeneralPath() throws {
        // A 1×1 stride-1 unpadded kernel takes the no-copy path (the input is the lowered
        // matrix, read with row stride Cin); compare with the definition, group by group.
        let x = randomTensor([2, 4, 3, 6], seed: 240)
        let w = randomTensor([1, 1, 3, 4], seed: 241)
        let conv = try Convolution(weight: w, groups: 2)
        let y = try conv.forward(x)
        for n in 0..<2 {
            for h in 0..<4 {
                for wi in 0..<3 {
                    for o in 0..<4 {
                        let g = o / 2
                        var expected = 0.0
                        for c in 0..<3 { expected += x[n, h, wi, g * 3 + c] * w[0, 0, c, o] }
                        XCTAssertEqual(y[n, h, wi, o], expected, accuracy: 1e-12)
                    }
                }
            }
        }
    }

    func testWeightLayoutRoundTripsAndMatchesPyTorchIndexing() throws {
        let torch = randomTensor([4, 3, 2, 5], seed: 250) // [out, in, kh, kw]
        let ours = try WeightLayout.fromPyTorch(torch)
        XCTAssertEqual(ours.shape, [2, 5, 3, 4])
        XCTAssertEqual(ours[1, 3, 2, 0], torch[0, 2, 1, 3])
        XCTAssertEqual(try WeightLayout.toPyTorch(ours), torch)
        let volume = randomTensor([2, 3, 2, 2, 3], seed: 251)
        XCTAssertEqual(try WeightLayout.toPyTorch(try WeightLayout.fromPyTorch(volume)), volume)
        // Float takes its own concrete code (`permute` dispatches on the scalar type).
        let single = try Tensor<Float>(shape: torch.shape, scalars: torch.scalars.map { Float($0) })
        let singleOurs = try WeightLayout.fromPyTorch(single)
        XCTAssertEqual(singleOurs.scalars, ours.scalars.map { Float($0) })
        XCTAssertEqual(try WeightLayout.toPyTorch(singleOurs), single)
    }

    /// A kernel larger than one range of the worker pool (147 k values, several ranges of j):
    /// every element lands where the index formula puts it, both ways, as for a small kernel.
    func testWeightLayoutOfALargeKernelSplitAcrossWorkers() throws {
        let (cout, cin, kh, kw) = (64, 256, 3, 3)
        let torch = randomTensor([cout, cin, kh, kw], seed: 252)
        let ours = try WeightLayout.fromPyTorch(torch)
        XCTAssertEqual(ours.shape, [kh, kw, cin, cout])
        var misplaced = 0
        for o in 0..<cout {
            for c in 0..<cin {
                for y in 0..<kh {
                    for x in 0..<kw where ours[y, x, c, o] != torch[o, c, y, x] { misplaced += 1 }
                }
            }
        }
        XCTAssertEqual(misplaced, 0)
        XCTAssertEqual(try WeightLayout.toPyTorch(ours), torch)
    }

    /// A kernel gradient added into its parameter's gradient in PyTorch's layout in one pass
    /// (each training step's `ConvolutionLayer.backward`) gives the bits of converting it, then
    /// adding: 2-D across several ranges of the worker pool, 1-D and 3-D; and two backward passes
    /// of a layer add up.
    func testKernelGradientAddedInPyTorchLayoutIsTheConvertedSum() throws {
        for (shape, seed) in [([3, 3, 256, 64], 253), ([5, 6, 7], 254), ([2, 3, 2, 5, 4], 255)] as [([Int], UInt64)] {
            let gradient = randomTensor(shape, seed: seed)
            let initial = try WeightLayout.toPyTorch(randomTensor(shape, seed: seed + 10))
            var sum = initial
            gradient.withUnsafeBufferPointer { source in
                sum.withUnsafeMutableBufferPointer { target in
                    WeightLayout.addToPyTorch(source.baseAddress!, shape: shape, into: target.baseAddress!)
                }
            }
            let expected = initial + (try WeightLayout.toPyTorch(gradient))
            XCTAssertEqual(sum.shape, expected.shape)
            XCTAssertEqual(sum.scalars.map(\.bitPattern), expected.scalars.map(\.bitPattern), "\(shape)")
        }
        var generator = SeededGenerator(seed: 256)
        let layer = try ConvolutionLayer<Double>(
            kernelSize: [3, 3], inputChannels: 3, outputChannels: 5, generator: &generator)
        let x = randomTensor([2, 6, 6, 3], seed: 257)
        let dy = randomTensor([2, 6, 6, 5], seed: 258)
        _ = try layer.forward(x, mode: .training)
        _ = try layer.backward(dy)
        let once = layer.weight.gradient
        _ = try layer.forward(x, mode: .training)
        _ = try layer.backward(dy)
        XCTAssertEqual(layer.weight.gradient, once + once)
        let direct = try Convolution(
            weight: WeightLayout.fromPyTorch(layer.weight.value), bias: layer.bias.value, padding: .same
        )
        .backward(input: x, outputGradient: dy)
        XCTAssertEqual(once, try WeightLayout.toPyTorch(direct.weight))
    }

    /// Float conversions run on the vector kernels of convolution/weight_layout.c (AVX-512) and
    /// weight_layout_avx2.c, at every level the CPU has: every element where the index formula
    /// puts it, both ways, and the in-place addition the sum of each pair, for output channels in
    /// whole blocks of 16 and of 8 and not (masked or scalar rows), tap counts that do and do not
    /// divide 16 or 8 (masked or scalar columns), 1-D to 3-D, in one range of the worker pool and
    /// several.
    func testFloatKernelLayoutsOnTheVectorKernels() throws {
        for isa in InstructionSet.available {
            try KernelDispatch.withInstructionSet(isa) { try checkFloatKernelLayouts() }
        }
    }

    private func checkFloatKernelLayouts() throws {
        let shapes: [[Int]] = [
            [64, 256, 3, 3], [48, 32, 3, 3], [20, 7, 2, 3], [5, 3, 4], [33, 16, 3, 3, 3], [16, 600, 1, 1],
        ]
        for (index, torchShape) in shapes.enumerated() {
            let seed = 270 + UInt64(index)
            let torch = randomTensor(torchShape, seed: seed).converted(to: Float.self)
            let (a, b) = (torchShape[0], torchShape[1])
            let k = torchShape[2...].reduce(1, *)
            let ours = try WeightLayout.fromPyTorch(torch)
            XCTAssertEqual(ours.shape, Array(torchShape[2...]) + [b, a])
            let (pt, dk) = (torch.scalars, ours.scalars)
            var misplaced = 0
            for i in 0..<a {
                for j in 0..<b {
                    for t in 0..<k where dk[(t * b + j) * a + i] != pt[(i * b + j) * k + t] { misplaced += 1 }
                }
            }
            XCTAssertEqual(misplaced, 0, "fromPyTorch \(torchShape)")
            XCTAssertEqual(try WeightLayout.toPyTorch(ours), torch, "toPyTorch \(torchShape)")
            let initial = randomTensor(torchShape, seed: seed + 100).converted(to: Float.self)
            var sum = initial
            ours.withUnsafeBufferPointer { source in
                sum.withUnsafeMutableBufferPointer { target in
                    WeightLayout.addToPyTorch(source.baseAddress!, shape: ours.shape, into: target.baseAddress!)
                }
            }
            XCTAssertEqual(
                sum.scalars.map(\.bitPattern), zip(initial.scalars, pt).map { ($0 + $1).bitPattern },
                "addToPyTorch \(torchShape)")
        }
    }

    /// A gradient that `zeroGradient()` zeroed keeps its zeros pending until it is read: a
    /// convolution's backward pass writes 0 + its kernel gradient over storage that still holds
    /// the last step's values, without reading them, the bits of adding into zeros (a −0 becomes
    /// +0, whole 16 × 16 blocks and masked tails alike), and a read in between sees zeros. Float
    /// (the vector kernels) and Double.
    func testZeroedGradientIsOverwrittenWithoutBeingRead() throws {
        for isa in InstructionSet.available {
            try KernelDispatch.withInstructionSet(isa) { try checkZeroedGradient() }
        }
    }

    private func checkZeroedGradient() throws {
        for torchShape in [[64, 256, 3, 3], [20, 7, 2, 3]] {
            var source = try WeightLayout.fromPyTorch(randomTensor(torchShape, seed: 290).converted(to: Float.self))
            source.withUnsafeMutableBufferPointer { s in
                for i in stride(from: 0, to: s.count, by: 5) { s[i] = -0.0 }
            }
            let converted = try WeightLayout.toPyTorch(source)
            var target = Tensor<Float>(shape: torchShape, repeating: 7)
            source.withUnsafeBufferPointer { s in
                target.withUnsafeMutableBufferPointer { t in
                    WeightLayout.addToPyTorch(s.baseAddress!, shape: source.shape, into: t.baseAddress!, toZero: true)
                }
            }
            XCTAssertEqual(
                target.scalars.map(\.bitPattern), converted.scalars.map { (0 + $0).bitPattern }, "\(torchShape)")
            XCTAssertTrue(target.scalars.allSatisfy { $0.sign == .plus || $0 != 0 }, "no −0 left")
        }
        func check<T: BLASScalar>(_: T.Type, seed: UInt64) throws {
            var generator = SeededGenerator(seed: seed)
            let layer = try ConvolutionLayer<T>(
                kernelSize: [3, 3], inputChannels: 16, outputChannels: 32, generator: &generator)
            let x = randomTensor([2, 8, 9, 16], seed: seed + 1).converted(to: T.self)
            let dy = randomTensor([2, 8, 9, 32], seed: seed + 2).converted(to: T.self)
            _ = try layer.forward(x, mode: .training)
            _ = try layer.backward(dy)
            let once = (layer.weight.gradient, layer.bias.gradient)
            XCTAssertGreaterThan(once.0.scalars.filter { $0 != 0 }.count, 0)
            layer.weight.zeroGradient()
            layer.bias.zeroGradient()
            _ = try layer.forward(x, mode: .training)
            _ = try layer.backward(dy)
            XCTAssertEqual(layer.weight.gradient, once.0, "\(T.self): the kernel gradient, not added to the last")
            XCTAssertEqual(layer.bias.gradient, once.1, "\(T.self): the bias gradient")
            layer.weight.zeroGradient()
            XCTAssertTrue(layer.weight.gradient.scalars.allSatisfy { $0 == 0 }, "\(T.self): zeros when read")
            _ = try layer.forward(x, mode: .training)
            _ = try layer.backward(dy)
            XCTAssertEqual(layer.weight.gradient, once.0, "\(T.self): added to the zeros read")
        }
        try check(Float.self, seed: 291)
        try check(Double.self, seed: 292)
    }

    func testInitialisersHaveTheDocumentedSpread() throws {
        var generator = SeededGenerator(seed: 260)
        let shape = [3, 3, 64, 32] // fan-in 576, fan-out 288
        XCTAssertEqual(try Initializer.fans(of: shape).fanIn, 576)
        XCTAssertEqual(try Initializer.fans(of: shape).fanOut, 288)
        func std(_ t: Tensor<Double>) -> Double {
            let mean = t.mean()
            return (t.scalars.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(t.count)).squareRoot()
        }
        let heNormal: Tensor<Double> = try Initializer.he(shape: shape, generator: &generator)
        XCTAssertEqual(std(heNormal), (2.0 / 576).squareRoot(), accuracy: 0.02 * (2.0 / 576).squareRoot())
        let heUniform: Tensor<Double> = try Initializer.he(shape: shape, distribution: .uniform, generator: &generator)
        let heBound = (6.0 / 576).squareRoot()
        XCTAssertLessThanOrEqual(heUniform.max()!, heBound)
        XCTAssertGreaterThan(heUniform.max()!, 0.99 * heBound)
        let glorotUniform: Tensor<Double> = try Initializer.glorot(shape: shape, generator: &generator)
        let glorotBound = (6.0 / (576 + 288)).squareRoot()
        XCTAssertLessThanOrEqual(glorotUniform.max()!, glorotBound)
        XCTAssertGreaterThanOrEqual(glorotUniform.min()!, -glorotBound)
        XCTAssertEqual(std(glorotUniform), glorotBound / 3.0.squareRoot(), accuracy: 0.02 * glorotBound)
        let glorotNormal: Tensor<Double> = try Initializer.glorot(
            shape: shape, distribution: .normal, gain: 2, generator: &generator)
        XCTAssertEqual(std(glorotNormal), 2 * (2.0 / 864).squareRoot(), accuracy: 0.02 * 2 * (2.0 / 864).squareRoot())
        let leaky: Tensor<Double> = try Initializer.he(
            shape: shape, negativeSlope: 1, mode: .fanOut, generator: &generator)
        XCTAssertEqual(std(leaky), (1.0 / 288).squareRoot(), accuracy: 0.02 * (1.0 / 288).squareRoot())
        XCTAssertThrowsError(try Initializer.he(shape: [3], generator: &generator) as Tensor<Float>)
    }

    func testFloatAndDoubleAgree() throws {
        let x = randomTensor([2, 6, 7, 3], seed: 270)
        let w = randomTensor([3, 3, 3, 5], seed: 271)
        let yd = try Convolution(weight: w, padding: .same).forward(x)
        let yf = try Convolution(weight: w.converted(to: Float.self), padding: .same).forward(
            x.converted(to: Float.self))
        assertClose(yf, yd.converted(to: Float.self), relativeTolerance: 1e-5, absoluteTolerance: 1e-5)
    }
}

final class AllocationPolicyTests: XCTestCase {
    func testGlibcAcceptsTheRetainPolicy() throws {
        #if canImport(Glibc)
            // AddressSanitizer (`make sanitize`) replaces malloc; its mallopt accepts nothing.
            try XCTSkipIf(
                dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__asan_init") != nil, "malloc is AddressSanitizer's")
            XCTAssertTrue(AllocationPolicy.retainLargeBlocks())
            // Large allocations still work and are writable afterwards.
            var big = [Float](repeating: 1, count: 8 << 20)
            big[big.count - 1] = 2
            XCTAssertEqual(big.reduce(0, +), Float(8 << 20) + 1)
            // A block above glibc's 32 MiB threshold is not mapped on its own either: malloc's
            // chunk header (the size word before the block) has no IS_MMAPPED bit (0x2).
            let block = try XCTUnwrap(malloc(48 << 20))
            defer { free(block) }
            let header = block.load(fromByteOffset: -MemoryLayout<Int>.size, as: Int.self)
            XCTAssertEqual(header & 0x2, 0, "a 48 MiB block was mapped on its own (chunk header \(header))")
            block.storeBytes(of: 1, toByteOffset: (48 << 20) - 1, as: UInt8.self)
        #endif
    }
}
