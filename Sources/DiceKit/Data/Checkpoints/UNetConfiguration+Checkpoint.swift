// A checkpoint's architecture, read and checked before any layer is built.
//
// A checkpoint is untrusted input: a 37 KB file may declare `down.0.0.weight` of shape
// [1000000, 3, 3, 0] (zero bytes of data) and so ask for a U-Net of width 10⁶. The order here
// is therefore: parse the names that fix the architecture without indexing anything that may
// be missing, bound every hyper-parameter (`validate()`), then compute every tensor's shape
// from the configuration and compare the file with it, name by name, all before `UNet.init`
// allocates a single weight.

import Foundation

extension UNetConfiguration {
    /// The prefix of tensors that hold optimiser state in the same file as the model; the model
    /// loader skips them.
    public static let optimizerStatePrefix = "optimizer."
    /// The prefix of tensors that hold the weight average (`WeightAverage`) in a training
    /// checkpoint; the model loader skips them.
    public static let averagedWeightsPrefix = "ema."

    /// Whether `name` is a tensor of a training checkpoint's state beside the model (optimiser
    /// state or weight average), which every model loader skips.
    public static func isTrainingState(_ name: String) -> Bool {
        name.hasPrefix(optimizerStatePrefix) || name.hasPrefix(averagedWeightsPrefix)
    }
    /// The prefix of the deep-supervision heads' tensors (`UNet.enableDeepSupervision`), kept in
    /// training checkpoints only; the architecture check skips them.
    public static let deepSupervisionPrefix = "deep_supervision."

    /// The architecture of a checkpoint: from DiceKit's metadata when present, otherwise read
    /// from PyTorch's tensor names and shapes (a state_dict saved by the reference script).
    ///
    /// Every tensor of the file is checked against the architecture before this returns: every
    /// name the U-Net has must be present with its exact shape, and no other name may appear
    /// except those starting with `optimizerStatePrefix` or `deepSupervisionPrefix`.
    ///
    /// - Throws: `DiceKitError.value` when the tensors do not describe a U-Net or a tensor is
    ///   missing or unexpected; `DiceKitError.shape` for a tensor whose shape differs from the
    ///   architecture's; `DiceKitError.option` for an architecture beyond the bounds of
    ///   `validate()` (width, depth, classes, input channels).
    public static func inferred(from file: SafetensorsFile) throws -> UNetConfiguration {
        guard let first = file.tensors["down.0.0.weight"], let head = file.tensors["head.weight"] else {
            throw DiceKitError.value(
                "checkpoint is not a U-Net: expected tensors 'down.0.0.weight' ([out, in, k…]) and 'head.weight'")
        }
        guard first.shape.count == 4 || first.shape.count == 5 else {
            throw DiceKitError.shape(
                "checkpoint tensor 'down.0.0.weight' has shape \(first.shape); expected [out, in, 3, 3] or [out, in, 3, 3, 3]"
            )
        }
        guard head.shape.count == first.shape.count else {
            throw DiceKitError.shape(
                "checkpoint tensor 'head.weight' has shape \(head.shape); expected rank \(first.shape.count) like 'down.0.0.weight'"
            )
        }
        var depth = 0
        while depth <= maximumDepth, file.tensors["down.\(depth).0.weight"] != nil { depth += 1 }
        var config = UNetConfiguration(
            inputChannels: first.shape[1], classes: head.shape[0], baseWidth: first.shape[0],
            depth: depth, spatialRank: first.shape.count - 2)
        let m = file.metadata
        if let norm = m["dicekit.normalization"] {
            config.normalization = try NormalizationKind(name: norm)
        } else if file.tensors["down.0.1.running_mean"] != nil {
            config.normalization = .batch
        } else if file.tensors["down.0.1.weight"] != nil {
            throw DiceKitError.value(
                "checkpoint has normalisation layers but no 'dicekit.normalization' metadata; cannot tell instance from group normalisation"
            )
        }
        if let act = m["dicekit.activation"], act.hasPrefix("leaky_relu:") {
            guard let slope = Double(act.dropFirst(11)) else {
                throw DiceKitError.value(
                    "checkpoint metadata 'dicekit.activation' is '\(act)'; expected relu or leaky_relu:SLOPE")
            }
            config.activation = .leakyReLU(slope: slope)
        }
        config.regions = try regions(in: m)
        try config.validate()
        try config.checkTensors(of: file)
        return config
    }

