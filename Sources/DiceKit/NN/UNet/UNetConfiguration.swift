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
    /// Output channels, one logit per class including background (default 2).
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

    /// A configuration; every argument has the reference default.
    public init(inputChannels: Int = 3, classes: Int = 2, baseWidth: Int = 16, depth: Int = 4,
                spatialRank: Int = 2, normalization: NormalizationKind = .none, activation: ActivationKind = .relu) {
        self.inputChannels = inputChannels
        self.classes = classes
        self.baseWidth = baseWidth
        self.depth = depth
        self.spatialRank = spatialRank
        self.normalization = normalization
        self.activation = activation
    }

    /// Checks that the configuration describes a network that can be built.
    ///
    /// - Throws: `DiceKitError.option` naming the offending value.
    public func validate() throws {
        guard inputChannels >= 1 else { throw DiceKitError.option("input channels \(inputChannels); expected ≥ 1") }
        guard classes >= 1 else { throw DiceKitError.option("classes \(classes); expected ≥ 1") }
        guard baseWidth >= 1 else { throw DiceKitError.option("base width \(baseWidth); expected ≥ 1") }
        guard (1...8).contains(depth) else { throw DiceKitError.option("depth \(depth); expected 1...8") }
        guard spatialRank == 2 || spatialRank == 3 else {
            throw DiceKitError.option("spatial rank \(spatialRank); expected 2 (images) or 3 (volumes)")
        }
        if case .group(let g) = normalization, baseWidth % g != 0 {
            throw DiceKitError.option("group normalisation with \(g) groups needs a base width divisible by \(g), got \(baseWidth)")
        }
        if case .leakyReLU(let slope) = activation, !(slope.isFinite && slope >= 0) {
            throw DiceKitError.option("LeakyReLU slope \(slope); expected a finite value ≥ 0")
        }
    }

    /// Width of level i: base · 2ⁱ.
    public func width(level i: Int) -> Int { baseWidth << i }

    /// The metadata DiceKit writes into checkpoints so the architecture reads back exactly.
    public var metadata: [String: String] {
        var m = ["dicekit.in": "\(inputChannels)", "dicekit.classes": "\(classes)", "dicekit.base": "\(baseWidth)",
                 "dicekit.depth": "\(depth)", "dicekit.spatial_rank": "\(spatialRank)",
                 "dicekit.normalization": normalization.name]
        switch activation {
        case .relu: m["dicekit.activation"] = "relu"
        case .leakyReLU(let slope): m["dicekit.activation"] = "leaky_relu:\(slope)"
        }
        return m
    }

    /// The architecture of a checkpoint: from DiceKit's metadata when present, otherwise read
    /// from PyTorch's tensor names and shapes (a state_dict saved by the reference script).
    ///
    /// - Throws: `DiceKitError.value` when the tensors do not describe a U-Net.
    public static func inferred(from file: SafetensorsFile) throws -> UNetConfiguration {
        guard let first = file.tensors["down.0.0.weight"], first.shape.count == 4 || first.shape.count == 5,
              let head = file.tensors["head.weight"] else {
            throw DiceKitError.value("checkpoint is not a U-Net: expected tensors 'down.0.0.weight' ([out, in, k…]) and 'head.weight'")
        }
        var config = UNetConfiguration(inputChannels: first.shape[1], classes: head.shape[0], baseWidth: first.shape[0],
                                       depth: Set(file.names.filter { $0.hasPrefix("down.") }
                                           .map { $0.split(separator: ".")[1] }).count,
                                       spatialRank: first.shape.count - 2)
        let m = file.metadata
        if let norm = m["dicekit.normalization"] {
            config.normalization = try NormalizationKind(name: norm)
        } else if file.tensors["down.0.1.running_mean"] != nil {
            config.normalization = .batch
        } else if file.tensors["down.0.1.weight"] != nil {
            throw DiceKitError.value("checkpoint has normalisation layers but no 'dicekit.normalization' metadata; cannot tell instance from group normalisation")
        }
        if let act = m["dicekit.activation"], act.hasPrefix("leaky_relu:"), let slope = Double(act.dropFirst(11)) {
            config.activation = .leakyReLU(slope: slope)
        }
        try config.validate()
        return config
    }
}
