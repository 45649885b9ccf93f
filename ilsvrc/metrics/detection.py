"""Object detection average precision of ILSVRC 2013-2017 (and PASCAL VOC matching).

The official routine (``eval_detection.m`` of the 2014/2015 devkits) in explicit phases:

1. **Ranking.**  Detections are ordered by confidence, descending; ties go to the
   lower image position in the list, then to the earlier line of the file (the official
   code concatenates per-image lists sorted with MATLAB's stable ``sort`` and sorts them
   again, stably).  Here: ``lexsort((line, image, -confidence))``.
2. **Matching, per image, greedy, all classes together.**  Walking the ranked
   detections of an image: a detection whose (image, class) pair is blacklisted is
   skipped (neither TP nor FP).  Otherwise, among the ground-truth objects of its class
   that are *not yet matched* and whose IoU with it is >= *their own* threshold
   (``min(0.5, wh / ((w+10)(h+10)))``), the one with the largest IoU is matched (first
   annotated wins ties) and the detection is a TP; with none, it is a FP.  Unlike PASCAL
   VOC, a detection whose best object is taken may still match another one.
3. **Accumulation, per class c = 1..C**, where C is the largest class id with a
   ground-truth object: cumulative TP and FP down the ranked list of class c give
   ``recall = TP / n_pos(c)`` and ``precision = TP / (TP + FP)``; ``n_pos(c)`` excludes
   objects of blacklisted pairs.  Detections of classes above C are ignored.
4. **AP** with :func:`~ilsvrc.metrics.average_precision.average_precision`
   (``all_points``, ``VOCap.m``); mean and median over classes 1..C (NaN if a class has
   no positives, as in the official code).

``matching="voc"`` replaces phase 2 with PASCAL VOC's rule (per class, the
highest-IoU object regardless of whether it is taken; IoU >= 0.5; a taken object makes
the detection a duplicate FP), for comparison with VOC-era numbers.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..boxes import iou, is_reversed
from ..ground_truth import ObjectTable
from .average_precision import average_precision

VOC_IOU_THRESHOLD = 0.5
MATCHING_RULES = ("ilsvrc", "voc")


@dataclass(frozen=True)
class DetectionMatches:
    """Outcome of matching, one entry per detection in the input order.

    Attributes
    ----------
    rank : ndarray of shape (n,), int64
        Detection indices in ranked order (phase 1).
    tp, fp : ndarray of shape (n,), float64
        1.0 for a true / false positive; both 0 for a blacklisted or ignored detection.
    matched_object : ndarray of shape (n,), int64
        Index into the object table of the object a TP matched, -1 otherwise.
    counted : ndarray of shape (n,), bool
        False for detections skipped by the blacklist or above class C.
    """

    rank: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    matched_object: np.ndarray
    counted: np.ndarray


@dataclass(frozen=True)
class DetectionResult:
    """Per-class AP and summary of a DET evaluation.

    Attributes
    ----------
    ap : ndarray of shape (C,), float64
        AP of classes 1..C (NaN for a class without positives).
    mean_ap, median_ap : float
    n_positives : ndarray of shape (C,), int64
    n_detections : ndarray of shape (C,), int64
        Counted detections per class.
    recall, precision : list of ndarray
        The PR curve of each class, down its ranked list (blacklisted entries included,
        as in the official code).
    matches : DetectionMatches
    n_reversed : int
        Detections with reversed or empty boxes (scored as misses).
    n_above_c : int
        Detections of class ids above C (ignored, as in the official code).
    """

    ap: np.ndarray
    mean_ap: float
    median_ap: float
    n_positives: np.ndarray
    n_detections: np.ndarray
    recall: list = field(repr=False)
    precision: list = field(repr=False)
    matches: DetectionMatches = field(repr=False)
    n_reversed: int = 0
    n_above_c: int = 0


def rank_detections(image, score) -> np.ndarray:
    """Ranked order of detections: confidence descending, then image position, then line."""
    image = np.asarray(image, np.int64)
    score = np.asarray(score, np.float64)
    return np.lexsort((np.arange(len(score)), image, -score))


def _candidate_pairs(image, label, n_classes_key: int, objects: ObjectTable):
    """All (detection, object) pairs of the same image and class, grouped by detection.

    Returns det index per pair, object index per pair; pairs of a detection are
    consecutive and in annotation order of the objects.
    """
    obj_key = objects.image * n_classes_key + objects.label
    obj_order = np.argsort(obj_key, kind="stable")
    sorted_key = obj_key[obj_order]
    det_key = image * n_classes_key + label
    lo = np.searchsorted(sorted_key, det_key, side="left")
    hi = np.searchsorted(sorted_key, det_key, side="right")
    counts = hi - lo
    det_of_pair = np.repeat(np.arange(len(image)), counts)
    starts = np.repeat(lo - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    obj_of_pair = obj_order[starts + np.arange(counts.sum())]
    return det_of_pair, obj_of_pair, counts


def match_detections(image, label, score, box, objects: ObjectTable, *, blacklist=None,
                     max_class: int | None = None, matching: str = "ilsvrc") -> DetectionMatches:
    """Phase 1 and 2: rank the detections and mark each TP or FP.

    Parameters
    ----------
    image : array_like of shape (n,), int
        0-based image position of each detection.
    label : array_like of shape (n,), int
        Class id of each detection.
    score : array_like of shape (n,), float
    box : array_like of shape (n, 4), float
    objects : ObjectTable
    blacklist : array_like of shape (m, 2), int, optional
        ``(image position, class id)`` pairs to skip.
    max_class : int, optional
        C; detections of larger class ids are not counted.  Default: largest object label.
    matching : {"ilsvrc", "voc"}

    Returns
    -------
    DetectionMatches
    """
    if matching not in MATCHING_RULES:
        raise ValueError(f"matching: expected one of {MATCHING_RULES}, got {matching!r}")
    image = np.asarray(image, np.int64)
    label = np.asarray(label, np.int64)
    box = np.asarray(box, np.float64).reshape(-1, 4)
    n = len(image)
    if max_class is None:
        max_class = int(objects.label.max(initial=0))
    rank = rank_detections(image, score)
    counted = label <= max_class
    key_width = int(max(label.max(initial=0), objects.label.max(initial=0))) + 1
    if blacklist is not None and len(blacklist):
        bl = np.asarray(blacklist, np.int64).reshape(-1, 2)
        bl_keys = np.unique(bl[:, 0] * key_width + bl[:, 1])
        det_bl = np.isin(image * key_width + label, bl_keys)
        counted &= ~det_bl
    tp = np.zeros(n)
    fp = np.zeros(n)
    matched_object = np.full(n, -1, np.int64)

    det_of_pair, obj_of_pair, _ = _candidate_pairs(image, label, key_width, objects)
    overlap = iou(box[det_of_pair], objects.box[obj_of_pair])
    thr = objects.threshold[obj_of_pair] if matching == "ilsvrc" else VOC_IOU_THRESHOLD
    if matching == "ilsvrc":
        ok = overlap >= thr
        det_of_pair, obj_of_pair, overlap = det_of_pair[ok], obj_of_pair[ok], overlap[ok]
    has_candidate = np.zeros(n, bool)
    has_candidate[det_of_pair] = True
    # Pairs grouped by detection, detections visited in ranked order.
    rank_pos = np.empty(n, np.int64)
    rank_pos[rank] = np.arange(n)
    pair_order = np.lexsort((np.arange(len(det_of_pair)), rank_pos[det_of_pair]))
    det_of_pair, obj_of_pair, overlap = det_of_pair[pair_order], obj_of_pair[pair_order], overlap[pair_order]
    bounds = np.flatnonzero(np.diff(det_of_pair)) + 1
    starts = np.concatenate([[0], bounds]).tolist() if len(det_of_pair) else []
    ends = np.concatenate([bounds, [len(det_of_pair)]]).tolist() if len(det_of_pair) else []
    taken = np.zeros(len(objects), bool).tolist()
    det_list = det_of_pair.tolist()
    obj_list = obj_of_pair.tolist()
    ov_list = overlap.tolist()
    counted_list = counted.tolist()
    outcome = {}
    for s, e in zip(starts, ends):
        d = det_list[s]
        if not counted_list[d]:
            continue
        if matching == "ilsvrc":
            best, pick = -np.inf, -1
            for p in range(s, e):
                o = obj_list[p]
                if not taken[o] and ov_list[p] > best:
                    best, pick = ov_list[p], o
        else:  # PASCAL VOC: best object regardless of taken; duplicates are FP
            best, pick = -np.inf, -1
            for p in range(s, e):
                if ov_list[p] > best:
                    best, pick = ov_list[p], obj_list[p]
            if best < VOC_IOU_THRESHOLD or taken[pick]:
                pick = -1
        if pick >= 0:
            taken[pick] = True
            outcome[d] = pick
    hit = np.fromiter(outcome.keys(), np.int64, len(outcome))
    matched_object[hit] = np.fromiter(outcome.values(), np.int64, len(outcome))
    tp[hit] = 1.0
    fp[counted & (matched_object < 0)] = 1.0
    return DetectionMatches(rank, tp, fp, matched_object, counted)


def positives_per_class(objects: ObjectTable, max_class: int, blacklist=None) -> np.ndarray:
    """Number of ground-truth objects of classes 1..max_class outside blacklisted pairs; (C,) int64."""
    keep = np.ones(len(objects), bool)
    if blacklist is not None and len(blacklist):
        bl = np.asarray(blacklist, np.int64).reshape(-1, 2)
        width = max_class + 1 + int(max(objects.label.max(initial=0), bl[:, 1].max(initial=0)))
        keep = ~np.isin(objects.image * width + objects.label, bl[:, 0] * width + bl[:, 1])
    lab = objects.label[keep]
    return np.bincount(lab[lab <= max_class], minlength=max_class + 1)[1:].astype(np.int64)


def evaluate_detection(image, label, score, box, objects: ObjectTable, *, blacklist=None,
                       ap_method: str = "all_points", matching: str = "ilsvrc") -> DetectionResult:
    """Evaluate detections with the ILSVRC 2013+ rules (see the module docstring).

    Parameters
    ----------
    image, label, score, box :
        As :func:`match_detections`.
    objects : ObjectTable
    blacklist : array_like of shape (m, 2), int, optional
    ap_method : {"all_points", "11_point"}
    matching : {"ilsvrc", "voc"}

    Returns
    -------
    DetectionResult
    """
    label = np.asarray(label, np.int64)
    max_class = int(objects.label.max(initial=0))
    m = match_detections(image, label, score, box, objects, blacklist=blacklist, max_class=max_class,
                         matching=matching)
    npos = positives_per_class(objects, max_class, blacklist)
    ranked_label = label[m.rank]
    by_class = m.rank[np.argsort(ranked_label, kind="stable")]
    class_of = label[by_class]
    bounds = np.searchsorted(class_of, np.arange(1, max_class + 2))
    ap = np.zeros(max_class)
    recalls, precisions, n_det = [], [], np.zeros(max_class, np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        for c in range(1, max_class + 1):
            members = by_class[bounds[c - 1]: bounds[c]]
            ctp = np.cumsum(m.tp[members])
            cfp = np.cumsum(m.fp[members])
            rec = ctp / npos[c - 1]
            prec = ctp / (cfp + ctp)
            recalls.append(rec)
            precisions.append(prec)
            n_det[c - 1] = int(m.counted[members].sum())
            ap[c - 1] = average_precision(rec, prec, ap_method)
    mean_ap = float(np.mean(ap)) if max_class else float("nan")
    median_ap = float(np.median(ap)) if max_class else float("nan")
    return DetectionResult(ap=ap, mean_ap=mean_ap, median_ap=median_ap, n_positives=npos, n_detections=n_det,
                           recall=recalls, precision=precisions, matches=m,
                           n_reversed=int(is_reversed(np.asarray(box, np.float64).reshape(-1, 4)).sum()),
                           n_above_c=int((label > max_class).sum()))
