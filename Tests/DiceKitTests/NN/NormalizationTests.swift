// BatchNorm, InstanceNorm, GroupNorm: statistics, running estimates, and every gradient
// against central finite differences in Double.

import XCTest

@testable import DiceKit

/// Checks input and parameter gradients of `layer` against central differences of
/// L = Σ y·R (R fixed random weights): max |analytic − numeric| ≤ 1e-6 · max |numeric|.
/// Step 1e-5: truncation error O(h²) ≈ 1e-10 and rounding ≈ 1e-16/h ≈ 1e-11, far below 1e-6.
func checkLayerGradients(
    _ layer: some Layer<Double>, input: Tensor<Double>, mode: LayerMode,
    file: StaticString = #filePath, line: UInt = #line
) throws {
    var generator = SeededGenerator(seed: 99)
    let output = try layer.forward(input, mode: mode)
    let weights = Tensor<Double>.normal(output.shape, generator: &generator)
    for parameter in layer.parameters { parameter.zeroGradient() }
    let inputGradient = try XCTUnwrap(try layer.backward(weights))
    func loss(_ x: Tensor<Double>) throws -> Double { (try layer.forward(x, mode: mode) * weights).sum() }
    func compare(_ analytic: Tensor<Double>, _ numeric: Tensor<Double>, _ what: String) {
        let error = scaledError(analytic, numeric)
        XCTAssertLessThanOrEqual(error, 1e-6, "\(what): relative error \(error)", file: file, line: line)
    }
    compare(inputGradient, try finiteDifferenceGradient(at: input, loss), "input gradient")
    for parameter in layer.parameters where parameter.isTrainable {
        let original = parameter.value
        let numeric = try finiteDifferenceGradient(at: original) { value in
            parameter.value = value
            defer { parameter.value = original }
            return try loss(input)
        }
        compare(parameter.gradient, numeric, "gradient of \(parameter.name)")
    }
}

final class NormalizationTests: XCTestCase {
    private func randomInput(_ shape: [Int], seed: UInt64 = 1) -> Tensor<Double> {
        var generator = SeededGenerator(seed: seed)
        return Tensor.normal(shape, mean: 0.5, standardDeviation: 2, generator: &generator)
    }

    private func randomizeAffine(_ parameters: [Parameter<Double>], seed: UInt64 = 5) {
        var generator = SeededGenerator(seed: seed)
        for p in parameters where p.isTrainable {
            p.value = Tensor.normal(p.value.shape, mean: 1, standardDeviation: 0.5, generator: &generator)
        }
    }

    func testBatchNormGradients2DAnd3D() throws {
        for shape in [[3, 2, 3, 4], [2, 2, 2, 3, 3]] {
            let norm = try BatchNorm<Double>(channels: shape.last!)
            randomizeAffine(norm.parameters)
            try checkLayerGradients(norm, input: randomInput(shape), mode: .training)
            norm.runningMean.value = Tensor(Array(repeating: 0.3, count: shape.last!))
            norm.runningVariance.value = Tensor(Array(repeating: 2.5, count: shape.last!))
            try checkLayerGradients(norm, input: randomInput(shape), mode: .evaluation)
        }
    }

    /// A batch large enough for the element-wise passes to be split across the worker pool
    /// (16 384 rows of 16 channels, four ranges): Float results within Float rounding of the
    /// definition evaluated here in Double, and the same bits with 1 and 3 threads.
    func testBatchNormSplitAcrossWorkersMatchesTheDefinitionAndIsTheSameForEveryThreadCount() throws {
        let (rows, c) = (4 * 64 * 64, 16)
        let input = randomInput([4, 64, 64, c], seed: 7)
        var generator = SeededGenerator(seed: 8)
        let gradient = Tensor<Double>.normal(input.shape, generator: &generator)
        let gamma = (0..<c).map { 0.5 + Double($0) / 8 }
        let beta = (0..<c).map { Double($0) / 4 - 2 }
        // The definition: x̂ = (x − μ)/√(σ² + ε), y = γx̂ + β, dx = (γ/√(σ² + ε))·(dy − mean(dy) − x̂·mean(dy·x̂)).
        let (x, dy) = (input.scalars, gradient.scalars)
        var (mean, variance) = ([Double](repeating: 0, count: c), [Double](repeating: 0, count: c))
        for r in 0..<rows { for k in 0..<c { mean[k] += x[r * c + k] / Double(rows) } }
        for r in 0..<rows { for k in 0..<c { variance[k] += pow(x[r * c + k] - mean[k], 2) / Double(rows) } }
        let inverse = variance.map { 1 / ($0 + 1e-5).squareRoot() }
        let xhat = (0..<(rows * c)).map { (x[$0] - mean[$0 % c]) * inverse[$0 % c] }
        var (meanDy, meanDyXhat) = ([Double](repeating: 0, count: c), [Double](repeating: 0, count: c))
        for i in 0..<(rows * c) {
            meanDy[i % c] += dy[i] / Double(rows)
            meanDyXhat[i % c] += dy[i] * xhat[i] / Double(rows)
        }
        let y = (0..<(rows * c)).map { gamma[$0 % c] * xhat[$0] + beta[$0 % c] }
        let dx = (0..<(rows * c)).map { i in
            let k = i % c
            return gamma[k] * inverse[k] * (dy[i] - meanDy[k] - xhat[i] * meanDyXhat[k])
        }
        try checkSplit(
            {
                let norm = try BatchNorm<Float>(channels: c)
                return (norm, norm.weight, norm.bias)
            }, input: input,
            gradient: gradient, gamma: gamma, beta: beta, y: y, dx: dx, dGamma: meanDyXhat.map { $0 * Double(rows) })
    }

