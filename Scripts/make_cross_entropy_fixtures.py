#!/usr/bin/env python3
"""Goldens for DiceKit's weighted cross-entropy term: class weights, label smoothing, pos_weight
(Tests/DiceKitTests/Losses/LossFixtureTests.swift reads them beside Scripts/make_loss_fixtures.py's).

Run by hand, never by CI:  /work/refenv/bin/python Scripts/make_cross_entropy_fixtures.py
Needs numpy, torch and monai (1.6). Writes, under Tests/DiceKitTests/Fixtures/losses/, the files
of Scripts/make_loss_fixtures.py's format (<case>_pred/target/loss/grad.npy, float64 and int64
labels) and the manifest `cross_entropy_cases.json` (options in DiceKit's API names).

Sources of truth, in float64 with torch autograd (channels-first):
  - MONAI's DiceCELoss(weight=w, label_smoothing=ε): w weighs the CE classes (softmax) or is the
    pos_weight of the single-channel BCE, and weighs the Dice classes too (w[1:] without the
    background; not a single channel, which MONAI's DiceLoss leaves unweighted). Label targets reach the CE as class indices (the mean divides by Σ w[label]),
    one-hot targets as probabilities (the mean divides by the positions).
  - PyTorch's cross_entropy / binary_cross_entropy_with_logits where MONAI has no such case:
    ignored labels, soft targets, and pos_weight per channel of a multi-channel sigmoid.
"""
import json, os, warnings
import numpy as np
import torch
import torch.nn.functional as F
warnings.filterwarnings("ignore")
from monai.losses import DiceCELoss

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "DiceKitTests", "Fixtures", "losses")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(20261202)
cases = []


def save(name, pred, target, loss, grad, options, source):
    np.save(os.path.join(OUT, f"{name}_pred.npy"), np.ascontiguousarray(pred, dtype=np.float64))
    t = np.ascontiguousarray(target)
    np.save(os.path.join(OUT, f"{name}_target.npy"), t.astype(np.int64) if options["target"] == "labels" else t.astype(np.float64))
    np.save(os.path.join(OUT, f"{name}_loss.npy"), np.asarray(loss, dtype=np.float64))
    np.save(os.path.join(OUT, f"{name}_grad.npy"), np.ascontiguousarray(grad, dtype=np.float64))
    cases.append({"name": name, "options": options, "source": source})


def inputs(n, c, spatial, target):
    """Logits [N, C, spatial...] and the target: labels [N, spatial...], one-hot or soft [N, C, ...]."""
    x = rng.normal(size=(n, c, *spatial)) * 2
    lab = rng.integers(0, max(c, 2), size=(n, *spatial))
    if target == "labels":
        return x, lab
    if target == "one-hot":
        return x, np.moveaxis(np.eye(c)[lab], -1, 1)
    soft = rng.uniform(size=(n, c, *spatial))
    return x, soft / soft.sum(axis=1, keepdims=True)


def monai_case(name, n=2, c=3, spatial=(5, 6), target="labels", weight=None, smoothing=0.0, exclude=False,
               reduction="mean", lambda_dice=1.0, lambda_ce=1.0, activation="softmax"):
    x, t = inputs(n, c, spatial, target)
    w = None if weight is None else torch.tensor(weight)
    loss_fn = DiceCELoss(softmax=activation == "softmax", sigmoid=activation == "sigmoid",
                         to_onehot_y=target == "labels", include_background=not exclude, weight=w,
                         label_smoothing=smoothing, reduction=reduction, lambda_dice=lambda_dice, lambda_ce=lambda_ce)
    xt = torch.tensor(x, requires_grad=True)
    tt = torch.tensor(t[:, None].astype(np.float64) if target == "labels" else t)
    loss = loss_fn(xt, tt)
    loss.backward()
    options = {"target": target, "layout": "channels-first", "activation": activation, "diceWeight": lambda_dice,
               "crossEntropyWeight": lambda_ce, "reduction": reduction}
    if weight is not None:
        options["crossEntropyClassWeights"] = list(weight)
        if c > 1:  # MONAI's DiceLoss leaves a single channel unweighted
            options["classWeights"] = list(weight[1:] if exclude else weight)
    if smoothing:
        options["labelSmoothing"] = smoothing
    if exclude:
        options["excludeBackground"] = True
    save(name, x, t, loss.detach().numpy(), xt.grad.numpy(), options, "monai")


