"""Regenerate tests/data/vlfeat_golden.npz: VLFeat's own dense SIFT and PHOW outputs.

Run with VLFeat installed (``make reference`` installs Debian's libvlfeat-dev and
cyvlfeat into .venv):

    .venv/bin/python tests/data/make_vlfeat_fixtures.py

Inputs, stored in the archive itself so that a JPEG decoder change cannot move the golden
values:

* 8-bit gray crops of two Caltech-101 photographs (tests/data/images);
* ``overexposed``: a synthetic over-exposed image -- clipped highlights (saturated
  plateaus), stripes whose gradients lie exactly along the axes (orientation-bin
  boundaries 0, pi/2, pi, 3 pi/2), a 45-degree ramp (gx == gy), and inside a clean
  saturated plateau short lines where one colour channel is a level down (gray steps of
  0.114/255), on rows that cross strong edges: the flat-window descriptors there are
  made of VLFeat's running-sum rounding residue;
* ``wrench``: rows 30-109 of Caltech-101 ``wrench/image_0008.jpg`` (tests/data/saturated),
  a photograph on a saturated white background, in float gray (MATLAB ``rgb2gray``
  weights, unrounded, as ``features.image_io.load_gray`` reads it).

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
SATURATED_PHOTO = ("saturated/wrench_0008.jpg", (30, 110))                    # rows y0:y1, full width
DSIFT_CONFIGS = {"fast_s4_b8": dict(step=4, size=8, fast=True),
                 "gauss_s4_b8": dict(step=4, size=8, fast=False),
                 "fast_s3_b4_w15": dict(step=3, size=4, fast=True, window_size=1.5),
                 "gauss_s3_b5_w15": dict(step=3, size=5, fast=False, window_size=1.5)}
PHOW_SIZES, PHOW_STEP = (4, 6, 8, 10), 4


def vlfeat_phow(gray: np.ndarray):
    return vlfeat_reference.vlfeat_phow(gray, sizes=PHOW_SIZES, step=PHOW_STEP)


def overexposed_rgb(height: int = 100, width: int = 200, seed: int = 2) -> np.ndarray:
    """The synthetic over-exposed test image (see the module docstring); (H, W, 3) uint8."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    scene = 0.45 + 0.35 * np.cos(x / 7.0) * np.cos(y / 11.0) + 0.3 * (x / width)
    rgb = np.repeat(np.clip(scene * 2.0, 0, 1)[:, :, None], 3, axis=2)          # clipped highlights
    rgb[:, :40] = np.where(((x[:, :40] // 4) % 2 == 0)[:, :, None], 1.0, 0.2)    # gradients along x only
    rgb[:16, 40:] = np.where(((y[:16, 40:] // 4) % 2 == 0)[:, :, None], 1.0, 0.3)  # along y only
    ramp = np.clip((x + y - 200) / 50, 0, 1)                                       # 45 degrees: gx == gy
    rgb[70:, 140:] = ramp[70:, 140:, None]
    rgb8 = np.round(rgb * 255).astype(np.uint8)
    rgb8[16:70, 40:140] = 255                                                    # a clean saturated plateau
    for column in range(45, 140, 9 + seed):                                      # faint one-channel steps in it
        top = int(rng.integers(18, 50))
        rgb8[top: top + int(rng.integers(3, 15)), column, 2] = 254
    return rgb8


def inputs() -> dict:
    """Name -> gray test image (uint8 crops of photographs, float32 for the saturated ones)."""
    from features.color import rgb_to_gray

    images = {}
    for name, (path, (y0, x0, h, w)) in CROPS.items():
        rgb = cv2.imread(str(HERE / path))[:, :, ::-1]
        gray8 = np.round(rgb.astype(np.float64) @ [0.298936021293775, 0.587043074451121, 0.114020904255103])
        images[name] = gray8.astype(np.uint8)[y0: y0 + h, x0: x0 + w]
    images["overexposed"] = rgb_to_gray(overexposed_rgb())
    path, (y0, y1) = SATURATED_PHOTO
    images["wrench"] = np.ascontiguousarray(rgb_to_gray(cv2.imread(str(HERE / path))[:, :, ::-1])[y0:y1])
    return images


def as_gray(image: np.ndarray) -> np.ndarray:
    """A stored test image as float32 in [0, 1]."""
    return image.astype(np.float32) / 255 if image.dtype == np.uint8 else image.astype(np.float32)


def main() -> int:
    arrays = {}
    for name, image in inputs().items():
        arrays[f"{name}/image"] = image
        gray = as_gray(image)
        for key, kw in DSIFT_CONFIGS.items():
            f, d = vlfeat_dsift(gray, **kw)
            arrays[f"{name}/{key}/frames"] = f
            arrays[f"{name}/{key}/descriptors"] = d.astype(np.uint8)
        f, d = vlfeat_phow(gray)
        arrays[f"{name}/phow_s4/frames"] = f
        arrays[f"{name}/phow_s4/descriptors"] = d.astype(np.uint8)
    np.savez_compressed(OUT, **arrays)
    digest = hashlib.sha256(OUT.read_bytes()).hexdigest()
    (HERE / "vlfeat_golden.sha256").write_text(f"{digest}  {OUT.name}\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes), sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
