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

Logits are random, channels-last [N, spatial…, R] (DiceKit's layout); gradients are PyTorch's
autograd of the expected value, in float64. Run by hand (never by CI) from the repository root:
    /work/refenv/bin/python Scripts/make_region_fixtures.py
It writes Tests/DiceKitTests/Fixtures/regions/losses.json.
"""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

from monai.losses import DiceLoss
from monai.transforms import ConvertToMultiChannelBasedOnBratsClasses
from nnunetv2.training.loss.compound_losses import DC_and_BCE_loss
from nnunetv2.training.loss.dice import MemoryEfficientSoftDiceLoss

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
    return {
        "name": name, "regions": ";".join(",".join(map(str, r)) for r in regions),
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

os.makedirs("Tests/DiceKitTests/Fixtures/regions", exist_ok=True)
with open("Tests/DiceKitTests/Fixtures/regions/losses.json", "w") as f:
    json.dump({"generator": "Scripts/make_region_fixtures.py", "cases": cases}, f)
print(f"wrote {len(cases)} cases")
