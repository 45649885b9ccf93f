"""Ground truth of the ILSVRC validation sets, in every form the devkits ship it.

* Classification labels: ``ILSVRC2012_validation_ground_truth.txt`` (one line per image,
  file-name order, devkit ids; a line may hold several labels, 0 means "no label").
* Boxes: a folder of PASCAL-VOC XML files (one per image), the 2015 cached CLS-LOC
  ``ILSVRC2015_clsloc_validation_ground_truth.mat`` (struct ``rec``) or the cached DET
  ``ILSVRC2015_det_validation_ground_truth.mat`` (``gt_img_ids``, ``gt_obj_labels``,
  ``gt_obj_bboxes``, ``gt_obj_thr``).
* Blacklists: CLS-LOC (one 1-based image index per line) and DET
  (``<image index> <WNID>`` per line).
* The DET image list (``<image name> <image index>`` per line).

Boxes of a whole set are held as one :class:`ObjectTable`: flat arrays over all objects,
each tagged with the 0-based position of its image, in annotation order.
"""
from __future__ import annotations

import glob
import io
import logging
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ._cache import cached_arrays
from ._text import check_integral, parse_rows, read_token_lines
from .boxes import det_iou_threshold
from .errors import InputError
from .synsets import SynsetTable

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- tables
@dataclass(frozen=True)
class ObjectTable:
    """Annotated objects of a set of images.

    Attributes
    ----------
    n_images : int
        Number of images; objects refer to them by 0-based position.
    image : ndarray of shape (n_objects,), int64
        Position of each object's image, non-decreasing.
    label : ndarray of shape (n_objects,), int64
        Devkit class id of each object.
    box : ndarray of shape (n_objects, 4), float64
        Canonical inclusive boxes (see :mod:`ilsvrc.boxes`).
    threshold : ndarray of shape (n_objects,), float64
        Per-object IoU threshold used by detection (:func:`~ilsvrc.boxes.det_iou_threshold`).
    """

    n_images: int
    image: np.ndarray
    label: np.ndarray
    box: np.ndarray
    threshold: np.ndarray

    def __len__(self) -> int:
        return len(self.label)

    @classmethod
    def from_lists(cls, labels: list, boxes: list, thresholds: list | None = None) -> "ObjectTable":
        """Build a table from per-image lists of label arrays and (n, 4) box arrays."""
        counts = np.array([len(l) for l in labels], dtype=np.int64)
        image = np.repeat(np.arange(len(labels), dtype=np.int64), counts)
        label = np.concatenate([np.asarray(l, np.float64).ravel() for l in labels]) if labels else np.zeros(0)
        box = (np.concatenate([np.asarray(b, np.float64).reshape(-1, 4) for b in boxes])
               if boxes else np.zeros((0, 4)))
        if thresholds is None:
            thr = det_iou_threshold(box) if len(box) else np.zeros(0)
        else:
            thr = np.concatenate([np.asarray(t, np.float64).ravel() for t in thresholds]) if thresholds else np.zeros(0)
        return cls(len(labels), image, label.astype(np.int64), box, thr)

    def per_image(self, position: int) -> tuple[np.ndarray, np.ndarray]:
        """Labels (n,) and boxes (n, 4) of the image at ``position``."""
        lo, hi = np.searchsorted(self.image, [position, position + 1])
        return self.label[lo:hi], self.box[lo:hi]


# --------------------------------------------------------------------------- text files
def read_class_labels(path, n_classes: int | None = None) -> np.ndarray:
    """Read a classification ground-truth file.

    Parameters
    ----------
    path : path-like
        One line per image (file-name order), one or more devkit ids per line.
    n_classes : int, optional
        Largest valid id; ids are checked to be integers in ``0..n_classes``.

    Returns
    -------
    ndarray of shape (n_images, n_labels), int64
        Zero-padded like ``dlmread``: 0 means "no label".
    """
    lines = read_token_lines(path, "ground-truth file")
    values, _ = parse_rows(lines, "ground-truth file", lambda j: f"label {j + 1}")
    high = n_classes if n_classes is not None else np.iinfo(np.int32).max
    check_integral(values, lines, lambda j: f"label {j + 1}", "class id", low=0, high=high)
    labels = values.astype(np.int64)
    empty = np.flatnonzero((labels > 0).sum(axis=1) == 0)
    if empty.size:
        raise InputError("expected at least one non-zero class id", path=lines.path,
                         line=lines.line_number(int(empty[0])), field="label 1")
    return labels


