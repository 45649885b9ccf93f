"""Images read in place from the ILSVRC tar archives, without extracting them.

ILSVRC2012 ships its 1.28M training images as ``ILSVRC2012_img_train.tar``, a tar of 1,000
per-class tars (``n01440764.tar`` holding ``n01440764_10026.JPEG`` ...), and its validation
images as ``ILSVRC2012_img_val.tar`` (a flat tar).  Tar members are stored uncompressed and
contiguously, so each image is a byte range of the outer file: :func:`index_tar` walks the
headers once (outer, and every inner tar) and records ``(name, offset, size)`` of every
regular file; an :class:`ArchiveMember` then reads one image with one ``seek`` and one
``read``, from any process.

Indexing reads only the 512-byte headers (a few seconds per 100,000 members on a local
disk); :func:`cached_tar_index` keeps the index in a folder of the caller's (keyed by the
archive's absolute path, size and modification time), so a second run starts at once.
"""
from __future__ import annotations

import hashlib
import io
import os
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError
from .files import atomic_write


@dataclass(frozen=True)
class ArchiveMember:
    """One file stored in a tar archive: ``size`` bytes at ``offset`` of ``archive``.

    ``str()`` gives ``archive/inner.tar/name`` (for messages and reports); ``read_bytes()``
    reads the file's bytes (what :func:`features.image_io.load_image` calls).
    """

    archive: str
    offset: int
    size: int
    name: str

    def read_bytes(self) -> bytes:
        with open(self.archive, "rb") as handle:
            handle.seek(self.offset)
            data = handle.read(self.size)
        if len(data) != self.size:
            raise OSError(f"archive truncated: expected {self.size} bytes at offset {self.offset}, got {len(data)}")
        return data

    @property
    def stem(self) -> str:
        return Path(self.name).stem

    def __str__(self) -> str:
        return f"{self.archive}/{self.name}"


class _Window(io.RawIOBase):
    """A read-only, seekable view of ``size`` bytes at ``offset`` of an open file."""

    def __init__(self, handle, offset: int, size: int):
        self._h, self._start, self._size, self._pos = handle, offset, size, 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, pos, whence=0):
        self._pos = {0: pos, 1: self._pos + pos, 2: self._size + pos}[whence]
        return self._pos

    def readinto(self, buffer):
        n = max(0, min(len(buffer), self._size - self._pos))
        self._h.seek(self._start + self._pos)
        data = self._h.read(n)
        buffer[:len(data)] = data
        self._pos += len(data)
        return len(data)


def _members(handle, base: int, size: int, prefix: str, nested: bool, where: str):
    try:
        with tarfile.open(fileobj=io.BufferedReader(_Window(handle, base, size)), mode="r:") as tar:
            for info in tar:
                if not info.isfile():
                    continue
                name = prefix + info.name
                if nested and info.name.lower().endswith(".tar"):
                    yield from _members(handle, base + info.offset_data, info.size, name + "/", False,
                                        f"{where}/{info.name}")
                else:
                    yield name, base + info.offset_data, info.size
    except tarfile.TarError as exc:
        raise InputError(f"not a readable tar archive ({exc})", path=where) from None


def index_tar(path, *, nested: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(names, offsets, sizes)`` of the regular files of a tar, inner tars opened too.

    Parameters
    ----------
    path : path-like
        An uncompressed tar.
    nested : bool
        Open members ending in ``.tar`` and list their files as ``inner.tar/name``.

    Returns
    -------
    names : ndarray of str, in archive order
    offsets, sizes : ndarray of int64
        Byte range of each file in ``path``.
    """
    path = os.fspath(path)
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise InputError(f"cannot open archive ({exc.strerror or exc})", path=path) from None
    with handle:
        size = os.fstat(handle.fileno()).st_size
        rows = list(_members(handle, 0, size, "", nested, path))
    names = np.array([r[0] for r in rows], dtype=str)
    return names, np.array([r[1] for r in rows], np.int64), np.array([r[2] for r in rows], np.int64)


def cached_tar_index(path, cache_dir=None, *, nested: bool = True):
    """:func:`index_tar`, kept as ``.npz`` in ``cache_dir`` (keyed by absolute path, size and
    modification time) when one is given."""
    path = Path(path).resolve()
    if cache_dir is None:
        return index_tar(path, nested=nested)
    stat = path.stat()
    key = hashlib.sha256(f"{path}|{stat.st_size}|{stat.st_mtime_ns}|{nested}".encode()).hexdigest()[:20]
    file = Path(cache_dir) / f"tar-index-{key}.npz"
    if file.exists():
        try:
            with np.load(file) as z:
                return z["names"], z["offsets"], z["sizes"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            pass                                    # a damaged index is rebuilt
    names, offsets, sizes = index_tar(path, nested=nested)
    file.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, names=names, offsets=offsets, sizes=sizes)
    atomic_write(file, buffer.getvalue())
    return names, offsets, sizes


def archive_members(path, cache_dir=None) -> list[ArchiveMember]:
    """Every file of a (possibly nested) tar as an :class:`ArchiveMember`, in archive order."""
    names, offsets, sizes = cached_tar_index(path, cache_dir)
    archive = str(Path(path).resolve())
    return [ArchiveMember(archive, int(o), int(s), str(n)) for n, o, s in zip(names, offsets, sizes)]
