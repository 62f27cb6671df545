// Surface-distance metrics on a 128³ volume through the public API, on the input and with the
// keys of Scripts/bench_metrics_monai.py (MONAI's compute_hausdorff_distance,
// compute_average_surface_distance and compute_surface_dice), so that `--against` compares them:
// a ball of radius 40 voxels at (64, 64, 64) as the prediction, an ellipsoid with semi-axes
// (44, 38, 36) at (62, 66, 64) as the target, spacing (1.0, 0.8, 0.8), background excluded;
// `nsd_subvoxels` is the surface Dice on sub-voxel surfaces (MONAI's use_subvoxels=True).
// The `_value` keys are the metric values, to check that both sides computed the same thing.

import DiceKit

func surfaceBenchmark() -> Benchmark {
    let key = "surface_128x128x128"
    return Benchmark(key: key) { context in
        let n = 128
        var predicted = [Int](repeating: 0, count: n * n * n)
        var target = predicted
        for z in 0..<n {
            for y in 0..<n {
                for x in 0..<n {
                    let i = (z * n + y) * n + x
                    let (dz, dy, dx) = (Double(z - 64), Double(y - 64), Double(x - 64))
                    predicted[i] = dz * dz + dy * dy + dx * dx < 1600 ? 1 : 0
                    let (ez, ey, ex) = (Double(z - 62) / 44, Double(y - 66) / 38, Double(x - 64) / 36)
                    target[i] = ez * ez + ey * ey + ex * ex < 1 ? 1 : 0
                }
            }
        }
        let p = try ClassMasks(labels: LabelMap(shape: [1, n, n, n], labels: predicted), classes: 2)
        let t = try ClassMasks(labels: LabelMap(shape: [1, n, n, n], labels: target), classes: 2)
        let spacing = [1.0, 0.8, 0.8]
        let scores: [(String, SurfaceDistanceScore, Bool)] = [
            ("hd95", .hausdorff(percentile: 95, directed: false), false),
            ("assd", .averageSurfaceDistance(symmetric: true), false),
            ("nsd", .surfaceDice(tolerances: [1]), false),
            ("nsd_subvoxels", .surfaceDice(tolerances: [1]), true),
        ]
        var metrics: [Metric] = []
        for (name, score, subvoxels) in scores {
            let metric = SurfaceDistanceMetric(score: score, spacing: spacing, useSubvoxels: subvoxels)
            var value = 0.0
            let seconds = try context.time(warmup: 1, repetitions: 5) {
                value = try metric.scores(predicted: p, target: t)[0]
            }
            metrics.append(Metric(key: "\(key)_\(name)_ms", value: seconds * 1e3, unit: "ms"))
            metrics.append(Metric(key: "\(key)_\(name)_value", value: value, unit: ""))
        }
        return metrics
    }
}

let metricBenchmarks: [Benchmark] = [surfaceBenchmark()]
