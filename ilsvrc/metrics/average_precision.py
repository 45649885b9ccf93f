"""Average precision from a precision/recall curve: the PASCAL VOC variants.

``all_points`` (VOC2010+ and ILSVRC ``VOCap.m``)
    Prepend (recall 0, precision 0) and append (recall 1, precision 0); make precision
    non-increasing from the right with a running maximum that ignores NaN (MATLAB's
    ``max``); sum ``(r[i] - r[i-1]) * p[i]`` over the points ``i`` where recall changes
    (``r[i] != r[i-1]``, which is also true where recall is NaN, so a class without
    positives gets AP NaN, as in the official code).
``11_point`` (VOC2007)
    Mean over ``t = 0:0.1:1`` of the largest precision at recall >= t (0 if none), with
    the thresholds generated exactly as MATLAB's colon operator generates them.
"""
from __future__ import annotations

import numpy as np

AP_METHODS = ("all_points", "11_point")


def matlab_colon(start: float, step: float, stop: float) -> np.ndarray:
    """Values of MATLAB's ``start:step:stop``, bit for bit.

    MATLAB computes the first half of the range as ``start + k*step`` and the second
    half as ``stop - (n - k)*step`` so that the end point is exact; ``np.arange`` and
    ``np.linspace`` differ in the last bit for some elements (0.3, 0.7, ...).
    """
    n = int(np.floor((stop - start) / step + 1e-10))
    k = np.arange(n + 1, dtype=np.float64)
    out = start + k * step
    end = stop if abs(start + n * step - stop) < abs(step) * 1e-10 else start + n * step
    upper = k >= n / 2
    out[upper] = end - (n - k[upper]) * step
    return out


_VOC07_THRESHOLDS = matlab_colon(0.0, 0.1, 1.0)


def average_precision(recall, precision, method: str = "all_points") -> float:
    """Average precision of one class.

    Parameters
    ----------
    recall, precision : array_like of shape (n,)
        Cumulative recall and precision down the ranked list of detections.
    method : {"all_points", "11_point"}

    Returns
    -------
    float
        AP; NaN where recall is NaN (no positives) under ``all_points``.
    """
    rec = np.asarray(recall, np.float64).ravel()
    prec = np.asarray(precision, np.float64).ravel()
    if rec.shape != prec.shape:
        raise ValueError(f"recall and precision must have the same length, got {rec.shape} and {prec.shape}")
    if method == "all_points":
        mrec = np.concatenate([[0.0], rec, [1.0]])
        mpre = np.concatenate([[0.0], prec, [0.0]])
        mpre = np.fmax.accumulate(mpre[::-1])[::-1]
        idx = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
        terms = (mrec[idx] - mrec[idx - 1]) * mpre[idx]
        total = 0.0
        for t in terms.tolist():  # sequential sum, as MATLAB's sum over a short vector
            total += t
        return total
    if method == "11_point":
        total = 0.0
        for t in _VOC07_THRESHOLDS:
            above = prec[rec >= t]
            p = np.nanmax(above) if above.size and not np.isnan(above).all() else 0.0
            total += p / 11
        return total
    raise ValueError(f"method: expected one of {AP_METHODS}, got {method!r}")
