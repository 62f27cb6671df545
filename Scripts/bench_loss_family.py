#!/usr/bin/env python3
"""Reference timings for `dicekit-bench --against`: MONAI FocalLoss, SoftclDiceLoss, SoftDiceclDiceLoss,
DiceCELoss (plain, and with class weights and label smoothing), HausdorffDTLoss, smp LovaszLoss and the BraTS
region losses (DiceLoss, DiceCELoss and DiceFocalLoss with sigmoid, smp's multilabel LovaszLoss, on the three
regions' channels) forward+backward on 8×4×256² (8×3×256² for the regions; channels-first, label targets,
float32, PyTorch's default threads), under the keys of
Benchmarks/DiceKitBenchmarks/LossFamilyBenchmarks.swift. Prints one JSON object.

    /work/refenv/bin/python Scripts/bench_loss_family.py > ref.json
    .build/release/dicekit-bench --filter _n8_c --against ref.json
    .build/release/dicekit-bench --filter focal --alternate 3 \
        --reference "/work/refenv/bin/python Scripts/bench_loss_family.py --only focal"

`--only TEXT` times only the keys that contain TEXT.
"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import torch
from monai.losses import DiceCELoss, DiceFocalLoss, DiceLoss, FocalLoss, HausdorffDTLoss, SoftclDiceLoss, SoftDiceclDiceLoss
from reference_losses import smp

torch.manual_seed(0)


def bench(fn, reps=10, warm=2):
    for _ in range(warm):
        fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    ts.sort()
    return ts[len(ts) // 2]


def brats_regions(lab):
    """MONAI's ConvertToMultiChannelBasedOnBratsClasses on labels 0..3: whole tumour {1, 2, 3},
    tumour core {2, 3}, enhancing {3}, as Float channels [N, 3, H, W]."""
    return torch.stack([lab > 0, lab >= 2, lab == 3], 1).float()


def timed(loss, c, target_kind):
    x = torch.randn(8, c, 256, 256, requires_grad=True)
    lab = torch.randint(0, 4 if target_kind == "brats" else max(c, 2), (8, 256, 256))
    if target_kind == "brats":            # the regions' target is built in every step, as DiceKit's
        def step():
            x.grad = None
            loss(x, brats_regions(lab)).backward()
        return bench(step) * 1e3
    if target_kind == "onehot-channel":   # MONAI: labels [N, 1, H, W] with to_onehot_y
        y = lab[:, None].float()
    elif target_kind == "binary":         # smp binary: a [N, 1, H, W] mask
        y = lab[:, None].float()
    else:                                 # smp multiclass: labels [N, H, W]
        y = lab

    def step():
        x.grad = None
        loss(x, y).backward()
    return bench(step) * 1e3


only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else ""
cases = [
    ("focal_sigmoid_n8_c4_256x256_ms", lambda: FocalLoss(to_onehot_y=True), 4, "onehot-channel"),
    ("focal_softmax_n8_c4_256x256_ms", lambda: FocalLoss(to_onehot_y=True, use_softmax=True), 4, "onehot-channel"),
    ("lovasz_softmax_n8_c4_256x256_ms", lambda: smp.LovaszLoss("multiclass"), 4, "labels"),
    ("lovasz_softmax_per_image_n8_c4_256x256_ms", lambda: smp.LovaszLoss("multiclass", per_image=True), 4, "labels"),
    ("lovasz_hinge_n8_c1_256x256_ms", lambda: smp.LovaszLoss("binary"), 1, "binary"),
    ("cldice_softmax_n8_c4_256x256_ms", lambda: SoftclDiceLoss(to_onehot_y=True, softmax=True), 4, "onehot-channel"),
    ("cldice_dice_softmax_n8_c4_256x256_ms", lambda: SoftDiceclDiceLoss(to_onehot_y=True, softmax=True), 4,
     "onehot-channel"),
    ("dice_ce_softmax_n8_c4_256x256_ms", lambda: DiceCELoss(to_onehot_y=True, softmax=True), 4, "onehot-channel"),
    ("dice_ce_weighted_smoothed_softmax_n8_c4_256x256_ms",
     lambda: DiceCELoss(to_onehot_y=True, softmax=True, weight=torch.tensor([0.2, 1.0, 2.0, 3.0]), label_smoothing=0.1),
     4, "onehot-channel"),
    ("hausdorff_dt_softmax_n8_c4_256x256_ms", lambda: HausdorffDTLoss(to_onehot_y=True, softmax=True), 4,
     "onehot-channel"),
    # MONAI's BraTS tutorial loss, and Dice + binary cross-entropy (nnU-Net's region loss).
    ("region_dice_n8_r3_256x256_ms", lambda: DiceLoss(sigmoid=True, squared_pred=True, smooth_nr=0, smooth_dr=1e-5),
     3, "brats"),
    ("region_dice_ce_n8_r3_256x256_ms", lambda: DiceCELoss(sigmoid=True), 3, "brats"),
    # MONAI's Dice + focal and smp's multilabel Lovász-hinge on the same regions.
    ("region_dice_focal_n8_r3_256x256_ms", lambda: DiceFocalLoss(sigmoid=True), 3, "brats"),
    ("region_lovasz_hinge_n8_r3_256x256_ms", lambda: smp.LovaszLoss("multilabel"), 3, "brats"),
]
out = {"threads": torch.get_num_threads()}
for key, make, c, kind in cases:
    if only in key:
        out[key] = timed(make(), c, kind)
print(json.dumps(out, indent=1))
