"""Class numberings of submissions, and the commonest evaluator bug: the wrong one.

A submission can name classes three ways (see :mod:`ilsvrc.synsets`):

``devkit-id``
    1-based devkit ids (what the official evaluators read); 0 = no guess.
``sorted-index``
    0-based index in the sorted list of the evaluated WNIDs (PyTorch, Caffe, Keras,
    the Kaggle ``LOC_synset_mapping.txt`` line number).
``wnid``
    The WNID itself (``n01440764``).

:func:`convert_submission` rewrites the label tokens of a CLS, CLS-LOC or DET file and
leaves every other token as written.  :func:`suspect_label_order` notices a CLS
submission that scores near chance but would score far better read in another
numbering.
"""
from __future__ import annotations

import os
import re

import numpy as np

from ._text import read_token_lines
from .errors import InputError
from .files import atomic_write
from .metrics.classification import flat_errors
from .synsets import SynsetTable

FORMS = ("devkit-id", "sorted-index", "wnid")
_LABEL_COLUMNS = {"cls": lambda n: range(n), "loc": lambda n: range(0, n, 5), "det": lambda n: [1]}
_WNID = re.compile(r"^n\d{8}$")


def _to_devkit_id(token: str, form: str, synsets: SynsetTable) -> int:
    n = synsets.n_classes
    if form == "wnid":
        if not _WNID.match(token):
            raise ValueError(f"expected a WNID like n01440764, got {token!r}")
        try:
            cid = synsets.id_of(token)
        except KeyError:
            raise ValueError(f"unknown WNID {token!r}") from None
        if cid > n:
            raise ValueError(f"WNID {token!r} is not one of the {n} evaluated classes")
        return cid
    if not re.fullmatch(r"[+-]?\d+", token):
        raise ValueError(f"expected an integer class label, got {token!r}")
    value = int(token)
    if form == "devkit-id":
        if not 0 <= value <= n:
            raise ValueError(f"expected a devkit id in 0..{n}, got {value}")
        return value
    if not 0 <= value < n:
        raise ValueError(f"expected a sorted-WNID index in 0..{n - 1}, got {value}")
    return int(synsets.sorted_index_to_id[value])


def _from_devkit_id(cid: int, form: str, synsets: SynsetTable) -> str:
    if form == "devkit-id":
        return str(cid)
    if cid == 0:
        raise ValueError(f"a 'no guess' 0 has no {form} form; drop it or emit a real guess")
    if form == "wnid":
        return synsets.wnid_of(cid)
    return str(int(synsets.id_to_sorted_index[cid]))


def convert_submission(src, dst, *, task: str, source_form: str, target_form: str,
                       synsets: SynsetTable | None = None) -> int:
    """Rewrite the class labels of a submission from one numbering to another.

    Parameters
    ----------
    src, dst : path-like
        Input and output submission files (``dst`` is written atomically).
    task : {"cls", "loc", "det"}
    source_form, target_form : {"devkit-id", "sorted-index", "wnid"}
    synsets : SynsetTable, optional
        Defaults to the bundled CLS-LOC (cls, loc) or DET (det) class list.

    Returns
    -------
    int
        Number of labels converted.
    """
    if task not in _LABEL_COLUMNS:
        raise ValueError(f"task: expected one of {tuple(_LABEL_COLUMNS)}, got {task!r}")
    for name, form in (("from", source_form), ("to", target_form)):
        if form not in FORMS:
            raise ValueError(f"{name}: expected one of {FORMS}, got {form!r}")
    if synsets is None:
        synsets = SynsetTable.bundled("det" if task == "det" else "clsloc")
    out, count = relabel_lines(src, task, source_form, target_form, synsets)
    atomic_write(os.fspath(dst), "".join(line + "\n" for line in out))
    return count


def relabel_lines(src, task: str, source_form: str, target_form: str, synsets: SynsetTable) -> tuple[list, int]:
    """The lines of a submission with its class labels rewritten (see :func:`convert_submission`).

    Returns the lines (without line ends; one per data line, in order, so line numbers
    are kept) and the number of labels rewritten.  A bad label raises an InputError naming
    the file, the line and the column.
    """
    lines = read_token_lines(src, f"{task.upper()} submission", allow_empty=True)
    out, count = [], 0
    for r, toks in enumerate(lines.tokens):
        for j in _LABEL_COLUMNS[task](len(toks)):
            if j >= len(toks):
                break
            try:
                toks[j] = _from_devkit_id(_to_devkit_id(toks[j], source_form, synsets), target_form, synsets)
            except ValueError as exc:
                raise InputError(str(exc), path=lines.path, line=lines.line_number(r),
                                 field=f"label in column {j + 1}") from None
            count += 1
        out.append(" ".join(toks))
    return out, count


def reinterpret_labels(labels: np.ndarray, base: int, synsets: SynsetTable) -> np.ndarray:
    """Read integer labels as sorted-WNID indices counted from ``base`` (0 or 1); return devkit ids.

    Values outside the index range become 0 (no guess).
    """
    labels = np.asarray(labels, np.int64)
    idx = labels - base
    valid = (idx >= 0) & (idx < synsets.n_classes)
    out = np.zeros_like(labels)
    out[valid] = synsets.sorted_index_to_id[idx[valid]]
    return out


def suspect_label_order(pred_labels, gt_labels, synsets: SynsetTable, *, chance_margin: float = 0.9,
                        min_gain: float = 0.1) -> str | None:
    """A warning when a submission looks like it uses sorted-WNID indices.

    Parameters
    ----------
    pred_labels : ndarray of shape (n_images, n_guesses), int
    gt_labels : ndarray of shape (n_images, n_labels), int
    synsets : SynsetTable
    chance_margin : float
        Only submissions with a top-5 error at least this high are examined.
    min_gain : float
        The other reading must lower the top-5 error by at least this much.

    Returns
    -------
    str or None
        The warning text, naming the better reading and the ``convert`` command to use.
    """
    actual = flat_errors(pred_labels, gt_labels)[:, -1].mean()
    if actual < chance_margin:
        return None
    best = None
    for base in (0, 1):
        err = flat_errors(reinterpret_labels(pred_labels, base, synsets), gt_labels)[:, -1].mean()
        if best is None or err < best[0]:
            best = (err, base)
    if best[0] > actual - min_gain:
        return None
    err, base = best
    how = "0-based sorted-WNID indices (PyTorch/Caffe/Kaggle order)" if base == 0 else \
        "1-based sorted-WNID indices"
    return (f"LABEL ORDER? top-5 error is {actual:.4f} (near chance), but read as {how} the same "
            f"submission scores {err:.4f}. The devkit numbers classes 1..{synsets.n_classes} in its own "
            f"order (id 1 = {synsets.wnid_of(1)}), not in sorted-WNID order. "
            + ("Fix it with: ilsvrc-classic convert SUBMISSION OUT --task cls --from sorted-index --to devkit-id"
               if base == 0 else "Subtract 1 from every label, then convert with --from sorted-index."))
