// Shared helpers for DiceKit's tests: fixture paths, tolerances and generic checks.

import XCTest
@testable import DiceKit

/// The folder of committed fixtures (`Tests/DiceKitTests/Fixtures`), copied as a bundle resource.
func fixtureURL(_ relativePath: String) -> URL {
    Bundle.module.resourceURL!.appendingPathComponent("Fixtures").appendingPathComponent(relativePath)
}

/// Asserts |actual − expected| ≤ atol + rtol·|expected| element-wise, with the first offender in the message.
func assertClose<T: BLASScalar>(_ actual: Tensor<T>, _ expected: Tensor<T>, rtol: T, atol: T = 0,
                                _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.shape, expected.shape, "shape \(message)", file: file, line: line)
    guard actual.shape == expected.shape else { return }
    for i in 0..<actual.count {
        let (a, e) = (actual.scalars[i], expected.scalars[i])
        if !(abs(a - e) <= atol + rtol * abs(e)) {
            XCTFail("element \(i): \(a) vs expected \(e) (rtol \(rtol), atol \(atol)) \(message)", file: file, line: line)
            return
        }
    }
}

/// A temporary directory removed at the end of the test.
func temporaryDirectory(_ test: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("dicekit-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}
