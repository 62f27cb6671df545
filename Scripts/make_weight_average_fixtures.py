#!/usr/bin/env python3
"""Writes PyTorch's averages of weights (exponential moving average, stochastic weight averaging
and its SWALR learning rates) for DiceKit's WeightAverage (run by hand, never by CI):

  /work/refenv/bin/python Scripts/make_weight_average_fixtures.py

Tests/DiceKitTests/Fixtures/training/weight_average.safetensors (float32, except the I64
num_batches_tracked), for a Conv2d(3, 4, 3) followed by BatchNorm2d(4), state_dict names "0.*"
and "1.*" (PyTorch layouts):
  step<i>.<name>, i = 1…6: the model's state_dict before update i (random values; the BatchNorm
      running variance positive; num_batches_tracked = i)
  ema.<name>: AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.9), use_buffers=True)
      after the six updates
  first.<name>: the same average after the first update (a copy)
  warmup.<name>: AveragedModel with use_buffers=True and a multi_avg_fn whose update k (1-based,
      k = n_averaged + 1) lerps by 1 - min(0.99, (1 + k) / (10 + k)) (TensorFlow's num_updates rule)
  swa.<name>: AveragedModel(model, use_buffers=True) (the equal average) after the six updates
  swalr.<anneal>.<epochs> (float64, 7 values): the learning rate r0 of the last step before
      averaging, then the rate after each of six SWALR(optimizer, swa_lr=0.05, anneal_epochs,
      anneal_strategy) steps, in PyTorch's recipe: SWALR made at the start, a CosineAnnealingLR
      (base 0.4, T_max 10) stepped four times, then SWALR stepped once per averaged epoch;
      anneal cos or linear, anneal_epochs 0, 1 or 3
"""
import os
import torch
from safetensors.torch import save_file
from torch.optim.swa_utils import SWALR, AveragedModel, get_ema_multi_avg_fn

torch.manual_seed(0)
here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "..", "Tests", "DiceKitTests", "Fixtures", "training")


def warmup_fn(decay):
    @torch.no_grad()
    def update(averaged, current, n_averaged):
        k = int(n_averaged) + 1
        d = min(decay, (1 + k) / (10 + k))
        if torch.is_floating_point(averaged[0]):
            torch._foreach_lerp_(averaged, current, 1 - d)
        else:
            for a, c in zip(averaged, current):
                a.copy_(c)

    return update


model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.9), use_buffers=True)
warm = AveragedModel(model, multi_avg_fn=warmup_fn(0.99), use_buffers=True)
swa = AveragedModel(model, use_buffers=True)
t = {}
for i in range(1, 7):
    with torch.no_grad():
        for name, value in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                value.fill_(i)
            elif name.endswith("running_var"):
                value.copy_(torch.rand_like(value) + 0.5)
            else:
                value.copy_(torch.randn_like(value))
    for name, value in model.state_dict().items():
        t[f"step{i}.{name}"] = value.clone()
    ema.update_parameters(model)
    warm.update_parameters(model)
    swa.update_parameters(model)
    if i == 1:
        for name, value in ema.module.state_dict().items():
            t[f"first.{name}"] = value.clone()
for prefix, averaged in [("ema", ema), ("warmup", warm), ("swa", swa)]:
    for name, value in averaged.module.state_dict().items():
        if not name.endswith("num_batches_tracked"):  # PyTorch truncates its average; DiceKit copies
            t[f"{prefix}.{name}"] = value.clone()
for anneal in ["cos", "linear"]:
    for epochs in [0, 1, 3]:
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.4)
        swalr = SWALR(optimizer, swa_lr=0.05, anneal_epochs=epochs, anneal_strategy=anneal)
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=10)
        for _ in range(4):
            optimizer.step()
            cosine.step()
        rates = [optimizer.param_groups[0]["lr"]]
        for _ in range(6):
            optimizer.step()
            swalr.step()
            rates.append(optimizer.param_groups[0]["lr"])
        t[f"swalr.{anneal}.{epochs}"] = torch.tensor(rates, dtype=torch.float64)
save_file({k: v.contiguous() for k, v in t.items()}, os.path.join(out, "weight_average.safetensors"))
print(f"wrote {len(t)} tensors")
