"""Uncertainty of reported numbers: bootstrap intervals and paired comparisons.

The devkit reports point estimates only.  Comparing two systems on the same 50,000
images needs to know how much of a difference is noise, so every reported error and mAP
can come with a seeded bootstrap interval over *images* (the sampling unit of
the validation set), and two submissions can be compared pairwise on the same images.

Detection mAP is re-computed exactly under each resample without re-matching: matching
is per image, so a resample only changes how often each image's detections and objects
count (a weight per image); AP then follows from weighted cumulative sums down the fixed
ranked list.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_BOOTSTRAP = 1000
DEFAULT_CONFIDENCE = 0.95
_CHUNK = 64


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

    Deterministic for a given ``(n_items, n_resamples, seed)``.
    """
    rng = np.random.default_rng(seed)
    done = 0
    while done < n_resamples:
        m = min(_CHUNK, n_resamples - done)
        draws = rng.integers(0, n_items, size=(m, n_items))
        offsets = (np.arange(m) * n_items)[:, None]
        weights = np.bincount((draws + offsets).ravel(), minlength=m * n_items).reshape(m, n_items)
        yield weights.astype(np.float64)
        done += m


def _percentile_interval(samples: np.ndarray, confidence: float):
    alpha = (1 - confidence) / 2
    with np.errstate(invalid="ignore"):
        return np.nanquantile(samples, alpha, axis=0), np.nanquantile(samples, 1 - alpha, axis=0)


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
    from scipy.stats import norm

    z = norm.ppf(0.5 + confidence / 2)
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
    x = np.asarray(per_item, np.float64)
    x2 = x.reshape(len(x), -1)
    means = np.concatenate([w @ x2 / len(x2) for w in resample_weights(len(x2), n_resamples, seed)])
    low, high = _percentile_interval(means, confidence)
    return Interval(low, high, confidence, n_resamples, seed)


# --------------------------------------------------------------------------- detection
@dataclass(frozen=True)
class WeightedAP:
    """Ranked detections of a DET evaluation, prepared for AP under image weights.

    Build it with :meth:`from_result`; :meth:`mean_ap` gives the mAP for a weight vector.
    """

    det_image: np.ndarray   # (n_counted,) image of each counted detection, grouped by class, ranked
    det_tp: np.ndarray
    det_fp: np.ndarray
    det_class: np.ndarray   # 0-based class of each entry
    obj_image: np.ndarray   # (n_pos,) image of each counted positive
    obj_class: np.ndarray   # 0-based class
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
        keep = np.ones(len(objects), bool)
        if blacklist is not None and len(blacklist):
            bl = np.asarray(blacklist, np.int64).reshape(-1, 2)
            w = int(max(objects.label.max(initial=0), bl[:, 1].max(initial=0))) + 1
            keep = ~np.isin(objects.image * w + objects.label, bl[:, 0] * w + bl[:, 1])
        keep &= objects.label <= c
        return cls(image[ranked], m.tp[ranked], m.fp[ranked], label[ranked] - 1,
                   objects.image[keep], objects.label[keep] - 1, c, objects.n_images)

    def average_precisions(self, weights: np.ndarray) -> np.ndarray:
        """Per-class all-points AP with image weights (n_images,); shape (n_classes,).

        Equals the official AP for ``weights = 1`` up to rounding, and for bootstrap
        counts the AP of the resampled set, with one convention for ties: the copies of a
        duplicated image stay together in the ranking (a materialised resample would
        interleave them by image position with other images' detections of the same
        confidence).
        """
        tpw = self.det_tp * weights[self.det_image]
        fpw = self.det_fp * weights[self.det_image]
        npos = np.bincount(self.obj_class, weights=weights[self.obj_image], minlength=self.n_classes)
        starts = np.searchsorted(self.det_class, np.arange(self.n_classes))
        ctp = _segment_cumsum(tpw, starts)
        cfp = _segment_cumsum(fpw, starts)
        with np.errstate(divide="ignore", invalid="ignore"):
            prec = np.where(ctp + cfp > 0, ctp / (ctp + cfp), 0.0)
        # Running max from the right within each class: offset classes so maxima cannot leak.
        offset = 2.0 * (self.n_classes - self.det_class)
        mpre = np.maximum.accumulate((prec + offset)[::-1])[::-1] - offset
        contrib = np.bincount(self.det_class, weights=tpw * mpre, minlength=self.n_classes)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(npos > 0, contrib / npos, np.nan)

    def mean_ap(self, weights: np.ndarray) -> float:
        return float(np.mean(self.average_precisions(weights)))

    def bootstrap(self, *, n_resamples: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> np.ndarray:
        """mAP of each bootstrap resample of images; shape (n_resamples,)."""
        out = []
        for chunk in resample_weights(self.n_images, n_resamples, seed):
            out.extend(self.mean_ap(w) for w in chunk)
        return np.array(out)


def _segment_cumsum(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    total = np.cumsum(values)
    before = np.concatenate([[0.0], total])[starts]
    seg = np.searchsorted(starts, np.arange(len(values)), side="right") - 1
    return total - before[seg]


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
    diffs = []
    for chunk in resample_weights(wap_a.n_images, n_resamples, seed):
        diffs.extend(wap_b.mean_ap(w) - wap_a.mean_ap(w) for w in chunk)
    diffs = np.array(diffs)
    low, high = _normal_interval(diffs[:, None], b - a, confidence)
    se = float(np.nanstd(diffs, ddof=1))
    from scipy.stats import norm

    p = float(2 * norm.sf(abs(b - a) / se)) if se > 0 else (1.0 if b == a else 0.0)
    return PairedComparison(np.array([a]), np.array([b]), np.array([b - a]),
                            Interval(low, high, confidence, n_resamples, seed), np.array([p]),
                            "paired bootstrap (normal, bootstrap SE)")
