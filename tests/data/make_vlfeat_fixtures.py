"""Regenerate tests/data/vlfeat_golden.npz: VLFeat's own dense SIFT and PHOW outputs.

Run with VLFeat installed (``make reference`` installs Debian's libvlfeat-dev and
cyvlfeat into .venv):

    .venv/bin/python tests/data/make_vlfeat_fixtures.py

Inputs are 8-bit gray crops of two Caltech-101 photographs (tests/data/images), stored in
the archive itself so that a JPEG decoder change cannot move the golden values.
Descriptors are stored as VLFeat's default byte output, ``min(512 d, 255)``.

PHOW is computed as ``vl_phow`` does it: MATLAB's ``vl_imsmooth`` (Gaussian of sigma
size/6, half-width ceil(4 sigma), padding by continuity; run here through VLFeat's own
``vl_imconvcol_vf``) followed by ``vl_dsift`` (flat window, window size 1.5, aligned
bounds, contrast threshold 0.005).  cyvlfeat's ``phow`` is not used: it never passes the
window size to ``vl_dsift`` and smooths differently.
"""
from __future__ import annotations

import ctypes
import hashlib
import sys
from pathlib import Path

import cv2
import numpy as np
from cyvlfeat.sift import dsift

HERE = Path(__file__).resolve().parent
OUT = HERE / "vlfeat_golden.npz"
CROPS = {"butterfly": ("images/butterfly_0001.jpg", (30, 50, 100, 130)),   # y0, x0, height, width
         "dalmatian": ("images/dalmatian_0001.jpg", (70, 80, 100, 130))}
DSIFT_CONFIGS = {"fast_s4_b8": dict(step=4, size=8, fast=True),
                 "gauss_s4_b8": dict(step=4, size=8, fast=False),
                 "fast_s3_b4_w15": dict(step=3, size=4, fast=True, window_size=1.5),
                 "gauss_s3_b5_w15": dict(step=3, size=5, fast=False, window_size=1.5)}
PHOW_SIZES, PHOW_STEP = (4, 6, 8, 10), 4

_lib = ctypes.CDLL("libvl.so")
_conv = _lib.vl_imconvcol_vf
_conv.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t,
                  ctypes.c_size_t, ctypes.c_void_p, ctypes.c_long, ctypes.c_long, ctypes.c_int, ctypes.c_uint]
_PAD_BY_CONTINUITY, _TRANSPOSE = 1, 4


def vl_imsmooth_matlab(image: np.ndarray, sigma: float) -> np.ndarray:
    """MATLAB vl_imsmooth(I, sigma) through VLFeat's C convolution."""
    im = np.ascontiguousarray(image, np.float32)
    h, w = im.shape
    half = int(np.ceil(4 * sigma))
    z = (np.arange(2 * half + 1, dtype=np.float32) - np.float32(half)) / (np.float32(sigma) + np.float32(1.1920929e-07))
    filt = np.exp(np.float32(-0.5) * z * z).astype(np.float32)
    filt /= filt.sum(dtype=np.float32)
    tmp = np.empty((w, h), np.float32)
    out = np.empty((h, w), np.float32)
    _conv(tmp.ctypes.data, h, im.ctypes.data, w, h, w, filt.ctypes.data, -half, half, 1, _PAD_BY_CONTINUITY | _TRANSPOSE)
    _conv(out.ctypes.data, w, tmp.ctypes.data, h, w, h, filt.ctypes.data, -half, half, 1, _PAD_BY_CONTINUITY | _TRANSPOSE)
    return out


def vlfeat_dsift(gray: np.ndarray, **kw):
    frames, desc = dsift(gray, norm=True, float_descriptors=True, **kw)
    xy_norm = np.stack([frames[:, 1], frames[:, 0], frames[:, 2]], axis=1)   # cyvlfeat reports (y, x, norm)
    return xy_norm, np.minimum(desc, 255).astype(np.float32)


def vlfeat_phow(gray: np.ndarray):
    frames, descs = [], []
    for size in PHOW_SIZES:
        off = int(np.floor(1 + 1.5 * (max(PHOW_SIZES) - size)))       # vl_phow's 1-based bound
        smoothed = vl_imsmooth_matlab(gray, size / 6)
        h, w = gray.shape
        f, d = vlfeat_dsift(smoothed, step=PHOW_STEP, size=size, fast=True, window_size=1.5,
                            bounds=[off - 1, off - 1, h - 1, w - 1])
        d[f[:, 2] < 0.005] = 0
        frames.append(np.hstack([f, np.full((len(f), 1), size)]))
        descs.append(d)
    return np.concatenate(frames), np.concatenate(descs)


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
    np.savez_compressed(OUT, **arrays)
    digest = hashlib.sha256(OUT.read_bytes()).hexdigest()
    (HERE / "vlfeat_golden.sha256").write_text(f"{digest}  {OUT.name}\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes), sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
