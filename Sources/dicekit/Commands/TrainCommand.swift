// `dicekit train`: trains a U-Net on the synthetic polyps, a .npy data set or a PNG folder.

import DiceKit
import Foundation

enum TrainCommand: Command {
    static let spec = CommandSpec(
        name: "train",
        summary: "train a U-Net (synthetic polyps, .npy or PNG folder) with a Dice-family loss",
        help: """
        usage: dicekit train [--data synthetic|DIR|FILE.npy] [options]

        data
          --data SOURCE          synthetic (default), a directory with images.npy + masks.npy,
                                 a directory with images/ + masks/ PNG files, or FILE.npy (+ FILE_masks.npy)
          --count N              synthetic images (default 400)       --size S   synthetic size (default 128)
          --classes K            classes incl. background (default: 2 synthetic, else from the labels);
                                 3 adds an instrument class to the synthetic set
          --val-fraction F       validation share (default 0.2)        --no-augment  disable augmentation
        model
          --base W               first-level width (default 16)        --depth D  levels (default 4)
          --norm none|batch|instance|group:G   (default batch; none is the reference U-Net)
          --activation relu|leaky-relu        (default relu)
        optimisation
          --epochs N (20)  --batch-size B (8)  --lr X (1e-3)  --optimizer adam|adamw|sgd (adam)
          --weight-decay X (0)  --momentum M (0.99, sgd)  --schedule constant|cosine|poly (cosine)
          --loss dice|dice-ce|jaccard|tversky|focal-tversky|log-cosh-dice|generalized (dice-ce)
          --clip X  global gradient-norm clip (12; 0 disables)   --seed S (0)
          --threads T  threads for every computation (worker pool and OpenBLAS; 1–256; default
                       $DICEKIT_THREADS, else the processor count); same seed and T: same bits
        output
          --out DIR              checkpoints (last/best.safetensors), metrics.jsonl, summary.json,
                                 curves.svg (default runs/train)
          --resume FILE          continue from a checkpoint written by this command (DIR/last.safetensors)

        Prints a progress line on a terminal (one line per epoch otherwise) and the summary JSON
        at the end. Ctrl-C saves DIR/last.safetensors and exits cleanly.
        """,
        valueOptions: ["data", "count", "size", "classes", "val-fraction", "base", "depth", "norm", "activation",
                       "epochs", "batch-size", "lr", "optimizer", "weight-decay", "momentum", "schedule", "loss",
                       "clip", "seed", "threads", "out", "resume"],
        flags: ["no-augment"]
    )

    static func run(_ arguments: ParsedArguments) throws {
        // Every option is parsed and checked before any data is generated or read, so a typo
        // fails at once.
        try ThreadsOption.apply(arguments)
        let seed = UInt64(try arguments.int("seed", default: 0, in: 0...Int.max)!)
        let source = arguments.string("data") ?? "synthetic"
        let requestedClasses = try arguments.int("classes", in: 1...255)
        let count = try arguments.int("count", default: 400, in: 2...100_000)!
        let size = try arguments.int("size", default: 128, in: 16...2048)!
        if source != "synthetic" {
            for option in ["count", "size"] where arguments.string(option) != nil {
                throw UsageError(message: "--\(option) applies to --data synthetic only")
            }
        }
        let fraction = try arguments.double("val-fraction", default: 0.2)!
        guard (0..<1).contains(fraction) else { throw UsageError(message: "--val-fraction expects 0 ≤ F < 1, got \(fraction)") }

        var config = TrainingConfiguration()
        config.epochs = try arguments.int("epochs", default: config.epochs, in: 1...100_000)!
        config.batchSize = try arguments.int("batch-size", default: config.batchSize, in: 1...4096)!
        config.learningRate = try arguments.double("lr", default: config.learningRate)!
        config.optimizer = try arguments.choice("optimizer", as: OptimizerKind.self, default: config.optimizer)!
        config.weightDecay = try arguments.double("weight-decay", default: config.weightDecay)!
        config.momentum = try arguments.double("momentum", default: config.momentum)!
        config.schedule = try arguments.choice("schedule", as: ScheduleKind.self, default: config.schedule)!
        config.loss = try arguments.choice("loss", as: LossKind.self, default: config.loss)!
        let clip = try arguments.double("clip", default: 12)!
        config.gradientClip = clip == 0 ? nil : clip
        config.augmentation = arguments.flag("no-augment") ? .none : .standard
        config.seed = seed
        config.outputDirectory = arguments.string("out") ?? "runs/train"
        do { try config.validate() } catch let error as DiceKitError { throw UsageError(message: error.description) }

        let resume = arguments.string("resume")
        if resume != nil {
            for option in ["base", "depth", "norm", "activation"] where arguments.string(option) != nil {
                throw UsageError(message: "--\(option) cannot change the architecture of a resumed checkpoint")
            }
        }
        var architecture = UNetConfiguration()
        architecture.baseWidth = try arguments.int("base", default: 16, in: 1...1024)!
        architecture.depth = try arguments.int("depth", default: 4, in: 1...8)!
        do { architecture.normalization = try NormalizationKind(name: arguments.string("norm") ?? "batch") }
        catch let error as DiceKitError { throw UsageError(message: error.description) }
        switch arguments.string("activation") ?? "relu" {
        case "relu": architecture.activation = .relu
        case "leaky-relu": architecture.activation = .leakyReLU(slope: 0.01)
        case let other: throw UsageError(message: "--activation expects relu|leaky-relu, got '\(other)'")
        }

        let dataset: SegmentationDataset
        if source == "synthetic" {
            let synthetic = SyntheticPolypConfiguration(size: size, classes: requestedClasses ?? 2)
            dataset = try SegmentationDataset.syntheticPolyps(count: count, seed: seed &+ 1000, configuration: synthetic)
        } else {
            dataset = try SegmentationDataset.load(from: source, classes: requestedClasses)
        }
        let (training, validation) = fraction > 0 ? try dataset.split(validationFraction: fraction, seed: seed)
                                                  : (dataset, nil as SegmentationDataset?)
        let model: UNet<Float>
        if let resume {
            model = try UNet<Float>.load(contentsOf: resume)
        } else {
            architecture.inputChannels = dataset.channels
            architecture.classes = max(dataset.classes, 2)
            model = try UNet<Float>(architecture, seed: seed)
        }
        let trainer = try Trainer(model: model, configuration: config)
        if let resume { try trainer.resume(fromCheckpoint: resume) }
        let steps = (training.count + config.batchSize - 1) / config.batchSize
        let reporter = ProgressReporter(totalEpochs: config.epochs, stepsPerEpoch: steps, firstEpoch: trainer.history.count + 1)
        let m = model.configuration
        reporter.message("training a U-Net (base \(m.baseWidth), depth \(m.depth), \(m.classes) classes, norm \(m.normalization.name), "
                         + "loss \(config.loss.rawValue)) on \(training.count) images of \(training.spatialShape), "
                         + "validating on \(validation?.count ?? 0); \(config.epochs) epochs × \(steps) steps; output in \(config.outputDirectory!)")
        let summary = try trainer.fit(training: training, validation: validation, reporter: reporter)
        print(summary.json.prettyEncoded, terminator: "")
    }
}
