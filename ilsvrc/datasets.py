"""The ILSVRC classification and localization data as it is distributed.

:func:`find_layout` finds, under one data folder ``ROOT``, what the official downloads
hold, under their official names or the common extracted ones:

=====================  ==============================================================
what                   looked for (first found wins)
=====================  ==============================================================
training images        ``ILSVRC2012_img_train/`` (class folders ``<WNID>/``, or the
                       per-class tars ``<WNID>.tar``), ``ILSVRC2012_img_train.tar`` (the
                       tar of per-class tars, read in place), the same with 2010's names
                       (``ILSVRC2010_images_train``), ``train/``
validation images      ``ILSVRC2012_img_val/``, ``ILSVRC2012_img_val.tar``,
                       ``ILSVRC2010_images_val[.tar]``, ``val/``
devkit                 ``ILSVRC2012_devkit_t12/`` or ``ILSVRC2012_devkit_t12.tar.gz``,
                       ``ILSVRC2010_devkit-1.0[.tar.gz]``, ``devkit/``: its
                       ``data/meta.mat`` and ``data/ILSVRC20xx_validation_ground_truth.txt``
training boxes         ``ILSVRC2012_bbox_train_v2/`` (``<WNID>/<image>.xml``) or
                       ``ILSVRC2012_bbox_train_v2.tar.gz``
validation boxes       ``ILSVRC2012_bbox_val_v3/`` (``[val/]ILSVRC2012_val_*.xml``) or
                       ``ILSVRC2012_bbox_val_v3.tgz``
=====================  ==============================================================

Any path given explicitly (``meta``, ``ground_truth``, ``devkit``, boxes) is relative to
``ROOT`` unless absolute.  A missing piece is an :class:`~ilsvrc.errors.InputError` that
lists what was looked for and names the setting that fixes it.

:class:`ILSVRCDataset` lists the images: training images of the chosen classes (by
default every class of ``meta.mat`` that has training images, with one notice naming how
many are absent), and the validation images in file-name order, each with its
ground-truth class (validation image ``ILSVRC2012_val_00012345`` is line 12,345 of the
ground truth, so a subset of the validation folder is read correctly).  Labels of
:class:`Sample` are indices into ``dataset.classes``; validation images of classes
outside the run get label -1 and keep their devkit id (``dataset.val_ground_truth``),
so that a submission scored against them counts them as errors, as the official
evaluator does.  ILSVRC annotation boxes are 0-based inclusive pixels and are read as
they are.  Nothing is ever downloaded.
"""
from __future__ import annotations

import logging
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InputError
from .files import atomic_write

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".ppm", ".pgm")
_WNID = re.compile(r"^n\d{8}$")
_VAL_NUMBER = re.compile(r"ILSVRC20\d\d_val_(\d{8})", re.IGNORECASE)

TRAIN_NAMES = ("ILSVRC2012_img_train", "ILSVRC2012_img_train.tar", "ILSVRC2010_images_train",
               "ILSVRC2010_images_train.tar", "train")
VAL_NAMES = ("ILSVRC2012_img_val", "ILSVRC2012_img_val.tar", "ILSVRC2010_images_val", "ILSVRC2010_images_val.tar",
             "val")
DEVKIT_NAMES = ("ILSVRC2012_devkit_t12", "ILSVRC2012_devkit_t12.tar.gz", "ILSVRC2010_devkit-1.0",
                "ILSVRC2010_devkit-1.0.tar.gz", "devkit")
TRAIN_BOX_NAMES = ("ILSVRC2012_bbox_train_v2", "ILSVRC2012_bbox_train_v2.tar.gz")
VAL_BOX_NAMES = ("ILSVRC2012_bbox_val_v3", "ILSVRC2012_bbox_val_v3.tgz", "ILSVRC2012_bbox_val_v3.tar.gz")


@dataclass(frozen=True)
class Sample:
    """One image of a data set: its path (or archive member), 0-based class index and class name."""

    path: object
    label: int
    class_name: str


@dataclass(frozen=True)
class Split:
    """Training and test samples of one seeded draw."""

    train: list
    test: list
    seed: int


@dataclass(frozen=True)
class ILSVRCLayout:
    """Where the pieces of an ILSVRC distribution are (see the module docstring)."""

    root: Path
    train: Path | None
    val: Path | None
    meta: Path
    ground_truth: Path | None
    train_boxes: Path | None = None
    val_boxes: Path | None = None
    found: dict = field(default_factory=dict)


