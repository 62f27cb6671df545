// Every kernel path reachable and named (Support/InstructionSet.swift, cpu_dispatch.c): forcing
// an instruction set the CPU lacks is refused, each kernel family reports the level its last call
// ran at, and the direct-kernel convolution shapes forced onto the AVX2 direct kernels and onto
// the portable (lowered) path agree with the AVX-512 run.

internal import CDiceKitKernels
import XCTest

@testable import DiceKit

final class KernelDispatchTests: XCTestCase {
    override func tearDown() {
        try? KernelDispatch.force(nil)
    }

    func testDetectedLevelAndForcing() throws {
        let detected = InstructionSet.detected
        XCTAssertEqual(InstructionSet.available, InstructionSet.allCases.filter { $0 <= detected })
        XCTAssertEqual(InstructionSet.current, automaticInstructionSet)
        for isa in InstructionSet.allCases {
            if isa <= detected {
                try KernelDispatch.force(isa)
                XCTAssertEqual(InstructionSet.current, isa)
            } else {
                // Refused, and the level in force stays what it was.
                let before = InstructionSet.current
                XCTAssertThrowsError(try KernelDispatch.force(isa)) { error in
                    XCTAssertTrue("\(error)".contains("\(isa)"), "\(error)")
                }
                XCTAssertEqual(InstructionSet.current, before)
            }
        }
        // A level beyond any the header names is refused too.
        XCTAssertEqual(dk_force_isa(7), -1)
        try KernelDispatch.force(nil)
        XCTAssertEqual(InstructionSet.current, automaticInstructionSet)
        XCTAssertEqual(KernelDispatch.instructionSet, automaticInstructionSet.description)
    }

    func testEachFamilyReportsTheLevelItRan() throws {
        var generator = SeededGenerator(seed: 5)
        let logits = Tensor<Float>.normal([2, 16, 16, 4], standardDeviation: 2, generator: &generator)
        let labels = try LabelMap(shape: [2, 16, 16], labels: (0..<512).map { $0 % 4 })
        let image = Tensor<Float>.normal([2, 8, 8, 32], standardDeviation: 1, generator: &generator)
        for isa in InstructionSet.available {
            try KernelDispatch.force(isa)
            _ = try DiceLoss(activation: .softmax).evaluate(logits, target: .labels(labels), gradient: true)
            XCTAssertEqual(KernelDispatch.lastUsed(.loss), isa)
            _ = try MaxPooling(kernelSize: [2, 2]).forward(image)
            XCTAssertEqual(KernelDispatch.lastUsed(.pooling), isa, "\(isa)")
            let conv = try Convolution(
                weight: Tensor<Float>.normal([3, 3, 32, 16], standardDeviation: 0.1, generator: &generator),
                bias: nil, padding: .same)
            _ = try conv.forward(image)
            XCTAssertEqual(KernelDispatch.lastUsed(.convolution), isa, "\(isa)")
        }
    }

    func testDirectKernelShapesAgreeOnEveryPath() throws {
        try XCTSkipUnless(
            automaticInstructionSet == .avx512, "no AVX-512 (or capped below): the path is not the automatic one")
        let cases: [(input: [Int], kernel: [Int], cout: Int)] = [
            ([2, 7, 9, 16], [3, 3], 32), ([1, 6, 5, 16], [3, 3], 48), ([2, 5, 7, 16], [2, 3], 80),
            ([3, 4, 5, 6, 16], [3, 3, 3], 16), ([2, 9, 11, 3], [3, 3], 16),
        ]
        for (index, c) in cases.enumerated() {
            let seed = UInt64(900 + 10 * index)
            let x = randomTensor(c.input, seed: seed).converted(to: Float.self)
            let w = randomTensor(c.kernel + [c.input.last!, c.cout], seed: seed + 1).converted(to: Float.self)
            let b = randomTensor([c.cout], seed: seed + 2).converted(to: Float.self)
            let conv = try Convolution(weight: w, bias: b, padding: .same, settings: ConvolutionSettings(workers: 2))
            func run() throws -> (y: Tensor<Float>, dx: Tensor<Float>?, dw: Tensor<Float>, db: Tensor<Float>) {
                let y = try conv.forward(x)
                let dy = randomTensor(y.shape, seed: seed + 3).converted(to: Float.self)
                let g = try conv.backward(input: x, outputGradient: dy, computeInputGradient: c.input.last! % 16 == 0)
                return (y, g.input, g.weight, g.bias!)
            }
            try KernelDispatch.force(nil)
            let direct = try run()
            XCTAssertEqual(KernelDispatch.lastUsed(.convolution), .avx512, "case \(index)")
            for isa in InstructionSet.available where isa != .avx512 {
                try KernelDispatch.force(isa)
                let other = try run()
                XCTAssertEqual(KernelDispatch.lastUsed(.convolution), isa, "case \(index) forced \(isa)")
                let what = "case \(index) forced \(isa)"
                assertClose(
                    other.y, direct.y, relativeTolerance: 1e-5,
                    absoluteTolerance: 1e-5 * (direct.y.scalars.map(abs).max() ?? 1), what)
                assertClose(
                    other.dw, direct.dw, relativeTolerance: 1e-5,
                    absoluteTolerance: 1e-5 * (direct.dw.scalars.map(abs).max() ?? 1), what)
                assertClose(
                    other.db, direct.db, relativeTolerance: 1e-5,
                    absoluteTolerance: 1e-5 * (direct.db.scalars.map(abs).max() ?? 1), what)
                if let a = other.dx, let b = direct.dx {
                    assertClose(
                        a, b, relativeTolerance: 1e-5, absoluteTolerance: 1e-5 * (b.scalars.map(abs).max() ?? 1), what)
                }
            }
        }
    }
}
