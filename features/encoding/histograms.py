"""Bag of visual words: hard assignment and the kernel codebook.

Bag of visual words (hard assignment; Sivic & Zisserman 2003, Csurka et al. 2004)
    Histogram of the nearest word of each descriptor, length K.
Kernel codebook (soft assignment, van Gemert et al. 2008)
    Each descriptor spreads ``exp(-d^2 / 2 sigma^2)`` over its ``n_neighbors`` nearest
    words, normalised to sum 1 per descriptor.
"""
from __future__ import annotations

import numpy as np

from ..codebook import assign_nearest, nearest_words


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
