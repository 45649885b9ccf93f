"""Synsets of the ILSVRC devkits: ids, WNIDs, names and the class hierarchy.

Three numberings of the same classes meet in practice:

* the **devkit id** (1-based), used by the ground-truth files and submissions; for
  CLS-LOC id 1 is ``n02119789`` (kit fox);
* the **WNID** (``n01440764``);
* the **sorted-WNID index** (0-based), used by most frameworks and by the Kaggle files:
  index 0 is ``n01440764`` (tench).

:class:`SynsetTable` loads any devkit metadata file and maps between them.  Supported
files: 2012 ``meta.mat`` (1860 synsets with the hierarchy), 2013/2014
``meta_clsloc.mat`` and ``meta_det.mat`` (815 synsets, DET classes are ids 1..200),
2015 ``meta_clsloc.mat`` / ``meta_det.mat`` / ``meta_vid.mat`` (classes only), and the
2015 ``map_*.txt`` files (``WNID id name`` per line).  ``.mat`` files are read with
``mat_dtype=True``: MATLAB stores integer-valued doubles as uint8/uint16, and arithmetic
on those in numpy silently wraps.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources

import numpy as np

from .errors import InputError

#: DET class ids are 1..200 in every DET metadata file; the 2013/2014 ``meta_det.mat``
#: appends 615 hierarchy entries (ids 201..815) after them.
DET_NUM_CLASSES = 200

_ID_FIELD = re.compile(r"^ILSVRC\d{4}(_[A-Z]+)*_ID$")


@dataclass(frozen=True, eq=False)
class SynsetTable:
    """The synsets of one devkit metadata file, ordered by devkit id.

    Attributes
    ----------
    ids : ndarray of shape (n,), int64
        Devkit ids ``1..n`` in order.
    wnids, names, descriptions : tuple of str, length n
    children : tuple of ndarray of int64, length n
        Ids of each synset's children in the (trimmed) devkit hierarchy; empty where the
        file has no hierarchy.
    wordnet_height : ndarray of shape (n,), float64, or None
        Longest path down to a leaf of the *full* ImageNet hierarchy (2012/2014 CLS-LOC).
    num_train_images : ndarray of shape (n,), float64, or None
    n_classes : int
        The evaluated classes are ids ``1..n_classes`` (1000 for CLS-LOC, 200 for DET).
    source : str
        The file the table was read from.
    id_field : str
        The id field of that file (``"ILSVRC2012_ID"``, ``"ILSVRC2015_DET_ID"``, ...).
    """

    ids: np.ndarray
    wnids: tuple
    names: tuple
    descriptions: tuple
    children: tuple
    wordnet_height: np.ndarray | None
    num_train_images: np.ndarray | None
    n_classes: int
    source: str
    id_field: str = ""
    _index: dict = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "SynsetTable":
        """Load a ``.mat`` metadata file or a ``map_*.txt`` file, by extension."""
        path = os.fspath(path)
        if path.lower().endswith(".mat"):
            return cls.from_meta_mat(path)
        return cls.from_map_txt(path)

    @classmethod
    def from_meta_mat(cls, path: str | os.PathLike) -> "SynsetTable":
        """Load a devkit ``meta*.mat`` file (any year; see the module docstring).

        The parsed arrays are kept in the evaluator's on-disk cache (:mod:`ilsvrc._cache`).
        """
        from ._cache import cached_arrays

        path = os.fspath(path)
        a = cached_arrays(path, "synsets", lambda: _parse_meta_mat(path))
        n = len(a["ids"])
        text = lambda key: tuple(a[key].tolist()) if len(a[key]) else ("",) * n  # noqa: E731
        return cls(ids=a["ids"], wnids=text("wnids"), names=text("names"), descriptions=text("descriptions"),
                   children=tuple(np.split(a["children"], np.cumsum(a["n_children"])[:-1])) if n else (),
                   wordnet_height=a["wordnet_height"] if len(a["wordnet_height"]) else None,
                   num_train_images=a["num_train_images"] if len(a["num_train_images"]) else None,
                   n_classes=int(a["n_classes"]), source=path, id_field=str(a["id_field"]))

    @classmethod
    def from_map_txt(cls, path: str | os.PathLike) -> "SynsetTable":
        """Load a 2015 ``map_clsloc.txt`` / ``map_det.txt``: lines ``WNID id name``."""
        from ._text import read_token_lines

        lines = read_token_lines(path, "synset map")
        rows = []
        for r, toks in enumerate(lines.tokens):
            if len(toks) < 2 or not re.fullmatch(r"n\d{8}", toks[0]) or not toks[1].isdigit():
                raise InputError(f"expected 'WNID id name', got {' '.join(toks)!r}", path=lines.path,
                                 line=lines.line_number(r))
            rows.append((int(toks[1]), toks[0], " ".join(toks[2:]).replace("_", " ")))
        rows.sort()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        if not np.array_equal(ids, np.arange(1, len(ids) + 1)):
            raise InputError(f"expected ids 1..{len(ids)}", path=lines.path, field="id")
        n = len(rows)
        return cls(ids=ids, wnids=tuple(r[1] for r in rows), names=tuple(r[2] for r in rows),
                   descriptions=("",) * n, children=tuple(np.zeros(0, np.int64) for _ in range(n)),
                   wordnet_height=None, num_train_images=None, n_classes=n, source=lines.path,
                   id_field="id")

    @classmethod
    def bundled(cls, task: str) -> "SynsetTable":
        """The class list shipped with the package: ``"clsloc"`` (1000) or ``"det"`` (200).

        Copied from the ILSVRC2015 devkit ``data/map_{clsloc,det}.txt`` (MIT-style licence,
        ``ilsvrc/data/COPYING.devkit``); the ids equal those of 2012-2017.
        """
        if task not in ("clsloc", "det"):
            raise ValueError(f"task: expected 'clsloc' or 'det', got {task!r}")
        with resources.as_file(resources.files("ilsvrc") / "data" / f"map_{task}.txt") as p:
            return cls.from_map_txt(p)

    # ------------------------------------------------------------------ mappings
    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def _wnid_to_id(self) -> dict:
        return {w: i + 1 for i, w in enumerate(self.wnids)}

    def id_of(self, wnid: str) -> int:
        """Devkit id of a WNID; raises KeyError for an unknown WNID."""
        return self._wnid_to_id[wnid]

    def wnid_of(self, synset_id: int) -> str:
        """WNID of a devkit id (1-based)."""
        if not 1 <= synset_id <= len(self.ids):
            raise KeyError(synset_id)
        return self.wnids[synset_id - 1]

    def name_of(self, synset_id: int) -> str:
        """First synonym of a devkit id's name (``"kit fox"``)."""
        return self.names[synset_id - 1].split(",")[0].strip()

    @property
    def class_wnids(self) -> tuple:
        """WNIDs of the evaluated classes, ids 1..n_classes in order."""
        return self.wnids[: self.n_classes]

    @cached_property
    def sorted_index_to_id(self) -> np.ndarray:
        """Devkit id of each sorted-WNID index 0..n_classes-1; shape (n_classes,), int64."""
        return np.argsort(np.array(self.class_wnids), kind="stable").astype(np.int64) + 1

    @cached_property
    def id_to_sorted_index(self) -> np.ndarray:
        """Sorted-WNID index of each devkit id; shape (n_classes + 1,), entry 0 is -1."""
        out = np.full(self.n_classes + 1, -1, dtype=np.int64)
        out[self.sorted_index_to_id] = np.arange(self.n_classes)
        return out

    # ------------------------------------------------------------------ hierarchy
    @property
    def has_hierarchy(self) -> bool:
        """Whether the file carries ``children`` links (2012/2014 CLS-LOC, 2013/2014 DET)."""
        return any(len(c) for c in self.children)

    @cached_property
    def parents(self) -> tuple:
        """Ids of each synset's parents (the trimmed hierarchy is a DAG)."""
        parents = [[] for _ in self.ids]
        for i, kids in enumerate(self.children, start=1):
            for k in kids:
                parents[k - 1].append(i)
        return tuple(np.array(p, dtype=np.int64) for p in parents)

    def descendant_classes(self, synset_id: int) -> np.ndarray:
        """Ids of the evaluated classes (1..n_classes) at or below ``synset_id``."""
        seen, stack = set(), [synset_id]
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            stack.extend(int(c) for c in self.children[node - 1])
        return np.array(sorted(s for s in seen if s <= self.n_classes), dtype=np.int64)

    def hierarchical_cost_matrix(self) -> np.ndarray:
        """The ILSVRC2010/2011 hierarchical cost between the evaluated classes.

        ``cost[a-1, b-1]`` is the height, in the *full* ImageNet hierarchy
        (``wordnet_height``), of the lowest common ancestor of classes ``a`` and ``b``;
        where the DAG offers several common ancestors the lowest height is taken.  The
        diagonal is 0.  This reproduces the 2010 devkit's ``cost_matrix`` definition from
        a 2012/2014 ``meta.mat``; it is derived, not an official file.

        Returns
        -------
        ndarray of shape (n_classes, n_classes), float64
        """
        if self.wordnet_height is None or not self.has_hierarchy:
            raise InputError("this metadata file has no hierarchy (children and wordnet_height); "
                             "use a 2012 meta.mat or a 2014 meta_clsloc.mat", path=self.source)
        n = self.n_classes
        cost = np.full((n, n), np.inf)
        order = np.argsort(self.wordnet_height[n:], kind="stable") + n  # internal nodes, lowest first
        for node in order:
            below = self.descendant_classes(int(self.ids[node])) - 1
            if below.size:
                block = np.ix_(below, below)
                cost[block] = np.minimum(cost[block], self.wordnet_height[node])
        if np.isinf(cost).any():
            raise InputError("the hierarchy leaves some pairs of classes without a common ancestor",
                             path=self.source, field="children")
        np.fill_diagonal(cost, 0.0)
        return cost


