"""Parsed ground-truth and metadata files kept on disk, keyed by the source file's bytes.

Reading the devkits' MATLAB files is slow: the 2015 CLS-LOC cache holds 50,000 structs
(``rec``), which ``scipy.io.loadmat`` turns into Python objects in about a second, more
than scoring a submission takes.  The arrays parsed from such a file are stored once as
an uncompressed ``.npz`` named by the SHA-256 of the source file, so a file that changes
(or another file at the same path) is never served stale, and later runs load them in
milliseconds.

The folder is ``$ILSVRC_CACHE`` (default ``$XDG_CACHE_HOME/ilsvrc-classic`` or
``~/.cache/ilsvrc-classic``); ``ILSVRC_CACHE=off`` turns the cache off.  An unwritable
folder or a damaged entry only costs the slow load.
"""
from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from typing import Callable

import numpy as np

from .files import atomic_write, file_digest

log = logging.getLogger(__name__)

ENV = "ILSVRC_CACHE"
FORMAT = 1
"""Bumped whenever the stored arrays of any kind change meaning."""


def cache_folder() -> Path | None:
    """The cache folder, or None when the cache is turned off."""
    value = os.environ.get(ENV)
    if value is not None:
        return None if value.strip().lower() in ("", "0", "off", "no", "none", "false") else Path(value)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ilsvrc-classic"


def cached_arrays(source, kind: str, build: Callable[[], dict]) -> dict:
    """The arrays ``build()`` parses from the file ``source``, from the cache when present.

    Parameters
    ----------
    source : path-like
        The file the arrays come from; its SHA-256 names the entry.
    kind : str
        What is parsed (one name per parser), part of the entry's name.
    build : callable
        ``build() -> dict of name -> ndarray``; it raises the file's own errors (those
        are never cached).

    Returns
    -------
    dict of str -> ndarray
    """
    folder = cache_folder()
    if folder is None:
        return build()
    try:
        digest = file_digest(source)
    except OSError:
        return build()  # let the parser report the missing or unreadable file
    entry = folder / f"{kind}-v{FORMAT}-{digest}.npz"
    try:
        with np.load(entry, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except FileNotFoundError:
        pass
    except Exception as exc:  # damaged entry: rebuilt below
        log.debug("ignoring damaged cache entry %s (%s)", entry, exc)
    arrays = build()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        atomic_write(entry, buffer.getvalue())
    except OSError as exc:
        log.debug("cannot write cache entry %s (%s)", entry, exc)
    return arrays