    /// A training forward and backward pass of the layer `make` returns (with its γ and β set to
    /// `gamma` and `beta`) on `input` and `gradient` in Float, with 1 and 3 threads: the same bits,
    /// within Float rounding (10⁻⁵ relative, 10⁻⁴ for the summed dγ) of the definition's y, dx and
    /// dγ evaluated in Double.
    private func checkSplit(
        _ make: () throws -> (norm: any Layer<Float>, weight: Parameter<Float>, bias: Parameter<Float>),
        input: Tensor<Double>, gradient: Tensor<Double>, gamma: [Double], beta: [Double], y: [Double], dx: [Double],
        dGamma: [Double], file: StaticString = #filePath, line: UInt = #line
    ) throws {
        func run(_ threads: Int) throws -> (y: [Float], dx: [Float], dGamma: [Float]) {
            let original = Parallelism.threadCount
            defer { Parallelism.threadCount = original }
            Parallelism.threadCount = threads
            let (norm, weight, bias) = try make()
            weight.value = try Tensor(shape: [gamma.count], scalars: gamma.map { Float($0) })
            bias.value = try Tensor(shape: [beta.count], scalars: beta.map { Float($0) })
            let y = try norm.forward(input.converted(to: Float.self), mode: .training)
            let dx = try XCTUnwrap(try norm.backward(gradient.converted(to: Float.self)), file: file, line: line)
            return (y.scalars, dx.scalars, weight.gradient.scalars)
        }
        let one = try run(1)
        let three = try run(3)
        XCTAssertEqual(one.y, three.y, file: file, line: line)
        XCTAssertEqual(one.dx, three.dx, file: file, line: line)
        XCTAssertEqual(one.dGamma, three.dGamma, file: file, line: line)
        func worst(_ a: [Float], _ b: [Double]) -> Double {
            zip(a, b).reduce(0) { Swift.max($0, abs(Double($1.0) - $1.1) / Swift.max(1, abs($1.1))) }
        }
        XCTAssertLessThan(worst(one.y, y), 1e-5, file: file, line: line)
        XCTAssertLessThan(worst(one.dx, dx), 1e-5, file: file, line: line)
        XCTAssertLessThan(worst(one.dGamma, dGamma), 1e-4, file: file, line: line)
    }

    /// BatchNorm's statistics and gradient sums over chunks of rows in parallel, merged in chunk
    /// order, against the serial sums: within Double rounding (10⁻¹⁰ relative), also for
    /// values far from zero (mean 10⁴, spread 10⁻²: the chunks' deviations, not raw squares, are
    /// summed), with a last chunk shorter than the others.
    func testBatchNormChunkedReductionsMatchTheSerialSums() throws {
        let c = 24
        let rows = 3 * reductionChunkRows(channels: c) + 1001
        var generator = SeededGenerator(seed: 31)
        let noise = Tensor<Double>.normal([rows * c], generator: &generator).scalars
        let x = noise.enumerated().map { i, z in Float(1e4 + Double(i % c) + 1e-2 * z) }
        let dy = noise.reversed().map { Float($0) }
        let xhat = noise.map { Float($0 * 0.5) }
        func close(_ a: [Double], _ b: [Double], _ label: String) {
            for (u, v) in zip(a, b) {
                XCTAssertLessThanOrEqual(abs(u - v), 1e-10 * abs(v), label)
            }
        }
        try x.withUnsafeBufferPointer { x in
            let serial = channelMoments(x, rows: rows, channels: c)
            let chunked = parallelChannelMoments(x, rows: rows, channels: c)
            close(chunked.mean, serial.mean, "mean")
            close(chunked.variance, serial.variance, "variance")
            let spread = try XCTUnwrap(serial.variance.max())
            XCTAssertLessThan(spread, 2e-4, "the data's variance is 10⁻⁴")
        }
        dy.withUnsafeBufferPointer { dy in
            xhat.withUnsafeBufferPointer { xhat in
                let serial = channelGradientSums(dy, xhat, rows: rows, channels: c)
                let chunked = parallelChannelGradientSums(dy, xhat, rows: rows, channels: c)
                for (u, v) in zip(chunked.dBeta + chunked.dGamma, serial.dBeta + serial.dGamma) {
                    XCTAssertLessThanOrEqual(abs(u - v), 1e-9, "gradient sums")
                }
            }
        }
    }

