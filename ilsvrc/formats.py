"""Submission formats that other scorers use, read into (and written from) the devkit's arrays.

``devkit``
    The official text files (:mod:`ilsvrc.submissions`): 1-based devkit class ids.
``sorted-index``, ``wnid``
    The same text layout with the class labels written as 0-based sorted-WNID indices
    (torchvision / timm / Caffe / Keras order; the line number of the Kaggle
    ``LOC_synset_mapping.txt``) or as WNIDs (``n01440764``).  A "no guess" 0 has no
    such form: write fewer guesses instead.
``kaggle-csv`` (CLS and CLS-LOC)
    The CSV of the Kaggle *ImageNet Object Localization Challenge*
    (``LOC_sample_submission.csv``): a header ``ImageId,PredictionString``, then one row
    per image, ``ILSVRC2012_val_00000001,n01751748 10 20 300 400 n01440764 ...``: up to 5
    groups ``WNID xmin ymin xmax ymax`` separated by spaces, most confident first (for CLS
    the WNIDs alone).  Rows may come in any order; the image is identified by the number
    at the end of its ``ImageId`` (``ILSVRC2012_val_%08d``: line ``%d`` of the ground
    truth), and every image needs exactly one row (an empty ``PredictionString`` is no
    guess).  Coordinates are those of the devkit (and of ``LOC_val_solution.csv``, which
    copies the XML boxes): inclusive pixel coordinates, width ``xmax - xmin + 1``.
``coco-json`` (DET)
    COCO's results format: a JSON list of ``{"image_id": i, "category_id": c, "bbox": [x,
    y, w, h], "score": s}``.  ``image_id`` is the DET image index of the image list (what
    the devkit's DET submission calls ``<image index>``), ``category_id`` the devkit DET
    id (1..200, devkit order).  COCO boxes are continuous, ``[x, x + w)``: the devkit box
    is ``x1 = x, y1 = y, x2 = x + w - 1, y2 = y + h - 1`` (so that the devkit's ``+1``
    width equals ``w``); written back as ``w = x2 - x1 + 1``.  For real-valued
    coordinates that round trip can change the last bit of ``x2``.

Every reader refuses bad input with an :class:`~ilsvrc.errors.InputError` naming the
file, the line and the field (for JSON, the line where the detection's object starts).
"""
from __future__ import annotations

import io
import json
import os
import re

import numpy as np

from ._text import source_name
from .errors import InputError
from .files import atomic_write
from .ground_truth import ImageList
from .label_order import relabel_lines
from .submissions import (
    MAX_GUESSES,
    DetSubmission,
    LocSubmission,
    _fmt,
    read_cls_submission,
    read_det_submission,
    read_loc_submission,
    write_cls_submission,
    write_det_submission,
    write_loc_submission,
)
from .synsets import SynsetTable

FORMATS = {"cls": ("devkit", "sorted-index", "wnid", "kaggle-csv"),
           "loc": ("devkit", "sorted-index", "wnid", "kaggle-csv"),
           "det": ("devkit", "sorted-index", "wnid", "coco-json")}
SUFFIX = {"kaggle-csv": ".csv", "coco-json": ".json"}
KAGGLE_HEADER = "ImageId,PredictionString"
IMAGE_NAME = "ILSVRC2012_val_{:08d}"
_TRAILING_NUMBER = re.compile(r"(\d+)$")
_WHAT = {"cls": "CLS submission", "loc": "CLS-LOC submission", "det": "DET submission"}


def check_format(task: str, fmt: str) -> None:
    if fmt not in FORMATS[task]:
        raise InputError(f"format {fmt!r} is not available for {task}; expected one of {', '.join(FORMATS[task])}")


def _relabelled(path, task: str, fmt: str, synsets: SynsetTable):
    """A devkit-id copy of a sorted-index / WNID text submission, as a stream named like the file."""
    lines, _ = relabel_lines(path, task, fmt, "devkit-id", synsets)
    stream = io.BytesIO("".join(line + "\n" for line in lines).encode())
    stream.name = source_name(path)
    return stream


