"""Strict, fast, bounded-memory reading of the devkit's white-space separated text files.

The official evaluators read submissions with MATLAB's ``dlmread``, which silently
drops blank lines and zero-pads ragged rows.  We accept what ``dlmread`` accepts for a
*well-formed* file (spaces, tabs, commas, Windows line endings, trailing white space,
ragged rows) but refuse what would make it misalign or miscount: a blank line inside
the file, a token that is not a number, NaN or infinity.  Every refusal is an
:class:`~ilsvrc.errors.InputError` naming the file, the line and the field.

Files are read in blocks of whole lines (:func:`iter_token_blocks`), so a reader can stop
as soon as it has seen enough (a CLS file longer than the ground truth is refused at
line N + 1, whatever follows) and a DET file of any length is parsed with memory
proportional to the detections it holds, not to its text.  A line longer than
:data:`MAX_LINE_BYTES` is refused.

Numbers are parsed by a vectorised decimal reader: a token ``[+-]digits[.digits]`` with
at most 15 digits is exactly ``M / 10**f`` with ``M`` (the digits as an integer) and
``10**f`` exact doubles, so one IEEE division gives the correctly rounded value, the
same double as Python's ``float`` (Clinger's fast path).  Any other token (exponents,
longer mantissas, anything malformed) goes through ``float`` itself.
"""
from __future__ import annotations

import gzip
import os
import zlib
from dataclasses import dataclass
from functools import cached_property
from typing import Iterator

import numpy as np

from .errors import InputError

MAX_LINE_BYTES = 1 << 20
"""Longest line accepted (1 MiB: about 100,000 values)."""
BLOCK_BYTES = 1 << 20
"""Bytes read at a time by :func:`iter_token_blocks`."""

_SEPARATORS = b" \t\n\r\x0b\x0c,"
_IS_SEP = np.zeros(256, bool)
_IS_SEP[list(_SEPARATORS)] = True
_POW10 = 10.0 ** np.arange(23)  # exact doubles 1 .. 1e22
_FAST_DIGITS = 15


@dataclass(frozen=True)
class TokenLines:
    """Consecutive non-blank lines of a text file, tokenised.

    Attributes
    ----------
    path : str
        The file the lines come from (used in error messages).
    raw : bytes
        The lines' bytes, commas turned into spaces.
    token_start, token_end : ndarray of shape (n_tokens,), int64
        Byte range of every token in ``raw``, in reading order.
    lengths : ndarray of shape (n_lines,), int64
        Number of tokens on each line.
    first_line : int
        1-based line number in the file of the first line.
    """

    path: str
    raw: bytes
    token_start: np.ndarray
    token_end: np.ndarray
    lengths: np.ndarray
    first_line: int = 1

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def tokens(self) -> "_LazyTokens":
        """``tokens[r]`` is the list of tokens (str) of row ``r``."""
        return _LazyTokens(self)

    def line_number(self, row: int) -> int:
        """1-based line number in the file of data row ``row`` (0-based)."""
        return self.first_line + int(row)  # blank lines are refused, so rows and lines coincide

    def token_text(self, index: int) -> str:
        """Text of token ``index`` (0-based, reading order)."""
        return self.raw[self.token_start[index]: self.token_end[index]].decode("utf-8", "replace")

    @cached_property
    def texts(self) -> list:
        """Text of every token, in reading order."""
        return [t.decode("utf-8", "replace") for t in self.raw[: int(self.token_end[-1])].split()] \
            if len(self.token_end) else []

    def values(self, field_of_column) -> np.ndarray:
        """Every token as a float64, in reading order; refuses a non-number, NaN or infinity.

        ``field_of_column(j)`` names column ``j`` (0-based) of a line for error messages.
        """
        values, slow = _fast_numbers(self.raw, self.token_start, self.token_end)
        for t in np.flatnonzero(slow).tolist():
            text = self.token_text(t)
            try:
                v = float(text)
            except ValueError:
                self._refuse(t, field_of_column, f"expected a number, got {text!r}")
            if not np.isfinite(v):
                self._refuse(t, field_of_column, f"expected a finite number, got {text!r}")
            values[t] = v
        return values

    def _refuse(self, token: int, field_of_column, message: str):
        ends = np.cumsum(self.lengths)
        row = int(np.searchsorted(ends, token, side="right"))
        column = token - (int(ends[row - 1]) if row else 0)
        raise InputError(message, path=self.path, line=self.line_number(row), field=field_of_column(column))