def _under(root: Path, value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else root / path


def _first(root: Path, names) -> Path | None:
    for name in names:
        if (root / name).exists():
            return root / name
    return None


def _missing(what: str, root: Path, names, setting: str) -> InputError:
    return InputError(f"no {what} found: looked for {', '.join(names)}; set {setting} (a path relative to the "
                      f"data folder, or absolute), or pass --data the folder that holds them", path=root)


def _devkit_file(devkit: Path, pattern: str, extract_dir: Path | None, setting: str) -> Path | None:
    """The devkit file matching ``pattern`` (a regular expression on its path inside the
    devkit), from a folder or, extracted once into ``extract_dir``, from a ``.tar.gz``."""
    if devkit.is_dir():
        hits = sorted(p for p in devkit.rglob("*") if p.is_file() and re.search(pattern, p.as_posix()))
        return hits[0] if hits else None
    if extract_dir is None:
        raise InputError(f"reading a devkit archive needs a folder to extract its small files into; set {setting}",
                         path=devkit)
    try:
        with tarfile.open(devkit, "r:*") as tar:
            for info in tar:
                if info.isfile() and re.search(pattern, info.name):
                    target = Path(extract_dir) / devkit.name.split(".")[0] / Path(info.name).name
                    if not target.exists() or target.stat().st_size != info.size:
                        target.parent.mkdir(parents=True, exist_ok=True)
                        atomic_write(target, tar.extractfile(info).read())
                    return target
    except tarfile.TarError as exc:
        raise InputError(f"not a readable devkit archive ({exc})", path=devkit) from None
    return None


def find_layout(root, *, devkit: str = "", meta: str = "", ground_truth: str = "", train_boxes: str = "",
                val_boxes: str = "", extract_dir=None, need_train: bool = True, need_val: bool = True) -> ILSVRCLayout:
    """Find the pieces of an ILSVRC distribution under ``root`` (see the module docstring).

    Parameters
    ----------
    root : path-like
        The data folder (``--data``).
    devkit, meta, ground_truth, train_boxes, val_boxes : str
        Explicit locations (relative to ``root`` unless absolute); empty: search.
    extract_dir : path-like, optional
        Where the devkit's ``meta.mat`` and ground truth are extracted from a
        ``.tar.gz`` devkit (once; later calls reuse them).

    Raises
    ------
    InputError
        Naming what was looked for and the setting that fixes it.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError("data folder not found; pass --data DIR (nothing is downloaded)", path=root)
    train = _first(root, TRAIN_NAMES)
    val = _first(root, VAL_NAMES)
    if need_train and train is None:
        raise _missing("training images", root, TRAIN_NAMES, "--data")
    if need_val and val is None:
        raise _missing("validation images", root, VAL_NAMES, "--data")
    kit = _under(root, devkit) if devkit else _first(root, DEVKIT_NAMES)
    if devkit and not kit.exists():
        raise InputError("devkit not found", path=kit, field="data.devkit")
    if meta:
        meta_path = _under(root, meta)
        if not meta_path.is_file():
            raise InputError("devkit meta file not found", path=meta_path, field="data.meta")
    else:
        meta_path = _devkit_file(kit, r"(^|/)meta\.mat$", extract_dir, "data.meta") if kit else None
        if meta_path is None:
            raise _missing("devkit meta.mat", root, [f"{n}/data/meta.mat" for n in DEVKIT_NAMES], "data.meta")
    if ground_truth:
        gt_path = _under(root, ground_truth)
        if not gt_path.is_file():
            raise InputError("validation ground truth not found", path=gt_path, field="data.ground_truth")
    else:
        gt_path = _devkit_file(kit, r"ILSVRC20\d\d_validation_ground_truth\.txt$", extract_dir,
                               "data.ground_truth") if kit else None
        if gt_path is None and need_val:
            raise _missing("validation ground truth", root,
                           [f"{n}/data/ILSVRC20xx_validation_ground_truth.txt" for n in DEVKIT_NAMES],
                           "data.ground_truth")
    tb = _under(root, train_boxes) if train_boxes else _first(root, TRAIN_BOX_NAMES)
    vb = _under(root, val_boxes) if val_boxes else _first(root, VAL_BOX_NAMES)
    for value, path, key in ((train_boxes, tb, "data.train_boxes"), (val_boxes, vb, "data.val_boxes")):
        if value and not path.exists():
            raise InputError("box annotations not found", path=path, field=key)
    found = {"training images": train, "validation images": val, "meta": meta_path, "ground truth": gt_path,
             "training boxes": tb, "validation boxes": vb}
    return ILSVRCLayout(root, train, val, meta_path, gt_path, tb, vb, found)


# --------------------------------------------------------------------------- listing images
def _is_image(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_SUFFIXES


def _train_listing(train: Path, index_dir) -> dict:
    """``{wnid: [image source, ...]}`` of a training folder or tar (sorted by name)."""
    from .archives import archive_members

    out: dict = {}
    if train.is_file():
        for m in archive_members(train, index_dir):
            inner, _, name = m.name.partition("/")
            wnid = Path(inner).stem
            if name and _WNID.match(wnid) and _is_image(name):
                out.setdefault(wnid, []).append(m)
    else:
        for entry in sorted(train.iterdir()):
            if entry.is_dir() and _WNID.match(entry.name):
                files = sorted(str(p) for p in entry.iterdir() if p.is_file() and _is_image(p.name))
                if files:
                    out[entry.name] = files
            elif entry.is_file() and entry.suffix.lower() == ".tar" and _WNID.match(entry.stem):
                members = [m for m in archive_members(entry, index_dir) if _is_image(m.name)]
                if members:
                    out[entry.stem] = members
    for sources in out.values():
        sources.sort(key=lambda s: str(s))
    return out


def _val_listing(val: Path, index_dir) -> list:
    """Validation image sources in file-name order."""
    from .archives import archive_members

    if val.is_file():
        items = [m for m in archive_members(val, index_dir) if _is_image(m.name)]
        return sorted(items, key=lambda m: Path(m.name).name)
    files = [p for p in val.rglob("*") if p.is_file() and _is_image(p.name)]
    return [str(p) for p in sorted(files, key=lambda p: p.name)]


def image_stem(source) -> str:
    """The file name without extension of an image path or archive member."""
    from .archives import ArchiveMember

    return Path(source.name if isinstance(source, ArchiveMember) else source).stem


def read_class_list(path) -> tuple:
    """WNIDs (or class names), one per line; blank lines and ``#`` comments ignored."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise InputError(f"cannot read the class list ({exc.strerror or exc})", path=path,
                         field="data.classes_file") from None
    names = tuple(line.split("#", 1)[0].strip() for line in lines)
    return tuple(n for n in names if n)


