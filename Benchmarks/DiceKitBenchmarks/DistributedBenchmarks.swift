// Data-parallel figures, under `mpirun -np N dicekit-bench --filter allreduce` (or `--filter
// distributed`): MPI_Allreduce of 1, 4 and 16 MiB of Floats and of the reference U-Net's
// gradients (blocking: an upper bound of the step's exposed all-reduce time, which the trainer
// overlaps with backward), and the reference U-Net's training throughput with N ranks (batch 8
// per rank).
// Outside mpirun these benchmarks report nothing (one note). Every rank runs the same benchmarks
// in the same order (their collectives must match); rank 0 alone prints (see main.swift).

import DiceKit
import DiceKitDistributed
import Dispatch

/// The MPI world when the benchmarks run under mpirun with more than one rank (opened once, by
/// main.swift, and handed to the benchmarks in `BenchContext.world`).
func openBenchWorld() -> MPICommunicator? {
    guard MPICommunicator.isLaunchedByMPI, let world = try? MPICommunicator(), world.size > 1 else { return nil }
    return world
}

let distributedBenchmarks: [Benchmark] = [
    Benchmark(key: "allreduce") { context in
        guard let world = context.world else {
            printErr("  allreduce: skipped (run under 'mpirun -np 2 dicekit-bench --filter allreduce')")
            return []
        }
        var metrics: [Metric] = []
        for mebibytes in [1, 4, 16] {
            let bytes = mebibytes << 20
            var buffer = [Float](repeating: 1, count: bytes / 4)
            let seconds = try context.time(warmup: 2, repetitions: 10) { try world.allReduceSum(&buffer) }
            metrics.append(Metric(key: "allreduce_\(bytes)_ms", value: seconds * 1e3, unit: "ms (np \(world.size))"))
        }
        return metrics
    },
    Benchmark(key: "unet_b16_d4_n8_128_distributed") { context in
        guard let world = context.world else {
            printErr(
                "  unet_b16_d4_n8_128_distributed: skipped (run under 'mpirun -np 2 dicekit-bench --filter distributed')"
            )
            return []
        }
        let model = try UNet<Float>(UNetConfiguration(inputChannels: 3, classes: 2, baseWidth: 16, depth: 4), seed: 0)
        var configuration = TrainingConfiguration()
        configuration.batchSize = 8
        configuration.loss = .dice
        configuration.augmentation = .none
        let trainer = try Trainer(model: model, configuration: configuration)
        trainer.communicator = world
        // Each rank its own 8 images (rank-seeded), as a shard of a global batch of 8·N.
        let data = try SegmentationDataset.syntheticPolyps(
            count: 8, seed: UInt64(world.rank),
            configuration: SyntheticPolypConfiguration(size: 128))
        let batch = try data.batches(size: 8).batch(0)
        let step = try context.time(warmup: 2, repetitions: 5) { _ = try trainer.trainStep(batch) }
        var gradients = [Float](repeating: 0, count: model.parameters.trainable.reduce(0) { $0 + $1.value.count })
        let reduce = try context.time(warmup: 1, repetitions: 5) { try world.allReduceSum(&gradients) }
        let key = "unet_b16_d4_n8_128_np\(world.size)"
        return [
            Metric(key: key + "_train_step_ms", value: step * 1e3, unit: "ms"),
            Metric(key: key + "_train_images_per_s", value: Double(8 * world.size) / step, unit: "img/s (all ranks)"),
            Metric(
                key: key + "_allreduce_gradients_ms", value: reduce * 1e3, unit: "ms (\(gradients.count * 4) bytes)"),
            Metric(key: key + "_allreduce_share", value: reduce / step, unit: "of step (if not overlapped at all)"),
        ]
    },
]
