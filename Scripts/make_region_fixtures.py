#!/usr/bin/env python3
"""Goldens for DiceKit's region-based loss (`RegionLoss`, `LabelRegions`), from MONAI 1.6,
nnU-Net v2 and PyTorch:

  monai_*   MONAI's BraTS recipe: ConvertToMultiChannelBasedOnBratsClasses on BraTS labels
            (1, 2, 4), then DiceLoss(sigmoid=True) with its defaults and with the tutorial's
            squared_pred=True, smooth_nr=0, smooth_dr=1e-5. The transform's channels (TC, WT,
            ET) are reordered to nnU-Net's region order WT, TC, ET, the regions "1,2,4;1,4;4".
  nnunet_*  nnU-Net's region loss DC_and_BCE_loss(MemoryEfficientSoftDiceLoss with sigmoid,
            smooth 1e-5, do_bg True, batch_dice as named; BCEWithLogitsLoss) on the regions
            "1,2,3;2,3;3" (its BraTS dataset). nnU-Net's Dice term is −dc where DiceKit's is
            1 − dc, so DiceKit's value is nnU-Net's + 1.
  nnunet_ignore_*  the same with an ignore label (nnU-Net's use_ignore_label, its masked Dice).
            nnU-Net divides the masked cross-entropy's sum by the counted positions, DiceKit by
            the counted elements (positions × regions, the plain mean's denominator), so the
            expected value is nnU-Net's masked Dice + 1 + PyTorch's BCEWithLogits mean over the
            counted elements.
  monai_focal*, monai_dice_focal*, monai_gdl_focal
            MONAI's FocalLoss (sigmoid form), DiceFocalLoss(sigmoid=True) and
            GeneralizedDiceFocalLoss(sigmoid=True) on the regions "1,2,3;2,3;3".
  smp_*     smp's multilabel LovaszLoss (whole batch and per image) and its MCCLoss of the
            sigmoids, on the same regions.
  *_ignore  the same losses with an ignore label, as the loss of the counted positions alone:
            smp's LovaszLoss("multilabel", ignore_index); smp's FocalLoss in binary mode over
            every element (its multilabel mode raises an IndexError with an ignore index in
            0.6.0; the binary mode's mean over the counted elements is the same loss); smp's
            MCCLoss of the counted elements; MONAI's DiceLoss(sigmoid=True) of each sample's
            counted positions plus that focal mean for Dice + focal.
  The MONAI and smp cases run in float64 throughout (reference_losses.float64_everywhere).

Logits are random, channels-last [N, spatial…, R] (DiceKit's layout); gradients are PyTorch's
autograd of the expected value, in float64. Run by hand (never by CI) from the repository root:
    /work/refenv/bin/python Scripts/make_region_fixtures.py
It writes Tests/DiceKitTests/Fixtures/regions/losses.json; each case names its "loss" (DiceKit's
`--loss` name: the inner loss of RegionLoss) and its "options" in DiceKit's terms.
"""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

from monai.losses import DiceFocalLoss, DiceLoss, FocalLoss, GeneralizedDiceFocalLoss
from monai.transforms import ConvertToMultiChannelBasedOnBratsClasses
from nnunetv2.training.loss.compound_losses import DC_and_BCE_loss
from nnunetv2.training.loss.dice import MemoryEfficientSoftDiceLoss
from reference_losses import float64_everywhere, smp

rng = np.random.default_rng(20261202)
IGNORE = 9


def channels_first(x):
    return x.permute(0, x.ndim - 1, *range(1, x.ndim - 1))


def channels_last(x):
    return x.permute(0, *range(2, x.ndim), 1)


def region_targets(labels, regions):
    """[N, spatial…] labels → [N, R, spatial…] float64 0/1, each channel a region."""
    return torch.stack([torch.from_numpy(np.isin(labels, r)).double() for r in regions], dim=1)


def record(name, regions, order, labels, logits, value_fn, options, ignore=None):
    x = torch.from_numpy(logits).requires_grad_(True)
    value = value_fn(channels_first(x))
    value.backward()
    options = dict(options)
    return {
        "name": name, "loss": options.pop("loss", "dice"), "regions": ";".join(",".join(map(str, r)) for r in regions),
        "order": ",".join(map(str, order)), "shape": list(logits.shape),
        "labels": labels.reshape(-1).tolist(), "logits": logits.reshape(-1).tolist(),
        "ignore_index": ignore, "options": options,
        "value": float(value), "gradient": x.grad.reshape(-1).tolist(),
    }


