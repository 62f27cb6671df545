#!/usr/bin/env python3
"""Goldens for DiceKit's focal, Dice + focal, Lovász, generalized Wasserstein Dice and MCC losses
(Tests/DiceKitTests/Losses/SegmentationLossFixtureTests.swift).

Run by hand, never by CI:  /work/refenv/bin/python Scripts/make_segmentation_loss_fixtures.py
Needs numpy, torch, monai (1.6) and segmentation-models-pytorch (0.6). Writes float64 .npy files
and a manifest `cases.json` under Tests/DiceKitTests/Fixtures/segmentation_losses/:

  <case>_pred.npy    logits (or probabilities), float64, channels-first [N, C, H, W]
  <case>_target.npy  int64 labels [N, H, W] or a float64 0/1 or soft target [N, C, H, W]
  <case>_loss.npy    the loss (shape [] or the reduction-none shape), float64
  <case>_grad.npy    d(sum of loss values)/d(pred) by torch autograd, float64

Sources of truth: MONAI's FocalLoss, DiceFocalLoss and GeneralizedWassersteinDiceLoss; smp's
FocalLoss (normalized, reduced_threshold), LovaszLoss and MCCLoss. Both libraries cast to float32
in places (MONAI's FocalLoss calls `input.float()`; smp's Lovász gradient `gt.float().cumsum`;
MONAI's Wasserstein weights `.float()`): the references run with `Tensor.float` made a no-op, so
that the same code runs in float64 throughout. "options" in the manifest use DiceKit's API names.
"""
import json, os, warnings
import numpy as np
import torch
warnings.filterwarnings("ignore")
from monai.losses import FocalLoss, DiceFocalLoss, GeneralizedWassersteinDiceLoss
from reference_losses import float64_everywhere, smp

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "DiceKitTests", "Fixtures", "segmentation_losses")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(20261130)
cases = []


def run(name, fn, x, target_saved, target_torch, options, source):
    xt = torch.tensor(x, requires_grad=True)
    with float64_everywhere():
        loss = fn(xt, target_torch)
    assert loss.dtype == torch.float64, (name, loss.dtype)
    loss.sum().backward()
    np.save(os.path.join(OUT, f"{name}_pred.npy"), np.ascontiguousarray(x, dtype=np.float64))
    t = np.ascontiguousarray(target_saved)
    np.save(os.path.join(OUT, f"{name}_target.npy"), t.astype(np.int64) if options["target"] == "labels" else t.astype(np.float64))
    np.save(os.path.join(OUT, f"{name}_loss.npy"), loss.detach().numpy().astype(np.float64))
    np.save(os.path.join(OUT, f"{name}_grad.npy"), xt.grad.numpy().astype(np.float64))
    options = dict(options, layout="channels-first")
    cases.append({"name": name, "options": options, "source": source})


def problem(n=2, c=3, spatial=(5, 6), scale=2.0, ignore=None):
    x = rng.normal(size=(n, c, *spatial)) * scale
    lab = rng.integers(0, max(c, 2), size=(n, *spatial))
    if ignore is not None:
        lab[rng.uniform(size=lab.shape) < 0.2] = ignore
    return x, lab


def onehot(lab, c):
    return np.moveaxis(np.eye(c)[lab], -1, 1)


# --- MONAI FocalLoss -------------------------------------------------------------------------
def monai_focal(name, c=3, target="labels", dice_kit=None, **kw):
    x, lab = problem(c=c)
    if c == 1:
        tt = torch.tensor(lab[:, None].astype(np.float64))
        saved = lab
    elif target == "labels":
        tt, saved = torch.tensor(lab[:, None].astype(np.float64)), lab
        kw["to_onehot_y"] = True
    else:
        saved = onehot(lab, c)
        tt = torch.tensor(saved)
    fn = FocalLoss(**kw)
    run(name, fn, x, saved, tt, dict(dice_kit, loss="focal", target="labels" if c == 1 else target), f"monai.losses.FocalLoss({kw})")


