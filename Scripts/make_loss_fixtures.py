#!/usr/bin/env python3
"""Goldens for DiceKit's Dice-family losses (Tests/DiceKitTests/Losses/LossFixtureTests.swift).

Run by hand, never by CI:  /work/refenv/bin/python Scripts/make_loss_fixtures.py
Needs numpy, torch, monai (1.6) and tensorflow-cpu. Writes small float64 .npy files and a
manifest `cases.json` under Tests/DiceKitTests/Fixtures/losses/:

  <case>_pred.npy    prediction (logits or probabilities), float64, in the case's layout
  <case>_target.npy  int64 labels [N, spatial...] or float64 dense target (prediction's shape)
  <case>_loss.npy    the loss (shape [] or the reduction-none shape), float64
  <case>_grad.npy    d(sum of loss values)/d(pred), float64
  metric_*.npy       predicted/target labels and MONAI compute_dice / compute_iou results
                     (Tests/DiceKitTests/Metrics/OverlapMetricTests.swift)

Sources of truth: MONAI's DiceLoss / TverskyLoss / GeneralizedDiceLoss / DiceCELoss with torch
autograd in float64 (channels-first); plain PyTorch autograd for focal Tversky and log-cosh Dice
(MONAI has neither); the seed article's three TensorFlow functions with tf.GradientTape
(channels-last). "options" in the manifest use DiceKit's API names.
"""
import json, os, warnings
import numpy as np
import torch
warnings.filterwarnings("ignore")
from monai.losses import DiceLoss, TverskyLoss, GeneralizedDiceLoss, DiceCELoss

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "DiceKitTests", "Fixtures", "losses")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(20251125)
cases = []


def save(name, pred, target, loss, grad, options, source, tolerance=None):
    np.save(os.path.join(OUT, f"{name}_pred.npy"), np.ascontiguousarray(pred, dtype=np.float64))
    t = np.ascontiguousarray(target)
    np.save(os.path.join(OUT, f"{name}_target.npy"), t.astype(np.int64) if options.get("target") == "labels" else t.astype(np.float64))
    np.save(os.path.join(OUT, f"{name}_loss.npy"), np.asarray(loss, dtype=np.float64))
    np.save(os.path.join(OUT, f"{name}_grad.npy"), np.ascontiguousarray(grad, dtype=np.float64))
    case = {"name": name, "options": options, "source": source}
    if tolerance is not None:
        case["doubleTolerance"] = tolerance[0]
        case["reason"] = tolerance[1]
    cases.append(case)


def labels(n, c, spatial, empty_class=None):
    lab = rng.integers(0, c, size=(n, *spatial))
    if empty_class is not None:
        lab[0][lab[0] == empty_class] = 0  # class absent from sample 0
    return lab


def monai_case(name, loss_fn, n=2, c=3, spatial=(5, 6), target="labels", options=None, empty_class=None,
               ignore=None, scale=2.0, prob_input=False, onehot64=False, tolerance=None):
    options = dict(options or {})
    options["target"] = target
    options["layout"] = "channels-first"
    x = rng.normal(size=(n, c, *spatial)) * scale
    if prob_input:
        x = rng.uniform(0.0, 1.0, size=(n, c, *spatial))
    if target == "labels":
        lab = labels(n, c if c > 1 else 2, spatial, empty_class)
        if ignore is not None:
            lab[rng.uniform(size=lab.shape) < 0.2] = ignore
        tt = torch.tensor(lab[:, None].astype(np.float64))
        if onehot64:  # MONAI's one_hot() is float32; give it the same one-hot in float64
            tt = torch.tensor(np.moveaxis(np.eye(c)[lab], -1, 1))
        saved_target = lab
    elif target == "one-hot":
        lab = labels(n, c, spatial, empty_class)
        onehot = np.moveaxis(np.eye(c)[lab], -1, 1)
        tt = torch.tensor(onehot)
        saved_target = onehot
    else:  # soft
        soft = rng.uniform(size=(n, c, *spatial))
        soft /= soft.sum(axis=1, keepdims=True)
        tt = torch.tensor(soft)
        saved_target = soft
    xt = torch.tensor(x, requires_grad=True)
    loss = loss_fn(xt, tt)
    loss.sum().backward()
    value = loss.detach().numpy()
    if options.get("reduction") == "none":
        value = value.reshape(value.shape[:2]) if options.get("variant") != "generalized" else value.reshape(-1)
        if options.get("variant") == "generalized" and not options.get("batch"):
            value = value.reshape(n, 1)
        if options.get("batch") and options.get("variant") != "generalized":
            value = value.reshape(-1)
    save(name, x, saved_target, value, xt.grad.numpy(), options, "monai", tolerance)


