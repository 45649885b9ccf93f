"""VLAD (Jegou et al. 2010).

``v_k = sum over descriptors whose nearest word is k of (x - c_k)``, K x D values
(word-major), then signed square root and L2 normalisation (as for Fisher vectors).
"""
from __future__ import annotations

import numpy as np

from ..codebook import assign_nearest
from .normalize import power_l2


def vlad(descriptors, vocabulary, *, normalize: bool = True) -> np.ndarray:
    """VLAD: per-word sums of residuals; (K * D,), word-major; signed sqrt + L2 if ``normalize``."""
    c = np.asarray(vocabulary, np.float64)
    x = np.asarray(descriptors, np.float64)
    out = np.zeros_like(c)
    if len(x):
        nearest = assign_nearest(x, c)
        np.add.at(out, nearest, x)
        out -= np.bincount(nearest, minlength=len(c))[:, None] * c
    out = out.ravel()
    return power_l2(out) if normalize and out.any() else out