def torch_case(name, n=2, c=3, spatial=(5, 6), target="labels", weight=None, smoothing=0.0, ignore=None,
               activation="softmax", reduction="mean"):
    """The cross-entropy alone (a Dice weight of 0)."""
    x, t = inputs(n, c, spatial, target)
    if ignore is not None:
        t[rng.uniform(size=t.shape) < 0.25] = ignore
    xt = torch.tensor(x, requires_grad=True)
    w = None if weight is None else torch.tensor(weight)
    if activation == "softmax":
        tt = torch.tensor(t) if target == "labels" else torch.tensor(t)
        loss = F.cross_entropy(xt, tt, weight=w, ignore_index=-100 if ignore is None else ignore,
                               label_smoothing=smoothing, reduction=reduction)
    else:  # one pos_weight per channel, broadcast over the spatial axes
        pos = None if w is None else w.view(c, *([1] * len(spatial)))
        loss = F.binary_cross_entropy_with_logits(xt, torch.tensor(t), pos_weight=pos, reduction=reduction)
    loss.backward()
    options = {"target": target, "layout": "channels-first", "activation": activation, "diceWeight": 0.0,
               "crossEntropyWeight": 1.0, "reduction": reduction}
    if weight is not None:
        options["crossEntropyClassWeights"] = list(weight)
    if smoothing:
        options["labelSmoothing"] = smoothing
    if ignore is not None:
        options["ignoreIndex"] = ignore
    save(name, x, t, loss.detach().numpy(), xt.grad.numpy(), options, "pytorch")


# MARK: - MONAI DiceCELoss: class weights, label smoothing, pos_weight
monai_case("ce_weighted_labels", weight=[0.2, 1.0, 3.0])
monai_case("ce_smoothed_labels", smoothing=0.1, lambda_ce=0.5)
monai_case("ce_weighted_smoothed_labels", weight=[0.5, 2.0, 1.5, 4.0], c=4, smoothing=0.2, lambda_dice=0.7)
monai_case("ce_weighted_smoothed_sum", weight=[1.5, 0.25, 2.0], smoothing=0.3, reduction="sum")
monai_case("ce_weighted_exclude_background", weight=[0.1, 1.0, 2.5], exclude=True, smoothing=0.05)
monai_case("ce_weighted_smoothed_onehot", target="one-hot", weight=[0.3, 1.0, 2.0], smoothing=0.15)
monai_case("ce_weighted_3d", n=1, spatial=(3, 4, 5), weight=[0.4, 1.0, 3.0], smoothing=0.1)
monai_case("ce_smoothing_one", smoothing=1.0)
monai_case("ce_pos_weight_binary", c=1, weight=[2.5], activation="sigmoid")

# MARK: - PyTorch: ignored labels, soft targets, per-channel pos_weight
torch_case("ce_weighted_smoothed_ignore", weight=[0.6, 1.0, 2.0, 0.0], c=4, smoothing=0.1, ignore=255)
torch_case("ce_weighted_smoothed_soft", target="soft", weight=[2.0, 0.5, 1.0], smoothing=0.25)
torch_case("ce_weighted_smoothed_soft_sum", target="soft", weight=[1.0, 3.0], c=2, smoothing=0.4, reduction="sum")
torch_case("ce_pos_weight_channels", target="one-hot", c=3, weight=[0.5, 2.0, 4.0], activation="sigmoid")

with open(os.path.join(OUT, "cross_entropy_cases.json"), "w") as f:
    json.dump(cases, f, indent=1)
print(f"wrote {len(cases)} cases to {os.path.normpath(OUT)}")
