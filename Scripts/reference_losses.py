"""What the loss-golden scripts share when they run the reference libraries (never by CI):

  smp                 segmentation_models_pytorch.losses, imported without the package's
                      __init__ (which imports its models, timm and torchvision: the losses need
                      only torch).
  float64_everywhere  a context in which `Tensor.float()` keeps float64 (MONAI's FocalLoss calls
                      `input.float()`, smp's Lovász gradient `gt.float().cumsum`), so that the
                      references run in float64 throughout.
"""
import contextlib
import importlib.util
import sys
import types

import torch

_spec = importlib.util.find_spec("segmentation_models_pytorch")
_package = types.ModuleType("segmentation_models_pytorch")
_package.__path__ = list(_spec.submodule_search_locations)
sys.modules["segmentation_models_pytorch"] = _package
import segmentation_models_pytorch.losses as smp  # noqa: E402


@contextlib.contextmanager
def float64_everywhere():
    original = torch.Tensor.float
    torch.Tensor.float = lambda self, *a, **k: self if self.is_floating_point() else self.to(torch.float64)
    try:
        yield
    finally:
        torch.Tensor.float = original
