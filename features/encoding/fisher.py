r"""Improved Fisher vector (Perronnin, Sanchez & Mensink 2010), equal to VLFeat's ``vl_fisher``.

With posteriors ``q_ik`` (computed by matrix products; entries below 1e-6 are skipped,
and components with priors below 1e-6 take no share of the posteriors and give zero
blocks, as VLFeat does)

.. math::  u_k = \frac{1}{n\sqrt{\pi_k}} \sum_i q_{ik} \frac{x_i - \mu_k}{\sigma_k},\qquad
           v_k = \frac{1}{n\sqrt{2\pi_k}} \sum_i q_{ik}
           \left[\left(\frac{x_i - \mu_k}{\sigma_k}\right)^2 - 1\right]

laid out as ``[u_1 .. u_K, v_1 .. v_K]`` (2KD values, VLFeat's layout and sign), then
(``improved``) the signed square root and L2 normalisation (norm floored at 1e-12).
In float64 the sums come from three matrix products (``q^T 1``, ``q^T x``,
``q^T x^2``); in float32 that expansion of ``(x - mu)^2`` would cancel badly, so the
residuals are accumulated over the non-zero posteriors only (they are sparse), as
VLFeat does.
scikit-image's ``fisher_vector`` differs: it prepends K prior gradients and its
variance block has the opposite sign; :func:`from_skimage_layout` converts.
"""
from __future__ import annotations

import numpy as np

from ..codebook import relative_likelihoods, stacked_moments
from .normalize import power_l2
from .pyramid import pyramid_cells

_FV_CHUNK = 4096
_SPARSE_LIMIT = 0.02  # share of non-zero posteriors above which the dense products are faster
_DENSE_CONDITION = 64.0  # float32 dense products: largest (mu - c)^2 / sigma^2 they are trusted with


def _fisher_inputs(descriptors, means, covariances, priors):
    """Descriptors as contiguous float32/float64 (n, D); GMM parameters as float64 (priors below
    1e-6 set to 0); shapes checked."""
    x = np.asarray(descriptors)
    dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    x = np.ascontiguousarray(x, dtype)
    mu = np.asarray(means, np.float64)
    if x.ndim != 2 or x.shape[1] != mu.shape[1]:
        raise ValueError(f"descriptors: expected shape (n, {mu.shape[1]}), got {x.shape}")
    pi = np.asarray(priors, np.float64)
    # VLFeat (vl_get_gmm_data_posteriors) gives a component of prior below 1e-6 the log-weight
    # -inf: it takes no share of any posterior, and vl_fisher_encode skips it
    return x, mu, np.asarray(covariances, np.float64), np.where(pi < 1e-6, 0.0, pi)


def fisher_vector(descriptors, means, covariances, priors, *, improved: bool = True) -> np.ndarray:
    """Fisher vector of one image, equal to VLFeat's ``vl_fisher`` (see the module docstring).

    Parameters
    ----------
    descriptors : array_like of shape (n, D)
        float32 or float64; the result has the same dtype.
    means, covariances : array_like of shape (K, D)
    priors : array_like of shape (K,)
    improved : bool
        Signed square root and L2 normalisation (``vl_fisher(..., 'Improved')``).

    Returns
    -------
    ndarray of shape (2 * K * D,)
        ``[u_1 .. u_K, v_1 .. v_K]``.
    """
    x, mu, var, pi = _fisher_inputs(descriptors, means, covariances, priors)
    dtype = x.dtype
    k, d = mu.shape
    n = len(x)
    if n == 0:
        return np.zeros(2 * k * d, dtype)
    stacked = stacked_moments(x)
    weights, totals, _ = relative_likelihoods(x, mu, var, pi, stacked)
    return _fisher_from_likelihoods(x, weights, totals, mu, var, pi, improved, stacked)


