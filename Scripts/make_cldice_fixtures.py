#!/usr/bin/env python3
"""Goldens for DiceKit's clDice losses, generalized Dice + focal and the focal loss's per-class alpha
(Tests/DiceKitTests/Losses/ClDiceFixtureTests.swift).

Run by hand, never by CI:  /work/refenv/bin/python Scripts/make_cldice_fixtures.py
Needs numpy, torch and monai (1.6). Writes float64 .npy files and a manifest `cases.json` under
Tests/DiceKitTests/Fixtures/cldice_losses/, in the layout of Scripts/make_segmentation_loss_fixtures.py:

  <case>_pred.npy    logits (or probabilities), float64, channels-first [N, C, H, W] or [N, C, D, H, W]
  <case>_target.npy  int64 labels [N, spatial...] or a float64 0/1 or soft target with pred's shape
  <case>_loss.npy    the loss (shape [] or the reduction-none shape), float64
  <case>_grad.npy    d(sum of loss values)/d(pred) by torch autograd, float64

Sources of truth: MONAI's SoftclDiceLoss, SoftDiceclDiceLoss, GeneralizedDiceFocalLoss and FocalLoss
(alpha as a sequence). MONAI's FocalLoss calls `input.float()`, its `one_hot` makes float32
targets and GeneralizedDiceLoss computes its weights from `ground_o.float()`: the references run
with `Tensor.float` made a no-op and `one_hot` making float64, so that the same code runs in
float64 throughout. Predictions are
continuous random values, so the pooling inside the soft skeleton meets no ties between distinct
elements (see Sources/DiceKit/Losses/SoftSkeleton.swift for the tie rule). "options" in the
manifest use DiceKit's API names.
"""
import contextlib, json, os, warnings
import numpy as np
import torch
warnings.filterwarnings("ignore")
import monai.losses.dice, monai.losses.focal_loss, monai.losses.cldice
from monai.losses import SoftclDiceLoss, SoftDiceclDiceLoss, GeneralizedDiceFocalLoss, FocalLoss

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "DiceKitTests", "Fixtures", "cldice_losses")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(20261201)
cases = []


@contextlib.contextmanager
def float64_everywhere():
    original = torch.Tensor.float
    torch.Tensor.float = lambda self, *a, **k: self if self.is_floating_point() else self.to(torch.float64)
    modules = [monai.losses.dice, monai.losses.focal_loss, monai.losses.cldice]
    one_hots = [m.one_hot for m in modules]
    for m, f in zip(modules, one_hots):
        m.one_hot = lambda labels, num_classes, dtype=None, dim=1, f=f: f(labels, num_classes, torch.float64, dim)
    try:
        yield
    finally:
        torch.Tensor.float = original
        for m, f in zip(modules, one_hots):
            m.one_hot = f


def onehot(lab, c):
    return np.moveaxis(np.eye(c)[lab], -1, 1)


def case(name, fn, options, source, n=2, c=3, spatial=(8, 9), target="labels", probabilities=False):
    """Random logits (or probabilities) and labels; the target as labels, one-hot or soft."""
    x = rng.uniform(0.02, 0.98, size=(n, c, *spatial)) if probabilities else rng.normal(size=(n, c, *spatial)) * 2.0
    # Labels: the argmax of noise (a threshold for one channel).
    noise = rng.normal(size=(n, max(c, 2), *spatial))
    lab = noise.argmax(1) if c > 1 else (noise[:, 0] > 0).astype(np.int64)
    if target == "labels":
        saved = lab
        tt = torch.tensor(lab[:, None].astype(np.float64))
    elif target == "one-hot":
        saved = onehot(lab, c) if c > 1 else lab[:, None].astype(np.float64)
        tt = torch.tensor(saved)
    else:
        saved = rng.uniform(size=x.shape)
        tt = torch.tensor(saved)
    xt = torch.tensor(x, requires_grad=True)
    with float64_everywhere():
        loss = fn(xt, tt)
    assert loss.dtype == torch.float64, (name, loss.dtype)
    loss.sum().backward()
    np.save(os.path.join(OUT, f"{name}_pred.npy"), np.ascontiguousarray(x, dtype=np.float64))
    t = np.ascontiguousarray(saved)
    np.save(os.path.join(OUT, f"{name}_target.npy"), t.astype(np.int64) if target == "labels" else t.astype(np.float64))
    np.save(os.path.join(OUT, f"{name}_loss.npy"), loss.detach().numpy().astype(np.float64))
    np.save(os.path.join(OUT, f"{name}_grad.npy"), xt.grad.numpy().astype(np.float64))
    cases.append({"name": name, "options": dict(options, target=target, layout="channels-first"), "source": source})


# --- MONAI SoftclDiceLoss ---------------------------------------------------------------------
def cldice(name, dice_kit, spatial=(8, 9), c=3, target="labels", probabilities=False, **kw):
    if target == "labels" and c > 1:
        kw["to_onehot_y"] = True
    case(name, SoftclDiceLoss(**kw), dict(dice_kit, loss="cldice"), f"monai.losses.SoftclDiceLoss({kw})",
         c=c, spatial=spatial, target=target, probabilities=probabilities)


