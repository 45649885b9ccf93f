"""Image classification data sets on disk, behind one interface.

* :class:`ImageFolderDataset` — the Caltech-101 layout ``<root>/<class>/*.jpg`` (also
  any folder-per-class collection).  Classes are the sub-folders in sorted order; files
  that are not images (Caltech's stray ``BACKGROUND_Google/tmp``) are skipped.
  :meth:`~ImageFolderDataset.split` draws the standard protocol: ``n_train`` training
  and up to ``n_test`` test images per class, seeded.
* :class:`ILSVRCDataset` — the ILSVRC layout: ``train/<WNID>/*.JPEG`` and
  ``val/ILSVRC2012_val_%08d.JPEG`` with the validation ground-truth file and the devkit
  metadata; labels are devkit ids (1-based), as the evaluator expects.

Both yield :class:`Sample` lists (path, 0-based label, class name); nothing is ever
downloaded.
"""
from __future__ import annotations

import os
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


class ImageFolderDataset:
    """Folder-per-class images (Caltech-101 layout).

    Parameters
    ----------
    root : path-like
        Folder holding one sub-folder per class.
    classes : sequence of str, optional
        Restrict to (and order by) these class folders.
    """

    def __init__(self, root, classes=None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError("expected a folder with one sub-folder of images per class", path=self.root)
        found = sorted(p.name for p in self.root.iterdir() if p.is_dir())
        if classes is not None:
            missing = [c for c in classes if c not in found]
            if missing:
                raise InputError(f"class folders not found: {missing}", path=self.root)
            found = list(classes)
        if not found:
            raise InputError("no class sub-folders found", path=self.root)
        self.classes = tuple(found)
        self._images = {c: sorted(str(p) for p in (self.root / c).iterdir()
                                  if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()) for c in self.classes}
        empty = [c for c, files in self._images.items() if not files]
        if empty:
            raise InputError(f"class folders without images: {empty}", path=self.root)

    def __len__(self) -> int:
        return sum(len(v) for v in self._images.values())

    def samples(self) -> list:
        """All images, class by class, in sorted file order."""
        return [Sample(p, i, c) for i, c in enumerate(self.classes) for p in self._images[c]]

    def split(self, n_train: int, n_test: int | None, seed: int) -> Split:
        """The standard Caltech protocol: per class, a seeded random ``n_train`` images for
        training and up to ``n_test`` of the rest (all of them when None) for testing.

        Raises
        ------
        InputError
            When a class has fewer than ``n_train + 1`` images.
        """
        rng = np.random.default_rng(seed)
        train, test = [], []
        for i, c in enumerate(self.classes):
            files = self._images[c]
            if len(files) <= n_train:
                raise InputError(f"class {c!r} has {len(files)} images, fewer than n_train + 1 = {n_train + 1}",
                                 path=self.root / c)
            order = rng.permutation(len(files))
            train += [Sample(files[j], i, c) for j in sorted(order[:n_train])]
            rest = order[n_train:] if n_test is None else order[n_train: n_train + n_test]
            test += [Sample(files[j], i, c) for j in sorted(rest)]
        return Split(train, test, seed)


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


def open_dataset(path, *, layout: str = "auto", ground_truth=None, meta=None):
    """An :class:`ILSVRCDataset` when ``path`` has ``train/`` and ``val/`` (or ``layout="ilsvrc"``),
    otherwise an :class:`ImageFolderDataset`."""
    path = Path(os.fspath(path))
    if layout == "ilsvrc" or (layout == "auto" and (path / "train").is_dir() and (path / "val").is_dir()):
        if ground_truth is None or meta is None:
            raise InputError("an ILSVRC layout needs the validation ground truth and the devkit meta file", path=path)
        return ILSVRCDataset(path, ground_truth, meta)
    return ImageFolderDataset(path)
