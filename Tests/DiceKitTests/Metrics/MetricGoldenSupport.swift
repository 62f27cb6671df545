// Reading the MONAI metric goldens of Scripts/make_metric_fixtures.py
// (Fixtures/metric_goldens/*.json) and comparing with them: "float" is MONAI's float32 output
// (within 2e-4), "double" the same computation in float64 (within 1e-9). JSON carries NaN and ∞
// as the strings "nan" and "inf".

import XCTest

@testable import DiceKit

/// The parsed JSON object of a golden file.
func metricGolden(_ name: String) throws -> [String: Any] {
    let data = try Data(contentsOf: fixtureURL("metric_goldens/\(name).json"))
    return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
}

/// Numbers of a golden array, with "nan" and "inf" decoded.
func goldenNumbers(_ value: Any?) -> [Double] {
    (value as? [Any] ?? []).map { item in
        if let text = item as? String { return text == "inf" ? .infinity : .nan }
        return (item as! NSNumber).doubleValue
    }
}

/// Class masks from a golden input's flat label map.
func goldenMasks(_ input: [String: Any], _ key: String) throws -> ClassMasks {
    let shape = (input["shape"] as! [NSNumber]).map(\.intValue)
    let labels = (input[key] as! [NSNumber]).map(\.intValue)
    return try ClassMasks(
        labels: LabelMap(shape: shape, labels: labels), classes: (input["classes"] as! NSNumber).intValue)
}
