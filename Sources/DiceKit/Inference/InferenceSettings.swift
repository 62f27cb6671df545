// How a network is applied to one image of any size: padding to the network's multiple, an
// optional sliding window, optional flip test-time augmentation. See Docs/Inference.md.

/// How an image is padded to a multiple of 2^depth on each spatial axis before inference
/// (the prediction is cropped back to the image afterwards).
public enum PaddingMode: String, Sendable, Equatable, CaseIterable {
    /// Mirror about the edge samples (NumPy's and PyTorch's "reflect": a b c | b a), so the
    /// network sees image content, not a black band, near the border. The default.
    case reflect
    /// Zeros (black; PyTorch's "constant" with 0, MONAI's default padding).
    case zero
}

/// Test-time augmentation.
public enum TestTimeAugmentation: String, Sendable, Equatable, CaseIterable {
    /// One pass on the image as it is.
    case none
    /// The mean of the logits over every combination of flips of the spatial axes (4 passes
    /// for images, 8 for volumes; nnU-Net's mirroring), each flipped back before averaging.
    case flip
}

/// How `Predictor.logits(_:image:settings:)` runs a network on one image.
public struct InferenceSettings: Sendable, Equatable {
    /// Sliding-window inference, or nil (default) for one pass over the whole padded image.
    public var window: SlidingWindow?
    /// Padding to the network's multiple (default `.reflect`).
    public var padding: PaddingMode
    /// Test-time augmentation (default `.none`).
    public var augmentation: TestTimeAugmentation

    /// Settings; the defaults run the whole image once with reflect padding.
    public init(
        window: SlidingWindow? = nil, padding: PaddingMode = .reflect, augmentation: TestTimeAugmentation = .none
    ) {
        self.window = window
        self.padding = padding
        self.augmentation = augmentation
    }

    /// Checks the settings against a network: a tile needs one extent per spatial axis (or one
    /// for all), each a multiple of 2^depth.
    ///
    /// - Throws: `DiceKitError.option` naming the tile and the expected multiple.
    public func validate(for configuration: UNetConfiguration) throws {
        guard let window else { return }
        let rank = configuration.spatialRank
        let multiple = 1 << configuration.depth
        guard window.tile.count == 1 || window.tile.count == rank else {
            throw DiceKitError.option(
                "tile \(window.tile.map(String.init).joined(separator: ",")) has \(window.tile.count) extents; expected 1 or \(rank) for a \(rank)-D network"
            )
        }
        for extent in window.tile where extent % multiple != 0 {
            let below = max(multiple, extent / multiple * multiple)
            throw DiceKitError.option(
                "tile \(extent) is not a multiple of 2^depth = \(multiple) of the network; expected e.g. \(below) or \(below + multiple)"
            )
        }
    }
}
