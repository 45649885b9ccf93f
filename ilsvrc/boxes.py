"""The one box convention of the suite, and adapters to the others.

Canonical boxes
---------------
A box is a row ``(x1, y1, x2, y2)`` of float64 *inclusive* pixel coordinates, exactly as
the ILSVRC annotations and submissions write them: the box covers the pixels
``x1..x2`` and ``y1..y2``, so its width is ``x2 - x1 + 1`` and its height
``y2 - y1 + 1`` (the PASCAL VOC "+1" convention).  Arrays of boxes have shape
``(..., 4)``.  Real-valued coordinates are legal and the "+1" is applied to them too,
as the official code does.

A box with ``x2 < x1`` or ``y2 < y1`` (reversed or empty) is legal in a submission; it
overlaps nothing and is scored as a miss.

Overlap
-------
For boxes ``a`` and ``b`` the devkit (``compute_overlap.m``, ``eval_detection.m``)
computes, in this order::

    iw = min(a.x2, b.x2) - max(a.x1, b.x1) + 1
    ih = min(a.y2, b.y2) - max(a.y1, b.y1) + 1
    if iw > 0 and ih > 0:
        ua  = (a.x2 - a.x1 + 1) * (a.y2 - a.y1 + 1) + (b.x2 - b.x1 + 1) * (b.y2 - b.y1 + 1) - iw * ih
        iou = iw * ih / ua

:func:`iou` evaluates the same expression in the same order, so that a threshold test
such as ``iou >= 0.5`` falls on the same side as in the official code, bit for bit.
Non-overlapping pairs get ``-1`` (the devkit's "no overlap" value).
"""
from __future__ import annotations

import numpy as np

NO_OVERLAP = -1.0
"""IoU value given to pairs whose intersection is empty (as ``compute_overlap.m``)."""


def as_boxes(boxes, name: str = "boxes") -> np.ndarray:
    """Return ``boxes`` as a float64 array of shape (..., 4), or raise ValueError."""
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.ndim == 0 or arr.shape[-1] != 4:
        raise ValueError(f"{name}: expected an array of shape (..., 4) (x1, y1, x2, y2), got shape {arr.shape}")
    return arr


def box_area(boxes) -> np.ndarray:
    """Areas ``(x2 - x1 + 1) * (y2 - y1 + 1)`` of boxes of shape (..., 4); shape (...,)."""
    b = as_boxes(boxes)
    return (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)


def iou(a, b) -> np.ndarray:
    """Intersection over union with the devkit's +1 convention, broadcasting over leading axes.

    Parameters
    ----------
    a, b : array_like of shape (..., 4)
        Canonical boxes; leading axes broadcast against each other.

    Returns
    -------
    ndarray of shape broadcast(a.shape[:-1], b.shape[:-1]), float64
        IoU in (0, 1], or ``NO_OVERLAP`` (-1) where the intersection is empty.

    Examples
    --------
    >>> iou([0, 0, 9, 9], [5, 0, 14, 9])   # 50 shared pixels of 150
    array(0.33333333)
    """
    a = as_boxes(a, "a")
    b = as_boxes(b, "b")
    iw = np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + 1
    ih = np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + 1
    inter = iw * ih
    ua = ((a[..., 2] - a[..., 0] + 1) * (a[..., 3] - a[..., 1] + 1)
          + (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1) - inter)
    overlap = (iw > 0) & (ih > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(overlap, inter / np.where(overlap, ua, 1.0), NO_OVERLAP)
    return out


def iou_matrix(a, b) -> np.ndarray:
    """All-pairs IoU: ``a`` (n, 4) against ``b`` (m, 4) gives (n, m); see :func:`iou`."""
    a = as_boxes(a, "a").reshape(-1, 4)
    b = as_boxes(b, "b").reshape(-1, 4)
    return iou(a[:, None, :], b[None, :, :])


def clip_boxes(boxes, height: int, width: int) -> np.ndarray:
    """Canonical boxes (n, 4) clipped to the pixels of a ``height`` x ``width`` image; a copy."""
    out = as_boxes(boxes).reshape(-1, 4).copy()
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, width - 1)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, height - 1)
    return out


def is_reversed(boxes) -> np.ndarray:
    """True where a box is reversed or empty (``x2 < x1`` or ``y2 < y1``); shape (...,)."""
    b = as_boxes(boxes)
    return (b[..., 2] < b[..., 0]) | (b[..., 3] < b[..., 1])


def det_iou_threshold(gt_boxes) -> np.ndarray:
    """Size-dependent IoU threshold of ILSVRC detection (2013+), per ground-truth box.

    ``thr = min(0.5, w * h / ((w + 10) * (h + 10)))`` with ``w, h`` the +1 width and
    height: objects smaller than about 25 x 25 pixels get a looser threshold.  Evaluated
    in the devkit's order of operations, so that it equals the cached thresholds of the
    2015 ground-truth ``.mat`` bit for bit.

    Parameters
    ----------
    gt_boxes : array_like of shape (n, 4)

    Returns
    -------
    ndarray of shape (n,), float64
    """
    b = as_boxes(gt_boxes)
    w = b[..., 2] - b[..., 0] + 1
    h = b[..., 3] - b[..., 1] + 1
    return np.minimum(0.5, (w * h) / ((w + 10) * (h + 10)))


def xywh_to_xyxy(boxes) -> np.ndarray:
    """Convert ``(x, y, width, height)`` with width counted in pixels to canonical boxes.

    ``x2 = x + width - 1`` and ``y2 = y + height - 1`` (inclusive corners).
    """
    b = as_boxes(boxes)
    out = b.copy()
    out[..., 2] = b[..., 0] + b[..., 2] - 1
    out[..., 3] = b[..., 1] + b[..., 3] - 1
    return out


def xyxy_to_xywh(boxes) -> np.ndarray:
    """Inverse of :func:`xywh_to_xyxy`."""
    b = as_boxes(boxes)
    out = b.copy()
    out[..., 2] = b[..., 2] - b[..., 0] + 1
    out[..., 3] = b[..., 3] - b[..., 1] + 1
    return out


def exclusive_to_inclusive(boxes) -> np.ndarray:
    """Convert half-open boxes ``[x1, x2) x [y1, y2)`` (OpenCV/COCO style corners) to canonical."""
    b = as_boxes(boxes).copy()
    b[..., 2:] -= 1
    return b


def inclusive_to_exclusive(boxes) -> np.ndarray:
    """Inverse of :func:`exclusive_to_inclusive`."""
    b = as_boxes(boxes).copy()
    b[..., 2:] += 1
    return b
