// Evaluation-mode activations handed over on the bfloat16 grid with rounded operands
// (NN/Layers/GriddedHandOver.swift, NN/UNet/UNet+HandOver.swift): an output stored
// rounded is the rounding of the Float output (grid and per-position tiles, K blocks, volumes,
// the scattered up-sampling, every direct level, and the other arithmetics, which round it after
// the pass); an input on the grid is read as it is (an input off the grid shows it: it is not
// rounded), which gives the bits of rounding it; and a chain of layers or a 3-D U-Net gives the
// bits of the same layers with Float tensors between them. Images are not handed over.

import XCTest

@testable import DiceKit

final class GriddedHandOverTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no AVX512-BF16: bfloat16 runs in Float here")
    }

    override func tearDown() {
        try? KernelDispatch.force(nil)
    }

    /// A bfloat16 convolution layer (3×3 or 3×3×3) with a random bias.
    private func convolution(_ cin: Int, _ cout: Int, rank: Int = 2, seed: UInt64) throws -> ConvolutionLayer<Float> {
        var generator = SeededGenerator(seed: seed)
        let layer = try ConvolutionLayer<Float>(
            kernelSize: Array(repeating: 3, count: rank), inputChannels: cin, outputChannels: cout,
            generator: &generator)
        layer.bias.value = randomTensor([cout], seed: seed + 1).converted(to: Float.self)
        layer.precision = .bfloat16
        return layer
    }

    private func random(_ shape: [Int], seed: UInt64) -> Tensor<Float> {
        randomTensor(shape, seed: seed).converted(to: Float.self)
    }

    /// The Float values of the bfloat16 rounding of `tensor`.
    private func rounding(_ tensor: Tensor<Float>) -> Tensor<Float> {
        BFloat16Activation(rounding: tensor).widened()
    }

    /// How many elements of `a` and `b` differ in their bits.
    private func differing(_ a: Tensor<Float>, _ b: Tensor<Float>) -> Int {
        zip(a.scalars, b.scalars).filter { $0.bitPattern != $1.bitPattern }.count
    }

    func testStoredOutputIsTheRoundingOfTheFloatOutput() throws {
        // (input, output channels): grid tiles at 16 and 32 channels with one sample (read in
        // place) and several; per-position tiles at 80; K blocks at 512 input channels (two or
        // more wherever L2 is below 4.5 MiB); a volume.
        let cases: [([Int], Int)] = [
            ([1, 9, 11, 32], 16), ([4, 9, 11, 32], 32), ([2, 6, 7, 16], 80), ([1, 3, 4, 512], 64),
            ([1, 4, 5, 6, 16], 32),
        ]
        for arithmetic in BFloat16Arithmetic.allCases {
            for isa in InstructionSet.available.filter({ $0 >= .avx2 }) {
                try KernelDispatch.force(isa)
                try BFloat16Arithmetic.with(arithmetic) {
                    for (index, (shape, cout)) in cases.enumerated() {
                        let layer = try convolution(shape.last!, cout, rank: shape.count - 2, seed: UInt64(10 + index))
                        let x = random(shape, seed: UInt64(20 + index))
                        let label = "\(arithmetic), \(isa), \(shape) → \(cout)"
                        for relu in [false, true] {
                            let plain = try layer.evaluationForward(.parts([x]), folding: nil, rectified: relu)
                            let stored = try layer.evaluationForward(
                                .parts([x]), folding: nil, rectified: relu, roundsOutput: true)
                            XCTAssertEqual(differing(stored, rounding(plain)), 0, "\(label), relu \(relu)")
                            XCTAssertGreaterThan(differing(stored, plain), 0, "\(label): the output is rounded")
                        }
                    }
                }
            }
        }
    }

    func testUpSamplingStoresTheRoundingOfItsOutput() throws {
        for (rank, shape) in [(2, [2, 5, 6, 32]), (3, [2, 3, 4, 5, 32])] {
            var generator = SeededGenerator(seed: 30)
            let layer = try TransposedConvolutionLayer<Float>(
                kernelSize: Array(repeating: 2, count: rank), inputChannels: 32, outputChannels: 16, stride: [2],
                generator: &generator)
            layer.precision = .bfloat16
            let x = random(shape, seed: 31)
            for arithmetic in BFloat16Arithmetic.allCases {
                try BFloat16Arithmetic.with(arithmetic) {
                    let label = "\(rank)-D, \(arithmetic)"
                    let plain = try layer.forward(x, grid: BFloat16Grid())
                    let stored = try layer.forward(x, grid: BFloat16Grid(output: true))
                    XCTAssertEqual(differing(stored, rounding(plain)), 0, label)
                    // The forward pass rounds its input: handed the rounding on the grid, the same bits.
                    let gridded = try layer.forward(rounding(x), grid: BFloat16Grid(input: true))
                    XCTAssertEqual(differing(gridded, plain), 0, "\(label): an input on the grid")
                    // Volumes only, with rounded operands, are handed over on the grid.
                    XCTAssertEqual(
                        layer.takesGriddedInput(ofShape: x.shape), rank == 3 && arithmetic == .roundedOperands, label)
                }
            }
            // Read as it is: an input off the grid, said to be on it, is not rounded.
            try BFloat16Arithmetic.with(.roundedOperands) {
                let plain = try layer.forward(x, grid: BFloat16Grid())
                XCTAssertGreaterThan(
                    differing(try layer.forward(x, grid: BFloat16Grid(input: true)), plain), 0, "\(rank)-D")
            }
        }
    }

    func testAnInputOnTheGridIsReadAsItIs() throws {
        try BFloat16Arithmetic.with(.roundedOperands) {
            // One sample (read in place), four (padded per sample), a volume, and two parts.
            let cases: [[[Int]]] = [
                [[1, 12, 13, 16]], [[4, 12, 13, 16]], [[1, 6, 7, 8, 16]], [[1, 12, 13, 16], [1, 12, 13, 16]],
            ]
            for (index, shapes) in cases.enumerated() {
                let rank = shapes[0].count - 2
                let channels = shapes.reduce(0) { $0 + $1.last! }
                let layer = try convolution(channels, 32, rank: rank, seed: UInt64(40 + index))
                let parts = shapes.enumerated().map { random($1, seed: UInt64(50 + 2 * index + $0)) }
                let label = "\(shapes)"
                let joined = try Tensor<Float>.concatenatedChannelShape(shapes)
                XCTAssertEqual(layer.takesGriddedInput(ofShape: joined), rank == 3, "\(label): volumes only")
                let plain = try layer.evaluationForward(.parts(parts), folding: nil, rectified: true)
                let gridded = try layer.evaluationForward(
                    .gridded(parts.map(rounding)), folding: nil, rectified: true)
                XCTAssertEqual(differing(gridded, plain), 0, "\(label): the bits of rounding the input")
                let unrounded = try layer.evaluationForward(.gridded(parts), folding: nil, rectified: true)
                XCTAssertGreaterThan(differing(unrounded, plain), 0, "\(label): the input is read as it is")
            }
        }
    }

    func testChainGivesTheBitsOfTheLayersOneAtATime() throws {
        try BFloat16Arithmetic.with(.roundedOperands) {
            for batch in [1, 4] {
                let layers = try [
                    convolution(16, 32, rank: 3, seed: 1), convolution(32, 80, rank: 3, seed: 2),
                    convolution(80, 16, rank: 3, seed: 3),
                ]
                let norm = try BatchNorm<Float>(channels: 32)
                norm.runningMean.value = random([32], seed: 4)
                let x = random([batch, 5, 10, 11, 16], seed: 5)
                XCTAssertTrue(try layers[0].evaluationFeedsGridded(.parts([x]), layers[1]), "batch \(batch)")
                let chain = SequentialLayer<Float>([
                    layers[0], norm, ActivationLayer(.relu), layers[1], ActivationLayer(.relu), layers[2],
                ])
                let handed = try chain.forward(x, mode: .evaluation)
                // One at a time: each sequence ends with its convolution, so nothing is handed over.
                var y = try SequentialLayer<Float>([layers[0], norm, ActivationLayer(.relu)]).forward(
                    x, mode: .evaluation)
                y = try SequentialLayer<Float>([layers[1], ActivationLayer(.relu)]).forward(y, mode: .evaluation)
                y = try SequentialLayer<Float>([layers[2]]).forward(y, mode: .evaluation)
                XCTAssertEqual(handed.shape, y.shape)
                XCTAssertEqual(differing(handed, y), 0, "batch \(batch)")
            }
        }
    }

    func testUNetEvaluationGivesTheBitsOfFloatTensorsBetweenLayers() throws {
        try BFloat16Arithmetic.with(.roundedOperands) {
            for (rank, size, batch) in [(2, 32, 1), (3, 16, 1), (3, 16, 3)] {
                var configuration = UNetConfiguration(inputChannels: 1, classes: 3, baseWidth: 16, depth: 2)
                configuration.spatialRank = rank
                let model = try UNet<Float>(configuration, seed: 7)
                model.precision = .bfloat16
                let label = "\(rank)-D, batch \(batch)"
                XCTAssertEqual(model.handsOverGridded(.evaluation), rank == 3, label)
                guard rank == 3 else { continue }
                let x = random([batch] + Array(repeating: size, count: rank) + [1], seed: 8)
                let shape = [batch] + Array(repeating: size / 2, count: rank) + [16]
                XCTAssertTrue(
                    (model.down[1].layers[0] as! ConvolutionLayer<Float>).takesGriddedInput(ofShape: shape),
                    "\(label): the pooled skip goes on the grid")
                let midShape = [batch] + Array(repeating: size / 4, count: rank) + [64]
                XCTAssertTrue(
                    model.up[0].takesGriddedInput(ofShape: midShape), "\(label): mid's output goes on the grid")
                let logits = try model.forward(x, mode: .evaluation)
                // The evaluation path with deep supervision (no heads here) hands nothing over.
                let reference = try model.forwardLayers(x, mode: .evaluation, supervised: true)[0]
                XCTAssertEqual(differing(logits, reference), 0, label)
            }
        }
    }

    func testNothingOnTheGridForAConsumerThatDoesNotRoundItsInput() throws {
        let first = try convolution(16, 16, rank: 3, seed: 1)
        let next = try convolution(16, 16, rank: 3, seed: 2)
        let x = random([2, 6, 6, 6, 16], seed: 3)
        try BFloat16Arithmetic.with(.roundedOperands) {
            XCTAssertTrue(try first.evaluationFeedsGridded(.parts([x]), next))
            let image = try convolution(16, 16, seed: 4)
            XCTAssertFalse(
                try image.evaluationFeedsGridded(.parts([random([2, 6, 6, 16], seed: 5)]), image), "an image")
            next.precision = .float
            XCTAssertFalse(try first.evaluationFeedsGridded(.parts([x]), next), "a Float consumer")
            XCTAssertFalse(try first.evaluationFeedsGridded(.parts([x]), nil), "no consumer")
        }
        next.precision = .bfloat16
        var configuration = UNetConfiguration(inputChannels: 1, classes: 2, baseWidth: 16, depth: 1)
        configuration.spatialRank = 3
        let model = try UNet<Float>(configuration)
        model.precision = .bfloat16
        BFloat16Arithmetic.with(.roundedOperands) {
            XCTAssertTrue(model.handsOverGridded(.evaluation))
            XCTAssertFalse(model.head.takesGriddedInput(ofShape: [1, 8, 8, 8, 16]), "the 1×1 head runs in Float")
            XCTAssertFalse(model.handsOverGridded(.training))
        }
        for arithmetic in [BFloat16Arithmetic.dotProducts, .tiles] {
            try BFloat16Arithmetic.with(arithmetic) {
                XCTAssertFalse(try first.evaluationFeedsGridded(.parts([x]), next), "\(arithmetic)")
                XCTAssertFalse(model.handsOverGridded(.evaluation), "\(arithmetic)")
            }
        }
    }
}
