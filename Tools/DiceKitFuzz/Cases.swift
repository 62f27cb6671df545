// The seed inputs (made by the tool itself) and the six kinds of fuzz case built from them.
//
// Seeds, made once per run in WORK/seeds: a synthetic data set (images.npy + masks.npy and the
// same images as PNG files), a PNG-only copy of it, a tiny real training run (depth 1,
// base 4, one epoch) whose folder holds a checkpoint, its optimiser state and metrics.jsonl,
// and NIfTI volumes in nnU-Net's layout with a 3-D checkpoint trained on them.
// Each case copies what it mutates into WORK/case and runs one command on it.

import Foundation

/// The kinds of input the harness mutates.
enum CaseKind: String, CaseIterable {
    case npy, safetensors, png, resume, loss, nifti
}

/// Paths of the seed inputs.
struct Seeds {
    let root: String
    var npyData: String { root + "/npy" }
    var pngData: String { root + "/png" }
    var run: String { root + "/run" }
    var checkpoint: String { run + "/last.safetensors" }
    var niftiData: String { root + "/nifti" }
    var volumeCheckpoint: String { root + "/run3d/last.safetensors" }

    /// Training options shared by the seed run, the resumed runs and training on mutated data:
    /// small enough that a case takes a fraction of a second.
    static let tinyTraining = [
        "--epochs", "1", "--depth", "1", "--base", "4", "--batch-size", "2", "--val-fraction", "0.34",
        "--no-augment", "--seed", "0", "--threads", "1",
    ]

    /// Makes the seeds with `dicekit` (synth, then a one-epoch training run).
    static func make(in root: String, dicekit: String) throws -> Seeds {
        let seeds = Seeds(root: root)
        try? FileManager.default.removeItem(atPath: root)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try check(
            runTool(
                dicekit, ["synth", "--out", seeds.npyData, "--count", "6", "--size", "16", "--png", "--seed", "7"],
                in: root, timeout: 120), "synth")
        for sub in ["images", "masks"] {
            try FileManager.default.createDirectory(atPath: seeds.pngData, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: seeds.npyData + "/" + sub, toPath: seeds.pngData + "/" + sub)
        }
        try check(
            runTool(
                dicekit, ["train", "--data", seeds.npyData, "--out", seeds.run] + tinyTraining, in: root, timeout: 300),
            "train")
        try check(
            runTool(
                dicekit, ["synth", "--format", "nifti", "--out", seeds.niftiData, "--count", "4", "--size", "8"],
                in: root, timeout: 120), "synth --format nifti")
        try check(
            runTool(
                dicekit, ["train", "--data", seeds.niftiData, "--out", root + "/run3d"] + tinyTraining, in: root,
                timeout: 300), "train on NIfTI")
        return seeds
    }

    private static func check(_ result: RunResult, _ what: String) throws {
        guard result.status == 0, !result.signalled, !result.timedOut else {
            throw FuzzError("making the seed inputs failed: dicekit \(what) exited \(result.status): \(result.stderr)")
        }
    }
}

/// One fuzz input: the files under `directory` and the command to run on them.
struct FuzzCase {
    let kind: CaseKind
    /// The mutated file.
    let mutated: String
    /// `dicekit` arguments (the first is the command).
    let arguments: [String]
}