cases = []

# MONAI's BraTS recipe.
brats = [[1, 2, 4], [1, 4], [4]]
for name, spatial, kwargs, options in [
    ("monai_dice_defaults", (6, 7), dict(sigmoid=True), {}),
    ("monai_dice_tutorial", (4, 5, 6), dict(sigmoid=True, squared_pred=True, smooth_nr=0.0, smooth_dr=1e-5),
     {"squared": 1.0, "smooth_nr": 0.0, "smooth_dr": 1e-5}),
    ("monai_dice_batch", (6, 7), dict(sigmoid=True, batch=True), {"batch": 1.0}),
]:
    labels = rng.choice([0, 1, 2, 4], size=(2,) + spatial, p=[0.4, 0.2, 0.2, 0.2])
    logits = rng.standard_normal((2,) + spatial + (3,)) * 2
    converted = torch.stack(
        [ConvertToMultiChannelBasedOnBratsClasses()(torch.from_numpy(labels[i])) for i in range(2)]
    ).double()  # [N, (TC, WT, ET), spatial…]
    target = converted[:, [1, 0, 2]]  # nnU-Net's order: WT, TC, ET
    assert torch.equal(target, region_targets(labels, brats))
    loss = DiceLoss(**kwargs)
    cases.append(record(name, brats, [2, 1, 4], labels, logits, lambda x, t=target, l=loss: l(x, t), options))

# nnU-Net's region loss.
nnunet = [[1, 2, 3], [2, 3], [3]]
for name, spatial, batch_dice in [
    ("nnunet_dc_bce", (6, 7), False),
    ("nnunet_dc_bce_batch", (3, 4, 5), True),
]:
    labels = rng.choice(4, size=(2,) + spatial, p=[0.4, 0.2, 0.2, 0.2])
    logits = rng.standard_normal((2,) + spatial + (3,)) * 2
    target = region_targets(labels, nnunet)
    loss = DC_and_BCE_loss(
        {}, {"batch_dice": batch_dice, "do_bg": True, "smooth": 1e-5, "ddp": False},
        use_ignore_label=False, dice_class=MemoryEfficientSoftDiceLoss)
    cases.append(record(
        name, nnunet, [1, 2, 3], labels, logits, lambda x, t=target, l=loss: l(x, t) + 1,
        {"ce_weight": 1.0, "batch": float(batch_dice)}))

for name, spatial, batch_dice in [
    ("nnunet_ignore_dc_bce", (6, 7), False),
    ("nnunet_ignore_dc_bce_batch", (3, 4, 5), True),
]:
    labels = rng.choice([0, 1, 2, 3, IGNORE], size=(2,) + spatial, p=[0.3, 0.2, 0.15, 0.15, 0.2])
    logits = rng.standard_normal((2,) + spatial + (3,)) * 2
    target = region_targets(labels, nnunet)
    mask = torch.from_numpy(labels != IGNORE)[:, None]
    dc = MemoryEfficientSoftDiceLoss(apply_nonlin=torch.sigmoid, batch_dice=batch_dice, do_bg=True, smooth=1e-5, ddp=False)
    # nnU-Net's own forward with its ignore channel, for the Dice term's cross-check.
    ignore_channel = (~mask).double()
    full = DC_and_BCE_loss(
        {}, {"batch_dice": batch_dice, "do_bg": True, "smooth": 1e-5, "ddp": False},
        use_ignore_label=True, dice_class=MemoryEfficientSoftDiceLoss)

    def value(x, t=target, m=mask, dc=dc):
        counted = m.expand_as(t)
        return dc(x, t, loss_mask=m) + 1 + F.binary_cross_entropy_with_logits(x[counted], t[counted])

    entry = record(name, nnunet, [1, 2, 3], labels, logits, value, {"ce_weight": 1.0, "batch": float(batch_dice)}, IGNORE)
    with torch.no_grad():
        x = channels_first(torch.from_numpy(logits))
        counted = mask.expand_as(target)
        bce_positions = F.binary_cross_entropy_with_logits(x, target, reduction="none")[counted].sum() / mask.sum()
        entry["nnunet_total"] = float(full(x, torch.cat([target, ignore_channel], dim=1)))
        entry["nnunet_ce"] = float(bce_positions)
    cases.append(entry)


