// A U-Net in bfloat16 against the same network in Float, and a short training run in each.
//
// Bounds: one bfloat16 convolution has a relative error ≤ 2u + u² ≈ 2⁻⁷ per element against its
// Σ|a||b| (u = 2⁻⁸, BFloat16Convolution.swift). Through a chain of L bfloat16 convolutions
// (ReLU and batch normalisation are 1-Lipschitz up to the normalising scale, which the test
// network keeps near 1), first-order error propagation gives a relative L2 error of the logits
// ≤ L·2⁻⁷; the backward pass runs the chain again, so the gradients get ≤ 2L·2⁻⁷. The network
// below has L = 11 (depth 2: nine 3×3 convolutions, the first layer on 3 channels staying Float,
// and two 2×2 up-samplings).

internal import CDiceKitKernels
import XCTest

@testable import DiceKit

final class UNetBFloat16Tests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(ComputePrecision.bfloat16Available, "no AVX512-BF16: bfloat16 runs in Float here")
    }

    // The short training run in bfloat16 against Float (validation Dice within 0.01) is too slow
    // for a debug build; it is a release-mode check, Docs/MixedPrecision.md.

    private func relativeError(_ a: [Float], _ b: [Float]) -> Double {
        var difference = 0.0
        var norm = 0.0
        for i in 0..<a.count {
            difference += Double(a[i] - b[i]) * Double(a[i] - b[i])
            norm += Double(b[i]) * Double(b[i])
        }
        return (difference / max(norm, .leastNonzeroMagnitude)).squareRoot()
    }

    func testForwardAndBackwardWithinBound() throws {
        for arithmetic in BFloat16Arithmetic.allCases {
            try BFloat16Arithmetic.with(arithmetic) { try checkForwardAndBackward(arithmetic) }
        }
    }

    private func checkForwardAndBackward(_ arithmetic: BFloat16Arithmetic) throws {
        let configuration = UNetConfiguration(inputChannels: 3, classes: 2, baseWidth: 16, depth: 2)
        let data = try SegmentationDataset.syntheticPolyps(count: 4, seed: 21, configuration: .init(size: 32))
        let batch = try XCTUnwrap(try data.batches(size: 4).makeIterator().next())
        let loss = LossKind.diceCE.loss(classes: configuration.classes)
        let target = SegmentationTarget<Float>.labels(try LabelMap(shape: batch.labelShape, int32Labels: batch.labels))
        var results: [(logits: [Float], gradients: [(String, [Float])])] = []
        let tileCalls = dk_conv_tile_calls(0) + dk_conv_tile_calls(1)
        for precision in [ComputePrecision.float, .bfloat16] {
            let model = try UNet<Float>(configuration, seed: 5)
            model.precision = precision
            model.parameters.zeroGradients()
            let logits = try model.forward(batch.images, mode: .training)
            _ = try model.backward(try XCTUnwrap(try loss.evaluate(logits, target: target, gradient: true).gradient))
            results.append((logits.scalars, model.parameters.trainable.map { ($0.name, $0.gradient.scalars) }))
        }
        if arithmetic == .dotProducts { XCTAssertEqual(KernelDispatch.lastUsed(.bfloat16Convolution), .avx512) }
        if arithmetic == .tiles {
            // On the tile unit where AMX is in use, else on its software model (conv_amx.c).
            XCTAssertGreaterThan(
                dk_conv_tile_calls(0) + dk_conv_tile_calls(1), tileCalls, "the tile kernels did not run")
        }
        let layers = 11.0
        let u2 = 0x1p-7
        let forward = relativeError(results[1].logits, results[0].logits)
        XCTAssertLessThanOrEqual(forward, layers * u2, "logits (\(arithmetic))")
        XCTAssertGreaterThan(forward, 0, "the bfloat16 path did not run (\(arithmetic))")
        var worst = 0.0
        for (index, (name, float)) in results[0].gradients.enumerated() {
            let error = relativeError(results[1].gradients[index].1, float)
            worst = max(worst, error)
            XCTAssertLessThanOrEqual(
                error, 2 * layers * u2, "gradient of \(name) (parameter \(index), \(arithmetic))")
        }
        print("bf16 U-Net, \(arithmetic): logits relative error \(forward), worst gradient \(worst)")
    }
}
