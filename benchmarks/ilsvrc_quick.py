"""``python -m benchmarks.ilsvrc_quick --images DIR``: the ImageNet quick configuration, timed.

Builds an ILSVRC2012 distribution under its official names from a folder-per-class
collection (e.g. Caltech-101's ``101_ObjectCategories``): each class stands for one
ILSVRC2012 class (the devkit's real ``meta.mat``), images resized so that their longest
side is ``--size`` pixels (ImageNet's 64-px downsampled copies are the setting this
reproduces), ``--train`` training images per class as a tar of per-class tars, ``--val``
validation images per class named ``ILSVRC2012_val_<n>.JPEG`` in a seeded order with the
devkit's ground truth.  Then runs ``experiments/configs/ilsvrc2012_fv_quick.toml`` on it,
exactly as a user would (``ilsvrc-classic run CONFIG --data ROOT``), and prints the wall
time of each phase, the flat top-1 / top-5 errors beside chance, and the time projected for
200 classes x 100 training images + 10,000 validation images.
"""
from __future__ import annotations

import argparse
import io
import json
import resource
import shutil
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

from .common import ROOT

META = ROOT / "tests" / "data" / "ilsvrc2012_meta.mat"
CONFIG = ROOT / "experiments" / "configs" / "ilsvrc2012_fv_quick.toml"


def _jpeg(path: Path, size: int) -> bytes:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    scale = size / max(image.shape[:2])
    small = cv2.resize(image, (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))),
                       interpolation=cv2.INTER_AREA)
    return cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def tar_bytes(files: dict) -> bytes:
    """The bytes of an uncompressed tar holding ``files`` (name -> bytes), in name order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def build_layout(images: Path, root: Path, *, size: int, n_train: int, n_val: int, max_classes: int,
                 seed: int = 0) -> dict:
    """Write the distribution (see the module docstring); returns its counts."""
    from ilsvrc.datasets import IMAGE_SUFFIXES
    from ilsvrc.synsets import SynsetTable

    synsets = SynsetTable.from_file(META)
    folders = [p for p in sorted(images.iterdir()) if p.is_dir() and not p.name.startswith("BACKGROUND")]
    folders = [f for f in folders if len([p for p in f.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]) > 2]
    folders = folders[:max_classes]
    rng = np.random.default_rng(seed)
    ids = sorted(rng.choice(np.arange(1, synsets.n_classes + 1), len(folders), replace=False).tolist())
    outer, val = {}, []
    n_train_total = 0
    for folder, cid in zip(folders, ids):
        wnid = synsets.wnid_of(cid)
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        files = [files[i] for i in rng.permutation(len(files))]
        n_v = min(n_val, len(files) // 3)
        train = files[n_v:n_v + n_train]
        outer[f"{wnid}.tar"] = tar_bytes({f"{wnid}_{k + 1}.JPEG": _jpeg(p, size) for k, p in enumerate(train)})
        n_train_total += len(train)
        val += [(p, cid) for p in files[:n_v]]
    root.mkdir(parents=True, exist_ok=True)
    (root / "ILSVRC2012_img_train.tar").write_bytes(tar_bytes(outer))
    order = rng.permutation(len(val))
    val = [val[i] for i in order]
    (root / "ILSVRC2012_img_val.tar").write_bytes(
        tar_bytes({f"ILSVRC2012_val_{k + 1:08d}.JPEG": _jpeg(p, size) for k, (p, _) in enumerate(val)}))
    data = root / "ILSVRC2012_devkit_t12" / "data"
    data.mkdir(parents=True, exist_ok=True)
    shutil.copy(META, data / "meta.mat")
    (data / "ILSVRC2012_validation_ground_truth.txt").write_text("".join(f"{cid}\n" for _, cid in val))
    return {"classes": len(folders), "train": n_train_total, "val": len(val)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, required=True, help="folder-per-class images (101_ObjectCategories)")
    parser.add_argument("--size", type=int, default=64, help="longest side of the images, pixels")
    parser.add_argument("--train", type=int, default=100, help="training images per class (at most)")
    parser.add_argument("--val", type=int, default=50, help="validation images per class (at most a third)")
    parser.add_argument("--classes", type=int, default=200, help="classes (at most those available)")
    parser.add_argument("--work", type=Path, help="where the distribution, cache and runs go (default: a temp dir)")
    args = parser.parse_args(argv)
    from experiments.cli import main as cli

    work = args.work or Path(tempfile.mkdtemp(prefix="ilsvrc-quick-"))
    start = time.perf_counter()
    counts = build_layout(args.images, work / "data", size=args.size, n_train=args.train, n_val=args.val,
                          max_classes=args.classes)
    built = time.perf_counter() - start
    cfg = work / "quick.toml"
    cfg.write_text(CONFIG.read_text().replace("[run]\n", f'[run]\ncache = "{work / "cache"}"\n'
                                              f'store_dir = "{work / "store"}"\n'))
    start = time.perf_counter()
    status = cli(["run", str(cfg), "--data", str(work / "data"), "--output", str(work / "runs"), "--quiet"])
    seconds = time.perf_counter() - start
    if status:
        return status
    metrics = json.loads((work / "runs" / "ilsvrc2012_fv_quick" / "metrics.json").read_text())
    errors = metrics["variants"][0]["top_k_error_mean"]
    n = counts["train"] + counts["val"]
    projected = seconds / n * (200 * 100 + 10_000)
    store_bytes = sum(p.stat().st_size for p in (work / "store").rglob("*.npz"))
    cache_bytes = sum(p.stat().st_size for p in (work / "cache").rglob("*") if p.is_file())
    peak_driver = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024          # KiB -> MiB
    print(f"distribution: {counts['classes']} classes, {counts['train']:,} training and {counts['val']:,} validation "
          f"images of {args.size} px (built in {built:.0f} s) under {work / 'data'}")
    print(f"ilsvrc-classic run {CONFIG.relative_to(ROOT)}: {seconds / 60:.1f} min, "
          f"{n / seconds:.1f} images/s end to end on this machine")
    print(f"  flat top-1 / top-5 error {errors[0]:.3f} / {errors[4]:.3f} (chance "
          f"{1 - 1 / counts['classes']:.3f} / {1 - 5 / counts['classes']:.3f})")
    print(f"  feature store {store_bytes / 2**20:.0f} MiB ({store_bytes / n / 1024:.1f} KiB per image), "
          f"cache {cache_bytes / 2**20:.0f} MiB ({cache_bytes / n / 1024:.1f} KiB per image)")
    print(f"  peak resident memory of the driver (GMM, SGD, scoring): {peak_driver:.0f} MiB")
    print(f"  projected for 200 classes x 100 training + 10,000 validation images: {projected / 60:.0f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
