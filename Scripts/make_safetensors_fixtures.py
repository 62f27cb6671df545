#!/usr/bin/env python3
"""Writes the .safetensors interop fixtures under Tests/DiceKitTests/Fixtures/safetensors/ with
the reference `safetensors` package (run by hand, never by CI):

  /work/refenv/bin/python Scripts/make_safetensors_fixtures.py

reference.safetensors holds, with metadata {"format": "pt", "origin": "make_safetensors_fixtures"}:
  weight  F32 [2, 3]     arange(6) / 4 - 0.5
  double  F64 [4]        [1/3, -2.5, 1e-300, 6.02e23]
  labels  I64 [2, 2]     [[0, 1], [2, -7]]
  counter I64 []         12345678901  (a 0-d tensor, like BatchNorm's num_batches_tracked)
  half    F16 [3]        [0.5, -2, 65504]
  brain   BF16 [2]       [1.5, -3]
  bytes   U8  [3]        [0, 128, 255]
unet_b4_d2.safetensors: the state_dict of shared/reference/unet_torch.py's UNet(cin=3,
  classes=2, base=4, depth=2), seed 0, saved with safetensors.torch.save_file (no metadata).
"""
import os
import torch
from safetensors.torch import save_file

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "..", "Tests", "DiceKitTests", "Fixtures", "safetensors")
os.makedirs(out, exist_ok=True)
tensors = {
    "weight": torch.arange(6, dtype=torch.float32).reshape(2, 3) / 4 - 0.5,
    "double": torch.tensor([1 / 3, -2.5, 1e-300, 6.02e23], dtype=torch.float64),
    "labels": torch.tensor([[0, 1], [2, -7]], dtype=torch.int64),
    "counter": torch.tensor(12345678901, dtype=torch.int64),
    "half": torch.tensor([0.5, -2, 65504], dtype=torch.float16),
    "brain": torch.tensor([1.5, -3], dtype=torch.bfloat16),
    "bytes": torch.tensor([0, 128, 255], dtype=torch.uint8),
}
save_file(tensors, os.path.join(out, "reference.safetensors"),
          metadata={"format": "pt", "origin": "make_safetensors_fixtures"})
print("wrote", os.path.join(out, "reference.safetensors"))

import sys
sys.path.insert(0, os.path.join(here, "..", "..", "shared", "reference"))
sys.path.insert(0, "/work/shared/reference")
from unet_torch import UNet
torch.manual_seed(0)
save_file({k: v.contiguous() for k, v in UNet(3, 2, 4, 2).state_dict().items()}, os.path.join(out, "unet_b4_d2.safetensors"))
print("wrote", os.path.join(out, "unet_b4_d2.safetensors"))