def read_clsloc_blacklist(path, n_images: int) -> np.ndarray:
    """Read a CLS-LOC blacklist: one 1-based image index per line.

    The official ``eval_clsloc`` divides by ``N - (number of lines)``, so a duplicated
    or out-of-range index would silently skew every error; both are refused here.

    Returns
    -------
    ndarray of shape (n_blacklisted,), int64
        Sorted 0-based image positions.
    """
    lines = read_token_lines(path, "CLS-LOC blacklist", allow_empty=True)
    if not len(lines):
        return np.zeros(0, np.int64)
    values, lengths = parse_rows(lines, "CLS-LOC blacklist", lambda j: "image index")
    wide = np.flatnonzero(lengths != 1)
    if wide.size:
        raise InputError(f"expected one image index per line, got {int(lengths[wide[0]])} values",
                         path=lines.path, line=lines.line_number(int(wide[0])))
    check_integral(values, lines, lambda j: "image index", "image index", low=1, high=n_images)
    idx = values[:, 0].astype(np.int64)
    uniq, first, counts = np.unique(idx, return_index=True, return_counts=True)
    if (counts > 1).any():
        dup = int(uniq[np.flatnonzero(counts > 1)[0]])
        line = int(np.flatnonzero(idx == dup)[1])
        raise InputError(f"image index {dup} is listed twice (the official code would count it twice "
                         "in the denominator)", path=lines.path, line=lines.line_number(line), field="image index")
    return uniq - 1


@dataclass(frozen=True)
class ImageList:
    """The DET evaluation image list.

    Attributes
    ----------
    names : tuple of str
        Image names without extension, in list order.
    indices : ndarray of shape (n,), int64
        The 1-based image index of each line (what submissions refer to).
    path : str
    """

    names: tuple
    indices: np.ndarray
    path: str = ""

    def __len__(self) -> int:
        return len(self.names)

    @cached_property
    def _by_index(self) -> tuple[np.ndarray, np.ndarray]:
        return _sorted_keys(self.indices)

    def positions_of(self, indices: np.ndarray) -> np.ndarray:
        """0-based list positions of image indices; -1 where an index is not listed."""
        return _positions_in(self._by_index, indices)


