#!/usr/bin/env python3
"""Times MONAI's distance metrics on the 128³ volume of dicekit-bench's `surface_*` keys.

Prints one JSON object whose keys match dicekit-bench's (Benchmarks/DiceKitBenchmarks/
MetricBenchmarks.swift), so `dicekit-bench --filter surface --against OUT.json` compares the two
runs key by key. Run by hand (CI never runs Python):

    /work/refenv/bin/python Scripts/bench_metrics_monai.py > /tmp/monai_metrics.json

The volume: a ball of radius 40 voxels centred at (64, 64, 64) as the prediction and an
ellipsoid with semi-axes (44, 38, 36) centred at (62, 66, 64) as the ground truth, one-hot with
background, spacing (1.0, 0.8, 0.8). Each key is the median of 5 runs after one warm-up.
"""
import json

import numpy as np
import torch
from torch_timing import median_seconds
from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance, compute_surface_dice

SIZE = 128
SPACING = (1.0, 0.8, 0.8)


def volumes():
    z, y, x = np.meshgrid(*(np.arange(SIZE),) * 3, indexing="ij")
    pred = (z - 64) ** 2 + (y - 64) ** 2 + (x - 64) ** 2 < 40 ** 2
    gt = ((z - 62) / 44.0) ** 2 + ((y - 66) / 38.0) ** 2 + ((x - 64) / 36.0) ** 2 < 1
    one_hot = lambda m: torch.from_numpy(np.stack([~m, m])[None].astype(np.float32))
    return one_hot(pred), one_hot(gt)


def median_ms(body):
    """The median of 5 timed runs after one warm-up, in milliseconds."""
    return median_seconds(body, reps=5, warm=1) * 1e3


def main():
    torch.set_num_threads(2)
    pred, gt = volumes()
    key = f"surface_{SIZE}x{SIZE}x{SIZE}"
    values = {
        "hd95": compute_hausdorff_distance(pred, gt, percentile=95, spacing=SPACING).item(),
        "assd": compute_average_surface_distance(pred, gt, symmetric=True, spacing=SPACING).item(),
        "nsd": compute_surface_dice(pred, gt, [1.0], spacing=SPACING).item(),
        "nsd_subvoxels": compute_surface_dice(pred, gt, [1.0], spacing=SPACING, use_subvoxels=True).item(),
    }
    result = {
        f"{key}_hd95_ms": median_ms(lambda: compute_hausdorff_distance(pred, gt, percentile=95, spacing=SPACING)),
        f"{key}_assd_ms": median_ms(
            lambda: compute_average_surface_distance(pred, gt, symmetric=True, spacing=SPACING)),
        f"{key}_nsd_ms": median_ms(lambda: compute_surface_dice(pred, gt, [1.0], spacing=SPACING)),
        f"{key}_nsd_subvoxels_ms": median_ms(
            lambda: compute_surface_dice(pred, gt, [1.0], spacing=SPACING, use_subvoxels=True)),
    }
    for name, value in values.items():
        result[f"{key}_{name}_value"] = value
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
