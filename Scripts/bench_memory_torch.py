#!/usr/bin/env python3
"""The PyTorch side of Scripts/bench_memory.sh: the training loop `dicekit train --norm none
--loss dice` runs, written with the reference U-Net and its softmax Dice loss
(shared/reference/unet_torch.py, imported, not copied): Adam 1e-3, batch B of S×S random images
(3 channels, channels-last memory format as shared/reference/bench_torch.py) with random labels
of 2 classes, STEPS steps, 2 threads unless --threads says otherwise.

    /work/refenv/bin/python Scripts/bench_memory_torch.py --size 512 --batch 8 --steps 4

Prints one JSON object: {"size", "batch", "steps", "seconds", "steps_per_second"}; the time
covers every step (the first included, as `dicekit train`'s images/s covers its whole epoch).
Peak memory is measured from outside (GNU time), so nothing here allocates beyond the loop.
"""
import argparse, json, os, sys, time

here = os.path.dirname(os.path.abspath(__file__))
parser = argparse.ArgumentParser()
parser.add_argument("--size", type=int, default=512)
parser.add_argument("--batch", type=int, default=8)
parser.add_argument("--steps", type=int, default=4)
parser.add_argument("--base", type=int, default=16)
parser.add_argument("--depth", type=int, default=4)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--bf16", action="store_true", help="forward and loss under torch.autocast('cpu', bfloat16)")
parser.add_argument("--reference", default=os.path.join(here, "..", "..", "shared", "reference"),
                    help="folder holding unet_torch.py (default ../shared/reference beside the repository)")
args = parser.parse_args()

import torch
torch.set_num_threads(args.threads)
sys.path.insert(0, os.path.abspath(args.reference))
from unet_torch import UNet, dice_loss  # noqa: E402  (the reference model and loss)

torch.manual_seed(args.seed)
net = UNet(3, 2, args.base, args.depth).to(memory_format=torch.channels_last)
optimizer = torch.optim.Adam(net.parameters(), 1e-3)
images = torch.randn(args.batch, 3, args.size, args.size).contiguous(memory_format=torch.channels_last)
labels = torch.randint(0, 2, (args.batch, args.size, args.size))

start = time.perf_counter()
for _ in range(args.steps):
    optimizer.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
        loss = dice_loss(net(images), labels)
    loss.backward()
    optimizer.step()
seconds = time.perf_counter() - start
print(json.dumps({"size": args.size, "batch": args.batch, "steps": args.steps,
                  "seconds": round(seconds, 3), "steps_per_second": round(args.steps / seconds, 4)}))
