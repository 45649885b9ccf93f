"""Object proposals from three backends, in the suite's one box convention.

Backends
--------
``"selective_search"``
    :mod:`baselines.selective_search`: the paper's Single / Fast / Quality settings on
    OpenCV's graph segmentation, with the paper's seeded ranking.  The default.
``"opencv"``
    OpenCV's complete ``ximgproc.segmentation.SelectiveSearchSegmentation`` with its own
    presets (``switchToSingleStrategy`` / ``switchToSelectiveSearchFast`` /
    ``switchToSelectiveSearchQuality``; k = 150, 300, 450 for Fast).  OpenCV ranks boxes by
    ``level * rand()`` with the C library's *unseeded* generator, so two calls on one image
    give the same boxes in different orders; this adapter seeds that generator (``srand``)
    before each call where the C library can be reached (glibc, musl, macOS), which makes
    the order reproducible in a single-threaded caller.  OpenCV returns ``(x, y, w, h)``
    with the true width and height.
``"selectivesearch_package"``
    The ``selectivesearch`` package from PyPI (scikit-image's Felzenszwalb segmentation and a
    pure-Python grouping).  Its ``rect`` is ``(x, y, w, h)`` with ``w = max_x - min_x``,
    one pixel short of the width its docstring promises, so the box is
    ``(x, y, x + w, y + h)`` inclusive; about a third of its regions repeat a box, and
    repeated boxes are dropped here (first kept).  Its order is creation order: initial
    regions first, the whole image last.

Working size
------------
Every backend runs on a *working image*: the image shrunk (never enlarged) so that its
longest side is at most ``ProposalConfig.max_side`` pixels (default 500, the size of the
PASCAL VOC and ILSVRC photographs the settings were made for; 0 keeps the image as it is),
each side rounded to the nearest pixel (:func:`features.image_io.shrink_to_max_side`).
The boxes are then mapped back to the image's own pixels axis by axis with
:func:`features.image_io.boxes_to_original` (pixel ``i`` covers ``[i - 0.5, i + 0.5)``;
the continuous box edges are scaled by ``original / working`` per axis and moved to the
nearest pixel boundary).  Segmentation scales (``k``, minimum sizes) are thereby defined
in working pixels, so a 12-megapixel photograph gives the same kind of proposals as a
500-px one, at a bounded cost in time and memory.

Every backend returns canonical inclusive boxes ``(x1, y1, x2, y2)``, float64, 0-based,
on the pixels of the image given, without duplicates, clipped to the image, best first;
an image with no proposal gives an empty (0, 4) array, never ``None``.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import logging
from dataclasses import asdict, dataclass

import numpy as np

from features.image_io import boxes_to_original, shrink_to_max_side
from ilsvrc.boxes import clip_boxes

from .selective_search import MODES, as_rgb_image, selective_search, unique_in_order

log = logging.getLogger(__name__)

BACKENDS = ("selective_search", "opencv", "selectivesearch_package")

_RENAMED = {"selectivesearch": "selectivesearch_package"}


@dataclass(frozen=True)
class ProposalConfig:
    """How to propose boxes.

    Attributes
    ----------
    backend : str
        One of :data:`BACKENDS`.
    mode : str
        ``"single"``, ``"paper_fast"`` (``selective_search`` only), ``"fast"`` or ``"quality"``.
    seed : int
        Ranking seed.
    max_boxes : int
        Keep the best ``max_boxes`` (0: all).
    min_side : int
        Drop boxes narrower or shorter than this many pixels of the image given (0: keep all).
    max_side : int
        Longest side of the working image in pixels (0: the image as given); see the
        module docstring.
    scale, sigma, min_size : float
        The ``selectivesearch`` package's parameters (its README's 500, 0.9, 10).
    """

    backend: str = "selective_search"
    mode: str = "fast"
    seed: int = 0
    max_boxes: int = 0
    min_side: int = 0
    max_side: int = 500
    scale: float = 500.0
    sigma: float = 0.9
    min_size: int = 10

    def __post_init__(self):
        if self.backend in _RENAMED:
            raise ValueError(f"backend: {self.backend!r} is now called {_RENAMED[self.backend]!r}")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend: expected one of {BACKENDS}, got {self.backend!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode: expected one of {tuple(MODES)}, got {self.mode!r}")
        if self.backend == "opencv" and self.mode == "paper_fast":
            raise ValueError("mode 'paper_fast' exists only for the selective_search backend; OpenCV has "
                             "'single', 'fast' and 'quality' presets")
        if self.max_boxes < 0 or self.min_side < 0 or self.max_side < 0:
            raise ValueError("max_boxes, min_side and max_side must be >= 0")

    def fingerprint(self) -> str:
        """A short digest of every setting, including what the mode name stands for (a cache key)."""
        resolved = repr(MODES[self.mode]) if self.backend == "selective_search" else ""
        return hashlib.sha1((repr(sorted(asdict(self).items())) + resolved).encode()).hexdigest()[:16]


def xywh_inclusive_to_boxes(rects) -> np.ndarray:
    """``(x, y, w, h)`` with ``w = x2 - x1`` (the ``selectivesearch`` package) -> canonical boxes."""
    r = np.asarray(rects, np.float64).reshape(-1, 4)
    return np.stack([r[:, 0], r[:, 1], r[:, 0] + r[:, 2], r[:, 1] + r[:, 3]], axis=1)


def xywh_size_to_boxes(rects) -> np.ndarray:
    """``(x, y, w, h)`` with the true width (OpenCV ``Rect``) -> canonical boxes."""
    r = np.asarray(rects, np.float64).reshape(-1, 4)
    return np.stack([r[:, 0], r[:, 1], r[:, 0] + r[:, 2] - 1, r[:, 1] + r[:, 3] - 1], axis=1)


def _libc():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else ctypes.CDLL(None)
    except OSError:
        return None


_LIBC = _libc()


def opencv_proposals(rgb: np.ndarray, mode: str = "fast", seed: int = 0) -> np.ndarray:
    """OpenCV's own selective search with its preset ``mode``; canonical boxes (see module docs)."""
    import cv2

    ss = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
    ss.setBaseImage(np.ascontiguousarray(rgb[:, :, ::-1]))
    {"single": ss.switchToSingleStrategy, "fast": ss.switchToSelectiveSearchFast,
     "quality": ss.switchToSelectiveSearchQuality}[mode]()
    if _LIBC is not None:
        _LIBC.srand(ctypes.c_uint(seed & 0xFFFFFFFF))
    rects = ss.process()
    return xywh_size_to_boxes(rects if rects is not None and len(rects) else np.zeros((0, 4)))


