"""Bag of visual words: hard assignment and the kernel codebook.

Bag of visual words (hard assignment; Sivic & Zisserman 2003, Csurka et al. 2004)
    Histogram of the nearest word of each descriptor, length K.
Kernel codebook (soft assignment, van Gemert et al. 2008)
    Each descriptor spreads ``exp(-d^2 / 2 sigma^2)`` over its ``n_neighbors`` nearest
    words, normalised to sum 1 per descriptor.
"""
from __future__ import annotations

import numpy as np

from ..codebook import assign_nearest, squared_distances


def bow_histogram(descriptors, vocabulary) -> np.ndarray:
    """Hard-assignment histogram of word counts; (K,) float64 (unnormalised)."""
    k = len(vocabulary)
    if len(descriptors) == 0:
        return np.zeros(k)
    return np.bincount(assign_nearest(descriptors, vocabulary), minlength=k).astype(np.float64)


def soft_histogram(descriptors, vocabulary, *, sigma: float, n_neighbors: int = 5) -> np.ndarray:
    """Kernel-codebook histogram (each descriptor's weights sum to 1); (K,) float64."""
    k = len(vocabulary)
    x = np.asarray(descriptors, np.float64)
    if len(x) == 0:
        return np.zeros(k)
    d2 = squared_distances(x, np.asarray(vocabulary, np.float64))
    m = min(n_neighbors, k)
    nearest = np.argpartition(d2, m - 1, axis=1)[:, :m]
    near_d2 = np.take_along_axis(d2, nearest, axis=1)
    w = np.exp(-(near_d2 - near_d2.min(axis=1, keepdims=True)) / (2 * sigma * sigma))
    w /= w.sum(axis=1, keepdims=True)
    return np.bincount(nearest.ravel(), weights=w.ravel(), minlength=k)
