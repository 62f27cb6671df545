#!/usr/bin/env python3
"""Goldens for DiceKit's surface-distance, confusion-matrix and generalized Dice metrics, from
MONAI 1.6 (HausdorffDistanceMetric, SurfaceDistanceMetric, SurfaceDiceMetric,
ConfusionMatrixMetric, GeneralizedDiceScore, do_metric_reduction).

Run by hand (never by CI) from the repository root, with the reference environment:
    /work/refenv/bin/python Scripts/make_metric_fixtures.py
It writes Tests/DiceKitTests/Fixtures/metric_goldens/{surface,confusion,gds,reduction}.json.

Every case holds its inputs as label maps (flat, row-major [N, spatial...]) and two expected
[N, C'] (or reduced) arrays:
  "float"   MONAI's own output (float32 tensors), compared with DiceKit to 2e-4;
  "double"  the same computation in float64: MONAI's get_mask_edges for the surfaces and the
            KD-tree of scipy (as MONAI's get_surface_distance) in float64 for the distances, then
            the metric in numpy float64 following MONAI's code line by line; for the confusion
            metrics MONAI's own functions on a float64 confusion matrix. Compared to 1e-9.
The float64 values are checked here against MONAI's float32 output before being written.
JSON has no NaN or infinity: they are written as the strings "nan" and "inf".
"""
import json
import math
import os
import warnings

import numpy as np
import torch
from scipy.ndimage import gaussian_filter
from scipy.spatial import KDTree

from monai.metrics import (ConfusionMatrixMetric, GeneralizedDiceScore, compute_average_surface_distance,
                           compute_hausdorff_distance, compute_surface_dice)
from monai.metrics.confusion_matrix import compute_confusion_matrix_metric, get_confusion_matrix
from monai.metrics.utils import (_get_neighbour_code_to_normals_table, create_table_neighbour_code_to_contour_length,
                                 do_metric_reduction, get_mask_edges)

warnings.filterwarnings("ignore")
OUT = "Tests/DiceKitTests/Fixtures/metric_goldens"
RNG = np.random.default_rng(20261130)


def encode(values):
    out = []
    for v in np.asarray(values, dtype=np.float64).ravel():
        out.append("nan" if math.isnan(v) else ("inf" if math.isinf(v) else float(v)))
    return out


def blobs(shape, classes, sigma=2.0):
    """Label maps [N, spatial...] of smooth random blobs (arg-max of smoothed noise)."""
    n, spatial = shape[0], shape[1:]
    noise = RNG.normal(size=(n, classes) + tuple(spatial))
    smooth = np.stack([np.stack([gaussian_filter(noise[b, c], sigma) for c in range(classes)]) for b in range(n)])
    smooth[:, 0] += 0.15  # more background
    return smooth.argmax(axis=1).astype(np.int64)


def one_hot(labels, classes):
    eye = np.eye(classes, dtype=np.float32)[labels]  # [N, spatial..., C]
    return torch.from_numpy(np.moveaxis(eye, -1, 1).copy())


def make_pair(shape, classes, empties):
    """A prediction and a target; `empties` lists (kind, sample, class) with kind in
    pred/target/both: that class is removed (set to 0) from that side of that sample."""
    target = blobs(shape, classes)
    pred = target.copy()
    noise = blobs(shape, classes, sigma=1.5)
    flip = RNG.random(size=target.shape) < 0.3
    pred[flip] = noise[flip]
    for kind, b, c in empties:
        if kind in ("pred", "both"):
            pred[b][pred[b] == c] = 0
        if kind in ("target", "both"):
            target[b][target[b] == c] = 0
    return pred, target


# ---------------------------------------------------------------- float64 surface pipeline
def directed(from_edges, to_edges, spacing):
    """get_surface_distance(from, to) in float64."""
    if not to_edges.any():
        return np.full(int(from_edges.sum()), np.inf)
    if not from_edges.any():
        return np.full(int(to_edges.sum()), np.inf)
    a = np.argwhere(from_edges).astype(np.float64)
    b = np.argwhere(to_edges).astype(np.float64)
    if spacing is not None:
        scale = np.asarray(spacing, dtype=np.float64)
        a *= scale
        b *= scale
    return KDTree(b, leafsize=32).query(a, k=1)[0]


