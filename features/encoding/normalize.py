"""Normalisations shared by the encodings."""
from __future__ import annotations

import numpy as np

from .._validation import check_choice

CELL_NORMALIZATIONS = ("l2", "l2_per_cell", "none")


def power_l2(v: np.ndarray) -> np.ndarray:
    """Signed square root, then L2 normalisation (norm floored at 1e-12); (n,) in, (n,) out."""
    v = np.sign(v) * np.sqrt(np.abs(v))
    return v / max(float(np.sqrt(np.dot(v, v))), 1e-12)


def normalize_cells(cells: np.ndarray, normalize: str) -> np.ndarray:
    """Concatenate the rows of ``cells`` (n_cells, L), L2-normalised as a whole (``"l2"``), row by
    row (``"l2_per_cell"``) or not (``"none"``); norms floored at 1e-12.  (n_cells * L,)"""
    check_choice(normalize, "normalize", CELL_NORMALIZATIONS)
    cells = np.array(cells, np.float64)
    if normalize == "l2_per_cell":
        cells /= np.maximum(np.linalg.norm(cells, axis=1, keepdims=True), 1e-12)
    out = cells.ravel()
    if normalize == "l2":
        out /= max(float(np.linalg.norm(out)), 1e-12)
    return out
