// `dicekit train`: trains a U-Net on the synthetic polyps or 3-D blobs, a .npy data set (images
// or volumes) or a folder of PNG/JPEG images; the data options live in DataOptions.swift.

import DiceKit
import Foundation

enum TrainCommand: Command {
    static let spec = CommandSpec(
        name: "train",
        summary: "train a 2-D or 3-D U-Net (synthetic, .npy, PNG/JPEG folder) with a Dice-family loss",
        help: """
            usage: dicekit train [--data synthetic|synthetic3d|DIR|FILE.npy] [options]

            data
              --data SOURCE          synthetic (default: 2-D polyps), synthetic3d (3-D blobs, one channel),
                                     a directory with images.npy + masks.npy, a directory with images/ + masks/
                                     (*.png, *.jpg, *.jpeg matched by base name), or FILE.npy (+ FILE_masks.npy).
                                     .npy images [N, H, W, C] train a 2-D U-Net, volumes [N, D, H, W, C] a 3-D one
                                     (every extent divisible by 2^depth, e.g. --data vol.npy --depth 2)
              --count N              synthetic images (default 400)
              --size S               synthetic size (default 128; 32 for synthetic3d, volumes S × S × S)
              --classes K            classes incl. background (default: classes.json, 2 synthetic, else
                                     from the labels); 3 adds an instrument class to the synthetic polyps
              --val-data SOURCE      a separate validation set, read like --data (instead of --val-fraction)
              --val-fraction F       validation share split off --data (default 0.2)
            \(FoldOption.help)
            \(augmentHelp)
            \(DataOptions.help)
            \(patchHelp)
            model
              --base W               first-level width (default 16)        --depth D  levels (default 4)
              --norm none|batch|instance|group:G   (default batch; none is the reference U-Net)
              --activation relu|leaky-relu        (default relu)
            optimisation
              --epochs N (20)  --batch-size B (8)  --lr X (1e-3)  --optimizer adam|adamw|sgd (adam)
              --weight-decay X (0)  --momentum M (0.99, sgd)  --schedule constant|cosine|poly|plateau (cosine)
              --plateau-patience N (10)  --plateau-factor F (0.1)  --min-lr X (0)   with --schedule plateau: the
                                     rate × F after more than N epochs without a better validation Dice
                                     (PyTorch's ReduceLROnPlateau, mode max)
              --early-stop N         stop after N validated epochs without a better validation Dice (Keras's
                                     EarlyStopping); --early-stop-delta D: a better Dice exceeds the best by > D
              --loss dice|dice-ce|jaccard|tversky|focal-tversky|log-cosh-dice|generalized|focal|dice-focal
                     |lovasz-softmax|lovasz-hinge|wasserstein|mcc
                     |cldice|dice-cldice|generalized-dice-focal|dice-hausdorff (dice-ce)
            \(lossOptionsHelp)
            \(deepSupervisionHelp)
            \(regionHelp)
            \(weightAverageHelp)
              --clip X  global gradient-norm clip (12; 0 disables)   --seed S (0)
              --threads T  threads for every computation (worker pool and OpenBLAS; 1–256; default
                           $DICEKIT_THREADS, else the processor count); same seed and T: same bits
              --on-nonfinite stop|skip|skip:N   a step whose loss or gradient norm is nan/inf: stop
                                     (default; exit 1 naming epoch and step, last good checkpoint kept) or
                                     skip its update (stop at a bad step after N skipped in a row; skip = skip:10)
              --precision float32|bf16   convolution arithmetic (default float32); bf16: bfloat16 operands,
                                     float32 accumulation on AVX512-BF16/AMX CPUs (else a notice and float32);
                                     weights, optimiser state, statistics, losses and checkpoints stay float32
            output
              --out DIR              checkpoints (last/best[/ema|swa].safetensors), metrics.jsonl, summary.json,
                                     curves.svg (default runs/train; on resume, the checkpoint's folder)
              --resume FILE          continue from DIR/last.safetensors: repeat the original command and
                                     add --resume; --epochs is the total and must exceed the epochs done.
                                     Omitted data, model, loss (and its options), batch-size, seed, optimizer, val-fraction
                                     and augmentation options take the checkpoint's values; a different
                                     value is refused. --epochs, --lr, --schedule (and the plateau options),
                                     --early-stop, --clip, --weight-decay, --momentum, --threads, --precision,
                                     --out and --on-nonfinite may change.

            distributed (Docs/Distributed.md)
              --distributed          data-parallel under 'mpirun -np N' (--hostfile for several machines):
                                     --batch-size is per rank, each global batch of N × B is split between
                                     the ranks, gradients and loss statistics are summed over them (the
                                     losses and weights are one process's with --batch-size N × B), and
                                     rank 0 alone writes the output. Without mpirun it trains as one process.
              --no-sync-bn           with --norm batch: each rank normalises with its own share of the batch
                                     (default: synchronised batch norm, the statistics of the global batch)

            Prints a progress line on a terminal (one line per epoch otherwise) and the summary JSON
            at the end. Ctrl-C saves DIR/last.safetensors and exits cleanly; after a kill, --resume
            continues from the last finished epoch.
            """,
        valueOptions: DataOptions.valueOptions.union([
            "val-fraction", "base", "depth", "norm", "activation",
            "epochs", "batch-size", "lr", "optimizer", "weight-decay", "momentum", "schedule", "loss",
            "clip", "seed", "threads", "out", "resume", "on-nonfinite", "augment", "precision",
            "deep-supervision", "deep-supervision-levels", "plateau-patience", "plateau-factor", "min-lr",
            "early-stop", "early-stop-delta", "ema", "ema-bn", "swa", "swa-lr", "swa-anneal-epochs", "swa-anneal",
            "swa-bn",
        ]).union(lossValueOptions).union(FoldOption.valueOptions).union(patchValueOptions)
            .union(regionValueOptions),
        flags: lossFlags.union(["no-augment", "distributed", "no-sync-bn", "ema-warmup"])
    )

