#!/usr/bin/env python3
"""Goldens for DiceKit's `PostprocessingPlan.choose`, from nnU-Net v2's own
`determine_postprocessing` (nnunetv2.postprocessing.remove_connected_components).

Each case is a small set of 2-D target and predicted label maps (discs and stray specks, some
images without a class, one case with an ignore label). They are written as PNG files into
temporary folders and nnU-Net chooses its post-processing on them (NaturalImage2DIO reader,
one process). The fixture keeps the maps, the steps nnU-Net chose (its `labels_or_regions`:
a list for the merged foreground, an integer for one class) and its per-class and foreground
mean Dice before and after (its postprocessing.json).

nnU-Net keeps every component of the largest size when sizes tie, DiceKit (as MONAI) only the
first in raster order; the generator redraws any image in which a candidate mask has tied
largest components, so the two rules agree on every image here.

Needs nnunetv2 (pip install --no-deps nnunetv2 acvl-utils batchgenerators
dynamic-network-architectures; then SimpleITK nibabel pandas tifffile blosc2 scikit-image).
Region cases (nnU-Net's region-based training: a dataset.json whose labels are lists, with
`regions_class_order`): nested discs of labels 1 ⊃ 2 ⊃ 3 with stray specks, scored and filtered
by region. Their steps are all label lists (step 1 every covered label, then one region's); their
scores are keyed by scored column (1 + the region's index).

Run by hand (never by CI) from the repository root:
    /work/refenv/bin/python Scripts/make_postprocessing_fixtures.py
It writes Tests/DiceKitTests/Fixtures/postprocessing/choices.json and region_choices.json.
"""
import json
import os
import tempfile

import numpy as np
from PIL import Image
from skimage.measure import label

import nnunetv2
from nnunetv2.postprocessing.remove_connected_components import determine_postprocessing

rng = np.random.default_rng(20261202)
SIZE = 24


def disc(shape, cy, cx, r):
    y, x = np.ogrid[:shape[0], :shape[1]]
    return (y - cy) ** 2 + (x - cx) ** 2 <= r * r


def has_tie(mask):
    if not mask.any():
        return False
    sizes = np.bincount(label(mask).ravel())[1:]
    return (sizes == sizes.max()).sum() > 1


def draw(classes, stray_rate, true_pieces, empty_rate):
    """One (target, prediction) pair: per class, discs (true_pieces of them, or none with
    empty_rate), the prediction a shifted copy plus stray specks."""
    target = np.zeros((SIZE, SIZE), np.uint8)
    predicted = np.zeros_like(target)
    if true_pieces == "nested":
        # An organ (class 1) holding a lesion (class 2), as one foreground component.
        cy, cx = rng.integers(8, SIZE - 8, size=2)
        for c, r in [(1, rng.integers(5, 8)), (2, rng.integers(2, 4))]:
            target[disc(target.shape, cy, cx, r)] = c
            predicted[disc(target.shape, cy + rng.integers(-1, 2), cx + rng.integers(-1, 2), r)] = c
        true_pieces, empty_rate = 0, 1.0
    for c in range(1, classes):
        if rng.random() < empty_rate:
            pieces = 0
        else:
            pieces = true_pieces if isinstance(true_pieces, int) else true_pieces[c]
        for _ in range(pieces):
            cy, cx, r = rng.integers(4, SIZE - 4), rng.integers(4, SIZE - 4), rng.integers(2, 5)
            target[disc(target.shape, cy, cx, r)] = c
            shift = rng.integers(-1, 2, size=2)
            predicted[disc(target.shape, cy + shift[0], cx + shift[1], max(1, r + rng.integers(-1, 2)))] = c
        for _ in range(rng.poisson(stray_rate if np.isscalar(stray_rate) else stray_rate[c])):
            y, x = rng.integers(0, SIZE - 2, size=2)
            h, w = rng.integers(1, 3, size=2)
            predicted[y:y + h, x:x + w] = c
    return target, predicted


