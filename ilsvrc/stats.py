"""Uncertainty of reported numbers: bootstrap intervals and paired comparisons.

The devkit reports point estimates only.  Comparing two systems on the same 50,000
images needs to know how much of a difference is noise, so every reported error and mAP
can come with a seeded bootstrap interval over *images* (the sampling unit of
the validation set), and two submissions can be compared pairwise on the same images.

Every resample is computed with array operations, never by re-scoring a materialised
resample:

* **Means** (top-k errors, hierarchical costs, paired differences).  A resample's mean
  depends only on how many draws land on each distinct per-image value (row), and those
  counts are multinomial with the rows' frequencies.  So the resamples are drawn as
  multinomial counts over the distinct rows (at most a few dozen for top-k errors) and
  the means follow from one matrix product: the same bootstrap distribution as drawing
  images one by one, at a cost independent of the number of images.  (Versions that drew
  images one by one gave other draws for the same seed: bounds differ from theirs by
  Monte-Carlo noise, up to 0.0004 for a 50,000-image error near 0.5.)
  With too many distinct rows (continuous values) images are drawn one by one.
* **Detection mAP** is re-computed exactly under each resample without re-matching:
  matching is per image, so a resample only changes how often each image's detections
  and objects count (a weight per image, drawn image by image as before: the same
  numbers for the same seed).  AP then follows from weighted counts along the one ranked
  list of each class (:class:`WeightedAP`), for a block of resamples at a time.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from statistics import NormalDist

import numpy as np

DEFAULT_BOOTSTRAP = 1000
DEFAULT_CONFIDENCE = 0.95
_CHUNK = 64
_MAX_PATTERNS = 4096
_CACHE_BYTES = 3 << 19  # WeightedAP works on blocks of resamples whose (resamples x runs) arrays fit ~1.5 MB


@dataclass(frozen=True)
class Interval:
    """A bootstrap interval (percentile for mean errors, normal with bootstrap SE for AP).

    Attributes
    ----------
    low, high : ndarray
        Bounds, one per reported value.
    confidence : float
    n_resamples : int
    seed : int
    """

    low: np.ndarray
    high: np.ndarray
    confidence: float
    n_resamples: int
    seed: int

    def as_dict(self) -> dict:
        return {"low": _listify(self.low), "high": _listify(self.high), "confidence": self.confidence,
                "n_resamples": self.n_resamples, "seed": self.seed}


def _listify(x):
    arr = np.atleast_1d(np.asarray(x, np.float64))
    return [None if not np.isfinite(v) else float(v) for v in arr]


def resample_weights(n_items: int, n_resamples: int, seed: int):
    """Yield chunks of bootstrap weights: how often each item is drawn, shape (chunk, n_items).

    Items are drawn one by one, 64 resamples at a time; deterministic for a given
    ``(n_items, n_resamples, seed)``.
    """
    for counts_t in _draw_counts(n_items, n_resamples, seed):
        yield counts_t.T


def _draw_counts(n_items: int, n_resamples: int, seed: int, *, dtype=np.float64, reuse: bool = False):
    """The transposed chunks of :func:`resample_weights`: (n_items, chunk), one column per resample.

    With ``reuse`` every chunk is written into the same buffer (the caller must be done
    with a chunk before asking for the next one).
    """
    rng = np.random.default_rng(seed)
    done = 0
    buffer = rows = None
    while done < n_resamples:
        m = min(_CHUNK, n_resamples - done)
        draws = rng.integers(0, n_items, size=(m, n_items))
        if buffer is None or not reuse or buffer.shape[1] != m:
            buffer, rows = np.empty((n_items, m), dtype), np.empty((m, n_items), dtype)
        for j in range(m):  # one resample at a time: the counts stay in cache
            rows[j] = np.bincount(draws[j], minlength=n_items)
        buffer[:] = rows.T
        yield buffer
        done += m


def resampled_means(per_item, n_resamples: int, seed: int) -> np.ndarray:
    """Column means of bootstrap resamples of the rows of ``per_item``.

    Parameters
    ----------
    per_item : array_like of shape (n_items, n_values)
    n_resamples, seed : int

    Returns
    -------
    ndarray of shape (n_resamples, n_values)
        Drawn as multinomial counts over the distinct rows (see the module docstring);
        by drawing rows one by one where there are more than 4,096 distinct rows.
    """
    x = np.asarray(per_item, np.float64)
    x = x.reshape(len(x), -1)
    n = len(x)
    patterns, inverse = np.unique(x, axis=0, return_inverse=True)
    if len(patterns) <= _MAX_PATTERNS:
        counts = np.bincount(inverse.ravel(), minlength=len(patterns))
        draws = np.random.default_rng(seed).multinomial(n, counts / n, size=n_resamples)
        return draws @ patterns / n
    return np.concatenate([w @ x / n for w in resample_weights(n, n_resamples, seed)])


def _percentile_interval(samples: np.ndarray, confidence: float):
    alpha = (1 - confidence) / 2
    with np.errstate(invalid="ignore"):
        return np.nanquantile(samples, alpha, axis=0), np.nanquantile(samples, 1 - alpha, axis=0)


def _normal_quantile(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def _normal_interval(samples: np.ndarray, estimate, confidence: float):
    """``estimate -+ z * SE`` with the bootstrap standard error SE, per column.

    Used for detection AP.  AP is not a mean over images, and resampling images with
    replacement shifts it: duplicated images clump their detections in the ranking, and
    the interpolated (running-maximum) precision rewards clumps.  On the official DET
    demo the resampled mAPs centre about 0.01 *above* the estimate (SE 0.004), so percentile (and
    bias-corrected percentile) intervals do not even contain the estimate.  The spread of
    the resamples is still a sound estimate of the standard error, so the interval is
    centred on the estimate.
    """
    z = _normal_quantile(confidence)
    se = np.nanstd(np.asarray(samples, np.float64), axis=0, ddof=1)
    estimate = np.atleast_1d(np.asarray(estimate, np.float64))
    return estimate - z * se, estimate + z * se


def bootstrap_mean(per_item, *, n_resamples: int = DEFAULT_BOOTSTRAP, seed: int = 0,
                   confidence: float = DEFAULT_CONFIDENCE) -> Interval:
    """Percentile bootstrap interval of column means.

    Parameters
    ----------
    per_item : array_like of shape (n_items,) or (n_items, n_values)
        E.g. per-image top-k errors.

    Returns
    -------
    Interval
        Bounds of shape (n_values,).
    """
    low, high = _percentile_interval(resampled_means(per_item, n_resamples, seed), confidence)
    return Interval(low, high, confidence, n_resamples, seed)


# --------------------------------------------------------------------------- detection
@dataclass(frozen=True)
class WeightedAP:
    """Ranked detections of a DET evaluation, reduced for AP under image weights.

    Build it with :meth:`from_result`.  With image weights ``w``, class c's all-points AP
    is ``sum_t w[t] * mpre(t) / npos_c`` over its true positives t, where ``mpre(t)`` is
    the largest precision at or after t.  Along a run of consecutive true positives the
    precision only rises, and a false positive only lowers it, so ``mpre`` is the same
    for the whole run and is the largest precision at the end of a later (or the same)
    run.  Each class's list is therefore reduced to alternating *segments*: the false
    positives before a run (a gap, possibly empty), then the run; false positives after
    the last run do not count.  Per resample, only the weighted size of every segment is
    needed.

    Attributes
    ----------
    segment_image : ndarray of shape (n_entries,), int64
        Image of every kept detection, segment after segment (gap 0, run 0, gap 1, ...).
    segment_bounds : ndarray of shape (2 * n_runs + 1,), int64
        Offsets of the segments in ``segment_image``.
    run_class : ndarray of shape (n_runs,), int64
        0-based class of each run (non-decreasing).
    object_image : ndarray of shape (n_positives,), int64
        Image of every counted positive, grouped by class.
    object_bounds : ndarray of shape (n_classes + 1,), int64
        Offsets of the classes in ``object_image``.
    n_classes, n_images : int
    """

    segment_image: np.ndarray
    segment_bounds: np.ndarray
    run_class: np.ndarray
    object_image: np.ndarray
    object_bounds: np.ndarray
    n_classes: int
    n_images: int

    @classmethod
    def from_result(cls, result, image, label, objects, blacklist=None) -> "WeightedAP":
        """From a :class:`~ilsvrc.metrics.detection.DetectionResult` and its inputs."""
        label = np.asarray(label, np.int64)
        image = np.asarray(image, np.int64)
        m = result.matches
        c = len(result.ap)
        ranked = m.rank[m.counted[m.rank]]
        ranked = ranked[np.argsort(label[ranked], kind="stable")]
        klass, tp, img = label[ranked] - 1, m.tp[ranked] > 0, image[ranked]
        # drop the false positives after each class's last true positive
        class_end = np.searchsorted(klass, klass, side="right") - 1
        tp_through = np.cumsum(tp)
        keep = tp_through[class_end] - (tp_through - tp) > 0
        klass, tp, img = klass[keep], tp[keep], img[keep]
        new_class = np.r_[True, klass[1:] != klass[:-1]] if len(klass) else np.zeros(0, bool)
        run_start = tp & (new_class | ~np.r_[False, tp[:-1]])
        runs_so_far = np.cumsum(run_start)
        segment = np.where(tp, 2 * runs_so_far - 1, 2 * runs_so_far)
        n_runs = int(runs_so_far[-1]) if len(runs_so_far) else 0
        bounds = np.searchsorted(segment, np.arange(2 * n_runs + 1))
        keep_obj = np.ones(len(objects), bool)
        if blacklist is not None and len(blacklist):
            bl = np.asarray(blacklist, np.int64).reshape(-1, 2)
            w = int(max(objects.label.max(initial=0), bl[:, 1].max(initial=0))) + 1
            keep_obj = ~np.isin(objects.image * w + objects.label, bl[:, 0] * w + bl[:, 1])
        keep_obj &= objects.label <= c
        order = np.argsort(objects.label[keep_obj], kind="stable")
        obj_label = objects.label[keep_obj][order] - 1
        return cls(img, bounds, klass[run_start], objects.image[keep_obj][order],
                   np.searchsorted(obj_label, np.arange(c + 1)), c, objects.n_images)

    @cached_property
    def _segments(self):
        return _segment_matrix(self.segment_image, self.segment_bounds, self.n_images)

    @cached_property
    def _positives(self):
        return _segment_matrix(self.object_image, self.object_bounds, self.n_images)

    @cached_property
    def _class_starts(self) -> np.ndarray:
        """Index of the first run of each class that has runs."""
        return np.flatnonzero(np.r_[True, self.run_class[1:] != self.run_class[:-1]]) if len(self.run_class) \
            else np.zeros(0, np.int64)

    @cached_property
    def _exact_in_float32(self) -> bool:
        """Whether weighted segment sizes stay below 2**24 (exact in float32) for any resample."""
        largest = max([m.data.max(initial=0.0) for m in (self._segments, self._positives)])
        return self.n_images * largest < 2**24

    def _resample_block(self, counts_t: np.ndarray) -> np.ndarray:
        """Per-class AP for image weights ``counts_t`` (n_images, m); shape (m, n_classes)."""
        m = counts_t.shape[1]
        if counts_t.dtype == np.float32 and not self._exact_in_float32:
            counts_t = counts_t.astype(np.float64)
        segments, positives = self._segments, self._positives
        if counts_t.dtype == np.float32:
            segments, positives = segments.astype(np.float32), positives.astype(np.float32)
        sizes = np.ascontiguousarray((segments @ counts_t).T, dtype=np.float64)  # (m, 2R): exact integers
        sizes = sizes.reshape(m, -1, 2).transpose(0, 2, 1)                        # (m, gap / run, R)
        starts = self._class_starts
        cumulative = _class_cumsum(sizes, starts)
        cfp, ctp = cumulative[:, 0], cumulative[:, 1]
        run = sizes[:, 1]
        total = ctp + cfp
        precision = np.divide(ctp, total, out=np.zeros_like(ctp), where=total > 0)
        # running maximum from the end within each class: offsets keep classes apart
        offset = 2.0 * (self.n_classes - self.run_class)
        mpre = np.maximum.accumulate((precision + offset)[:, ::-1], axis=1)[:, ::-1] - offset
        contrib = np.zeros((m, self.n_classes))
        if run.shape[1]:
            contrib[:, self.run_class[starts]] = np.add.reduceat(run * mpre, starts, axis=1)
        npos = (positives @ counts_t).T
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(npos > 0, contrib / npos, np.nan)

    def _mean_aps(self, counts_t: np.ndarray) -> np.ndarray:
        """mAP for each column of ``counts_t`` (n_images, m), in blocks that fit the work budget."""
        step = max(1, _CACHE_BYTES // (8 * max(len(self.run_class), self.n_classes, 1)))
        return np.concatenate([np.mean(self._resample_block(counts_t[:, lo: lo + step]), axis=1)
                               for lo in range(0, counts_t.shape[1], step)])

    def average_precisions(self, weights: np.ndarray) -> np.ndarray:
        """Per-class all-points AP with image weights (n_images,); shape (n_classes,).

        Equals the official AP for ``weights = 1`` up to rounding, and for bootstrap
        counts the AP of the resampled set, with one convention for ties: the copies of a
        duplicated image stay together in the ranking (a materialised resample would
        interleave them by image position with other images' detections of the same
        confidence).
        """
        return self._resample_block(np.asarray(weights, np.float64).reshape(-1, 1))[0]

    def mean_aps(self, weights: np.ndarray) -> np.ndarray:
        """mAP for each row of ``weights`` (m, n_images); shape (m,)."""
        return self._mean_aps(np.ascontiguousarray(np.asarray(weights, np.float64).T))

    def mean_ap(self, weights: np.ndarray) -> float:
        return float(np.mean(self.average_precisions(weights)))

    def bootstrap(self, *, n_resamples: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> np.ndarray:
        """mAP of each bootstrap resample of images (the draws of :func:`resample_weights`); shape (n_resamples,)."""
        return np.concatenate([self._mean_aps(c) for c in _draw_counts(self.n_images, n_resamples, seed,
                                                                        dtype=np.float32, reuse=True)])


def _class_cumsum(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Cumulative sums along the last axis restarting at every ``starts`` (exact for integer values).

    Each group's first value is lowered by the total of the group before it, so one
    cumulative sum restarts at every group.
    """
    values = values.copy()
    if len(starts) > 1:
        totals = np.add.reduceat(values, starts, axis=-1)
        values[..., starts[1:]] -= totals[..., :-1]
    return np.cumsum(values, axis=-1)