# MARK: - MONAI DiceLoss
monai_case("dice_softmax_labels", DiceLoss(softmax=True, to_onehot_y=True), options={"activation": "softmax"})
monai_case("dice_sigmoid_onehot", DiceLoss(sigmoid=True), target="one-hot", options={"activation": "sigmoid"})
monai_case("dice_none_onehot", DiceLoss(), target="one-hot", prob_input=True, options={"activation": "none"})
monai_case("jaccard_softmax_labels", DiceLoss(softmax=True, to_onehot_y=True, jaccard=True),
           options={"activation": "softmax", "variant": "jaccard"})
monai_case("dice_squared_softmax_labels", DiceLoss(softmax=True, squared_pred=True), onehot64=True,
           options={"activation": "softmax", "squared": True})
monai_case("dice_softlabels_softmax", DiceLoss(softmax=True, soft_label=True), target="soft",
           options={"activation": "softmax", "softLabels": True})
monai_case("jaccard_softlabels_sigmoid", DiceLoss(sigmoid=True, soft_label=True, jaccard=True), target="soft",
           options={"activation": "sigmoid", "softLabels": True, "variant": "jaccard"})
monai_case("dice_exclude_bg_weights", DiceLoss(softmax=True, to_onehot_y=True, include_background=False, weight=[0.3, 2.0]),
           options={"activation": "softmax", "excludeBackground": True, "classWeights": [0.3, 2.0]})
monai_case("dice_batch_sum", DiceLoss(softmax=True, to_onehot_y=True, batch=True, reduction="sum"),
           options={"activation": "softmax", "batch": True, "reduction": "sum"})
monai_case("dice_none_reduction", DiceLoss(sigmoid=True, to_onehot_y=True, reduction="none", smooth_nr=0.5, smooth_dr=0.25),
           options={"activation": "sigmoid", "reduction": "none", "smoothNumerator": 0.5, "smoothDenominator": 0.25})
monai_case("dice_batch_none", DiceLoss(softmax=True, to_onehot_y=True, batch=True, reduction="none"),
           options={"activation": "softmax", "batch": True, "reduction": "none"})
monai_case("dice_ignore_255", DiceLoss(softmax=True, to_onehot_y=True, ignore_index=255), ignore=255,
           options={"activation": "softmax", "ignoreIndex": 255})
monai_case("dice_ignore_1", DiceLoss(softmax=True, to_onehot_y=True, ignore_index=1), ignore=1,
           options={"activation": "softmax", "ignoreIndex": 1})
monai_case("dice_empty_class", DiceLoss(softmax=True, to_onehot_y=True), empty_class=2,
           options={"activation": "softmax"})
monai_case("dice_sigmoid_binary_labels", DiceLoss(sigmoid=True), c=1, options={"activation": "sigmoid"})
monai_case("dice_softmax_3d", DiceLoss(softmax=True, to_onehot_y=True), n=1, c=3, spatial=(4, 5, 6),
           options={"activation": "softmax"})
monai_case("dice_batch_of_one", DiceLoss(softmax=True, to_onehot_y=True), n=1, c=2, spatial=(7, 3),
           options={"activation": "softmax"})
monai_case("dice_large_logits", DiceLoss(softmax=True, to_onehot_y=True), scale=1e4,
           options={"activation": "softmax"})
monai_case("dice_sigmoid_large_logits", DiceLoss(sigmoid=True, to_onehot_y=True), scale=1e4,
           options={"activation": "sigmoid"})

# MARK: - MONAI TverskyLoss
monai_case("tversky_softmax_labels", TverskyLoss(softmax=True, to_onehot_y=True, alpha=0.3, beta=0.7),
           options={"activation": "softmax", "variant": "tversky", "alpha": 0.3, "beta": 0.7})
monai_case("tversky_sigmoid_batch", TverskyLoss(sigmoid=True, to_onehot_y=True, alpha=0.8, beta=0.2, batch=True),
           options={"activation": "sigmoid", "variant": "tversky", "alpha": 0.8, "beta": 0.2, "batch": True})