def package_proposals(rgb: np.ndarray, scale: float = 500.0, sigma: float = 0.9, min_size: int = 10) -> np.ndarray:
    """The ``selectivesearch`` package's regions as canonical boxes (see module docs)."""
    import selectivesearch

    _, regions = selectivesearch.selective_search(rgb, scale=scale, sigma=sigma, min_size=min_size)
    if not regions:
        return np.zeros((0, 4), np.float64)
    return xywh_inclusive_to_boxes([r["rect"] for r in regions])


def propose(image, config: ProposalConfig = ProposalConfig()) -> np.ndarray:
    """Ranked, unique proposals of one image.

    Parameters
    ----------
    image : array_like of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)
        Grey, RGB or RGBA; uint8 or floats in [0, 1].
    config : ProposalConfig

    Returns
    -------
    ndarray of shape (m, 4), float64
        Canonical inclusive boxes on the pixels of ``image``, best first; (0, 4) when the
        backend finds nothing.
    """
    rgb = as_rgb_image(image)
    h, w = rgb.shape[:2]
    working = shrink_to_max_side(rgb, config.max_side) if config.max_side else rgb
    if config.backend == "selective_search":
        boxes = selective_search(working, config.mode, seed=config.seed)
    elif config.backend == "opencv":
        boxes = opencv_proposals(working, config.mode, config.seed)
    else:
        boxes = package_proposals(working, config.scale, config.sigma, config.min_size)
    boxes = clip_boxes(boxes, *working.shape[:2])
    if working is not rgb:
        boxes = boxes_to_original(boxes, working.shape, rgb.shape)
    boxes = unique_in_order(boxes)
    if config.min_side:
        keep = ((boxes[:, 2] - boxes[:, 0] + 1 >= config.min_side) & (boxes[:, 3] - boxes[:, 1] + 1 >= config.min_side))
        boxes = boxes[keep]
    if config.max_boxes:
        boxes = boxes[:config.max_boxes]
    if len(boxes) == 0:
        log.warning("the %s backend proposed no box for an image of %dx%d pixels", config.backend, w, h)
    return boxes
