"""A cache keyed by content and configuration, written atomically.

Entries live in ``<root>/<namespace>/<key[:2]>/<key>.npz``.  Keys combine the SHA-256 of
the input file's bytes (never its path: renaming or moving images keeps the cache
valid, editing one invalidates it) with a hash of the settings that produced the entry.
Writes go to a temporary file in the same folder and are renamed into place, so that a
killed process never leaves a partial entry that would be read as valid; an unreadable
entry is treated as missing and recomputed.
"""
from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path

import numpy as np


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, flush it to disk, rename it into place."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def npz_bytes(**arrays) -> bytes:
    """The bytes of an uncompressed ``.npz`` file holding ``arrays``."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def file_digest(path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        while True:
            block = handle.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


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
        except Exception:  # a damaged entry is recomputed
            return None

    def put(self, namespace: str, key: str, **arrays) -> None:
        path = self._path(namespace, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, npz_bytes(**arrays))

    def __contains__(self, item) -> bool:
        return self._path(*item).exists()