# MARK: - MONAI GeneralizedDiceLoss
# MONAI computes the class weights in float32 (`self.w_func(ground_o.float())`), so its float64
# result carries float32 rounding (~1e-8 relative): these cases are compared within 1e-7 in Double.
GW = (1e-7, "MONAI computes generalized Dice weights in float32 (w_func(ground_o.float()))")
for w in ["square", "simple", "uniform"]:
    monai_case(f"generalized_{w}", GeneralizedDiceLoss(softmax=True, to_onehot_y=True, w_type=w), empty_class=2,
               options={"activation": "softmax", "variant": "generalized", "generalizedWeight": w}, tolerance=GW)
monai_case("generalized_batch", GeneralizedDiceLoss(softmax=True, to_onehot_y=True, batch=True), empty_class=1,
           options={"activation": "softmax", "variant": "generalized", "batch": True}, tolerance=GW)
monai_case("generalized_none", GeneralizedDiceLoss(sigmoid=True, to_onehot_y=True, reduction="none"), empty_class=1,
           options={"activation": "sigmoid", "variant": "generalized", "reduction": "none"}, tolerance=GW)

# MARK: - MONAI DiceCELoss (softmax CE; BCE for a single channel)
monai_case("dicece_softmax_labels", DiceCELoss(softmax=True, to_onehot_y=True, lambda_dice=1.0, lambda_ce=0.5),
           options={"activation": "softmax", "diceWeight": 1.0, "crossEntropyWeight": 0.5})
monai_case("dicece_softmax_onehot_sum", DiceCELoss(softmax=True, lambda_dice=0.7, lambda_ce=1.3, reduction="sum"),
           target="one-hot", options={"activation": "softmax", "diceWeight": 0.7, "crossEntropyWeight": 1.3, "reduction": "sum"})
monai_case("dicece_sigmoid_binary", DiceCELoss(sigmoid=True, lambda_ce=1.0), c=1,
           options={"activation": "sigmoid", "crossEntropyWeight": 1.0})


# MARK: - PyTorch autograd: focal Tversky, log-cosh Dice, binary CE for multi-label sigmoid
def torch_case(name, n, c, spatial, activation, per_pair, options, ce=None):
    options = dict(options)
    options.update({"target": "labels", "layout": "channels-first", "activation": activation})
    x = rng.normal(size=(n, c, *spatial)) * 2
    lab = labels(n, c, spatial)
    xt = torch.tensor(x, requires_grad=True)
    p = torch.softmax(xt, 1) if activation == "softmax" else torch.sigmoid(xt)
    g = torch.nn.functional.one_hot(torch.tensor(lab), c).movedim(-1, 1).double()
    axes = tuple(range(2, 2 + len(spatial)))
    tp = (p * g).sum(axes); pp = p.sum(axes); gg = g.sum(axes)
    loss = per_pair(tp, pp, gg).mean()
    if ce is not None:
        loss = loss + ce * torch.nn.functional.binary_cross_entropy_with_logits(xt, g)
    loss.backward()
    save(name, x, lab, loss.detach().numpy(), xt.grad.numpy(), options, "pytorch")


s = 1e-5
def tversky(tp, pp, gg, a, b):
    return 1 - (tp + s) / (tp + a * (pp - tp) + b * (gg - tp) + s)
torch_case("focal_tversky_softmax", 2, 3, (5, 6), "softmax", lambda tp, pp, gg: tversky(tp, pp, gg, 0.3, 0.7) ** 0.75,
           {"variant": "focal-tversky", "alpha": 0.3, "beta": 0.7, "gamma": 0.75})
torch_case("focal_tversky_sigmoid", 2, 2, (4, 4, 3), "sigmoid", lambda tp, pp, gg: tversky(tp, pp, gg, 0.5, 0.5) ** 2.0,
           {"variant": "focal-tversky", "gamma": 2.0})
torch_case("log_cosh_dice_softmax", 2, 3, (5, 6), "softmax",
           lambda tp, pp, gg: torch.log(torch.cosh(1 - (2 * tp + s) / (pp + gg + s))), {"variant": "log-cosh-dice"})
torch_case("dice_bce_multilabel_sigmoid", 2, 3, (5, 6), "sigmoid",
           lambda tp, pp, gg: 1 - (2 * tp + s) / (pp + gg + s), {"crossEntropyWeight": 0.8}, ce=0.8)

# MARK: - The seed article's TensorFlow functions (channels-last, probabilities, one-hot targets)
import tensorflow as tf


def dice_loss(y_true, y_pred, epsilon=1e-6):
    intersection = tf.reduce_sum(y_true * y_pred, axis=[1, 2, 3])
    union = tf.reduce_sum(y_true, axis=[1, 2, 3]) + tf.reduce_sum(y_pred, axis=[1, 2, 3])
    dice = (2.0 * intersection + epsilon) / (union + epsilon)
    return tf.reduce_mean(1.0 - dice)