monai_focal("focal_sigmoid_default", dice_kit={"activation": "sigmoid"})
monai_focal("focal_sigmoid_alpha_weights", gamma=1.5, alpha=0.25, weight=[1.0, 2.0, 0.5],
            dice_kit={"activation": "sigmoid", "gamma": 1.5, "alpha": 0.25, "classWeights": [1.0, 2.0, 0.5]})
monai_focal("focal_sigmoid_no_bg_sum", include_background=False, reduction="sum",
            dice_kit={"activation": "sigmoid", "excludeBackground": True, "reduction": "sum"})
monai_focal("focal_sigmoid_none", reduction="none", target="one-hot", gamma=0.5,
            dice_kit={"activation": "sigmoid", "reduction": "none", "gamma": 0.5})
monai_focal("focal_sigmoid_binary", c=1, alpha=0.75, dice_kit={"activation": "sigmoid", "alpha": 0.75})
monai_focal("focal_softmax_alpha", use_softmax=True, alpha=0.25,
            dice_kit={"activation": "softmax", "alpha": 0.25})
monai_focal("focal_softmax_no_bg_weights", c=4, use_softmax=True, include_background=False, gamma=0.5, weight=[2.0, 0.5, 1.0],
            dice_kit={"activation": "softmax", "excludeBackground": True, "gamma": 0.5, "classWeights": [2.0, 0.5, 1.0]})
monai_focal("focal_softmax_sum_onehot", use_softmax=True, reduction="sum", target="one-hot", gamma=3.0,
            dice_kit={"activation": "softmax", "reduction": "sum", "gamma": 3.0})
monai_focal("focal_softmax_none", use_softmax=True, reduction="none", gamma=0.0,
            dice_kit={"activation": "softmax", "reduction": "none", "gamma": 0.0})

# --- smp FocalLoss (normalized, reduced_threshold) ---------------------------------------------
def smp_focal(name, mode, c=3, dice_kit=None, **kw):
    x, lab = problem(c=c)
    if mode == "binary":
        saved = lab[:, None].astype(np.float64)
        tt, kind = torch.tensor(saved), "labels"
        saved = lab
    else:
        saved = onehot(lab, c)
        tt, kind = torch.tensor(saved), "one-hot"
    fn = smp.FocalLoss(mode, **kw)
    run(name, fn, x, saved, tt, dict(dice_kit, loss="focal", activation="sigmoid", target=kind), f"smp.losses.FocalLoss('{mode}', {kw})")


smp_focal("smp_focal_normalized", "multilabel", alpha=0.25, normalized=True, dice_kit={"alpha": 0.25, "normalized": True})
smp_focal("smp_focal_reduced", "multilabel", reduced_threshold=0.5, dice_kit={"reducedThreshold": 0.5})
smp_focal("smp_focal_binary_normalized_reduced", "binary", c=1, gamma=3.0, reduced_threshold=0.3, normalized=True,
          dice_kit={"gamma": 3.0, "reducedThreshold": 0.3, "normalized": True})

# --- MONAI DiceFocalLoss ----------------------------------------------------------------------
x, lab = problem(c=3)
run("dicefocal_softmax", DiceFocalLoss(to_onehot_y=True, softmax=True, gamma=2.0, alpha=0.25), x, lab,
    torch.tensor(lab[:, None].astype(np.float64)),
    {"loss": "dice-focal", "activation": "softmax", "gamma": 2.0, "alpha": 0.25, "target": "labels"},
    "monai.losses.DiceFocalLoss(to_onehot_y=True, softmax=True, gamma=2.0, alpha=0.25)")