def _segment_matrix(members: np.ndarray, bounds: np.ndarray, n_items: int):
    """Sparse (n_segments, n_items) counts of each item in segments ``bounds[i]:bounds[i+1]`` of ``members``."""
    from scipy.sparse import csr_matrix

    counts = np.diff(bounds)
    rows = np.repeat(np.arange(len(counts)), counts)
    matrix = csr_matrix((np.ones(len(members)), (rows, members)), shape=(len(counts), n_items))
    matrix.sum_duplicates()
    return matrix


def bootstrap_map(wap: WeightedAP, *, n_resamples: int = DEFAULT_BOOTSTRAP, seed: int = 0,
                  confidence: float = DEFAULT_CONFIDENCE) -> Interval:
    """Bootstrap interval of detection mAP over images (normal, bootstrap SE; see :func:`_normal_interval`)."""
    estimate = wap.mean_ap(np.ones(wap.n_images))
    low, high = _normal_interval(wap.bootstrap(n_resamples=n_resamples, seed=seed)[:, None], estimate, confidence)
    return Interval(low, high, confidence, n_resamples, seed)


# --------------------------------------------------------------------------- paired comparison
@dataclass(frozen=True)
class PairedComparison:
    """Difference ``B - A`` of a metric on the same images, with its interval and a test.

    Attributes
    ----------
    a, b, difference : ndarray
        Values of A, of B, and ``b - a`` (one per k for errors, one for mAP).
    interval : Interval
        Paired bootstrap interval of the difference.
    p_value : ndarray
        Two-sided p-value of "no difference".
    test : str
        Name of the test behind ``p_value``.
    """

    a: np.ndarray
    b: np.ndarray
    difference: np.ndarray
    interval: Interval
    p_value: np.ndarray
    test: str

    def as_dict(self) -> dict:
        return {"a": _listify(self.a), "b": _listify(self.b), "difference": _listify(self.difference),
                "interval": self.interval.as_dict(), "p_value": _listify(self.p_value), "test": self.test}


