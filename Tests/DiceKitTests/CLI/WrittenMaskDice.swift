// The Dice of the label maps `predict --masks` wrote for a NIfTI data set, computed here from the
// files, for the CLI tests that check `eval` against `predict`.

import XCTest

@testable import DiceKit

/// The class-1 Dice of each mask MASKS/CASE.nii.gz against DATA/labelsTr/CASE.nii.gz, for the
/// cases whose ground truth holds class 1; asserts that each mask lies on its scan's grid
/// (DATA/imagesTr/CASE_0000.nii.gz's extents and spacing).
func writtenMaskDices(
    masks: String, data: String, cases: [String], file: StaticString = #filePath, line: UInt = #line
) throws -> [Double] {
    var dices = [Double]()
    for name in cases {
        let image = try NIfTI.read(contentsOf: "\(data)/imagesTr/\(name)_0000.nii.gz")
        let truth = try NIfTI.readLabels(contentsOf: "\(data)/labelsTr/\(name).nii.gz")
        let mask = try NIfTI.readLabels(contentsOf: "\(masks)/\(name).nii.gz")
        XCTAssertEqual(mask.extents, image.extents, name, file: file, line: line)
        XCTAssertEqual(mask.spacing, image.spacing, name, file: file, line: line)
        guard truth.labels.contains(1) else { continue }
        let both = zip(mask.labels, truth.labels).filter { $0 == 1 && $1 == 1 }.count
        let sizes = mask.labels.filter { $0 == 1 }.count + truth.labels.filter { $0 == 1 }.count
        dices.append(2 * Double(both) / Double(sizes))
    }
    return dices
}
