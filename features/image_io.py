"""Image loading that survives the real ILSVRC training set.

The 1.28M ILSVRC training JPEGs include CMYK JPEGs, grayscale JPEGs, a PNG saved with a
``.JPEG`` name and files with EXIF orientation tags.  :func:`load_image` decodes all of
them to 8-bit RGB by content (not by extension), ignores EXIF orientation (as the devkit's
ground-truth boxes do: they are drawn on the stored pixel grid), and can shrink very
large images so that the longest side is at most ``max_side`` pixels (ILSVRC pipelines
used 300-500 px).  An unreadable file raises one :class:`ImageReadError` naming it.

An image is named by a path, or by any object with a ``read_bytes()`` method and a
``str()`` that names it (a member of a tar archive read in place, see
:class:`ilsvrc.archives.ArchiveMember`): :func:`read_image_bytes` reads either.
"""
from __future__ import annotations

import os

import cv2
import numpy as np

from ._validation import check_positive_int

_FLAGS = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION


class ImageReadError(ValueError):
    """An image file cannot be read or decoded; ``path`` names it."""

    def __init__(self, path, reason: str):
        self.path = os.fspath(path) if isinstance(path, (str, os.PathLike)) else str(path)
        super().__init__(f"{self.path}: cannot read image: {reason}")


def is_image_source(item) -> bool:
    """Whether ``item`` names an image to read (a path, or an object with ``read_bytes()``)."""
    return isinstance(item, (str, os.PathLike)) or callable(getattr(item, "read_bytes", None))


def read_image_bytes(source) -> bytes:
    """The bytes of an image file or archive member; :class:`ImageReadError` when unreadable."""
    try:
        if isinstance(source, (str, os.PathLike)):
            with open(source, "rb") as handle:
                data = handle.read()
        else:
            data = source.read_bytes()
    except OSError as exc:
        raise ImageReadError(source, exc.strerror or str(exc)) from None
    if not data:
        raise ImageReadError(source, "empty file")
    return data


def load_image(path, *, max_side: int | None = None) -> np.ndarray:
    """Read an image file as 8-bit RGB.

    Parameters
    ----------
    path : path-like, or an object with ``read_bytes()``
        JPEG, PNG, ... (the format is detected from the content).
    max_side : int, optional
        Shrink (never enlarge) so that ``max(H, W) <= max_side`` (area interpolation,
        sizes rounded to the nearest pixel).

    Returns
    -------
    ndarray of shape (H, W, 3), uint8
        RGB, in the file's stored orientation.

    Raises
    ------
    ImageReadError
        Missing, unreadable, truncated beyond decoding or not an image.
    """
    data = read_image_bytes(path)
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), _FLAGS)
    if bgr is not None:
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    else:
        rgb = _decode_with_pillow(str(path), data)
    if max_side is not None:
        rgb = shrink_to_max_side(rgb, max_side)
    return rgb


def _decode_with_pillow(path: str, data: bytes) -> np.ndarray:
    """Second decoder for formats OpenCV was built without (e.g. some GIF/TIFF variants)."""
    import io
    import re

    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib
        raise ImageReadError(path, "not a decodable image") from None
    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except Exception as exc:  # Pillow raises many types for bad data
        reason = re.sub(r" at 0x[0-9a-f]+", "", str(exc))      # no memory addresses: one message per file
        raise ImageReadError(path, f"not a decodable image ({type(exc).__name__}: {reason})") from None


def shrink_to_max_side(image: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink ``image`` (H, W[, C]) so that its longest side is at most ``max_side``; never enlarge."""
    max_side = check_positive_int(max_side, "max_side")
    h, w = image.shape[:2]
    longest = max(h, w)
    if longest <= max_side:
        return image
    scale = max_side / longest
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def load_gray(path, *, max_side: int | None = None) -> np.ndarray:
    """Read an image as grayscale float32 in [0, 1] (MATLAB ``rgb2gray`` weights); shape (H, W)."""
    from .color import rgb_to_gray

    return rgb_to_gray(load_image(path, max_side=max_side))


def boxes_to_original(boxes, working_shape, original_shape) -> np.ndarray:
    """Map boxes found on a resized (working) image onto the original image's pixels.

    Pixel ``i`` covers the continuous interval ``[i - 0.5, i + 0.5)`` (the convention of
    :mod:`features.regions`), so an image of ``W`` pixels spans ``[-0.5, W - 0.5)`` and a
    box ``(x1, y1, x2, y2)`` of inclusive pixels spans ``[x1 - 0.5, x2 + 0.5)``.  Each axis
    has its own factor ``f = original / working`` (the two sides of a resized image are
    rounded separately), applied to the continuous edges::

        left = (x1 - 0.5 + 0.5) * f - 0.5 = x1 * f - 0.5        right = (x2 + 1) * f - 0.5

    and the mapped box holds the original pixels whose centres lie in ``[left, right)``:
    ``x1' = ceil(x1 * f - 0.5)``, ``x2' = ceil((x2 + 1) * f - 0.5) - 1``, evaluated in exact
    integer arithmetic for whole-pixel boxes.  When shrinking leaves no centre inside, the
    box keeps the one pixel that holds its middle.  A box that covers the whole working
    image covers the whole original image; with the shapes swapped the same function maps
    original boxes onto the working image.

    Parameters
    ----------
    boxes : array_like of shape (n, 4)
        Inclusive, 0-based ``(x1, y1, x2, y2)`` on the working image.
    working_shape, original_shape : tuple of int
        ``(height, width[, ...])`` of the two images.

    Returns
    -------
    ndarray of shape (n, 4), float64
        Whole-pixel inclusive boxes on the original image, inside it.
    """
    b = np.asarray(boxes, np.float64)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"boxes: expected an array of shape (n, 4) (x1, y1, x2, y2), got shape {b.shape}")
    wh, ww = (check_positive_int(int(s), "working_shape") for s in working_shape[:2])
    oh, ow = (check_positive_int(int(s), "original_shape") for s in original_shape[:2])
    work = np.array([ww, wh, ww, wh], np.float64)
    orig = np.array([ow, oh, ow, oh], np.float64)
    # edge * f - 0.5 = (2 * edge * original - working) / (2 * working): exact for whole pixels
    edges = (b + [0, 0, 1, 1]) * (2 * orig)
    out = np.ceil((edges - work) / (2 * work)) - [0, 0, 1, 1] + 0.0        # + 0.0: no negative zeros
    empty = out[:, 2:] < out[:, :2]
    if empty.any():
        middle = np.floor((edges[:, :2] + edges[:, 2:]) / (4 * work[:2]))      # pixel holding (left + right) / 2
        out[:, :2] = np.where(empty, middle, out[:, :2])
        out[:, 2:] = np.where(empty, middle, out[:, 2:])
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, ow - 1)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, oh - 1)
    return out