def _sorted_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The stable sorting order of ``keys`` and the sorted keys (see :func:`_positions_in`)."""
    order = np.argsort(keys, kind="stable")
    return order, keys[order]


def _positions_in(sorted_keys: tuple, wanted) -> np.ndarray:
    """Position of each ``wanted`` value among keys sorted by :func:`_sorted_keys`; -1 where absent."""
    order, keys = sorted_keys
    wanted = np.asarray(wanted, dtype=np.int64)
    if not len(keys):
        return np.full(len(wanted), -1, np.int64)
    at = np.clip(np.searchsorted(keys, wanted), 0, len(keys) - 1)
    return np.where(keys[at] == wanted, order[at], -1)


def read_image_list(path) -> ImageList:
    """Read a DET image list: lines ``<image name> <1-based image index>``."""
    lines = read_token_lines(path, "image list")
    texts = lines.texts if (lines.lengths == 2).all() else []
    numbers = texts[1::2]
    bad = [r for r, t in enumerate(numbers) if not (t.isascii() and t.isdigit())] if texts else \
        np.flatnonzero(lines.lengths != 2)[:1].tolist()
    if bad:
        toks = lines.tokens[bad[0]]
        raise InputError(f"expected '<image name> <image index>', got {' '.join(toks)!r}",
                         path=lines.path, line=lines.line_number(bad[0]))
    names = texts[0::2]
    idx = np.array([int(t) for t in numbers], np.int64)
    uniq, counts = np.unique(idx, return_counts=True)
    if (counts > 1).any():
        dup = int(uniq[np.flatnonzero(counts > 1)[0]])
        raise InputError(f"image index {dup} appears twice", path=lines.path,
                         line=int(np.flatnonzero(idx == dup)[1]) + 1, field="image index")
    return ImageList(tuple(names), idx, lines.path)


def read_det_blacklist(path, synsets: SynsetTable, image_list: ImageList) -> np.ndarray:
    """Read a DET blacklist: lines ``<image index> <WNID>``.

    Returns
    -------
    ndarray of shape (n_pairs, 2), int64
        Unique ``(image position (0-based), DET class id)`` pairs.
    """
    lines = read_token_lines(path, "DET blacklist", allow_empty=True)
    pairs = []
    for r, toks in enumerate(lines.tokens):
        if len(toks) != 2 or not toks[0].isdigit():
            raise InputError(f"expected '<image index> <WNID>', got {' '.join(toks)!r}",
                             path=lines.path, line=lines.line_number(r))
        pos = int(image_list.positions_of(np.array([int(toks[0])]))[0])
        if pos < 0:
            raise InputError(f"image index {toks[0]} is not in the image list {image_list.path}",
                             path=lines.path, line=lines.line_number(r), field="image index")
        try:
            cls_id = synsets.id_of(toks[1])
        except KeyError:
            raise InputError(f"unknown WNID {toks[1]!r} (not in {synsets.source})", path=lines.path,
                             line=lines.line_number(r), field="WNID") from None
        pairs.append((pos, cls_id))
    if not pairs:
        return np.zeros((0, 2), np.int64)
    return np.unique(np.array(pairs, dtype=np.int64), axis=0)


# --------------------------------------------------------------------------- XML
_BOX_FIELDS = ("xmin", "ymin", "xmax", "ymax")


def read_voc_xml(path) -> list[tuple[str, np.ndarray]]:
    """Read the objects of one PASCAL-VOC style annotation file (a path, or an object with
    ``read_bytes()`` such as an archive member).

    Returns
    -------
    list of (wnid, box)
        ``box`` is a float64 array (x1, y1, x2, y2) as written (inclusive pixels).
        An annotation without ``object`` elements gives an empty list.
    """
    if callable(getattr(path, "read_bytes", None)) and not isinstance(path, (str, os.PathLike)):
        source, path = io.BytesIO(path.read_bytes()), str(path)      # a member of an archive
    else:
        path = source = os.fspath(path)
    try:
        root = ET.parse(source).getroot()
    except FileNotFoundError:
        raise InputError("annotation file not found", path=path) from None
    except ET.ParseError as exc:
        raise InputError(f"malformed XML ({exc})", path=path, line=exc.position[0]) from None
    except OSError as exc:
        raise InputError(f"cannot read annotation: {exc.strerror or exc}", path=path) from None
    objects = []
    for n, obj in enumerate(root.iter("object"), start=1):
        name = (obj.findtext("name") or "").strip()
        if not name:
            raise InputError(f"object {n} has no <name>", path=path, field="name")
        bnd = obj.find("bndbox")
        if bnd is None:
            raise InputError(f"object {n} ({name}) has no <bndbox>", path=path, field="bndbox")
        coords = []
        for key in _BOX_FIELDS:
            text = (bnd.findtext(key) or "").strip()
            try:
                value = float(text)
            except ValueError:
                raise InputError(f"object {n} ({name}): expected a number, got {text!r}", path=path,
                                 field=f"bndbox/{key}") from None
            if not np.isfinite(value):
                raise InputError(f"object {n} ({name}): expected a finite number, got {text!r}",
                                 path=path, field=f"bndbox/{key}")
            coords.append(value)
        objects.append((name, np.array(coords)))
    return objects


def _objects_to_ids(objects, synsets: SynsetTable, path: str):
    labels = []
    for n, (wnid, _) in enumerate(objects, start=1):
        try:
            labels.append(synsets.id_of(wnid))
        except KeyError:
            raise InputError(f"object {n}: unknown WNID {wnid!r} (not in {synsets.source})",
                             path=path, field="name") from None
    boxes = np.array([b for _, b in objects]).reshape(-1, 4)
    return np.array(labels, np.int64), boxes


_INDEX_IN_NAME = re.compile(r"_(\d+)\.xml$", re.IGNORECASE)


def _xml_files_in_order(directory: str, n_images: int | None) -> list[str]:
    files = sorted(glob.glob(os.path.join(glob.escape(directory), "*.xml")))
    if not files:
        raise InputError("expected a folder of PASCAL-VOC .xml files, found none", path=directory)
    if n_images is not None and len(files) != n_images:
        raise InputError(f"expected {n_images} .xml files (one per ground-truth line), found {len(files)}; "
                         "the official 2012 routine pairs files and lines by position, so a missing or "
                         "extra file would shift every image", path=directory)
    numbers = [_INDEX_IN_NAME.search(f) for f in files]
    if all(numbers):
        found = np.array([int(m.group(1)) for m in numbers])
        if not np.array_equal(found, np.arange(1, len(files) + 1)):
            first = int(np.flatnonzero(found != np.arange(1, len(files) + 1))[0])
            raise InputError(f"expected image number {first + 1} at position {first + 1}, found "
                             f"{os.path.basename(files[first])}", path=directory)
    return files


# --------------------------------------------------------------------------- CLS-LOC boxes
def load_clsloc_boxes(source, synsets: SynsetTable, n_images: int | None = None) -> ObjectTable:
    """Load CLS-LOC validation boxes from a folder of XML files or the 2015 cached ``.mat``.

    Parameters
    ----------
    source : path-like
        Folder of ``ILSVRC2012_val_%08d.xml`` files, or
        ``ILSVRC2015_clsloc_validation_ground_truth.mat``.
    synsets : SynsetTable
        Maps the XML's WNIDs to devkit ids.
    n_images : int, optional
        Expected number of images (the ground-truth file's line count).

    Returns
    -------
    ObjectTable
        Objects in file-name order of their images.
    """
    source = os.fspath(source)
    if os.path.isdir(source):
        labels, boxes = [], []
        for f in _xml_files_in_order(source, n_images):
            lab, box = _objects_to_ids(read_voc_xml(f), synsets, f)
            labels.append(lab)
            boxes.append(box)
        return ObjectTable.from_lists(labels, boxes)
    table = _object_table(cached_arrays(source, "clsloc-boxes", lambda: _parse_clsloc_cache(source)))
    if n_images is not None and table.n_images != n_images:
        raise InputError(f"expected {n_images} images (one per ground-truth line), the cache has {table.n_images}",
                         path=source)
    return table


def _parse_clsloc_cache(source: str) -> dict:
    mat = _load_mat(source, "CLS-LOC ground-truth cache")
    if "rec" not in mat:
        raise InputError("expected a variable 'rec' (ILSVRC2015_clsloc_validation_ground_truth.mat)",
                         path=source)
    rec = np.asarray(mat["rec"]).ravel()
    labels, boxes = [], []
    for r in rec:
        objs = np.asarray(r["objects"]).ravel()
        labels.append([float(np.asarray(o["label"]).ravel()[0]) for o in objs])
        boxes.append([np.asarray(o["bbox"], np.float64).ravel() for o in objs])
    return _table_arrays(ObjectTable.from_lists(labels, boxes))


def _table_arrays(table: ObjectTable) -> dict:
    return {"n_images": np.array(table.n_images), "image": table.image, "label": table.label, "box": table.box,
            "threshold": table.threshold}


def _object_table(arrays: dict) -> ObjectTable:
    return ObjectTable(int(arrays["n_images"]), arrays["image"], arrays["label"], arrays["box"], arrays["threshold"])


# --------------------------------------------------------------------------- DET boxes
def load_det_ground_truth(source, image_list: ImageList, synsets: SynsetTable) -> ObjectTable:
    """Load DET validation ground truth for the images of ``image_list``.

    Parameters
    ----------
    source : path-like
        Folder holding ``<image name>.xml`` for every listed image, or the cached
        ``ILSVRC2015_det_validation_ground_truth.mat``.
    image_list : ImageList
    synsets : SynsetTable
        DET metadata (maps WNIDs to DET ids).

    Returns
    -------
    ObjectTable
        Objects per list position; thresholds from the cache where it has them,
        otherwise computed with :func:`~ilsvrc.boxes.det_iou_threshold`.
    """
    source = os.fspath(source)
    if os.path.isdir(source):
        labels, boxes = [], []
        for name in image_list.names:
            f = os.path.join(source, name + ".xml")
            if not os.path.exists(f):
                raise InputError(f"no annotation file for listed image {name!r} (expected {f})",
                                 path=image_list.path)
            lab, box = _objects_to_ids(read_voc_xml(f), synsets, f)
            labels.append(lab)
            boxes.append(box)
        return ObjectTable.from_lists(labels, boxes)
    cache = cached_arrays(source, "det-ground-truth", lambda: _parse_det_cache(source))
    position = _positions_in(_sorted_keys(cache["image_ids"]), image_list.indices)
    missing = np.flatnonzero(position < 0)
    if missing.size:
        raise InputError(f"{missing.size} listed images are not in the cache (first: index "
                         f"{int(image_list.indices[missing[0]])})", path=source)
    counts = cache["counts"][position]
    first = np.concatenate([[0], np.cumsum(cache["counts"])])[position]
    pick = np.repeat(first - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) + np.arange(int(counts.sum()))
    return ObjectTable(len(image_list), np.repeat(np.arange(len(image_list), dtype=np.int64), counts),
                       cache["label"][pick], cache["box"][pick], cache["threshold"][pick])


def _parse_det_cache(source: str) -> dict:
    """Flat arrays of a 2015 DET cache: its image ids, objects per image, and the objects."""
    mat = _load_mat(source, "DET ground-truth cache")
    if "gt_obj_img_ids" in mat:
        raise InputError("this is a 2014-format DET cache (gt_obj_img_ids); use the XML folder or the "
                         "2015 cache ILSVRC2015_det_validation_ground_truth.mat", path=source)
    for key in ("gt_img_ids", "gt_obj_labels", "gt_obj_bboxes"):
        if key not in mat:
            raise InputError(f"expected a variable {key!r} (ILSVRC2015_det_validation_ground_truth.mat)",
                             path=source)
    img_ids = np.asarray(mat["gt_img_ids"], np.float64).ravel().astype(np.int64)
    lab_cells = np.asarray(mat["gt_obj_labels"]).ravel()
    box_cells = np.asarray(mat["gt_obj_bboxes"]).ravel()
    thr_cells = np.asarray(mat["gt_obj_thr"]).ravel() if "gt_obj_thr" in mat else None
    labels, boxes, thresholds = [], [], []
    for p in range(len(img_ids)):
        lab = np.asarray(lab_cells[p], np.float64).ravel()
        box = np.asarray(box_cells[p], np.float64).reshape(4, -1).T if lab.size else np.zeros((0, 4))
        labels.append(lab)
        boxes.append(box)
        thresholds.append(np.asarray(thr_cells[p], np.float64).ravel() if thr_cells is not None
                          else det_iou_threshold(box))
    table = ObjectTable.from_lists(labels, boxes, thresholds)
    return {"image_ids": img_ids, "counts": np.array([len(l) for l in labels], np.int64), "label": table.label,
            "box": table.box, "threshold": table.threshold}


def _load_mat(path: str, what: str) -> dict:
    import scipy.io

    try:
        return scipy.io.loadmat(path, mat_dtype=True)
    except FileNotFoundError:
        raise InputError(f"{what} not found (expected a folder of XML files or a .mat cache)", path=path) from None
    except Exception as exc:  # scipy raises several types for non-MAT input
        raise InputError(f"not a readable MATLAB v5 {what} ({exc})", path=path) from None