# --------------------------------------------------------------------------- reading
def read_cls(path, n_images: int, n_classes: int, *, fmt: str = "devkit", synsets: SynsetTable | None = None,
             warnings: list | None = None) -> np.ndarray:
    """Read a CLS submission in any format; devkit ids, shape (n_images, 5)."""
    check_format("cls", fmt)
    if fmt == "devkit":
        return read_cls_submission(path, n_images, n_classes, warnings=warnings)
    synsets = synsets or SynsetTable.bundled("clsloc")
    if fmt == "kaggle-csv":
        labels, _ = read_kaggle_csv(path, n_images, synsets, with_boxes=False, warnings=warnings,
                                    n_classes=n_classes)
        return labels
    return read_cls_submission(_relabelled(path, "cls", fmt, synsets), n_images, n_classes, warnings=warnings)


def read_loc(path, n_images: int, n_classes: int, *, fmt: str = "devkit", synsets: SynsetTable | None = None,
             warnings: list | None = None) -> LocSubmission:
    """Read a CLS-LOC submission in any format."""
    check_format("loc", fmt)
    if fmt == "devkit":
        return read_loc_submission(path, n_images, n_classes, warnings=warnings)
    synsets = synsets or SynsetTable.bundled("clsloc")
    if fmt == "kaggle-csv":
        return LocSubmission(*read_kaggle_csv(path, n_images, synsets, with_boxes=True, warnings=warnings,
                                              n_classes=n_classes))
    return read_loc_submission(_relabelled(path, "loc", fmt, synsets), n_images, n_classes, warnings=warnings)


def read_det(path, image_list: ImageList, n_classes: int, *, fmt: str = "devkit",
             synsets: SynsetTable | None = None) -> DetSubmission:
    """Read a DET submission in any format."""
    check_format("det", fmt)
    if fmt == "devkit":
        return read_det_submission(path, image_list, n_classes)
    if fmt == "coco-json":
        return read_coco_json(path, image_list, n_classes)
    synsets = synsets or SynsetTable.bundled("det")
    return read_det_submission(_relabelled(path, "det", fmt, synsets), image_list, n_classes)