x, lab = problem(c=3)
run("dicefocal_sigmoid_weights_no_bg",
    DiceFocalLoss(to_onehot_y=True, sigmoid=True, include_background=False, weight=[1.0, 2.0], lambda_dice=0.3, lambda_focal=1.7),
    x, lab, torch.tensor(lab[:, None].astype(np.float64)),
    {"loss": "dice-focal", "activation": "sigmoid", "excludeBackground": True, "classWeights": [1.0, 2.0],
     "diceWeight": 0.3, "focalWeight": 1.7, "target": "labels"},
    "monai.losses.DiceFocalLoss(to_onehot_y=True, sigmoid=True, include_background=False, weight=[1, 2], lambda_dice=0.3, lambda_focal=1.7)")

# --- smp LovaszLoss ---------------------------------------------------------------------------
x, lab = problem(c=4, spatial=(6, 7))
run("lovasz_softmax_batch", smp.LovaszLoss("multiclass"), x, lab, torch.tensor(lab),
    {"loss": "lovasz-softmax", "target": "labels"}, "smp.losses.LovaszLoss('multiclass')")
x, lab = problem(c=4, spatial=(6, 7), ignore=255)
lab[1][lab[1] == 2] = 0  # class 2 absent from image 1
run("lovasz_softmax_per_image_ignore", smp.LovaszLoss("multiclass", per_image=True, ignore_index=255), x, lab, torch.tensor(lab),
    {"loss": "lovasz-softmax", "perImage": True, "ignoreIndex": 255, "target": "labels"},
    "smp.losses.LovaszLoss('multiclass', per_image=True, ignore_index=255)")
x, lab = problem(c=1, spatial=(6, 7))
run("lovasz_hinge_binary", smp.LovaszLoss("binary"), x, lab, torch.tensor(lab[:, None].astype(np.float64)),
    {"loss": "lovasz-hinge", "target": "labels"}, "smp.losses.LovaszLoss('binary')")
x, lab = problem(c=3, spatial=(6, 7))
run("lovasz_hinge_multilabel_per_image", smp.LovaszLoss("multilabel", per_image=True), x, onehot(lab, 3), torch.tensor(onehot(lab, 3)),
    {"loss": "lovasz-hinge", "perImage": True, "target": "one-hot"}, "smp.losses.LovaszLoss('multilabel', per_image=True)")

# --- MONAI GeneralizedWassersteinDiceLoss -----------------------------------------------------
M3 = np.array([[0.0, 1.0, 0.5], [1.0, 0.0, 0.8], [0.5, 0.8, 0.0]])
M4 = np.array([[0.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.3, 0.9], [1.0, 0.3, 0.0, 0.6], [1.0, 0.9, 0.6, 0.0]])
for name, m, mode, reduction in [("wasserstein_default_mean", M3, "default", "mean"), ("wasserstein_gdl_none", M3, "GDL", "none"),
                                 ("wasserstein_default_sum_c4", M4, "default", "sum"), ("wasserstein_gdl_mean_c4", M4, "GDL", "mean")]:
    x, lab = problem(c=m.shape[0])
    fn = GeneralizedWassersteinDiceLoss(dist_matrix=m, weighting_mode=mode, reduction=reduction)
    run(name, fn, x, lab, torch.tensor(lab), {"loss": "wasserstein", "distanceMatrix": m.reshape(-1).tolist(),
        "weighting": "gdl" if mode == "GDL" else "default", "reduction": reduction, "target": "labels"},
        f"monai.losses.GeneralizedWassersteinDiceLoss(dist_matrix=M, weighting_mode='{mode}', reduction='{reduction}')")

# --- smp MCCLoss ------------------------------------------------------------------------------
x, lab = problem(c=1)
probs = rng.uniform(0.02, 0.98, size=x.shape)
run("mcc_probabilities", smp.MCCLoss(), probs, lab, torch.tensor(lab[:, None].astype(np.float64)),
    {"loss": "mcc", "activation": "none", "target": "labels"}, "smp.losses.MCCLoss()(p, y)")
run("mcc_sigmoid", lambda z, y: smp.MCCLoss()(torch.sigmoid(z), y), x, lab, torch.tensor(lab[:, None].astype(np.float64)),
    {"loss": "mcc", "activation": "sigmoid", "target": "labels"}, "smp.losses.MCCLoss()(sigmoid(z), y)")
