#!/usr/bin/env python3
"""NIfTI goldens for DiceKit's `NIfTI` reader and writer, made with nibabel (the reader MONAI
and nnU-Net's NibabelIO use).

Read fixtures: small volumes in the layouts users bring (NIfTI-1 .nii and .nii.gz, NIfTI-2,
an .hdr/.img pair, big-endian, int16 with scl_slope/scl_inter, a 4-D multi-channel volume as in
the Medical Segmentation Decathlon, label maps stored as uint8 and as float64, one with a
fraction), each with a rotated, anisotropic affine. expected.json holds, per file, what DiceKit
must read: extents [nz, ny, nx], channels, spacing [dz, dy, dx] and the values in DiceKit's
order (the array nibabel returns, axes reversed, channels last, flattened; scaling applied) or
the error kind.

Writer check: `--check DIR` reads every DIR/*.nii.gz that DiceKit wrote (e.g. `dicekit predict
--masks DIR` on imagesTs/) with nibabel, and the reference image named by the same stem in
`--images IMAGES` (nnU-Net's CASE_0000.nii.gz), and compares shape and affine.

Run by hand (never by CI) from the repository root:
    /work/refenv/bin/python Scripts/make_nifti_fixtures.py
It writes Tests/DiceKitTests/Fixtures/nifti/.
"""
import argparse
import json
import os

import nibabel as nib
import numpy as np

OUT = "Tests/DiceKitTests/Fixtures/nifti"


def affine(spacing, angle=0.3, offset=(-12.5, 40.0, 7.25)):
    """A rotation about z by `angle`, then anisotropic spacing, then an offset."""
    c, s = np.cos(angle), np.sin(angle)
    rotation = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    a = np.eye(4)
    a[:3, :3] = rotation @ np.diag(spacing)
    a[:3, 3] = offset
    return a


def dicekit_order(data):
    """nibabel's (x, y, z[, t]) array as DiceKit's [z, y, x, t] flattened row-major."""
    if data.ndim == 3:
        return np.ascontiguousarray(data.transpose(2, 1, 0)).ravel()
    return np.ascontiguousarray(data.transpose(2, 1, 0, 3)).ravel()


def record(name, image, kind="image", error=None):
    path = os.path.join(OUT, name)
    if name.endswith(".hdr"):
        nib.save(image, path)
    else:
        nib.save(image, path)
    entry = {"file": name, "kind": kind}
    if error:
        entry["error"] = error
        return entry
    loaded = nib.load(path)
    data = np.asarray(loaded.get_fdata(dtype=np.float64))
    zooms = loaded.header.get_zooms()
    entry.update({
        "extents": [int(data.shape[2]), int(data.shape[1]), int(data.shape[0])],
        "channels": int(data.shape[3]) if data.ndim == 4 else 1,
        "spacing": [float(zooms[2]), float(zooms[1]), float(zooms[0])],
        "values": [float(v) for v in dicekit_order(data)],
    })
    return entry


def make():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(7)
    shape = (5, 4, 3)  # x, y, z
    spacing = (0.8, 0.8, 2.5)
    cases = []

    f32 = rng.normal(100, 30, shape).astype(np.float32)
    cases.append(record("image_f32.nii.gz", nib.Nifti1Image(f32, affine(spacing))))

    i16 = rng.integers(-300, 300, shape).astype(np.int16)
    scaled = nib.Nifti1Image(i16, affine(spacing))
    scaled.header.set_slope_inter(0.5, -10)
    cases.append(record("image_i16_scaled.nii", scaled))

    big = nib.Nifti1Image(rng.normal(0, 1, shape).astype(">f4"), affine(spacing))
    cases.append(record("image_big_endian.nii", big))

    u8x2 = rng.integers(0, 255, shape + (2,)).astype(np.uint8)
    cases.append(record("image_4d.nii.gz", nib.Nifti1Image(u8x2, affine(spacing))))

    two = nib.Nifti2Image(rng.normal(0, 1, shape).astype(np.float64), affine((1.5, 1.0, 0.7)))
    cases.append(record("image_nifti2.nii", two))

    pair = nib.Nifti1Pair(rng.integers(0, 1000, shape).astype(np.uint16), affine(spacing))
    cases.append(record("image_pair.hdr", pair))

    labels = rng.integers(0, 3, shape).astype(np.uint8)
    cases.append(record("labels_u8.nii.gz", nib.Nifti1Image(labels, affine(spacing)), kind="labels"))
    cases.append(record(
        "labels_f64.nii.gz", nib.Nifti1Image(labels.astype(np.float64), affine(spacing)), kind="labels"))
    frac = labels.astype(np.float32)
    frac[1, 2, 0] = 1.5  # DiceKit voxel index (z=0, y=2, x=1) = 0*20 + 2*5 + 1 = 11
    cases.append(record(
        "labels_fraction.nii.gz", nib.Nifti1Image(frac, affine(spacing)), kind="labels",
        error="voxel 11 holds 1.5"))

    nan = f32.copy()
    nan[0, 0, 1] = np.nan  # DiceKit index (z=1, y=0, x=0) = 20
    cases.append(record("image_nan.nii.gz", nib.Nifti1Image(nan, affine(spacing)), error="voxel 20 is nan"))

    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump({"generator": "Scripts/make_nifti_fixtures.py", "nibabel": nib.__version__, "cases": cases}, f)
    print(f"wrote {len(cases)} cases to {OUT}")


def check(directory, images):
    """Reads DiceKit's written label maps with nibabel against their reference images."""
    failures = 0
    names = sorted(n for n in os.listdir(directory) if n.endswith(".nii.gz"))
    for name in names:
        stem = name[: -len(".nii.gz")]
        written = nib.load(os.path.join(directory, name))
        reference = nib.load(os.path.join(images, stem + "_0000.nii.gz"))
        same_shape = written.shape == reference.shape[:3]
        same_affine = np.allclose(written.affine, reference.affine, atol=1e-4)
        same_zooms = np.allclose(written.header.get_zooms()[:3], reference.header.get_zooms()[:3])
        labels = np.asarray(written.dataobj)
        ok = same_shape and same_affine and same_zooms and np.all(labels == np.round(labels))
        failures += not ok
        print(f"{name}: shape {written.shape} dtype {labels.dtype} classes {sorted(np.unique(labels).tolist())} "
              f"shape {'ok' if same_shape else 'DIFFERS'} affine {'ok' if same_affine else 'DIFFERS'} "
              f"zooms {'ok' if same_zooms else 'DIFFER'}")
    print(f"{len(names)} files, {failures} failures")
    return failures


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", help="a folder of label maps DiceKit wrote")
    parser.add_argument("--images", help="the folder of their reference images (CASE_0000.nii.gz)")
    args = parser.parse_args()
    if args.check:
        raise SystemExit(1 if check(args.check, args.images) else 0)
    make()