class ILSVRCDataset:
    """The ILSVRC classification images (see the module docstring).

    Parameters
    ----------
    layout : ILSVRCLayout
        From :func:`find_layout`.
    classes : sequence of str, optional
        WNIDs to run on (each must be a class of ``meta.mat`` with training images);
        default: every class with training images.
    index_dir : path-like, optional
        Where tar indexes are kept (see :func:`ilsvrc.archives.cached_tar_index`).

    Attributes
    ----------
    classes : tuple of str
        WNIDs of the run's classes, in devkit-id order.
    devkit_ids : ndarray of int64
        Devkit id of each class of ``classes``.
    synsets : SynsetTable
    absent : tuple of str
        Classes of ``meta.mat`` without training images.
    """

    def __init__(self, layout: ILSVRCLayout, classes=None, *, index_dir=None):
        from .synsets import SynsetTable

        self.layout = layout
        self.root = layout.root
        self.synsets = SynsetTable.from_file(layout.meta)
        known = self.synsets.class_wnids
        self._train = _train_listing(layout.train, index_dir) if layout.train is not None else {}
        self.absent = tuple(w for w in known if w not in self._train)
        if classes:
            unknown = [c for c in classes if c not in known]
            if unknown:
                raise InputError(f"{len(unknown)} class(es) not in {layout.meta.name}: {unknown[:5]}"
                                 + (" ..." if len(unknown) > 5 else ""), field="data.classes")
            without = [c for c in classes if c not in self._train]
            if without and layout.train is not None:
                raise InputError(f"{len(without)} class(es) without training images under {layout.train}: "
                                 f"{without[:5]}" + (" ..." if len(without) > 5 else ""), field="data.classes")
            wanted = set(classes)
            self.classes = tuple(w for w in known if w in wanted)
        else:
            self.classes = tuple(w for w in known if w in self._train)
            if not self.classes and layout.train is not None:
                raise InputError(f"no training image of any of the {len(known)} classes of {layout.meta.name} "
                                 "(expected class folders or tars named by WNID)", path=layout.train)
            if self.absent and layout.train is not None:
                log.warning("%d of the %d classes of %s have no training images under %s; running on the %d "
                            "that do (set data.classes to choose)", len(self.absent), len(known), layout.meta.name,
                            layout.train, len(self.classes))
        self.devkit_ids = np.array([self.synsets.id_of(w) for w in self.classes], np.int64)
        self._index = {w: i for i, w in enumerate(self.classes)}
        self._index_dir = index_dir
        self.val_ground_truth = np.zeros(0, np.int64)

    def __len__(self) -> int:
        return sum(len(self._train.get(w, ())) for w in self.classes)

    def train_samples(self, per_class: int | None = None, seed: int = 0) -> list:
        """Training images, class by class (optionally a seeded subset of ``per_class``)."""
        rng = np.random.default_rng(seed)
        out = []
        for i, wnid in enumerate(self.classes):
            files = self._train[wnid]
            if per_class and len(files) > per_class:
                files = [files[j] for j in sorted(rng.choice(len(files), per_class, replace=False))]
            out += [Sample(f, i, wnid) for f in files]
        return out

    def val_samples(self, limit: int = 0) -> list:
        """Validation images in file-name order (the first ``limit`` when positive); sets
        :attr:`val_ground_truth` to their devkit ids."""
        from .ground_truth import read_class_labels

        if self.layout.val is None or self.layout.ground_truth is None:
            raise InputError("no validation images or ground truth in this layout", path=self.root)
        truth = read_class_labels(self.layout.ground_truth, self.synsets.n_classes)[:, 0]
        sources = _val_listing(self.layout.val, self._index_dir)
        numbers = [_VAL_NUMBER.search(image_stem(s)) for s in sources]
        if all(numbers):
            index = np.array([int(m.group(1)) for m in numbers]) - 1
            if index.max(initial=-1) >= len(truth):
                bad = sources[int(np.argmax(index))]
                raise InputError(f"validation image {bad} has no line in the ground truth ({len(truth)} lines)",
                                 path=self.layout.ground_truth)
        elif len(sources) == len(truth):
            index = np.arange(len(sources))
        else:
            raise InputError(f"expected validation images named ILSVRC20xx_val_<8 digits> or one per ground-truth "
                             f"line ({len(truth)}), found {len(sources)}", path=self.layout.val)
        if limit:
            sources, index = sources[:limit], index[:limit]
        ids = truth[index].astype(np.int64)
        self.val_ground_truth = ids
        return [Sample(s, self._index.get(self.synsets.wnid_of(int(g)), -1), self.synsets.wnid_of(int(g)))
                for s, g in zip(sources, ids)]

    def split(self, n_train_per_class: int | None, n_val: int, seed: int) -> Split:
        """Training images (a seeded subset per class when ``n_train_per_class``) against the
        validation images (the first ``n_val`` when positive)."""
        return Split(self.train_samples(n_train_per_class, seed), self.val_samples(n_val), seed)


