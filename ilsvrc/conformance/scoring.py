"""Scoring a case folder: the official rules, and the known mistakes of other scorers.

:func:`load_inputs` reads a case written by :mod:`ilsvrc.conformance.kit` (the official
file formats, the submission in any :mod:`ilsvrc.formats` format); :func:`compute` scores
it with the evaluator's metric functions and returns the ``evaluate --json`` document.

``compute(inputs, mistake)`` scores it as a scorer making one known mistake would
(:data:`MISTAKES`), by changing the inputs or one step, never the metric code.  The kit
runs every mistake of a task over every case of that task at export time: the cases a
mistake changes are the cases it fails, recorded in ``cases.json`` (``broken_by``), and
``conformance check`` names the mistake whose cases match a scorer's failures.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from .. import formats
from ..evaluation import ClsEvaluation, LocEvaluation, _nan_to_none, load_cost_matrix
from ..ground_truth import (
    ObjectTable,
    load_clsloc_boxes,
    load_det_ground_truth,
    read_class_labels,
    read_clsloc_blacklist,
    read_det_blacklist,
    read_image_list,
)
from ..metrics.classification import flat_errors, hierarchical_costs
from ..metrics.detection import (
    DetectionMatches,
    evaluate_detection,
    match_detections,
    rank_detections,
)
from ..metrics.localization import localization_error, localization_errors
from ..stats import WeightedAP
from ..submissions import MAX_GUESSES
from ..synsets import SynsetTable


@dataclass(frozen=True)
class Mistake:
    """A rule that scorers get wrong, and how a scorer that gets it wrong behaves."""

    name: str
    task: str
    description: str


MISTAKES = (
    Mistake("cls.zero_is_a_label", "cls", "treats 0 as a class: a 0 guess matches the 0 that pads a shorter "
            "ground-truth line, and the padding counts as a label"),
    Mistake("cls.sixth_guess_counts", "cls", "scores every guess on a line: a right sixth guess counts for top-5"),
    Mistake("cls.repeats_merged", "cls", "takes the first k distinct guesses: a repeated guess lets a later one "
            "into the top k"),
    Mistake("cls.any_label_counts", "cls", "scores a multi-label image as right when any label is guessed, not by "
            "the share of labels missed"),
    Mistake("cls.ragged_lines_flattened", "cls", "reads all numbers as one stream cut into rows of 5: a short or "
            "long line shifts every later guess onto the wrong image"),
    Mistake("cls.missing_guess_free", "cls", "lets a missing guess cost nothing in the hierarchical cost instead "
            "of the largest cost"),
    Mistake("loc.iou_without_plus_one", "loc", "computes IoU with widths x2 - x1 instead of x2 - x1 + 1"),
    Mistake("loc.iou_above_half", "loc", "requires IoU > 0.5 where the devkit accepts IoU = 0.5"),
    Mistake("loc.any_class_box", "loc", "accepts a box on an object of another class"),
    Mistake("loc.first_box_only", "loc", "compares with the first box of the class only, not the best of its boxes"),
    Mistake("loc.reversed_boxes_repaired", "loc", "swaps the corners of a reversed box instead of scoring a miss"),
    Mistake("loc.blacklist_ignored", "loc", "applies the 2012 rules where the 2013+ rules apply: blacklisted "
            "images stay in the localization error"),
    Mistake("loc.blacklist_in_denominator", "loc", "scores blacklisted images as right but still divides by all "
            "images"),
    Mistake("loc.blacklist_on_classification", "loc", "drops blacklisted images from the classification error too"),
    Mistake("det.file_order_matching", "det", "matches detections to objects in file order instead of confidence "
            "order"),
    Mistake("det.ties_in_file_order", "det", "breaks confidence ties by file line instead of image position, "
            "then file line"),
    Mistake("det.blacklist_ignored", "det", "scores blacklisted (image, class) pairs: their detections and objects "
            "count"),
    Mistake("det.iou_without_plus_one", "det", "computes IoU and the objects' size thresholds with widths x2 - x1 "
            "instead of x2 - x1 + 1"),
    Mistake("det.fixed_threshold", "det", "requires IoU >= 0.5 for every object: no small-object threshold"),
    Mistake("det.voc_matching", "det", "matches like PASCAL VOC: IoU >= 0.5 with the best-overlapping object, a "
            "detection whose best object is taken is a false positive"),
    Mistake("det.nan_classes_skipped", "det", "averages AP over the classes with objects only, where the "
            "devkit's mean and median are NaN"),
    Mistake("det.eleven_point_ap", "det", "uses VOC2007's 11-point average precision instead of the all-points "
            "area"),
    Mistake("det.reversed_boxes_repaired", "det", "swaps the corners of a reversed box instead of scoring a false "
            "positive"),
)
MISTAKE_NAMES = tuple(m.name for m in MISTAKES)


@dataclass
class Inputs:
    """A case's parsed inputs (devkit ids, canonical boxes)."""

    task: str
    pred: object                      # cls: (n, 5) ids; loc: LocSubmission; det: DetSubmission
    ground_truth: np.ndarray | None = None
    rows: list | None = None          # cls: every token of every line, as written (devkit format only)
    cost: np.ndarray | None = None
    objects: ObjectTable | None = None
    blacklist: np.ndarray | None = None
    n_images: int = 0
    extra: dict = field(default_factory=dict)