def read_kaggle_csv(path, n_images: int, synsets: SynsetTable, *, with_boxes: bool, warnings: list | None = None,
                    n_classes: int | None = None):
    """Read a Kaggle ``ImageId,PredictionString`` CSV (see the module docstring).

    Returns
    -------
    labels : ndarray of shape (n_images, 5), int64
        Devkit ids, zero-padded.
    boxes : ndarray of shape (n_images, 5, 4), float64
        Only with ``with_boxes`` (otherwise the tuple holds ``labels`` and None).
    """
    what = "Kaggle CSV"
    name = source_name(path)
    n_classes = synsets.n_classes if n_classes is None else n_classes
    group = 5 if with_boxes else 1
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
        text = raw.decode("utf-8-sig")
    except IsADirectoryError:
        raise InputError(f"cannot read {what}: it is a directory, expected a file", path=name) from None
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror or exc}", path=name) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} is not a text file (undecodable byte 0x{raw[exc.start]:02x})", path=name,
                         line=raw[: exc.start].count(b"\n") + 1) from None
    lines = text.split("\n")
    labels = np.zeros((n_images, MAX_GUESSES), np.int64)
    boxes = np.zeros((n_images, MAX_GUESSES, 4))
    seen = np.zeros(n_images, np.int64)  # line of each image's row
    header = 0
    while header < len(lines) and not lines[header].strip():
        header += 1
    if header == len(lines) or lines[header].strip().replace(" ", "") != KAGGLE_HEADER:
        got = lines[header].strip() if header < len(lines) else ""
        raise InputError(f"expected the header {KAGGLE_HEADER!r}, got {got!r}", path=name, line=header + 1)
    wide, first_wide = 0, None
    fields = ("WNID", "xmin", "ymin", "xmax", "ymax")
    for number, line in enumerate(lines[header + 1:], start=header + 2):
        if not line.strip():
            continue
        image_id, comma, prediction = line.strip().partition(",")
        image_id, prediction = image_id.strip().strip('"'), prediction.strip().strip('"')
        match = _TRAILING_NUMBER.search(image_id)
        if not comma or not match:
            raise InputError(f"expected 'ImageId,PredictionString' with an ImageId like "
                             f"{IMAGE_NAME.format(1)}, got {line.strip()[:60]!r}", path=name, line=number,
                             field="ImageId")
        position = int(match.group(1)) - 1
        if not 0 <= position < n_images:
            raise InputError(f"image {image_id!r} is not one of the {n_images} images of the ground truth",
                             path=name, line=number, field="ImageId")
        if seen[position]:
            raise InputError(f"image {image_id!r} has a second row (the first is line {seen[position]})",
                             path=name, line=number, field="ImageId")
        seen[position] = number
        tokens = prediction.split()
        if len(tokens) % group:
            raise InputError(f"expected groups of {group} values 'WNID xmin ymin xmax ymax', got {len(tokens)} "
                             "values", path=name, line=number, field="PredictionString")
        if len(tokens) > group * MAX_GUESSES:
            wide += 1
            first_wide = first_wide or number
        for j, token in enumerate(tokens[: group * MAX_GUESSES]):
            guess, part = divmod(j, group)
            field = f"guess {guess + 1} {fields[part]}"
            if part == 0:
                try:
                    cid = synsets.id_of(token)
                except KeyError:
                    raise InputError(f"expected a WNID of the {n_classes} classes, got {token!r}", path=name,
                                     line=number, field=field) from None
                if cid > n_classes:
                    raise InputError(f"WNID {token!r} is not one of the {n_classes} evaluated classes", path=name,
                                     line=number, field=field)
                labels[position, guess] = cid
            else:
                try:
                    value = float(token)
                except ValueError:
                    raise InputError(f"expected a number, got {token!r}", path=name, line=number,
                                     field=field) from None
                if not np.isfinite(value):
                    raise InputError(f"expected a finite number, got {token!r}", path=name, line=number, field=field)
                boxes[position, guess, part - 1] = value
    missing = np.flatnonzero(seen == 0)
    if missing.size:
        raise InputError(f"no row for image {IMAGE_NAME.format(int(missing[0]) + 1)} ({missing.size} of "
                         f"{n_images} images missing)", path=name)
    if wide and warnings is not None:
        warnings.append(f"{wide} row(s) of the Kaggle CSV hold more than {MAX_GUESSES} guesses (first: line "
                        f"{first_wide}); only the first {MAX_GUESSES} are scored, the rest ignored, as the official "
                        "code does")
    return labels, (boxes if with_boxes else None)


def _json_records(text: str, name: str):
    """Yield (record, line) for every element of a top-level JSON list."""
    decoder = json.JSONDecoder()
    pos = len(text) - len(text.lstrip())
    if not text.startswith("[", pos):
        raise InputError("expected a JSON list of detections '[{\"image_id\": ..., ...}, ...]'", path=name,
                         line=text.count("\n", 0, pos) + 1)
    pos += 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if text.startswith("]", pos):
            return
        line = text.count("\n", 0, pos) + 1
        try:
            record, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise InputError(f"malformed JSON ({exc.msg})", path=name, line=exc.lineno) from None
        yield record, line
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if text.startswith(",", pos):
            pos += 1
        elif not text.startswith("]", pos):
            raise InputError("malformed JSON (expected ',' or ']')", path=name, line=text.count("\n", 0, pos) + 1)


