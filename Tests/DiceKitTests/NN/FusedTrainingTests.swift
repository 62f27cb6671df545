// Training-mode fusion (SequentialLayer.forward): a convolution or a batch normalisation directly
// followed by a ReLU applies max(0, ·) in its output pass and the ReLU keeps that output for its
// backward pass, and a batch, group or instance normalisation's or a convolution's backward pass
// applies the (leaky) ReLU's after it (the convolution in the pass that sums its bias gradient; a
// batch normalisation's convolution's bias sums made as it writes its input gradient). The
// outputs equal those of the layers run one by one (a zero's sign aside) and every gradient has
// the same bits: in Double, in Float and, on a CPU with AVX512-BF16, in bfloat16 (with the
// activations handed over rounded, the ReLUs keeping bfloat16 outputs).

import XCTest

@testable import DiceKit

final class FusedTrainingTests: XCTestCase {
    /// The normalisation after each convolution of `block`.
    private enum Norm { case none, batch, group, instance }

    /// conv(cin → 16), [normalisation], activation, conv(16 → 16), [normalisation], activation,
    /// from one seed.
    private func block<T: BLASScalar>(
        _: T.Type, cin: Int, precision: ComputePrecision, norm: Norm, activation: ActivationKind, seed: UInt64
    ) throws -> [any Layer<T>] {
        var generator = SeededGenerator(seed: seed)
        var layers: [any Layer<T>] = []
        for i in 0..<2 {
            let conv = try ConvolutionLayer<T>(
                kernelSize: [3, 3], inputChannels: i == 0 ? cin : 16, outputChannels: 16, generator: &generator)
            conv.bias.value = randomTensor([16], seed: seed + 1 + UInt64(i)).converted(to: T.self)
            conv.precision = precision
            layers.append(conv)
            let affine: (weight: Parameter<T>?, bias: Parameter<T>?, layer: any Layer<T>)?
            switch norm {
            case .none: affine = nil
            case .batch:
                let layer = try BatchNorm<T>(channels: 16)
                affine = (layer.weight, layer.bias, layer)
            case .group:
                let layer = try GroupNorm<T>(groups: 4, channels: 16)
                affine = (layer.weight, layer.bias, layer)
            case .instance:
                let layer = try InstanceNorm<T>(channels: 16, affine: true)
                affine = (layer.weight, layer.bias, layer)
            }
            if let affine {
                affine.weight?.value = randomTensor([16], seed: seed + 3 + UInt64(i)).converted(to: T.self)
                affine.bias?.value = randomTensor([16], seed: seed + 7 + UInt64(i)).converted(to: T.self)
                layers.append(affine.layer)
            }
            layers.append(ActivationLayer<T>(activation))
        }
        return layers
    }

    /// The sequence's forward and backward passes (with `handingOverRounded`, the activations
    /// between bfloat16 convolutions stored and kept rounded) against the same layers' one by one.
    private func check<T: BLASScalar>(
        _: T.Type, cin: Int, precision: ComputePrecision, norm: Norm = .none, activation: ActivationKind = .relu,
        handingOverRounded: Bool = false, image: [Int] = [2, 16, 18], seed: UInt64,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let fusedLayers = try block(
            T.self, cin: cin, precision: precision, norm: norm, activation: activation, seed: seed)
        let plainLayers = try block(
            T.self, cin: cin, precision: precision, norm: norm, activation: activation, seed: seed)
        let x = randomTensor(image + [cin], seed: seed + 5).converted(to: T.self)
        let sequence = SequentialLayer<T>(fusedLayers)
        let fused = try sequence.forward(concatenating: [x], mode: .training, handingOverRounded: handingOverRounded)
        var plain = x
        for layer in plainLayers { plain = try layer.forward(plain, mode: .training) }
        // −0 and +0 compare equal: the fused store may keep a −0 that ReLU writes as +0.
        XCTAssertEqual(fused.scalars, plain.scalars, "outputs", file: file, line: line)
        if activation == .relu {
            XCTAssertGreaterThan(
                fused.scalars.filter { $0 == 0 }.count, 0, "some outputs rectified", file: file, line: line)
        } else {
            XCTAssertGreaterThan(fused.scalars.filter { $0 < 0 }.count, 0, "some outputs leaky", file: file, line: line)
        }
        let dy = randomTensor(fused.shape, seed: seed + 6).converted(to: T.self)
        let fusedGradient = try sequence.backward(dy)
        var plainGradient: Tensor<T>? = dy
        for layer in plainLayers.reversed() { plainGradient = try layer.backward(plainGradient!) }
        XCTAssertEqual(fusedGradient?.scalars, plainGradient?.scalars, "input gradient", file: file, line: line)
        for (a, b) in zip(sequence.parameters, plainLayers.flatMap { $0.parameters }) {
            XCTAssertEqual(a.gradient.scalars, b.gradient.scalars, "\(a.name) gradient", file: file, line: line)
        }
        if norm == .group || norm == .instance {
            // Evaluation: the normalisation, which no convolution folds, applies the activation too.
            let evaluated = try sequence.forward(x, mode: .evaluation)
            var expected = x
            for layer in plainLayers { expected = try layer.forward(expected, mode: .evaluation) }
            XCTAssertEqual(evaluated.scalars, expected.scalars, "evaluation", file: file, line: line)
        }
    }

