"""The ILSVRC classification data as it is distributed.

:class:`ILSVRCDataset` reads the ILSVRC layout: ``train/<WNID>/*.JPEG`` and
``val/ILSVRC2012_val_%08d.JPEG`` with the validation ground-truth file and the devkit
metadata; labels are devkit ids (1-based), as the evaluator expects.  It yields
:class:`Sample` lists (path, 0-based label, class name); nothing is ever downloaded.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".ppm", ".pgm")


@dataclass(frozen=True)
class Sample:
    """One image of a data set: its path, 0-based class index and class name."""

    path: str
    label: int
    class_name: str


@dataclass(frozen=True)
class Split:
    """Training and test samples of one seeded draw."""

    train: list
    test: list
    seed: int


class ILSVRCDataset:
    """The ILSVRC classification layout.

    Parameters
    ----------
    root : path-like
        Folder holding ``train/<WNID>/`` and ``val/``.
    ground_truth : path-like
        ``ILSVRC2012_validation_ground_truth.txt`` (devkit ids, one line per val image).
    meta : path-like
        Devkit ``meta.mat`` / ``meta_clsloc.mat`` / ``map_clsloc.txt`` (WNID <-> devkit id).
    """

    def __init__(self, root, ground_truth, meta):
        from .ground_truth import read_class_labels
        from .synsets import SynsetTable

        self.root = Path(root)
        self.synsets = SynsetTable.from_file(meta)
        self.classes = self.synsets.class_wnids
        self.ground_truth = read_class_labels(ground_truth, self.synsets.n_classes)
        if not (self.root / "train").is_dir() or not (self.root / "val").is_dir():
            raise InputError("expected sub-folders train/<WNID>/ and val/", path=self.root)

    def train_samples(self, per_class: int | None = None, seed: int = 0) -> list:
        """Training images (optionally a seeded subset per class); labels are devkit ids - 1."""
        rng = np.random.default_rng(seed)
        out = []
        for cid, wnid in enumerate(self.classes, start=1):
            folder = self.root / "train" / wnid
            if not folder.is_dir():
                raise InputError(f"no training folder for class {cid} ({wnid})", path=folder)
            files = sorted(str(p) for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if per_class is not None and len(files) > per_class:
                files = [files[j] for j in sorted(rng.choice(len(files), per_class, replace=False))]
            out += [Sample(f, cid - 1, wnid) for f in files]
        return out

    def val_samples(self) -> list:
        """Validation images in file-name order with their ground-truth labels (devkit id - 1)."""
        files = sorted(str(p) for p in (self.root / "val").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if len(files) != len(self.ground_truth):
            raise InputError(f"expected {len(self.ground_truth)} validation images (one per ground-truth line), "
                             f"found {len(files)}", path=self.root / "val")
        return [Sample(f, int(g) - 1, self.synsets.wnid_of(int(g))) for f, g in zip(files, self.ground_truth[:, 0])]
