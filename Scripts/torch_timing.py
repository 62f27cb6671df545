"""The timer of the PyTorch- and MONAI-side benchmark scripts beside it (bench_infer_one_torch.py,
bench_unet3d_torch.py, bench_conv3d_torch.py, bench_weight_average_torch.py, bench_metrics_monai.py): the median of `reps` timed calls after `warm` untimed ones, as
shared/reference/bench_torch.py and dicekit-bench time theirs."""
import time


def median_seconds(fn, reps, warm):
    for _ in range(warm):
        fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]