def load_inputs(case_dir, meta: dict, submission, fmt: str) -> Inputs:
    """Read a case folder and a submission for it (``meta`` is the case's ``case.json``)."""
    case_dir = Path(case_dir)
    files = {k: case_dir / v for k, v in meta["files"].items() if k != "submission"}
    task = meta["task"]
    if task == "cls":
        cost = load_cost_matrix(files["cost_matrix"]) if "cost_matrix" in files else None
        n_classes = len(cost) if cost is not None else 1000
        gt = read_class_labels(files["ground_truth"], n_classes)
        pred = formats.read_cls(submission, len(gt), n_classes, fmt=fmt, synsets=SynsetTable.bundled("clsloc"))
        rows = None
        if fmt == "devkit":
            from .._text import read_token_lines

            rows = [[int(float(t)) for t in toks] for toks in read_token_lines(submission, "CLS submission").tokens]
        return Inputs("cls", pred, gt, rows=rows, cost=cost, n_images=len(gt))
    synsets = SynsetTable.from_file(files["meta"])
    if task == "loc":
        gt = read_class_labels(files["ground_truth"], synsets.n_classes)
        pred = formats.read_loc(submission, len(gt), synsets.n_classes, fmt=fmt, synsets=synsets)
        objects = load_clsloc_boxes(files["boxes"], synsets, len(gt))
        blacklist = read_clsloc_blacklist(files["blacklist"], len(gt)) if "blacklist" in files else None
        return Inputs("loc", pred, gt, objects=objects, blacklist=blacklist, n_images=len(gt))
    images = read_image_list(files["image_list"])
    objects = load_det_ground_truth(files["boxes"], images, synsets)
    pred = formats.read_det(submission, images, synsets.n_classes, fmt=fmt, synsets=synsets)
    blacklist = read_det_blacklist(files["blacklist"], synsets, images) if "blacklist" in files else None
    return Inputs("det", pred, objects=objects, blacklist=blacklist, n_images=len(images))


def compute(inputs: Inputs, mistake: str | None = None) -> dict:
    """The ``evaluate --json`` numbers of a case, officially or with one known mistake."""
    if mistake is not None and mistake not in MISTAKE_NAMES:
        raise ValueError(f"unknown mistake {mistake!r}")
    return {"cls": _cls, "loc": _loc, "det": _det}[inputs.task](inputs, mistake)


