// The structured `DiceKitError` cases print the same one-line messages as the message cases
// they replaced, so CLI output is unchanged; `kind` names the concern of every case.

import XCTest

@testable import DiceKit

final class DiceKitErrorTests: XCTestCase {
    func testStructuredCasesPrintTheMessageForm() {
        XCTAssertEqual(
            "\(DiceKitError.invalidOption(name: "batch size", value: "0", expected: "≥ 1"))",
            "\(DiceKitError.option("batch size 0; expected ≥ 1"))")
        XCTAssertEqual(
            "\(DiceKitError.invalidValue(name: "class count", value: "0", expected: "≥ 1"))",
            "\(DiceKitError.value("class count 0; expected ≥ 1"))")
        XCTAssertEqual(
            "\(DiceKitError.elementCount(shape: [2, 2], expected: 4, actual: 3))",
            "\(DiceKitError.shape("shape [2, 2] holds 4 elements, got 3"))")
    }

    func testKindNamesTheConcern() {
        let cases: [(DiceKitError, DiceKitError.Kind)] = [
            (.shape("s"), .shape), (.elementCount(shape: [1], expected: 1, actual: 2), .shape),
            (.value("v"), .value), (.invalidValue(name: "n", value: "1", expected: "0"), .value),
            (.option("o"), .option), (.invalidOption(name: "n", value: "1", expected: "0"), .option),
            (.file(path: "p", reason: "r"), .file),
        ]
        for (error, kind) in cases { XCTAssertEqual(error.kind, kind, "\(error)") }
    }

    /// A data-set option checked by the library throws the structured case, printed as before.
    func testBatchSizeIsAStructuredOption() throws {
        var configuration = TrainingConfiguration()
        configuration.batchSize = 0
        XCTAssertThrowsError(try configuration.validate()) { error in
            XCTAssertEqual(error as? DiceKitError, .invalidOption(name: "batch size", value: "0", expected: "≥ 1"))
            XCTAssertEqual("\(error)", "option error: batch size 0; expected ≥ 1")
        }
    }

    /// `jsonString` escapes control characters as four lowercase hex digits.
    func testJSONStringEscapesControlCharacters() {
        XCTAssertEqual(jsonString("a\"b\\c\n\u{1}\u{1f}é"), "\"a\\\"b\\\\c\\n\\u0001\\u001fé\"")
    }
}
