// Training support: JSON encoding, metrics.jsonl, summary.json, curves.svg, the progress
// reporter in both styles, and the interrupt flag.

import Foundation
import XCTest

@testable import DiceKit

final class TrainingSupportTests: XCTestCase {
    private func epoch(_ n: Int, dice: [Double] = [0.99, 0.8, 0.6]) -> EpochMetrics {
        EpochMetrics(
            epoch: n, trainLoss: 1 / Double(n), validationLoss: 1.2 / Double(n), validationDice: dice,
            validationIoU: dice.map { $0 * 0.9 }, learningRate: 1e-3, seconds: 2, imagesPerSecond: 50)
    }

    func testJSONEncoding() throws {
        let value: JSONValue = ["a": 1, "b": [1.5, .null, true], "c\"": "x\ny", "d": .number(.nan), "e": .number(3)]
        XCTAssertEqual(value.encoded, #"{"a":1,"b":[1.5,null,true],"c\"":"x\ny","d":null,"e":3.0}"#)
        let parsed = try JSONSerialization.jsonObject(with: Data(value.prettyEncoded.utf8)) as? [String: Any]
        XCTAssertEqual(parsed?["a"] as? Int, 1)
        XCTAssertEqual(JSONValue.number(1e-5).encoded, "1e-05")
    }

    func testEpochMetricsJSONAndForegroundMeans() throws {
        let metrics = epoch(2)
        XCTAssertEqual(metrics.validationDiceForeground!, 0.7, accuracy: 1e-12)
        let object = try JSONSerialization.jsonObject(with: Data(metrics.json.encoded.utf8)) as! [String: Any]
        XCTAssertEqual(object["epoch"] as? Int, 2)
        XCTAssertEqual(object["val_dice"] as? [Double], [0.99, 0.8, 0.6])
        XCTAssertEqual(object["val_dice_foreground"] as! Double, 0.7, accuracy: 1e-12)
        let binary = EpochMetrics(
            epoch: 1, trainLoss: 0.5, validationDice: [0.9], learningRate: 0.1, seconds: 1, imagesPerSecond: 1)
        XCTAssertEqual(binary.validationDiceForeground, 0.9)
        XCTAssertNil(
            EpochMetrics(epoch: 1, trainLoss: 0.5, learningRate: 0.1, seconds: 1, imagesPerSecond: 1)
                .validationDiceForeground)
        // A class absent from every validation image (NaN) is skipped, as `dicekit eval` does.
        let partial = EpochMetrics(
            epoch: 1, trainLoss: 0.5, validationDice: [0.99, .nan, 0.5], validationIoU: [0.98, .nan, 0.4],
            learningRate: 0.1, seconds: 1, imagesPerSecond: 1)
        XCTAssertEqual(partial.validationDiceForeground, 0.5)
        XCTAssertEqual(partial.validationIoUForeground, 0.4)
        let partialObject = try JSONSerialization.jsonObject(with: Data(partial.json.encoded.utf8)) as! [String: Any]
        XCTAssertEqual(partialObject["val_dice_foreground"] as? Double, 0.5)
        XCTAssertNil(
            EpochMetrics(
                epoch: 1, trainLoss: 0.5, validationDice: [0.99, .nan], learningRate: 0.1, seconds: 1,
                imagesPerSecond: 1
            ).validationDiceForeground)
    }

    func testMetricsLogWritesOneObjectPerLine() throws {
        let path = try temporaryDirectory(self).appendingPathComponent("metrics.jsonl").path
        do {
            let log = try MetricsLog(path: path)
            try log.append(epoch(1))
            try log.append(epoch(2))
        }
        try MetricsLog(path: path, append: true).append(epoch(3))
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 3)
        for (i, line) in lines.enumerated() {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            XCTAssertEqual(object["epoch"] as? Int, i + 1)
        }
        XCTAssertThrowsError(try MetricsLog(path: "/nonexistent-dir/m.jsonl")) {
            guard case DiceKitError.file = $0 else { return XCTFail("\($0)") }
        }
    }

    func testSummaryPicksTheBestEpoch() throws {
        let epochs = [
            epoch(1, dice: [0.9, 0.5, 0.5]), epoch(2, dice: [0.95, 0.9, 0.92]), epoch(3, dice: [0.95, 0.85, 0.9]),
        ]
        let summary = TrainingSummary(
            epochs: epochs, interrupted: true, seconds: 7, configuration: [JSONField("loss", "dice")])
        XCTAssertEqual(summary.best?.epoch, 2)
        let path = try temporaryDirectory(self).appendingPathComponent("summary.json").path
        try summary.write(to: path)
        let object =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        XCTAssertEqual(object["val_dice_foreground"] as! Double, 0.91, accuracy: 1e-12)
        XCTAssertEqual(object["final_val_dice_foreground"] as! Double, 0.875, accuracy: 1e-12)
        XCTAssertEqual(object["best_epoch"] as? Int, 2)
        XCTAssertEqual(object["interrupted"] as? Bool, true)
        XCTAssertEqual((object["configuration"] as? [String: Any])?["loss"] as? String, "dice")
    }

