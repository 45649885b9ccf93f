"""Descriptor benchmark: our dense SIFT and PHOW against VLFeat and OpenCV, interleaved."""
from __future__ import annotations

from .common import bench_images, interleaved


def bench_descriptors(repeats: int) -> list[str]:
    import cv2

    from features.dsift import dense_sift, phow
    from features.keypoints import opencv_dense_sift

    from . import vlfeat_reference

    cv2.setNumThreads(1)
    have_vl = vlfeat_reference.available()
    rows = [f"Descriptors, one thread, median ms per image over {repeats} interleaved rounds "
            f"(4 Caltech-101 photographs resized; VLFeat {'via cyvlfeat' if have_vl else 'NOT installed: make reference'})"]
    rows.append(f"  {'work':<44}{'px':>5}{'ours':>9}{'VLFeat':>9}{'OpenCV':>9}{'vs VLFeat':>11}")
    for longest in (300, 500):
        images = bench_images(longest)
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
            t = interleaved(impls, images, repeats)
            fmt = lambda k: f"{t[k]:>9.1f}" if k in t else f"{'-':>9}"  # noqa: E731
            ratio = f"{t['vl'] / t['ours']:>10.1f}x" if "vl" in t else f"{'-':>11}"
            rows.append(f"  {name:<44}{longest:>5}{fmt('ours')}{fmt('vl')}{fmt('cv')}{ratio}")
    rows.append("  targets (500 px): flat-window dense SIFT >= 2x faster than vl_dsift, PHOW >= 3x faster than VLFeat's")
    return rows
