"""``make bench`` (``python -m benchmarks``): wall time of the suite's hot paths, on one core.

Descriptors: our dense SIFT and PHOW against VLFeat's (when ``make reference`` has
installed it) and OpenCV's ``SIFT.compute`` on the same dense grid, on the same real
photographs at longest side 227 and 500 px (the four committed ones, or ``--photos DIR
--n-photos N``), in rounds: each implementation warmed by one untimed call and then timed,
the order rotating from round to round, the speed ratio the median of the per-round ratios.

Proposals: every backend and mode on the 195 embedded boxed Caltech-101 images: seconds
per image, boxes, recall at IoU 0.5 / 0.7, MABO and average recall, also at the first
100 / 500 / 1000 / 2000 boxes; the recall curves go to ``docs/proposal_recall.png``.

Evaluator: the full 50,000-image CLS and CLS-LOC demo submissions and the 49,013-detection
DET demo of the official devkits (read from ``$ILSVRC_DEVKIT_DATA``, default
``../shared/ilsvrc-devkit`` beside the repository).  Without that data the benchmark
writes random inputs of the same sizes and says so.  Times are the best of several runs
and cover parsing the submission and scoring it; loading the ground truth (once per
session in practice) is timed separately.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from .common import single_threaded

single_threaded()

from .descriptors import bench_descriptors  # noqa: E402
from .encoders import bench_encoders  # noqa: E402
from .evaluator import bench_evaluator  # noqa: E402
from .proposals import bench_proposals  # noqa: E402

SECTIONS = {"evaluator": bench_evaluator, "descriptors": bench_descriptors, "encoders": bench_encoders,
            "proposals": bench_proposals}


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(SECTIONS), action="append", help="run only these sections")
    parser.add_argument("--repeats", type=int, default=5,
                        help="rounds of each timing (the descriptor section runs at least 15)")
    parser.add_argument("--every", type=int, default=1, help="proposals: use every n-th boxed image (quick look)")
    parser.add_argument("--photos", type=Path, help="descriptors: draw the photographs from this folder tree "
                                                    "(JPEG/PNG, any layout) instead of the four committed ones")
    parser.add_argument("--n-photos", type=_positive, default=4, help="descriptors: how many to draw with --photos")
    args = parser.parse_args(argv)

    logging.getLogger("ilsvrc").setLevel(logging.ERROR)  # warnings about the demo files are expected
    for name in args.only or list(SECTIONS):
        if name == "proposals":
            rows = bench_proposals(args.repeats, args.every)
        elif name == "descriptors":
            rows = bench_descriptors(args.repeats, args.photos, args.n_photos)
        else:
            rows = SECTIONS[name](args.repeats)
        print("\n".join(rows))
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
