#!/usr/bin/env python3
"""Goldens for DiceKit's connected components, component post-processing and lesion-wise
(panoptic quality) metrics, from scikit-image 0.26 and MONAI 1.6:

  labelling     skimage.measure.label(mask, connectivity=k) of 2-D and 3-D masks;
  keep_largest  MONAI KeepLargestConnectedComponent(applied_labels, independent, connectivity,
                num_components) on label maps (channel-first [1, spatial...], one sample at a time);
  remove_small  MONAI RemoveSmallObjects(min_size, connectivity) on binary maps and, with
                independent_channels=False, on multi-class maps (the union of the foreground);
                per class, skimage.morphology.remove_small_objects on the class's boolean mask
                (what MONAI runs on a binary map), for DiceKit's per-class filter;
  panoptic      MONAI compute_panoptic_quality(output_confusion_matrix=True) and its pq/sq/rq on
                the components (skimage.measure.label) of each class of a predicted and a target
                label map, at match thresholds 0.5, 0.75 and 0.3 (Munkres below 0.5).

Run by hand (never by CI) from the repository root, with the reference environment
(`pip install scikit-image` besides MONAI):
    /work/refenv/bin/python Scripts/make_component_fixtures.py
It writes Tests/DiceKitTests/Fixtures/metric_goldens/components.json. Label maps are flat,
row-major [N, spatial...]. KeepLargestConnectedComponent ranks equal sizes in an unspecified
order (numpy's argsort), so every map here is drawn again until no two components tie at the
boundary of what is kept.

RemoveSmallObjects removes "objects smaller than min_size" (MONAI's documentation, and
scikit-image before 0.26). scikit-image 0.26 deprecates remove_small_objects' `min_size` and
maps the value onto its inclusive `max_size`, so MONAI 1.6.1 passing `min_size` there also
removes objects of exactly min_size. The goldens keep the documented rule: skimage is called
with max_size = min_size - 1 and MONAI with min_size - 1.
"""
import json
import warnings

import numpy as np
import torch
from skimage import measure, morphology

from monai.metrics import compute_panoptic_quality
from monai.transforms import KeepLargestConnectedComponent, RemoveSmallObjects

warnings.filterwarnings("ignore")
OUT = "Tests/DiceKitTests/Fixtures/metric_goldens/components.json"
RNG = np.random.default_rng(20261202)


def blobs(shape, classes, count, rng, max_radius=4):
    """A label map of `count` random ellipsoids (later ones on top) plus scattered single pixels."""
    grid = np.indices(shape).astype(float)
    out = np.zeros(shape, dtype=np.int64)
    for _ in range(count):
        centre = [rng.uniform(0, s) for s in shape]
        radii = [rng.uniform(0.8, max_radius) for _ in shape]
        inside = sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii)) <= 1
        out[inside] = rng.integers(1, classes)
    specks = rng.random(shape) < 0.02
    out[specks] = rng.integers(1, classes, size=specks.sum())
    return out


def no_boundary_tie(mask, connectivity, keep):
    """Whether the `keep` largest components of `mask` are well defined (no tie across the cut)."""
    labels, n = measure.label(mask, connectivity=connectivity, return_num=True)
    if n <= keep:
        return True
    sizes = sorted(np.bincount(labels.ravel())[1:], reverse=True)
    return sizes[keep - 1] != sizes[keep]


def flat(a):
    return [int(x) for x in np.asarray(a).ravel()]


def labelling_cases():
    cases = []
    for shape in [(13, 17), (6, 7, 8), (1, 9), (23,)]:
        mask = RNG.random(shape) < 0.45
        for k in range(1, len(shape) + 1):
            cases.append({"shape": list(shape), "mask": flat(mask), "connectivity": k,
                          "labels": flat(measure.label(mask, connectivity=k))})
    return cases


def keep_largest_cases():
    settings = [  # (applied labels, independent, connectivity, components)
        (None, True, None, 1), (None, True, 1, 1), ([1], True, 1, 2), ([2, 1], True, 2, 1),
        (None, False, 1, 1), ([1, 2], False, None, 2), (None, True, 1, 3),
    ]
    cases = []
    for shape, classes in [((2, 20, 24), 3), ((2, 8, 9, 10), 3), ((1, 16, 16), 2)]:
        rank = len(shape) - 1
        while True:
            labels = np.stack([blobs(shape[1:], classes, 9, RNG) for _ in range(shape[0])])
            ok = True
            for applied, independent, conn, keep in settings:
                chosen = applied or list(range(1, classes))
                for sample in labels:
                    masks = [sample == c for c in chosen] if independent else [np.isin(sample, chosen)]
                    ok = ok and all(no_boundary_tie(m, conn or rank, keep) for m in masks)
            if ok:
                break
        for applied, independent, conn, keep in settings:
            transform = KeepLargestConnectedComponent(
                applied_labels=applied, is_onehot=False, independent=independent, connectivity=conn,
                num_components=keep)
            out = np.stack([transform(torch.as_tensor(s[None].copy()))[0].numpy() for s in labels])
            cases.append({"shape": list(shape), "classes": classes, "labels": flat(labels),
                          "applied_labels": applied, "independent": independent, "connectivity": conn,
                          "num_components": keep, "expected": flat(out)})
    return cases


