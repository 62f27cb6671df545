// U-Net checkpoints: `.safetensors` with PyTorch's state_dict names and layouts, so a DiceKit
// checkpoint loads into the reference PyTorch model with `load_state_dict` and the other way
// round. DiceKit adds its configuration as string metadata; a file without it (saved by
// PyTorch) still loads, its architecture read from the tensor names and shapes.

extension UNet {
    /// Loads a network from a `.safetensors` checkpoint (DiceKit's or PyTorch's).
    ///
    /// Tensors named `optimizer.*` and `ema.*` (the optimiser state and the weight average inside
    /// a training checkpoint, `last.safetensors`) and `deep_supervision.*` (the deep-supervision
    /// heads a training checkpoint keeps) are skipped: the network predicts with its trained
    /// weights and its full-resolution head.
    ///
    /// - Throws: `SafetensorsError` for an unreadable file; `DiceKitError.value` when the
    ///   tensors do not describe a U-Net or a tensor is missing or unexpected;
    ///   `DiceKitError.shape` when a tensor's shape differs from the architecture's.
    public static func load(contentsOf path: String) throws -> UNet {
        var file = try SafetensorsFile.read(contentsOf: path)
        file.tensors = file.tensors.filter {
            !UNetConfiguration.isTrainingState($0.key) && !$0.key.hasPrefix(UNetConfiguration.deepSupervisionPrefix)
        }
        let model = try UNet(UNetConfiguration.inferred(from: file))
        try model.parameters.load(file)
        return model
    }

    /// Writes the parameters and buffers to `path` atomically (temporary file, then rename), with
    /// the configuration and `metadata` as string metadata. Deep-supervision heads are left
    /// out: the file is the reference U-Net's state_dict (PyTorch loads it with strict=True).
    ///
    /// - Throws: `SafetensorsError.io` when the file cannot be written; the previous file at
    ///   `path`, if any, is then left intact.
    public func save(to path: String, metadata: [String: String] = [:]) throws {
        try checkpointFile(metadata: metadata).write(to: path)
    }

    /// What `save(to:metadata:)` writes: the state_dict without the deep-supervision heads, with
    /// the configuration and `metadata` as string metadata.
    public func checkpointFile(metadata: [String: String] = [:]) -> SafetensorsFile {
        let all = configuration.metadata.merging(metadata) { _, new in new }
        var file = parameters.stateDict(metadata: all)
        file.tensors = file.tensors.filter { !$0.key.hasPrefix(UNetConfiguration.deepSupervisionPrefix) }
        return file
    }
}
