r"""Locality-constrained linear coding (Wang, Yang, Yu, Lv, Huang & Gong, CVPR 2010), approximated.

Coding
    A descriptor ``x`` (D,) is coded on its ``k`` nearest words ``B_x`` (k, D) (k = 5 in the
    paper) by the weights that reconstruct it best under the shift-invariance constraint:

    .. math::  \min_c \lVert x - B_x^\top c \rVert^2 \quad\text{s.t.}\quad 1^\top c = 1,

    solved in closed form with the authors' regularisation (``LLC_coding_appr.m``):

    .. math::  C = (B_x - 1 x^\top)(B_x - 1 x^\top)^\top,\qquad
               C \leftarrow C + \beta\,\mathrm{tr}(C)\, I,\qquad
               c = C^{-1} 1,\qquad c \leftarrow c / (1^\top c)

    with ``beta = 1e-4``.  The code of ``x`` over the whole vocabulary (K,) is ``c`` on its
    k nearest words and 0 elsewhere.  All the k x k systems of a chunk of descriptors are
    solved by one batched ``numpy.linalg.solve``; the neighbour search is one matrix
    product per chunk (:func:`features.codebook.nearest_words`).  Where all k neighbours
    coincide with ``x`` (``tr(C) = 0``) the weights are ``1/k`` each.

Pooling (``LLC_pooling.m``)
    Max pooling of the codes (zeros included) over the descriptors of each cell of a
    spatial pyramid (``1x1+2x2+4x4`` in the paper), an empty cell giving zeros; the cells
    are concatenated and the whole vector is L2-normalised (the authors' code normalises
    the concatenation once, ``beta = beta ./ sqrt(sum(beta .^ 2))``; Chatfield et al. 2011
    normalise each cell instead: ``normalize="l2_per_cell"``).
"""
from __future__ import annotations

import numpy as np
from scipy import sparse

from .._validation import check_choice, check_positive_real
from ..codebook import nearest_words
from .normalize import CELL_NORMALIZATIONS, normalize_cells
from .pyramid import check_frames, pyramid_cells

_SOLVE_ROWS = 2048


def llc_weights(descriptors, vocabulary, *, n_neighbors: int = 5, beta: float = 1e-4):
    """LLC codes of every descriptor on its nearest words (the non-zero part of :func:`llc_codes`).

    Parameters
    ----------
    descriptors : array_like of shape (n, D)
        float32 (neighbour search in float32) or float64.
    vocabulary : array_like of shape (K, D)
    n_neighbors : int
        k, at most K.
    beta : float
        Regularisation, relative to ``tr(C)``.

    Returns
    -------
    indices : ndarray of shape (n, k), int64
        The k nearest words of each descriptor, nearest first.
    codes : ndarray of shape (n, k), float64
        Their weights; each row sums to 1.
    """
    beta = check_positive_real(beta, "beta")
    x = np.asarray(descriptors)
    if x.ndim == 2 and len(x) == 0:
        return np.zeros((0, n_neighbors), np.int64), np.zeros((0, n_neighbors))
    indices, _ = nearest_words(x, vocabulary, n_neighbors)
    words = np.asarray(vocabulary, np.float64)
    x = np.asarray(x, np.float64)
    k = indices.shape[1]
    codes = np.empty(indices.shape)
    eye = np.eye(k)
    for start in range(0, len(x), _SOLVE_ROWS):
        idx = indices[start: start + _SOLVE_ROWS]
        z = words[idx] - x[start: start + _SOLVE_ROWS, None, :]          # (m, k, D): B_x - 1 x^T
        c = z @ z.transpose(0, 2, 1)                                      # (m, k, k)
        trace = np.einsum("mii->m", c)
        c += (beta * trace)[:, None, None] * eye
        c[trace == 0] = eye
        w = np.linalg.solve(c, np.ones((len(c), k, 1)))[:, :, 0]
        codes[start: start + _SOLVE_ROWS] = w / w.sum(axis=1, keepdims=True)
    return indices, codes


def llc_codes(descriptors, vocabulary, *, n_neighbors: int = 5, beta: float = 1e-4) -> sparse.csr_matrix:
    """LLC codes over the whole vocabulary, as a sparse matrix of shape (n, K) (k non-zeros a row,
    each row summing to 1); see the module docstring."""
    indices, codes = llc_weights(descriptors, vocabulary, n_neighbors=n_neighbors, beta=beta)
    n, k = indices.shape
    return sparse.csr_matrix((codes.ravel(), indices.ravel(), np.arange(0, n * k + 1, k)),
                             shape=(n, len(vocabulary)))


def llc_max_pool(indices, codes, cells, n_words: int) -> np.ndarray:
    """Max of the codes (zeros outside each descriptor's neighbours included) over each cell.

    Parameters
    ----------
    indices, codes : ndarray of shape (n, k)
        As returned by :func:`llc_weights`.
    cells : list of ndarray
        Descriptor indices of each cell (:func:`features.encoding.pyramid_cells`).
    n_words : int

    Returns
    -------
    ndarray of shape (len(cells), n_words), float64
        Zeros for an empty cell.  A word that is a neighbour of every descriptor of a cell
        gets the largest of its codes there (which may be negative); any other word gets
        the largest of its codes and 0.
    """
    sizes = np.array([len(c) for c in cells], np.int64)
    out = np.zeros(len(cells) * n_words)
    if not sizes.sum():
        return out.reshape(len(cells), n_words)
    members = np.concatenate(cells)
    cell_of = np.repeat(np.arange(len(cells)), sizes)
    k = indices.shape[1]
    keys = (np.repeat(cell_of, k) * n_words + indices[members].ravel())
    values = codes[members].ravel()
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], values[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    largest = np.maximum.reduceat(values, starts)
    counts = np.diff(np.r_[starts, len(keys)])
    used = keys[starts]
    everywhere = counts == sizes[used // n_words]            # a neighbour of every descriptor of the cell
    out[used] = np.where(everywhere, largest, np.maximum(largest, 0))
    return out.reshape(len(cells), n_words)


def llc_pyramid(descriptors, frames, image_size, vocabulary, *, layout: str = "1x1+2x2+4x4", n_neighbors: int = 5,
                beta: float = 1e-4, normalize: str = "l2") -> np.ndarray:
    """LLC image signature: codes once, max pooling per pyramid cell, normalisation.

    Parameters
    ----------
    descriptors : array_like of shape (n, D)
    frames : array_like of shape (n, >=2)
        Descriptor centres ``x, y`` (see :mod:`features.encoding.pyramid`).
    image_size : (height, width)
    vocabulary : array_like of shape (K, D)
    layout : str
        Spatial pyramid (the paper: ``"1x1+2x2+4x4"``).
    n_neighbors, beta :
        As :func:`llc_weights`.
    normalize : {"l2", "l2_per_cell", "none"}
        L2 of the whole concatenation (the authors' code), of each cell, or none.

    Returns
    -------
    ndarray of shape (n_cells * K,), float64
        Cells in layout order, each a block of K values.
    """
    check_choice(normalize, "normalize", CELL_NORMALIZATIONS)
    check_frames(frames, descriptors)
    indices, codes = llc_weights(descriptors, vocabulary, n_neighbors=n_neighbors, beta=beta)
    pooled = llc_max_pool(indices, codes, pyramid_cells(frames, image_size, layout), len(vocabulary))
    return normalize_cells(pooled, normalize)
