#!/usr/bin/env python3
"""PyTorch's side of `dicekit-bench`'s weight-average keys (weight_average_b16_d4): one update of
`AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.999), use_buffers=True)` of the
reference U-Net (shared/reference/unet_torch.py, base 16, depth 4: 1.94 M values), one update of
the equal average of stochastic weight averaging (`AveragedModel(model, use_buffers=True)`), and one Adam
step on gradients of ones, 2 threads, each the median of 20 after 2 warm-up calls (the first
update, which copies, among them), as dicekit-bench times them.

    dicekit-bench --filter weight_average --alternate 3 \\
        --reference "/work/refenv/bin/python Scripts/bench_weight_average_torch.py"

Prints one JSON object with the keys dicekit-bench prints.
"""
import json, os, sys
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "shared", "reference"))
from unet_torch import UNet  # noqa: E402
from torch_timing import median_seconds  # noqa: E402

torch.manual_seed(0)
torch.set_num_threads(2)


model = UNet(3, 2, 16, 4)
average = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.999), use_buffers=True)
update = median_seconds(lambda: average.update_parameters(model), reps=20, warm=2)
equal = AveragedModel(model, use_buffers=True)
swa_update = median_seconds(lambda: equal.update_parameters(model), reps=20, warm=2)
for p in model.parameters():
    p.grad = torch.ones_like(p)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-6)
adam = median_seconds(optimizer.step, reps=20, warm=2)
print(json.dumps({
    "weight_average_b16_d4_update_ms": update * 1e3,
    "weight_average_b16_d4_swa_update_ms": swa_update * 1e3,
    "weight_average_b16_d4_adam_step_ms": adam * 1e3,
}))
