// `dicekit train --distributed` under mpirun -np 2 and -np 3 against one process with the same
// global batch: the same per-step losses (relative 1e-5; each epoch is one step, or the mean of
// three with an uneven last step) and weights (1e-4 of each tensor's largest magnitude, at least 1e-7); resume
// distributed and with another number of ranks; synchronised batch norm with an empty rank;
// clDice, Dice + clDice and deep supervision (Dice exchanged per level, focal scaled per rank);
// Dice + focal, generalized Dice + focal, MCC and Lovász over the batch (batch-wide terms exchanged);
// unlabelled positions (an ignore index) in Dice + focal and MCC; a weight average (--ema, also
// with BatchNorm statistics recomputed for it);
// bf16 (and a rank whose CPU runs it in float32, refused);
// faults (a killed rank, mismatched settings, too few images, mpirun without --distributed) end
// the job within seconds with a clear message; --distributed without mpirun trains as one
// process and says so. The mpirun tests are skipped without mpirun.

import Foundation
import XCTest

@testable import DiceKit

final class MPITrainingTests: XCTestCase {
    /// 10 synthetic images, 8 for training and 2 for validation; no augmentation; no batch
    /// normalisation (per-rank batch statistics are not one process's).
    private func command(_ out: String, batch: Int, epochs: Int = 3, extra: [String] = []) -> [String] {
        [
            "train", "--count", "10", "--size", "32", "--depth", "2", "--base", "4", "--norm", "group:2", "--loss",
            "dice-ce",
            "--no-augment", "--threads", "1", "--seed", "5", "--epochs", "\(epochs)", "--batch-size", "\(batch)",
            "--out", out,
        ] + extra
    }

    private func epochs(_ dir: String) throws -> [EpochMetrics] {
        try String(contentsOfFile: "\(dir)/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
            try XCTUnwrap(EpochMetrics(jsonLine: String($0)))
        }
    }

    /// `tolerance`: of the losses' values, and of each Dice, between the two runs' epochs;
    /// `weightFloor`: the least difference allowed in a weight (below).
    private func assertSameRun(
        _ dir: String, as reference: String, _ label: String, tolerance: Double = 1e-5, weightFloor: Float = 2.5e-4,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let (a, b) = (try epochs(dir), try epochs(reference))
        XCTAssertEqual(a.count, b.count, label, file: file, line: line)
        for (x, y) in zip(a, b) {
            XCTAssertEqual(
                x.trainLoss, y.trainLoss, accuracy: tolerance * abs(y.trainLoss), "\(label): epoch \(x.epoch) loss",
                file: file, line: line)
            XCTAssertEqual(
                x.validationLoss ?? .nan, y.validationLoss ?? .nan, accuracy: tolerance * abs(y.validationLoss ?? 1),
                "\(label): epoch \(x.epoch) validation loss", file: file, line: line)
            for (d, e) in zip(x.validationDice, y.validationDice) {
                XCTAssertEqual(
                    d, e, accuracy: tolerance, "\(label): epoch \(x.epoch) validation Dice", file: file, line: line)
            }
        }
        let mine = try SafetensorsFile.read(contentsOf: "\(dir)/last.safetensors")
        let theirs = try SafetensorsFile.read(contentsOf: "\(reference)/last.safetensors")
        XCTAssertEqual(Set(mine.tensors.keys), Set(theirs.tensors.keys), label, file: file, line: line)
        for name in theirs.tensors.keys.sorted()
        where theirs.tensors[name]!.dtype == .float32 && !name.hasPrefix("optimizer.") {
            let x = try mine.tensor(named: name, as: Float.self).scalars
            let y = try theirs.tensor(named: name, as: Float.self).scalars
            // Relative to the tensor's largest magnitude; the floor covers the convolution biases
            // before BatchNorm, whose gradient is zero up to rounding (they stay near 0). Adam
            // moves a parameter whose gradient is near zero by up to its learning rate (1e-3
            // here) whatever the gradient's size, so the rounding that the ranks' sums change
            // can move it by a fraction of that: a quarter of one step is allowed. (Measured on an
            // AMD EPYC Zen 3, family 25 model 1, AVX2 + FMA, OpenBLAS's Zen core, with the bf16
            // case's base-16 U-Net, 3 epochs, seeds 5 to 9: up to 1.6e-4 with Winograd
            // F(2×2, 3×3) and 1.6e-5 without, past 1e-4 of the scale either way for seed 6; the
            // losses agreed to 1e-5 of their values.)
            let scale = max(y.map { abs($0) }.max() ?? 0, 1e-3)
            let worst = zip(x, y).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(
                worst, max(1e-4 * scale, weightFloor), "\(label): weights \(name)", file: file, line: line)
        }
    }

