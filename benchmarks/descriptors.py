"""Descriptor benchmark: our dense SIFT and PHOW against VLFeat and OpenCV, interleaved.

The test photographs resized to a longest side of 227 px (the classic network input, where
fixed per-call costs weigh most) and 500 px, each implementation timed in turn, round by
round (the order rotating), on one thread, in CPU time of that thread (wall time on a shared
machine also counts waiting for a core); the ratio to VLFeat, the median over rounds of the
ratio within a round, is the figure to quote.
"""
from __future__ import annotations

import time

import numpy as np

from .common import bench_images, interleaved_rounds, median_ratio

SIZES = (227, 500)
MIN_ROUNDS = 15   # fewer rounds: the ratio moves by +-0.3x from run to run on a shared machine
TARGETS = {"dense SIFT flat window, step 4, bin 8": 2.5, "PHOW gray, sizes 4-10, step 3": 3.0}


def bench_descriptors(repeats: int, photos=None, n_photos: int = 4) -> list[str]:
    """The descriptor table; on ``n_photos`` photographs drawn from the folder tree ``photos``
    instead of the four committed ones when it is given."""
    import cv2

    from features.dsift import dense_sift, phow
    from features.keypoints import opencv_dense_sift

    from . import vlfeat_reference

    cv2.setNumThreads(1)
    have_vl = vlfeat_reference.available()
    n_rounds = max(repeats, MIN_ROUNDS)
    where = "4 Caltech-101 photographs" if photos is None else f"{n_photos} photographs drawn from {photos}"
    rows = [f"Descriptors, one thread, median CPU ms per image over {n_rounds} interleaved rounds "
            "(order rotating; 'vs VLFeat': median of the per-round ratios) "
            f"({where} resized; VLFeat {'via cyvlfeat' if have_vl else 'NOT installed: make reference'})"]
    rows.append(f"  {'work':<44}{'px':>5}{'ours':>9}{'VLFeat':>9}{'OpenCV':>9}{'vs VLFeat':>11}{'target':>8}")
    missed = []
    for longest in SIZES:
        images = bench_images(longest, photos, n_photos)
        cases = [
            ("dense SIFT flat window, step 4, bin 8",
             lambda im: dense_sift(im, step=4, bin_size=8, fast=True),
             (lambda im: vlfeat_reference.vlfeat_dsift(im, step=4, size=8, fast=True)) if have_vl else None,
             lambda im: opencv_dense_sift(im, step=4, bin_size=8)),
            ("dense SIFT Gaussian window, step 4, bin 8",
             lambda im: dense_sift(im, step=4, bin_size=8, fast=False),
             (lambda im: vlfeat_reference.vlfeat_dsift(im, step=4, size=8, fast=False)) if have_vl else None, None),
            ("PHOW gray, sizes 4-10, step 3",
             lambda im: phow(im, step=3),
             (lambda im: vlfeat_reference.vlfeat_phow(im, step=3)) if have_vl else None, None),
        ]
        for name, ours, vl, ocv in cases:
            impls = {"ours": ours}
            if vl is not None:
                impls["vl"] = vl
            if ocv is not None:
                impls["cv"] = ocv
            rounds = interleaved_rounds(impls, images, n_rounds, clock=time.thread_time)
            t = {k: float(np.median(v)) for k, v in rounds.items()}
            fmt = lambda k: f"{t[k]:>9.1f}" if k in t else f"{'-':>9}"  # noqa: E731
            ratio = median_ratio(rounds["vl"], rounds["ours"]) if "vl" in t else None
            target = TARGETS.get(name)
            if ratio is not None and target is not None and ratio < target:
                missed.append(f"{name} at {longest} px: {ratio:.1f}x < {target:.1f}x")
            rows.append(f"  {name:<44}{longest:>5}{fmt('ours')}{fmt('vl')}{fmt('cv')}"
                        + (f"{ratio:>10.1f}x" if ratio is not None else f"{'-':>11}")
                        + (f"{target:>7.1f}x" if target is not None else f"{'':>8}"))
    rows.append("  targets (both sizes): flat-window dense SIFT >= 2.5x faster than vl_dsift, "
                "PHOW >= 3x faster than VLFeat's")
    if have_vl:
        rows.append("  all targets met" if not missed else "  below target: " + "; ".join(missed))
    return rows
