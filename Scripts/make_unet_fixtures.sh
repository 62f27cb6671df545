#!/usr/bin/env bash
# Regenerates Tests/DiceKitTests/Fixtures/unet with the reference PyTorch U-Net
# (shared/reference/unet_torch.py, which must sit beside this repository as ../shared):
# weights, images, labels, logits and the parameter gradients of the softmax Dice loss for a
# small network (3 inputs, 2 classes, base 4, depth 2, two 32×32 images, seed 0).
# Needs a Python with torch, numpy and safetensors, e.g. PYTHON=../refenv/bin/python.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
"$PYTHON" ../shared/reference/unet_torch.py make Tests/DiceKitTests/Fixtures/unet \
    --in 3 --classes 2 --base 4 --depth 2 --n 2 --size 32 --seed 0