def weighted_dice_loss(y_true, y_pred, weights, epsilon=1e-6):
    num_classes = weights.shape[0]
    loss = 0.0
    for i in range(num_classes):
        intersection = tf.reduce_sum(y_true[..., i] * y_pred[..., i], axis=[1, 2])
        union = tf.reduce_sum(y_true[..., i], axis=[1, 2]) + tf.reduce_sum(y_pred[..., i], axis=[1, 2])
        dice = (2.0 * intersection + epsilon) / (union + epsilon)
        loss += weights[i] * tf.reduce_mean(1.0 - dice)
    return loss


def multiclass_dice_loss(y_true, y_pred, epsilon=1e-6):
    num_classes = y_true.shape[-1]
    losses = []
    for i in range(num_classes):
        intersection = tf.reduce_sum(y_true[..., i] * y_pred[..., i], axis=[1, 2])
        union = tf.reduce_sum(y_true[..., i], axis=[1, 2]) + tf.reduce_sum(y_pred[..., i], axis=[1, 2])
        dice = (2.0 * intersection + epsilon) / (union + epsilon)
        losses.append(tf.reduce_mean(1.0 - dice))
    return tf.reduce_mean(tf.stack(losses))


def seed_case(name, fn, options, c=3):
    options = dict(options)
    options.update({"target": "one-hot", "layout": "channels-last", "activation": "none"})
    lab = rng.integers(0, c, size=(3, 6, 5))
    y_true = np.eye(c)[lab]
    y_pred = rng.uniform(size=(3, 6, 5, c))
    y_pred /= y_pred.sum(-1, keepdims=True)
    yp = tf.Variable(y_pred, dtype=tf.float64)
    with tf.GradientTape() as tape:
        loss = fn(tf.constant(y_true, dtype=tf.float64), yp)
    grad = tape.gradient(loss, yp)
    save(name, y_pred, y_true, loss.numpy(), grad.numpy(), options, "tensorflow")


seed_case("seed_basic", dice_loss, {"preset": "seed-basic"})
seed_case("seed_weighted", lambda t, p: weighted_dice_loss(t, p, tf.constant([0.2, 1.0, 3.0], dtype=tf.float64)),
          {"preset": "seed-weighted", "classWeights": [0.2, 1.0, 3.0]})
seed_case("seed_multiclass", lambda t, p: multiclass_dice_loss(t, p, epsilon=1e-4), {"preset": "seed-multiclass", "epsilon": 1e-4})

# MARK: - MONAI DiceMetric / MeanIoU goldens for the hard metrics (Tests/DiceKitTests/Metrics)
from monai.metrics import compute_dice, compute_iou
pred_lab = rng.integers(0, 3, size=(3, 6, 5))
true_lab = rng.integers(0, 3, size=(3, 6, 5))
true_lab[1][true_lab[1] == 2] = 0          # class 2 absent from sample 1's target
pred_lab[2][pred_lab[2] == 1] = 0          # class 1 never predicted in sample 2
true_lab[2][true_lab[2] == 1] = 2          # ... and absent from its target: both empty
oh = lambda l: torch.tensor(np.moveaxis(np.eye(3)[l], -1, 1))
np.save(os.path.join(OUT, "metric_pred_labels.npy"), pred_lab.astype(np.int64))
np.save(os.path.join(OUT, "metric_target_labels.npy"), true_lab.astype(np.int64))
np.save(os.path.join(OUT, "metric_dice_ignore_empty.npy"), compute_dice(oh(pred_lab), oh(true_lab), ignore_empty=True).numpy())
np.save(os.path.join(OUT, "metric_dice_keep_empty.npy"), compute_dice(oh(pred_lab), oh(true_lab), ignore_empty=False).numpy())
np.save(os.path.join(OUT, "metric_iou_ignore_empty.npy"), compute_iou(oh(pred_lab), oh(true_lab), ignore_empty=True).numpy())
np.save(os.path.join(OUT, "metric_dice_no_background.npy"),
        compute_dice(oh(pred_lab), oh(true_lab), include_background=False, ignore_empty=True).numpy())

with open(os.path.join(OUT, "cases.json"), "w") as f:
    json.dump(cases, f, indent=1)
print(f"wrote {len(cases)} cases to {os.path.normpath(OUT)}")
