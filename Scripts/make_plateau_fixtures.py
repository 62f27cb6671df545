#!/usr/bin/env python3
"""Goldens for DiceKit's `LearningRatePlateau`, from PyTorch's ReduceLROnPlateau (mode "max",
threshold_mode "rel"): for sequences of per-epoch validation Dice, the learning rate after each
epoch, with PyTorch's defaults and with other patience, factor, threshold, cooldown and min_lr.
An epoch without a validation Dice (null) does not step the scheduler, as DiceKit passes it over.

Run by hand (never by CI) from the repository root:
    /work/refenv/bin/python Scripts/make_plateau_fixtures.py
It writes Tests/DiceKitTests/Fixtures/training/plateau.json.
"""
import json

import numpy as np
import torch

rng = np.random.default_rng(20261202)


def rising_then_flat(n):
    return [min(0.9, 0.3 + 0.05 * i) + 0.001 * rng.standard_normal() for i in range(n)]


def noisy(n):
    return [0.5 + 0.1 * np.tanh(i / 10) + 0.03 * rng.standard_normal() for i in range(n)]


def tiny_gains(n):
    # Gains below the relative threshold 1e-4 of a Dice near 0.8 do not count as improvements.
    return [0.8 + 1e-5 * i for i in range(n)]


sequences = {
    "rising_then_flat": rising_then_flat(40),
    "noisy": noisy(60),
    "tiny_gains": tiny_gains(30),
    "with_gaps": [None if i % 7 == 3 else v for i, v in enumerate(noisy(45))],
}
settings = [
    {"patience": 10, "factor": 0.1, "threshold": 1e-4, "cooldown": 0, "min_lr": 0.0},
    {"patience": 2, "factor": 0.5, "threshold": 1e-4, "cooldown": 0, "min_lr": 0.0},
    {"patience": 1, "factor": 0.3, "threshold": 0.0, "cooldown": 3, "min_lr": 1e-5},
    {"patience": 0, "factor": 0.5, "threshold": 1e-3, "cooldown": 1, "min_lr": 2e-4},
]

cases = []
for name, dice in sequences.items():
    for s in settings:
        base = 1e-3
        parameter = torch.nn.Parameter(torch.zeros(1))
        optimizer = torch.optim.SGD([parameter], lr=base)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=s["factor"], patience=s["patience"], threshold=s["threshold"],
            threshold_mode="rel", cooldown=s["cooldown"], min_lr=s["min_lr"])
        rates = []
        for value in dice:
            if value is not None:
                scheduler.step(value)
            rates.append(optimizer.param_groups[0]["lr"])
        cases.append({"name": name, "base": base, "dice": [None if v is None else float(v) for v in dice],
                      "rates": rates, **s})

out = "Tests/DiceKitTests/Fixtures/training/plateau.json"
with open(out, "w") as f:
    json.dump({"generator": "Scripts/make_plateau_fixtures.py", "torch": torch.__version__, "cases": cases}, f)
print("wrote", out, len(cases), "cases;", sum(len(set(c["rates"])) > 1 for c in cases), "with reductions")