class _LazyTokens:
    def __init__(self, lines: TokenLines):
        self._lines = lines
        self._offsets = np.concatenate([[0], np.cumsum(lines.lengths)])

    def __getitem__(self, row):
        return self._lines.texts[int(self._offsets[row]): int(self._offsets[row + 1])]

    def __len__(self):
        return len(self._lines)

    def __iter__(self):
        return (self[r] for r in range(len(self)))


# --------------------------------------------------------------------------- reading
def source_name(source) -> str:
    """The name of a path or file object, for messages."""
    if hasattr(source, "read"):
        name = getattr(source, "name", None)
        return name if isinstance(name, str) else "<stream>"
    return os.fspath(source)


def _open_binary(source, what: str):
    if hasattr(source, "read"):
        return source, source_name(source), False
    path = os.fspath(source)
    try:
        if path.endswith(".gz"):
            handle = gzip.open(path, "rb")
        else:
            handle = open(path, "rb")
    except IsADirectoryError:
        raise InputError(f"cannot read {what}: it is a directory, expected a file", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror or exc}", path=path) from None
    return handle, path, True


def _read(handle, size: int, what: str, path: str) -> bytes:
    try:
        return handle.read(size)
    except IsADirectoryError:
        raise InputError(f"cannot read {what}: it is a directory, expected a file", path=path) from None
    except OSError as exc:
        if isinstance(exc, gzip.BadGzipFile):
            raise InputError(f"cannot read {what}: corrupt gzip file ({exc})", path=path) from None
        raise InputError(f"cannot read {what}: {exc.strerror or exc}", path=path) from None
    except (EOFError, zlib.error) as exc:
        raise InputError(f"cannot read {what}: corrupt gzip file ({exc})", path=path) from None


