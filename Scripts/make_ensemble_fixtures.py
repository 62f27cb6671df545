#!/usr/bin/env python3
"""Goldens for DiceKit's `Ensemble` combination, from MONAI 1.6 and PyTorch:

  mean  MONAI MeanEnsemble(weights) on the members' softmax (sigmoid for one channel)
        probabilities, then the arg-max over the classes (one channel: probability > 0.5);
  vote  MONAI VoteEnsemble(num_classes=K) on the members' arg-max label maps (one channel:
        VoteEnsemble() on the 0/1 maps, which rounds the mean vote half to even, so a tie is 0);
  logits  nnU-Net's ensemble of folds: the mean of the members' logits (weighted here:
        sum(w_i x_i) / sum(w_i), in float64 with PyTorch), its softmax (sigmoid) and arg-max.

Members' logits are random, channels-last [N, H, W, K] (DiceKit's layout) and permuted to
MONAI's channel-first for the transforms. Vote cases use 2 and 4 members, so that ties occur
and the lower class index must win. Run by hand (never by CI) from the repository root:
    /work/refenv/bin/python Scripts/make_ensemble_fixtures.py
It writes Tests/DiceKitTests/Fixtures/ensemble/combinations.json.
"""
import json

import numpy as np
import torch

from monai.transforms import MeanEnsemble, VoteEnsemble

rng = np.random.default_rng(20261202)


def probabilities(logits):
    """Softmax over the last axis, sigmoid for one channel (channels-last)."""
    t = torch.from_numpy(logits)
    return torch.sigmoid(t) if t.shape[-1] == 1 else torch.softmax(t, dim=-1)


def labels_of(logits):
    t = torch.from_numpy(logits)
    return (t[..., 0] > 0).long() if t.shape[-1] == 1 else torch.argmax(t, dim=-1)


def channel_first(t):
    return t.permute(0, 3, 1, 2)


cases = []
for name, members, k, weights, spread in [
    ("mean_k3_weighted", 3, 3, [1.0, 2.0, 0.5], 2.0),
    ("mean_k3_plain", 2, 3, None, 3.0),
    ("mean_k1_weighted", 3, 1, [0.25, 1.0, 3.0], 2.0),
    ("mean_k4_zero_weight", 3, 4, [1.0, 0.0, 1.0], 1.5),
    ("vote_k3_two", 2, 3, None, 1.0),
    ("vote_k3_four", 4, 3, None, 1.0),
    ("vote_k1_four", 4, 1, None, 1.0),
    ("vote_k5_three", 3, 5, None, 1.0),
    ("logits_k3_plain", 5, 3, None, 2.0),
    ("logits_k3_weighted", 3, 3, [1.0, 2.0, 0.5], 2.0),
    ("logits_k1_weighted", 3, 1, [0.25, 1.0, 3.0], 2.0),
]:
    shape = (2, 5, 6, k)
    logits = [(rng.standard_normal(shape) * spread).astype(np.float32) for _ in range(members)]
    expected_mean_logits = None
    if name.startswith("mean"):
        probs = [channel_first(probabilities(x)) for x in logits]
        ensemble = MeanEnsemble(weights=weights) if weights is not None else MeanEnsemble()
        combined = ensemble(probs).permute(0, 2, 3, 1)  # back to channels-last
        labels = (combined[..., 0] > 0.5).long() if k == 1 else torch.argmax(combined, dim=-1)
        expected_probabilities = combined.reshape(-1).tolist()
    elif name.startswith("logits"):
        w = torch.tensor(weights if weights is not None else [1.0] * members, dtype=torch.float64)
        stacked = torch.stack([torch.from_numpy(x).double() for x in logits])
        mean_logits = (stacked * w.view(-1, 1, 1, 1, 1)).sum(0) / w.sum()
        expected_mean_logits = mean_logits.reshape(-1).tolist()
        expected_probabilities = probabilities(mean_logits.numpy()).reshape(-1).tolist()
        labels = labels_of(mean_logits.numpy())
    else:
        votes = [labels_of(x) for x in logits]
        if k == 1:
            labels = VoteEnsemble()([v.float() for v in votes]).long()
        else:
            # VoteEnsemble takes one sample [1, H, W] per member (a batch axis would be read as channels).
            labels = torch.stack([VoteEnsemble(num_classes=k)([v[n].unsqueeze(0) for v in votes])[0]
                                  for n in range(shape[0])])
        expected_probabilities = None
    cases.append({
        "name": name,
        "combination": name.split("_")[0],
        "shape": list(shape),
        "weights": weights,
        "logits": [x.reshape(-1).tolist() for x in logits],
        "probabilities": expected_probabilities,
        "mean_logits": expected_mean_logits,
        "labels": labels.reshape(-1).tolist(),
    })

out = "Tests/DiceKitTests/Fixtures/ensemble/combinations.json"
with open(out, "w") as f:
    json.dump({"generator": "Scripts/make_ensemble_fixtures.py", "monai": __import__("monai").__version__,
               "torch": torch.__version__, "cases": cases}, f)
print("wrote", out, len(cases), "cases")