def mcnemar_exact(errors_a, errors_b) -> float:
    """Exact two-sided McNemar test of paired binary outcomes (1 = error)."""
    from scipy.stats import binomtest

    a = np.asarray(errors_a, bool)
    b = np.asarray(errors_b, bool)
    only_a = int(np.sum(a & ~b))
    only_b = int(np.sum(~a & b))
    if only_a + only_b == 0:
        return 1.0
    return float(binomtest(only_a, only_a + only_b, 0.5).pvalue)


def sign_flip_test(differences, *, n_permutations: int = 10000, seed: int = 0) -> float:
    """Two-sided paired permutation test (random sign flips) of mean difference = 0."""
    d = np.asarray(differences, np.float64)
    observed = abs(d.mean())
    rng = np.random.default_rng(seed)
    count = 0
    done = 0
    while done < n_permutations:
        m = min(_CHUNK, n_permutations - done)
        signs = rng.choice([-1.0, 1.0], size=(m, len(d)))
        count += int(np.sum(np.abs(signs @ d / len(d)) >= observed - 1e-15))
        done += m
    return (count + 1) / (n_permutations + 1)


def compare_per_image(errors_a, errors_b, *, n_resamples: int = DEFAULT_BOOTSTRAP, seed: int = 0,
                      confidence: float = DEFAULT_CONFIDENCE) -> PairedComparison:
    """Paired comparison of per-image errors (n_images, n_k) of two submissions.

    The test is exact McNemar where the per-image errors are 0/1 (single-label ground
    truth), otherwise a sign-flip permutation test.
    """
    a = np.asarray(errors_a, np.float64)
    b = np.asarray(errors_b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"per-image errors differ in shape: {a.shape} and {b.shape}")
    a2, b2 = a.reshape(len(a), -1), b.reshape(len(b), -1)
    diff = b2 - a2
    interval = bootstrap_mean(diff, n_resamples=n_resamples, seed=seed, confidence=confidence)
    binary = np.isin(a2, (0.0, 1.0)).all() and np.isin(b2, (0.0, 1.0)).all()
    if binary:
        p = np.array([mcnemar_exact(a2[:, j], b2[:, j]) for j in range(a2.shape[1])])
        test = "exact McNemar"
    else:
        p = np.array([sign_flip_test(diff[:, j], seed=seed) for j in range(a2.shape[1])])
        test = "paired sign-flip permutation"
    return PairedComparison(a2.mean(0), b2.mean(0), diff.mean(0), interval, p, test)


