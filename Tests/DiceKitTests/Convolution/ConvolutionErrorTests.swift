// Bad shapes and options throw typed `DiceKitError`s whose messages name the shapes involved.

import XCTest

@testable import DiceKit

final class ConvolutionErrorTests: XCTestCase {
    /// Asserts that `body` throws `DiceKitError` of the given kind with every `fragment` in its message.
    func assertThrows<R>(
        _ kind: String, _ fragments: [String], file: StaticString = #filePath, line: UInt = #line,
        _ body: () throws -> R
    ) {
        do {
            _ = try body()
            XCTFail("expected a \(kind) error", file: file, line: line)
        } catch let error as DiceKitError {
            let message: String
            switch (error, kind) {
            case (.shape(let m), "shape"), (.option(let m), "option"), (.value(let m), "value"): message = m
            default:
                XCTFail("expected a \(kind) error, got \(error)", file: file, line: line)
                return
            }
            for fragment in fragments {
                XCTAssertTrue(
                    message.contains(fragment), "'\(message)' does not mention '\(fragment)'", file: file, line: line)
            }
        } catch {
            XCTFail("expected DiceKitError, got \(error)", file: file, line: line)
        }
    }

    let weight = Tensor<Float>(shape: [3, 3, 4, 8])

    func testWrongInputRank() throws {
        let conv = try Convolution(weight: weight)
        assertThrows("shape", ["[2, 8, 8]", "rank"]) { try conv.forward(Tensor<Float>(shape: [2, 8, 8])) }
        assertThrows("shape", ["[1, 4, 8, 8, 4]"]) { try conv.forward(Tensor<Float>(shape: [1, 4, 8, 8, 4])) }
    }

    func testWrongChannelCount() throws {
        let conv = try Convolution(weight: weight)
        assertThrows("shape", ["[2, 8, 8, 3]", "4"]) { try conv.forward(Tensor<Float>(shape: [2, 8, 8, 3])) }
    }

    func testKernelLargerThanPaddedInput() throws {
        let conv = try Convolution(weight: weight, padding: .symmetric([0]))
        assertThrows("shape", ["[3, 3]", "[1, 2, 5, 4]", "padded input 2"]) {
            try conv.forward(Tensor<Float>(shape: [1, 2, 5, 4]))
        }
        let dilated = try Convolution(weight: weight, dilation: [3])
        assertThrows("shape", ["extent 7", "[1, 6, 9, 4]"]) { try dilated.forward(Tensor<Float>(shape: [1, 6, 9, 4])) }
        let pool = try MaxPooling(kernelSize: [4, 4])
        assertThrows("shape", ["[1, 3, 8, 2]"]) { try pool.forward(Tensor<Float>(shape: [1, 3, 8, 2])) }
    }

    func testChannelsNotDivisibleByGroups() throws {
        assertThrows("shape", ["[3, 3, 4, 8]", "groups = 3"]) { try Convolution(weight: weight, groups: 3) }
        let grouped = try Convolution(weight: Tensor<Float>(shape: [3, 3, 2, 8]), groups: 2)
        assertThrows("shape", ["[1, 8, 8, 3]", "groups = 2"]) {
            try grouped.forward(Tensor<Float>(shape: [1, 8, 8, 3]))
        }
        assertThrows("shape", ["5 input", "groups = 2"]) {
            var generator = SeededGenerator(seed: 1)
            return try Convolution<Float>(
                kernelSize: [3, 3], inputChannels: 5, outputChannels: 4, groups: 2, generator: &generator)
        }
    }

    func testWrongOutputGradientShape() throws {
        let conv = try Convolution(weight: weight, padding: .same)
        let x = Tensor<Float>(shape: [1, 6, 6, 4])
        assertThrows("shape", ["[1, 6, 6, 4]", "[1, 6, 6, 8]"]) {
            try conv.backward(input: x, outputGradient: Tensor(shape: [1, 6, 6, 4]))
        }
        let up = try TransposedConvolution(weight: Tensor<Float>(shape: [2, 2, 3, 4]), stride: [2])
        assertThrows("shape", ["[1, 4, 4, 3]", "[1, 8, 8, 3]"]) {
            try up.backward(input: Tensor(shape: [1, 4, 4, 4]), outputGradient: Tensor(shape: [1, 4, 4, 3]))
        }
        let pool = try MaxPooling(kernelSize: [2, 2])
        let result = try pool.forward(x)
        assertThrows("shape", ["[1, 2, 2, 4]", "[1, 3, 3, 4]"]) {
            try pool.backward(result, outputGradient: Tensor(shape: [1, 2, 2, 4]))
        }
    }

    func testBadOptions() throws {
        assertThrows("option", ["stride"]) { try Convolution(weight: weight, stride: [1, 0]) }
        assertThrows("option", ["[1, 1, 1]"]) { try Convolution(weight: weight, stride: [1, 1, 1]) }
        assertThrows("shape", ["bias shape [4]", "[8]"]) { try Convolution(weight: weight, bias: Tensor(shape: [4])) }
        assertThrows("shape", ["[3, 3]", "rank 2"]) { try Convolution(weight: Tensor<Float>(shape: [3, 3])) }
        assertThrows("option", ["output padding"]) {
            try TransposedConvolution(weight: Tensor<Float>(shape: [2, 2, 3, 4]), stride: [2], outputPadding: [2])
        }
        let conv = try Convolution(weight: weight, padding: .explicit(before: [1, -1], after: [0]))
        assertThrows("option", ["padding"]) { try conv.forward(Tensor<Float>(shape: [1, 8, 8, 4])) }
        assertThrows("option", ["padding"]) {
            try MaxPooling(kernelSize: [2, 2], padding: .symmetric([2])).forward(Tensor<Float>(shape: [1, 8, 8, 1]))
        }
        assertThrows("option", ["scale"]) { try Upsampling(scale: [0, 2]) }
        assertThrows("shape", ["[1, 8, 8]"]) {
            try Upsampling(scale: [2, 2]).forward(Tensor<Float>(shape: [1, 8, 8]))
        }
        assertThrows("shape", ["[2, 3]", "[3, 4]"]) {
            try Tensor.concatenatingChannels([Tensor<Float>(shape: [2, 3]), Tensor<Float>(shape: [3, 4])])
        }
        assertThrows("shape", ["[3, 2]", "[2, 4]"]) { try Tensor<Float>(shape: [2, 4]).splittingChannels([3, 2]) }
        assertThrows("shape", ["[1, 3, 3, 2]", "[4, 10]"]) {
            try Lowering.col2im(Tensor<Float>(shape: [4, 10]), inputShape: [1, 3, 3, 2], kernelSize: [2, 2])
        }
    }
}
