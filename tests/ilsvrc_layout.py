"""Builds small ILSVRC distributions from the embedded images, under the official names.

The classification layout: the 10 demo classes of ``data/caltech101_demo`` stand for 10 of
the 1,000 ILSVRC2012 classes (a real ``meta.mat``, ``tests/data/ilsvrc2012_meta.mat``), 18
training images per class named ``<WNID>_<n>.JPEG`` and 6 validation images per class named
``ILSVRC2012_val_<8 digits>.JPEG`` in a seeded order, with the devkit's ground-truth file
for them.  Forms: ``"folders"`` (``ILSVRC2012_img_train/<WNID>/``), ``"class-tars"``
(``ILSVRC2012_img_train/<WNID>.tar``), ``"tar"`` (``ILSVRC2012_img_train.tar``, a tar of
per-class tars, and ``ILSVRC2012_img_val.tar``), ``"short"`` (``train/``, ``val/``,
``devkit/``); the devkit as a folder or as ``ILSVRC2012_devkit_t12.tar.gz``.

The localization layout: the 3 boxed classes of ``data/caltech101_boxes`` with their boxes
as ILSVRC XML files (0-based pixels) in ``ILSVRC2012_bbox_train_v2/<WNID>/`` and
``ILSVRC2012_bbox_val_v3/val/``.
"""
from __future__ import annotations

import csv
import io
import shutil
import tarfile
from pathlib import Path

import numpy as np

from benchmarks.ilsvrc_quick import tar_bytes

ROOT = Path(__file__).resolve().parent.parent
META = ROOT / "tests" / "data" / "ilsvrc2012_meta.mat"
DEMO = ROOT / "data" / "caltech101_demo"
BOXES = ROOT / "data" / "caltech101_boxes"
DEVKIT_IDS = (1, 50, 100, 200, 300, 400, 500, 600, 700, 800)   # the devkit ids the demo classes stand for


def wnid_of(devkit_id: int) -> str:
    from ilsvrc.synsets import SynsetTable

    return SynsetTable.from_file(META).wnid_of(devkit_id)


def _devkit(root: Path, ground_truth: list, form: str) -> None:
    name = "devkit" if form == "short" else "ILSVRC2012_devkit_t12"
    files = {f"{name}/data/meta.mat": META.read_bytes(),
             f"{name}/data/ILSVRC2012_validation_ground_truth.txt": "".join(f"{g}\n" for g in ground_truth).encode(),
             f"{name}/COPYING": b"devkit licence"}
    if form == "tar.gz":
        with tarfile.open(root / f"{name}.tar.gz", "w:gz") as tar:
            for path, data in files.items():
                info = tarfile.TarInfo(path)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    else:
        for path, data in files.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(data)