def read_coco_json(path, image_list: ImageList, n_classes: int) -> DetSubmission:
    """Read COCO-style JSON detections (see the module docstring)."""
    name = source_name(path)
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8-sig")
    except IsADirectoryError:
        raise InputError("cannot read COCO JSON: it is a directory, expected a file", path=name) from None
    except OSError as exc:
        raise InputError(f"cannot read COCO JSON: {exc.strerror or exc}", path=name) from None
    except UnicodeDecodeError:
        raise InputError("COCO JSON is not UTF-8 text", path=name) from None
    rows = []
    for k, (record, line) in enumerate(_json_records(text, name), start=1):
        where = dict(path=name, line=line)
        if not isinstance(record, dict):
            raise InputError(f"detection {k}: expected an object, got {type(record).__name__}", **where)
        for key in ("image_id", "category_id", "bbox", "score"):
            if key not in record:
                raise InputError(f"detection {k} has no {key!r}", field=key, **where)
        values = []
        for key in ("image_id", "category_id"):
            v = record[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not float(v).is_integer():
                raise InputError(f"detection {k}: expected an integer, got {v!r}", field=key, **where)
            values.append(int(v))
        if not 1 <= values[1] <= n_classes:
            raise InputError(f"detection {k}: expected a DET class id in 1..{n_classes}, got {values[1]}",
                             field="category_id", **where)
        bbox, score = record["bbox"], record["score"]
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise InputError(f"detection {k}: expected bbox [x, y, width, height], got {bbox!r}", field="bbox",
                             **where)
        for v, key in zip(list(bbox) + [score], ("bbox x", "bbox y", "bbox width", "bbox height", "score")):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
                raise InputError(f"detection {k}: expected a finite number, got {v!r}", field=key, **where)
        rows.append((values[0], values[1], float(score), *map(float, bbox), line))
    table = np.array(rows, np.float64).reshape(-1, 8)
    index = table[:, 0].astype(np.int64)
    position = image_list.positions_of(index)
    unlisted = np.flatnonzero(position < 0)
    if unlisted.size:
        r = int(unlisted[0])
        raise InputError(f"image index {index[r]} is not in the image list {image_list.path} "
                         f"({unlisted.size} detection(s) affected)", path=name, line=int(table[r, 7]),
                         field="image_id")
    x, y, w, h = table[:, 3], table[:, 4], table[:, 5], table[:, 6]
    box = np.column_stack([x, y, x + w - 1, y + h - 1])
    return DetSubmission(position, table[:, 1].astype(np.int64), table[:, 2].copy(), box)


# --------------------------------------------------------------------------- writing
def write_cls(path, labels, *, fmt: str = "devkit", synsets: SynsetTable | None = None) -> None:
    """Write CLS guesses (n_images, k) (devkit ids, 0 = none) in ``fmt``."""
    check_format("cls", fmt)
    labels = np.asarray(labels)
    if fmt == "devkit":
        return write_cls_submission(path, labels)
    synsets = synsets or SynsetTable.bundled("clsloc")
    _check_representable(labels, fmt)
    if fmt == "kaggle-csv":
        return _write_kaggle(path, labels, None, synsets)
    rows = [" ".join(_label(c, fmt, synsets) for c in row if c) for row in labels.tolist()]
    atomic_write(path, "".join(r + "\n" for r in rows))


def write_loc(path, labels, boxes, *, fmt: str = "devkit", synsets: SynsetTable | None = None) -> None:
    """Write CLS-LOC guesses (ids (n, k), boxes (n, k, 4)) in ``fmt``; 0 ids are left out except in devkit."""
    check_format("loc", fmt)
    labels, boxes = np.asarray(labels), np.asarray(boxes, np.float64)
    if fmt == "devkit":
        return write_loc_submission(path, labels, boxes)
    synsets = synsets or SynsetTable.bundled("clsloc")
    _check_representable(labels, fmt)
    if fmt == "kaggle-csv":
        return _write_kaggle(path, labels, boxes, synsets)
    rows = [" ".join(f"{_label(c, fmt, synsets)} " + " ".join(_fmt(v) for v in b)
                     for c, b in zip(lr, br) if c) for lr, br in zip(labels.tolist(), boxes.tolist())]
    atomic_write(path, "".join(r + "\n" for r in rows))


def write_det(path, image_index, labels, scores, boxes, *, fmt: str = "devkit",
              synsets: SynsetTable | None = None) -> None:
    """Write detections (1-based image indices, devkit ids, scores, canonical boxes) in ``fmt``."""
    check_format("det", fmt)
    image_index, labels = np.asarray(image_index), np.asarray(labels)
    scores, boxes = np.asarray(scores, np.float64), np.asarray(boxes, np.float64).reshape(-1, 4)
    if fmt == "devkit":
        return write_det_submission(path, image_index, labels, scores, boxes)
    if fmt == "coco-json":
        records = [{"image_id": int(i), "category_id": int(c), "bbox": [b[0], b[1], b[2] - b[0] + 1, b[3] - b[1] + 1],
                    "score": float(s)} for i, c, s, b in zip(image_index.tolist(), labels.tolist(), scores.tolist(),
                                                             boxes.tolist())]
        atomic_write(path, "[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]\n")
        return
    synsets = synsets or SynsetTable.bundled("det")
    rows = (f"{i} {_label(c, fmt, synsets)} {_fmt(s)} " + " ".join(_fmt(v) for v in b)
            for i, c, s, b in zip(image_index.tolist(), labels.tolist(), scores.tolist(), boxes.tolist()))
    atomic_write(path, "".join(r + "\n" for r in rows))


def convert_layout(src, dst, *, task: str, source: str, target: str, synsets: SynsetTable) -> int:
    """Rewrite a submission from one format to another (any of :data:`FORMATS`); returns the rows written.

    The number of images is that of the source (lines of a text file, rows of a CSV);
    COCO ``image_id`` values are the devkit's image indices, so no image list is needed.
    """
    check_format(task, source)
    check_format(task, target)
    if task == "det":
        if source == "coco-json":
            with open(src, "rb") as handle:
                ids = sorted({int(r["image_id"]) for r, _ in _json_records(handle.read().decode("utf-8-sig"),
                                                                        source_name(src))
                              if isinstance(r, dict) and isinstance(r.get("image_id"), (int, float))})
        else:
            from ._text import read_token_lines

            lines = read_token_lines(src, "DET submission", allow_empty=True)
            ids = sorted({int(t) for row in lines.tokens for t in row[:1] if t.isdigit()} - {0})
        images = ImageList(tuple(str(i) for i in ids), np.array(ids, np.int64), "the submission's own image indices")
        sub = read_det(src, images, synsets.n_classes, fmt=source, synsets=synsets)
        write_det(dst, images.indices[sub.image], sub.label, sub.score, sub.box, fmt=target, synsets=synsets)
        return len(sub)
    n_images = _count_images(src, source)
    if task == "cls":
        write_cls(dst, read_cls(src, n_images, synsets.n_classes, fmt=source, synsets=synsets), fmt=target,
                  synsets=synsets)
    else:
        sub = read_loc(src, n_images, synsets.n_classes, fmt=source, synsets=synsets)
        write_loc(dst, sub.labels, sub.boxes, fmt=target, synsets=synsets)
    return n_images


def _count_images(src, fmt: str) -> int:
    from ._text import read_token_lines

    if fmt == "kaggle-csv":
        with open(src, "rb") as handle:
            rows = [l for l in handle.read().decode("utf-8-sig").split("\n") if l.strip()]
        return max(len(rows) - 1, 0)
    return len(read_token_lines(src, "submission"))


def coco_round_trip_exact(boxes) -> bool:
    """Whether devkit boxes survive ``[x, y, w, h]`` and back bit for bit."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    back = b[:, :2] + (b[:, 2:] - b[:, :2] + 1) - 1
    return bool(np.array_equal(back, b[:, 2:]))


def _check_representable(labels: np.ndarray, fmt: str) -> None:
    """Formats without a 'no guess' 0 can only leave guesses out at the end of a line."""
    labels = np.asarray(labels).reshape(len(labels), -1)
    inner_zero = (labels[:, :-1] == 0) & (labels[:, 1:] != 0) if labels.shape[1] > 1 else np.zeros((0, 0), bool)
    if inner_zero.any():
        row = int(np.argwhere(inner_zero)[0][0])
        raise ValueError(f"image {row + 1}: a 'no guess' 0 before a real guess cannot be written in {fmt}")


def _label(cid: int, fmt: str, synsets: SynsetTable) -> str:
    if fmt == "wnid":
        return synsets.wnid_of(int(cid))
    if fmt == "sorted-index":
        return str(int(synsets.id_to_sorted_index[int(cid)]))
    return str(int(cid))


def _write_kaggle(path, labels, boxes, synsets: SynsetTable) -> None:
    out = [KAGGLE_HEADER]
    for i, row in enumerate(labels.tolist()):
        groups = []
        for j, cid in enumerate(row):
            if not cid:
                continue
            groups.append(synsets.wnid_of(int(cid)) if boxes is None else
                          " ".join([synsets.wnid_of(int(cid))] + [_fmt(v) for v in boxes[i, j].tolist()]))
        out.append(f"{IMAGE_NAME.format(i + 1)},{' '.join(groups)}")
    atomic_write(os.fspath(path), "\n".join(out) + "\n")