def candidate_masks(predicted, classes):
    yield predicted > 0
    for c in range(1, classes):
        yield predicted == c


def nnunet_choice(targets, predictions, dataset):
    """nnU-Net's determine_postprocessing on the maps, written as PNG files into temporary folders
    (NaturalImage2DIO reader, one process); `dataset` holds the dataset.json's labels (and
    regions_class_order). Returns its chosen steps' kwargs and its postprocessing.json."""
    with tempfile.TemporaryDirectory() as root:
        ref, pred = os.path.join(root, "ref"), os.path.join(root, "pred")
        os.makedirs(ref)
        os.makedirs(pred)
        for i, (t, p) in enumerate(zip(targets, predictions)):
            Image.fromarray(t).save(os.path.join(ref, f"case_{i:03d}.png"))
            Image.fromarray(p).save(os.path.join(pred, f"case_{i:03d}.png"))
        dataset = {**dataset, "file_ending": ".png", "channel_names": {"0": "R"}, "numTraining": len(targets)}
        plans = {"image_reader_writer": "NaturalImage2DIO", "label_manager": "LabelManager"}
        _, kwargs = determine_postprocessing(pred, ref, plans, dataset, num_processes=1,
                                             keep_postprocessed_files=False)
        with open(os.path.join(pred, "postprocessing.json")) as f:
            return kwargs, json.load(f)


def draw_nested(labels, stray_rate, empty_rate):
    """One (target, prediction) pair of nested discs, label 1 outermost and `labels` − 1 innermost
    (an inner disc missing with empty_rate each), the prediction shifted copies plus stray specks."""
    target = np.zeros((SIZE, SIZE), np.uint8)
    predicted = np.zeros_like(target)
    cy, cx = rng.integers(8, SIZE - 8, size=2)
    r = int(rng.integers(6, 8))
    for c in range(1, labels):
        if c > 1 and rng.random() < empty_rate:
            break
        target[disc(target.shape, cy, cx, r)] = c
        dy, dx = rng.integers(-1, 2, size=2)
        predicted[disc(target.shape, cy + dy, cx + dx, max(1, r + int(rng.integers(-1, 2))))] = c
        r = max(1, r - int(rng.integers(2, 4)))
    for _ in range(rng.poisson(stray_rate)):
        y, x = rng.integers(0, SIZE - 2, size=2)
        h, w = rng.integers(1, 3, size=2)
        predicted[y:y + h, x:x + w] = rng.integers(1, labels)
    return target, predicted


def region_cases():
    cases = []
    for name, regions, count, stray, empty, ignore in [
        ("brats_regions", [[1, 2, 3], [2, 3], [3]], 14, 1.5, 0.2, None),
        ("two_regions_ignore", [[1, 2], [2]], 12, 1.0, 0.1, 3),
        ("brats_clean", [[1, 2, 3], [2, 3], [3]], 10, 0.0, 0.0, None),
    ]:
        labels = max(max(r) for r in regions) + 1
        targets, predictions = [], []
        while len(targets) < count:
            t, p = draw_nested(labels, stray, empty)
            masks = [p > 0] + [np.isin(p, r) for r in regions]
            if any(has_tie(m) for m in masks):
                continue  # nnU-Net would keep every tied component; redraw
            if ignore is not None:
                t[rng.integers(0, SIZE, size=20), rng.integers(0, SIZE, size=20)] = ignore
            targets.append(t)
            predictions.append(p)
        names = {"background": 0, **{f"region{k + 1}": r for k, r in enumerate(regions)}}
        if ignore is not None:
            names["ignore"] = ignore
        order = [min(set(r) - set().union(*map(set, regions[k + 1:]))) for k, r in enumerate(regions)]
        kwargs, summary = nnunet_choice(targets, predictions, {"labels": names, "regions_class_order": order})

        keys = [str(tuple(r)) for r in regions]

        def dice(block):
            means = block["mean"]
            assert sorted(means) == sorted(keys), (sorted(means), keys)
            return {"foreground": block["foreground_mean"]["Dice"],
                    "per_column": {str(k + 1): means[key]["Dice"] for k, key in enumerate(keys)}}

        steps = [k["labels_or_regions"] for k in kwargs]
        cases.append({
            "name": name,
            "regions": regions,
            "ignore_index": ignore,
            "shape": [count, SIZE, SIZE],
            "targets": np.stack(targets).reshape(-1).tolist(),
            "predicted": np.stack(predictions).reshape(-1).tolist(),
            "steps": [sorted(map(int, s)) if isinstance(s, (list, tuple)) else [int(s)] for s in steps],
            "before": dice(summary["input_folder"]),
            "after": dice(summary["postprocessed"]),
        })
        print(name, "steps", cases[-1]["steps"], "before", cases[-1]["before"], "after", cases[-1]["after"])
    return cases


