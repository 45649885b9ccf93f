"""Regenerate the figures shown in the README: ``python -m experiments.teaching.figures [OUT_DIR]``."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def dense_sift_figure(out_dir: Path) -> Path:
    """Dense SIFT descriptors (grid, cells, orientation histograms) on a Caltech-101 butterfly."""
    from features import DenseSIFT
    from features.image_io import load_image
    from features.plots import plot_descriptors

    image = load_image(ROOT / "tests" / "data" / "images" / "butterfly_0001.jpg")
    feats = DenseSIFT(step=4, bin_size=8).transform([image])[0]
    return Path(plot_descriptors(image, feats.frames, feats.descriptors, out_dir / "dense_sift_descriptors.png",
                                 max_descriptors=10))


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out_dir = Path(args[0]) if args else ROOT / "docs"
    for make in (dense_sift_figure,):
        print(make(out_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
