#!/usr/bin/env python3
"""Writes the JPEG fixtures of Tests/DiceKitTests/Fixtures/jpeg with Pillow, so DiceKit's reader
is tested against files another encoder writes: baseline and progressive RGB, 4:4:4 grey, and a
CMYK file that DiceKit must refuse with a one-line error.

Run from the repository root (needs pillow and numpy):
    /work/refenv/bin/python Scripts/make_jpeg_fixtures.py
Every image is 24 x 16 pixels of the gradient pixel(x, y) = (8x, 12y, 128) (grey: 8x + 4y); the
Swift test knows that rule and checks the decoded pixels within JPEG's loss.
"""
import os

import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "DiceKitTests", "Fixtures", "jpeg")
os.makedirs(OUT, exist_ok=True)

y, x = np.mgrid[0:16, 0:24]
rgb = np.stack([8 * x, 12 * y, np.full_like(x, 128)], axis=-1).astype(np.uint8)
grey = (8 * x + 4 * y).astype(np.uint8)

Image.fromarray(rgb, "RGB").save(os.path.join(OUT, "rgb.jpg"), quality=95)
Image.fromarray(rgb, "RGB").save(os.path.join(OUT, "progressive.jpg"), quality=95, progressive=True)
Image.fromarray(grey, "L").save(os.path.join(OUT, "grey.jpg"), quality=95)
Image.fromarray(rgb, "RGB").convert("CMYK").save(os.path.join(OUT, "cmyk.jpg"), quality=95)
