r"""Super-vector coding (Zhou, Yu, Zhang & Huang, ECCV 2010).

Coding
    With codewords ``v_1 .. v_K`` and the assignment ``gamma_k(x)`` of a descriptor to word
    ``k`` (hard: 1 for the nearest word, 0 elsewhere; soft: the kernel-codebook weights of
    :func:`features.encoding.histograms.soft_assignments`, summing to 1), the code of ``x`` is

    .. math::  \phi(x) = \left[\, s\,\gamma_k(x),\; \gamma_k(x)\,(x - v_k)^\top \right]_{k=1..K}

    (K blocks of D + 1 values): a zero-order part scaled by the constant ``s >= 0`` and the
    first-order (local tangent) part.

Pooling (per spatial-pyramid cell, N descriptors)
    With ``p_k = (1/N) sum_x gamma_k(x)`` (the share of word ``k``; ``N_k / N`` for hard
    assignment), the paper's image-level super-vector is

    .. math::  \Phi(X) = \frac{1}{N} \sum_x \sum_k \frac{1}{\sqrt{p_k}}\, \phi_k(x)
               = \left[\, s\sqrt{p_k},\;
                 \frac{1}{N\sqrt{p_k}} \sum_x \gamma_k(x)\,(x - v_k)^\top \right]_{k=1..K}

    a word no descriptor of the cell uses (``p_k = 0``) giving a block of zeros.  The cells
    (``1x1+2x2+3x1`` in the paper's PASCAL experiments) are concatenated and the whole
    vector is L2-normalised (``normalize="l2"``; ``"l2_per_cell"``: each cell, as Chatfield
    et al. 2011; ``"none"``: the paper's pooled values as they are).
"""
from __future__ import annotations

import numpy as np
from scipy import sparse

from .._validation import check_choice, check_positive_real
from ..codebook import nearest_words
from .histograms import soft_assignments
from .normalize import CELL_NORMALIZATIONS, normalize_cells
from .pyramid import check_frames, pyramid_cells

SV_ASSIGNMENTS = ("hard", "soft")


def _check_s(s) -> float:
    if s == 0:
        return 0.0
    return check_positive_real(s, "s")


def super_vector_assignments(descriptors, vocabulary, *, assignment: str = "hard", sigma: float | None = None,
                             n_neighbors: int = 5) -> sparse.csr_matrix:
    """``gamma_k(x)`` of every descriptor, as a sparse matrix of shape (n, K), rows summing to 1.

    ``assignment="hard"``: the nearest word (searched in the dtype of the descriptors, float32
    or float64); ``"soft"``: kernel-codebook weights over the
    ``n_neighbors`` nearest words with kernel width ``sigma`` (required).
    """
    check_choice(assignment, "assignment", SV_ASSIGNMENTS)
    x = np.asarray(descriptors)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    k = len(vocabulary)
    if assignment == "soft" and sigma is None:
        raise ValueError("sigma: soft assignment needs a kernel width (a positive number)")
    if x.ndim != 2 or x.shape[1] != np.shape(vocabulary)[1]:
        raise ValueError(f"descriptors: expected shape (n, {np.shape(vocabulary)[1]}), got {x.shape}")
    if len(x) == 0:
        return sparse.csr_matrix((0, k))
    if assignment == "hard":
        nearest, weights = nearest_words(x, vocabulary, 1)[0], np.ones((len(x), 1))
    else:
        sigma = check_positive_real(sigma, "sigma")
        nearest, weights = soft_assignments(x, vocabulary, sigma=sigma, n_neighbors=n_neighbors)
    m = nearest.shape[1]
    return sparse.csr_matrix((weights.ravel(), nearest.ravel(), np.arange(0, len(x) * m + 1, m)), shape=(len(x), k))


def pool_super_vector(descriptors, gamma, vocabulary, *, s: float = 1.0) -> np.ndarray:
    """The paper's pooled super-vector ``Phi(X)`` of one cell (see the module docstring), unnormalised.

    Parameters
    ----------
    descriptors : array_like of shape (N, D)
    gamma : sparse matrix or ndarray of shape (N, K)
        Assignments, rows summing to 1 (:func:`super_vector_assignments`).
    vocabulary : array_like of shape (K, D)
    s : float
        Weight of the zero-order part.

    Returns
    -------
    ndarray of shape (K * (D + 1),), float64
        Word-major: ``[s sqrt(p_1), u_1 (D values), s sqrt(p_2), u_2, ...]``.
    """
    s = _check_s(s)
    v = np.asarray(vocabulary, np.float64)
    x = np.asarray(descriptors, np.float64)
    k, d = v.shape
    out = np.zeros((k, d + 1))
    n = len(x)
    if n == 0:
        return out.ravel()
    g = sparse.csr_matrix(gamma)
    mass = np.asarray(g.sum(axis=0)).ravel()                 # sum_x gamma_k(x) = N p_k
    first = np.asarray(g.T @ x) - mass[:, None] * v          # sum_x gamma_k(x) (x - v_k)
    p = mass / n
    used = p > 0
    out[used, 0] = s * np.sqrt(p[used])
    out[used, 1:] = first[used] / (n * np.sqrt(p[used]))[:, None]
    return out.ravel()


def super_vector(descriptors, vocabulary, *, s: float = 1.0, assignment: str = "hard", sigma: float | None = None,
                 n_neighbors: int = 5, normalize: bool = True) -> np.ndarray:
    """Super-vector of one set of descriptors: the pooled ``Phi(X)``, L2-normalised if ``normalize``.

    Returns
    -------
    ndarray of shape (K * (D + 1),), float64
    """
    gamma = super_vector_assignments(descriptors, vocabulary, assignment=assignment, sigma=sigma,
                                     n_neighbors=n_neighbors)
    out = pool_super_vector(descriptors, gamma, vocabulary, s=s)
    return normalize_cells(out[None], "l2" if normalize else "none")


def super_vector_pyramid(descriptors, frames, image_size, vocabulary, *, layout: str = "1x1+2x2+3x1", s: float = 1.0,
                         assignment: str = "hard", sigma: float | None = None, n_neighbors: int = 5,
                         normalize: str = "l2") -> np.ndarray:
    """Super-vectors of the cells of a spatial pyramid (assignments computed once), concatenated
    and normalised.

    Parameters
    ----------
    descriptors : array_like of shape (n, D)
    frames : array_like of shape (n, >=2)
        Descriptor centres ``x, y``.
    image_size : (height, width)
    vocabulary : array_like of shape (K, D)
    layout : str
    s, assignment, sigma, n_neighbors :
        As :func:`super_vector`.
    normalize : {"l2", "l2_per_cell", "none"}

    Returns
    -------
    ndarray of shape (n_cells * K * (D + 1),), float64
    """
    check_choice(normalize, "normalize", CELL_NORMALIZATIONS)
    x = np.asarray(descriptors, np.float64)
    check_frames(frames, x)
    gamma = super_vector_assignments(descriptors, vocabulary, assignment=assignment, sigma=sigma,
                                     n_neighbors=n_neighbors)
    cells = [pool_super_vector(x[idx], gamma[idx], vocabulary, s=s)
             for idx in pyramid_cells(frames, image_size, layout)]
    return normalize_cells(np.stack(cells), normalize)
