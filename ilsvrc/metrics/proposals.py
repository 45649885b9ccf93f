"""Quality of object proposals: recall, MABO and average recall against ground-truth boxes.

Definitions
-----------
For a ground-truth box ``g`` and an image's proposals ``P``, the *best overlap* is
``bo(g) = max_{p in P} IoU(g, p)`` (IoU with the devkit's +1 convention,
:func:`ilsvrc.boxes.iou`; 0 when nothing overlaps or ``P`` is empty).

- ``recall@t`` = fraction of ground-truth boxes with ``bo(g) >= t``.
- ABO of a class = mean of ``bo(g)`` over its ground-truth boxes; **MABO** = mean of the
  ABOs over classes (Uijlings et al., IJCV 2013, Section 5.1).
- **Average recall** (Hosang, Benenson, Dollar & Schiele, TPAMI 2016) =
  ``2 * integral_{0.5}^{1} recall@t dt``.  The integral is exact: for one box it is
  ``max(0, bo(g) - 0.5)``, so ``AR = 2 * mean_g max(0, bo(g) - 0.5)``.

"At N proposals" keeps each image's first N proposals (they are ranked best first).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..boxes import as_boxes, iou_matrix


def best_overlaps(proposals, gt_boxes) -> np.ndarray:
    """Best IoU of each ground-truth box with any proposal.

    Parameters
    ----------
    proposals : array_like of shape (P, 4)
    gt_boxes : array_like of shape (G, 4)

    Returns
    -------
    ndarray of shape (G,), float64
        In [0, 1]; 0 where no proposal overlaps (or there is none).
    """
    gt = as_boxes(gt_boxes, "gt_boxes").reshape(-1, 4)
    props = as_boxes(proposals, "proposals").reshape(-1, 4)
    if len(props) == 0 or len(gt) == 0:
        return np.zeros(len(gt))
    return np.maximum(iou_matrix(gt, props).max(axis=1), 0.0)


def recall_at(best: np.ndarray, threshold: float) -> float:
    """Fraction of best overlaps ``>= threshold``; NaN without boxes."""
    best = np.asarray(best, np.float64)
    return float(np.mean(best >= threshold)) if best.size else float("nan")


def average_recall(best: np.ndarray) -> float:
    """``2 * integral_{0.5}^{1} recall@t dt``, exactly; NaN without boxes."""
    best = np.asarray(best, np.float64)
    return float(2.0 * np.mean(np.clip(best - 0.5, 0.0, 0.5))) if best.size else float("nan")


def mean_average_best_overlap(best: np.ndarray, labels: np.ndarray) -> float:
    """MABO: the mean over classes of each class's mean best overlap."""
    best = np.asarray(best, np.float64)
    labels = np.asarray(labels)
    if best.size == 0:
        return float("nan")
    classes = np.unique(labels)
    return float(np.mean([best[labels == c].mean() for c in classes]))


@dataclass(frozen=True)
class ProposalQuality:
    """Proposal quality of a set of images at one proposal budget.

    Attributes
    ----------
    n_proposals : int or None
        The per-image budget (None: all proposals).
    boxes_per_image : float
        Mean number of proposals actually kept.
    recall_50, recall_70, mabo, average_recall : float
    """

    n_proposals: int | None
    boxes_per_image: float
    recall_50: float
    recall_70: float
    mabo: float
    average_recall: float

    def as_dict(self) -> dict:
        return {"n_proposals": self.n_proposals, "boxes_per_image": self.boxes_per_image,
                "recall_50": self.recall_50, "recall_70": self.recall_70, "mabo": self.mabo,
                "average_recall": self.average_recall}


def proposal_quality(proposals, gt_boxes, gt_labels, n_proposals: int | None = None) -> ProposalQuality:
    """Recall@0.5, recall@0.7, MABO and AR of per-image proposals.

    Parameters
    ----------
    proposals : sequence of array_like (P_i, 4)
        Each image's proposals, best first.
    gt_boxes : sequence of array_like (G_i, 4)
    gt_labels : sequence of array_like (G_i,)
        Class of each ground-truth box (for MABO).
    n_proposals : int, optional
        Keep only each image's first ``n_proposals``.
    """
    if not (len(proposals) == len(gt_boxes) == len(gt_labels)):
        raise ValueError(f"proposals, gt_boxes and gt_labels: expected one entry per image, got "
                         f"{len(proposals)}, {len(gt_boxes)} and {len(gt_labels)}")
    best, labels, kept = [], [], []
    for props, gt, lab in zip(proposals, gt_boxes, gt_labels):
        props = as_boxes(props, "proposals").reshape(-1, 4)
        if n_proposals is not None:
            props = props[:n_proposals]
        kept.append(len(props))
        best.append(best_overlaps(props, gt))
        labels.append(np.asarray(lab).ravel())
    best = np.concatenate(best) if best else np.zeros(0)
    labels = np.concatenate(labels) if labels else np.zeros(0)
    if len(best) != len(labels):
        raise ValueError("gt_labels: expected one label per ground-truth box")
    return ProposalQuality(n_proposals, float(np.mean(kept)) if kept else 0.0, recall_at(best, 0.5),
                           recall_at(best, 0.7), mean_average_best_overlap(best, labels), average_recall(best))


def recall_curve(proposals, gt_boxes, budgets) -> dict:
    """Average recall and recall@0.5/0.7 against the per-image proposal budget.

    Returns
    -------
    dict of str -> ndarray of shape (len(budgets),)
        ``"budget"``, ``"average_recall"``, ``"recall_50"``, ``"recall_70"``.
    """
    budgets = np.asarray(sorted(set(int(b) for b in budgets)), np.int64)
    labels = [np.zeros(len(np.asarray(g).reshape(-1, 4))) for g in gt_boxes]
    rows = [proposal_quality(proposals, gt_boxes, labels, int(b)) for b in budgets]
    return {"budget": budgets, "average_recall": np.array([r.average_recall for r in rows]),
            "recall_50": np.array([r.recall_50 for r in rows]), "recall_70": np.array([r.recall_70 for r in rows])}


def plot_recall_curves(curves: dict, path, title: str = "Proposal recall against the number of proposals") -> None:
    """Write a PNG of average recall (solid) and recall@0.7 (dashed) per method.

    ``curves`` maps a method name to the dict of :func:`recall_curve`.
    """
    from matplotlib.figure import (
        Figure,  # no pyplot: the caller's backend is left alone
    )

    fig = Figure(figsize=(6.4, 4.4))
    ax = fig.subplots()
    for i, (name, c) in enumerate(curves.items()):
        color = f"C{i}"
        ax.plot(c["budget"], c["average_recall"], "-", color=color, label=f"{name}: AR")
        ax.plot(c["budget"], c["recall_70"], "--", color=color, label=f"{name}: recall@0.7")
    ax.set_xscale("log")
    ax.set_xlabel("proposals per image (first N)")
    ax.set_ylabel("recall")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
