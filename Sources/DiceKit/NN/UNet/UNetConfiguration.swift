// The hyper-parameters of a U-Net and how they are read back from a checkpoint's tensor names.

/// Normalisation after each convolution of a U-Net block.
public enum NormalizationKind: Sendable, Equatable {
    /// None: the reference architecture (`shared/reference/unet_torch.py`).
    case none
    /// BatchNorm (running statistics in evaluation mode).
    case batch
    /// InstanceNorm with affine weight and bias (nnU-Net's choice).
    case instance
    /// GroupNorm with the given number of groups.
    case group(groups: Int)

    /// The spelling used in checkpoints' metadata and on the command line:
    /// "none", "batch", "instance", "group:G".
    public var name: String {
        switch self {
        case .none: return "none"
        case .batch: return "batch"
        case .instance: return "instance"
        case .group(let g): return "group:\(g)"
        }
    }

    /// Parses `name`'s spelling (and "group" alone as 8 groups).
    ///
    /// - Throws: `DiceKitError.option` for anything else.
    public init(name: String) throws {
        switch name {
        case "none": self = .none
        case "batch": self = .batch
        case "instance": self = .instance
        case "group": self = .group(groups: 8)
        default:
            if name.hasPrefix("group:"), let g = Int(name.dropFirst(6)), g >= 1 {
                self = .group(groups: g)
            } else {
                throw DiceKitError.option("normalization '\(name)'; expected none, batch, instance or group:G")
            }
        }
    }
}

/// The shape of a U-Net (Ronneberger et al. 2015 with 'same' padding).
///
/// `depth` encoder levels of widths base·2ⁱ (each two 3×3 convolutions + activation, then 2×
/// max pooling), a middle block of width base·2^depth, `depth` decoder levels (2× transposed
/// convolution, concatenation [up-sampled, skip], two convolutions) and a 1×1 head with
/// `classes` outputs. With `.none` normalisation and ReLU it is exactly
/// `shared/reference/unet_torch.py`, with the same state_dict names and layouts.
public struct UNetConfiguration: Sendable, Equatable {
    /// Channels of the input images (default 3, RGB).
    public var inputChannels: Int
    /// Output channels, one logit per class including background (default 2); with `regions`,
    /// one sigmoid logit per region.
    public var classes: Int
    /// Width of the first level (default 16).
    public var baseWidth: Int
    /// Number of down-sampling levels (default 4); inputs need extents divisible by 2^depth.
    public var depth: Int
    /// 2 for images [N, H, W, C], 3 for volumes [N, D, H, W, C] (default 2).
    public var spatialRank: Int
    /// Normalisation after each convolution (default none).
    public var normalization: NormalizationKind
    /// Activation after each convolution (default ReLU).
    public var activation: ActivationKind
    /// What the outputs mean: nil (default) for one softmax logit per class, or the overlapping
    /// regions of labels whose sigmoid logits the outputs are (region-based training; `classes`
    /// is then the region count).
    public var regions: LabelRegions?

    /// A configuration; every argument has the reference default.
    public init(
        inputChannels: Int = 3, classes: Int = 2, baseWidth: Int = 16, depth: Int = 4,
        spatialRank: Int = 2, normalization: NormalizationKind = .none, activation: ActivationKind = .relu,
        regions: LabelRegions? = nil
    ) {
        self.regions = regions
        self.inputChannels = inputChannels
        self.classes = classes
        self.baseWidth = baseWidth
        self.depth = depth
        self.spatialRank = spatialRank
        self.normalization = normalization
        self.activation = activation
    }

    /// The largest number of input channels (1...1024).
    public static let maximumInputChannels = 1024
    /// The largest number of classes (1...256).
    public static let maximumClasses = 256
    /// The largest width of any level, base · 2^depth (a 3×3 convolution of that width holds
    /// 4096 × 2048 × 9 weights, 302 MB in Float).
    public static let maximumWidth = 4096
    /// The largest depth (1...8).
    public static let maximumDepth = 8

    /// Checks that the configuration describes a network that can be built, within the bounds
    /// above (so a checkpoint or an option cannot ask for terabytes).
    ///
    /// - Throws: `DiceKitError.option` naming the offending value.
    public func validate() throws {
        guard (1...Self.maximumInputChannels).contains(inputChannels) else {
            throw DiceKitError.invalidOption(
                name: "input channels", value: "\(inputChannels)", expected: "1...\(Self.maximumInputChannels)")
        }
        guard (1...Self.maximumClasses).contains(classes) else {
            throw DiceKitError.invalidOption(
                name: "classes", value: "\(classes)", expected: "1...\(Self.maximumClasses)")
        }
        guard (1...Self.maximumWidth).contains(baseWidth) else {
            throw DiceKitError.invalidOption(
                name: "base width", value: "\(baseWidth)", expected: "1...\(Self.maximumWidth)")
        }
        guard (1...Self.maximumDepth).contains(depth) else {
            throw DiceKitError.invalidOption(name: "depth", value: "\(depth)", expected: "1...\(Self.maximumDepth)")
        }
        guard baseWidth << depth <= Self.maximumWidth else {
            throw DiceKitError.option(
                "widest level base · 2^depth = \(baseWidth) · 2^\(depth) = \(baseWidth << depth); expected ≤ \(Self.maximumWidth)"
            )
        }
        guard spatialRank == 2 || spatialRank == 3 else {
            throw DiceKitError.invalidOption(
                name: "spatial rank", value: "\(spatialRank)", expected: "2 (images) or 3 (volumes)")
        }
        if case .group(let g) = normalization, baseWidth % g != 0 {
            throw DiceKitError.option(
                "group normalisation with \(g) groups needs a base width divisible by \(g), got \(baseWidth)")
        }
        if case .leakyReLU(let slope) = activation, !(slope.isFinite && slope >= 0) {
            throw DiceKitError.invalidOption(name: "LeakyReLU slope", value: "\(slope)", expected: "a finite value ≥ 0")
        }
        if let regions, regions.count != classes {
            throw DiceKitError.option(
                "\(regions.count) regions (\(regions.description)) but \(classes) output channels; expected one channel per region"
            )
        }
    }

    /// The labels the network's outputs stand for: its classes, or the labels its regions cover
    /// (labels 0..<`labelClasses`).
    public var labelClasses: Int { regions?.labelClasses ?? classes }

    /// What the outputs are, for messages: "classes", or "regions" with `regions`.
    public var outputsName: String { regions == nil ? "classes" : "regions" }

    /// Width of level i: base · 2ⁱ.
    public func width(level i: Int) -> Int { baseWidth << i }

    /// The metadata DiceKit writes into checkpoints so the architecture reads back exactly.
    public var metadata: [String: String] {
        var m = [
            "dicekit.in": "\(inputChannels)", "dicekit.classes": "\(classes)", "dicekit.base": "\(baseWidth)",
            "dicekit.depth": "\(depth)", "dicekit.spatial_rank": "\(spatialRank)",
            "dicekit.normalization": normalization.name,
        ]
        switch activation {
        case .relu: m["dicekit.activation"] = "relu"
        case .leakyReLU(let slope): m["dicekit.activation"] = "leaky_relu:\(slope)"
        }
        if let regions {
            m["dicekit.regions"] = regions.description
            m["dicekit.region_order"] = regions.orderDescription
            if let names = regions.names {
                m["dicekit.region_names"] = JSONValue.array(names.map(JSONValue.string)).encoded
            }
        }
        return m
    }
}
