"""Bag of visual words: hard assignment and the kernel codebook.

Bag of visual words (hard assignment; Sivic & Zisserman 2003, Csurka et al. 2004)
    Histogram of the nearest word of each descriptor, length K.
Kernel codebook (soft assignment, van Gemert et al. 2008)
    Each descriptor spreads ``exp(-d^2 / 2 sigma^2)`` over its ``n_neighbors`` nearest
    words, normalised to sum 1 per descriptor.
Pyramids of words
    :func:`pyramid_word_counts` counts an image's words in every spatial-pyramid cell, and
    :func:`normalize_bow` turns counts (of whole images or of boxes,
    :mod:`features.encoding.regions`) into signatures: every bag-of-words signature of
    the suite goes through it.
"""
from __future__ import annotations

import numpy as np

from ..codebook import assign_nearest, nearest_words
from .pyramid import parse_layout, pyramid_cells

BOW_NORMALIZATIONS = ("l1", "l1_per_cell", "none")


def bow_histogram(descriptors, vocabulary) -> np.ndarray:
    """Hard-assignment histogram of word counts; (K,) float64 (unnormalised)."""
    k = len(vocabulary)
    if len(descriptors) == 0:
        return np.zeros(k)
    return np.bincount(assign_nearest(descriptors, vocabulary), minlength=k).astype(np.float64)


def soft_assignments(descriptors, vocabulary, *, sigma: float, n_neighbors: int = 5):
    """Kernel-codebook weights of each descriptor over its nearest words (searched in the dtype
    of the descriptors, float32 or float64).

    Returns
    -------
    nearest : ndarray of shape (n, m), int64
        The ``m = min(n_neighbors, K)`` nearest words, nearest first.
    weights : ndarray of shape (n, m), float64
        ``exp(-d^2 / 2 sigma^2)`` normalised to sum 1 per descriptor.
    """
    if not sigma > 0:
        raise ValueError(f"sigma: expected a positive kernel width, got {sigma!r}")
    nearest, near_d2 = nearest_words(descriptors, vocabulary, min(n_neighbors, len(vocabulary)))
    near_d2 = near_d2.astype(np.float64)
    w = np.exp(-(near_d2 - near_d2[:, :1]) / (2 * sigma * sigma))
    w /= w.sum(axis=1, keepdims=True)
    return nearest, w


def soft_histogram(descriptors, vocabulary, *, sigma: float, n_neighbors: int = 5) -> np.ndarray:
    """Kernel-codebook histogram (each descriptor's weights sum to 1); (K,) float64."""
    k = len(vocabulary)
    if len(descriptors) == 0:
        return np.zeros(k)
    nearest, w = soft_assignments(descriptors, vocabulary, sigma=sigma, n_neighbors=n_neighbors)
    return np.bincount(nearest.ravel(), weights=w.ravel(), minlength=k)


def pyramid_word_counts(words, frames, image_size, layout: str, n_words: int, *, weights=None) -> np.ndarray:
    """Counts of each word in each cell of a spatial pyramid (whole-image cells, see
    :mod:`features.encoding.pyramid`); (n_cells, n_words) float64.

    ``words`` is (n,) (hard assignment: each descriptor counts 1) or (n, m) with ``weights``
    of the same shape (soft assignment, :func:`soft_assignments`: each descriptor adds its
    weights to its words). The words are assigned once for the whole image and pooled over
    every cell, so a pyramid costs one nearest-word search, not one per level.
    """
    words = np.asarray(words, np.int64)
    cells = pyramid_cells(frames, image_size, layout)
    if weights is None:
        if words.ndim != 1:
            raise ValueError(f"words: expected shape (n,) without weights, got {words.shape}")
        return np.stack([np.bincount(words[idx], minlength=n_words) for idx in cells]).astype(np.float64)
    weights = np.asarray(weights, np.float64)
    if weights.shape != words.shape:
        raise ValueError(f"weights: expected the shape of words {words.shape}, got {weights.shape}")
    return np.stack([np.bincount(words[idx].ravel(), weights=weights[idx].ravel(), minlength=n_words)
                     for idx in cells])


def normalize_bow(counts, *, normalize: str = "l1", level_weights=None, layout: str | None = None) -> np.ndarray:
    """Bag-of-words signatures from per-cell counts.

    Parameters
    ----------
    counts : array_like of shape (m, n_cells, K)
        Word counts (or soft weights) per cell, cells layout by layout.
    normalize : {"l1", "l1_per_cell", "none"}
        Divide the whole (weighted) signature by its sum, each cell by its own, or nothing;
        an empty cell or signature stays 0.
    level_weights : sequence of float, optional
        One weight per layout of ``layout`` (Lazebnik's pyramid-match weights), applied
        after the per-cell normalisation and before the whole-signature one.
    layout : str
        Needed with ``level_weights``.

    Returns
    -------
    ndarray of shape (m, n_cells * K), float32
    """
    if normalize not in BOW_NORMALIZATIONS:
        raise ValueError(f"normalize: expected one of {BOW_NORMALIZATIONS}, got {normalize!r}")
    cells = np.array(counts, np.float64, ndmin=3)
    if normalize == "l1_per_cell":
        cells /= np.maximum(cells.sum(axis=2, keepdims=True), 1e-12)
    if level_weights is not None:
        sizes = [r * c for r, c in parse_layout(layout)]
        if len(level_weights) != len(sizes):
            raise ValueError(f"level_weights: expected {len(sizes)} weights (one per layout), got "
                             f"{len(level_weights)}")
        cells *= np.repeat(np.asarray(level_weights, np.float64), sizes)[None, :, None]
    out = cells.reshape(len(cells), -1)
    if normalize == "l1":
        out /= np.maximum(out.sum(axis=1, keepdims=True), 1e-12)
    return out.astype(np.float32)
