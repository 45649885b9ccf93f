"""Classification metrics of ILSVRC 2010-2017: flat top-k error and hierarchical cost.

Flat error (``eval_flat.m``; the cls part of ``eval_clsloc.m``)
    For image i with ground-truth labels ``g_1..g_n`` (non-zero entries of its line) and
    guesses ``l_1..l_5``, the top-k error is ``(1/n) * sum_m [g_m not in {l_1..l_k}]``;
    the reported error is the mean over all images.  Duplicated guesses are not
    penalised, a guess of 0 never matches.

Hierarchical cost (ILSVRC2010/2011 ``eval_hie.m``)
    With a cost matrix ``C[a, b]`` (cost of guessing a when the truth is b: the height of
    their lowest common ancestor), per image ``(1/n) * sum_m min_{j<=k} C[l_j, g_m]``; a
    missing guess (0) is a dummy class whose cost to everything is ``max(C)``.
"""
from __future__ import annotations

import numpy as np

K_MAX = 5


def _validate(pred, gt):
    pred = np.asarray(pred)
    gt = np.asarray(gt)
    if pred.ndim != 2 or gt.ndim != 2 or len(pred) != len(gt):
        raise ValueError(f"expected pred (n_images, n_guesses) and gt (n_images, n_labels), "
                         f"got {pred.shape} and {gt.shape}")
    if not (gt > 0).any(axis=1).all():
        raise ValueError("every image needs at least one non-zero ground-truth label")
    return pred.astype(np.int64), gt.astype(np.int64)


def _pad_guesses(pred: np.ndarray, k_max: int) -> np.ndarray:
    out = np.zeros((len(pred), k_max), np.int64)
    w = min(k_max, pred.shape[1])
    out[:, :w] = pred[:, :w]
    return out


def flat_errors(pred, gt, k_max: int = K_MAX) -> np.ndarray:
    """Per-image flat top-k errors for k = 1..k_max.

    Parameters
    ----------
    pred : array_like of shape (n_images, n_guesses), int
        Guessed ids, best first; 0 = no guess.  Guesses beyond ``k_max`` are ignored.
    gt : array_like of shape (n_images, n_labels), int
        Ground-truth ids; 0 = no label.
    k_max : int

    Returns
    -------
    ndarray of shape (n_images, k_max), float64
        Column ``k-1`` holds each image's top-k error in [0, 1].
    """
    pred, gt = _validate(pred, gt)
    pred = _pad_guesses(pred, k_max)
    # first_rank[i, m]: 0-based rank of the first guess equal to gt[i, m], k_max if none.
    hits = (pred[:, None, :] == gt[:, :, None]) & (gt[:, :, None] > 0)
    first_rank = np.where(hits.any(axis=2), hits.argmax(axis=2), k_max)
    n_labels = (gt > 0).sum(axis=1)
    ks = np.arange(1, k_max + 1)
    missed = (first_rank[:, :, None] >= ks[None, None, :]) & (gt[:, :, None] > 0)
    return missed.sum(axis=1) / n_labels[:, None]


def top_k_error(pred, gt, k: int = 5) -> float:
    """Flat top-k error (mean of :func:`flat_errors` column k-1)."""
    return float(flat_errors(pred, gt, k_max=k)[:, k - 1].mean())


def hierarchical_costs(pred, gt, cost_matrix, k_max: int = K_MAX) -> np.ndarray:
    """Per-image hierarchical costs for k = 1..k_max.

    Parameters
    ----------
    pred : array_like of shape (n_images, n_guesses), int
        Guessed ids 1..n_classes, 0 = no guess (costs ``max(cost_matrix)``).
    gt : array_like of shape (n_images, n_labels), int
    cost_matrix : array_like of shape (n_classes, n_classes)
        ``cost_matrix[a-1, b-1]`` = cost of guessing a for truth b.

    Returns
    -------
    ndarray of shape (n_images, k_max), float64
    """
    pred, gt = _validate(pred, gt)
    cost = np.asarray(cost_matrix, np.float64)
    n = cost.shape[0]
    if cost.ndim != 2 or cost.shape[1] != n:
        raise ValueError(f"cost_matrix: expected a square matrix, got shape {cost.shape}")
    if pred.max(initial=0) > n or gt.max(initial=0) > n or pred.min(initial=0) < 0:
        raise ValueError(f"class ids must lie in 1..{n} (the cost matrix size)")
    # Row/column 0 is the dummy class: max cost to everything, 0 to itself.
    ext = np.full((n + 1, n + 1), cost.max())
    ext[1:, 1:] = cost
    ext[0, 0] = 0.0
    pred = _pad_guesses(pred, k_max)
    per_guess = ext[pred[:, None, :], gt[:, :, None]]  # (n_images, n_labels, k_max)
    best = np.minimum.accumulate(per_guess, axis=2)
    valid = gt > 0
    total = (best * valid[:, :, None]).sum(axis=1)
    return total / valid.sum(axis=1)[:, None]


def mean_per_class_accuracy(predicted, true, n_classes: int | None = None) -> float:
    """Mean over classes of the fraction of each class's images predicted correctly
    (the Caltech-101 measure); classes without test images are left out."""
    predicted = np.asarray(predicted)
    true = np.asarray(true)
    if predicted.shape != true.shape:
        raise ValueError(f"predicted {predicted.shape} and true {true.shape} labels differ in shape")
    n = int(max(true.max(initial=-1), predicted.max(initial=-1)) + 1) if n_classes is None else n_classes
    counts = np.bincount(true, minlength=n)
    hits = np.bincount(true[predicted == true], minlength=n)
    present = counts > 0
    return float(np.mean(hits[present] / counts[present]))