    func testTwoRanksMatchOneProcessStepForStepAndResume() throws {
        let root = try temporaryDirectory(self).path
        // One process, batch 8: one step per epoch. Two ranks, batch 4 each: the same global batch.
        let single = try runDicekit(command("\(root)/one", batch: 8))
        XCTAssertEqual(single.status, 0, single.stderr)
        let (two, timedOut, _) = try runMPI(ranks: 2, command("\(root)/two", batch: 4, extra: ["--distributed"]))
        XCTAssertFalse(timedOut, two.stderr)
        XCTAssertEqual(two.status, 0, two.stderr)
        try assertSameRun("\(root)/two", as: "\(root)/one", "np 2")
        XCTAssertEqual(
            two.stdout.components(separatedBy: "\"final_train_loss\"").count - 1, 1, "rank 0 alone prints the summary")
        XCTAssertEqual(two.stderr.components(separatedBy: "training a U-Net").count - 1, 1, "rank 0 alone reports")

        // Resume distributed: 2 epochs, then continue to 3, as the uninterrupted run.
        let (first, _, _) = try runMPI(
            ranks: 2, command("\(root)/resumed", batch: 4, epochs: 2, extra: ["--distributed"]))
        XCTAssertEqual(first.status, 0, first.stderr)
        let (rest, _, _) = try runMPI(
            ranks: 2,
            command(
                "\(root)/resumed", batch: 4, extra: ["--distributed", "--resume", "\(root)/resumed/last.safetensors"]))
        XCTAssertEqual(rest.status, 0, rest.stderr)
        try assertSameRun("\(root)/resumed", as: "\(root)/one", "np 2 resumed")
    }

