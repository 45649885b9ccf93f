"""File utilities of the suite: atomic writes and content digests (the evaluator's, and the
experiments' caches and stores use the same)."""
from __future__ import annotations

import hashlib
import os
import tempfile


def atomic_write(path, data, *, sync: bool = False) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place.

    ``data`` is ``str``, ``bytes``, or a callable that writes to the binary file handle it is
    given (large arrays streamed without a copy in memory).  A reader never sees a partial
    file, and a failed write leaves no temporary file.  Text is written with ``\\n`` line
    endings.  With ``sync`` the data reach the disk before the rename (caches and stores
    that must survive a crash).  A failing write (a full disk, a missing permission) raises
    ``OSError`` naming ``path``.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.basename(path))
    except OSError as exc:
        raise OSError(exc.errno, f"cannot write: {exc.strerror}", path) from None
    try:
        text = isinstance(data, str)
        with os.fdopen(fd, "w" if text else "wb", **({"newline": "\n"} if text else {})) as handle:
            if callable(data):
                data(handle)
            else:
                handle.write(data)
            if sync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise OSError(exc.errno, f"cannot write: {exc.strerror}", path) from None
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def file_digest(path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes (hex); ``path`` may also be an object with ``read_bytes()``
    (an archive member)."""
    if not isinstance(path, (str, os.PathLike)) and callable(getattr(path, "read_bytes", None)):
        return hashlib.sha256(path.read_bytes()).hexdigest()
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
