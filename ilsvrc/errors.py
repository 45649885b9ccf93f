"""Errors raised for bad user input.

Every problem with a file a user hands to the evaluator (a submission, a ground-truth
file, a blacklist, an image list, a metadata file) is reported as an :class:`InputError`
that names the file, the line (where there is one), the field and what was expected.
The command-line interface turns it into one line on stderr and exit status 2.
"""
from __future__ import annotations

import os


class InputError(ValueError):
    """A user-supplied file or value is malformed.

    Parameters
    ----------
    message : str
        What was expected and what was found.
    path : str or os.PathLike, optional
        The offending file.
    line : int, optional
        1-based line number inside ``path``.
    field : str, optional
        Name of the offending field (e.g. ``"class id"``, ``"confidence"``).
    """

    def __init__(self, message: str, *, path: str | os.PathLike | None = None,
                 line: int | None = None, field: str | None = None):
        self.path = None if path is None else os.fspath(path)
        self.line = line
        self.field = field
        self.detail = message
        where = ""
        if self.path is not None:
            where = self.path
            if line is not None:
                where += f":{line}"
            where += ": "
        what = f"{field}: " if field else ""
        super().__init__(f"{where}{what}{message}")