def make_classification_layout(root, *, form: str = "folders", devkit: str = "folder", n_train: int = 18,
                               n_val: int = 6, classes=None, seed: int = 0) -> dict:
    """Write an ILSVRC2012-style distribution into ``root``; returns what was written:
    ``{"wnids", "devkit_ids", "val": [(file name, devkit id)], "train": {wnid: [file names]}}``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    names = sorted(p.name for p in DEMO.iterdir() if p.is_dir())
    if classes is not None:
        names = [n for n in names if n in classes]
    ids = DEVKIT_IDS[: len(names)]
    wnids = [wnid_of(i) for i in ids]
    train, val = {}, []
    for name, wnid, cid in zip(names, wnids, ids):
        files = sorted((DEMO / name).glob("*.jpg"))
        train[wnid] = {f"{wnid}_{k + 1}.JPEG": f.read_bytes() for k, f in enumerate(files[:n_train])}
        val += [(f.read_bytes(), cid) for f in files[n_train:n_train + n_val]]
    order = np.random.default_rng(seed).permutation(len(val))
    val = [val[i] for i in order]
    val_files = {f"ILSVRC2012_val_{k + 1:08d}.JPEG": data for k, (data, _) in enumerate(val)}
    ground_truth = [cid for _, cid in val]
    train_dir = root / ("train" if form == "short" else "ILSVRC2012_img_train")
    val_dir = root / ("val" if form == "short" else "ILSVRC2012_img_val")
    if form == "tar":
        outer = {f"{wnid}.tar": tar_bytes(files) for wnid, files in train.items()}
        (root / "ILSVRC2012_img_train.tar").write_bytes(tar_bytes(outer))
        (root / "ILSVRC2012_img_val.tar").write_bytes(tar_bytes(val_files))
    else:
        for wnid, files in train.items():
            if form == "class-tars":
                train_dir.mkdir(parents=True, exist_ok=True)
                (train_dir / f"{wnid}.tar").write_bytes(tar_bytes(files))
            else:
                (train_dir / wnid).mkdir(parents=True, exist_ok=True)
                for fname, data in files.items():
                    (train_dir / wnid / fname).write_bytes(data)
        val_dir.mkdir(parents=True, exist_ok=True)
        for fname, data in val_files.items():
            (val_dir / fname).write_bytes(data)
    _devkit(root, ground_truth, "short" if form == "short" else ("tar.gz" if devkit == "tar.gz" else "folder"))
    return {"wnids": wnids, "devkit_ids": list(ids), "val": list(zip(val_files, ground_truth)),
            "train": {w: sorted(f) for w, f in train.items()}}


def _xml(name: str, wnid: str, boxes, size) -> str:
    objects = "".join(
        f"<object><name>{wnid}</name><bndbox><xmin>{int(b[0])}</xmin><ymin>{int(b[1])}</ymin>"
        f"<xmax>{int(b[2])}</xmax><ymax>{int(b[3])}</ymax></bndbox></object>" for b in boxes)
    return (f"<annotation><filename>{name}</filename><size><width>{size[1]}</width><height>{size[0]}</height>"
            f"<depth>3</depth></size>{objects}</annotation>")


def make_localization_layout(root, *, n_train: int = 40, n_val: int = 12, seed: int = 0) -> dict:
    """The boxed images as an ILSVRC2012 distribution with training and validation boxes
    (ILSVRC XML, 0-based); returns ``{"wnids", "devkit_ids", "val": [(file, id, boxes 0-based)]}``."""
    import cv2

    root = Path(root)
    rows = list(csv.DictReader(open(BOXES / "boxes.csv")))
    by_image: dict = {}
    for r in rows:
        by_image.setdefault(r["image"], (r["class"], []))[1].append(
            [float(r[k]) - 1 for k in ("xmin", "ymin", "xmax", "ymax")])      # the CSV counts from 1
    classes = sorted({c for c, _ in by_image.values()})
    ids = DEVKIT_IDS[: len(classes)]
    wnids = {c: wnid_of(i) for c, i in zip(classes, ids)}
    val = []
    for c, cid in zip(classes, ids):
        images = sorted(k for k, (cls, _) in by_image.items() if cls == c)
        wnid = wnids[c]
        for k, image in enumerate(images[:n_train]):
            name = f"{wnid}_{k + 1}"
            target = root / "ILSVRC2012_img_train" / wnid / f"{name}.JPEG"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(BOXES / "images" / image, target)
            size = cv2.imread(str(target)).shape[:2]
            xml = root / "ILSVRC2012_bbox_train_v2" / wnid / f"{name}.xml"
            xml.parent.mkdir(parents=True, exist_ok=True)
            xml.write_text(_xml(name, wnid, by_image[image][1], size))
        val += [(BOXES / "images" / image, cid, wnid, by_image[image][1]) for image in images[n_train:n_train + n_val]]
    order = np.random.default_rng(seed).permutation(len(val))
    out = []
    for k, i in enumerate(order, start=1):
        path, cid, wnid, boxes = val[i]
        name = f"ILSVRC2012_val_{k:08d}"
        target = root / "ILSVRC2012_img_val" / f"{name}.JPEG"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
        xml = root / "ILSVRC2012_bbox_val_v3" / "val" / f"{name}.xml"
        xml.parent.mkdir(parents=True, exist_ok=True)
        xml.write_text(_xml(name, wnid, boxes, cv2.imread(str(target)).shape[:2]))
        out.append((f"{name}.JPEG", cid, np.array(boxes)))
    _devkit(root, [cid for _, cid, _ in out], "folder")
    return {"wnids": [wnids[c] for c in classes], "devkit_ids": list(ids), "val": out}
