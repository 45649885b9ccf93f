r"""Visual vocabularies: k-means codebooks and diagonal Gaussian mixtures.

k-means
    Lloyd's algorithm through faiss (exact nearest-centre search as matrix products,
    about 7x faster than VLFeat's Elkan k-means on this machine kind), seeded, on a
    sample of descriptors.  :func:`assign_nearest` is the same exact search in numpy;
    :func:`nearest_words` gives the few nearest words of each descriptor (the kernel
    codebook, LLC and soft super-vector coding need them).

Gaussian mixture (diagonal covariances)
    EM written as matrix products.  With ``Lambda = 1 / sigma^2`` (K x D), the
    log-density of every descriptor under every component is

    .. math::  \log p(x \mid k) = \log\pi_k - \tfrac12 \sum_d \log(2\pi\sigma^2_{kd})
               - \tfrac12 \left( x^2 \Lambda_k^\top - 2\, x (\mu_k \Lambda_k)^\top
               + \mu_k^2 \Lambda_k^\top \right)

    i.e. two GEMMs for all pairs; posteriors by a log-sum-exp with the exponent clamped
    at -80 (float32 ``exp`` of very negative numbers gives denormals that slow the next
    products down many times).  The M-step is three more GEMMs (``gamma^T 1``,
    ``gamma^T x``, ``gamma^T x^2``).  Variances are floored at ``covariance_floor`` times
    the largest per-dimension variance of the data (VLFeat's default bound is
    ``1e-4 * max variance`` too); a component that loses all its data is re-seeded on a
    random descriptor.  Initialisation from k-means (means = centres, variances and
    priors of the clusters), deterministic for a seed.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ._validation import check_positive_int

log = logging.getLogger(__name__)
_EXP_FLOOR = -80.0


def _as_data(x, name="descriptors") -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"{name}: expected a non-empty array of shape (n, d), got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return np.ascontiguousarray(arr)


def squared_distances(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """All squared Euclidean distances ``||x_i - c_k||^2`` as one GEMM; (n, K), clipped at 0."""
    d = (np.einsum("ij,ij->i", x, x)[:, None] - 2 * (x @ centres.T)
         + np.einsum("ij,ij->i", centres, centres)[None, :])
    return np.maximum(d, 0, out=d)


def assign_nearest(x, centres, *, chunk: int = 65536) -> np.ndarray:
    """Index of the nearest centre of each row of ``x`` (exact); (n,) int64."""
    x = _as_data(x)
    centres = np.asarray(centres, x.dtype)
    out = np.empty(len(x), np.int64)
    c2 = np.einsum("ij,ij->i", centres, centres)
    for start in range(0, len(x), chunk):
        block = x[start: start + chunk]
        out[start: start + chunk] = np.argmin(c2[None, :] - 2 * (block @ centres.T), axis=1)
    return out


def nearest_words(x, vocabulary, n_neighbors: int, *, chunk_bytes: int = 1 << 25) -> tuple[np.ndarray, np.ndarray]:
    """The ``n_neighbors`` nearest words of every row of ``x`` (exact, by row chunks of the
    distance matrix so that memory stays at about ``chunk_bytes``).

    Parameters
    ----------
    x : array_like of shape (n, D)
        float32 (searched by faiss, about 4x faster) or float64 (numpy); distances are
        computed in that dtype.
    vocabulary : array_like of shape (K, D)
    n_neighbors : int
        At most K.

    Returns
    -------
    indices : ndarray of shape (n, n_neighbors), int64
        Word indices of each row, nearest first.
    squared_distances : ndarray of shape (n, n_neighbors), same dtype as ``x``
    """
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    words = np.asarray(vocabulary, x.dtype)
    if x.ndim != 2 or words.ndim != 2 or x.shape[1] != words.shape[1]:
        raise ValueError(f"descriptors: expected shape (n, {words.shape[-1]}) to match the vocabulary "
                         f"{words.shape}, got {x.shape}")
    m = check_positive_int(n_neighbors, "n_neighbors")
    if m > len(words):
        raise ValueError(f"n_neighbors={m} exceeds the vocabulary size ({len(words)})")
    if x.dtype == np.float32 and len(x):
        import faiss

        dist, indices = faiss.knn(np.ascontiguousarray(x), np.ascontiguousarray(words), m)
        return indices.astype(np.int64), np.maximum(dist, 0)
    indices = np.empty((len(x), m), np.int64)
    dist = np.empty((len(x), m), x.dtype)
    rows = max(64, chunk_bytes // (x.itemsize * len(words)))
    for start in range(0, len(x), rows):
        d2 = squared_distances(x[start: start + rows], words)
        near = np.argpartition(d2, m - 1, axis=1)[:, :m] if m < len(words) else np.broadcast_to(
            np.arange(m), d2.shape).copy()
        near_d2 = np.take_along_axis(d2, near, axis=1)
        order = np.argsort(near_d2, axis=1, kind="stable")
        indices[start: start + rows] = np.take_along_axis(near, order, axis=1)
        dist[start: start + rows] = np.take_along_axis(near_d2, order, axis=1)
    return indices, dist


def kmeans(x, n_clusters: int, *, n_iter: int = 25, random_state: int | None = 0) -> np.ndarray:
    """k-means centres of ``x`` (faiss, exact assignments, k-means++-free random init).

    Parameters
    ----------
    x : array_like of shape (n, d)
    n_clusters : int
    n_iter : int
        Lloyd iterations.
    random_state : int or None

    Returns
    -------
    ndarray of shape (n_clusters, d), float32
    """
    import faiss

    x = np.ascontiguousarray(_as_data(x), np.float32)
    k = check_positive_int(n_clusters, "n_clusters")
    if k > len(x):
        raise ValueError(f"n_clusters={k} exceeds the number of descriptors ({len(x)})")
    seed = 1234 if random_state is None else int(random_state)
    km = faiss.Kmeans(x.shape[1], k, niter=check_positive_int(n_iter, "n_iter"), seed=seed, verbose=False,
                      max_points_per_centroid=max(256, -(-len(x) // k)), min_points_per_centroid=1)
    km.train(x)
    return np.array(km.centroids, np.float32)


@dataclass(frozen=True)
class GaussianMixture:
    """A diagonal Gaussian mixture.

    Attributes
    ----------
    means : ndarray of shape (K, D)
    covariances : ndarray of shape (K, D)
        Diagonal variances.
    priors : ndarray of shape (K,)
    log_likelihood : list of float
        Mean log-likelihood per descriptor after each EM iteration.
    """

    means: np.ndarray
    covariances: np.ndarray
    priors: np.ndarray
    log_likelihood: list

    @property
    def n_components(self) -> int:
        return len(self.priors)


def stacked_moments(x: np.ndarray) -> np.ndarray:
    """``[x^2, x, 1]``, shape (n, 2D + 1), the left factor of :func:`log_densities` (the
    Fisher vector's moment products reuse it: ``q^T [x^2, x, 1]`` holds the second, first
    and zeroth moments of every component)."""
    n, d = x.shape
    out = np.empty((n, 2 * d + 1), x.dtype)
    np.multiply(x, x, out=out[:, :d])
    out[:, d:2 * d] = x
    out[:, 2 * d] = 1
    return out


def log_densities(x: np.ndarray, means: np.ndarray, covariances: np.ndarray, priors: np.ndarray,
                  stacked: np.ndarray | None = None) -> np.ndarray:
    """``log pi_k + log N(x_i; mu_k, diag sigma_k^2)`` for all pairs, by one matrix product; (n, K).

    ``[x^2, x, 1] @ [-Lambda / 2; mu Lambda; c]^T`` with a per-component constant ``c``, in the
    dtype of ``x`` (``stacked`` may pass :func:`stacked_moments` of ``x`` when the caller has it).
    """
    dtype = x.dtype
    inv = 1.0 / covariances
    const = (np.log(np.maximum(priors, 1e-300)) - 0.5 * np.log(2 * np.pi * covariances).sum(axis=1)
             - 0.5 * np.einsum("kd,kd->k", means * means, inv)).astype(dtype)
    weights = np.concatenate([-0.5 * inv, means * inv, const[:, None]], axis=1).astype(dtype)   # (K, 2D + 1)
    return (stacked_moments(x) if stacked is None else stacked) @ weights.T


def relative_likelihoods(x, means, covariances, priors, stacked: np.ndarray | None = None):
    """``exp(log-density - row maximum)`` for all pairs, and its row sums.

    Returns
    -------
    weights : ndarray of shape (n, K)
        Unnormalised posteriors (the largest of each row is 1); exponents are clamped at
        -80 so that float32 never produces denormals.
    totals : ndarray of shape (n,)
        Row sums (posteriors are ``weights / totals[:, None]``).
    top : ndarray of shape (n,)
        Row maxima of the log-densities (the mean log-likelihood is
        ``mean(top + log(totals))``).
    """
    x = _as_data(x)
    logp = log_densities(x, np.asarray(means, np.float64), np.asarray(covariances, np.float64),
                         np.asarray(priors, np.float64), stacked)
    top = logp.max(axis=1)
    np.subtract(logp, top[:, None], out=logp)
    np.maximum(logp, _EXP_FLOOR, out=logp)
    np.exp(logp, out=logp)
    return logp, logp.sum(axis=1), top


def posteriors(x, means, covariances, priors, *, return_log_likelihood: bool = False):
    """Posterior probability of each component for each row of ``x``; (n, K), rows sum to 1."""
    weights, totals, top = relative_likelihoods(x, means, covariances, priors)
    weights /= totals[:, None]
    if return_log_likelihood:
        return weights, float(np.mean(top + np.log(totals)))
    return weights


def _em_statistics(features: np.ndarray, d: int, means, covariances, priors, chunk: int = 4096):
    """One E-step and the M-step sums, in row chunks that stay in cache.

    ``features`` is ``[x^2, x]`` (n, 2D).  Returns ``(N_k, sum_i gamma_ik x_i,
    sum_i gamma_ik x_i^2, mean log-likelihood)``, the sums in float64.
    """
    dtype = features.dtype
    inv = 1.0 / covariances
    const = (np.log(np.maximum(priors, 1e-300)) - 0.5 * np.log(2 * np.pi * covariances).sum(axis=1)
             - 0.5 * np.einsum("kd,kd->k", means * means, inv)).astype(dtype)
    weights = np.concatenate([-0.5 * inv, means * inv], axis=1).astype(dtype).T     # (2D, K)
    k = len(priors)
    nk = np.zeros(k)
    sums = np.zeros((k, 2 * d))
    ll = 0.0
    for start in range(0, len(features), chunk):
        f = features[start: start + chunk]
        logp = f @ weights
        logp += const
        top = logp.max(axis=1)
        np.subtract(logp, top[:, None], out=logp)
        np.maximum(logp, _EXP_FLOOR, out=logp)
        np.exp(logp, out=logp)
        total = logp.sum(axis=1)
        logp /= total[:, None]
        ll += float(np.sum(top + np.log(total)))
        nk += logp.sum(axis=0, dtype=np.float64)
        sums += logp.T @ f
    return nk, sums[:, d:], sums[:, :d], ll / len(features)


def fit_gmm(x, n_components: int, *, max_iter: int = 20, tol: float = 1e-6, covariance_floor: float = 1e-4,
            init_means=None, random_state: int | None = 0, kmeans_iter: int = 10,
            verbose: bool = False) -> GaussianMixture:
    """Fit a diagonal GMM by EM (see the module docstring).

    Parameters
    ----------
    x : array_like of shape (n, D)
        Descriptors (float32 keeps the products fast; float64 is exact-er).
    n_components : int
    max_iter : int
        EM iterations at most.
    tol : float
        Stop when the mean log-likelihood improves by less than ``tol`` (relative).
    covariance_floor : float
        Variances are at least this times the largest per-dimension data variance.
    init_means : array_like of shape (K, D), optional
        Initial means (default: :func:`kmeans` with ``kmeans_iter`` iterations).
    random_state : int or None
    verbose : bool
        Log (INFO) each iteration's mean log-likelihood, its duration and the time left.

    Returns
    -------
    GaussianMixture
    """
    import time

    x = _as_data(x)
    k = check_positive_int(n_components, "n_components")
    if k > len(x):
        raise ValueError(f"n_components={k} exceeds the number of descriptors ({len(x)})")
    rng = np.random.default_rng(random_state)
    floor = covariance_floor * float(x.var(axis=0).max())
    floor = max(floor, np.finfo(np.float32).tiny * 1e6)
    means = np.asarray(kmeans(x, k, n_iter=kmeans_iter, random_state=random_state) if init_means is None
                       else init_means, np.float64)
    labels = assign_nearest(x, means.astype(x.dtype))
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    sums = np.zeros((k, x.shape[1]))
    sq = np.zeros((k, x.shape[1]))
    np.add.at(sums, labels, x)
    np.add.at(sq, labels, np.asarray(x, np.float64) ** 2)
    safe = np.maximum(counts, 1)[:, None]
    covs = np.maximum(sq / safe - (sums / safe) ** 2, floor)
    covs[counts < 2] = x.var(axis=0)
    priors = np.maximum(counts, 1) / np.maximum(counts, 1).sum()
    history = []
    features = np.concatenate([x * x, x], axis=1)          # E-step: [x^2, x] @ weights^T
    d = x.shape[1]
    n_iter = check_positive_int(max_iter, "max_iter")
    started = time.perf_counter()
    for it in range(n_iter):
        nk, s1, s2, ll = _em_statistics(features, d, means, covs, priors)
        history.append(ll)
        if verbose:
            elapsed = time.perf_counter() - started
            log.info("GMM EM iteration %d/%d: mean log-likelihood %.4f (%.1f s/iteration, at most %.0f s left)",
                     it + 1, n_iter, ll, elapsed / (it + 1), elapsed / (it + 1) * (n_iter - it - 1))
        empty = nk < 1e-8 * len(x)
        nk_safe = np.maximum(nk, 1e-12)[:, None]
        means = s1 / nk_safe
        covs = np.maximum(s2 / nk_safe - means ** 2, floor)
        priors = nk / nk.sum()
        if empty.any():  # re-seed empty components on random descriptors
            pick = rng.choice(len(x), int(empty.sum()), replace=False)
            means[empty] = x[pick]
            covs[empty] = np.maximum(x.var(axis=0), floor)
            priors[empty] = 1.0 / len(x)
            priors /= priors.sum()
            log.info("GMM: re-seeded %d empty components at iteration %d", int(empty.sum()), it)
        if len(history) > 1 and abs(history[-1] - history[-2]) < tol * abs(history[-2]):
            break
    history.append(_em_statistics(features, d, means, covs, priors)[3])
    dtype = x.dtype
    return GaussianMixture(means.astype(dtype), covs.astype(dtype), priors.astype(dtype), history)