def subvoxel_surface(mask, lo, hi, table):
    """get_mask_edges with a spacing (use_subvoxels) in float64: the corner codes of `mask` cropped
    to lo..hi (the union's box with a margin of 1, zeros outside the image), the corners on the
    surface and their areas."""
    padded = np.pad(mask, 1)[tuple(slice(l + 1, h + 1) for l, h in zip(lo, hi))].astype(np.int64)
    rank = mask.ndim
    grid = tuple(n - 1 for n in padded.shape)
    code = np.zeros(grid, dtype=np.int64)
    for corner in np.ndindex(*(2,) * rank):
        weight = 1 << (2 ** rank - 1 - int("".join(map(str, corner)), 2))
        code += weight * padded[tuple(slice(c, c + n) for c, n in zip(corner, grid))]
    edges = (code != 0) & (code != 2 ** (2 ** rank) - 1)
    return edges, table[code][edges]


def subvoxel_nsd(pred_mask, target_mask, spacing, tau):
    """compute_surface_dice(use_subvoxels=True) for one (sample, class), in float64."""
    union = pred_mask | target_mask
    if not union.any():
        return np.nan
    rank = pred_mask.ndim
    spacing = [1.0] * rank if spacing is None else list(spacing)
    if rank == 2:
        table = create_table_neighbour_code_to_contour_length(spacing)[0].numpy().astype(np.float64)
    else:
        normals = _get_neighbour_code_to_normals_table().numpy().astype(np.float64)
        s = np.array([spacing[1] * spacing[2], spacing[0] * spacing[2], spacing[0] * spacing[1]])
        table = np.sqrt(((normals * s) ** 2).sum(-1)).sum(-1)
    where = np.argwhere(union)
    lo, hi = where.min(0) - 1, where.max(0) + 2
    edges_p, areas_p = subvoxel_surface(pred_mask, lo, hi, table)
    edges_t, areas_t = subvoxel_surface(target_mask, lo, hi, table)
    d1 = directed(edges_p, edges_t, spacing)
    d2 = directed(edges_t, edges_p, spacing)
    complete = areas_t.sum() + areas_p.sum()
    if complete == 0:
        return np.nan
    correct = (areas_t[d2 <= tau].sum() if len(areas_t) else 0.0) + (areas_p[d1 <= tau].sum() if len(areas_p) else 0.0)
    return correct / complete


def lerp_quantile(d, q):
    d = np.sort(d)
    pos = q * (len(d) - 1)
    lo, hi = int(math.floor(pos)), int(math.ceil(pos))
    a, b, w = d[lo], d[hi], pos - lo
    with np.errstate(invalid="ignore"):
        return a + w * (b - a) if w < 0.5 else b - (b - a) * (1 - w)


def hd_one(d, percentile):
    if len(d) == 0:
        return np.nan
    if not percentile:
        return d.max()
    return lerp_quantile(d, percentile / 100)