    func testAWeightAverageMatchesOneProcess() throws {
        let root = try temporaryDirectory(self).path
        let ema = ["--ema", "0.6", "--ema-warmup"]
        let single = try runDicekit(command("\(root)/one", batch: 8, extra: ema))
        XCTAssertEqual(single.status, 0, single.stderr)
        let (two, timedOut, _) = try runMPI(ranks: 2, command("\(root)/two", batch: 4, extra: ema + ["--distributed"]))
        XCTAssertFalse(timedOut, two.stderr)
        XCTAssertEqual(two.status, 0, two.stderr)
        // The validation figures are the average's; last.safetensors holds it under "ema.".
        try assertSameRun("\(root)/two", as: "\(root)/one", "np 2 with --ema")
        XCTAssertTrue(
            try SafetensorsFile.read(contentsOf: "\(root)/two/last.safetensors").names.contains { $0.hasPrefix("ema.") }
        )
        // Stochastic weight averaging: the average of epochs 2 and 3 and epoch 3's annealed rate.
        let swa = ["--swa", "2", "--swa-lr", "0.0005", "--swa-anneal-epochs", "1", "--swa-bn", "average"]
        let swaOne = try runDicekit(command("\(root)/swa-one", batch: 8, extra: swa))
        XCTAssertEqual(swaOne.status, 0, swaOne.stderr)
        let (swaTwo, _, _) = try runMPI(ranks: 2, command("\(root)/swa-two", batch: 4, extra: swa + ["--distributed"]))
        XCTAssertEqual(swaTwo.status, 0, swaTwo.stderr)
        try assertSameRun("\(root)/swa-two", as: "\(root)/swa-one", "np 2 with --swa")
        XCTAssertEqual(try epochs("\(root)/swa-two").last?.learningRate, 0.0005)
        XCTAssertEqual(
            try SafetensorsFile.read(contentsOf: "\(root)/swa-two/swa.safetensors").metadata["swa_updates"], "2")

        // Synchronised batch norm, its statistics recomputed for the average over the training
        // set split between 3 ranks (rank 2 without a sample in the last batch): the global
        // batches' statistics, as one process. SGD, as in the synchronised batch norm test below.
        let recompute = ema + ["--ema-bn", "recompute", "--optimizer", "sgd", "--momentum", "0.9", "--lr", "0.01"]
        func batchNorm(_ arguments: [String]) -> [String] { arguments.map { $0 == "group:2" ? "batch" : $0 } }
        let bn = try runDicekit(batchNorm(command("\(root)/bn-one", batch: 3, extra: recompute)))
        XCTAssertEqual(bn.status, 0, bn.stderr)
        let (bnThree, _, _) = try runMPI(
            ranks: 3, batchNorm(command("\(root)/bn-three", batch: 1, extra: recompute + ["--distributed"])))
        XCTAssertEqual(bnThree.status, 0, bnThree.stderr)
        try assertSameRun("\(root)/bn-three", as: "\(root)/bn-one", "np 3 with --ema and recomputed statistics")
        let (x, y) = (
            try UNet<Float>.load(contentsOf: "\(root)/bn-three/ema.safetensors"),
            try UNet<Float>.load(contentsOf: "\(root)/bn-one/ema.safetensors")
        )
        for (a, b) in zip(x.parameters.all, y.parameters.all) where a.name.contains("running") {
            let scale = max(b.value.scalars.map { abs($0) }.max() ?? 0, 1e-3)
            let worst = zip(a.value.scalars, b.value.scalars).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst, 1e-4 * scale, "ema.safetensors \(a.name)")
        }
    }

    func testThreeRanksWithAnUnevenLastStepMatchOneProcess() throws {
        let root = try temporaryDirectory(self).path
        // 8 training images, global batch 3: steps of 3, 3 and 2 (rank 2 sits out the last).
        let single = try runDicekit(command("\(root)/one", batch: 3))
        XCTAssertEqual(single.status, 0, single.stderr)
        let (three, timedOut, _) = try runMPI(ranks: 3, command("\(root)/three", batch: 1, extra: ["--distributed"]))
        XCTAssertFalse(timedOut, three.stderr)
        XCTAssertEqual(three.status, 0, three.stderr)
        try assertSameRun("\(root)/three", as: "\(root)/one", "np 3")

        // A checkpoint of 3 ranks resumes on 1 (the global batch is then the new one's).
        let resumed = try runDicekit(
            command("\(root)/three", batch: 1, epochs: 4, extra: ["--resume", "\(root)/three/last.safetensors"]))
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try epochs("\(root)/three").count, 4)
    }

    func testSynchronisedBatchNormMatchesOneProcessWithAnEmptyRankInTheLastStep() throws {
        let root = try temporaryDirectory(self).path
        // SGD: a convolution bias followed by BatchNorm has a gradient that is zero up to rounding,
        // which Adam would scale up to ±lr (the same happens between two one-process runs whose
        // sums are ordered differently); SGD keeps rounding at rounding size.
        let options = ["--norm", "batch", "--optimizer", "sgd", "--momentum", "0.9", "--lr", "0.01"]
        func batchNorm(_ out: String, batch: Int) -> [String] {
            var arguments = command(out, batch: batch)
            let i = arguments.firstIndex(of: "--norm")!
            arguments.removeSubrange(i...(i + 1))
            return arguments + options
        }
        let single = try runDicekit(batchNorm("\(root)/one", batch: 3))
        XCTAssertEqual(single.status, 0, single.stderr)
        let (three, timedOut, _) = try runMPI(ranks: 3, batchNorm("\(root)/three", batch: 1) + ["--distributed"])
        XCTAssertFalse(timedOut, three.stderr)
        XCTAssertEqual(three.status, 0, three.stderr)
        try assertSameRun("\(root)/three", as: "\(root)/one", "np 3, synchronised batch norm")

        // Without synchronisation each rank normalises its own single image: another run.
        let (local, _, _) = try runMPI(
            ranks: 3, batchNorm("\(root)/local", batch: 1) + ["--distributed", "--no-sync-bn"])
        XCTAssertEqual(local.status, 0, local.stderr)
        XCTAssertNotEqual(try epochs("\(root)/local")[0].trainLoss, try epochs("\(root)/one")[0].trainLoss)
    }

    func testAKilledRankEndsTheJobWithinSecondsAndTheCheckpointStaysLoadable() throws {
        let root = try temporaryDirectory(self).path
        let arguments = command("\(root)/killed", batch: 2, epochs: 4, extra: ["--distributed"])
        // Rank 1 kills itself (SIGKILL) at the start of epoch 3; rank 0 waits in a collective.
        let (run, timedOut, seconds) = try runMPI(
            [(1, [:], arguments), (1, ["DICEKIT_TEST_KILL_AT": "rank-epoch-start:3"], arguments)], options: ["-q"],
            timeout: 45)
        XCTAssertFalse(timedOut, "the job hung: \(run.stderr)")
        XCTAssertNotEqual(run.status, 0)
        XCTAssertLessThan(seconds, 45)
        // Rank 0 names the rank, the cause, the step and the checkpoint in one line; `-q` keeps
        // mpirun's own report out.
        let lines = run.stderr.split(separator: "\n").filter { $0.hasPrefix("dicekit: rank") }
        XCTAssertEqual(lines.count, 1, run.stderr)
        // The cause reads from the zombie's exit status while mpirun has not collected it yet,
        // and in general terms once it has: both race with rank 0's watcher.
        XCTAssertTrue(
            ["its process ended unexpectedly", "killed by signal 9"].contains {
                lines.first?.hasPrefix("dicekit: rank 1 of 2 stopped (\($0)") ?? false
            }, run.stderr)
        // Rank 0 is at step 1 of epoch 3, or still saving epoch 2 when rank 1 dies.
        XCTAssertTrue(
            ["at epoch 3, step 1", "at the end of epoch 2", "at epoch 2, step 2"].contains {
                lines.first?.contains($0) ?? false
            }, run.stderr)
        XCTAssertTrue(
            lines.first?.contains("; last good checkpoint \(root)/killed/last.safetensors (epoch ") ?? false, run.stderr
        )
        let checkpoint = try TrainingCheckpoint.read(contentsOf: "\(root)/killed/last.safetensors")
        XCTAssertTrue(
            [1, 2].contains(checkpoint.epoch), "rank 0 committed the epochs before the kill: \(checkpoint.epoch)")
    }

    func testDistributedWithoutMPIRunTrainsAsOneProcessAndSaysSo() throws {
        let root = try temporaryDirectory(self).path
        let run = try runDicekit(command("\(root)/alone", batch: 4, epochs: 1, extra: ["--distributed"]))
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stderr.contains("--distributed without mpirun: training as one process"), run.stderr)
        XCTAssertEqual(try epochs("\(root)/alone").count, 1)
    }

    func testPerSampleMeanLossesMatchOneProcess() throws {
        let root = try temporaryDirectory(self).path
        func with(_ loss: String, _ arguments: [String]) -> [String] { arguments.map { $0 == "dice-ce" ? loss : $0 } }
        // Focal on two ranks against one process with the same global batch.
        let focal = try runDicekit(with("focal", command("\(root)/focal1", batch: 4)))
        XCTAssertEqual(focal.status, 0, focal.stderr)
        let (two, twoTimedOut, _) = try runMPI(
            ranks: 2, with("focal", command("\(root)/focal2", batch: 2, extra: ["--distributed"])))
        XCTAssertFalse(twoTimedOut, two.stderr)
        XCTAssertEqual(two.status, 0, two.stderr)
        try assertSameRun("\(root)/focal2", as: "\(root)/focal1", "focal, np 2")
        // Wasserstein Dice on three ranks with an uneven last step (rank 2 has no sample in it).
        let wasserstein = try runDicekit(with("wasserstein", command("\(root)/w1", batch: 3)))
        XCTAssertEqual(wasserstein.status, 0, wasserstein.stderr)
        let (three, threeTimedOut, _) = try runMPI(
            ranks: 3, with("wasserstein", command("\(root)/w3", batch: 1, extra: ["--distributed"])))
        XCTAssertFalse(threeTimedOut, three.stderr)
        XCTAssertEqual(three.status, 0, three.stderr)
        try assertSameRun("\(root)/w3", as: "\(root)/w1", "wasserstein, np 3")
    }

    func testBatchWideLossesMatchOneProcess() throws {
        let root = try temporaryDirectory(self).path
        func with(_ loss: String, _ arguments: [String]) -> [String] { arguments.map { $0 == "dice-ce" ? loss : $0 } }
        func same(_ loss: String, ranks: Int, batch: Int, extra: [String] = []) throws {
            let single = try runDicekit(with(loss, command("\(root)/\(loss)1", batch: ranks * batch, extra: extra)))
            XCTAssertEqual(single.status, 0, single.stderr)
            let (run, timedOut, _) = try runMPI(
                ranks: ranks,
                with(loss, command("\(root)/\(loss)\(ranks)", batch: batch, extra: extra + ["--distributed"])))
            XCTAssertFalse(timedOut, run.stderr)
            XCTAssertEqual(run.status, 0, run.stderr)
            try assertSameRun("\(root)/\(loss)\(ranks)", as: "\(root)/\(loss)1", "\(loss), np \(ranks)")
        }
        // Class-weighted, smoothed cross-entropy: its mean divides by the global batch's label weights.
        try same("dice-ce", ranks: 3, batch: 1, extra: ["--ce-class-weights", "0.2,3", "--label-smoothing", "0.1"])
        // Dice + focal: the Dice statistics gathered, the focal means weighted by samples.
        try same("dice-focal", ranks: 2, batch: 2)
        // Generalized Dice + focal (weights of the global batch) and MCC (four sums over the
        // batch) on three ranks with an uneven last step: rank 2 has no sample in it.
        try same("generalized-dice-focal", ranks: 3, batch: 1)
        try same("mcc", ranks: 3, batch: 1)
        // Lovász over the whole batch: every rank's errors sorted together, ties (flat regions
        // of the synthetic images) ordered as one process orders them.
        try same("lovasz-softmax", ranks: 2, batch: 2)
        try same("lovasz-hinge", ranks: 3, batch: 1)
        // Dice + Hausdorff: batch Dice statistics gathered, the Hausdorff means weighted by samples.
        try same("dice-hausdorff", ranks: 3, batch: 1, extra: ["--batch-dice", "--hausdorff-weight", "0.3"])
        // Tversky with its options: the background left out, one class weight.
        try same(
            "tversky", ranks: 2, batch: 2,
            extra: ["--tversky-alpha", "0.2", "--exclude-background", "--class-weights", "2"])
    }

    func testUnlabelledPositionsMatchOneProcess() throws {
        let root = try temporaryDirectory(self).path
        let synth = try runDicekit([
            "synth", "--out", "\(root)/data", "--count", "10", "--size", "32", "--void-border", "1",
        ])
        XCTAssertEqual(synth.status, 0, synth.stderr)
        // The focal mean weighs each rank by its labelled positions; MCC sums only those; the
        // validation Dice leaves them out on every rank.
        for (loss, ranks, batch) in [("dice-focal", 2, 2), ("mcc", 3, 1)] {
            let arguments = [
                "train", "--data", "\(root)/data", "--ignore-index", "255", "--loss", loss, "--depth", "2", "--base",
                "4", "--norm", "group:2", "--no-augment", "--threads", "1", "--seed", "5", "--epochs", "2",
            ]
            let single = try runDicekit(arguments + ["--batch-size", "\(ranks * batch)", "--out", "\(root)/\(loss)1"])
            XCTAssertEqual(single.status, 0, single.stderr)
            let (run, timedOut, _) = try runMPI(
                ranks: ranks,
                arguments + ["--batch-size", "\(batch)", "--out", "\(root)/\(loss)\(ranks)", "--distributed"])
            XCTAssertFalse(timedOut, run.stderr)
            XCTAssertEqual(run.status, 0, run.stderr)
            try assertSameRun(
                "\(root)/\(loss)\(ranks)", as: "\(root)/\(loss)1", "\(loss) with void borders, np \(ranks)")
        }
    }

    /// Runs `arguments(out, batch, extra)` as one process of batch `ranks` × `batch` in
    /// `root/label1` and as `ranks` ranks of batch `batch` (extra `--distributed`) in
    /// `root/labelN`, and checks that they train alike (`assertSameRun`).
    private func assertRanksMatchOneProcess(
        _ root: String, _ label: String, ranks: Int, batch: Int, tolerance: Double = 1e-5,
        weightFloor: Float = 2.5e-4, _ arguments: (String, Int, [String]) -> [String],
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let single = try runDicekit(arguments("\(root)/\(label)1", ranks * batch, []))
        XCTAssertEqual(single.status, 0, single.stderr, file: file, line: line)
        let (run, timedOut, _) = try runMPI(
            ranks: ranks, arguments("\(root)/\(label)\(ranks)", batch, ["--distributed"]))
        XCTAssertFalse(timedOut, run.stderr, file: file, line: line)
        XCTAssertEqual(run.status, 0, run.stderr, file: file, line: line)
        try assertSameRun(
            "\(root)/\(label)\(ranks)", as: "\(root)/\(label)1", "\(label), np \(ranks)", tolerance: tolerance,
            weightFloor: weightFloor,
            file: file, line: line)
    }

    func testClDiceAndDeepSupervisionMatchOneProcess() throws {
        let root = try temporaryDirectory(self).path
        func with(_ loss: String, _ arguments: [String]) -> [String] { arguments.map { $0 == "dice-ce" ? loss : $0 } }
        func same(_ label: String, ranks: Int, batch: Int, _ arguments: (String, Int, [String]) -> [String]) throws {
            try assertRanksMatchOneProcess(root, label, ranks: ranks, batch: batch, arguments)
        }
        // clDice (per-sample sums) on two ranks; Dice + clDice on three with an uneven last step.
        try same("cldice", ranks: 2, batch: 2) { with("cldice", command($0, batch: $1, extra: $2)) }
        try same("dicecldice", ranks: 3, batch: 1) { with("dice-cldice", command($0, batch: $1, extra: $2)) }
        // Deep supervision: Dice + CE exchanges each level's statistics, focal scales per rank;
        // three ranks with an empty one in the last step (its placeholder gives the shapes).
        let supervised = ["--deep-supervision", "exp"]
        try same("ds-dicece", ranks: 3, batch: 1) { command($0, batch: $1, extra: supervised + $2) }
        try same("ds-focal", ranks: 3, batch: 1) { with("focal", command($0, batch: $1, extra: supervised + $2)) }
        // The ranks must agree on deep supervision.
        let arguments = command("\(root)/mixed", batch: 2, epochs: 1, extra: ["--distributed"])
        let (mixed, timedOut, _) = try runMPI(
            [(1, [:], arguments), (1, [:], arguments + supervised)], options: ["-q"], timeout: 45)
        XCTAssertFalse(timedOut, "the job hung: \(mixed.stderr)")
        XCTAssertNotEqual(mixed.status, 0)
        XCTAssertTrue(mixed.stderr.contains("rank 1's training settings, model or data differ"), mixed.stderr)
    }

    func testBFloat16MatchesOneProcessAndARankInAnotherPrecisionIsRefused() throws {
        let root = try temporaryDirectory(self).path
        // Base 16: the 3×3 convolutions after the first take bfloat16 operands (16 channels in).
        func bf16(_ out: String, batch: Int, extra: [String] = []) -> [String] {
            var arguments = command(out, batch: batch, extra: extra + ["--precision", "bf16"])
            arguments[arguments.firstIndex(of: "--base")! + 1] = "16"
            return arguments
        }
        // The 64-channel layer's forward pass runs as Winograd with bfloat16 products, whose
        // rounded transformed kernel turns the ranks' last-place differences in the weights
        // (their gradients summed in another order; at most 1e-6 after the first epoch either
        // way) into bfloat16 steps more often than the rounded kernel does: over seeds 5 to 9,
        // after 3 epochs, up to 2.5e-4 of the losses and 4.7e-4 in a weight (a third to a half
        // of one Adam step), where the dot-product kernels alone agreed to 1e-5 and 2.5e-4 (AMD
        // EPYC Zen 4, family 25 model 17, AVX512-BF16). A wrong exchange moves every weight by
        // whole steps.
        try assertRanksMatchOneProcess(root, "bf16", ranks: 2, batch: 4, tolerance: 5e-4, weightFloor: 1e-3) {
            bf16($0, batch: $1, extra: $2)
        }

        // A rank whose CPU runs bf16 in float32 (AVX-512 capped: no AVX512-BF16 kernels).
        guard ComputePrecision.bfloat16Available else { return }
        let arguments = bf16("\(root)/mixed", batch: 4, extra: ["--distributed"])
        let (mixed, mixedTimedOut, _) = try runMPI(
            [(1, [:], arguments), (1, ["DICEKIT_ISA": "avx2"], arguments)], options: ["-q"], timeout: 45)
        XCTAssertFalse(mixedTimedOut, "the job hung: \(mixed.stderr)")
        XCTAssertNotEqual(mixed.status, 0)
        XCTAssertTrue(
            mixed.stderr.contains("rank 1 runs its convolutions in float32 and rank 0 in bf16"), mixed.stderr)
    }

    func testMismatchedSettingsAndTooFewImagesAreOneLineErrors() throws {
        let root = try temporaryDirectory(self).path
        let (plain, plainTimedOut, _) = try runMPI(ranks: 2, command("\(root)/c", batch: 2, epochs: 1), timeout: 45)
        XCTAssertFalse(plainTimedOut)
        XCTAssertEqual(plain.status, 2, plain.stderr)
        XCTAssertTrue(plain.stderr.contains("started by mpirun with 2 ranks but without --distributed"), plain.stderr)

        let (mismatch, timedOut, _) = try runMPI(
            [
                (1, [:], command("\(root)/a", batch: 2, epochs: 1, extra: ["--distributed"])),
                (
                    1, [:],
                    command("\(root)/a", batch: 2, epochs: 1, extra: ["--distributed", "--label-smoothing", "0.1"])
                ),
            ], timeout: 45)
        XCTAssertFalse(timedOut)
        XCTAssertNotEqual(mismatch.status, 0)
        XCTAssertTrue(
            mismatch.stderr.contains("rank 1's training settings, model or data differ from rank 0's"), mismatch.stderr)

        let few = [
            "train", "--count", "3", "--size", "32", "--depth", "2", "--base", "4", "--val-fraction", "0.5",
            "--epochs", "1", "--batch-size", "1", "--threads", "1", "--distributed", "--out", "\(root)/b",
        ]
        let (small, smallTimedOut, _) = try runMPI(ranks: 3, few, timeout: 45)
        XCTAssertFalse(smallTimedOut)
        XCTAssertNotEqual(small.status, 0)
        XCTAssertTrue(small.stderr.contains("for 3 ranks; expected at least one image per rank"), small.stderr)
    }
}
