// `dicekit grad`: one forward and backward pass of a checkpoint's U-Net with the softmax Dice
// loss, writing every parameter's gradient under its checkpoint name, so DiceKit can be checked
// against any other framework tensor by tensor.

import DiceKit

enum GradCommand: Command {
    static let spec = CommandSpec(
        name: "grad",
        summary: "parameter gradients of the softmax Dice loss for a checkpoint, as .safetensors",
        help: """
            usage: dicekit grad --checkpoint FILE --images X.npy --labels Y.npy --out G.safetensors

            X: images [N, H, W, C] (float32/float64, or uint8 scaled by 1/255), channels-last.
            Y: integer labels [N, H, W] (any integer dtype, or whole-number floats).
            Loss: MONAI DiceLoss(softmax=True, to_onehot_y=True) defaults, mean reduction, in Float.
            Writes d(loss)/d(parameter) for every trainable parameter under its PyTorch state_dict name
            and layout, and prints {"loss": x}.
            """,
        valueOptions: ["checkpoint", "images", "labels", "out"]
    )

    static func run(_ arguments: ParsedArguments) throws {
        let (checkpoint, imagesPath, labelsPath, out) = (
            try arguments.required("checkpoint"), try arguments.required("images"),
            try arguments.required("labels"), try arguments.required("out")
        )
        try checkOutputs(files: [out])
        let model = try UNet<Float>.load(contentsOf: checkpoint)
        let images = try loadImages(imagesPath)
        let labelArray = try NPY.read(contentsOf: labelsPath)
        let labels = try LabelMap(shape: labelArray.shape, labels: labelArray.integers())
        let logits = try model.forward(images, mode: .training)
        let result = try DiceLoss(variant: .dice, activation: .softmax).evaluate(
            logits, target: .labels(labels), gradient: true)
        model.parameters.zeroGradients()
        try model.backward(result.gradient!)
        try model.parameters.gradientDict().write(to: out)
        printOutput("{\"loss\": \(jsonNumber(result.value))}")
    }
}

/// Images [N, spatial…, C] from a .npy file: float32/float64 as they are, uint8 scaled by 1/255.
func loadImages(_ path: String) throws -> Tensor<Float> {
    let array = try NPY.read(contentsOf: path)
    let tensor = array.tensor(of: Float.self)
    guard tensor.isFinite else {
        throw DiceKitError.value("\(path) holds NaN or infinite values; expected finite pixels")
    }
    guard tensor.rank == 4 || tensor.rank == 5 else {
        throw DiceKitError.shape(
            "\(path) has shape \(array.shape); expected images [N, H, W, C] or volumes [N, D, H, W, C]")
    }
    return array.dtype == .uint8 ? tensor.map { $0 / 255 } : tensor
}