    /// A batch normalisation followed by a ReLU in a training sequence (the ReLU applied in the
    /// normalisation's output pass) gives the bits of the two layers run one after the other:
    /// outputs, input gradients, parameter gradients and running statistics, with channels whose
    /// outputs are all negative (γ < 0), ±0 (γ = 0, β = −0) and NaN.
    func testBatchNormFollowedByAReLUInTrainingGivesTheSameBitsAsTwoPasses() throws {
        let c = 5
        var scalars = randomInput([3, 40, 40, c], seed: 21).scalars.map { Float($0) }
        scalars[4] = .nan // channel 4 is all NaN after normalisation
        let x = try Tensor(shape: [3, 40, 40, c], scalars: scalars)
        let dy = try Tensor(shape: x.shape, scalars: randomInput(x.shape, seed: 22).scalars.map { Float($0) })
        func run(fused: Bool) throws -> [[UInt32]] {
            let norm = try BatchNorm<Float>(channels: c)
            norm.weight.value = try Tensor(shape: [c], scalars: [1.5, -2, 0, 0.75, 1])
            norm.bias.value = try Tensor(shape: [c], scalars: [0.25, -0.5, -0.0, 0, 0.5])
            let relu = ActivationLayer<Float>(.relu)
            let y: Tensor<Float>
            let dx: Tensor<Float>
            if fused {
                let sequence = SequentialLayer<Float>([norm, relu])
                y = try sequence.forward(x, mode: .training)
                dx = try XCTUnwrap(try sequence.backward(dy))
            } else {
                y = try relu.forward(try norm.forward(x, mode: .training), mode: .training)
                dx = try XCTUnwrap(try norm.backward(try XCTUnwrap(try relu.backward(dy))))
            }
            return [
                y, dx, norm.weight.gradient, norm.bias.gradient, norm.runningMean.value, norm.runningVariance.value,
            ]
            .map { $0.scalars.map(\.bitPattern) }
        }
        let (fused, separate) = (try run(fused: true), try run(fused: false))
        XCTAssertEqual(fused, separate)
        // The cases are there: +0 outputs, NaN outputs, and positive ones.
        let y = fused[0].map { Float(bitPattern: $0) }
        XCTAssertTrue(y.contains { $0.bitPattern == 0 } && y.contains(where: \.isNaN) && y.contains { $0 > 0 })
        XCTAssertFalse(y.contains { $0 < 0 || $0.bitPattern == (-Float.zero).bitPattern })
    }

    func testGroupAndInstanceNormGradients() throws {
        let group = try GroupNorm<Double>(groups: 2, channels: 6)
        randomizeAffine(group.parameters)
        try checkLayerGradients(group, input: randomInput([2, 3, 3, 6]), mode: .training)
        try checkLayerGradients(group, input: randomInput([2, 2, 2, 2, 6]), mode: .evaluation)
        let instance = try InstanceNorm<Double>(channels: 3, affine: true)
        randomizeAffine(instance.parameters)
        try checkLayerGradients(instance, input: randomInput([2, 4, 3, 3]), mode: .training)
        try checkLayerGradients(
            try InstanceNorm<Double>(channels: 2), input: randomInput([2, 2, 2, 3, 2]), mode: .training)
    }