def _fisher_from_likelihoods(x, weights, totals, mu, var, pi, improved, stacked):
    """The Fisher vector of descriptors ``x`` given their unnormalised posteriors (overwritten)
    and ``stacked = [x^2, x]``."""
    dtype = x.dtype
    k, d = mu.shape
    n = len(x)
    if n == 0:
        return np.zeros(2 * k * d, dtype)
    sigma = np.sqrt(var)
    # posteriors, with those below 1e-6 (and components of prior below 1e-6) dropped, as VLFeat
    q = np.multiply(weights, (1.0 / totals)[:, None].astype(weights.dtype), out=weights)
    kept = q >= 1e-6
    if pi.min() < 1e-6:
        kept[:, pi < 1e-6] = False
    q *= kept
    # Sparse posteriors: accumulate residuals pair by pair (exact in float32, as VLFeat).
    # Dense ones (broad components): the moments of every component by one matrix product,
    # q^T [x^2, x, 1], reusing the left factor of the log-densities, and
    # sum q (x - mu)^2 = S2 - 2 mu S1 + mu^2 S0.  In float32 the expansion cancels about
    # eps * mu^2 / sigma^2 of the result, so the rare components that are tight and far from
    # the origin (ratio above _DENSE_CONDITION; descriptors are PCA-centred or non-negative
    # and small) are accumulated pair by pair instead.
    if dtype == np.float64 or np.count_nonzero(kept) > _SPARSE_LIMIT * q.size:
        moments = (q.T @ stacked).astype(np.float64)            # [S2, S1, S0] per component
        s2, s1, s0 = moments[:, :d], moments[:, d:2 * d], moments[:, 2 * d]
        u = (s1 - s0[:, None] * mu) / sigma
        v = (s2 - 2 * mu * s1 + s0[:, None] * mu * mu) / var - s0[:, None]
        if dtype == np.float32:
            tight = (mu * mu / var).max(axis=1) > _DENSE_CONDITION
            if tight.any():
                u[tight] = 0
                v[tight] = 0
                _accumulate_residuals(x, q[:, tight], mu[tight], sigma[tight], u, v, np.flatnonzero(tight))
    else:
        u = np.zeros((k, d))
        v = np.zeros((k, d))
        _accumulate_residuals(x, q, mu, sigma, u, v, np.arange(k))
    with np.errstate(divide="ignore", invalid="ignore"):
        u /= (n * np.sqrt(pi))[:, None]
        v /= (n * np.sqrt(2 * pi))[:, None]
    u[pi < 1e-6] = 0
    v[pi < 1e-6] = 0
    out = np.concatenate([u.ravel(), v.ravel()])
    if improved:
        out = power_l2(out)
    return out.astype(dtype)


def _accumulate_residuals(x, q, mu, sigma, u, v, rows_of) -> None:
    """Add ``sum_i q_ik (x_i - mu_k) / sigma_k`` to ``u[rows_of[k]]`` and
    ``sum_i q_ik ((x_i - mu_k)^2 / sigma_k^2 - 1)`` to ``v[rows_of[k]]`` over the non-zero
    posteriors ``q`` (n, k'), residual by residual in the dtype of ``x`` (as VLFeat does;
    exact for float32), in row chunks."""
    k = mu.shape[0]
    inv_sigma = (1.0 / sigma).astype(x.dtype)
    mu_x = mu.astype(x.dtype)
    for start in range(0, len(x), _FV_CHUNK):
        block = q[start: start + _FV_CHUNK]
        flat = np.flatnonzero(block.ravel())        # faster than np.nonzero on 2-D
        if not len(flat):
            continue
        rows, comps = np.divmod(flat, k)
        order = np.argsort(comps, kind="stable")
        rows, comps = rows[order], comps[order]
        weight = block[rows, comps][:, None]
        diff = (x[start + rows] - mu_x[comps]) * inv_sigma[comps]
        starts = np.flatnonzero(np.r_[True, comps[1:] != comps[:-1]])
        used = rows_of[comps[starts]]
        u[used] += np.add.reduceat(weight * diff, starts, axis=0)
        v[used] += np.add.reduceat(weight * (diff * diff - 1), starts, axis=0)


def from_skimage_layout(fv_skimage, n_components: int, dim: int) -> np.ndarray:
    """Convert scikit-image's ``fisher_vector`` (K prior gradients, then means, then
    variances of the opposite sign) to VLFeat's layout ``[u; v]`` (drops the priors)."""
    fv = np.asarray(fv_skimage)
    k, d = n_components, dim
    if fv.shape != (k + 2 * k * d,):
        raise ValueError(f"expected {k + 2 * k * d} values (K + 2KD), got {fv.shape}")
    return np.concatenate([fv[k: k + k * d], -fv[k + k * d:]])


def fisher_vector_pyramid(descriptors, frames, image_size, layout, means, covariances, priors, *,
                          improved: bool = True) -> np.ndarray:
    """Per-cell Fisher vectors of a spatial pyramid, concatenated; the posteriors of each
    descriptor are computed once for all the cells it falls in.  Equal to
    ``spatial_pyramid(lambda d: fisher_vector(d, ...), ...)``."""
    x, mu, var, pi = _fisher_inputs(descriptors, means, covariances, priors)
    dtype = x.dtype
    stacked = stacked_moments(x)
    if len(x):
        weights, totals, _ = relative_likelihoods(x, mu, var, pi, stacked)
    else:
        weights, totals = np.zeros((0, len(pi)), dtype), np.zeros(0, dtype)
    return np.concatenate([_fisher_from_likelihoods(x[idx], weights[idx], totals[idx], mu, var, pi, improved,
                                                    stacked[idx])
                           for idx in pyramid_cells(frames, image_size, layout)])
