"""Spatial pyramids: which descriptors fall in which cell.

A layout ``"RxC"`` splits the image into R rows and C columns of equal cells (so ``"3x1"``
is three horizontal stripes); ``"1x1+2x2+3x1"`` concatenates layouts, cells listed layout
by layout, row-major.  A descriptor with centre ``(x, y)`` in an image of ``H x W`` pixels
belongs to row ``floor(y R / H)`` and column ``floor(x C / W)`` (clipped to the grid), the
convention of every whole-image encoder here.  Boxes inside an image use the pixel-centre
convention of :mod:`features.encoding.regions` instead.
"""
from __future__ import annotations

import re

import numpy as np

_LAYOUT = re.compile(r"^(\d+)x(\d+)$")


def parse_layout(layout: str) -> list[tuple[int, int]]:
    """``"1x1+2x2+3x1"`` to ``[(1, 1), (2, 2), (3, 1)]`` (rows, columns)."""
    cells = []
    for part in str(layout).replace(" ", "").split("+"):
        m = _LAYOUT.match(part)
        if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
            raise ValueError(f"layout: expected parts like '2x2' joined by '+', got {layout!r}")
        cells.append((int(m.group(1)), int(m.group(2))))
    return cells


def pyramid_cells(frames, image_size, layout: str) -> list[np.ndarray]:
    """Descriptor indices of every pyramid cell, layouts in order, cells row-major."""
    f = np.asarray(frames, np.float64)
    h, w = image_size
    out = []
    for rows, cols in parse_layout(layout):
        r = np.clip((f[:, 1] * rows / h).astype(np.int64), 0, rows - 1)
        c = np.clip((f[:, 0] * cols / w).astype(np.int64), 0, cols - 1)
        cell = r * cols + c
        order = np.argsort(cell, kind="stable")
        bounds = np.searchsorted(cell[order], np.arange(rows * cols + 1))
        out.extend(order[bounds[i]: bounds[i + 1]] for i in range(rows * cols))
    return out


def check_frames(frames, descriptors) -> None:
    """Raise ValueError unless there is one frame (with ``x, y``) per descriptor."""
    f, d = np.asarray(frames), np.asarray(descriptors)
    if f.ndim != 2 or f.shape[1] < 2 or len(f) != len(d):
        raise ValueError(f"frames: expected one (x, y, ...) row per descriptor ({len(d)} descriptors), "
                         f"got shape {f.shape}")


def n_pyramid_cells(layout: str) -> int:
    return sum(r * c for r, c in parse_layout(layout))


def spatial_pyramid(encode, descriptors, frames, image_size, layout: str = "1x1") -> np.ndarray:
    """Concatenate ``encode(descriptors of cell)`` over the cells of ``layout``."""
    x = np.asarray(descriptors)
    return np.concatenate([encode(x[idx]) for idx in pyramid_cells(frames, image_size, layout)])