def main():
    cases = []
    for name, classes, count, stray, pieces, empty, ignore in [
        ("binary_strays", 2, 12, 1.5, 1, 0.2, None),
        ("binary_true_pairs", 2, 12, 0.2, 2, 0.0, None),
        ("three_classes_mixed", 3, 14, {1: 1.5, 2: 0.1}, {1: 1, 2: 2}, 0.15, None),
        ("three_classes_clean", 3, 10, 0.0, 1, 0.0, None),
        ("three_classes_nested", 3, 12, {1: 1.0, 2: 1.0}, "nested", 0.0, None),
        ("four_classes_ignore", 4, 12, {1: 1.0, 2: 0.0, 3: 2.0}, {1: 1, 2: 2, 3: 1}, 0.1, 4),
    ]:
        targets, predictions = [], []
        while len(targets) < count:
            t, p = draw(classes, stray if not isinstance(stray, float) else stray, pieces, empty)
            if any(has_tie(m) for m in candidate_masks(p, classes)):
                continue  # nnU-Net would keep every tied component; redraw
            if ignore is not None:
                t[rng.integers(0, SIZE, size=20), rng.integers(0, SIZE, size=20)] = ignore
            targets.append(t)
            predictions.append(p)
        labels = {"background": 0, **{f"class{c}": c for c in range(1, classes)}}
        if ignore is not None:
            labels["ignore"] = ignore
        kwargs, summary = nnunet_choice(targets, predictions, {"labels": labels})

        def dice(block):
            return {"foreground": block["foreground_mean"]["Dice"],
                    "per_class": {k: v["Dice"] for k, v in block["mean"].items()}}

        steps = [k["labels_or_regions"] for k in kwargs]
        cases.append({
            "name": name,
            "classes": classes,
            "ignore_index": ignore,
            "shape": [count, SIZE, SIZE],
            "targets": np.stack(targets).reshape(-1).tolist(),
            "predicted": np.stack(predictions).reshape(-1).tolist(),
            "steps": [list(map(int, s)) if isinstance(s, (list, tuple)) else int(s) for s in steps],
            "before": dice(summary["input_folder"]),
            "after": dice(summary["postprocessed"]),
        })
        print(name, "steps", cases[-1]["steps"], "before", cases[-1]["before"]["foreground"],
              "after", cases[-1]["after"]["foreground"])

    out = "Tests/DiceKitTests/Fixtures/postprocessing/choices.json"
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"generator": "Scripts/make_postprocessing_fixtures.py", "nnunetv2": nnunetv2.__version__
                   if hasattr(nnunetv2, "__version__") else "2.8.1", "cases": cases}, f)
    print("wrote", out, len(cases), "cases")

    out = "Tests/DiceKitTests/Fixtures/postprocessing/region_choices.json"
    cases = region_cases()
    with open(out, "w") as f:
        json.dump({"generator": "Scripts/make_postprocessing_fixtures.py", "nnunetv2": "2.8.1", "cases": cases}, f)
    print("wrote", out, len(cases), "cases")


if __name__ == "__main__":  # nnU-Net spawns worker processes that import this file
    main()
