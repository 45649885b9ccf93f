"""VLFeat itself, as the reference the descriptors are compared with (optional).

Needs Debian's ``libvlfeat-dev`` (``libvl.so``) and PyPI's ``cyvlfeat``; ``make reference``
installs both.  Used by the benchmark, the live differential tests and the script that
regenerates the golden fixtures (``tests/data/make_vlfeat_fixtures.py``).

* :func:`vlfeat_dsift` calls ``vl_dsift`` (through cyvlfeat) and returns frames as
  ``(x, y, norm)`` and descriptors in VLFeat's byte scale ``min(512 d, 255)`` (float32).
* :func:`vlfeat_phow` is ``vl_phow`` as its MATLAB source defines it: MATLAB's
  ``vl_imsmooth`` (Gaussian of sigma size/magnif, half-width ``ceil(4 sigma)``, padding by
  continuity), computed with VLFeat's own ``vl_imconvcol_vf``, then ``vl_dsift`` with the
  flat window, window size 1.5 and aligned bounds, and the 0.005 contrast threshold.
  (cyvlfeat's ``phow`` is not used: it never passes the window size on, and smooths
  differently.)
"""
from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util

import numpy as np

_PAD_BY_CONTINUITY, _TRANSPOSE = 1, 4
_CONV = None


def available() -> bool:
    """Whether cyvlfeat and libvl can be loaded."""
    return importlib.util.find_spec("cyvlfeat") is not None and _convolution() is not None


def _convolution():
    global _CONV
    if _CONV is None:
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("vl") or "libvl.so")
        except OSError:
            return None
        conv = lib.vl_imconvcol_vf
        conv.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t,
                         ctypes.c_size_t, ctypes.c_void_p, ctypes.c_long, ctypes.c_long, ctypes.c_int, ctypes.c_uint]
        _CONV = conv
    return _CONV


def vl_imsmooth_matlab(image: np.ndarray, sigma: float) -> np.ndarray:
    """MATLAB ``vl_imsmooth(I, sigma)`` through VLFeat's C convolution; (H, W) float32."""
    conv = _convolution()
    im = np.ascontiguousarray(image, np.float32)
    h, w = im.shape
    half = int(np.ceil(4 * sigma))
    z = (np.arange(2 * half + 1, dtype=np.float32) - np.float32(half)) / (np.float32(sigma) + np.float32(1.1920929e-07))
    filt = np.exp(np.float32(-0.5) * z * z).astype(np.float32)
    filt /= filt.sum(dtype=np.float32)
    tmp = np.empty((w, h), np.float32)
    out = np.empty((h, w), np.float32)
    conv(tmp.ctypes.data, h, im.ctypes.data, w, h, w, filt.ctypes.data, -half, half, 1, _PAD_BY_CONTINUITY | _TRANSPOSE)
    conv(out.ctypes.data, w, tmp.ctypes.data, h, w, h, filt.ctypes.data, -half, half, 1, _PAD_BY_CONTINUITY | _TRANSPOSE)
    return out


def vlfeat_dsift(gray: np.ndarray, **kwargs):
    """``vl_dsift`` on a float32 gray image; keyword arguments as cyvlfeat's ``dsift``.

    Returns frames (n, 3) ``x, y, norm`` and descriptors (n, 128) ``min(512 d, 255)``.
    """
    from cyvlfeat.sift import dsift

    frames, desc = dsift(np.ascontiguousarray(gray, np.float32), norm=True, float_descriptors=True, **kwargs)
    xy_norm = np.stack([frames[:, 1], frames[:, 0], frames[:, 2]], axis=1)   # cyvlfeat reports (y, x, norm)
    return xy_norm, np.minimum(desc, 255).astype(np.float32)


def vlfeat_phow(gray: np.ndarray, *, sizes=(4, 6, 8, 10), step: int = 2, magnif: float = 6.0,
                contrast_threshold: float = 0.005):
    """``vl_phow`` (gray) on a float32 gray image.

    Returns frames (n, 4) ``x, y, contrast, size`` and descriptors (n, 128) ``min(512 d, 255)``.
    """
    gray = np.ascontiguousarray(gray, np.float32)
    h, w = gray.shape
    frames, descs = [], []
    for size in sizes:
        off = int(np.floor(1 + 1.5 * (max(sizes) - size)))       # vl_phow's 1-based bound
        smoothed = vl_imsmooth_matlab(gray, size / magnif)
        f, d = vlfeat_dsift(smoothed, step=step, size=size, fast=True, window_size=1.5,
                            bounds=[off - 1, off - 1, h - 1, w - 1])
        d[f[:, 2] < contrast_threshold] = 0
        frames.append(np.hstack([f, np.full((len(f), 1), size)]))
        descs.append(d)
    return np.concatenate(frames), np.concatenate(descs)