    /// Samples large enough for GroupNorm's statistics, gradient sums and element-wise passes to
    /// be split across the worker pool (2 samples of 9216 rows of 16 channels in 4 groups: three
    /// chunks of rows each, the last shorter): Float results within Float rounding of the
    /// definition evaluated here in Double, and the same bits with 1 and 3 threads.
    func testGroupNormSplitAcrossWorkersMatchesTheDefinitionAndIsTheSameForEveryThreadCount() throws {
        let (n, s, c, groups) = (2, 96 * 96, 16, 4)
        let width = c / groups
        let input = randomInput([n, 96, 96, c], seed: 11)
        var generator = SeededGenerator(seed: 12)
        let gradient = Tensor<Double>.normal(input.shape, generator: &generator)
        let gamma = (0..<c).map { 0.5 + Double($0) / 8 }
        let beta = (0..<c).map { Double($0) / 4 - 2 }
        // The definition, per (sample, group) of K = S·width elements: x̂ = (x − μ)/√(σ² + ε),
        // y = γx̂ + β, dx = (1/√(σ² + ε))·(γdy − mean(γdy) − x̂·mean(γdy·x̂)), dγ = Σ dy·x̂.
        let (x, dy) = (input.scalars, gradient.scalars)
        var (y, dx) = ([Double](repeating: 0, count: x.count), [Double](repeating: 0, count: x.count))
        var dGamma = [Double](repeating: 0, count: c)
        for sample in 0..<n {
            for g in 0..<groups {
                let indices = (0..<s).flatMap { r in (g * width..<(g + 1) * width).map { (sample * s + r) * c + $0 } }
                let count = Double(indices.count)
                let mean = indices.reduce(0) { $0 + x[$1] } / count
                let variance = indices.reduce(0) { $0 + (x[$1] - mean) * (x[$1] - mean) } / count
                let inverse = 1 / (variance + 1e-5).squareRoot()
                var (meanD, meanDH) = (0.0, 0.0)
                for i in indices {
                    let (k, xhat) = (i % c, (x[i] - mean) * inverse)
                    y[i] = gamma[k] * xhat + beta[k]
                    meanD += gamma[k] * dy[i] / count
                    meanDH += gamma[k] * dy[i] * xhat / count
                    dGamma[k] += dy[i] * xhat
                }
                for i in indices {
                    let xhat = (x[i] - mean) * inverse
                    dx[i] = inverse * (gamma[i % c] * dy[i] - meanD - xhat * meanDH)
                }
            }
        }
        try checkSplit(
            {
                let norm = try GroupNorm<Float>(groups: groups, channels: c)
                return (norm, norm.weight!, norm.bias!)
            },
            input: input, gradient: gradient, gamma: gamma, beta: beta, y: y, dx: dx, dGamma: dGamma)
    }

    func testBatchNormRunningStatisticsFollowPyTorch() throws {
        let norm = try BatchNorm<Double>(channels: 2)
        // Channel 0 holds 1, 2, 3, 6; channel 1 holds 0, 0, 4, 4.
        let x = try Tensor<Double>(shape: [2, 1, 2, 2], scalars: [1, 0, 2, 0, 3, 4, 6, 4])
        let y = try norm.forward(x, mode: .training)
        // Channel 0: mean 3, biased var 3.5, unbiased 14/3.
        XCTAssertEqual(norm.runningMean.value.scalars[0], 0.3, accuracy: 1e-12)
        XCTAssertEqual(norm.runningVariance.value.scalars[0], 0.9 + 0.1 * 14 / 3, accuracy: 1e-12)
        XCTAssertEqual(norm.runningMean.value.scalars[1], 0.2, accuracy: 1e-12)
        XCTAssertEqual(norm.runningVariance.value.scalars[1], 0.9 + 0.1 * 16 / 3, accuracy: 1e-12)
        XCTAssertEqual(norm.batchesTracked.value.scalars, [1])
        XCTAssertEqual(y[0, 0, 0, 0], (1 - 3) / (3.5 + 1e-5).squareRoot(), accuracy: 1e-12)
        let evaluated = try norm.forward(x, mode: .evaluation)
        XCTAssertEqual(evaluated[1, 0, 1, 0], (6 - 0.3) / (0.9 + 0.1 * 14 / 3 + 1e-5).squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(norm.batchesTracked.value.scalars, [1], "evaluation leaves the statistics alone")
    }

    func testGroupNormNormalisesEachGroup() throws {
        let norm = try GroupNorm<Float>(groups: 2, channels: 4)
        var generator = SeededGenerator(seed: 3)
        let x = Tensor<Float>.normal([2, 5, 5, 4], mean: 3, standardDeviation: 4, generator: &generator)
        let y = try norm.forward(x, mode: .training)
        for n in 0..<2 {
            for g in 0..<2 {
                var values = [Double]()
                for i in 0..<5 {
                    for j in 0..<5 { for c in (2 * g)..<(2 * g + 2) { values.append(Double(y[n, i, j, c])) } }
                }
                let mean = values.reduce(0, +) / Double(values.count)
                let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)
                XCTAssertEqual(mean, 0, accuracy: 1e-5)
                XCTAssertEqual(variance, 1, accuracy: 1e-3)
            }
        }
    }