# --------------------------------------------------------------------------- CLS
def _padded(rows, width=None) -> np.ndarray:
    width = width or max((len(r) for r in rows), default=1)
    out = np.zeros((len(rows), max(width, 1)), np.int64)
    for i, r in enumerate(rows):
        out[i, : min(len(r), width)] = r[:width]
    return out


def _cls(inp: Inputs, mistake) -> dict:
    pred, gt = inp.pred, inp.ground_truth
    n = len(gt)
    if mistake in ("cls.sixth_guess_counts", "cls.ragged_lines_flattened", "cls.repeats_merged") and inp.rows is None:
        raise ValueError("this mistake needs the submission in the devkit text format")
    if mistake == "cls.ragged_lines_flattened":
        flat = [v for r in inp.rows for v in r]
        flat += [0] * (-len(flat) % MAX_GUESSES)
        pred = _padded([flat[i: i + MAX_GUESSES] for i in range(0, len(flat), MAX_GUESSES)][:n] or [[0]],
                       MAX_GUESSES)
        pred = np.vstack([pred, np.zeros((n - len(pred), MAX_GUESSES), np.int64)])
    if mistake == "cls.repeats_merged":
        pred = _padded([_merge_repeats(r) for r in inp.rows], MAX_GUESSES)
    if mistake == "cls.zero_is_a_label":
        zero = 10**6
        errors = flat_errors(np.where(pred == 0, zero, pred), np.where(gt == 0, zero, gt))
    elif mistake == "cls.sixth_guess_counts":
        full = _padded(inp.rows)
        errors = flat_errors(pred, gt)
        errors[:, -1] = flat_errors(full, gt, k_max=max(full.shape[1], MAX_GUESSES))[:, -1]
    else:
        errors = flat_errors(pred, gt)
    if mistake == "cls.any_label_counts":
        errors = (errors == 1.0).astype(float)
    result = ClsEvaluation(errors.mean(axis=0), errors, gt, pred)
    if inp.cost is not None:
        guesses = np.where(pred == 0, gt[:, :1], pred) if mistake == "cls.missing_guess_free" else pred
        result.per_image_cost = hierarchical_costs(guesses, gt, inp.cost)
        result.hierarchical_cost = result.per_image_cost.mean(axis=0)
    return result.summary()


def _merge_repeats(row: list) -> list:
    """The guesses of a line without repeated labels (0, 'no guess', stays where it is)."""
    seen, out = set(), []
    for v in row:
        if v and v in seen:
            continue
        seen.add(v)
        out.append(v)
    return out


# --------------------------------------------------------------------------- CLS-LOC
def _shift_corners(boxes: np.ndarray) -> np.ndarray:
    """Boxes whose +1 IoU equals the IoU without +1 of the originals: x2, y2 one pixel in."""
    out = np.array(boxes, np.float64, copy=True)
    out[..., 2:] -= 1
    return out


def _repaired(boxes: np.ndarray) -> np.ndarray:
    b = np.asarray(boxes, np.float64)
    return np.concatenate([np.minimum(b[..., :2], b[..., 2:]), np.maximum(b[..., :2], b[..., 2:])], axis=-1)


