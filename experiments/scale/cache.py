"""A cache keyed by content and configuration, written atomically.

Entries live in ``<root>/<namespace>/<key[:2]>/<key>.npz``.  Keys combine the SHA-256 of
the input file's bytes (never its path: renaming or moving images keeps the cache
valid, editing one invalidates it) with a hash of the settings that produced the entry and
:func:`code_version` of the code that computed it.
Writes go to a temporary file in the same folder and are renamed into place, so that a
killed process never leaves a partial entry that would be read as valid; an unreadable
entry is treated as missing and recomputed.
"""
from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from ilsvrc.files import atomic_write, file_digest


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` beside ``path``, flush it to disk, rename it into place (see
    :func:`ilsvrc.files.atomic_write`)."""
    atomic_write(path, data, sync=True)


def npz_bytes(**arrays) -> bytes:
    """The bytes of an uncompressed ``.npz`` file holding ``arrays`` (readable by ``np.load``).

    Deterministic: the same arrays give the same bytes (``np.savez`` stamps each member
    with the current time; here every member carries the same fixed date).
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as archive:
        for name, value in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)
    return buf.getvalue()


@lru_cache(maxsize=None)
def code_version(*modules: str) -> str:
    """SHA-256 (16 hex digits) of the source files of ``modules`` (packages: every ``.py``
    file in them): part of every cache key, so that entries computed by other code are not
    reused after the code that produced them changes."""
    h = hashlib.sha256()
    for name in modules:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise ValueError(f"code_version: no module {name!r}")
        if spec.submodule_search_locations:
            files = sorted(p for loc in spec.submodule_search_locations for p in Path(loc).rglob("*.py"))
        else:
            files = [Path(spec.origin)]
        for path in files:
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _identity(source) -> str:
    """What changes when a file changes: path, size and modification time (an archive member:
    the archive's, and the member's offset and size)."""
    archive = getattr(source, "archive", None)
    if archive is not None:
        stat = os.stat(archive)
        return f"{archive}|{stat.st_size}|{stat.st_mtime_ns}|{source.offset}|{source.size}"
    path = os.path.abspath(os.fspath(source))
    stat = os.stat(path)
    return f"{path}|{stat.st_size}|{stat.st_mtime_ns}"


def image_digests(sources, cache_dir, *, progress: bool = False) -> list[str]:
    """SHA-256 of each image's bytes (the content keys of caches and stores), remembered in
    ``cache_dir/digests.sqlite`` by path, size and modification time, so that a repeated run,
    another split or a resumed one reads each file once, not once per use."""
    import sqlite3

    from tqdm import tqdm

    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(Path(cache_dir) / "digests.sqlite", timeout=60)
    try:
        db.execute("CREATE TABLE IF NOT EXISTS digests (identity TEXT PRIMARY KEY, sha256 TEXT NOT NULL)")
        out, new = [], []
        for source in tqdm(sources, desc="hashing images", disable=not progress, leave=False, unit="img"):
            try:
                identity = _identity(source)
            except OSError:
                out.append(file_digest(source))        # unreadable: file_digest raises the error that names it
                continue
            row = db.execute("SELECT sha256 FROM digests WHERE identity = ?", (identity,)).fetchone()
            if row is None:
                row = (file_digest(source),)
                new.append((identity, row[0]))
                if len(new) >= 1000:
                    db.executemany("INSERT OR REPLACE INTO digests VALUES (?, ?)", new)
                    db.commit()
                    new = []
            out.append(row[0])
        if new:
            db.executemany("INSERT OR REPLACE INTO digests VALUES (?, ?)", new)
            db.commit()
        return out
    finally:
        db.close()


class ContentCache:
    """Arrays stored by (namespace, key)."""

    def __init__(self, root):
        self.root = Path(root)

    def _path(self, namespace: str, key: str) -> Path:
        return self.root / namespace / key[:2] / f"{key}.npz"

    def get(self, namespace: str, key: str) -> dict | None:
        path = self._path(namespace, key)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # a damaged entry is recomputed
            return None

    def put(self, namespace: str, key: str, **arrays) -> None:
        path = self._path(namespace, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, npz_bytes(**arrays))

    def __contains__(self, item) -> bool:
        return self._path(*item).exists()
