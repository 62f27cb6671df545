#!/usr/bin/env python3
"""Writes the .npy fixtures of Tests/DiceKitTests/Fixtures/npy with NumPy itself, so DiceKit's
reader is tested against files NumPy really writes, including the malformed ones it must refuse.

Run from the repository root (needs numpy):
    python3 Scripts/make_npy_fixtures.py
Each valid file holds np.arange(count).reshape(shape) cast to its dtype; the Swift test knows
that rule and checks every element.
"""
import os
import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "DiceKitTests", "Fixtures", "npy")
os.makedirs(OUT, exist_ok=True)


def path(name):
    return os.path.join(OUT, name)


def arange(shape, dtype):
    count = int(np.prod(shape))
    if dtype == np.bool_:
        return (np.arange(count) % 2 == 1).reshape(shape)
    return np.arange(count).astype(dtype).reshape(shape)


# Valid files: every supported dtype, shape (2, 3, 4).
for name, dtype in [("float32", np.float32), ("float64", np.float64), ("int8", np.int8), ("int16", np.int16),
                    ("int32", np.int32), ("int64", np.int64), ("uint8", np.uint8), ("uint16", np.uint16),
                    ("uint32", np.uint32), ("uint64", np.uint64), ("bool", np.bool_)]:
    np.save(path(f"{name}.npy"), arange((2, 3, 4), dtype))

# Format versions 2.0 and 3.0 (3.0 allows a UTF-8 header).
for version in [(2, 0), (3, 0)]:
    with open(path(f"version{version[0]}.npy"), "wb") as f:
        np.lib.format.write_array(f, arange((5, 2), np.float32), version=version)

# Shapes: 0-d, 1-d, empty.
np.save(path("scalar.npy"), np.array(7.5, dtype=np.float64))
np.save(path("vector.npy"), arange((6,), np.float32))
np.save(path("empty.npy"), np.zeros((0, 3), dtype=np.float32))

# Malformed or unsupported.
np.save(path("fortran.npy"), np.asfortranarray(arange((3, 4), np.float32)))
np.save(path("bigendian.npy"), arange((2, 3), np.dtype(">f4")))
np.save(path("object.npy"), np.array([1, "a", None], dtype=object), allow_pickle=True)
np.save(path("complex.npy"), np.zeros(3, dtype=np.complex64))
with open(path("float32.npy"), "rb") as f:
    good = f.read()
with open(path("truncated.npy"), "wb") as f:
    f.write(good[:-10])                                  # data cut short
with open(path("trailing.npy"), "wb") as f:
    f.write(good + b"\0" * 8)                            # more data than the header says
header_end = good.index(b"\n") + 1
with open(path("lying_header.npy"), "wb") as f:          # header says (2, 3, 5): more than stored
    hdr = good[10:header_end].replace(b"(2, 3, 4)", b"(2, 3, 5)")
    f.write(good[:8] + len(hdr).to_bytes(2, "little") + hdr + good[header_end:])
with open(path("overflow.npy"), "wb") as f:              # element count overflows 64 bits
    hdr = good[10:header_end].replace(b"(2, 3, 4)", b"(4294967296, 4294967296, 4)")
    f.write(good[:8] + len(hdr).to_bytes(2, "little") + hdr[:-1].rstrip(b" ") + b"\n" + good[header_end:])
with open(path("not_npy.npy"), "wb") as f:
    f.write(b"PK\x03\x04 this is a zip file, not an npy file")
with open(path("bad_version.npy"), "wb") as f:
    f.write(good[:6] + bytes([9, 0]) + good[8:])
with open(path("header_past_end.npy"), "wb") as f:
    f.write(good[:8] + (60000).to_bytes(2, "little") + good[10:40])
with open(path("garbled_header.npy"), "wb") as f:
    hdr = good[10:header_end].replace(b"'shape'", b"'shope'")
    f.write(good[:8] + len(hdr).to_bytes(2, "little") + hdr + good[header_end:])
print("wrote", len(os.listdir(OUT)), "files to", os.path.normpath(OUT))
