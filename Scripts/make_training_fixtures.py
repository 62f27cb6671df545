#!/usr/bin/env python3
"""Writes PyTorch reference numbers for DiceKit's optimisers and normalisation layers
(run by hand, never by CI):

  /work/refenv/bin/python Scripts/make_training_fixtures.py

Tests/DiceKitTests/Fixtures/training/optimizers.safetensors (float64):
  init.p0 [3,2], init.p1 [4], target.*, weight.*: the problem  loss = sum(weight * (p - target)**2)
  <config>.p0, <config>.p1: parameters after 6 steps of torch.optim.<config> (see CONFIGS)
  adam.p0.exp_avg, adam.p0.exp_avg_sq: Adam's state after those steps
  clip.g0, clip.g1: gradients; clip.out0, clip.out1, clip.norm: after clip_grad_norm_(max_norm=0.5)
Tests/DiceKitTests/Fixtures/training/norms.safetensors (float64, channels-last [2,3,3,4]):
  x, dy (upstream gradient), gamma, beta, and for bn (BatchNorm2d, training), bn_eval (after the
  training step, eval mode), gn (GroupNorm(2, 4)), in (InstanceNorm2d(4, affine=True)):
  <name>.y, <name>.dx, <name>.dgamma, <name>.dbeta; bn.running_mean, bn.running_var.
"""
import os
import torch
from safetensors.torch import save_file

torch.manual_seed(0)
here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "..", "Tests", "DiceKitTests", "Fixtures", "training")
os.makedirs(out, exist_ok=True)
D = torch.float64

CONFIGS = {
    "sgd": lambda ps: torch.optim.SGD(ps, lr=0.1),
    "sgd_momentum": lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01),
    "sgd_nesterov": lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    "adam": lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=0.05),
    "adamw": lambda ps: torch.optim.AdamW(ps, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
}

t = {}
for name, shape in [("p0", (3, 2)), ("p1", (4,))]:
    t[f"init.{name}"] = torch.randn(shape, dtype=D)
    t[f"target.{name}"] = torch.randn(shape, dtype=D)
    t[f"weight.{name}"] = torch.rand(shape, dtype=D) + 0.5
for config, make in CONFIGS.items():
    ps = [t["init.p0"].clone().requires_grad_(), t["init.p1"].clone().requires_grad_()]
    opt = make(ps)
    for _ in range(6):
        opt.zero_grad()
        loss = sum((t[f"weight.p{i}"] * (p - t[f"target.p{i}"]) ** 2).sum() for i, p in enumerate(ps))
        loss.backward()
        opt.step()
    t[f"{config}.p0"], t[f"{config}.p1"] = ps[0].detach().clone(), ps[1].detach().clone()
    if config == "adam":
        t["adam.p0.exp_avg"] = opt.state[ps[0]]["exp_avg"].clone()
        t["adam.p0.exp_avg_sq"] = opt.state[ps[0]]["exp_avg_sq"].clone()
ps = [torch.zeros(3, 2, dtype=D, requires_grad=True), torch.zeros(4, dtype=D, requires_grad=True)]
ps[0].grad, ps[1].grad = torch.randn(3, 2, dtype=D), torch.randn(4, dtype=D)
t["clip.g0"], t["clip.g1"] = ps[0].grad.clone(), ps[1].grad.clone()
t["clip.norm"] = torch.nn.utils.clip_grad_norm_(ps, max_norm=0.5).reshape(1)
t["clip.out0"], t["clip.out1"] = ps[0].grad.clone(), ps[1].grad.clone()
save_file({k: v.contiguous() for k, v in t.items()}, os.path.join(out, "optimizers.safetensors"))

n = {}
x = torch.randn(2, 3, 3, 4, dtype=D) * 2 + 0.5
dy = torch.randn(2, 3, 3, 4, dtype=D)
gamma, beta = torch.rand(4, dtype=D) + 0.5, torch.randn(4, dtype=D)
n.update(x=x, dy=dy, gamma=gamma, beta=beta)
bn = torch.nn.BatchNorm2d(4).double()
layers = {"bn": bn, "gn": torch.nn.GroupNorm(2, 4).double(), "in": torch.nn.InstanceNorm2d(4, affine=True).double()}
for name, layer in list(layers.items()) + [("bn_eval", bn)]:
    with torch.no_grad():
        layer.weight.copy_(gamma); layer.bias.copy_(beta)
    layer.weight.grad = None; layer.bias.grad = None
    layer.train(name != "bn_eval")
    xt = x.permute(0, 3, 1, 2).clone().requires_grad_()
    y = layer(xt)
    y.backward(dy.permute(0, 3, 1, 2))
    n[f"{name}.y"] = y.detach().permute(0, 2, 3, 1)
    n[f"{name}.dx"] = xt.grad.permute(0, 2, 3, 1)
    n[f"{name}.dgamma"], n[f"{name}.dbeta"] = layer.weight.grad.clone(), layer.bias.grad.clone()
    if name == "bn":
        n["bn.running_mean"], n["bn.running_var"] = bn.running_mean.clone(), bn.running_var.clone()
save_file({k: v.contiguous() for k, v in n.items()}, os.path.join(out, "norms.safetensors"))
print("wrote", out)
