"""Normalisations shared by the encodings."""
from __future__ import annotations

import numpy as np


def power_l2(v: np.ndarray) -> np.ndarray:
    """Signed square root, then L2 normalisation (norm floored at 1e-12); (n,) in, (n,) out."""
    v = np.sign(v) * np.sqrt(np.abs(v))
    return v / max(float(np.sqrt(np.dot(v, v))), 1e-12)
