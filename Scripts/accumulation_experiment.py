#!/usr/bin/env python3
"""The accumulation experiment quoted in Docs/DiceMath.md, section 6: how far a Float sum of the
softmax probabilities P = sum(p) of a 128^3 two-class volume drifts from the exact sum, added
one after another, and in DiceKit's scheme (per vector lane in Float over blocks of 512
positions, then the block sums in Double; see Sources/DiceKit/Losses/DiceLoss+Passes.swift).

Run by hand (never by CI):  /work/refenv/bin/python Scripts/accumulation_experiment.py
Needs numpy only. The logits are normal with standard deviation 2, like the benchmark key
`dice_precision_128x128x128` (NumPy's generator, not DiceKit's, so the draws differ; the
figures are about the summation, not the draw). Prints one JSON object.
"""
import json
import numpy as np

rng = np.random.default_rng(3)
n = 128 ** 3
z = (2 * rng.standard_normal((n, 2))).astype(np.float32)
# Softmax probability of class 1, computed in Float as the kernels do.
m = z.max(axis=1, keepdims=True)
e = np.exp(z - m)
p = (e[:, 1] / e.sum(axis=1)).astype(np.float32)

exact = float(np.sum(p.astype(np.float64)))
sequential = float(np.cumsum(p, dtype=np.float32)[-1])          # one running Float sum
blocks = p.reshape(-1, 512)
lanes = blocks.reshape(blocks.shape[0], 32, 16)                 # 16 lanes, 32 steps per block
lane_sums = np.cumsum(lanes, axis=1, dtype=np.float32)[:, -1, :]  # per-lane running Float sums
blocked = float(np.sum(lane_sums.astype(np.float64)))           # block and lane sums in Double
block_sums = np.cumsum(blocks, axis=1, dtype=np.float32)[:, -1]  # one running Float sum per block
blocked_scalar = float(np.sum(block_sums.astype(np.float64)))   # (the Swift passes, per channel)

print(json.dumps({"P": exact,
                  "sequential_float_rel_error": abs(sequential - exact) / exact,
                  "blocked_16_lanes_rel_error": abs(blocked - exact) / exact,
                  "blocked_one_sum_rel_error": abs(blocked_scalar - exact) / exact}, indent=1))
