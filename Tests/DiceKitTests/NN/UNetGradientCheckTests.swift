// The whole U-Net's backward pass against central finite differences in Double: the softmax
// Dice + cross-entropy loss (the default training objective) on label targets, differentiated
// with respect to every parameter tensor and the input, in 2-D and 3-D, for each normalisation
// (none, batch, instance, group) and activation (ReLU, leaky ReLU 0.01), in training mode.
//
// Sampling: per tensor, the entry with the largest analytic gradient plus up to three seeded
// random entries (every tensor is covered; checking all ~10⁴ entries would take minutes in a
// debug build). Error: |analytic − numeric| / max(largest |analytic| of the tensor, 1e-2 of the
// network's largest gradient). The floor is for the convolution biases in front of batch or
// instance normalisation, whose gradient is zero in exact arithmetic: there the analytic value
// is ~1e-17 and the central difference is its rounding noise, ε·|L|/h ≈ 1e-10, which must not
// be divided by the tensor's own (noise) scale.
//
// Step h = 1e-6: truncation h²·|f‴| ~ 1e-12 and rounding ε·|L|/h ~ 1e-10, far below the
// bound. Kinks: ReLU, leaky ReLU and max pooling are not differentiable where a pre-activation
// is 0 or two window entries tie, and a central difference straddling one is wrong. Inputs and
// weights are seeded normals in Double (no exact zeros or ties), and the ±1e-6 step crosses a
// kink only if a pre-activation lies within about 1e-6 of it; the seeds below were checked to
// give no crossing (a crossing shows as an error of 1e-3 or more, not as a small drift).
// Observed on an AMD EPYC (Zen 5): worst error 1.5e-7 over the 16 configurations (a bias in
// front of instance normalisation, i.e. rounding noise), 1e-7 elsewhere; bound 1e-6. The two
// tests take about 7 s in a debug build.

import XCTest

@testable import DiceKit

final class UNetGradientCheckTests: XCTestCase {
    private static let normalizations: [NormalizationKind] = [.none, .batch, .instance, .group(groups: 2)]
    private static let activations: [ActivationKind] = [.relu, .leakyReLU(slope: 0.01)]

    /// The worst sampled error of one configuration (see the file comment), with its tensor's name.
    private func worstError(_ configuration: UNetConfiguration, batch: Int, extent: Int, seed: UInt64) throws -> (
        Double, String
    ) {
        let model = try UNet<Double>(configuration, seed: seed)
        model.computesInputGradient = true
        var generator = SeededGenerator(seed: seed &+ 1)
        // Normalisation weights and biases away from PyTorch's 1 and 0, so their gradients are generic.
        for parameter in model.parameters.trainable where parameter.value.rank == 1 {
            for i in 0..<parameter.value.count { parameter.value.scalars[i] += 0.3 * (generator.nextUnit() - 0.5) }
        }
        let spatial = Array(repeating: extent, count: configuration.spatialRank)
        let input = Tensor<Double>.normal([batch] + spatial + [configuration.inputChannels], generator: &generator)
        let labels = try LabelMap(
            shape: [batch] + spatial,
            labels: (0..<(batch * spatial.reduce(1, *))).map { _ in
                Int(generator.next() % UInt64(configuration.classes))
            })
        var loss = DiceLoss(variant: .dice, activation: .softmax)
        loss.crossEntropyWeight = 1

        func value(_ x: Tensor<Double>) throws -> Double {
            try loss.evaluate(try model.forward(x, mode: .training), target: .labels(labels)).value
        }
        model.parameters.zeroGradients()
        let result = try loss.evaluate(
            try model.forward(input, mode: .training), target: .labels(labels), gradient: true)
        let inputGradient = try XCTUnwrap(try model.backward(result.gradient!))
        XCTAssertEqual(inputGradient.shape, input.shape)

        var tensors: [(name: String, analytic: Tensor<Double>, probe: (Int, Double) throws -> Double)] = []
        for parameter in model.parameters.trainable {
            tensors.append(
                (
                    parameter.name, parameter.gradient,
                    { i, h in
                        let original = parameter.value.scalars[i]
                        parameter.value.scalars[i] = original + h
                        let plus = try value(input)
                        parameter.value.scalars[i] = original - h
                        let minus = try value(input)
                        parameter.value.scalars[i] = original
                        return (plus - minus) / (2 * h)
                    }
                ))
        }
        tensors.append(
            (
                "input", inputGradient,
                { i, h in
                    var probe = input
                    probe.scalars[i] = input.scalars[i] + h
                    let plus = try value(probe)
                    probe.scalars[i] = input.scalars[i] - h
                    let minus = try value(probe)
                    return (plus - minus) / (2 * h)
                }
            ))

        let networkScale = tensors.map { $0.analytic.scalars.map(abs).max() ?? 0 }.max() ?? 0
        XCTAssertGreaterThan(networkScale, 0, "vacuous gradient")
        var worst = (0.0, "")
        var sampler = SeededGenerator(seed: seed &+ 2)
        for (name, analytic, probe) in tensors {
            let magnitudes = analytic.scalars.map(abs)
            let scale = max(magnitudes.max() ?? 0, 1e-2 * networkScale)
            var entries = Set([magnitudes.indices.max { magnitudes[$0] < magnitudes[$1] }!])
            for _ in 0..<min(3, analytic.count - 1) { entries.insert(Int(sampler.next() % UInt64(analytic.count))) }
            for i in entries.sorted() {
                let error = abs(analytic.scalars[i] - (try probe(i, 1e-6))) / scale
                if error > worst.0 { worst = (error, "\(name)[\(i)]") }
            }
        }
        return worst
    }

    private func checkAll(spatialRank: Int, depth: Int, extent: Int, inputChannels: Int, classes: Int) throws {
        var report: [String] = []
        for normalization in Self.normalizations {
            for activation in Self.activations {
                let configuration = UNetConfiguration(
                    inputChannels: inputChannels, classes: classes, baseWidth: 4, depth: depth,
                    spatialRank: spatialRank, normalization: normalization, activation: activation)
                let (error, location) = try worstError(configuration, batch: 2, extent: extent, seed: 11)
                let what = "\(spatialRank)-D \(normalization.name) \(activation)"
                XCTAssertLessThanOrEqual(error, 1e-6, "\(what): \(location)")
                report.append("\(what): \(error) at \(location)")
            }
        }
        print(report.joined(separator: "\n"))
    }

    /// 2-D: two 8×8 images of 2 channels, 3 classes, base 4, depth 2 (about 7,400 parameters
    /// besides the normalisation's).
    func testTwoDimensionalUNetMatchesFiniteDifferences() throws {
        try checkAll(spatialRank: 2, depth: 2, extent: 8, inputChannels: 2, classes: 3)
    }

    /// 3-D: two 4×4×4 volumes of 1 channel, 2 classes, base 4, depth 1.
    func testThreeDimensionalUNetMatchesFiniteDifferences() throws {
        try checkAll(spatialRank: 3, depth: 1, extent: 4, inputChannels: 1, classes: 2)
    }
}
