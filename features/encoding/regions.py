"""Bag-of-words signatures of many boxes of one image, from the image's dense descriptors.

A detector scores thousands of boxes per image.  Extracting descriptors per box would
repeat the same work thousands of times; instead the image's dense descriptors are
quantised once into visual words, and an *integral histogram* answers "how many
descriptors of word w have their centre inside this rectangle" with four look-ups
(Porikli, CVPR 2005).

Conventions
-----------
Pixel ``i`` covers the continuous interval ``[i - 0.5, i + 0.5)``.  A canonical box
``(x1, y1, x2, y2)`` (inclusive pixels, :mod:`ilsvrc.boxes`) covers
``[x1 - 0.5, x2 + 0.5) x [y1 - 0.5, y2 + 0.5)``, of width ``W = x2 - x1 + 1``.  For a
spatial-pyramid level of ``rows x cols`` cells, cell ``(r, c)`` is
``[x1 - 0.5 + c W / cols, x1 - 0.5 + (c + 1) W / cols)`` horizontally (and likewise
vertically), and a descriptor belongs to the cell holding its centre ``(x, y)``.
Cells are listed level by level, row-major, as :func:`features.encoding.pyramid.pyramid_cells`
lists them for whole images.

Integral histogram
------------------
With the distinct descriptor abscissae ``u_0 < ... < u_{nx-1}`` and ordinates
``v_0 < ... < v_{ny-1}``, ``S[j, i, w]`` counts the descriptors of word ``w`` with
``y < v_j`` and ``x < u_i`` (``j`` in 0..ny, ``i`` in 0..nx).  The count of word ``w``
in ``[a, b) x [c, d)`` is ``S[J(d), I(b), w] - S[J(c), I(b), w] - S[J(d), I(a), w] +
S[J(c), I(a), w]`` with ``I(t)`` the number of abscissae below ``t``
(``searchsorted(u, t, "left")``).  Exact for any box and any descriptor layout.
"""
from __future__ import annotations

import numpy as np

from .histograms import normalize_bow
from .pyramid import parse_layout


class WordIntegral:
    """The integral histogram of an image's visual words.

    Parameters
    ----------
    positions : ndarray of shape (n, 2)
        Descriptor centres ``(x, y)`` in pixels.
    words : ndarray of shape (n,), int
        Visual word of each descriptor, in ``0 .. n_words - 1``.
    n_words : int
    """

    def __init__(self, positions, words, n_words: int):
        pos = np.asarray(positions, np.float64).reshape(-1, 2)
        words = np.asarray(words, np.int64).ravel()
        if len(words) != len(pos):
            raise ValueError(f"positions and words: expected one word per position, got {len(pos)} and {len(words)}")
        if len(words) and (words.min() < 0 or words.max() >= n_words):
            raise ValueError(f"words: expected values in 0..{n_words - 1}")
        self.n_words = int(n_words)
        self.xs, ix = np.unique(pos[:, 0], return_inverse=True)
        self.ys, iy = np.unique(pos[:, 1], return_inverse=True)
        shape = (len(self.ys) + 1, len(self.xs) + 1, self.n_words)
        flat = np.ravel_multi_index((iy.ravel() + 1, ix.ravel() + 1, words), shape)
        table = np.bincount(flat, minlength=int(np.prod(shape))).astype(np.float32).reshape(shape)
        np.cumsum(table, axis=0, out=table)
        np.cumsum(table, axis=1, out=table)
        self.table = table

    def counts(self, x_lo, x_hi, y_lo, y_hi) -> np.ndarray:
        """Word counts in the half-open rectangles ``[x_lo, x_hi) x [y_lo, y_hi)``.

        Parameters
        ----------
        x_lo, x_hi, y_lo, y_hi : ndarray of shape (m,)

        Returns
        -------
        ndarray of shape (m, n_words), float32
        """
        i0 = np.searchsorted(self.xs, x_lo, "left")
        i1 = np.searchsorted(self.xs, x_hi, "left")
        j0 = np.searchsorted(self.ys, y_lo, "left")
        j1 = np.searchsorted(self.ys, y_hi, "left")
        t = self.table
        return t[j1, i1] - t[j0, i1] - t[j1, i0] + t[j0, i0]


def region_word_counts(integral: WordIntegral, boxes, layout: str = "1x1") -> np.ndarray:
    """Raw word counts of every pyramid cell of every box.

    Parameters
    ----------
    integral : WordIntegral
    boxes : ndarray of shape (m, 4)
        Canonical inclusive boxes.
    layout : str
        Spatial pyramid, e.g. ``"1x1+2x2"`` (see the module docstring for the cells).

    Returns
    -------
    ndarray of shape (m, n_cells, n_words), float32
    """
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    x0, y0 = b[:, 0] - 0.5, b[:, 1] - 0.5
    w, h = b[:, 2] - b[:, 0] + 1, b[:, 3] - b[:, 1] + 1
    cells = []
    for rows, cols in parse_layout(layout):
        for r in range(rows):
            for c in range(cols):
                cells.append(integral.counts(x0 + c * w / cols, x0 + (c + 1) * w / cols,
                                             y0 + r * h / rows, y0 + (r + 1) * h / rows))
    return np.stack(cells, axis=1)


def region_bow(integral: WordIntegral, boxes, layout: str = "1x1", *, normalize: str = "l1_per_cell",
               hellinger: bool = True) -> np.ndarray:
    """Bag-of-words signatures of boxes: per-cell histograms, normalised, optionally square-rooted.

    Parameters
    ----------
    integral : WordIntegral
    boxes : ndarray of shape (m, 4)
    layout : str
    normalize : {"l1_per_cell", "l1", "none"}
        Each cell's histogram sums to 1 (empty cells stay 0), or the whole signature does.
    hellinger : bool
        Take the element-wise square root (the explicit Hellinger-kernel map), so that a
        linear classifier on the result is a Hellinger-kernel classifier on the histograms.

    Returns
    -------
    ndarray of shape (m, n_cells * n_words), float32
    """
    out = normalize_bow(region_word_counts(integral, boxes, layout), normalize=normalize)
    if hellinger:
        np.sqrt(out, out=out)
    return out