def double_scores(pred, target, classes, metric, opts):
    n = pred.shape[0]
    first = 0 if opts["include_background"] or classes == 1 else 1
    out = np.zeros((n, classes - first))
    for b in range(n):
        for c in range(first, classes):
            if opts.get("use_subvoxels", False):
                taus = opts["tolerances"]
                tau = taus[0] if len(taus) == 1 else taus[c - first]
                out[b, c - first] = subvoxel_nsd(pred[b] == c, target[b] == c, opts.get("spacing"), tau)
                continue
            edges_p, edges_t = get_mask_edges(pred[b] == c, target[b] == c, crop=True, always_return_as_numpy=True)
            edges_p, edges_t = np.asarray(edges_p, bool), np.asarray(edges_t, bool)
            spacing = opts.get("spacing")
            d1 = directed(edges_p, edges_t, spacing)
            d2 = directed(edges_t, edges_p, spacing)
            if metric == "hausdorff":
                v = hd_one(d1, opts.get("percentile"))
                if not opts.get("directed", False):
                    w = hd_one(d2, opts.get("percentile"))
                    v = np.nan if (np.isnan(v) or np.isnan(w)) else max(v, w)
            elif metric == "asd":
                d = np.concatenate([d1, d2]) if opts.get("symmetric", False) else d1
                v = np.nan if len(d) == 0 else d.mean()
            else:
                taus = opts["tolerances"]
                tau = taus[0] if len(taus) == 1 else taus[c - first]
                complete = len(d1) + len(d2)
                v = np.nan if complete == 0 else (np.sum(d1 <= tau) + np.sum(d2 <= tau)) / complete
            out[b, c - first] = v
    return out


def monai_scores(pred, target, classes, metric, opts):
    p, t = one_hot(pred, classes), one_hot(target, classes)
    ib, spacing = opts["include_background"], opts.get("spacing")
    if metric == "hausdorff":
        r = compute_hausdorff_distance(p, t, include_background=ib, percentile=opts.get("percentile"),
                                       directed=opts.get("directed", False), spacing=spacing)
    elif metric == "asd":
        r = compute_average_surface_distance(p, t, include_background=ib, symmetric=opts.get("symmetric", False),
                                             spacing=spacing)
    else:
        first = 0 if ib or classes == 1 else 1
        taus = opts["tolerances"]
        taus = taus * (classes - first) if len(taus) == 1 else taus
        r = compute_surface_dice(p, t, taus, include_background=ib, spacing=spacing,
                                 use_subvoxels=opts.get("use_subvoxels", False))
    return r.numpy().astype(np.float64)


def same(a, b, rtol):
    a, b = np.atleast_1d(np.asarray(a, np.float64)), np.atleast_1d(np.asarray(b, np.float64))
    both_nan = np.isnan(a) & np.isnan(b)
    both_inf = np.isinf(a) & np.isinf(b)
    finite = ~(both_nan | both_inf)
    return np.allclose(a[finite], b[finite], rtol=rtol, atol=1e-6) and not np.isnan(a[finite]).any()


def surface_cases():
    cases, stored = [], {}
    inputs = {
        "2d": ([3, 20, 24], 3, [("pred", 0, 2), ("target", 1, 1), ("both", 2, 2)]),
        "3d": ([2, 12, 14, 10], 3, [("pred", 1, 1), ("both", 0, 2)]),
        "2d_binary": ([2, 16, 16], 2, [("target", 1, 1)]),
    }
    options = [
        ("hausdorff", {}),
        ("hausdorff", {"percentile": 95}),
        ("hausdorff", {"percentile": 50, "directed": True}),
        ("hausdorff", {"percentile": 0}),
        ("hausdorff", {"percentile": 95, "spacing": "aniso"}),
        ("hausdorff", {"include_background": True}),
        ("asd", {}),
        ("asd", {"symmetric": True}),
        ("asd", {"symmetric": True, "spacing": "aniso", "include_background": True}),
        ("nsd", {"tolerances": [1.0]}),
        ("nsd", {"tolerances": [0.0]}),
        ("nsd", {"tolerances": [1.5, 2.0], "spacing": "aniso"}),
        ("nsd", {"tolerances": [1.0, 0.5, 2.5], "include_background": True}),
        ("nsd", {"tolerances": [1.0], "use_subvoxels": True}),
        ("nsd", {"tolerances": [0.0], "use_subvoxels": True}),
        ("nsd", {"tolerances": [1.3, 2.1], "spacing": "aniso", "use_subvoxels": True}),
        ("nsd", {"tolerances": [1.0, 0.5, 2.5], "include_background": True, "use_subvoxels": True}),
        ("nsd", {"tolerances": [0.7], "spacing": "aniso", "include_background": True, "use_subvoxels": True}),
    ]
    for key, (shape, classes, empties) in inputs.items():
        pred, target = make_pair(shape, classes, empties)
        rank = len(shape) - 1
        aniso = [2.5, 0.8, 0.6][:rank] if rank == 3 else [1.7, 0.6]
        for metric, raw in options:
            opts = {"include_background": False, **raw}
            if opts.get("spacing") == "aniso":
                opts["spacing"] = aniso
            first = 0 if opts["include_background"] or classes == 1 else 1
            if metric == "nsd" and len(opts["tolerances"]) not in (1, classes - first):
                continue
            f = monai_scores(pred, target, classes, metric, opts)
            d = double_scores(pred, target, classes, metric, opts)
            assert same(d, f, 1e-5), (key, metric, opts, d, f)
            cases.append({"name": f"{key}_{metric}_{len(cases)}", "input": key,
                          "metric": metric, "options": opts, "float": encode(f), "double": encode(d)})
        stored[key] = {"shape": shape, "classes": classes, "pred": pred.ravel().tolist(), "target": target.ravel().tolist()}
    return {"inputs": stored, "cases": cases}


