#!/usr/bin/env python3
"""Goldens for DiceKit's HausdorffDTLoss (Tests/DiceKitTests/Losses/HausdorffDTLossTests.swift).

Run by hand, never by CI:  /work/refenv/bin/python Scripts/make_hausdorff_fixtures.py
Needs numpy, torch, scipy and monai (1.6). Writes, under Tests/DiceKitTests/Fixtures/hausdorff/,
<case>_pred.npy (float64 logits or probabilities, channels-first), <case>_target.npy (int64
labels [N, spatial...] or a float64 target with the prediction's shape), <case>_loss.npy,
<case>_grad.npy (d(sum of the loss values)/d(pred), torch autograd in float64) and the manifest
`cases.json` (options in DiceKit's API names).

Sources of truth: MONAI's HausdorffDTLoss and LogHausdorffDTLoss (distance fields from
scipy.ndimage.distance_transform_edt, under no_grad); for voxel spacing, which MONAI lacks, the
same formula with distance_transform_edt(..., sampling=spacing), in float64 throughout.
"""
import json, os, warnings
import numpy as np
import torch
from scipy.ndimage import distance_transform_edt
warnings.filterwarnings("ignore")
from monai.losses import HausdorffDTLoss, LogHausdorffDTLoss

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "DiceKitTests", "Fixtures", "hausdorff")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(20261203)
cases = []


