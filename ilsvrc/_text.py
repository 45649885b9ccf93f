"""Strict, fast reading of the devkit's white-space separated text files.

The official evaluators read submissions with MATLAB's ``dlmread``, which silently
drops blank lines and zero-pads ragged rows.  We accept what ``dlmread`` accepts for a
*well-formed* file (spaces, tabs, commas, Windows line endings, trailing white space,
ragged rows) but refuse what would make it misalign or miscount: a blank line inside
the file, a token that is not a number, NaN or infinity.  Every refusal is an
:class:`~ilsvrc.errors.InputError` naming the file, the line and the field.
"""
from __future__ import annotations

import gzip
import os
import zlib
from dataclasses import dataclass

import numpy as np

from .errors import InputError


@dataclass(frozen=True)
class TokenLines:
    """Tokens of a text file, one entry per line.

    Attributes
    ----------
    path : str
        The file the lines come from (used in error messages).
    lines : list of str
        The raw lines (commas already turned into spaces).
    lengths : ndarray of shape (n_lines,), int64
        Number of tokens on each line.
    flat : list of str
        All tokens of the file in reading order.
    """

    path: str
    lines: list
    lengths: np.ndarray
    flat: list

    def __len__(self) -> int:
        return len(self.lines)

    @property
    def tokens(self) -> "_LazyTokens":
        """``tokens[r]`` is the list of tokens of row ``r``."""
        return _LazyTokens(self.lines)

    def line_number(self, row: int) -> int:
        """1-based line number in the file of data row ``row`` (0-based)."""
        return row + 1  # blank lines are refused, so rows and lines coincide


class _LazyTokens:
    def __init__(self, lines):
        self._lines = lines

    def __getitem__(self, row):
        return self._lines[row].split()

    def __len__(self):
        return len(self._lines)

    def __iter__(self):
        return (line.split() for line in self._lines)


def read_token_lines(path: str | os.PathLike, what: str, *, allow_empty: bool = False) -> TokenLines:
    """Read ``path`` as lines of tokens.

    Parameters
    ----------
    path : path-like
        Text file (UTF-8 or ASCII); a name ending in ``.gz`` is read through gzip.
    what : str
        What the file is, for error messages (``"CLS submission"``).
    allow_empty : bool
        Whether a file without any data line is acceptable.

    Returns
    -------
    TokenLines

    Raises
    ------
    InputError
        Unreadable file, undecodable bytes, or a blank line followed by more data.
    """
    path = os.fspath(path)
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as handle:
                raw = handle.read()
        else:
            with open(path, "rb") as handle:
                raw = handle.read()
    except IsADirectoryError:
        raise InputError(f"cannot read {what}: it is a directory, expected a file", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror or exc}", path=path) from None
    except (EOFError, zlib.error) as exc:
        raise InputError(f"cannot read {what}: corrupt gzip file ({exc})", path=path) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(f"{what} is not a text file (undecodable byte 0x{raw[exc.start]:02x})",
                         path=path, line=line) from None
    if "," in text:
        text = text.replace(",", " ")
    lines = text.split("\n")
    lengths = np.fromiter((len(line.split()) for line in lines), dtype=np.int64, count=len(lines))
    # Trailing blank lines (an editor's final newlines) are harmless: nothing follows them.
    filled = np.flatnonzero(lengths)
    n = int(filled[-1]) + 1 if filled.size else 0
    lines, lengths = lines[:n], lengths[:n]
    blank = np.flatnonzero(lengths == 0)
    if blank.size:
        raise InputError(
            f"blank line in {what}; every line must hold data (the official reader drops blank "
            "lines, which shifts every later line onto the wrong image)", path=path, line=int(blank[0]) + 1)
    if not n and not allow_empty:
        raise InputError(f"{what} is empty", path=path)
    return TokenLines(path, lines, lengths, text.split())


def _locate_bad_token(lines: TokenLines, field_of_column):
    """Raise the InputError for the first token that is not a finite number."""
    for r, toks in enumerate(lines.tokens):
        for j, tok in enumerate(toks):
            try:
                v = float(tok)
            except ValueError:
                raise InputError(f"expected a number, got {tok!r}", path=lines.path,
                                 line=lines.line_number(r), field=field_of_column(j)) from None
            if not np.isfinite(v):
                raise InputError(f"expected a finite number, got {tok!r}", path=lines.path,
                                 line=lines.line_number(r), field=field_of_column(j))
    raise AssertionError("a token failed to parse but none was found")  # pragma: no cover


def parse_rows(lines: TokenLines, what: str, field_of_column, *, max_columns: int | None = None,
               min_columns: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Parse every row into a zero-padded float64 matrix, like ``dlmread`` for valid files.

    Parameters
    ----------
    lines : TokenLines
    what : str
    field_of_column : callable
        ``field_of_column(j) -> str`` names column ``j`` for messages.
    max_columns : int, optional
        Columns beyond this are ignored (the evaluators never read them); they still
        have to be numbers.
    min_columns : int
        Fewer tokens than this on a line is an error.

    Returns
    -------
    values : ndarray of shape (n_rows, width), float64
        Zero-padded values, ``width = min(max_columns, longest row)``.
    lengths : ndarray of shape (n_rows,), int64
        Number of tokens on each row (before truncation).
    """
    lengths = lines.lengths
    short = np.flatnonzero(lengths < min_columns)
    if short.size:
        r = int(short[0])
        raise InputError(f"expected at least {min_columns} values, got {int(lengths[r])}",
                         path=lines.path, line=lines.line_number(r), field=field_of_column(int(lengths[r])))
    try:
        flat = np.array(lines.flat, dtype=np.float64)
    except ValueError:
        _locate_bad_token(lines, field_of_column)
    if not np.isfinite(flat).all():
        _locate_bad_token(lines, field_of_column)
    n = len(lengths)
    longest = int(lengths.max()) if n else 0
    width = longest if max_columns is None else min(longest, max_columns)
    if n and (lengths == longest).all():
        return flat.reshape(n, longest)[:, :width].copy(), lengths
    values = np.zeros((n, width), dtype=np.float64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    row = np.repeat(np.arange(n), lengths)
    col = np.arange(len(flat)) - np.repeat(offsets, lengths)
    keep = col < width
    values[row[keep], col[keep]] = flat[keep]
    return values, lengths


def check_integral(values: np.ndarray, lines: TokenLines, column_names, field: str, *,
                   low: int, high: int, rows=None, columns=None) -> None:
    """Refuse non-integer or out-of-range values in ``values[rows][:, columns]``.

    ``values`` is the matrix from :func:`parse_rows`; ``column_names(j)`` names column j.
    Zero-padding produced for ragged rows is never checked (only real tokens are).
    """
    lengths = lines.lengths
    cols = np.arange(values.shape[1]) if columns is None else np.asarray(columns)
    sub = values[:, cols]
    present = cols[None, :] < lengths[:, None]
    bad = present & ((sub != np.floor(sub)) | (sub < low) | (sub > high))
    if rows is not None:
        mask = np.zeros(len(values), bool)
        mask[rows] = True
        bad &= mask[:, None]
    if bad.any():
        r, c = map(int, np.argwhere(bad)[0])
        tok = lines.tokens[r][int(cols[c])]
        raise InputError(f"expected an integer {field} in {low}..{high}, got {tok!r}", path=lines.path,
                         line=lines.line_number(r), field=column_names(int(cols[c])))
