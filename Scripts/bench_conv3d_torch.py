#!/usr/bin/env python3
"""PyTorch's side of `dicekit-bench`'s 3-D convolution key, conv3x3x3_n2_d64_c16to16 (the
reference script shared/reference/bench_torch.py has no 3-D convolution): F.conv3d with a
3×3×3 kernel, padding 1, no bias, on 2 × 16 × 64³ in channels_last_3d memory format, 2 threads,
timed as bench_torch.py times its 2-D shapes (median of 10 after 3 warm-up calls; FLOPs
2·N·D·H·W·Cin·Cout·27, forward + backward 3× that).

    dicekit-bench --quick --filter conv3x3x3 --alternate 3 \\
        --reference "/work/refenv/bin/python Scripts/bench_conv3d_torch.py"

Prints one JSON object with the keys dicekit-bench prints for the shape.
"""
import json
import torch
import torch.nn.functional as F
from torch_timing import median_seconds

torch.manual_seed(0)
torch.set_num_threads(2)


n, d, cin, cout = 2, 64, 16, 16
x = torch.randn(n, cin, d, d, d, requires_grad=True).contiguous(memory_format=torch.channels_last_3d)
w = torch.randn(cout, cin, 3, 3, 3, requires_grad=True)
flops = 2 * n * d * d * d * cin * cout * 27
forward = median_seconds(lambda: F.conv3d(x, w, padding=1), reps=10, warm=3)
y = F.conv3d(x, w, padding=1)
gy = torch.randn_like(y)
backward = median_seconds(lambda: torch.autograd.grad(F.conv3d(x, w, padding=1), (x, w), gy), reps=10, warm=3)
key = f"conv3x3x3_n{n}_d{d}_c{cin}to{cout}"
print(json.dumps({
    "threads": torch.get_num_threads(),
    key + "_fwd_gflops": flops / forward / 1e9,
    key + "_fwdbwd_gflops": 3 * flops / backward / 1e9,
}))