def blobs(n, c, spatial, scale=3):
    """Smooth random fields [N, C, spatial...]: low-resolution noise repeated scale× per axis, so
    thresholds and arg-maxes give blobs several positions wide (distances beyond 1)."""
    low = rng.normal(size=(n, c, *[max(1, s // scale) for s in spatial]))
    field = low
    for axis, size in enumerate(spatial):
        field = np.repeat(field, scale, axis=2 + axis)
        field = np.take(field, range(size), axis=2 + axis, mode="clip")
    return field + 0.3 * rng.normal(size=(n, c, *spatial))


# MONAI rounds the distance fields to float32 (`distance_field(...).float()`), so its float64
# results carry float32 rounding (observed ≤ 1.4e-7 relative): its cases are compared within 5e-7.
MONAI_TOLERANCE = (5e-7, "MONAI rounds the distance fields to float32 (distance_field(...).float())")


def save(name, pred, target, loss, grad, options, source, tolerance=None):
    np.save(os.path.join(OUT, f"{name}_pred.npy"), np.ascontiguousarray(pred, dtype=np.float64))
    t = np.ascontiguousarray(target)
    np.save(os.path.join(OUT, f"{name}_target.npy"), t.astype(np.int64) if options["target"] == "labels" else t.astype(np.float64))
    np.save(os.path.join(OUT, f"{name}_loss.npy"), np.asarray(loss, dtype=np.float64))
    np.save(os.path.join(OUT, f"{name}_grad.npy"), np.ascontiguousarray(grad, dtype=np.float64))
    case = {"name": name, "options": options, "source": source}
    if tolerance is not None:
        case["doubleTolerance"], case["reason"] = tolerance
    cases.append(case)


def inputs(n, c, spatial, target, activation, empty=None, full=None):
    x = 2 * blobs(n, c, spatial)
    if activation == "none":
        x = 1 / (1 + np.exp(-x))
    classes = max(c, 2)
    lab = np.argmax(blobs(n, classes, spatial), axis=1) if c > 1 else (blobs(n, 1, spatial)[:, 0] > 0).astype(np.int64)
    if empty is not None:   # class `empty` absent from sample 0
        lab[0][lab[0] == empty] = 0 if empty != 0 else 1
    if full is not None:    # sample 0 is all class `full`
        lab[0] = full
    if target == "labels":
        return x, lab
    onehot = np.moveaxis(np.eye(classes)[lab], -1, 1)
    return x, onehot if c > 1 else lab[:, None].astype(np.float64)


def monai_case(name, n=2, c=3, spatial=(12, 10), target="labels", activation="softmax", alpha=2.0, exclude=True,
               batch=False, reduction="mean", log=False, empty=None, full=None):
    x, t = inputs(n, c, spatial, target, activation, empty, full)
    cls = LogHausdorffDTLoss if log else HausdorffDTLoss
    loss_fn = cls(alpha=alpha, include_background=not exclude, to_onehot_y=target == "labels" and c > 1,
                  sigmoid=activation == "sigmoid", softmax=activation == "softmax", batch=batch, reduction=reduction)
    xt = torch.tensor(x, requires_grad=True)
    tt = torch.tensor(t[:, None].astype(np.float64) if target == "labels" else t)
    loss = loss_fn(xt, tt)
    loss.sum().backward()
    value = loss.detach().numpy()
    if reduction == "none":
        value = value.reshape(value.shape[1]) if batch else value.reshape(value.shape[:2])
    options = {"target": target, "layout": "channels-first", "activation": activation, "alpha": alpha,
               "excludeBackground": exclude, "batch": batch, "reduction": reduction, "logarithmic": log}
    save(name, x, t, value, xt.grad.numpy(), options, "monai", MONAI_TOLERANCE)


def field(mask, spacing):
    """MONAI's distance_field for one mask, with voxel spacing."""
    if not mask.any() or mask.all():
        return np.zeros(mask.shape)
    return distance_transform_edt(mask, sampling=spacing) + distance_transform_edt(~mask, sampling=spacing)


def spacing_case(name, spacing, n=2, c=3, spatial=(6, 12, 10), alpha=2.0):
    """MONAI's formula (softmax, labels, background excluded, mean) with anisotropic distances."""
    x, lab = inputs(n, c, spatial, "labels", "softmax")
    xt = torch.tensor(x, requires_grad=True)
    p = torch.softmax(xt, 1)
    g = torch.tensor(np.moveaxis(np.eye(c)[lab], -1, 1))
    values = []
    for k in range(1, c):
        for i in range(n):
            dp = field(p[i, k].detach().numpy() > 0.5, spacing)
            dg = field(g[i, k].numpy() > 0.5, spacing)
            d = torch.tensor(dp ** alpha + dg ** alpha)
            values.append(((p[i, k] - g[i, k]) ** 2 * d).mean())
    loss = torch.stack(values).mean()
    loss.backward()
    options = {"target": "labels", "layout": "channels-first", "activation": "softmax", "alpha": alpha,
               "excludeBackground": True, "batch": False, "reduction": "mean", "logarithmic": False,
               "spacing": list(spacing)}
    save(name, x, lab, loss.detach().numpy(), xt.grad.numpy(), options, "scipy+pytorch")


monai_case("hd_softmax_labels")
monai_case("hd_sigmoid_onehot_sum", target="one-hot", activation="sigmoid", alpha=1.5, exclude=False, reduction="sum")
monai_case("hd_softmax_3d_batch_none", n=2, c=3, spatial=(6, 8, 7), batch=True, reduction="none")
monai_case("hd_sigmoid_binary", c=1, activation="sigmoid")
monai_case("hd_probabilities_onehot", target="one-hot", activation="none", c=2, exclude=False, alpha=3.0)
monai_case("hd_log_softmax", log=True, c=4)
monai_case("hd_log_none", log=True, reduction="none", activation="sigmoid", target="one-hot")
monai_case("hd_empty_class_alpha0", c=3, empty=2, alpha=0.0)
monai_case("hd_full_sample", c=3, full=1, exclude=False, batch=True)
spacing_case("hd_spacing_3d", spacing=(2.5, 1.0, 0.7))

with open(os.path.join(OUT, "cases.json"), "w") as f:
    json.dump(cases, f, indent=1)
print(f"wrote {len(cases)} cases to {os.path.normpath(OUT)}")
