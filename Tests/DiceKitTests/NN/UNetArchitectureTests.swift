// UNetArchitecture: reading the reference network's hyper-parameters from a PyTorch state dict
// (Fixtures/safetensors/unet_b4_d2.safetensors, made by Scripts/make_safetensors_fixtures.py).

import XCTest
@testable import DiceKit

final class UNetArchitectureTests: XCTestCase {
    func testInfersThePyTorchReferenceNetwork() throws {
        let file = try SafetensorsFile.read(contentsOf: fixtureURL("safetensors/unet_b4_d2.safetensors").path)
        XCTAssertTrue(file.metadata.isEmpty)
        let architecture = try UNetArchitecture.infer(from: file)
        XCTAssertEqual(architecture, UNetArchitecture(inputChannels: 3, classes: 2, base: 4, depth: 2))
        XCTAssertEqual(Set(architecture.referenceShapes.map(\.name)), Set(file.names), "exactly PyTorch's state_dict keys")
        XCTAssertEqual(architecture.referenceShapes.count, file.tensors.count)
    }

    func testThreeDimensionalShapesAndErrors() throws {
        let volume = UNetArchitecture(inputChannels: 1, classes: 3, base: 2, depth: 3, spatialDimensions: 3)
        var file = SafetensorsFile()
        for (name, shape) in volume.referenceShapes {
            file.setTensor(Tensor<Float>(shape: shape), named: name)
        }
        XCTAssertEqual(try UNetArchitecture.infer(from: file), volume)
        XCTAssertEqual(volume.referenceShapes.first { $0.name == "up.0.weight" }?.shape, [16, 8, 2, 2, 2])
        file.setTensor(Tensor<Float>(shape: [2, 4, 3, 3, 3]), named: "dec.2.2.weight")
        XCTAssertThrowsError(try UNetArchitecture.infer(from: file)) {
            guard case DiceKitError.shape(let message) = $0 else { return XCTFail("\($0)") }
            XCTAssertTrue(message.contains("dec.2.2.weight"), message)
        }
        file.tensors["mid.0.bias"] = nil
        XCTAssertThrowsError(try UNetArchitecture.infer(from: file))
        XCTAssertThrowsError(try UNetArchitecture.infer(from: SafetensorsFile()))
    }
}