x, lab = problem(c=3)
soft = rng.uniform(size=x.shape)
run("mcc_softmax_soft", lambda z, y: smp.MCCLoss()(torch.softmax(z, 1), y), x, soft, torch.tensor(soft),
    {"loss": "mcc", "activation": "softmax", "target": "soft"}, "smp.losses.MCCLoss()(softmax(z, 1), soft target)")

# --- Unlabelled positions (an ignore index) ----------------------------------------------------
# smp's multiclass FocalLoss filters the ignored positions itself. MONAI's FocalLoss and
# GeneralizedWassersteinDiceLoss and smp's MCCLoss take no ignore index: their references run on
# the labelled positions alone (gathered into [1, C, M]; per sample for the Wasserstein loss,
# whose value is a mean over samples), which is what DiceKit's ignore index means.
x, lab = problem(c=3, ignore=255)
run("smp_focal_multiclass_ignore", smp.FocalLoss("multiclass", ignore_index=255), x, lab, torch.tensor(lab),
    {"loss": "focal", "activation": "sigmoid", "ignoreIndex": 255, "target": "labels"},
    "smp.losses.FocalLoss('multiclass', ignore_index=255)")
x, lab = problem(c=3, ignore=255)
run("smp_focal_multiclass_normalized_ignore",
    smp.FocalLoss("multiclass", ignore_index=255, normalized=True, gamma=1.5), x, lab, torch.tensor(lab),
    {"loss": "focal", "activation": "sigmoid", "ignoreIndex": 255, "normalized": True, "gamma": 1.5,
     "target": "labels"},
    "smp.losses.FocalLoss('multiclass', ignore_index=255, normalized=True, gamma=1.5)")


def labelled(z, y):
    """The labelled positions of logits [N, C, …] and labels [N, …] as [1, C, M] and [1, 1, M]."""
    keep = y != 255
    return z.movedim(1, -1)[keep].T[None], y[keep][None, None]


x, lab = problem(c=3, ignore=255)
run("focal_softmax_ignore",
    lambda z, y: FocalLoss(use_softmax=True, to_onehot_y=True, gamma=2.0)(*labelled(z, y)), x, lab,
    torch.tensor(lab), {"loss": "focal", "activation": "softmax", "ignoreIndex": 255, "target": "labels"},
    "monai.losses.FocalLoss(use_softmax=True, to_onehot_y=True) on the labelled positions")
x, lab = problem(c=3, ignore=255)
run("mcc_softmax_ignore",
    lambda z, y: (lambda p, g: smp.MCCLoss()(torch.softmax(p, 1), torch.eye(3)[g[:, 0]].movedim(-1, 1)))(*labelled(z, y)),
    x, lab, torch.tensor(lab), {"loss": "mcc", "activation": "softmax", "ignoreIndex": 255, "target": "labels"},
    "smp.losses.MCCLoss()(softmax(z), one-hot) on the labelled positions")
x, lab = problem(c=3, ignore=255)
distances = [[0.0, 1.0, 2.0], [1.0, 0.0, 1.5], [2.0, 1.5, 0.0]]
run("wasserstein_ignore",
    lambda z, y: torch.stack([
        GeneralizedWassersteinDiceLoss(dist_matrix=np.array(distances), weighting_mode="default")(
            *labelled(z[i:i + 1], y[i:i + 1])) for i in range(z.shape[0])]).mean(),
    x, lab, torch.tensor(lab),
    {"loss": "wasserstein", "distanceMatrix": sum(distances, []), "weighting": "default", "ignoreIndex": 255,
     "target": "labels"},
    "monai.losses.GeneralizedWassersteinDiceLoss(weighting_mode='default') on each sample's labelled positions, mean")

with open(os.path.join(OUT, "cases.json"), "w") as f:
    json.dump(cases, f, indent=1)
print(f"{len(cases)} cases written to {os.path.normpath(OUT)}")
