#!/usr/bin/env python3
"""The PyTorch side of dicekit-bench's one-image inference keys (`unet_b32_d4_n1_128_infer_ms`,
`unet_b32_d4_n1_128_infer_bf16_ms`, `unet_b16_d4_n1_128_infer_bf16_ms`): the reference U-Net
(shared/reference/unet_torch.py, imported, not copied), depth 4, in evaluation mode under
`torch.no_grad()`, one random 128×128 image of 3 channels at a time (channels-last memory
format, as shared/reference/bench_torch.py), in float32 and under bfloat16 autocast, on 2 threads
unless --threads says otherwise. Median of 15 calls after 3 warm-up calls. `dicekit predict` and a
`Predictor` call the network this way, one whole image at a time.

    dicekit-bench --filter 'unet_b32_d4_n8_128_float|unet_b32_d4_n8_128_bf16|unet_b16_d4_n8_128_bf16' \\
        --alternate 3 --reference "OMP_WAIT_POLICY=passive /work/refenv/bin/python Scripts/bench_infer_one_torch.py"

Prints one JSON object with those keys (and `unet_b16_d4_n1_128_infer_ms`, which DiceKit does not time).
"""
import argparse, json, os, sys

here = os.path.dirname(os.path.abspath(__file__))
parser = argparse.ArgumentParser()
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--reference", default=os.path.join(here, "..", "..", "shared", "reference"),
                    help="folder holding unet_torch.py (default ../shared/reference beside the repository)")
args = parser.parse_args()

import torch

sys.path.insert(0, args.reference)
from unet_torch import UNet  # noqa: E402
from torch_timing import median_seconds  # noqa: E402

torch.set_num_threads(args.threads)
torch.manual_seed(0)


out = {"threads": torch.get_num_threads()}
for base in (16, 32):
    net = UNet(base=base, depth=4).to(memory_format=torch.channels_last).eval()
    image = torch.randn(1, 3, 128, 128).contiguous(memory_format=torch.channels_last)
    key = f"unet_b{base}_d4_n1_128_infer"
    with torch.no_grad():
        out[key + "_ms"] = median_seconds(lambda: net(image), reps=15, warm=3) * 1e3
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out[key + "_bf16_ms"] = median_seconds(lambda: net(image), reps=15, warm=3) * 1e3
print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}))
