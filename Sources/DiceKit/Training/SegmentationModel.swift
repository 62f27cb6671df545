// The contract between a segmentation network (the U-Net, or any other) and the `Trainer`.

/// A network that maps images to per-class logits, with an explicit backward pass.
///
/// Shapes are channels-last: images [batch, spatial…, C] → logits [batch, spatial…, K] with
/// K = the number of classes. A U-Net conforms by registering every layer's parameters in
/// `parameters` (PyTorch state_dict names) and chaining its layers' `forward`/`backward`.
public protocol SegmentationModel<Scalar>: AnyObject {
    /// The element type, Float or Double.
    associatedtype Scalar: BLASScalar
    /// Every parameter and buffer, by PyTorch state_dict name.
    var parameters: ParameterStore<Scalar> { get }
    /// Logits for `images`, caching what `backward` needs.
    ///
    /// - Throws: `DiceKitError.shape` when the images do not fit the network.
    func forward(_ images: Tensor<Scalar>, mode: LayerMode) throws -> Tensor<Scalar>
    /// Accumulates every parameter's gradient from d(loss)/d(logits) of the last forward call.
    ///
    /// - Throws: `DiceKitError.shape` when the gradient does not have the logits' shape.
    func backward(_ logitsGradient: Tensor<Scalar>) throws
}

/// A training loss: its value for one batch (a mean over the batch) and d(value)/d(logits).
///
/// Called with the logits [B, spatial…, K] and the batch (labels [B, spatial…] as `Int32`).
public typealias SegmentationLoss<Scalar: BLASScalar> =
    (_ logits: Tensor<Scalar>, _ batch: SegmentationBatch) throws -> (value: Double, gradient: Tensor<Scalar>)