def remove_small_cases():
    cases = []
    for shape, classes in [((2, 20, 24), 2), ((2, 20, 24), 3), ((1, 7, 8, 9), 3)]:
        labels = np.stack([blobs(shape[1:], classes, 10, RNG, max_radius=3) for _ in range(shape[0])])
        for min_size in [2, 5, 12]:
            for conn in [1, 2]:
                base = {"shape": list(shape), "classes": classes, "labels": flat(labels), "min_size": min_size,
                        "connectivity": conn}
                # DiceKit per class: skimage on each class's boolean mask; MONAI itself on binary maps.
                per_class = labels.copy()
                for b in range(shape[0]):
                    for c in range(1, classes):
                        mask = labels[b] == c
                        kept = morphology.remove_small_objects(mask, max_size=min_size - 1, connectivity=conn)
                        per_class[b][mask & ~kept] = 0
                if classes == 2:
                    monai = np.stack([RemoveSmallObjects(min_size=min_size - 1, connectivity=conn)(
                        torch.as_tensor(s[None].copy()))[0].numpy() for s in labels])
                    assert (monai == per_class).all(), "MONAI on a binary map differs from skimage per class"
                cases.append({**base, "merge": False, "expected": flat(per_class)})
                merged = np.stack([RemoveSmallObjects(min_size=min_size - 1, connectivity=conn,
                                                      independent_channels=False)(
                    torch.as_tensor(s[None].copy()))[0].numpy() for s in labels])
                cases.append({**base, "merge": True, "expected": flat(merged)})
    return cases


def perturbed(target, classes, rng):
    """A prediction: each lesion kept, shifted, grown, shrunk or dropped; plus false lesions."""
    pred = np.zeros_like(target)
    for c in range(1, classes):
        components = measure.label(target == c, connectivity=1)
        for k in range(1, components.max() + 1):
            lesion = components == k
            action = rng.integers(0, 5)
            if action == 1:
                lesion = np.roll(lesion, rng.integers(-2, 3), axis=rng.integers(0, lesion.ndim))
            elif action == 2:
                lesion = morphology.binary_dilation(lesion)
            elif action == 3:
                lesion = morphology.binary_erosion(lesion)
            elif action == 4:
                continue
            pred[lesion] = c
    noise = blobs(target.shape, classes, 4, rng, max_radius=2)
    pred[(pred == 0) & (noise > 0)] = noise[(pred == 0) & (noise > 0)]
    return pred


def panoptic_cases():
    cases = []
    for shape, classes in [((3, 24, 28), 3), ((2, 10, 11, 12), 2)]:
        target = np.stack([blobs(shape[1:], classes, 8, RNG) for _ in range(shape[0])])
        pred = np.stack([perturbed(t, classes, RNG) for t in target])
        for threshold in [0.5, 0.75, 0.3]:
            for conn in [1, len(shape) - 1]:
                counts, scores = [], []
                for b in range(shape[0]):
                    for c in range(1, classes):
                        p = torch.as_tensor(measure.label(pred[b] == c, connectivity=conn))
                        t = torch.as_tensor(measure.label(target[b] == c, connectivity=conn))
                        m = compute_panoptic_quality(p, t, match_iou_threshold=threshold, output_confusion_matrix=True)
                        counts.append([float(x) for x in m])
                        scores.append([float(compute_panoptic_quality(p, t, metric_name=name,
                                                                      match_iou_threshold=threshold))
                                       for name in ["pq", "sq", "rq"]])
                cases.append({"shape": list(shape), "classes": classes, "pred": flat(pred), "target": flat(target),
                              "match_iou_threshold": threshold, "connectivity": conn,
                              "counts": counts, "pq_sq_rq": scores})
    return cases


def main():
    golden = {"labelling": labelling_cases(), "keep_largest": keep_largest_cases(),
              "remove_small": remove_small_cases(), "panoptic": panoptic_cases()}
    with open(OUT, "w") as f:
        json.dump(golden, f, separators=(",", ":"))
    print(OUT, {k: len(v) for k, v in golden.items()})


if __name__ == "__main__":
    main()