def _parse_meta_mat(path: str) -> dict:
    """Arrays of a devkit ``meta*.mat``, ordered by devkit id (see :meth:`SynsetTable.from_meta_mat`)."""
    import scipy.io

    try:
        mat = scipy.io.loadmat(path, mat_dtype=True)
    except FileNotFoundError:
        raise InputError("metadata file not found", path=path) from None
    except Exception as exc:  # scipy raises several types for non-MAT input
        raise InputError(f"not a readable MATLAB v5 metadata file ({exc})", path=path) from None
    if "synsets" not in mat:
        raise InputError("expected a variable 'synsets' (a devkit meta.mat)", path=path)
    syn = np.asarray(mat["synsets"]).ravel()
    names = syn.dtype.names or ()
    id_fields = [f for f in names if _ID_FIELD.match(f)]
    if not id_fields or "WNID" not in names:
        raise InputError(f"expected fields ILSVRC*_ID and WNID in 'synsets', got {list(names)}",
                         path=path, field="synsets")
    id_field = id_fields[0]

    def scalar(value):
        arr = np.asarray(value).ravel()
        return float(arr[0]) if arr.size else float("nan")

    def text(value):
        arr = np.asarray(value).ravel()
        return str(arr[0]) if arr.size else ""

    ids = np.array([scalar(s[id_field]) for s in syn])
    order = np.argsort(ids, kind="stable")
    ids = ids[order]
    if not np.array_equal(ids, np.arange(1, len(ids) + 1)):
        raise InputError(f"expected {id_field} to number the synsets 1..{len(ids)}", path=path, field=id_field)
    syn = syn[order]
    name_field = "words" if "words" in names else "name"
    desc_field = "gloss" if "gloss" in names else ("description" if "description" in names else None)
    children = [np.asarray(s["children"], dtype=np.float64).ravel().astype(np.int64)
                if "children" in names else np.zeros(0, np.int64) for s in syn]
    if "num_children" in names:
        num_children = np.array([scalar(s["num_children"]) for s in syn])
        n_classes = int(np.count_nonzero(num_children == 0))
        if not np.all(num_children[:n_classes] == 0):
            raise InputError("expected the leaf classes to be ids 1..n", path=path, field="num_children")
    elif "DET" in id_field:
        n_classes = min(DET_NUM_CLASSES, len(ids))
    else:
        n_classes = len(ids)
    numbers = lambda key: np.array([scalar(s[key]) for s in syn]) if key in names else np.zeros(0)  # noqa: E731
    strings = lambda key: np.array([text(s[key]) for s in syn]) if key in names else np.zeros(0, "U1")  # noqa: E731
    return {"ids": ids.astype(np.int64), "wnids": strings("WNID"), "names": strings(name_field),
            "descriptions": strings(desc_field) if desc_field else np.zeros(0, "U1"),
            "children": np.concatenate(children) if children else np.zeros(0, np.int64),
            "n_children": np.array([len(c) for c in children], np.int64),
            "wordnet_height": numbers("wordnet_height"), "num_train_images": numbers("num_train_images"),
            "n_classes": np.array(n_classes), "id_field": np.array(id_field)}
