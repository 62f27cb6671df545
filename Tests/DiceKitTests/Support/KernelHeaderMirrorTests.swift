// The Swift mirrors of the C kernels' header (Sources/CDiceKitKernels/include): every
// instruction-set level (Float and bfloat16) converts to its header code and back, the "not run
// yet" code is no level, the plan's cross-entropy codes are the header's, the channel limit is the
// size of dk_stats' arrays and splits the C and Swift paths, and the scoped instruction-set switch
// restores the automatic choice.

internal import CDiceKitKernels
import XCTest

@testable import DiceKit

final class KernelHeaderMirrorTests: XCTestCase {
    override func tearDown() {
        try? KernelDispatch.force(nil)
    }

    func testInstructionSetLevelsRoundTrip() {
        for isa in InstructionSet.allCases {
            XCTAssertEqual(InstructionSet(level: isa.level), isa)
            XCTAssertEqual(Int(isa.level.rawValue), isa.rawValue, "\(isa)")
        }
        XCTAssertNil(InstructionSet(level: DK_ISA_NONE))
        XCTAssertEqual(DK_ISA_AUTOMATIC.rawValue, -1)
        XCTAssertEqual(DK_ISA_NONE.rawValue, -1)
    }

    func testBFloat16LevelsRoundTrip() {
        for level in [BFloat16KernelLevel.none, .avx512bf16, .amx] {
            XCTAssertEqual(BFloat16KernelLevel(level.level), level)
            XCTAssertEqual(Int(level.level.rawValue), level.rawValue, "\(level)")
        }
        XCTAssertEqual(BFloat16KernelLevel(DK_BF16_AUTOMATIC), BFloat16KernelLevel.none)
    }

    func testCrossEntropyCodesAreTheHeaders() {
        XCTAssertEqual(CrossEntropyTerm.none.code, DK_CROSS_ENTROPY_NONE)
        XCTAssertEqual(CrossEntropyTerm.softmax.code, DK_CROSS_ENTROPY_SOFTMAX)
        XCTAssertEqual(CrossEntropyTerm.binary.code, DK_CROSS_ENTROPY_BINARY)
        XCTAssertEqual(
            Set([DK_CROSS_ENTROPY_NONE, DK_CROSS_ENTROPY_SOFTMAX, DK_CROSS_ENTROPY_BINARY].map(\.rawValue)).count, 3)
    }

    func testChannelLimitIsTheStatisticsCapacity() {
        let stats = dk_stats()
        XCTAssertEqual(MemoryLayout.size(ofValue: stats.tp) / MemoryLayout<Double>.size, Int(DK_MAX_CHANNELS))
        XCTAssertEqual(MemoryLayout.size(ofValue: stats.d) / MemoryLayout<Double>.size, Int(DK_MAX_CHANNELS))
        XCTAssertEqual(lossBlockLength, Int(DK_ACCUMULATION_BLOCK))
    }

    func testChannelLimitSplitsTheCAndSwiftPaths() throws {
        // Float, labels: up to DK_MAX_CHANNELS channels run the C kernels, one more runs Swift; both
        // give the Double result to Float rounding.
        for c in [Int(DK_MAX_CHANNELS), Int(DK_MAX_CHANNELS) + 1] {
            var generator = SeededGenerator(seed: UInt64(c))
            let logits = Tensor<Double>.normal([2, 5, 7, c], standardDeviation: 2, generator: &generator)
            let labels = try LabelMap(shape: [2, 5, 7], labels: (0..<70).map { ($0 * 7) % c })
            let loss = DiceLoss(activation: .softmax)
            let double = try loss.evaluate(logits, target: .labels(labels), gradient: false).value
            let float = try loss.evaluate(logits.converted(to: Float.self), target: .labels(labels), gradient: false)
                .value
            XCTAssertEqual(Double(float), double, accuracy: 1e-5, "C = \(c)")
        }
        // Which path ran: the C kernels record their level, the Swift passes nothing.
        let detected = InstructionSet.detected
        try XCTSkipIf(detected == .portable, "one level only: the recorded level cannot tell the paths apart")
        func run(_ c: Int) throws {
            let logits = try Tensor<Float>(shape: [1, 4, 4, c], scalars: (0..<(16 * c)).map { Float($0 % 5) })
            let labels = try LabelMap(shape: [1, 4, 4], labels: Array(repeating: 0, count: 16))
            _ = try DiceLoss(activation: .softmax).evaluate(logits, target: .labels(labels), gradient: false)
        }
        try KernelDispatch.withInstructionSet(.portable) { try run(Int(DK_MAX_CHANNELS)) }
        XCTAssertEqual(KernelDispatch.lastUsed(.loss), .portable)
        try run(Int(DK_MAX_CHANNELS) + 1)
        XCTAssertEqual(
            KernelDispatch.lastUsed(.loss), .portable, "more than DK_MAX_CHANNELS channels ran the C kernels")
        try run(Int(DK_MAX_CHANNELS))
        XCTAssertEqual(KernelDispatch.lastUsed(.loss), automaticInstructionSet)
    }

    func testScopedInstructionSetRestoresTheAutomaticChoice() throws {
        struct Failure: Error {}
        let detected = InstructionSet.detected
        for isa in InstructionSet.available {
            let inside = try KernelDispatch.withInstructionSet(isa) { InstructionSet.current }
            XCTAssertEqual(inside, isa)
            XCTAssertEqual(InstructionSet.current, automaticInstructionSet)
            XCTAssertThrowsError(try KernelDispatch.withInstructionSet(isa) { throw Failure() })
            XCTAssertEqual(InstructionSet.current, automaticInstructionSet)
        }
        for isa in InstructionSet.allCases where isa > detected {
            var ran = false
            XCTAssertThrowsError(try KernelDispatch.withInstructionSet(isa) { ran = true })
            XCTAssertFalse(ran)
        }
    }
}
