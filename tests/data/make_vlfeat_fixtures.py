"""Regenerate tests/data/vlfeat_golden.npz: VLFeat's own dense SIFT and PHOW outputs.

Run with VLFeat installed (``make reference`` installs Debian's libvlfeat-dev and
cyvlfeat into .venv):

    .venv/bin/python tests/data/make_vlfeat_fixtures.py

Inputs are 8-bit gray crops of two Caltech-101 photographs (tests/data/images), stored in
the archive itself so that a JPEG decoder change cannot move the golden values.
Descriptors are stored as VLFeat's default byte output, ``min(512 d, 255)``.

PHOW is computed as ``vl_phow`` does it (see benchmarks/vlfeat_reference.py).
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks import vlfeat_reference  # noqa: E402
from benchmarks.vlfeat_reference import vlfeat_dsift  # noqa: E402

HERE = Path(__file__).resolve().parent
OUT = HERE / "vlfeat_golden.npz"
CROPS = {"butterfly": ("images/butterfly_0001.jpg", (30, 50, 100, 130)),   # y0, x0, height, width
         "dalmatian": ("images/dalmatian_0001.jpg", (70, 80, 100, 130))}
DSIFT_CONFIGS = {"fast_s4_b8": dict(step=4, size=8, fast=True),
                 "gauss_s4_b8": dict(step=4, size=8, fast=False),
                 "fast_s3_b4_w15": dict(step=3, size=4, fast=True, window_size=1.5),
                 "gauss_s3_b5_w15": dict(step=3, size=5, fast=False, window_size=1.5)}
PHOW_SIZES, PHOW_STEP = (4, 6, 8, 10), 4

def write_with_manifest(path: Path, arrays: dict) -> None:
    """Save ``arrays`` to the compressed archive ``path`` and its sha256 to ``<stem>.sha256`` beside it."""
    np.savez_compressed(path, **arrays)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_suffix(".sha256").write_text(f"{digest}  {path.name}\n")
    print(f"wrote {path} ({path.stat().st_size} bytes), sha256 {digest}")


def vlfeat_phow(gray: np.ndarray):
    return vlfeat_reference.vlfeat_phow(gray, sizes=PHOW_SIZES, step=PHOW_STEP)


def main() -> int:
    arrays = {}
    for name, (path, (y0, x0, h, w)) in CROPS.items():
        rgb = cv2.imread(str(HERE / path))[:, :, ::-1]
        gray8 = np.round(rgb.astype(np.float64) @ [0.298936021293775, 0.587043074451121, 0.114020904255103])
        gray8 = gray8.astype(np.uint8)[y0: y0 + h, x0: x0 + w]
        arrays[f"{name}/image"] = gray8
        gray = gray8.astype(np.float32) / 255
        for key, kw in DSIFT_CONFIGS.items():
            f, d = vlfeat_dsift(gray, **kw)
            arrays[f"{name}/{key}/frames"] = f
            arrays[f"{name}/{key}/descriptors"] = d.astype(np.uint8)
        f, d = vlfeat_phow(gray)
        arrays[f"{name}/phow_s4/frames"] = f
        arrays[f"{name}/phow_s4/descriptors"] = d.astype(np.uint8)
    write_with_manifest(OUT, arrays)
    return 0


if __name__ == "__main__":
    sys.exit(main())