    func testInstanceNormEqualsGroupNormWithOneChannelPerGroup() throws {
        let x = randomInput([2, 3, 4, 3])
        let a = try InstanceNorm<Double>(channels: 3).forward(x, mode: .training)
        let b = try GroupNorm<Double>(groups: 3, channels: 3, affine: false).forward(x, mode: .evaluation)
        assertClose(a, b, relativeTolerance: 1e-12, absoluteTolerance: 1e-12)
        XCTAssertTrue(try InstanceNorm<Double>(channels: 3).parameters.isEmpty)
    }

    func testParameterNamesFollowPyTorch() throws {
        let store = ParameterStore<Float>()
        store.register(try BatchNorm<Float>(channels: 4), prefix: "down.0.1")
        store.register(try GroupNorm<Float>(groups: 2, channels: 4), prefix: "gn")
        XCTAssertEqual(
            store.all.map(\.name),
            [
                "down.0.1.weight", "down.0.1.bias", "down.0.1.running_mean",
                "down.0.1.running_var", "down.0.1.num_batches_tracked", "gn.weight", "gn.bias",
            ])
        XCTAssertEqual(store.trainable.map(\.name), ["down.0.1.weight", "down.0.1.bias", "gn.weight", "gn.bias"])
    }

    func testBadShapesThrowTypedErrors() throws {
        let norm = try BatchNorm<Float>(channels: 3)
        XCTAssertThrowsError(try norm.forward(Tensor(shape: [2, 4, 4, 2]), mode: .training)) {
            guard ($0 as? DiceKitError)?.kind == .shape else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try norm.forward(Tensor(shape: [1, 1, 1, 3]), mode: .training)) {
            guard ($0 as? DiceKitError)?.kind == .value else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try norm.backward(Tensor(shape: [2, 2, 2, 3]))) // no forward yet
        XCTAssertThrowsError(
            try GroupNorm<Float>(groups: 1, channels: 2).forward(Tensor(shape: [4, 2]), mode: .training))
    }
}

/// Forward and backward against PyTorch (Fixtures/training/norms.safetensors, made by
/// Scripts/make_training_fixtures.py with torch 2.15, float64).
final class NormalizationPyTorchTests: XCTestCase {
    func testMatchesPyTorch() throws {
        let file = try SafetensorsFile.read(contentsOf: fixtureURL("training/norms.safetensors").path)
        func t(_ name: String) throws -> Tensor<Double> { try file.tensor(named: name, as: Double.self) }
        let (x, dy) = (try t("x"), try t("dy"))
        let bn = try BatchNorm<Double>(channels: 4)
        let layers: [(String, any Layer<Double>, LayerMode)] = [
            ("bn", bn, .training), ("bn_eval", bn, .evaluation),
            ("gn", try GroupNorm<Double>(groups: 2, channels: 4), .training),
            ("in", try InstanceNorm<Double>(channels: 4, affine: true), .training),
        ]
        for (name, layer, mode) in layers {
            let (weight, bias) = (layer.parameters[0], layer.parameters[1])
            weight.value = try t("gamma")
            bias.value = try t("beta")
            weight.zeroGradient()
            bias.zeroGradient()
            assertClose(
                try layer.forward(x, mode: mode), try t("\(name).y"), relativeTolerance: 1e-10,
                absoluteTolerance: 1e-12, name)
            assertClose(
                try XCTUnwrap(try layer.backward(dy)), try t("\(name).dx"), relativeTolerance: 1e-9,
                absoluteTolerance: 1e-12, name)
            assertClose(
                weight.gradient, try t("\(name).dgamma"), relativeTolerance: 1e-10, absoluteTolerance: 1e-12, name)
            assertClose(bias.gradient, try t("\(name).dbeta"), relativeTolerance: 1e-10, absoluteTolerance: 1e-12, name)
            if name == "bn" {
                assertClose(
                    bn.runningMean.value, try t("bn.running_mean"), relativeTolerance: 1e-12, absoluteTolerance: 1e-15)
                assertClose(bn.runningVariance.value, try t("bn.running_var"), relativeTolerance: 1e-12)
            }
        }
    }
}
