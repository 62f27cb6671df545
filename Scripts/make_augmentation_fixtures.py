#!/usr/bin/env python3
"""Goldens for the Gaussian blur of DiceKit's `blur` augmentation, from SciPy: for channels-last
samples (2-D images and a 3-D volume), scipy.ndimage.gaussian_filter(sample, sigma=(σ, …, σ, 0),
mode="reflect", truncate=4.0) in float64 (the blur of every spatial axis, none across channels).
One case has a kernel radius larger than the image (σ 2.5 on a 5-pixel axis), where the
reflection repeats.

Run by hand (never by CI) from the repository root:
    /work/refenv/bin/python Scripts/make_augmentation_fixtures.py
It writes Tests/DiceKitTests/Fixtures/augmentation/blur.json.
"""
import json

import numpy as np
from scipy import ndimage

rng = np.random.default_rng(20261202)
cases = []
for name, shape, sigma in [
    ("image_sigma_0.5", (9, 11, 3), 0.5),
    ("image_sigma_0.8", (16, 12, 1), 0.8),
    ("image_sigma_1.0", (7, 13, 2), 1.0),
    ("small_image_sigma_2.5", (5, 6, 1), 2.5),
    ("volume_sigma_0.7", (5, 6, 7, 2), 0.7),
]:
    sample = rng.random(shape).astype(np.float32)
    blurred = ndimage.gaussian_filter(sample.astype(np.float64), sigma=(sigma,) * (len(shape) - 1) + (0,),
                                      mode="reflect", truncate=4.0)
    cases.append({"name": name, "shape": list(shape), "sigma": sigma,
                  "sample": sample.reshape(-1).tolist(), "blurred": blurred.reshape(-1).tolist()})

out = "Tests/DiceKitTests/Fixtures/augmentation/blur.json"
with open(out, "w") as f:
    json.dump({"generator": "Scripts/make_augmentation_fixtures.py", "scipy": __import__("scipy").__version__,
               "cases": cases}, f)
print("wrote", out, len(cases), "cases")
