"""Evaluate submission files: the three ILSVRC tasks from paths to results.

These functions read the files (strictly, see :mod:`ilsvrc.submissions`), run the pure
metric functions of :mod:`ilsvrc.metrics` and return result objects whose
:meth:`summary` is the JSON document of the command-line interface.  Warnings (label
order, reversed boxes, ignored detections) are logged and kept on the result.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import numpy as np

from . import formats, stats
from . import ground_truth as gt_io
from .errors import InputError
from .label_order import suspect_label_order
from .metrics.classification import flat_errors, hierarchical_costs
from .metrics.detection import DetectionResult, evaluate_detection
from .metrics.localization import localization_error, localization_errors
from .submissions import DetSubmission
from .synsets import SynsetTable

log = logging.getLogger(__name__)


def _nan_to_none(values):
    return [None if v is None or not np.isfinite(v) else float(v) for v in np.asarray(values, np.float64).ravel()]


def load_cost_matrix(path) -> np.ndarray:
    """Load a hierarchical cost matrix: a ``.mat`` with variable ``cost_matrix``, or a text matrix."""
    path = os.fspath(path)
    if path.lower().endswith(".mat"):
        mat = gt_io._load_mat(path, "cost matrix")
        if "cost_matrix" not in mat:
            raise InputError("expected a variable 'cost_matrix'", path=path)
        cost = np.asarray(mat["cost_matrix"], np.float64)
    else:
        from ._text import parse_rows, read_token_lines

        lines = read_token_lines(path, "cost matrix")
        cost, lengths = parse_rows(lines, "cost matrix", lambda j: f"column {j + 1}")
        if (lengths != lengths[0]).any():
            r = int(np.flatnonzero(lengths != lengths[0])[0])
            raise InputError(f"expected {lengths[0]} values like the first row, got {lengths[r]}",
                             path=path, line=r + 1)
    if cost.ndim != 2 or cost.shape[0] != cost.shape[1]:
        raise InputError(f"expected a square cost matrix, got shape {cost.shape}", path=path)
    if (cost < 0).any() or not np.isfinite(cost).all():
        raise InputError("expected finite, non-negative costs", path=path)
    return cost


# --------------------------------------------------------------------------- CLS
@dataclass
class ClsEvaluation:
    """Result of a classification evaluation.

    Attributes
    ----------
    top_k_error : ndarray of shape (5,)
    per_image_error : ndarray of shape (n_images, 5)
    gt_labels : ndarray of shape (n_images, n_labels)
    pred_labels : ndarray of shape (n_images, 5)
    hierarchical_cost, per_image_cost : ndarray or None
    error_interval, cost_interval : stats.Interval or None
    warnings : list of str
    """

    top_k_error: np.ndarray
    per_image_error: np.ndarray
    gt_labels: np.ndarray
    pred_labels: np.ndarray
    hierarchical_cost: np.ndarray | None = None
    per_image_cost: np.ndarray | None = None
    error_interval: stats.Interval | None = None
    cost_interval: stats.Interval | None = None
    warnings: list = field(default_factory=list)

    @property
    def n_images(self) -> int:
        return len(self.gt_labels)

    def add_intervals(self, n_resamples: int, seed: int, confidence: float) -> None:
        self.error_interval = stats.bootstrap_mean(self.per_image_error, n_resamples=n_resamples, seed=seed,
                                                   confidence=confidence)
        if self.per_image_cost is not None:
            self.cost_interval = stats.bootstrap_mean(self.per_image_cost, n_resamples=n_resamples, seed=seed,
                                                      confidence=confidence)

    def per_class_error(self, n_classes: int) -> np.ndarray:
        """Mean top-k errors of the images of each class (by first ground-truth label); (n_classes, 5)."""
        return _per_class_mean(self.per_image_error, self.gt_labels[:, 0], n_classes)

    def summary(self) -> dict:
        out = {"task": "cls", "n_images": self.n_images, "top_k_error": _nan_to_none(self.top_k_error)}
        if self.hierarchical_cost is not None:
            out["hierarchical_cost"] = _nan_to_none(self.hierarchical_cost)
        if self.error_interval is not None:
            out["top_k_error_ci"] = self.error_interval.as_dict()
        if self.cost_interval is not None:
            out["hierarchical_cost_ci"] = self.cost_interval.as_dict()
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out


def _per_class_mean(per_image: np.ndarray, cls: np.ndarray, n_classes: int) -> np.ndarray:
    counts = np.bincount(cls, minlength=n_classes + 1)[1:]
    out = np.stack([np.bincount(cls, weights=per_image[:, j], minlength=n_classes + 1)[1:]
                    for j in range(per_image.shape[1])], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return out / counts[:, None]


def evaluate_cls(pred_path, gt_path, *, cost_matrix=None, synsets: SynsetTable | None = None,
                 hierarchical: bool = False, check_label_order: bool = True, fmt: str = "devkit") -> ClsEvaluation:
    """Evaluate a CLS submission file (flat top-k error, optionally hierarchical cost).

    Parameters
    ----------
    pred_path, gt_path : path-like
    cost_matrix : path-like or ndarray, optional
        Hierarchical cost matrix (file or array); implies ``hierarchical``.
    synsets : SynsetTable, optional
        Metadata; with ``hierarchical`` and no ``cost_matrix`` the cost matrix is derived
        from its hierarchy (:meth:`SynsetTable.hierarchical_cost_matrix`).
    hierarchical : bool
    check_label_order : bool
        Warn when the submission looks like it uses sorted-WNID indices.
    fmt : str
        Submission format (:data:`ilsvrc.formats.FORMATS`).
    """
    cost = None
    if cost_matrix is not None:
        cost = load_cost_matrix(cost_matrix) if isinstance(cost_matrix, (str, os.PathLike)) \
            else np.asarray(cost_matrix, np.float64)
    elif hierarchical:
        if synsets is None:
            raise InputError("the hierarchical cost needs a cost matrix or a meta.mat with the hierarchy")
        cost = synsets.hierarchical_cost_matrix()
    n_classes = cost.shape[0] if cost is not None else (synsets.n_classes if synsets is not None else 1000)
    gt = gt_io.read_class_labels(gt_path, n_classes)
    notes = []
    pred = formats.read_cls(pred_path, len(gt), n_classes, fmt=fmt, synsets=synsets, warnings=notes)
    for note in notes:
        log.warning(note)
    errors = flat_errors(pred, gt)
    result = ClsEvaluation(errors.mean(axis=0), errors, gt, pred, warnings=notes)
    if cost is not None:
        result.per_image_cost = hierarchical_costs(pred, gt, cost)
        result.hierarchical_cost = result.per_image_cost.mean(axis=0)
    if check_label_order and n_classes == 1000:
        warning = suspect_label_order(pred, gt, synsets if synsets is not None else SynsetTable.bundled("clsloc"))
        if warning:
            log.warning(warning)
            result.warnings.append(warning)
    return result


# --------------------------------------------------------------------------- CLS-LOC
@dataclass
class LocEvaluation:
    """Result of a CLS-LOC evaluation.

    Attributes
    ----------
    top_k_error : ndarray of shape (5,)
        Localization error (blacklisted images dropped under 2013+ rules).
    cls_top_k_error : ndarray of shape (5,)
        Classification error of the same guesses, over all images.
    per_image_error, per_image_cls_error : ndarray of shape (n_images, 5)
    blacklist : ndarray of int
        0-based blacklisted positions (empty under 2012 rules).
    rules : str
        ``"2012"`` (no blacklist) or ``"2013+"``.
    """

    top_k_error: np.ndarray
    cls_top_k_error: np.ndarray
    per_image_error: np.ndarray
    per_image_cls_error: np.ndarray
    gt_labels: np.ndarray
    blacklist: np.ndarray
    rules: str
    error_interval: stats.Interval | None = None
    cls_error_interval: stats.Interval | None = None
    warnings: list = field(default_factory=list)

    @property
    def n_images(self) -> int:
        return len(self.gt_labels)

    @property
    def scored_images(self) -> np.ndarray:
        keep = np.ones(self.n_images, bool)
        keep[self.blacklist] = False
        return keep

    def add_intervals(self, n_resamples: int, seed: int, confidence: float) -> None:
        self.error_interval = stats.bootstrap_mean(self.per_image_error[self.scored_images], n_resamples=n_resamples,
                                                   seed=seed, confidence=confidence)
        self.cls_error_interval = stats.bootstrap_mean(self.per_image_cls_error, n_resamples=n_resamples, seed=seed,
                                                       confidence=confidence)

    def per_class_error(self, n_classes: int) -> np.ndarray:
        """Mean localization errors per class over scored images; (n_classes, 5)."""
        keep = self.scored_images
        return _per_class_mean(self.per_image_error[keep], self.gt_labels[keep, 0], n_classes)

    def summary(self) -> dict:
        out = {"task": "loc", "n_images": self.n_images, "n_blacklisted": int(len(self.blacklist)),
               "rules": self.rules, "top_k_error": _nan_to_none(self.top_k_error),
               "cls_top_k_error": _nan_to_none(self.cls_top_k_error)}
        if self.error_interval is not None:
            out["top_k_error_ci"] = self.error_interval.as_dict()
            out["cls_top_k_error_ci"] = self.cls_error_interval.as_dict()
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out


def evaluate_loc(pred_path, gt_path, boxes, synsets: SynsetTable, *, blacklist=None,
                 check_label_order: bool = True, fmt: str = "devkit") -> LocEvaluation:
    """Evaluate a CLS-LOC submission file.

    Parameters
    ----------
    pred_path, gt_path : path-like
    boxes : path-like or ObjectTable
        XML folder or 2015 cached ``.mat`` (see :func:`ilsvrc.ground_truth.load_clsloc_boxes`).
    synsets : SynsetTable
        CLS-LOC metadata.
    blacklist : path-like, optional
        With it the 2013+ rules apply, without it the 2012 rules.
    fmt : str
        Submission format (:data:`ilsvrc.formats.FORMATS`).
    """
    gt = gt_io.read_class_labels(gt_path, synsets.n_classes)
    notes = []
    pred = formats.read_loc(pred_path, len(gt), synsets.n_classes, fmt=fmt, synsets=synsets, warnings=notes)
    for note in notes:
        log.warning(note)
    objects = boxes if isinstance(boxes, gt_io.ObjectTable) else gt_io.load_clsloc_boxes(boxes, synsets, len(gt))
    if objects.n_images != len(gt):
        raise InputError(f"the boxes cover {objects.n_images} images, the ground truth {len(gt)}")
    bl = gt_io.read_clsloc_blacklist(blacklist, len(gt)) if blacklist is not None else np.zeros(0, np.int64)
    per_image = localization_errors(pred.labels, pred.boxes, gt, objects)
    per_image_cls = flat_errors(pred.labels, gt)
    result = LocEvaluation(localization_error(per_image, bl if blacklist is not None else None),
                           per_image_cls.mean(axis=0), per_image, per_image_cls, gt, bl,
                           "2013+" if blacklist is not None else "2012", warnings=notes)
    if check_label_order and synsets.n_classes == 1000:
        warning = suspect_label_order(pred.labels, gt, synsets)
        if warning:
            warning = warning.replace("--task cls", "--task loc")
            log.warning(warning)
            result.warnings.append(warning)
    return result


# --------------------------------------------------------------------------- DET
@dataclass
class DetEvaluation:
    """Result of a DET evaluation: the metric result plus what produced it."""

    result: DetectionResult
    submission: DetSubmission
    objects: gt_io.ObjectTable
    synsets: SynsetTable
    blacklist: np.ndarray | None
    map_interval: stats.Interval | None = None
    warnings: list = field(default_factory=list)

    def weighted_ap(self) -> stats.WeightedAP:
        s = self.submission
        return stats.WeightedAP.from_result(self.result, s.image, s.label, self.objects, self.blacklist)

    def add_intervals(self, n_resamples: int, seed: int, confidence: float) -> None:
        self.map_interval = stats.bootstrap_map(self.weighted_ap(), n_resamples=n_resamples, seed=seed,
                                                confidence=confidence)

    def summary(self) -> dict:
        r = self.result
        out = {"task": "det", "mean_ap": _nan_to_none([r.mean_ap])[0], "median_ap": _nan_to_none([r.median_ap])[0],
               "ap": {str(c): v for c, v in enumerate(_nan_to_none(r.ap), start=1)},
               "n_detections": len(self.submission), "n_positives": int(r.n_positives.sum()),
               "n_blacklisted_pairs": 0 if self.blacklist is None else int(len(self.blacklist)),
               "n_reversed_boxes": r.n_reversed}
        if self.map_interval is not None:
            out["mean_ap_ci"] = self.map_interval.as_dict()
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out


def evaluate_det(pred_path, boxes, image_list, synsets: SynsetTable, *, blacklist=None,
                 ap_method: str = "all_points", matching: str = "ilsvrc", fmt: str = "devkit") -> DetEvaluation:
    """Evaluate a DET submission file.

    Parameters
    ----------
    pred_path : path-like
    boxes : path-like or ObjectTable
        XML folder or 2015 cached ``.mat`` (see :func:`ilsvrc.ground_truth.load_det_ground_truth`).
    image_list : path-like or ImageList
    synsets : SynsetTable
        DET metadata.
    blacklist : path-like, optional
        ``<image index> <WNID>`` pairs to ignore.
    ap_method, matching :
        See :func:`ilsvrc.metrics.detection.evaluate_detection`; the defaults are the official rules.
    fmt : str
        Submission format (:data:`ilsvrc.formats.FORMATS`).
    """
    images = image_list if isinstance(image_list, gt_io.ImageList) else gt_io.read_image_list(image_list)
    objects = boxes if isinstance(boxes, gt_io.ObjectTable) else gt_io.load_det_ground_truth(boxes, images, synsets)
    sub = formats.read_det(pred_path, images, synsets.n_classes, fmt=fmt, synsets=synsets)
    bl = gt_io.read_det_blacklist(blacklist, synsets, images) if blacklist is not None else None
    result = evaluate_detection(sub.image, sub.label, sub.score, sub.box, objects, blacklist=bl,
                                ap_method=ap_method, matching=matching)
    out = DetEvaluation(result, sub, objects, synsets, bl)
    if result.n_reversed:
        out.warnings.append(f"{result.n_reversed} detection(s) have reversed or empty boxes (x2 < x1 or y2 < y1); "
                            "they overlap nothing and are scored as false positives, as the official code does")
    if result.n_above_c:
        out.warnings.append(f"{result.n_above_c} detection(s) of class ids above {len(result.ap)} (the largest class "
                            "with ground truth) are ignored, as the official code does")
    if len(sub) == 0:
        out.warnings.append("the submission holds no detections: every AP is 0")
    missing = np.flatnonzero(result.n_positives == 0)
    if missing.size:
        out.warnings.append(f"{missing.size} class(es) have no ground-truth objects (first: id {missing[0] + 1}); "
                            "their AP is NaN, and so is the mean AP, as in the official code")
    for w in out.warnings:
        log.warning(w)
    return out
