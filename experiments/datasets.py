"""Data sets that are not ILSVRC's: folder-per-class collections and images with object boxes.

* :class:`ImageFolderDataset` — the Caltech-101 layout ``<root>/<class>/*.jpg`` (also
  any folder-per-class collection).  Classes are the sub-folders in sorted order; files
  that are not images (Caltech's stray ``BACKGROUND_Google/tmp``) are skipped.
  :meth:`~ImageFolderDataset.split` draws the standard protocol: ``n_train`` training
  and up to ``n_test`` test images per class, seeded.
* :class:`BoxedImageDataset` — images with object boxes, from a CSV file or a PASCAL-VOC
  folder (:meth:`BoxedImageDataset.from_voc`).

Samples are :class:`ilsvrc.datasets.Sample` records, as the ILSVRC reader gives; nothing
is ever downloaded.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ilsvrc.boxes import clip_boxes
from ilsvrc.datasets import IMAGE_SUFFIXES, Sample, Split, image_stem
from ilsvrc.errors import InputError


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
        found = sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith((".", "@")))
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


# --------------------------------------------------------------------------- images with object boxes
@dataclass(frozen=True)
class BoxedSample:
    """One image with its objects.

    Attributes
    ----------
    path : str
    labels : ndarray of shape (n,), int64
        0-based class index of each object (empty for an image without objects).
    boxes : ndarray of shape (n, 4), float64
        Canonical 0-based inclusive boxes (:mod:`ilsvrc.boxes`).
    label : int
        The image's class (its first object's; for the per-class split and classification);
        -1 for an ILSVRC validation image of a class outside the run.
    source : str
        Where the objects were read (``file:line`` of the first), for messages.
    truth : int
        The image's class in the numbering of localization submissions (ILSVRC: its devkit
        id); 0 means ``label + 1``.
    """

    path: object
    labels: np.ndarray
    boxes: np.ndarray
    label: int
    source: str = ""
    truth: int = 0


@dataclass(frozen=True)
class BoxedSplit:
    train: list
    test: list
    seed: int


_BOX_COLUMNS = ("image", "class", "xmin", "ymin", "xmax", "ymax")


def check_annotated_boxes(objects, where) -> None:
    """Refuse an annotation with a reversed or empty box (``xmax < xmin`` or ``ymax < ymin``):
    ``objects`` is a list of ``(name, box)`` as read from ``where``."""
    for n, (_, box) in enumerate(objects, start=1):
        if box[2] < box[0] or box[3] < box[1]:
            raise InputError(f"object {n}: reversed or empty box {np.asarray(box).tolist()}", path=where,
                             field="bndbox")


class BoxedImageDataset:
    """Images with object boxes, listed in a CSV file (or a PASCAL-VOC folder: :meth:`from_voc`).

    The file has the header ``image,class,xmin,ymin,xmax,ymax`` and one line per object;
    ``image`` is relative to ``images_root``; an image may have several lines, and a line
    with empty coordinates lists an image without objects of its class.  Coordinates are
    inclusive pixels, counted from 1 when ``one_based`` (MATLAB and Caltech annotations,
    the default) or from 0; boxes are stored 0-based.

    Raises
    ------
    InputError
        Naming the file, the line and the column, for a missing column, a coordinate that is
        not a finite number, a reversed or empty box (``xmax < xmin``), or a missing image.
    """

    kind = "boxes"

    def __init__(self, csv_path, images_root=None, *, one_based: bool = True, classes=None):
        import csv

        self.csv_path = Path(csv_path)
        self.images_root = Path(images_root) if images_root is not None else self.csv_path.parent / "images"
        try:
            handle = open(self.csv_path, newline="", encoding="utf-8")
        except FileNotFoundError:
            raise InputError("box list not found", path=self.csv_path) from None
        with handle:
            rows = list(csv.reader(handle))
        if not rows or tuple(c.strip() for c in rows[0]) != _BOX_COLUMNS:
            raise InputError(f"expected the header {','.join(_BOX_COLUMNS)}", path=self.csv_path, line=1)
        shift = 1.0 if one_based else 0.0
        per_image: dict = {}
        for line, row in enumerate(rows[1:], start=2):
            if not row or not any(c.strip() for c in row):
                continue
            if len(row) != len(_BOX_COLUMNS):
                raise InputError(f"expected {len(_BOX_COLUMNS)} columns, got {len(row)}", path=self.csv_path,
                                 line=line)
            name, cls = row[0].strip(), row[1].strip()
            if not name or not cls:
                raise InputError("expected an image path and a class name", path=self.csv_path, line=line,
                                 field="image" if not name else "class")
            entry = per_image.setdefault(name, {"classes": [], "boxes": [], "line": line, "first_class": cls})
            texts = [c.strip() for c in row[2:]]
            if not any(texts):
                continue
            coords = []
            for col, text in zip(_BOX_COLUMNS[2:], texts):
                try:
                    value = float(text)
                except ValueError:
                    raise InputError(f"expected a number, got {text!r}", path=self.csv_path, line=line,
                                     field=col) from None
                if not np.isfinite(value):
                    raise InputError(f"expected a finite number, got {text!r}", path=self.csv_path, line=line,
                                     field=col)
                coords.append(value - shift)
            if coords[2] < coords[0] or coords[3] < coords[1]:
                raise InputError(f"reversed or empty box (xmax < xmin or ymax < ymin): {texts}",
                                 path=self.csv_path, line=line, field="xmax" if coords[2] < coords[0] else "ymax")
            entry["classes"].append(cls)
            entry["boxes"].append(coords)
        if not per_image:
            raise InputError("no images listed", path=self.csv_path)
        found = sorted({c for e in per_image.values() for c in e["classes"]} |
                       {e["first_class"] for e in per_image.values()})
        if classes is not None:
            unknown = sorted(set(found) - set(classes))
            if unknown:
                raise InputError(f"classes not in the given class list: {unknown}", path=self.csv_path)
            found = list(classes)
        self.classes = tuple(found)
        index = {c: i for i, c in enumerate(self.classes)}
        self._samples = []
        for name in sorted(per_image):
            e = per_image[name]
            path = self.images_root / name
            if not path.is_file():
                raise InputError(f"image not found: {path}", path=self.csv_path, line=e["line"], field="image")
            labels = np.array([index[c] for c in e["classes"]], np.int64)
            boxes = np.array(e["boxes"], np.float64).reshape(-1, 4)
            self._samples.append(BoxedSample(str(path), labels, boxes, index[e["first_class"]],
                                             f"{self.csv_path}:{e['line']}"))

    @classmethod
    def from_voc(cls, root, *, one_based: bool = True, classes=None) -> "BoxedImageDataset":
        """A PASCAL-VOC layout: ``root/Annotations/*.xml`` and ``root/JPEGImages/``.

        Every XML file is one image (``<filename>``, else the XML's stem + ``.jpg``) with its
        ``<object>`` boxes (VOC counts pixels from 1, hence ``one_based``; ILSVRC's XML files
        count from 0).  With ``root/ImageSets/Main/trainval.txt`` and ``test.txt`` present,
        :meth:`split` returns that official split instead of drawing one.
        """
        import xml.etree.ElementTree as ET

        from ilsvrc.ground_truth import read_voc_xml

        root = Path(root)
        ann, img = root / "Annotations", root / "JPEGImages"
        if not ann.is_dir() or not img.is_dir():
            raise InputError("expected the VOC folders Annotations/ and JPEGImages/", path=root)
        shift = 1.0 if one_based else 0.0
        records = []
        for xml in sorted(ann.glob("*.xml")):
            objects = read_voc_xml(xml)
            name = (ET.parse(xml).getroot().findtext("filename") or "").strip() or xml.stem + ".jpg"
            path = img / name
            if not path.is_file():
                raise InputError(f"image not found: {path}", path=xml, field="filename")
            check_annotated_boxes(objects, xml)
            records.append((xml, path, objects))
        if not records:
            raise InputError("no annotation files in Annotations/", path=root)
        found = sorted({name for _, _, objs in records for name, _ in objs})
        if classes is not None:
            found = list(classes)
        self = cls.__new__(cls)
        self.csv_path = ann
        self.images_root = img
        self.classes = tuple(found)
        index = {c: i for i, c in enumerate(self.classes)}
        self._samples = []
        for xml, path, objs in records:
            objs = [(name, box) for name, box in objs if name in index]
            labels = np.array([index[name] for name, _ in objs], np.int64)
            boxes = np.array([box - shift for _, box in objs], np.float64).reshape(-1, 4)
            self._samples.append(BoxedSample(str(path), labels, boxes, int(labels[0]) if len(labels) else -1,
                                             str(xml)))
        sets = root / "ImageSets" / "Main"
        self._official = None
        if (sets / "trainval.txt").is_file() and (sets / "test.txt").is_file():
            self._official = tuple({line.split()[0] for line in (sets / f"{part}.txt").read_text().splitlines()
                                    if line.strip()} for part in ("trainval", "test"))
        return self

    def __len__(self) -> int:
        return len(self._samples)

    @property
    def label_ids(self) -> np.ndarray:
        """The id of each class in submissions (1..C, in class order)."""
        return np.arange(1, len(self.classes) + 1, dtype=np.int64)

    @property
    def n_label_ids(self) -> int:
        return len(self.classes)

    def samples(self) -> list:
        """Every image, in sorted path order."""
        return list(self._samples)

    def split(self, n_train: int, n_test: int | None, seed: int) -> BoxedSplit:
        """Per class (of the image), a seeded ``n_train`` images for training and up to ``n_test``
        of the rest for testing; a VOC folder with ``ImageSets/Main`` gives its official
        trainval / test split (``n_train``, ``n_test`` and ``seed`` are then ignored)."""
        official = getattr(self, "_official", None)
        if official is not None:
            trainval, test = official
            return BoxedSplit([s for s in self._samples if Path(s.path).stem in trainval],
                              [s for s in self._samples if Path(s.path).stem in test], seed)
        rng = np.random.default_rng(seed)
        train, test = [], []
        for i, c in enumerate(self.classes):
            members = [s for s in self._samples if s.label == i]
            if len(members) <= n_train:
                raise InputError(f"class {c!r} has {len(members)} images, fewer than n_train + 1 = {n_train + 1}",
                                 path=self.csv_path)
            order = rng.permutation(len(members))
            train += [members[j] for j in sorted(order[:n_train])]
            rest = order[n_train:] if n_test is None else order[n_train:n_train + n_test]
            test += [members[j] for j in sorted(rest)]
        return BoxedSplit(train, test, seed)


def check_boxes_in_image(boxes: np.ndarray, height: int, width: int, where: str = "") -> np.ndarray:
    """Clip boxes to an image of ``height`` x ``width`` pixels.

    A box that lies entirely outside the image is an error (it cannot be a real
    annotation); one that crosses the border is clipped.

    Raises
    ------
    InputError
        Naming ``where`` and the offending box.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    outside = (boxes[:, 2] < 0) | (boxes[:, 3] < 0) | (boxes[:, 0] > width - 1) | (boxes[:, 1] > height - 1)
    if outside.any():
        bad = boxes[np.flatnonzero(outside)[0]]
        raise InputError(f"box {bad.tolist()} (0-based) lies outside the {width}x{height} image",
                         path=where or None)
    return clip_boxes(boxes, height, width)


# --------------------------------------------------------------------------- what the classification runner splits
class FolderClassification:
    """A folder-per-class collection under the Caltech protocol (``data.n_train`` /
    ``data.n_test`` images per class); submissions number the classes 1..C in folder order."""

    kind = "folders"

    def __init__(self, dataset: ImageFolderDataset):
        self.dataset = dataset
        self.root = dataset.root
        self.classes = dataset.classes
        self.label_ids = np.arange(1, len(self.classes) + 1, dtype=np.int64)
        self.n_label_ids = len(self.classes)

    def split(self, cfg, seed: int) -> Split:
        return self.dataset.split(cfg.data.n_train, cfg.data.n_test or None, seed)

    def ground_truth_ids(self, split: Split) -> np.ndarray:
        return np.array([s.label + 1 for s in split.test], np.int64)


class _ILSVRCData:
    """What both ILSVRC adapters share: the data set, its classes, and devkit ids in submissions."""

    kind = "ilsvrc"

    def __init__(self, dataset):
        self.dataset = dataset
        self.root = dataset.root
        self.classes = dataset.classes
        self.label_ids = dataset.devkit_ids
        self.n_label_ids = dataset.synsets.n_classes


class ILSVRCClassification(_ILSVRCData):
    """The ILSVRC layout: training images of the run's classes (``data.train_per_class``
    per class, seeded) against the validation images (``data.val_images``, 0: all);
    submissions carry devkit ids, so that they score against the official ground truth."""

    def split(self, cfg, seed: int) -> Split:
        return self.dataset.split(cfg.data.train_per_class or None, cfg.data.val_images, seed)

    def ground_truth_ids(self, split: Split) -> np.ndarray:
        return np.array([self.dataset.synsets.id_of(s.class_name) for s in split.test], np.int64)


def open_classification_data(cfg, root: Path, classes, work_dir: Path):
    """The classification data of a configuration under ``root``: a folder-per-class
    collection, or (``data.layout = "ilsvrc"``) an ILSVRC distribution; ``work_dir`` keeps
    tar indexes and the files extracted from a devkit archive."""
    if cfg.data.layout == "ilsvrc":
        return ILSVRCClassification(_ilsvrc_dataset(cfg, root, classes, work_dir))
    return FolderClassification(ImageFolderDataset(root, classes=classes))


def _ilsvrc_dataset(cfg, root: Path, classes, work_dir: Path):
    """The ILSVRC distribution under ``root`` with the configuration's explicit paths; tar
    indexes and the devkit archive's files are kept in ``work_dir``."""
    from ilsvrc.datasets import ILSVRCDataset, find_layout

    d = cfg.data
    layout = find_layout(root, devkit=d.devkit, meta=d.meta, ground_truth=d.ground_truth,
                         train_boxes=d.train_boxes, val_boxes=d.val_boxes, extract_dir=Path(work_dir) / "devkit")
    return ILSVRCDataset(layout, classes, index_dir=Path(work_dir) / "tar-index")


class ILSVRCBoxes(_ILSVRCData):
    """ILSVRC images with their boxes, for detection and localization runs: training images
    of the run's classes that have box annotations (``data.n_train`` per class, seeded),
    against the validation images (``data.val_images``, 0: all) and their boxes.
    Localization submissions carry devkit ids, so that they score against the official
    validation boxes; validation images of classes outside the run count as errors."""

    def __init__(self, dataset):
        super().__init__(dataset)
        layout = dataset.layout
        for path, key, names in ((layout.train_boxes, "data.train_boxes", "ILSVRC2012_bbox_train_v2"),
                                 (layout.val_boxes, "data.val_boxes", "ILSVRC2012_bbox_val_v3")):
            if path is None:
                raise InputError(f"no box annotations found: looked for {names}[.tar.gz]; set {key}", path=self.root)
        self._train_boxes = None

    def _objects(self, objects, source: str):
        check_annotated_boxes(objects, source)
        index = {w: i for i, w in enumerate(self.classes)}
        kept = [(index[w], box) for w, box in objects if w in index]
        labels = np.array([k for k, _ in kept], np.int64)
        boxes = np.array([b for _, b in kept], np.float64).reshape(-1, 4)
        return labels, boxes

    def split(self, n_train: int, n_test: int | None, seed: int) -> BoxedSplit:
        from ilsvrc.datasets import read_box_annotations

        layout = self.dataset.layout
        if self._train_boxes is None:
            self._train_boxes = read_box_annotations(layout.train_boxes)
        rng = np.random.default_rng(seed)
        train = []
        annotated = [s for s in self.dataset.train_samples() if image_stem(s.path) in self._train_boxes]
        for i, wnid in enumerate(self.classes):
            members = [s for s in annotated if s.label == i]
            if not members:
                raise InputError(f"class {wnid}: no training image with box annotations", path=layout.train_boxes)
            chosen = sorted(rng.choice(len(members), min(n_train, len(members)), replace=False))
            for j in chosen:
                stem = image_stem(members[j].path)
                source = f"{layout.train_boxes}/{stem}.xml"
                labels, boxes = self._objects(self._train_boxes[stem], source)
                train.append(BoxedSample(members[j].path, labels, boxes, i, source))
        val = self.dataset.val_samples(n_test or 0)
        stems = [image_stem(s.path) for s in val]
        val_boxes = read_box_annotations(layout.val_boxes, stems=set(stems))
        test = []
        for s, stem in zip(val, stems):
            source = f"{layout.val_boxes}/{stem}.xml"
            if stem not in val_boxes:
                raise InputError(f"no box annotation for validation image {stem}", path=layout.val_boxes)
            labels, boxes = self._objects(val_boxes[stem], source)
            test.append(BoxedSample(s.path, labels, boxes, s.label, source,
                                    truth=self.dataset.synsets.id_of(s.class_name)))
        return BoxedSplit(train, test, seed)


def open_boxed_data(cfg, root: Path, classes, work_dir: Path):
    """The detection data of a configuration under ``root``: a boxes.csv beside images/, a
    PASCAL-VOC folder, or (``data.layout = "ilsvrc"``) an ILSVRC distribution with its boxes."""
    if cfg.data.layout == "ilsvrc":
        return ILSVRCBoxes(_ilsvrc_dataset(cfg, root, classes, work_dir))
    if (root / "boxes.csv").is_file():
        return BoxedImageDataset(root / "boxes.csv", root / "images", classes=classes)
    if (root / "Annotations").is_dir():
        return BoxedImageDataset.from_voc(root, classes=classes)
    raise InputError("expected a folder holding boxes.csv and images/, a PASCAL-VOC folder with Annotations/ and "
                     "JPEGImages/, or (data.layout = 'ilsvrc') an ILSVRC distribution (nothing is downloaded)",
                     path=root)