    static func run(_ given: ParsedArguments) throws {
        // Every option is parsed and checked before any data is generated or read, so a typo
        // fails at once. A resumed run reads its checkpoint first: omitted fixed options take
        // the checkpoint's values (see TrainCommand+Resume.swift).
        let resume = try resumeCheckpoint(given)
        let arguments = resume.map { filling(given, from: $0.checkpoint.options) } ?? given
        let resumeFolder = resume.map { ($0.path as NSString).deletingLastPathComponent }
        let outputDirectory = arguments.string("out") ?? resumeFolder.map { $0.isEmpty ? "." : $0 } ?? "runs/train"
        try checkOutputs(directories: [outputDirectory])
        try ThreadsOption.apply(arguments)
        let seed = UInt64(try arguments.int("seed", default: 0, in: 0...Int.max)!)
        var data = try DataOptions.parse(
            arguments, defaultCount: 400, allowValidation: true, allowsMedianSpacing: true)
        let regions = try regions(arguments, data: data)
        if let regions, data.dataset.classes == nil { data.dataset.classes = regions.labelClasses }
        // The exclusions look at the options given (a resumed run's record fills in val-fraction 0).
        let fold = try FoldOption.parse(arguments)
        for (a, b) in [("val-fraction", "val-data"), ("folds", "val-data"), ("folds", "val-fraction")]
        where given.string(a) != nil && given.string(b) != nil {
            throw UsageError(
                message:
                    "--\(a) and --\(b) exclude each other (the validation set is a fold, a share split off, or given)")
        }
        let fraction = data.validation != nil || fold != nil ? 0 : try arguments.double("val-fraction", default: 0.2)!
        guard (0..<1).contains(fraction) else {
            throw UsageError(message: "--val-fraction expects 0 ≤ F < 1, got \(fraction)")
        }
        if fraction == 0, data.validation == nil, fold == nil,
            let rule = ["early-stop", "plateau-patience", "plateau-factor", "min-lr"].first(where: {
                arguments.string($0) != nil
            }) ?? (arguments.string("schedule") == "plateau" ? "schedule plateau" : nil)
        {
            throw UsageError(
                message:
                    "--\(rule) watches the validation Dice; --val-fraction 0 leaves no validation set (give --val-fraction F, --val-data or --folds)"
            )
        }

        var config = TrainingConfiguration()
        config.epochs = try arguments.int("epochs", default: config.epochs, in: 1...100_000)!
        config.batchSize = try arguments.int("batch-size", default: config.batchSize, in: 1...4096)!
        config.learningRate = try arguments.double("lr", default: config.learningRate)!
        config.optimizer = try arguments.choice("optimizer", as: OptimizerKind.self, default: config.optimizer)!
        config.weightDecay = try arguments.double("weight-decay", default: config.weightDecay)!
        config.momentum = try arguments.double("momentum", default: config.momentum)!
        config.schedule = try arguments.choice("schedule", as: ScheduleKind.self, default: config.schedule)!
        try parseValidationRules(arguments, into: &config)
        config.loss = try arguments.choice("loss", as: LossKind.self, default: config.loss)!
        config.lossOptions = try lossOptions(arguments)
        let clip = try arguments.double("clip", default: 12)!
        config.gradientClip = clip == 0 ? nil : clip
        config.augmentation = try augmentation(arguments)
        config.seed = seed
        config.outputDirectory = outputDirectory
        config.precision = try PrecisionOption.parse(arguments)
        config.ignoreIndex = data.dataset.ignoreIndex
        do {
            config.onNonFinite = try NonFinitePolicy(name: arguments.string("on-nonfinite") ?? "stop")
            try config.validate()
        } catch let error as DiceKitError { throw UsageError(message: error.description) }

        var architecture = UNetConfiguration()
        architecture.baseWidth = try arguments.int("base", default: 16, in: 1...1024)!
        architecture.depth = try arguments.int("depth", default: 4, in: 1...8)!
        do { architecture.normalization = try NormalizationKind(name: arguments.string("norm") ?? "batch") } catch let
            error as DiceKitError
        { throw UsageError(message: error.description) }
        switch arguments.string("activation") ?? "relu" {
        case "relu": architecture.activation = .relu
        case "leaky-relu": architecture.activation = .leakyReLU(slope: 0.01)
        case let other: throw UsageError(message: "--activation expects relu|leaky-relu, got '\(other)'")
        }

        var recorded = [
            "val-fraction": "\(fraction)", "loss": config.loss.rawValue,
            "batch-size": "\(config.batchSize)", "seed": "\(seed)", "optimizer": config.optimizer.rawValue,
            "base": "\(architecture.baseWidth)", "depth": "\(architecture.depth)",
            "norm": architecture.normalization.name, "activation": arguments.string("activation") ?? "relu",
        ]
        if let fold { (recorded["folds"], recorded["fold"]) = ("\(fold.folds)", "\(fold.fold)") }
        if let regions {
            (recorded["regions"], recorded["region-order"]) = (regions.description, regions.orderDescription)
        }
        recorded.merge(recordedLossOptions(config.lossOptions, arguments)) { _, new in new }
        recorded.merge(recordedAugmentation(config.augmentation)) { _, new in new }
        try parseDeepSupervision(arguments, depth: architecture.depth, into: &config, recorded: &recorded)
        try parseWeightAverage(arguments, into: &config, recorded: &recorded)
        try parseStochasticWeightAverage(arguments, into: &config, recorded: &recorded)
        let patches = try patchSampling(arguments, depth: architecture.depth, recorded: &recorded)
        switch data.source {
        case .synthetic, .synthetic3d:
            recorded["data"] = data.source == .synthetic ? "synthetic" : "synthetic3d"
            recorded["count"] = "\(data.count)"
            recorded["size"] = "\(data.size)"
            recorded["classes"] = "\(data.dataset.classes ?? 2)"
        case .path(let path):
            recorded["data"] = canonicalPath(path)
            if let classes = data.dataset.classes { recorded["classes"] = "\(classes)" }
            if let validation = data.validation { recorded["val-data"] = canonicalPath(validation) }
            for option in ["image-size", "resize", "mask-encoding", "intensity"] {
                recorded[option] = arguments.string(option)
            }
            recorded["ignore-index"] = data.dataset.ignoreIndex.map(String.init)
            recorded["target-spacing"] = data.dataset.targetSpacing?.description
        }
        config.recordedOptions = recorded
        if let resume {
            try checkUnchanged(recorded, against: resume.checkpoint.options, checkpoint: resume.path)
            let done = resume.checkpoint.epoch
            guard config.epochs > done else {
                throw DiceKitError.option(
                    "--epochs \(config.epochs): \(resume.path) has already trained \(done) epoch(s); "
                        + "--epochs is the total, give more than \(done) to continue")
            }
        }

        // Folder and .npy data sets are read one batch at a time during training (not held in memory).
        let training: any SegmentationSource
        let validation: (any SegmentationSource)?
        let shape: (channels: Int, rank: Int, classes: Int, cases: Int)
        if let patches {
            let parts = try patchSources(data, sampling: patches, fold: fold, fraction: fraction, seed: seed)
            (training, validation) = (parts.training, parts.validation)
            shape = (
                parts.cases.channels, parts.cases.spatialRank, parts.cases.classes, parts.training.caseIndices.count
            )
            config.recordedOptions["trained-spacing"] = DataOptions.targetSpacing(of: parts.cases).map {
                TargetSpacing.spacing($0).description
            }
        } else {
            let (dataset, heldOut) = try data.open(seed: seed &+ DataOptions.trainingSeedOffset)
            config.recordedOptions["trained-spacing"] = DataOptions.targetSpacing(of: dataset).map {
                TargetSpacing.spacing($0).description
            }
            (training, validation) =
                try fold.map { try $0.split(dataset, seed: seed) }
                ?? (fraction > 0
                    ? try SourceSubset.split(dataset, validationFraction: fraction, seed: seed) : (dataset, heldOut))
            shape = (dataset.channels, dataset.spatialShape.count, dataset.classes, training.count)
        }
        let balancedWeights = try balanceClassWeights(arguments, training: training, into: &config.lossOptions)
        let model: UNet<Float>
        if let resume {
            model = try UNet<Float>(UNetConfiguration.inferred(from: resume.checkpoint.model))
        } else {
            architecture.inputChannels = shape.channels
            architecture.spatialRank = shape.rank // 2 for images, 3 for volumes
            architecture.classes = regions?.count ?? max(shape.classes, 2)
            architecture.regions = regions
            model = try UNet<Float>(architecture, seed: seed)
        }
        config.classNames =
            model.configuration.regions.map { r in (0..<r.scoredCount).map(r.scoredName) } ?? data.classNames
        let trainer = try Trainer(model: model, configuration: config)
        let world = try joinRanks(arguments)
        trainer.communicator = world ?? SingleProcessCommunicator()
        trainer.synchronizesBatchNorm = !arguments.flag("no-sync-bn")
        let isRankZero = trainer.communicator.rank == 0
        if let resume {
            try trainer.resume(from: resume.checkpoint, path: resume.path)
            if isRankZero { try carryBestCheckpoint(from: resume.path, to: config.outputDirectory!) }
        }
        let steps = (training.count + trainer.globalBatchSize - 1) / trainer.globalBatchSize
        let reporter = ProgressReporter(
            totalEpochs: config.epochs, stepsPerEpoch: steps, firstEpoch: trainer.history.count + 1)
        let m = model.configuration
        let ranks = trainer.communicator.size
        if isRankZero {
            reporter.message(
                "training a U-Net (base \(m.baseWidth), depth \(m.depth), \(m.classes) \(m.outputsName), norm \(m.normalization.name), "
                    + "loss \(config.loss.rawValue), \(config.precision.runningDescription)) on "
                    + (patches.map { "\(training.count) patches of \($0.extents) from \(shape.cases) cases, " }
                        ?? "\(training.count) images of \(training.spatialShape), ")
                    + "validating on \(validation?.count ?? 0); \(counted(config.epochs, "epoch")) × \(counted(steps, "step")); output in \(config.outputDirectory!)"
                    + (ranks > 1 ? "; \(ranks) ranks × batch \(config.batchSize)" : "")
                    + (config.recordedOptions["trained-spacing"].map { "; volumes resampled to spacing \($0)" } ?? "")
                    + (config.weightAveraging.map {
                        "; validating the weights' moving average (decay \($0.decay)\($0.warmup ? ", warm-up" : "")"
                            + "\($0.recomputesStatistics ? ", BatchNorm statistics recomputed" : ""))"
                    } ?? "")
                    + (config.stochasticWeightAveraging.map {
                        "; averaging the weights from epoch \($0.start) (SWA, \($0.learningRate.map { "lr annealed to \($0)" } ?? "lr unchanged")"
                            + "\($0.recomputesStatistics ? ", BatchNorm statistics recomputed" : ""))"
                    } ?? "")
                    + (balancedWeights.map { w in
                        "; class weights by median frequency: "
                            + w.map { String(format: "%.4g", $0) }.joined(separator: ", ")
                    } ?? ""))
        }
        try onAllRanks(world) {
            do {
                let summary = try trainer.fit(training: training, validation: validation, reporter: reporter)
                if isRankZero { printOutput(summary.json.prettyEncoded, terminator: "") }
            } catch let divergence as TrainingDivergence {
                if isRankZero { printOutput(divergence.summary.json.prettyEncoded, terminator: "") }
                throw divergence
            }
        }
    }
}