# ---------------------------------------------------------------- reductions
def reduce64(f, reduction):
    """monai.metrics.utils.do_metric_reduction in float64 (MONAI's casts its sums to float32)."""
    f = np.array(f, dtype=np.float64)
    if reduction == "none":
        return f
    nans = np.isnan(f)
    not_nans = (~nans).astype(np.float64)
    f[nans] = 0
    with np.errstate(invalid="ignore", divide="ignore"):
        if reduction == "mean":
            nn = not_nans.sum(1)
            f = np.where(nn > 0, f.sum(1) / np.where(nn > 0, nn, 1), 0.0)
            nn = (nn > 0).sum(0).astype(np.float64)
            return np.where(nn > 0, f.sum(0) / np.where(nn > 0, nn, 1), 0.0)
        if reduction == "sum":
            return f.sum((0, 1))
        if reduction == "mean_batch":
            nn = not_nans.sum(0)
            return np.where(nn > 0, f.sum(0) / np.where(nn > 0, nn, 1), 0.0)
        if reduction == "sum_batch":
            return f.sum(0)
        if reduction == "mean_channel":
            nn = not_nans.sum(1)
            return np.where(nn > 0, f.sum(1) / np.where(nn > 0, nn, 1), 0.0)
        if reduction == "sum_channel":
            return f.sum(1)
    raise ValueError(reduction)


# ---------------------------------------------------------------- confusion matrix
NAMES = ["sensitivity", "specificity", "precision", "negative predictive value", "miss rate", "fall out",
         "false discovery rate", "false omission rate", "prevalence threshold", "threat score", "accuracy",
         "balanced accuracy", "f1 score", "matthews correlation coefficient", "fowlkes mallows index",
         "informedness", "markedness"]
REDUCTIONS = ["mean", "sum", "mean_batch", "sum_batch", "mean_channel", "sum_channel", "none"]


def confusion_cases():
    cases = []
    shape, classes = [3, 10, 12], 3
    pred, target = make_pair(shape, classes, [("pred", 0, 2), ("target", 1, 1), ("both", 2, 2)])
    p, t = one_hot(pred, classes), one_hot(target, classes)
    for ib in (True, False):
        cm = get_confusion_matrix(p, t, include_background=ib)
        for name in NAMES:
            for sample in (False, True):
                for reduction in REDUCTIONS:
                    metric = ConfusionMatrixMetric(include_background=ib, metric_name=name, compute_sample=sample,
                                                   reduction=reduction)
                    metric(p, t)
                    f = metric.aggregate()[0].numpy().astype(np.float64)
                    if sample:
                        d = reduce64(compute_confusion_matrix_metric(name, cm.double()).numpy(), reduction)
                    else:
                        reduced = torch.from_numpy(np.asarray(reduce64(cm.double().numpy(), reduction)))
                        d = compute_confusion_matrix_metric(name, reduced).numpy()
                    assert same(d, f, 1e-5), (name, sample, reduction, d, f)
                    cases.append({"name": name, "include_background": ib, "compute_sample": sample,
                                  "reduction": reduction, "float": encode(f), "double": encode(d),
                                  "shape": list(np.shape(f))})
    return {"shape": shape, "classes": classes, "pred": pred.ravel().tolist(), "target": target.ravel().tolist(),
            "cases": cases}