cldice("cldice_2d_probabilities", {"activation": "none"}, c=2, target="one-hot", probabilities=True)
cldice("cldice_2d_softmax_no_bg_sum", {"activation": "softmax", "iterations": 2, "excludeBackground": True,
       "reduction": "sum"}, softmax=True, iter_=2, include_background=False, reduction="sum")
cldice("cldice_2d_sigmoid_none_smoothing", {"activation": "sigmoid", "iterations": 1, "smoothNumerator": 0.5,
       "smoothDenominator": 2.0, "smooth": 1e-3, "reduction": "none"}, target="one-hot",
       sigmoid=True, iter_=1, smooth_nr=0.5, smooth_dr=2.0, smooth=1e-3, reduction="none")
cldice("cldice_2d_binary_labels", {"activation": "sigmoid", "iterations": 4}, c=1, spatial=(11, 10),
       sigmoid=True, iter_=4)
cldice("cldice_3d_sigmoid_labels", {"activation": "sigmoid"}, c=2, spatial=(5, 6, 7), sigmoid=True)
cldice("cldice_3d_soft_iter0", {"activation": "none", "iterations": 0}, c=2, spatial=(4, 5, 6), target="soft",
       probabilities=True, iter_=0)

# --- MONAI SoftDiceclDiceLoss -----------------------------------------------------------------
def dicecldice(name, dice_kit, spatial=(8, 9), c=3, target="labels", **kw):
    if target == "labels" and c > 1:
        kw["to_onehot_y"] = True
    case(name, SoftDiceclDiceLoss(**kw), dict(dice_kit, loss="dice-cldice"), f"monai.losses.SoftDiceclDiceLoss({kw})",
         c=c, spatial=spatial, target=target)


dicecldice("dicecldice_2d_softmax", {"activation": "softmax", "alpha": 0.3}, softmax=True, alpha=0.3)
dicecldice("dicecldice_3d_sigmoid_no_bg_sum", {"activation": "sigmoid", "excludeBackground": True, "reduction": "sum",
           "smoothNumerator": 0.5, "smoothDenominator": 0.5, "iterations": 2}, spatial=(5, 6, 5), target="one-hot",
           sigmoid=True, include_background=False, reduction="sum", smooth_nr=0.5, smooth_dr=0.5, iter_=2)

# --- MONAI GeneralizedDiceFocalLoss -----------------------------------------------------------
def gdf(name, dice_kit, c=3, target="labels", **kw):
    if target == "labels":
        kw["to_onehot_y"] = True
    case(name, GeneralizedDiceFocalLoss(**kw), dict(dice_kit, loss="generalized-dice-focal"),
         f"monai.losses.GeneralizedDiceFocalLoss({kw})", c=c, target=target)


gdf("gdf_softmax_default", {"activation": "softmax"}, softmax=True)
gdf("gdf_sigmoid_simple_weights_no_bg_batch_sum", {"activation": "sigmoid", "weighting": "simple", "gamma": 1.5,
    "classWeights": [1.0, 2.0], "excludeBackground": True, "batch": True, "reduction": "sum",
    "generalizedDiceWeight": 0.4, "focalWeight": 1.6},
    sigmoid=True, w_type="simple", gamma=1.5, weight=[1.0, 2.0], include_background=False, batch=True,
    reduction="sum", lambda_gdl=0.4, lambda_focal=1.6)
gdf("gdf_softmax_uniform_onehot", {"activation": "softmax", "weighting": "uniform"}, c=4, target="one-hot",
    softmax=True, w_type="uniform")

# --- MONAI FocalLoss with a per-class alpha ---------------------------------------------------
def focal(name, dice_kit, c=3, target="labels", **kw):
    if target == "labels":
        kw["to_onehot_y"] = True
    case(name, FocalLoss(**kw), dict(dice_kit, loss="focal"), f"monai.losses.FocalLoss({kw})", c=c, target=target)


focal("focal_sigmoid_class_alpha", {"activation": "sigmoid", "classAlpha": [0.2, 0.5, 0.8]}, alpha=[0.2, 0.5, 0.8])
focal("focal_softmax_class_alpha_no_bg", {"activation": "softmax", "classAlpha": [0.3, 1.0, 2.0],
      "excludeBackground": True, "gamma": 1.5, "reduction": "sum"}, c=4, use_softmax=True, alpha=[0.3, 1.0, 2.0],
      include_background=False, gamma=1.5, reduction="sum")
focal("focal_softmax_class_alpha_none", {"activation": "softmax", "classAlpha": [0.25, 0.5, 0.75],
      "reduction": "none"}, target="one-hot", use_softmax=True, alpha=[0.25, 0.5, 0.75], reduction="none")

with open(os.path.join(OUT, "cases.json"), "w") as f:
    json.dump(cases, f, indent=1)
print(f"{len(cases)} cases written to {os.path.normpath(OUT)}")
