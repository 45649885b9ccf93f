"""Shared helpers of the benchmarks: timing, the devkit location, the test photographs."""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEVKIT = Path(os.environ.get("ILSVRC_DEVKIT_DATA", ROOT.parent / "shared" / "ilsvrc-devkit"))


def single_threaded() -> None:
    """One BLAS / OpenMP thread (call before numpy starts its pools): timings are per core."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def best_of(fn, repeats: int = 5) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def bench_images(longest: int) -> list:
    """The committed test photographs, resized so that their longest side is ``longest``."""
    import cv2

    from features.image_io import load_gray

    images = []
    for path in sorted((ROOT / "tests" / "data" / "images").glob("*.jpg")):
        gray = load_gray(path)
        scale = longest / max(gray.shape)
        size = (int(round(gray.shape[1] * scale)), int(round(gray.shape[0] * scale)))
        images.append(cv2.resize(gray, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC))
    return images


def interleaved(impls: dict, images: list, rounds: int, clock=time.perf_counter) -> dict:
    """Median ms per image of each implementation, alternating them round by round.

    ``clock=time.thread_time`` counts only the CPU time of this thread: on a machine shared
    with other work, wall time also counts the time the process waits for a core."""
    times = {name: [] for name in impls}
    for _ in range(rounds):
        for name, fn in impls.items():
            start = clock()
            for im in images:
                fn(im)
            times[name].append((clock() - start) * 1000 / len(images))
    return {name: float(np.median(t)) for name, t in times.items()}


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out
