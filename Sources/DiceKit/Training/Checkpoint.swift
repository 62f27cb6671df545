// Training checkpoints as two .safetensors files:
//   PATH                          the model's state dict: PyTorch names and layouts (so
//                                 `model.load_state_dict(safetensors.torch.load_file(PATH))`
//                                 works), metadata {"format": "pt", "epoch": …, plus the caller's}
//   PATH minus .safetensors + .optimizer.safetensors
//                                 the optimiser state (`Optimizer.stateDict()`, DiceKit layout)
//                                 with metadata "epoch"
// Each file is written atomically; the optimiser file goes first, so a crash between the two
// leaves a model file whose epoch no longer matches: `resume` detects that and says so.

/// Saving and restoring training checkpoints (see the file header for the layout).
public enum Checkpoint {
    /// The optimiser file that belongs to the model file `path`:
    /// "run/best.safetensors" → "run/best.optimizer.safetensors".
    public static func optimizerPath(for path: String) -> String {
        (path.hasSuffix(".safetensors") ? String(path.dropLast(".safetensors".count)) : path) + ".optimizer.safetensors"
    }

    /// Writes the model (and, if given, the optimiser) after `epoch` finished epochs.
    ///
    /// - Parameter metadata: extra strings for the model file (architecture, loss, seed…).
    /// - Throws: `SafetensorsError.io` when a file cannot be written; the previous files stay intact.
    public static func save<Scalar: BLASScalar>(model: ParameterStore<Scalar>, optimizer: (any Optimizer<Scalar>)?, epoch: Int,
                                                metadata: [String: String] = [:], to path: String) throws {
        try save(model: model, optimizer: optimizer, epoch: epoch, metadata: metadata, to: path, failAfterBytes: nil)
    }

    /// Test hook: `save` with a failure injected while the model file is written.
    static func save<Scalar: BLASScalar>(model: ParameterStore<Scalar>, optimizer: (any Optimizer<Scalar>)?, epoch: Int,
                                         metadata: [String: String], to path: String, failAfterBytes: Int?) throws {
        if let optimizer {
            var state = optimizer.stateDict()
            state.metadata["epoch"] = String(epoch)
            try state.write(to: optimizerPath(for: path))
        }
        let weights = model.stateDict(metadata: metadata.merging(["format": "pt", "epoch": String(epoch)]) { $1 })
        try weights.write(to: path, failAfterBytes: failAfterBytes)
    }

    /// Loads model weights (a DiceKit checkpoint or a PyTorch `save_file` of a state_dict) into
    /// `model` and returns the file's metadata (empty for files without any).
    ///
    /// - Parameter strict: every parameter present and nothing else (default true).
    /// - Throws: `SafetensorsError` for an unreadable file; `DiceKitError` for missing,
    ///   unexpected or misshapen tensors (the model is then unchanged).
    @discardableResult
    public static func loadModel<Scalar: BLASScalar>(from path: String, into model: ParameterStore<Scalar>,
                                                     strict: Bool = true) throws -> [String: String] {
        let file = try SafetensorsFile.read(contentsOf: path)
        try model.load(file, strict: strict)
        return file.metadata
    }

    /// Restores model and optimiser to continue training, and returns the number of finished
    /// epochs recorded in the checkpoint (0 for a PyTorch file without an "epoch").
    ///
    /// - Throws: as `loadModel`; `DiceKitError.file` when the optimiser file is missing or
    ///   belongs to another epoch; `DiceKitError.value` for another optimiser's state.
    public static func resume<Scalar: BLASScalar>(from path: String, model: ParameterStore<Scalar>,
                                                  optimizer: any Optimizer<Scalar>) throws -> Int {
        let metadata = try loadModel(from: path, into: model)
        let epoch = metadata["epoch"].flatMap { Int($0) } ?? 0
        let statePath = optimizerPath(for: path)
        let state: SafetensorsFile
        do {
            state = try SafetensorsFile.read(contentsOf: statePath)
        } catch SafetensorsError.io(_, let reason) {
            throw DiceKitError.file(path: statePath, reason: "optimizer state for \(path): \(reason)")
        }
        guard state.metadata["epoch"].flatMap({ Int($0) }) == epoch else {
            throw DiceKitError.file(path: statePath, reason: "optimizer state is for epoch \(state.metadata["epoch"] ?? "?"); the model file \(path) is at epoch \(epoch)")
        }
        try optimizer.loadState(state, parameters: model.trainable)
        return epoch
    }
}