def read_box_annotations(source, *, stems=None) -> dict:
    """Objects of ILSVRC box annotations: ``{image stem: [(wnid, box), ...]}``.

    Parameters
    ----------
    source : path-like
        A folder of ``.xml`` files (searched recursively: ``<WNID>/<image>.xml`` or
        ``[val/]ILSVRC2012_val_*.xml``), or a ``.tar.gz`` / ``.tgz`` of them (read in place).
    stems : set of str, optional
        Read only these images' files.

    Boxes are float64 ``(x1, y1, x2, y2)`` as written: ILSVRC's inclusive, 0-based pixels.
    """
    from .ground_truth import read_voc_xml

    source = Path(source)
    out: dict = {}
    if source.is_dir():
        for xml in sorted(source.rglob("*.xml")):
            if stems is None or xml.stem in stems:
                out[xml.stem] = read_voc_xml(xml)
        return out

    class _Member:
        def __init__(self, name, data):
            self.name, self._data = name, data

        def read_bytes(self):
            return self._data

        def __str__(self):
            return f"{source}/{self.name}"

    try:
        with tarfile.open(source, "r:*") as tar:
            for info in tar:
                stem = Path(info.name).stem
                if info.isfile() and info.name.endswith(".xml") and (stems is None or stem in stems):
                    out[stem] = read_voc_xml(_Member(info.name, tar.extractfile(info).read()))
    except tarfile.TarError as exc:
        raise InputError(f"not a readable archive of annotations ({exc})", path=source) from None
    return out