def iter_token_blocks(source, what: str, *, allow_empty: bool = False, block_bytes: int | None = BLOCK_BYTES,
                      max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[TokenLines]:
    """Read a text file as successive blocks of whole, non-blank, tokenised lines.

    Parameters
    ----------
    source : path-like or binary file object
        A name ending in ``.gz`` is read through gzip.
    what : str
        What the file is, for error messages (``"CLS submission"``).
    allow_empty : bool
        Whether a file without any data line is acceptable.
    block_bytes : int or None
        Bytes read at a time (None: the whole file at once).
    max_line_bytes : int
        A longer line is refused (it cannot be a valid submission line).

    Yields
    ------
    TokenLines
        Consecutive blocks; together they hold every data line of the file.

    Raises
    ------
    InputError
        Unreadable file, undecodable bytes, an over-long line, or a blank line followed
        by more data (trailing blank lines are harmless).  Raised when the offending
        line is read: blocks before it have been yielded.
    """
    handle, path, owned = _open_binary(source, what)
    try:
        carry = b""
        line_no = 1          # line number of the first line in `carry`
        pending_blank = None  # first line of a run of blank lines not yet followed by data
        seen_data = False
        first = True
        while True:
            chunk = _read(handle, -1 if block_bytes is None else block_bytes, what, path)
            if first:
                first = False
                if chunk.startswith(b"\xef\xbb\xbf"):
                    chunk = chunk[3:]
            final = not chunk or block_bytes is None
            data = carry + chunk if carry else chunk
            if final:
                carry = b""
            else:
                cut = data.rfind(b"\n") + 1
                data, carry = data[:cut], data[cut:]
                if len(carry) > max_line_bytes:
                    raise InputError(f"line longer than {max_line_bytes:,} bytes; a {what} line is far shorter "
                                     "(is this the right file?)", path=path, line=line_no + data.count(b"\n"))
            if data:
                block = _tokenize(data, path, line_no, what)
                n_lines = len(block)
                filled = np.flatnonzero(block.lengths)
                if filled.size:
                    if pending_blank is not None:
                        raise _blank_line_error(what, path, pending_blank)
                    last = int(filled[-1])
                    inner_blank = np.flatnonzero(block.lengths[:last] == 0)
                    if inner_blank.size:
                        raise _blank_line_error(what, path, line_no + int(inner_blank[0]))
                    if last + 1 < n_lines:
                        pending_blank = line_no + last + 1
                    seen_data = True
                    yield _first_rows(block, last + 1)
                elif pending_blank is None:
                    pending_blank = line_no
                line_no += n_lines
            if final:
                break
    finally:
        if owned:
            handle.close()
    if not seen_data and not allow_empty:
        raise InputError(f"{what} is empty", path=path)


def read_token_lines(source, what: str, *, allow_empty: bool = False) -> TokenLines:
    """Read a whole (small) text file as one :class:`TokenLines` (see :func:`iter_token_blocks`)."""
    blocks = list(iter_token_blocks(source, what, allow_empty=allow_empty, block_bytes=None))
    if blocks:
        return blocks[0]
    empty = np.zeros(0, np.int64)
    return TokenLines(source_name(source), b"", empty, empty, empty)


def _blank_line_error(what: str, path: str, line: int) -> InputError:
    return InputError(f"blank line in {what}; every line must hold data (the official reader drops blank "
                      "lines, which shifts every later line onto the wrong image)", path=path, line=line)


def _tokenize(data: bytes, path: str, first_line: int, what: str) -> TokenLines:
    """Split ``data`` (whole lines) into tokens; refuse bytes that are not UTF-8 text."""
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = first_line + data[: exc.start].count(b"\n")
            raise InputError(f"{what} is not a text file (undecodable byte 0x{data[exc.start]:02x})",
                             path=path, line=line) from None
    if b"," in data:
        data = data.replace(b",", b" ")
    arr = np.frombuffer(data, np.uint8)
    newline = np.flatnonzero(arr == 10)
    n_lines = len(newline) + (0 if data.endswith(b"\n") else 1)
    inside = ~_IS_SEP[arr]
    edge = np.diff(inside.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    start = np.flatnonzero(edge == 1)
    end = np.flatnonzero(edge == -1)
    line_of_token = np.searchsorted(newline, start)
    lengths = np.bincount(line_of_token, minlength=n_lines).astype(np.int64)
    return TokenLines(path, data, start, end, lengths, first_line)


def _first_rows(block: TokenLines, n: int) -> TokenLines:
    if n == len(block):
        return block
    k = int(block.lengths[:n].sum())
    return TokenLines(block.path, block.raw, block.token_start[:k], block.token_end[:k], block.lengths[:n],
                      block.first_line)


def _fast_numbers(raw: bytes, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values of the tokens that take the exact fast path, and a mask of those that do not.

    The fast path takes ``[+-]digits[.digits]`` with at most 15 digits: the digits are read
    as an exact integer ``M`` (Horner's rule in int64) and the value is ``M / 10**f`` for
    ``f`` digits after the point, one correctly rounded division of exact doubles.
    Tokens are processed in groups of equal length, one column of characters at a time.

    Returns
    -------
    values : ndarray of shape (n_tokens,), float64
        Exact values of fast-path tokens (0 elsewhere).
    slow : ndarray of shape (n_tokens,), bool
        Tokens to be parsed one by one.
    """
    n = len(start)
    values = np.zeros(n)
    slow = np.ones(n, bool)
    if n == 0:
        return values, slow
    arr = np.frombuffer(raw, np.uint8)
    length = end - start
    for width in np.flatnonzero(np.bincount(length)).tolist():
        if width > _FAST_DIGITS + 2:
            continue
        group = np.flatnonzero(length == width)
        m = len(group)
        chars = arr[start[group][None, :] + np.arange(width)[:, None]]   # (width, m): one row per column
        ok = np.ones(m, bool)
        mantissa = np.zeros(m, np.int64)
        n_digits = np.zeros(m, np.int64)
        after_point = np.zeros(m, np.int64)
        n_points = np.zeros(m, np.int64)
        for j in range(width):
            column = chars[j]
            digit = column - np.uint8(48)
            is_digit = digit < 10
            if is_digit.all():
                mantissa = mantissa * 10 + digit
                n_digits += 1
                after_point += n_points > 0
                continue
            is_point = column == ord(".")
            accepted = is_digit | is_point
            if j == 0:
                accepted |= (column == ord("-")) | (column == ord("+"))
            ok &= accepted
            mantissa = np.where(is_digit, mantissa * 10 + digit, mantissa)
            n_digits += is_digit
            after_point += is_digit & (n_points > 0)
            n_points += is_point
        ok &= (n_points <= 1) & (n_digits >= 1) & (n_digits <= _FAST_DIGITS)
        value = mantissa / _POW10[np.minimum(after_point, 22)]
        value = np.where(chars[0] == ord("-"), -value, value)
        values[group[ok]] = value[ok]
        slow[group[ok]] = False
    return values, slow


# --------------------------------------------------------------------------- matrices
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
    flat = lines.values(field_of_column)
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


def rows_wider_than(lines: TokenLines, width: int) -> tuple[int, int | None]:
    """How many rows hold more than ``width`` tokens, and the line number of the first."""
    wide = np.flatnonzero(lines.lengths > width)
    return int(wide.size), (lines.line_number(int(wide[0])) if wide.size else None)


