"""Classification + localization (CLS-LOC) error of ILSVRC 2011-2017.

Rules (2012 ``eval_localization_flat.m``; 2013+ ``eval_clsloc.m``)
-----------------------------------------------------------------
A guess ``(l_j, b_j)`` is correct for ground-truth label g iff ``l_j == g`` and
``max_m IoU(b_j, z_m) >= 0.5`` over the ground-truth boxes ``z_m`` *of class g* in the
image (the +1 IoU of :mod:`ilsvrc.boxes`, inclusive threshold, no size-dependent
relaxation).  The image's top-k error is the fraction of its ground-truth labels with no
correct guess among the first k; the reported error is the mean over images.

* 2012 rules: every image counts.
* 2013+ rules: blacklisted images count 0 and the denominator becomes
  ``N - |blacklist|``: the same as dropping them.  The classification error reported
  alongside is still over all images.
"""
from __future__ import annotations

import numpy as np

from ..boxes import iou
from ..ground_truth import ObjectTable
from .classification import K_MAX, _validate

LOC_IOU_THRESHOLD = 0.5


def guess_hits(pred_labels, pred_boxes, objects: ObjectTable, threshold: float = LOC_IOU_THRESHOLD) -> np.ndarray:
    """Which guesses localise an object of their own class.

    Parameters
    ----------
    pred_labels : array_like of shape (n_images, n_guesses), int
    pred_boxes : array_like of shape (n_images, n_guesses, 4), float
    objects : ObjectTable
        Ground-truth boxes of the same images.
    threshold : float

    Returns
    -------
    ndarray of shape (n_images, n_guesses), bool
        ``hit[i, j]``: some object of image i has label ``pred_labels[i, j]`` and IoU >=
        ``threshold`` with ``pred_boxes[i, j]``.
    """
    labels = np.asarray(pred_labels, np.int64)
    boxes = np.asarray(pred_boxes, np.float64)
    n_images, n_guesses = labels.shape
    if objects.n_images != n_images:
        raise ValueError(f"the ground truth has {objects.n_images} images, the predictions {n_images}")
    img = objects.image
    same_label = labels[img] == objects.label[:, None]  # (n_objects, n_guesses)
    overlap = iou(boxes[img], objects.box[:, None, :])
    good = same_label & (overlap >= threshold)
    hit = np.zeros((n_images, n_guesses), bool)
    for j in range(n_guesses):
        hit[:, j] = np.bincount(img, weights=good[:, j], minlength=n_images) > 0
    return hit


def localization_errors(pred_labels, pred_boxes, gt_labels, objects: ObjectTable, k_max: int = K_MAX,
                        threshold: float = LOC_IOU_THRESHOLD) -> np.ndarray:
    """Per-image CLS-LOC top-k errors for k = 1..k_max (no blacklist applied).

    Parameters
    ----------
    pred_labels : array_like of shape (n_images, n_guesses), int
    pred_boxes : array_like of shape (n_images, n_guesses, 4), float
    gt_labels : array_like of shape (n_images, n_labels), int
        0 = no label.
    objects : ObjectTable
    k_max : int
    threshold : float

    Returns
    -------
    ndarray of shape (n_images, k_max), float64
    """
    pred, gt = _validate(pred_labels, gt_labels)
    boxes = np.asarray(pred_boxes, np.float64)
    g = min(k_max, pred.shape[1])
    pred, boxes = pred[:, :g], boxes[:, :g]
    hit = guess_hits(pred, boxes, objects, threshold)
    correct = (pred[:, None, :] == gt[:, :, None]) & hit[:, None, :] & (gt[:, :, None] > 0)
    first_rank = np.where(correct.any(axis=2), correct.argmax(axis=2), k_max)
    ks = np.arange(1, k_max + 1)
    missed = (first_rank[:, :, None] >= ks[None, None, :]) & (gt[:, :, None] > 0)
    return missed.sum(axis=1) / (gt > 0).sum(axis=1)[:, None]


def localization_error(per_image: np.ndarray, blacklist=None) -> np.ndarray:
    """Reported CLS-LOC errors from per-image errors.

    Parameters
    ----------
    per_image : ndarray of shape (n_images, k_max)
    blacklist : array_like of int, optional
        0-based positions of blacklisted images (2013+ rules); ``None`` for 2012 rules.

    Returns
    -------
    ndarray of shape (k_max,)
    """
    per_image = np.asarray(per_image, np.float64)
    if blacklist is None or len(blacklist) == 0:
        return per_image.mean(axis=0)
    keep = np.ones(len(per_image), bool)
    keep[np.asarray(blacklist, np.int64)] = False
    # eval_clsloc: blacklisted images add 0 error and leave the denominator.
    return per_image[keep].sum(axis=0) / keep.sum()