    func testConvolutionAndReLUFuseInTraining() throws {
        try check(Double.self, cin: 3, precision: .float, seed: 60)
        try check(Float.self, cin: 3, precision: .float, seed: 61)
        try check(Float.self, cin: 16, precision: .float, seed: 62)
        // More rows than one chunk of the bias gradient's sums (4096 rows of 16 channels).
        try check(Float.self, cin: 3, precision: .float, image: [2, 48, 50], seed: 69)
        try check(Float.self, cin: 3, precision: .float, activation: .leakyReLU(slope: 0.01), seed: 70)
    }

    func testBatchNormAndReLUFuseInTraining() throws {
        try check(Double.self, cin: 3, precision: .float, norm: .batch, seed: 65)
        try check(Float.self, cin: 3, precision: .float, norm: .batch, seed: 66)
        try check(Float.self, cin: 16, precision: .float, norm: .batch, seed: 67)
        try check(Float.self, cin: 3, precision: .float, norm: .batch, activation: .leakyReLU(slope: 0.01), seed: 71)
        // More rows than one chunk of the convolution's bias sums, which the batch normalisation
        // makes chunk by chunk as it writes its input gradient.
        try check(Float.self, cin: 3, precision: .float, norm: .batch, image: [2, 48, 50], seed: 77)
    }

    /// nnU-Net's block (instance normalisation, leaky ReLU) and group normalisation.
    func testGroupAndInstanceNormAndReLUFuseInTraining() throws {
        let leaky = ActivationKind.leakyReLU(slope: 0.01)
        try check(Double.self, cin: 3, precision: .float, norm: .instance, activation: leaky, seed: 72)
        try check(Float.self, cin: 3, precision: .float, norm: .instance, activation: leaky, seed: 73)
        try check(Float.self, cin: 3, precision: .float, norm: .group, seed: 74)
        try check(Float.self, cin: 16, precision: .float, norm: .group, activation: leaky, seed: 75)
        // More rows per sample than one chunk of the sums.
        try check(
            Float.self, cin: 3, precision: .float, norm: .instance, activation: leaky, image: [2, 48, 50], seed: 76)
    }

    func testBFloat16ConvolutionAndReLUFuseInTraining() throws {
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no AVX512-BF16: the bfloat16 kernels never run here")
        for arithmetic in BFloat16Arithmetic.allCases {
            try BFloat16Arithmetic.with(arithmetic) {
                try check(Float.self, cin: 16, precision: .bfloat16, seed: 63)
                try check(Float.self, cin: 32, precision: .bfloat16, seed: 64)
                try check(
                    Float.self, cin: 16, precision: .bfloat16, norm: .batch, handingOverRounded: true, seed: 68)
                try check(
                    Float.self, cin: 16, precision: .bfloat16, norm: .instance, activation: .leakyReLU(slope: 0.01),
                    handingOverRounded: true, seed: 77)
            }
        }
    }
}