def compare_map(wap_a: WeightedAP, wap_b: WeightedAP, *, n_resamples: int = DEFAULT_BOOTSTRAP, seed: int = 0,
                confidence: float = DEFAULT_CONFIDENCE) -> PairedComparison:
    """Paired bootstrap comparison of two detection submissions' mAP (same resampled images).

    The interval is ``difference -+ z * SE`` and the p-value the two-sided normal p of
    ``difference / SE``, with SE the standard deviation of the resampled differences
    (see :func:`_normal_interval` for why not percentiles).
    """
    if wap_a.n_images != wap_b.n_images:
        raise ValueError("the two evaluations are on different image sets")
    ones = np.ones(wap_a.n_images)
    a, b = wap_a.mean_ap(ones), wap_b.mean_ap(ones)
    diffs = np.concatenate([wap_b._mean_aps(c) - wap_a._mean_aps(c) for c in
                            _draw_counts(wap_a.n_images, n_resamples, seed, dtype=np.float32, reuse=True)])
    low, high = _normal_interval(diffs[:, None], b - a, confidence)
    se = float(np.nanstd(diffs, ddof=1))
    p = float(2 * NormalDist().cdf(-abs(b - a) / se)) if se > 0 else (1.0 if b == a else 0.0)
    return PairedComparison(np.array([a]), np.array([b]), np.array([b - a]),
                            Interval(low, high, confidence, n_resamples, seed), np.array([p]),
                            "paired bootstrap (normal, bootstrap SE)")
