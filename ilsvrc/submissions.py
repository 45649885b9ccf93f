"""Submission files of the three ILSVRC tasks: strict readers and exact writers.

Formats (devkit readme, METRICS.md section 7):

CLS
    One line per image, in file-name order; up to 5 devkit class ids, most confident
    first.  Shorter lines are padded with 0 (never correct), extra ids are ignored.
CLS-LOC
    One line per image; up to 5 groups ``<id> <x1> <y1> <x2> <y2>``, most confident
    first; real-valued inclusive pixel coordinates.
DET
    One line per detection: ``<image index> <DET id> <confidence> <x1> <y1> <x2> <y2>``;
    the image index refers to the evaluation image list; any order, any number.

Readers refuse what would make the official code misalign or silently mis-score: a wrong
number of lines, a blank line, a non-numeric token, a non-integer or out-of-range id, an
image index not in the list, NaN or infinity.  Each refusal names the file, the line, the
field and what was expected (:class:`~ilsvrc.errors.InputError`).  Spaces, tabs, commas,
Windows line endings, trailing white space and gzip-compressed files (``.gz``) are
accepted.  Reversed or empty boxes are legal (they are scored as misses).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._text import (
    check_integral,
    iter_token_blocks,
    parse_rows,
    rows_wider_than,
    source_name,
)
from .errors import InputError
from .files import atomic_write
from .ground_truth import ImageList

MAX_GUESSES = 5
"""Guesses per image that the evaluators read (k = 1..5)."""


def _too_many_lines(path, n_images: int) -> InputError:
    return InputError(f"expected {n_images} lines (one per image, in the ground-truth order), got more: "
                      f"line {n_images + 1} holds data", path=path, line=n_images + 1)


def _check_line_count(path, found: int, n_images: int) -> None:
    if found != n_images:
        raise InputError(f"expected {n_images} lines (one per image, in the ground-truth order), got {found}",
                         path=path)


class _ExtraGuesses:
    """Counts lines holding more than five guesses (the official code reads the first five)."""

    def __init__(self, what: str, width: int):
        self.what, self.width, self.count, self.first = what, width, 0, None

    def add(self, block) -> None:
        count, first = rows_wider_than(block, self.width)
        if count and self.first is None:
            self.first = first
        self.count += count

    def report(self, warnings) -> None:
        if self.count and warnings is not None:
            warnings.append(f"{self.count} line(s) of the {self.what} hold more than {MAX_GUESSES} guesses "
                            f"(first: line {self.first}); only the first {MAX_GUESSES} are scored, the rest "
                            "ignored, as the official code does")


# --------------------------------------------------------------------------- CLS
def read_cls_submission(path, n_images: int, n_classes: int, *, warnings: list | None = None) -> np.ndarray:
    """Read a classification submission.

    The file is read in blocks: one longer than ``n_images`` lines is refused when line
    ``n_images + 1`` is read, whatever follows it.

    Parameters
    ----------
    path : path-like or binary file object
    n_images : int
        Number of lines expected (the ground truth's).
    n_classes : int
        Largest valid id (1000); 0 is accepted and means "no guess".
    warnings : list, optional
        Receives a message when lines hold more than 5 guesses (ignored, as the devkit does).

    Returns
    -------
    ndarray of shape (n_images, 5), int64
        Guessed ids, zero-padded.
    """
    what = "CLS submission"
    name = lambda j: f"guess {j + 1}"  # noqa: E731
    out = np.zeros((n_images, MAX_GUESSES), np.int64)
    extra = _ExtraGuesses(what, MAX_GUESSES)
    row = 0
    for block in iter_token_blocks(path, what):
        end = row + len(block)
        if end > n_images:
            raise _too_many_lines(block.path, n_images)
        values, _ = parse_rows(block, what, name, max_columns=MAX_GUESSES)
        check_integral(values, block, name, "class id", low=0, high=n_classes)
        out[row:end, : values.shape[1]] = values
        extra.add(block)
        row = end
    _check_line_count(source_name(path), row, n_images)
    extra.report(warnings)
    return out


def write_cls_submission(path, labels) -> None:
    """Write guessed ids (n_images, k) as a CLS submission (k <= 5 recommended)."""
    labels = np.asarray(labels)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels: expected an integer array of shape (n_images, k), got {labels.dtype} {labels.shape}")
    atomic_write(path, "\n".join(" ".join(map(str, row)) for row in labels.tolist()) + "\n")


# --------------------------------------------------------------------------- CLS-LOC
@dataclass(frozen=True)
class LocSubmission:
    """A CLS-LOC submission.

    Attributes
    ----------
    labels : ndarray of shape (n_images, 5), int64
        Guessed ids, zero-padded.
    boxes : ndarray of shape (n_images, 5, 4), float64
        One canonical box per guess (zeros for padding).
    """

    labels: np.ndarray
    boxes: np.ndarray


_LOC_FIELDS = ("class id", "x1", "y1", "x2", "y2")


def read_loc_submission(path, n_images: int, n_classes: int, *, warnings: list | None = None) -> LocSubmission:
    """Read a CLS-LOC submission (see the module docstring).

    Each line must hold whole groups of 5 values; groups beyond the fifth are ignored
    (with a message in ``warnings``).  Read in blocks, like :func:`read_cls_submission`.
    """
    what = "CLS-LOC submission"
    name = lambda j: f"guess {j // 5 + 1} {_LOC_FIELDS[j % 5]}"  # noqa: E731
    full = np.zeros((n_images, 5 * MAX_GUESSES))
    extra = _ExtraGuesses(what, 5 * MAX_GUESSES)
    row = 0
    for block in iter_token_blocks(path, what):
        end = row + len(block)
        if end > n_images:
            raise _too_many_lines(block.path, n_images)
        lengths = block.lengths
        partial = np.flatnonzero(lengths % 5)
        if partial.size:
            r = int(partial[0])
            raise InputError(f"expected groups of 5 values '<id> <x1> <y1> <x2> <y2>', got {int(lengths[r])} "
                             "values", path=block.path, line=block.line_number(r))
        values, _ = parse_rows(block, what, name, max_columns=5 * MAX_GUESSES)
        check_integral(values, block, name, "class id", low=0, high=n_classes,
                       columns=np.arange(0, values.shape[1], 5))
        full[row:end, : values.shape[1]] = values
        extra.add(block)
        row = end
    _check_line_count(source_name(path), row, n_images)
    extra.report(warnings)
    groups = full.reshape(n_images, MAX_GUESSES, 5)
    return LocSubmission(groups[:, :, 0].astype(np.int64), groups[:, :, 1:].copy())


def write_loc_submission(path, labels, boxes) -> None:
    """Write ids (n_images, k) and boxes (n_images, k, 4) as a CLS-LOC submission."""
    labels = np.asarray(labels)
    boxes = np.asarray(boxes, np.float64)
    if labels.ndim != 2 or boxes.shape != labels.shape + (4,):
        raise ValueError(f"expected labels (n, k) and boxes (n, k, 4), got {labels.shape} and {boxes.shape}")
    out = []
    for lab_row, box_row in zip(labels.tolist(), boxes.tolist()):
        out.append(" ".join(f"{l} {_fmt(b[0])} {_fmt(b[1])} {_fmt(b[2])} {_fmt(b[3])}"
                            for l, b in zip(lab_row, box_row)))
    atomic_write(path, "\n".join(out) + "\n")


# --------------------------------------------------------------------------- DET
@dataclass(frozen=True)
class DetSubmission:
    """A DET submission, one entry per detection in file order.

    Attributes
    ----------
    image : ndarray of shape (n,), int64
        0-based position of the detection's image in the image list.
    label : ndarray of shape (n,), int64
        DET class id.
    score : ndarray of shape (n,), float64
        Confidence.
    box : ndarray of shape (n, 4), float64
        Canonical box.
    """

    image: np.ndarray
    label: np.ndarray
    score: np.ndarray
    box: np.ndarray

    def __len__(self) -> int:
        return len(self.label)


_DET_FIELDS = ("image index", "class id", "confidence", "x1", "y1", "x2", "y2")


def read_det_submission(path, image_list: ImageList, n_classes: int) -> DetSubmission:
    """Read a DET submission against ``image_list`` (see the module docstring).

    The official code misaligns (or crashes) on image indices outside the list and
    silently drops unknown class ids; both are refused here.  An empty file is a valid
    submission with no detections.  The file is parsed in blocks into arrays grown in
    place, so memory is at most 60 bytes per detection plus one block's work space.
    """
    what = "DET submission"
    name = lambda j: _DET_FIELDS[j]  # noqa: E731
    columns = GrowingColumns(image=(np.int64, ()), label=(np.int64, ()), score=(np.float64, ()),
                             box=(np.float64, (4,)))
    unlisted_count, first_unlisted = 0, None
    for block in iter_token_blocks(path, what, allow_empty=True):
        lengths = block.lengths
        wrong = np.flatnonzero(lengths != 7)
        if wrong.size:
            r = int(wrong[0])
            raise InputError("expected 7 values '<image index> <class id> <confidence> <x1> <y1> <x2> <y2>', "
                             f"got {int(lengths[r])}", path=block.path, line=block.line_number(r))
        values, _ = parse_rows(block, what, name)
        check_integral(values, block, name, "class id", low=1, high=n_classes, columns=[1])
        check_integral(values, block, name, "image index", low=1, high=np.iinfo(np.int64).max // 2, columns=[0])
        index = values[:, 0].astype(np.int64)
        position = image_list.positions_of(index)
        unlisted = np.flatnonzero(position < 0)
        if unlisted.size and first_unlisted is None:
            first_unlisted = (block.path, block.line_number(int(unlisted[0])), int(index[unlisted[0]]))
        unlisted_count += int(unlisted.size)
        if first_unlisted is None:
            columns.append(image=position, label=values[:, 1], score=values[:, 2], box=values[:, 3:7])
    if first_unlisted is not None:
        file, line, idx = first_unlisted
        raise InputError(f"image index {idx} is not in the image list {image_list.path} "
                         f"({unlisted_count} detection(s) affected)", path=file, line=line, field="image index")
    return DetSubmission(**columns.finish())


class GrowingColumns:
    """Columns of a table that grow in place as rows are appended.

    Capacity grows by a sixteenth at a time with ``ndarray.resize`` (``realloc``: large
    blocks are remapped, not copied), so the spare capacity never exceeds 6.25 % and no
    second copy of the table is ever made.

    Parameters
    ----------
    **spec : (dtype, tail shape)
        One entry per column, e.g. ``box=(np.float64, (4,))``.
    """

    _MIN_CAPACITY = 4096

    def __init__(self, **spec):
        self._arrays = {name: np.zeros((0,) + tuple(tail), dtype) for name, (dtype, tail) in spec.items()}
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def append(self, **parts) -> None:
        """Append equally long arrays, one per column."""
        k = len(next(iter(parts.values())))
        need = self._n + k
        capacity = len(next(iter(self._arrays.values())))
        if need > capacity:
            capacity = max(need, capacity + capacity // 16, self._MIN_CAPACITY)
            for arr in self._arrays.values():
                arr.resize((capacity,) + arr.shape[1:], refcheck=False)
        for name, part in parts.items():
            self._arrays[name][self._n: need] = part
        self._n = need

    def finish(self) -> dict:
        """The columns, trimmed to the rows appended (the object must not be used afterwards)."""
        for arr in self._arrays.values():
            arr.resize((self._n,) + arr.shape[1:], refcheck=False)
        return self._arrays


def write_det_submission(path, image_index, labels, scores, boxes) -> None:
    """Write detections as a DET submission.

    Parameters
    ----------
    image_index : array_like of shape (n,), int
        1-based image index from the image list (not the 0-based position).
    labels : array_like of shape (n,), int
    scores : array_like of shape (n,), float
    boxes : array_like of shape (n, 4), float
    """
    image_index = np.asarray(image_index)
    labels = np.asarray(labels)
    scores = np.asarray(scores, np.float64)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    n = len(image_index)
    if not (len(labels) == len(scores) == len(boxes) == n):
        raise ValueError("image_index, labels, scores and boxes must have the same length")
    rows = (f"{i} {l} {_fmt(s)} {_fmt(b[0])} {_fmt(b[1])} {_fmt(b[2])} {_fmt(b[3])}"
            for i, l, s, b in zip(image_index.tolist(), labels.tolist(), scores.tolist(), boxes.tolist()))
    atomic_write(path, "".join(r + "\n" for r in rows))


# --------------------------------------------------------------------------- helpers
def _fmt(value: float) -> str:
    """Shortest text that reads back as the same float64 (integers without a decimal point)."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 2**53 else repr(float(value))