    func testCurvesSVGIsWellFormedWithAxesAndLegend() throws {
        let svg = CurvePlot.svg(
            (1...12).map { epoch($0, dice: [0.99, 0.5 + 0.03 * Double($0), 0.4 + 0.04 * Double($0)]) })
        XCTAssertEqual(balancedTags(svg), "svg", "well-formed: tags nest and close, root <svg>")
        for text in [
            "train loss", "val loss", "Dice 1", "Dice 2", "mean Dice", "mean IoU", ">epoch<", "Loss", "Validation",
        ] {
            XCTAssertTrue(svg.contains(text), text)
        }
        XCTAssertFalse(svg.contains("nan"))
        // A single epoch and an empty run still give valid documents.
        XCTAssertEqual(balancedTags(CurvePlot.svg([epoch(1)])), "svg")
        XCTAssertEqual(balancedTags(CurvePlot.svg([])), "svg")
        let path = try temporaryDirectory(self).appendingPathComponent("curves.svg").path
        try CurvePlot.write([epoch(1), epoch(2)], to: path)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path))
        let range = CurvePlot.niceRange(0.13, 0.87, includeZero: true)
        XCTAssertEqual(range.0, 0)
        XCTAssertGreaterThanOrEqual(range.1, 0.87)
    }

    func testProgressReporterStyles() {
        var time = 0.0
        var output = ""
        let log = ProgressReporter(
            totalEpochs: 2, stepsPerEpoch: 3, interactive: false, sink: { output += $0 }, clock: { time })
        for step in 1...3 {
            time += 1
            log.step(epoch: 1, step: step, loss: 0.5, images: 4)
        }
        log.endEpoch(epoch(1))
        XCTAssertEqual(output.filter { $0 == "\n" }.count, 1, "one line per epoch when not a terminal")
        XCTAssertFalse(output.contains("\r"))
        XCTAssertTrue(output.hasPrefix("epoch 1/2  loss 1.0000  val loss 1.2000  val Dice 0.7000"), output)
        XCTAssertTrue(output.contains("ETA 0:03"), output)

        output = ""
        time = 0
        let terminal = ProgressReporter(
            totalEpochs: 2, stepsPerEpoch: 3, interactive: true, sink: { output += $0 }, clock: { time })
        for step in 1...3 {
            time += 1
            terminal.step(epoch: 1, step: step, loss: 0.25, images: 8)
        }
        XCTAssertEqual(output.components(separatedBy: "\r\u{1B}[2K").count - 1, 3)
        XCTAssertTrue(output.contains("epoch 1/2  step 3/3  loss 0.2500  8.0 img/s  ETA 0:03"), output)
        XCTAssertFalse(output.contains("\n"))
        terminal.endEpoch(epoch(1))
        XCTAssertTrue(output.hasSuffix("\n"))
        XCTAssertEqual(ProgressReporter.duration(3725), "1:02:05")
        XCTAssertEqual(ProgressReporter.duration(.nan), "--:--")
    }

    func testInterruptFlag() {
        InterruptFlag.install()
        XCTAssertFalse(InterruptFlag.isRequested)
        raise(SIGINT) // handled: sets the flag instead of killing the test process
        XCTAssertTrue(InterruptFlag.isRequested)
        XCTAssertEqual(InterruptFlag.signalNumber, SIGINT)
        InterruptFlag.uninstall()
        XCTAssertFalse(InterruptFlag.isRequested)
        InterruptFlag.request()
        XCTAssertTrue(InterruptFlag.isRequested)
        InterruptFlag.uninstall()
    }
}

/// The root tag name if every tag of `xml` is closed in order (self-closing tags allowed), else nil.
/// (A small check that avoids FoundationXML, which needs libxml2 at run time.)
func balancedTags(_ xml: String) -> String? {
    var stack = [String]()
    var root: String?
    var rest = Substring(xml)
    while let open = rest.firstIndex(of: "<") {
        guard let close = rest[open...].firstIndex(of: ">") else { return nil }
        let tag = rest[rest.index(after: open)..<close]
        rest = rest[rest.index(after: close)...]
        if tag.hasPrefix("/") {
            guard stack.popLast() == String(tag.dropFirst()) else { return nil }
        } else if !tag.hasSuffix("/") {
            let name = String(tag.prefix { $0 != " " })
            if stack.isEmpty {
                if root != nil { return nil }
                root = name
            }
            stack.append(name)
        } else if stack.isEmpty {
            return nil
        }
    }
    return stack.isEmpty ? root : nil
}