def in_float64(fn):
    """fn run with Tensor.float() keeping float64 (MONAI's and smp's casts)."""
    def run(x):
        with float64_everywhere():
            return fn(x)
    return run


# MONAI's focal and Dice + focal losses, smp's multilabel Lovász-hinge and MCC.
for name, spatial, fn, options in [
    ("monai_focal", (6, 7), FocalLoss(gamma=2.0), {"loss": "focal"}),
    ("monai_focal_gamma", (3, 4, 5), FocalLoss(gamma=1.5), {"loss": "focal", "gamma": 1.5}),
    ("monai_dice_focal", (6, 7), DiceFocalLoss(sigmoid=True), {"loss": "dice-focal"}),
    ("monai_dice_focal_batch", (3, 4, 5), DiceFocalLoss(sigmoid=True, batch=True, lambda_focal=0.5),
     {"loss": "dice-focal", "batch": 1.0, "focal_weight": 0.5}),
    ("monai_gdl_focal", (6, 7), GeneralizedDiceFocalLoss(sigmoid=True), {"loss": "generalized-dice-focal"}),
    ("smp_lovasz_hinge", (6, 7), smp.LovaszLoss("multilabel"), {"loss": "lovasz-hinge"}),
    ("smp_lovasz_hinge_per_image", (3, 4, 5), smp.LovaszLoss("multilabel", per_image=True),
     {"loss": "lovasz-hinge", "per_image": 1.0}),
    ("smp_mcc", (6, 7), lambda x, t, l=smp.MCCLoss(): l(torch.sigmoid(x), t), {"loss": "mcc"}),
]:
    labels = rng.choice(4, size=(2,) + spatial, p=[0.4, 0.2, 0.2, 0.2])
    logits = rng.standard_normal((2,) + spatial + (3,)) * 2
    target = region_targets(labels, nnunet)
    cases.append(record(name, nnunet, [1, 2, 3], labels, logits, in_float64(lambda x, t=target, f=fn: f(x, t)), options))


def counted_dice(x, t, kept):
    """MONAI's sigmoid Dice of each sample's counted positions, the mean over samples and regions."""
    values = []
    for i in range(x.shape[0]):
        xi = x[i].reshape(x.shape[1], -1)[:, kept[i].reshape(-1)]
        ti = t[i].reshape(t.shape[1], -1)[:, kept[i].reshape(-1)]
        values.append(DiceLoss(sigmoid=True, reduction="none")(xi[None], ti[None]).reshape(-1))
    return torch.cat(values).mean()


for name, spatial, fn, options in [
    ("smp_focal_ignore", (6, 7), lambda x, t, k, m: smp.FocalLoss("binary", ignore_index=IGNORE)(x, m),
     {"loss": "focal"}),
    ("smp_lovasz_hinge_ignore", (6, 7), lambda x, t, k, m: smp.LovaszLoss("multilabel", ignore_index=IGNORE)(x, m),
     {"loss": "lovasz-hinge"}),
    ("smp_mcc_ignore", (3, 4, 5),
     lambda x, t, k, m: smp.MCCLoss()(torch.sigmoid(x)[k.expand_as(t)][None, None], t[k.expand_as(t)][None, None]),
     {"loss": "mcc"}),
    ("dice_focal_ignore", (3, 4, 5),
     lambda x, t, k, m: counted_dice(x, t, k[:, 0]) + smp.FocalLoss("binary", ignore_index=IGNORE)(x, m),
     {"loss": "dice-focal"}),
]:
    labels = rng.choice([0, 1, 2, 3, IGNORE], size=(2,) + spatial, p=[0.3, 0.2, 0.15, 0.15, 0.2])
    logits = rng.standard_normal((2,) + spatial + (3,)) * 2
    target = region_targets(labels, nnunet)
    kept = torch.from_numpy(labels != IGNORE)[:, None]
    marked = torch.where(kept, target, torch.full_like(target, IGNORE))  # smp's ignore: the target's value
    cases.append(record(
        name, nnunet, [1, 2, 3], labels, logits,
        in_float64(lambda x, t=target, k=kept, m=marked, f=fn: f(x, t, k, m)), options, IGNORE))

os.makedirs("Tests/DiceKitTests/Fixtures/regions", exist_ok=True)
with open("Tests/DiceKitTests/Fixtures/regions/losses.json", "w") as f:
    json.dump({"generator": "Scripts/make_region_fixtures.py", "cases": cases}, f)
print(f"wrote {len(cases)} cases")
