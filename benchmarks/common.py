"""Shared helpers of the benchmarks: timing, the devkit location, the test photographs."""
from __future__ import annotations

import os
import random
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


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def sample_images(root: Path, n: int, seed: int) -> list[Path]:
    """``n`` image files under ``root``, drawn with ``random.Random(seed)`` from the sorted list."""
    files = sorted(p for p in Path(root).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise SystemExit(f"{root}: no JPEG/PNG images found")
    return random.Random(seed).sample(files, min(n, len(files)))


def resize_longest(gray: np.ndarray, longest: int) -> np.ndarray:
    """Resize so that the longest side is ``longest`` (area shrinking, cubic enlarging)."""
    import cv2

    scale = longest / max(gray.shape)
    size = (max(1, int(round(gray.shape[1] * scale))), max(1, int(round(gray.shape[0] * scale))))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


def bench_images(longest: int, photos: Path | None = None, n: int = 4, seed: int = 0) -> list:
    """Grey photographs resized so that their longest side is ``longest``: the four committed
    test photographs, or ``n`` drawn (seeded) from the folder tree ``photos``."""
    from features.image_io import load_gray

    paths = (sorted((ROOT / "tests" / "data" / "images").glob("*.jpg")) if photos is None
             else sample_images(photos, n, seed))
    return [resize_longest(load_gray(path), longest) for path in paths]


def interleaved_rounds(impls: dict, images: list, rounds: int, clock=time.perf_counter) -> dict:
    """ms per image of each implementation in each round (lists, one value per round).

    Every round runs each implementation over all the images, the order rotating from round
    to round; before its timed pass, each implementation runs once untimed on the last
    image.  So each is timed as it runs over a collection of images -- its own buffers in
    the caches, its own memory kept by the allocator -- and not in the wake of another (a
    heavy one leaves the caches cold and its freed memory handed back to the kernel, which
    the next one pays for in page faults), while a change of machine speed still hits all
    of them within a round.  ``clock=time.thread_time`` counts only the CPU time of this
    thread: on a machine shared with other work, wall time also counts the time the
    process waits for a core."""
    names = list(impls)
    times = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            impls[name](images[-1])
            start = clock()
            for im in images:
                impls[name](im)
            times[name].append((clock() - start) * 1000 / len(images))
    return times


def median_ratio(slow: list, fast: list) -> float:
    """Median over rounds of ``slow / fast`` measured in the same round: a speed ratio that a
    change of machine speed between rounds (a busy neighbour) leaves alone."""
    return float(np.median(np.asarray(slow) / np.asarray(fast)))


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out