def _loc(inp: Inputs, mistake) -> dict:
    labels, boxes, gt, objects = inp.pred.labels, inp.pred.boxes, inp.ground_truth, inp.objects
    threshold = 0.5
    if mistake == "loc.iou_without_plus_one":
        boxes = _shift_corners(boxes)
        objects = replace(objects, box=_shift_corners(objects.box))
    elif mistake == "loc.iou_above_half":
        threshold = np.nextafter(0.5, 1.0)
    elif mistake == "loc.any_class_box":
        objects = replace(objects, label=gt[objects.image, 0])
    elif mistake == "loc.first_box_only":
        key = objects.image * (objects.label.max(initial=0) + 1) + objects.label
        _, first = np.unique(key, return_index=True)
        keep = np.zeros(len(objects), bool)
        keep[first] = True
        objects = ObjectTable(objects.n_images, objects.image[keep], objects.label[keep], objects.box[keep],
                              objects.threshold[keep])
    elif mistake == "loc.reversed_boxes_repaired":
        boxes = _repaired(boxes)
    per_image = localization_errors(labels, boxes, gt, objects, threshold=threshold)
    per_image_cls = flat_errors(labels, gt)
    blacklist = inp.blacklist
    if mistake == "loc.blacklist_ignored":
        blacklist = None
    top_k = localization_error(per_image, blacklist)
    cls_top_k = per_image_cls.mean(axis=0)
    if blacklist is not None and len(blacklist):
        keep = np.ones(len(gt), bool)
        keep[blacklist] = False
        if mistake == "loc.blacklist_in_denominator":
            top_k = per_image[keep].sum(axis=0) / len(gt)
        if mistake == "loc.blacklist_on_classification":
            cls_top_k = per_image_cls[keep].mean(axis=0)
    bl = np.zeros(0, np.int64) if inp.blacklist is None else inp.blacklist
    return LocEvaluation(top_k, cls_top_k, per_image, per_image_cls, gt, bl,
                         "2013+" if inp.blacklist is not None else "2012").summary()


# --------------------------------------------------------------------------- DET
def _det(inp: Inputs, mistake) -> dict:
    sub, objects, blacklist = inp.pred, inp.objects, inp.blacklist
    image, label, score, box = sub.image, sub.label, sub.score, sub.box
    ap_method, matching = "all_points", "ilsvrc"
    if mistake == "det.blacklist_ignored":
        blacklist = None
    elif mistake == "det.iou_without_plus_one":
        box = _shift_corners(box)
        from ..boxes import det_iou_threshold

        shifted = _shift_corners(objects.box)
        objects = replace(objects, box=shifted, threshold=det_iou_threshold(shifted) if len(shifted) else shifted[:, 0])
    elif mistake == "det.fixed_threshold":
        objects = replace(objects, threshold=np.full(len(objects), 0.5))
    elif mistake == "det.voc_matching":
        matching = "voc"
    elif mistake == "det.eleven_point_ap":
        ap_method = "11_point"
    elif mistake == "det.reversed_boxes_repaired":
        box = _repaired(box)
    elif mistake == "det.ties_in_file_order":
        order = np.lexsort((np.arange(len(score)), -np.asarray(score)))
        score = np.empty(len(order))
        score[order] = -np.arange(len(order), dtype=np.float64)  # same ranking, ties gone
    if mistake == "det.file_order_matching":
        ap = _file_order_ap(image, label, score, box, objects, blacklist)
    else:
        ap = evaluate_detection(image, label, score, box, objects, blacklist=blacklist, ap_method=ap_method,
                                matching=matching).ap
    if mistake == "det.nan_classes_skipped" and np.isfinite(ap).any():
        mean, median = float(np.nanmean(ap)), float(np.nanmedian(ap))
    else:
        mean, median = (float(np.mean(ap)), float(np.median(ap))) if len(ap) else (float("nan"), float("nan"))
    return {"task": "det", "mean_ap": _nan_to_none([mean])[0], "median_ap": _nan_to_none([median])[0],
            "ap": {str(c): v for c, v in enumerate(_nan_to_none(ap), start=1)}}


def _file_order_ap(image, label, score, box, objects: ObjectTable, blacklist) -> np.ndarray:
    """AP when detections take objects in file order but are ranked by confidence for the PR curve."""
    n = len(label)
    c = int(objects.label.max(initial=0))
    in_file_order = match_detections(image, label, -np.arange(n, dtype=np.float64), box, objects,
                                     blacklist=blacklist, max_class=c)
    matches = DetectionMatches(rank_detections(image, score), in_file_order.tp, in_file_order.fp,
                               in_file_order.matched_object, in_file_order.counted)
    result = SimpleNamespace(matches=matches, ap=np.zeros(c))
    return WeightedAP.from_result(result, image, label, objects, blacklist).average_precisions(
        np.ones(objects.n_images))
