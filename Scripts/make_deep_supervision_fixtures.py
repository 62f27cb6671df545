#!/usr/bin/env python3
"""Goldens for DiceKit's DeepSupervisionLoss (Tests/DiceKitTests/Losses/DeepSupervisionLossTests.swift).

Run by hand, never by CI:  /work/refenv/bin/python Scripts/make_deep_supervision_fixtures.py
Needs numpy, torch and monai (1.6). Writes .npy files and a manifest `cases.json` under
Tests/DiceKitTests/Fixtures/deep_supervision/:

  <case>_pred<l>.npy   logits of output l (0 = full resolution), float64, channels-first
  <case>_target.npy    float64 labels [N, 1, spatial...] (as MONAI takes them) or a 0/1 target [N, C, spatial...]
  <case>_loss64.npy    the loss in float64: sum_l w_l * loss(pred_l, interpolate(target, nearest-exact)),
                       with MONAI's own DeepSupervisionLoss.get_weights and get_loss
  <case>_loss32.npy    MONAI's DeepSupervisionLoss.forward on the float32 predictions (it computes in float32)
  <case>_grad<l>.npy   d(loss)/d(pred_l) by torch autograd in float64

Source of truth: monai/losses/ds_loss.py. Its forward casts every output with `.float()` and
accumulates in a float32 tensor, so the float64 golden calls the same object's `get_weights` and
`get_loss` (which resamples the target with F.interpolate(mode=self.interp_mode), "nearest-exact")
and sums in float64 (with `Tensor.float` made a no-op meanwhile, since MONAI's FocalLoss casts its
input with it). The wrapped losses are MONAI's DiceLoss and FocalLoss. "options" use
DiceKit's API names.
"""
import json, os, warnings
import numpy as np
import torch
warnings.filterwarnings("ignore")
from monai.losses import DeepSupervisionLoss, DiceLoss, FocalLoss

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "DiceKitTests", "Fixtures", "deep_supervision")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(20261201)
cases = []


def wrapped(options):
    if options["loss"] == "dice":
        act = options["activation"]
        return DiceLoss(softmax=act == "softmax", sigmoid=act == "sigmoid", to_onehot_y=options["target"] == "labels")
    if options["loss"] == "focal":
        return FocalLoss(use_softmax=options["activation"] == "softmax", gamma=2.0, to_onehot_y=options["target"] == "labels")
    raise ValueError(options["loss"])


def make(name, spatials, weighting, c=3, n=2, loss="dice", activation="softmax", target="labels", weights=None):
    options = {"loss": loss, "activation": activation, "target": target, "weighting": weighting}
    if weights is not None:
        options["weights"] = weights
    preds = [rng.normal(size=(n, c, *s)) * 2 for s in spatials]
    if target == "labels":
        lab = rng.integers(0, c, size=(n, 1, *spatials[0])).astype(np.float64)
    else:
        lab = (rng.uniform(size=(n, c, *spatials[0])) < 0.4).astype(np.float64)
    ds = DeepSupervisionLoss(wrapped(options), weight_mode=weighting if weighting != "explicit" else "exp", weights=weights)
    # float64: MONAI's own weights and resampled per-level loss, summed in float64.
    xs = [torch.tensor(p, requires_grad=True) for p in preds]
    # The target stays float32 as users pass it: PyTorch's nearest-exact index arithmetic depends on
    # the dtype (its float64 3-D kernel computes the scale in double; float32 uses float, which
    # DiceKit follows). The values are 0/1 or whole labels, exact in float32.
    t = torch.tensor(lab, dtype=torch.float32)
    w = ds.get_weights(levels=len(xs))
    original = torch.Tensor.float  # MONAI's FocalLoss casts with .float(): a no-op here, float64 throughout
    torch.Tensor.float = lambda self, *a, **k: self
    try:
        total = sum(wl * ds.get_loss(x, t) for wl, x in zip(w, xs))
    finally:
        torch.Tensor.float = original
    assert total.dtype == torch.float64
    total.backward()
    # float32: MONAI's forward as users run it.
    loss32 = ds([torch.tensor(p, dtype=torch.float32) for p in preds], torch.tensor(lab, dtype=torch.float32))
    for l, (p, x) in enumerate(zip(preds, xs)):
        np.save(os.path.join(OUT, f"{name}_pred{l}.npy"), p)
        np.save(os.path.join(OUT, f"{name}_grad{l}.npy"), x.grad.numpy())
    np.save(os.path.join(OUT, f"{name}_target.npy"), lab)
    np.save(os.path.join(OUT, f"{name}_loss64.npy"), np.array(total.item()))
    np.save(os.path.join(OUT, f"{name}_loss32.npy"), np.array(loss32.item(), dtype=np.float32))
    cases.append({"name": name, "levels": len(preds), "weights": list(w), "options": options,
                  "source": f"monai DeepSupervisionLoss({options['loss']}, weight_mode={weighting})"})


make("same_dice_labels", [(8, 8), (4, 4), (2, 2)], "same")
make("exp_dice_labels", [(16, 8), (8, 4), (4, 2), (2, 1), (1, 1)], "exp")  # exp reaches its 1/16 floor
make("two_dice_labels", [(8, 12), (4, 6), (2, 3)], "two")
make("explicit_dice_labels", [(8, 8), (4, 4), (2, 2)], "explicit", weights=[0.7, 0.2, 0.1, 5.0])
make("exp_dice_uneven", [(7, 9), (3, 4), (2, 5), (5, 13)], "exp")  # non-integer ratios, one up-sampling
make("exp_dice_sigmoid_onehot", [(8, 8), (4, 4)], "exp", activation="sigmoid", target="onehot")
make("exp_dice_3d", [(4, 8, 6), (2, 4, 3), (1, 2, 2)], "exp", c=2)
make("two_focal_labels", [(8, 8), (4, 4), (2, 2)], "two", loss="focal")
with open(os.path.join(OUT, "cases.json"), "w") as f:
    json.dump(cases, f, indent=1)
print(f"wrote {len(cases)} cases to {OUT}")