/// Builds case `kind` in `directory` (emptied first) from `seeds`, using `random`.
func makeCase(_ kind: CaseKind, in directory: String, seeds: Seeds, random: inout FuzzRandom) throws -> FuzzCase {
    let fm = FileManager.default
    try? fm.removeItem(atPath: directory)
    try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
    switch kind {
    case .npy:
        let data = directory + "/data"
        try fm.createDirectory(atPath: data, withIntermediateDirectories: true)
        for name in ["images.npy", "masks.npy"] {
            try fm.copyItem(atPath: seeds.npyData + "/" + name, toPath: data + "/" + name)
        }
        let target = data + "/" + random.pick(["images.npy", "images.npy", "masks.npy"])
        try mutateFile(target, &random)
        let commands: [[String]] = [
            ["info", target],
            ["eval", "--checkpoint", seeds.checkpoint, "--data", data],
            [
                "predict", "--checkpoint", seeds.checkpoint, "--input", data + "/images.npy", "--logits",
                directory + "/logits.npy",
            ],
            ["train", "--data", data, "--out", directory + "/run"] + Seeds.tinyTraining,
            ["loss", target, seeds.npyData + "/masks.npy", "--labels", "--activation", "softmax"],
            [
                "grad", "--checkpoint", seeds.checkpoint, "--images", data + "/images.npy", "--labels",
                data + "/masks.npy",
                "--out", directory + "/grad.safetensors",
            ],
        ]
        return FuzzCase(kind: kind, mutated: target, arguments: random.pick(commands))
    case .safetensors:
        let target = directory + "/model.safetensors"
        try fm.copyItem(atPath: seeds.checkpoint, toPath: target)
        try mutateFile(target, &random)
        let commands: [[String]] = [
            ["info", target],
            ["eval", "--checkpoint", target, "--data", seeds.npyData],
            [
                "predict", "--checkpoint", target, "--input", seeds.npyData + "/images.npy", "--logits",
                directory + "/logits.npy",
            ],
            [
                "grad", "--checkpoint", target, "--images", seeds.npyData + "/images.npy", "--labels",
                seeds.npyData + "/masks.npy",
                "--out", directory + "/grad.safetensors",
            ],
        ]
        return FuzzCase(kind: kind, mutated: target, arguments: random.pick(commands))
    case .png:
        let data = directory + "/png"
        try fm.copyItem(atPath: seeds.pngData, toPath: data)
        let sub = random.pick(["images", "images", "masks"])
        let names = try fm.contentsOfDirectory(atPath: data + "/" + sub).sorted()
        let target = data + "/" + sub + "/" + random.pick(names)
        try mutateFile(target, &random)
        // Also resized on load (eval and predict bring the scores back to each picture's grid) and
        // cut into patches (each picture a case of its own size).
        let commands: [[String]] = [
            ["eval", "--checkpoint", seeds.checkpoint, "--data", data],
            ["eval", "--checkpoint", seeds.checkpoint, "--data", data, "--image-size", "12,20", "--resize", "fit"],
            ["predict", "--checkpoint", seeds.checkpoint, "--input", data, "--out", directory + "/overlays"],
            [
                "predict", "--checkpoint", seeds.checkpoint, "--input", data, "--image-size", "24,12", "--masks",
                directory + "/masks",
            ],
            ["train", "--data", data, "--out", directory + "/run"] + Seeds.tinyTraining,
            ["train", "--data", data, "--patch-size", "8,8", "--out", directory + "/patches"] + Seeds.tinyTraining,
        ]
        return FuzzCase(kind: kind, mutated: target, arguments: random.pick(commands))
    case .loss:
        return try makeLossCase(in: directory, seeds: seeds, random: &random)
    case .nifti:
        let data = directory + "/nifti"
        try fm.copyItem(atPath: seeds.niftiData, toPath: data)
        let labels = random.chance(0.4)
        let (folder, name) = labels ? ("labelsTr", "blob_001") : ("imagesTr", "blob_001_0000")
        try fm.removeItem(atPath: "\(data)/\(folder)/\(name).nii.gz")
        let target = "\(data)/\(folder)/\(name).nii"
        try Data(mutateNIfTI(niftiSeedFile(labels: labels, &random), &random)).write(to: URL(fileURLWithPath: target))
        let commands: [[String]] = [
            ["eval", "--checkpoint", seeds.volumeCheckpoint, "--data", data],
            ["predict", "--checkpoint", seeds.volumeCheckpoint, "--input", data, "--masks", directory + "/masks"],
            ["train", "--data", data, "--out", directory + "/run"] + Seeds.tinyTraining,
        ]
        return FuzzCase(kind: kind, mutated: target, arguments: random.pick(commands))
    case .resume:
        let run = directory + "/run"
        try fm.copyItem(atPath: seeds.run, toPath: run)
        let files = try fm.contentsOfDirectory(atPath: run).filter {
            $0.hasSuffix(".safetensors") || $0.hasSuffix(".jsonl")
        }.sorted()
        let target = run + "/" + random.pick(files)
        try mutateFile(target, &random)
        var options = Seeds.tinyTraining
        options[1] = "2" // one more epoch than the seed run
        options.removeSubrange(2..<6) // the architecture comes from the checkpoint
        return FuzzCase(
            kind: kind, mutated: target,
            arguments: ["train", "--data", seeds.npyData, "--resume", run + "/last.safetensors", "--out", run] + options
        )
    }
}

/// Mutates the file at `path` in place with the mutator of its format.
func mutateFile(_ path: String, _ random: inout FuzzRandom) throws {
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    let mutated: [UInt8]
    if path.hasSuffix(".npy") {
        mutated = mutateNPY(bytes, &random)
    } else if path.hasSuffix(".safetensors") {
        mutated = mutateSafetensors(bytes, &random)
    } else if path.hasSuffix(".png") {
        mutated = mutatePNG(bytes, &random)
    } else if path.hasSuffix(".jsonl") {
        mutated = mutateMetricsLog(bytes, &random)
    } else {
        mutated = mutateBytes(bytes, &random)
    }
    try Data(mutated).write(to: URL(fileURLWithPath: path))
}

/// A harness failure (not a finding): bad options, seeds that cannot be made.
struct FuzzError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
