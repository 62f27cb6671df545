#!/usr/bin/env python3
"""PyTorch's side of `dicekit-bench`'s 3-D U-Net keys (`unet3d_b16_d3_n2_64_train_step_ms`,
`unet3d_b16_d3_n1_96_infer_ms`; shared/reference/bench_torch.py has no 3-D network): the
architecture DiceKit's 3-D U-Net has with base 16, depth 3, one input channel and 2 classes,
no normalisation — per level two 3×3×3 convolutions (padding 1, bias) with ReLU, 2×2×2 max
pooling, a middle block, per decoder level a 2×2×2 transposed convolution (stride 2) to the
level's width, the concatenation [up-sampled, skip] and two 3×3×3 convolutions with ReLU, then a
1×1×1 head. Timed as dicekit-bench times them: one Adam step (1e-3) with MONAI's softmax Dice
loss on random labels of two 64³ volumes (median of 3 after 1 warm-up step), and inference of one
96³ volume under torch.no_grad() (median of 5 after 1); channels_last_3d memory format, 2 threads
unless --threads says otherwise. The same with bfloat16 autocast (`…_bf16_ms`: the network under
torch.autocast("cpu", dtype=torch.bfloat16), the loss in Float, as shared/reference/bench_torch.py
times its autocast keys) beside DiceKit's `--precision bf16`; --no-bf16 skips them.

    dicekit-bench --filter unet3d --alternate 3 \\
        --reference "OMP_WAIT_POLICY=passive /work/refenv/bin/python Scripts/bench_unet3d_torch.py"

Prints one JSON object with those keys.
"""
import argparse, json

parser = argparse.ArgumentParser()
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--no-bf16", action="store_true", help="skip the bfloat16 autocast keys")
args = parser.parse_args()

import torch
import torch.nn as nn
import torch.nn.functional as F
from monai.losses import DiceLoss
from torch_timing import median_seconds  # noqa: E402

torch.set_num_threads(args.threads)
torch.manual_seed(0)


def double_conv(cin, cout):
    return nn.Sequential(nn.Conv3d(cin, cout, 3, padding=1), nn.ReLU(), nn.Conv3d(cout, cout, 3, padding=1), nn.ReLU())


class UNet3D(nn.Module):
    def __init__(self, inputs=1, classes=2, base=16, depth=3):
        super().__init__()
        widths = [base * 2**level for level in range(depth + 1)]
        self.encoders = nn.ModuleList(double_conv(inputs if level == 0 else widths[level - 1], widths[level])
                                      for level in range(depth))
        self.middle = double_conv(widths[depth - 1], widths[depth])
        self.upsamplings = nn.ModuleList(nn.ConvTranspose3d(widths[level + 1], widths[level], 2, stride=2)
                                         for level in reversed(range(depth)))
        self.decoders = nn.ModuleList(double_conv(2 * widths[level], widths[level]) for level in reversed(range(depth)))
        self.head = nn.Conv3d(widths[0], classes, 1)

    def forward(self, x):
        skips = []
        for encoder in self.encoders:
            x = encoder(x)
            skips.append(x)
            x = F.max_pool3d(x, 2)
        x = self.middle(x)
        for upsampling, decoder in zip(self.upsamplings, self.decoders):
            x = decoder(torch.cat([upsampling(x), skips.pop()], 1))
        return self.head(x)


net = UNet3D().to(memory_format=torch.channels_last_3d)
optimizer = torch.optim.Adam(net.parameters(), 1e-3)
loss = DiceLoss(softmax=True, to_onehot_y=True)
volumes = torch.randn(2, 1, 64, 64, 64).contiguous(memory_format=torch.channels_last_3d)
labels = torch.randint(0, 2, (2, 1, 64, 64, 64)).float()


def step(bf16=False):
    optimizer.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = net(volumes)
    loss(logits.float(), labels).backward()
    optimizer.step()


out = {"threads": torch.get_num_threads()}
volume = torch.randn(1, 1, 96, 96, 96).contiguous(memory_format=torch.channels_last_3d)
for bf16 in [False] + ([] if args.no_bf16 else [True]):
    suffix = "_bf16" if bf16 else ""
    net.train()
    out[f"unet3d_b16_d3_n2_64_train_step{suffix}_ms"] = median_seconds(lambda: step(bf16), reps=3, warm=1) * 1e3
    net.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out[f"unet3d_b16_d3_n1_96_infer{suffix}_ms"] = median_seconds(lambda: net(volume), reps=5, warm=1) * 1e3
print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}))
