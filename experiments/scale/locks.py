"""Exclusive, non-blocking file locks: one writer per run folder and per feature store."""
from __future__ import annotations

import errno
import fcntl
from pathlib import Path


def try_lock(path: Path, stamp: str):
    """Take an exclusive ``flock`` on ``path`` (created if absent) without waiting.

    Returns the open handle holding the lock, with ``stamp`` (who holds it) written into the
    file, or None when another process holds it.  Closing the handle (or the process
    ending, however it ends) releases the lock.
    """
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.close()
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return None
        raise
    handle.seek(0)
    handle.truncate()
    handle.write(stamp + "\n")
    handle.flush()
    return handle


def release(handle) -> None:
    """Empty the lock file and release the lock taken by :func:`try_lock`."""
    handle.seek(0)
    handle.truncate()
    fcntl.flock(handle, fcntl.LOCK_UN)
    handle.close()