# ---------------------------------------------------------------- generalized Dice score
def gds_double(pred, target, classes, ib, weight, sum_over):
    n = pred.shape[0]
    use = list(range(classes))
    if not ib:
        use.pop(0)
    if not use:
        return np.zeros((n, 1))
    p = np.stack([pred == c for c in use], 1).reshape(n, len(use), -1).astype(np.float64)
    g = np.stack([target == c for c in use], 1).reshape(n, len(use), -1).astype(np.float64)
    inter, yo, po = (p * g).sum(-1), g.sum(-1), p.sum(-1)
    den = yo + po
    with np.errstate(divide="ignore"):
        w = {"simple": 1 / yo, "square": 1 / (yo * yo), "uniform": np.ones_like(yo)}[weight]
    for b in range(n):
        infs = np.isinf(w[b])
        if infs.any():
            w[b][infs] = 0
            m = w[b].max()
            w[b][infs] = m if m > 0 else 1.0
    if sum_over:
        numer, denom = 2 * (inter * w).sum(1, keepdims=True), (den * w).sum(1, keepdims=True)
    else:
        numer, denom = 2 * inter * w, den * w
    with np.errstate(invalid="ignore", divide="ignore"):
        score = numer / denom
    zero = denom == 0
    if sum_over:
        score[zero] = 1.0
    else:
        score[zero] = np.where((po * w)[zero] == 0, 1.0, 0.0)
    return score


def gds_cases():
    cases = []
    shape, classes = [3, 10, 12], 3
    pred, target = make_pair(shape, classes, [("pred", 0, 2), ("target", 1, 1), ("both", 2, 2)])
    p, t = one_hot(pred, classes), one_hot(target, classes)
    for ib in (True, False):
        for weight in ("square", "simple", "uniform"):
            for reduction in REDUCTIONS:
                metric = GeneralizedDiceScore(include_background=ib, reduction=reduction, weight_type=weight)
                metric(p, t)
                f = metric.aggregate().numpy().astype(np.float64)
                sum_over = reduction in ("mean", "sum", "mean_channel", "sum_channel")
                d = reduce64(gds_double(pred, target, classes, ib, weight, sum_over), reduction)
                assert same(d, f, 1e-5), (ib, weight, reduction, d, f)
                cases.append({"include_background": ib, "weight": weight, "reduction": reduction,
                              "float": encode(f), "double": encode(d), "shape": list(np.shape(f))})
    return {"shape": shape, "classes": classes, "pred": pred.ravel().tolist(), "target": target.ravel().tolist(),
            "cases": cases}


def reduction_cases():
    values = np.array([[0.5, np.nan, 2.0], [np.nan, np.nan, np.nan], [1.0, 3.0, np.inf], [0.25, np.nan, 4.0]])
    cases = []
    for reduction in REDUCTIONS:
        f, _ = do_metric_reduction(torch.from_numpy(values.copy()), reduction)
        d = reduce64(values, reduction)
        assert same(d, f.numpy(), 1e-6), (reduction, d, f)
        cases.append({"reduction": reduction, "float": encode(f.numpy()), "double": encode(d)})
    return {"values": encode(values), "samples": 4, "classes": 3, "cases": cases}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in [("surface", surface_cases()), ("confusion", confusion_cases()),
                       ("gds", gds_cases()), ("reduction", reduction_cases())]:
        with open(os.path.join(OUT, name + ".json"), "w") as f:
            json.dump(data, f, separators=(",", ":"))
        print(name, "written")


if __name__ == "__main__":
    main()
