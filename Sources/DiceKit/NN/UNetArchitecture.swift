// The reference U-Net's hyper-parameters and its PyTorch state_dict layout
// (`shared/reference/unet_torch.py`): `depth` encoder levels of two 3×3 convolutions (widths
// base·2ⁱ), a middle block, `depth` decoder levels (2×2 transposed convolution, concatenation,
// two 3×3 convolutions), and a 1×1 head. Reading these from tensor names and shapes lets a
// checkpoint saved by PyTorch (no metadata) be loaded without being told the architecture.

/// The hyper-parameters of the reference U-Net, as far as tensor names and shapes reveal them.
public struct UNetArchitecture: Sendable, Equatable {
    /// Input channels (3 for RGB).
    public var inputChannels: Int
    /// Output classes K.
    public var classes: Int
    /// Width of the first level; level i has base·2ⁱ channels.
    public var base: Int
    /// Number of encoder (and decoder) levels.
    public var depth: Int
    /// 2 for images, 3 for volumes.
    public var spatialDimensions: Int

    /// An architecture; see the properties.
    public init(inputChannels: Int, classes: Int, base: Int, depth: Int, spatialDimensions: Int = 2) {
        self.inputChannels = inputChannels
        self.classes = classes
        self.base = base
        self.depth = depth
        self.spatialDimensions = spatialDimensions
    }

    /// Every convolution parameter of the reference network (no normalisation) with its PyTorch
    /// shape, in state_dict order: conv weights [out, in, k…], transposed-conv weights
    /// [in, out, 2…], biases [out].
    public var referenceShapes: [(name: String, shape: [Int])] {
        let width = (0...depth).map { base << $0 }
        let k3 = [Int](repeating: 3, count: spatialDimensions), k2 = [Int](repeating: 2, count: spatialDimensions)
        let k1 = [Int](repeating: 1, count: spatialDimensions)
        var shapes = [(name: String, shape: [Int])]()
        func conv(_ name: String, _ input: Int, _ output: Int, _ kernel: [Int]) {
            shapes += [("\(name).weight", [output, input] + kernel), ("\(name).bias", [output])]
        }
        for i in 0..<depth {
            conv("down.\(i).0", i == 0 ? inputChannels : width[i - 1], width[i], k3)
            conv("down.\(i).2", width[i], width[i], k3)
        }
        conv("mid.0", width[depth - 1], width[depth], k3)
        conv("mid.2", width[depth], width[depth], k3)
        for (j, i) in (0..<depth).reversed().enumerated() {
            shapes += [("up.\(j).weight", [width[i + 1], width[i]] + k2), ("up.\(j).bias", [width[i]])]
        }
        for (j, i) in (0..<depth).reversed().enumerated() {
            conv("dec.\(j).0", 2 * width[i], width[i], k3)
            conv("dec.\(j).2", width[i], width[i], k3)
        }
        conv("head", width[0], classes, k1)
        return shapes
    }

    /// Reads the architecture from a state dict (`down.0.0.weight` gives base, input channels
    /// and the spatial rank; the `down.i` levels the depth; `head.weight` the classes), then
    /// checks every convolution tensor of the reference layout against it.
    ///
    /// - Throws: `DiceKitError.value` naming the first missing tensor; `DiceKitError.shape`
    ///   naming the first tensor whose shape does not fit.
    public static func infer(from file: SafetensorsFile) throws -> UNetArchitecture {
        guard let first = file.tensors["down.0.0.weight"], first.shape.count == 4 || first.shape.count == 5 else {
            throw DiceKitError.value("not a U-Net state dict: expected 'down.0.0.weight' of shape [base, in, 3, 3] or [base, in, 3, 3, 3]")
        }
        guard let head = file.tensors["head.weight"], head.shape.count == first.shape.count else {
            throw DiceKitError.value("not a U-Net state dict: expected 'head.weight' of shape [classes, base, 1, 1]")
        }
        let levels = Set(file.names.compactMap { name -> Int? in
            let parts = name.split(separator: ".")
            return parts.count >= 2 && parts[0] == "down" ? Int(parts[1]) : nil
        })
        let depth = levels.count
        guard depth >= 1, levels == Set(0..<depth) else {
            throw DiceKitError.value("U-Net state dict has encoder levels \(levels.sorted()); expected down.0 … down.\(max(depth - 1, 0))")
        }
        let architecture = UNetArchitecture(inputChannels: first.shape[1], classes: head.shape[0], base: first.shape[0],
                                            depth: depth, spatialDimensions: first.shape.count - 2)
        for (name, shape) in architecture.referenceShapes {
            guard let tensor = file.tensors[name] else {
                throw DiceKitError.value("U-Net state dict (base \(architecture.base), depth \(depth)) lacks '\(name)'")
            }
            guard tensor.shape == shape else {
                throw DiceKitError.shape("U-Net tensor '\(name)' has shape \(tensor.shape); base \(architecture.base), depth \(depth) needs \(shape)")
            }
        }
        return architecture
    }
}
