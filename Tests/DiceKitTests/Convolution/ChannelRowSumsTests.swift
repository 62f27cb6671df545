import XCTest

@testable import DiceKit

/// The per-channel row sums behind every bias gradient (`addChannelRows`, `Tensor.channelSums`):
/// the bits of the plain row-by-row loop, for every width's mix of four-vector, one-vector and
/// scalar accumulators and a last partial row.
final class ChannelRowSumsTests: XCTestCase {
    /// The plain loop that defines the order: row by row, each accumulator in turn.
    private func plainSums<T: BLASScalar>(_ values: [T], width: Int, start: [T]) -> [T] {
        var sum = start
        for (k, v) in values.enumerated() { sum[k % width] += v }
        return sum
    }

    /// Values spread over many binades, so that any other order of the additions changes bits.
    private func values<T: BLASScalar>(_ count: Int, seed: UInt64) -> [T] {
        var generator = SeededGenerator(seed: seed)
        return (0..<count).map { _ in
            let mantissa = T(Double(generator.next() % 2_000_001) / 1_000_000 - 1)
            return mantissa * T(Double(1 << Int(generator.next() % 20)))
        }
    }

    private func check<T: BLASScalar>(_: T.Type, width: Int, rows: Int, extra: Int, seed: UInt64) {
        let source: [T] = values(width * rows + extra, seed: seed)
        let start: [T] = values(width, seed: seed + 1)
        var sum = start
        source.withUnsafeBufferPointer { s in
            addChannelRows(s.baseAddress!, count: s.count, into: &sum, width: width)
        }
        let expected = plainSums(source, width: width, start: start)
        XCTAssertEqual(
            sum.map { Double($0).bitPattern }, expected.map { Double($0).bitPattern },
            "\(T.self), width \(width), \(rows) rows + \(extra)")
    }

    func testSameBitsAsThePlainLoopForEveryWidth() {
        for (i, width) in [1, 3, 15, 16, 17, 32, 48, 63, 64, 80, 130, 256, 512].enumerated() {
            for extra in [0, width / 2] {
                check(Float.self, width: width, rows: 257, extra: extra, seed: UInt64(100 + 2 * i))
                check(Double.self, width: width, rows: 65, extra: extra, seed: UInt64(200 + 2 * i))
            }
        }
    }

    func testChannelSumsOfATensorAreThePlainLoops() throws {
        let values: [Float] = values(5 * 7 * 9 * 48, seed: 300)
        let tensor = try Tensor(shape: [5, 7, 9, 48], scalars: values)
        let expected = plainSums(values, width: 48, start: [Float](repeating: 0, count: 48))
        XCTAssertEqual(tensor.channelSums().scalars.map(\.bitPattern), expected.map(\.bitPattern))
    }
}
