"""The classical detector: linear SVMs on bag-of-words signatures of proposals.

Uijlings et al. (IJCV 2013) and the UvA ILSVRC 2013 entry: every selective-search box of
an image gets a spatial-pyramid bag-of-words signature (:mod:`features.encoding.regions`, from
the image's dense descriptors, square-rooted so that a linear SVM acts as a Hellinger
kernel machine); one linear SVM per class is trained with

- positives: the ground-truth boxes of the class;
- initial negatives: proposals overlapping a positive by 20-50% (Uijlings);
- hard negatives: mined over all training images with R-CNN's schedule
  (:class:`baselines.hard_negatives.HardNegativeMiner`);

and at test time each class's scores over the proposals are thinned by non-maximum
suppression.  Boxes are canonical (:mod:`ilsvrc.boxes`).
"""
from __future__ import annotations

import inspect
import logging
from collections import OrderedDict

import numpy as np

from features.encoding.regions import WordIntegral, region_bow
from ilsvrc.boxes import iou, iou_matrix

from .hard_negatives import HardNegativeMiner

log = logging.getLogger(__name__)

_MINING = {name: p.default for name, p in inspect.signature(HardNegativeMiner).parameters.items()
           if p.default is not p.empty}
"""The hard-negative miner's defaults: the detector's mining parameters default to them."""