    /// The regions a checkpoint's metadata records ("dicekit.regions", "dicekit.region_order",
    /// "dicekit.region_names"), or nil when it records none.
    ///
    /// - Throws: `DiceKitError.value` naming the metadata entry that does not parse.
    static func regions(in metadata: [String: String]) throws -> LabelRegions? {
        guard let text = metadata["dicekit.regions"] else { return nil }
        do {
            let parsed = try LabelRegions(parsing: text, order: metadata["dicekit.region_order"])
            guard let namesText = metadata["dicekit.region_names"] else { return parsed }
            guard let data = namesText.data(using: .utf8),
                let names = (try? JSONSerialization.jsonObject(with: data)) as? [String]
            else {
                throw DiceKitError.value("'dicekit.region_names' is not a JSON array of strings")
            }
            return try LabelRegions(regions: parsed.regions, order: parsed.order, names: names)
        } catch let error as DiceKitError {
            throw DiceKitError.value("checkpoint metadata 'dicekit.regions' \(text): \(error.description)")
        }
    }

    /// Every tensor of a checkpoint of this architecture, by name, with its shape in checkpoint
    /// (PyTorch) layout: what `UNet(self).parameters.stateDict()` holds, computed without
    /// building the network.
    ///
    /// - Precondition: `validate()` passes.
    public func checkpointShapes() -> [(name: String, shape: [Int])] {
        var result: [(name: String, shape: [Int])] = []
        let kernel = Array(repeating: 3, count: spatialRank)
        func block(_ prefix: String, _ input: Int, _ output: Int) {
            var stride = 3 // conv, norm, activation
            if case .none = normalization { stride = 2 }
            for (n, (i, o)) in [(input, output), (output, output)].enumerated() {
                let conv = "\(prefix).\(n * stride)"
                result.append(("\(conv).weight", [o, i] + kernel))
                result.append(("\(conv).bias", [o]))
                let norm = "\(prefix).\(n * stride + 1)"
                switch normalization {
                case .none: break
                case .batch:
                    for name in ["weight", "bias", "running_mean", "running_var"] {
                        result.append(("\(norm).\(name)", [o]))
                    }
                    result.append(("\(norm).num_batches_tracked", []))
                case .instance, .group:
                    for name in ["weight", "bias"] { result.append(("\(norm).\(name)", [o])) }
                }
            }
        }
        for i in 0..<depth { block("down.\(i)", i == 0 ? inputChannels : width(level: i - 1), width(level: i)) }
        block("mid", width(level: depth - 1), width(level: depth))
        for (j, i) in (0..<depth).reversed().enumerated() {
            result.append(
                ("up.\(j).weight", [width(level: i + 1), width(level: i)] + Array(repeating: 2, count: spatialRank)))
            result.append(("up.\(j).bias", [width(level: i)]))
        }
        for (j, i) in (0..<depth).reversed().enumerated() { block("dec.\(j)", 2 * width(level: i), width(level: i)) }
        result.append(("head.weight", [classes, baseWidth] + Array(repeating: 1, count: spatialRank)))
        result.append(("head.bias", [classes]))
        return result
    }

    /// Compares the tensors of `file` with `checkpointShapes()`: names starting with
    /// `optimizerStatePrefix` or `deepSupervisionPrefix` are skipped, every other name must be expected, with its shape,
    /// and every expected name present.
    ///
    /// - Throws: `DiceKitError.value` for a missing or unexpected tensor, `DiceKitError.shape`
    ///   for a shape that differs (each naming the tensor and the expected value).
    public func checkTensors(of file: SafetensorsFile) throws {
        let expected = checkpointShapes()
        let shapes = Dictionary(expected.map { ($0.name, $0.shape) }) { a, _ in a }
        let architecture =
            "base \(baseWidth), depth \(depth), \(inputChannels) input channel(s), \(classes) classes, norm \(normalization.name)"
        let unexpected = file.names.filter {
            !Self.isTrainingState($0) && !$0.hasPrefix(Self.deepSupervisionPrefix) && shapes[$0] == nil
        }
        if !unexpected.isEmpty {
            throw DiceKitError.value(
                "checkpoint has \(unexpected.count) tensor(s) that a U-Net of \(architecture) does not have: "
                    + unexpected.prefix(5).map { "'\($0)'" }.joined(separator: ", "))
        }
        for (name, shape) in expected {
            guard let entry = file.tensors[name] else {
                throw DiceKitError.value(
                    "checkpoint lacks tensor '\(name)' of shape \(shape) (a U-Net of \(architecture))")
            }
            guard entry.shape == shape else {
                throw DiceKitError.shape(
                    "checkpoint tensor '\(name)' has shape \(entry.shape); a U-Net of \(architecture) expects \(shape)")
            }
        }
    }
}
