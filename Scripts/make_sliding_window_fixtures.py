#!/usr/bin/env python3
"""Goldens for DiceKit's sliding-window inference: MONAI's `sliding_window_inference` (mode
"gaussian", sigma_scale 0.125) applied to U-Nets whose weights DiceKit's tests already hold.

Run by hand (never by CI) from the repository root, with the reference environment:
    /work/refenv/bin/python Scripts/make_sliding_window_fixtures.py
It needs torch, monai, numpy and safetensors. The networks are Scripts/make_verification_fixtures.py's
`Net` (DiceKit's layer indices, no normalisation, ReLU) loaded from
    Fixtures/unet/weights.safetensors                  2-D: 3 inputs, 2 classes, base 4, depth 2
    Fixtures/unet_variants/plain3d/weights.safetensors 3-D: 2 inputs, 2 classes, base 4, depth 2
and it writes Fixtures/sliding_window/CASE_{image,logits}.npy (channels-last, one image without
the batch axis) and cases.json (roi size, overlap, window batch size of every case). The blended
quantity is the network's output (logits), as MONAI blends it.
"""
import json, os, sys
import numpy as np
import torch
from safetensors.torch import load_file
from monai.inferers import sliding_window_inference

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Scripts"))
from make_verification_fixtures import Net, first, last  # noqa: E402

FIX = os.path.join(ROOT, "Tests", "DiceKitTests", "Fixtures")
OUT = os.path.join(FIX, "sliding_window")

CASES = [
    # name, weights, in, rank, spatial size, roi, overlap, window batch, seed
    ("wide2d", "unet/weights.safetensors", 3, 2, (40, 52), (16, 24), 0.5, 3, 1),
    ("quarter2d", "unet/weights.safetensors", 3, 2, (36, 20), (12, 20), 0.25, 2, 2),
    ("volume3d", "unet_variants/plain3d/weights.safetensors", 2, 3, (12, 16, 20), (8, 8, 12), 0.5, 4, 3),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    table = {}
    for name, weights, cin, rank, size, roi, overlap, batch, seed in CASES:
        net = Net(cin, 2, 4, 2, rank, "none", None)
        net.load_state_dict(load_file(os.path.join(FIX, weights)))
        net.eval()
        generator = np.random.default_rng(seed)
        image = generator.random((1, *size, cin), dtype=np.float32)
        with torch.no_grad():
            out = sliding_window_inference(first(image), roi_size=roi, sw_batch_size=batch, predictor=net,
                                           overlap=overlap, mode="gaussian", sigma_scale=0.125)
        np.save(os.path.join(OUT, f"{name}_image.npy"), image[0])
        np.save(os.path.join(OUT, f"{name}_logits.npy"), last(out).numpy()[0])
        table[name] = {"weights": weights, "roi": list(roi), "overlap": overlap, "batch": batch}
        print(name, tuple(out.shape))
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(table, f, indent=1)


if __name__ == "__main__":
    main()