def non_maximum_suppression(boxes, scores, overlap: float = 0.3, max_keep: int = 0) -> np.ndarray:
    """Greedy non-maximum suppression.

    Visit boxes by decreasing score (ties: lower index first); keep a box unless its IoU
    (devkit +1 convention) with an already kept box exceeds ``overlap``.

    Parameters
    ----------
    boxes : ndarray of shape (n, 4)
    scores : ndarray of shape (n,)
    overlap : float
    max_keep : int
        Stop after this many (0: no limit).

    Returns
    -------
    ndarray of int64
        Indices of the kept boxes, best first.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64).ravel()
    if len(boxes) != len(scores):
        raise ValueError(f"boxes and scores: expected the same length, got {len(boxes)} and {len(scores)}")
    order = np.argsort(-scores, kind="stable")
    keep = []
    suppressed = np.zeros(len(boxes), bool)
    for pos, i in enumerate(order):
        if suppressed[i]:
            continue
        keep.append(i)
        if max_keep and len(keep) >= max_keep:
            break
        rest = order[pos + 1:]
        rest = rest[~suppressed[rest]]
        if not len(rest):
            break
        suppressed[rest[iou(boxes[i], boxes[rest]) > overlap]] = True      # no overlap is -1
    return np.asarray(keep, np.int64)


class ImageRegions:
    """What the detector needs of one image.

    Parameters
    ----------
    proposals : ndarray of shape (m, 4)
        Canonical boxes, best first.
    integral : WordIntegral, optional
        The image's visual words as an integral histogram; or give ``positions``, ``words``
        and ``n_words`` and it is built when first needed (see below).
    gt_labels : ndarray of shape (g,), int
        0-based classes of the annotated objects (training images).
    gt_boxes : ndarray of shape (g, 4)
    positions : ndarray of shape (n, 2), words : ndarray of shape (n,), n_words : int
        The descriptors' centres and words, when no ``integral`` is given.

    An integral histogram holds ``(rows + 1) x (columns + 1) x n_words`` counts of the
    image's descriptor grid (tens of megabytes for a 500-pixel image and a thousand words),
    so images built from words keep it only while they are among the :data:`KEEP` most
    recently used: memory stays bounded whatever the number of images, and an image whose
    table was released rebuilds it when used again.
    """

    KEEP = 16
    _recent: "OrderedDict[int, ImageRegions]" = None

    def __init__(self, proposals, integral=None, gt_labels=None, gt_boxes=None, *, positions=None, words=None,
                 n_words: int | None = None):
        if integral is None and (positions is None or words is None or n_words is None):
            raise ValueError("ImageRegions: expected an integral, or positions, words and n_words")
        self.proposals = proposals
        self._integral = integral
        self._fixed = integral is not None
        self.positions, self.words, self.n_words = positions, words, n_words
        self.gt_labels = np.zeros(0, np.int64) if gt_labels is None else gt_labels
        self.gt_boxes = np.zeros((0, 4)) if gt_boxes is None else gt_boxes

    @property
    def integral(self) -> WordIntegral:
        if self._fixed:
            return self._integral
        recent = type(self)._recent
        if recent is None:
            recent = type(self)._recent = OrderedDict()
        if self._integral is None:
            self._integral = WordIntegral(self.positions, self.words, self.n_words)
        recent[id(self)] = self
        recent.move_to_end(id(self))
        while len(recent) > self.KEEP:
            _, old = recent.popitem(last=False)
            old._integral = None
        return self._integral

    def release(self) -> None:
        """Drop the integral histogram (rebuilt if used again)."""
        if not self._fixed:
            self._integral = None
            if type(self)._recent is not None:
                type(self)._recent.pop(id(self), None)


class _LinearModel:
    """``decision_function(X) = X @ coef + intercept``; ``converged``: whether the solver
    reached its tolerance (a convergence warning is recorded here and reported, not silenced)."""

    def __init__(self, coef: np.ndarray, intercept: float):
        self.coef = coef.astype(np.float32)
        self.intercept = float(intercept)
        self.converged = True

    def decision_function(self, x):
        return np.asarray(x, np.float32) @ self.coef + np.float32(self.intercept)


def train_binary_svm(x, y, *, C: float = 1.0, positive_weight: float = 1.0, random_state: int = 0) -> _LinearModel:
    """L2-regularised hinge-loss linear SVM (liblinear's dual solver, as R-CNN used).

    Parameters
    ----------
    x : ndarray of shape (n, D)
    y : ndarray of shape (n,)
        1 for positives, 0 for negatives; both must occur.
    C : float
    positive_weight : float
        Multiplies C for the positives.
    """
    from sklearn.svm import LinearSVC

    y = np.asarray(y)
    if not (y == 1).any() or not (y == 0).any():
        raise ValueError("train_binary_svm: expected both positives (1) and negatives (0)")
    svm = LinearSVC(C=C, loss="hinge", dual=True, class_weight={1: positive_weight, 0: 1.0}, max_iter=20000,
                    random_state=random_state)
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        svm.fit(np.asarray(x, np.float64), y)
    model = _LinearModel(svm.coef_.ravel(), svm.intercept_[0])
    model.converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return model


class RegionDetector:
    """One linear SVM per class over proposal signatures, with hard-negative mining.

    Parameters
    ----------
    layout : str
        Spatial pyramid over each box (``"1x1+2x2"``: 5 cells).
    C : float
    positive_weight : float
    initial_overlap : (float, float)
        Proposals whose best overlap with a positive lies in ``[lo, hi)`` are the initial
        negatives.
    max_overlap, hard_score, easy_score, retrain_every, rounds, max_per_image :
        Passed to :class:`~baselines.hard_negatives.HardNegativeMiner`.
    nms_overlap : float
        Non-maximum suppression threshold at test time.
    max_detections : int
        Per class and image, after suppression.
    random_state : int
    """

    def __init__(self, *, layout: str = "1x1+2x2", C: float = 1.0, positive_weight: float = 1.0,
                 initial_overlap=(0.2, 0.5), max_overlap: float = _MINING["max_overlap"],
                 hard_score: float = _MINING["hard_score"], easy_score: float = _MINING["easy_score"],
                 retrain_every: int = _MINING["retrain_every"], rounds: int = _MINING["rounds"],
                 max_per_image: int = _MINING["max_per_image"], nms_overlap: float = 0.3, max_detections: int = 100, random_state: int = 0):
        self.layout = layout
        self.C = C
        self.positive_weight = positive_weight
        self.initial_overlap = initial_overlap
        self.max_overlap = max_overlap
        self.hard_score = hard_score
        self.easy_score = easy_score
        self.retrain_every = retrain_every
        self.rounds = rounds
        self.max_per_image = max_per_image
        self.nms_overlap = nms_overlap
        self.max_detections = max_detections
        self.random_state = random_state

    def signatures(self, image: ImageRegions, boxes) -> np.ndarray:
        """Signatures of ``boxes`` of ``image``; (m, n_cells * n_words) float32."""
        return region_bow(image.integral, boxes, self.layout)

    def _overlaps(self, image: ImageRegions, boxes, cls: int) -> np.ndarray:
        gt = image.gt_boxes[image.gt_labels == cls]
        if len(gt) == 0 or len(boxes) == 0:
            return np.zeros(len(boxes))
        return np.maximum(iou_matrix(boxes, gt).max(axis=1), 0.0)

    def fit(self, images: list, n_classes: int) -> "RegionDetector":
        """Train one detector per class on ``images`` (list of :class:`ImageRegions`)."""
        coefs, intercepts, logs = [], [], []
        lo, hi = self.initial_overlap

        unconverged = {"n": 0, "of": 0}

        def train(x, y):
            model = train_binary_svm(x, y, C=self.C, positive_weight=self.positive_weight,
                                     random_state=self.random_state)
            unconverged["of"] += 1
            unconverged["n"] += not model.converged
            return model

        for cls in range(n_classes):
            positives, init_keys, init_x = [], [], []
            for i, im in enumerate(images):
                gt = im.gt_boxes[im.gt_labels == cls]
                if len(gt):
                    positives.append(self.signatures(im, gt))
                    ov = self._overlaps(im, im.proposals, cls)
                    sel = np.flatnonzero((ov >= lo) & (ov < hi))
                    if len(sel):
                        init_keys += [(i, int(j)) for j in sel]
                        init_x.append(self.signatures(im, im.proposals[sel]))
            if not positives:
                raise ValueError(f"class {cls}: no training box")
            pos = np.concatenate(positives)
            neg = np.concatenate(init_x) if init_x else np.zeros((0, pos.shape[1]), np.float32)
            if not len(neg):
                # no proposal in the initial band: start from each image's first proposals away from the positives
                for i, im in enumerate(images):
                    ov = self._overlaps(im, im.proposals, cls)
                    sel = np.flatnonzero(ov < self.max_overlap)[:10]
                    init_keys += [(i, int(j)) for j in sel]
                    init_x.append(self.signatures(im, im.proposals[sel]))
                neg = np.concatenate(init_x)

            def candidates(i, cls=cls):
                im = images[i]
                return (np.arange(len(im.proposals)), self.signatures(im, im.proposals),
                        self._overlaps(im, im.proposals, cls))

            miner = HardNegativeMiner(train, max_overlap=self.max_overlap, hard_score=self.hard_score,
                                      easy_score=self.easy_score, retrain_every=self.retrain_every,
                                      rounds=self.rounds, max_per_image=self.max_per_image)
            model = miner.fit(pos, init_keys, neg, range(len(images)), candidates)
            coefs.append(model.coef)
            intercepts.append(model.intercept)
            logs.append({"class": cls, "positives": len(pos), "initial_negatives": len(neg),
                         "final_negatives": len(miner.cache_keys_), "retrains": miner.log_.retrains,
                         "unconverged_trainings": unconverged["n"]})
            log.info("class %d: %d positives, %d -> %d negatives", cls, len(pos), len(neg), len(miner.cache_keys_))
            if unconverged["n"]:
                log.warning("class %d: liblinear stopped at its iteration limit in %d of %d trainings (the "
                            "detector may be less accurate than converged)", cls, unconverged["n"], unconverged["of"])
            unconverged.update(n=0, of=0)
        self.coef_ = np.stack(coefs, axis=1)
        self.intercept_ = np.asarray(intercepts, np.float32)
        self.training_log_ = logs
        return self

    def score(self, image: ImageRegions, boxes=None) -> np.ndarray:
        """Scores of every class on ``boxes`` (default: the proposals); (m, n_classes) float32."""
        boxes = image.proposals if boxes is None else boxes
        if len(boxes) == 0:
            return np.zeros((0, len(self.intercept_)), np.float32)
        return self.signatures(image, boxes) @ self.coef_ + self.intercept_

    def detect(self, image: ImageRegions, scores=None):
        """Detections of one image after per-class non-maximum suppression (``scores``: the
        result of :meth:`score`, when the caller has it).

        Returns
        -------
        labels : ndarray (k,), int64 (0-based)
        scores : ndarray (k,), float64
        boxes : ndarray (k, 4), float64
        """
        scores = self.score(image) if scores is None else scores
        labels, out_scores, boxes = [], [], []
        for cls in range(scores.shape[1]):
            keep = non_maximum_suppression(image.proposals, scores[:, cls], self.nms_overlap, self.max_detections)
            labels.append(np.full(len(keep), cls, np.int64))
            out_scores.append(scores[keep, cls].astype(np.float64))
            boxes.append(image.proposals[keep])
        return np.concatenate(labels), np.concatenate(out_scores), np.concatenate(boxes).reshape(-1, 4)

    def best_boxes(self, image: ImageRegions, classes, scores=None) -> np.ndarray:
        """The best-scoring proposal of each class in ``classes`` (the localization task); (len(classes), 4)."""
        classes = np.asarray(classes, np.int64)
        if len(image.proposals) == 0:
            return np.zeros((len(classes), 4))
        scores = self.score(image) if scores is None else scores
        return image.proposals[np.argmax(scores[:, classes], axis=0)]
