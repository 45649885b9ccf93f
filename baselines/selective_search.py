"""Selective search (Uijlings, van de Sande, Gevers & Smeulders, IJCV 2013).

Object proposals by hierarchical grouping of an over-segmentation, diversified over
colour spaces, segmentation scales and similarity measures.

Algorithm
---------
For each *colour space* ``c`` and *scale* ``k``:

1. Felzenszwalb & Huttenlocher's graph segmentation of the image in colour space ``c``
   (:mod:`baselines.graph_segmentation`, label for label OpenCV's ``ximgproc``; Gaussian
   pre-smoothing ``sigma = 0.8``, threshold ``k``, minimum region size ``k`` as in the
   authors' code) gives initial regions ``r_1 .. r_n`` and their adjacency
   (8-connectivity).  The sorted pixel graph of a colour space is built once and
   segmented at every ``k``.
2. Each region gets a colour histogram ``C`` (25 bins per channel over 0..255,
   L1-normalised), a texture histogram ``T`` (Gaussian derivatives, sigma 1, in 8
   orientations per channel, 10 bins each, L1-normalised), its size in pixels and its
   bounding box.
3. For each *strategy* (a subset of the four measures), the two most similar neighbours
   are merged repeatedly until one region remains.  With ``size(im)`` the number of pixels::

       s_colour(a, b)  = sum_k min(C_a[k], C_b[k])
       s_texture(a, b) = sum_k min(T_a[k], T_b[k])
       s_size(a, b)    = 1 - (size(a) + size(b)) / size(im)
       s_fill(a, b)    = 1 - (size(BB_ab) - size(a) - size(b)) / size(im)
       s(a, b)         = sum of the measures in the strategy

   The merged region's histograms are the size-weighted means of its parts, its box
   the union of their boxes.  Ties are broken by region index, so the hierarchy is a
   deterministic function of the image.

Ranking
-------
Each hierarchy lists its ``2n - 1`` regions; the region at position ``i`` (``i = 1`` the
last one merged, the whole image; initial regions at the bottom) gets the value
``v = RND * i`` with ``RND`` uniform in [0, 1) from a generator seeded by ``seed``.  All
hierarchies' boxes are sorted by ``v`` and only then de-duplicated, keeping each box's
best rank: a box proposed by several strategies is more likely to rank high, and large,
coherent regions come first.  The order is reproducible (same image, same seed, same
boxes in the same order) and a top-N cut keeps the paper's mix of scales.

A hierarchy may instead be ranked from the bottom, as OpenCV's ``ximgproc`` ranks all of
its hierarchies: a region's *level* is 1 for an initial region and one more than the
higher of its two parts for a merged one, and ``v = RND * level``, so that the initial
regions and the first merges come first.  Configurations choose it per grid (the fifth
element of an ``extra`` grid, ``"level"``); the paper's modes use positions only.

Two optional steps (used by the ``fast`` mode, off in the paper's modes):

- *votes* (``vote_exponent`` gamma > 0): a box that several hierarchies find is more likely
  an object than one a single grouping happened to form.  With ``votes(b)`` the number of
  hierarchies that hold box ``b`` and ``near_votes(b)`` the number that hold ``b`` or a
  box overlapping it by IoU > ``vote_overlap``, each occurrence's value becomes
  ``v = RND * i / (votes(b) * near_votes(b)) ** gamma`` (``RND * level`` in the numerator
  for a hierarchy ranked by level).  Exact votes lift small,
  well-delimited objects that every segmentation isolates alike; near votes lift large
  objects whose box varies by a few pixels from one grouping to the next.
- *near-duplicate suppression* (``suppress_overlap`` < 1): greedy non-maximum
  suppression in ranked order drops a box that overlaps a better-ranked one by more
  than that IoU (:func:`suppress_near_duplicates`), so that a budget of N boxes is not
  spent on copies;
- *soft suppression* (``demote_factor`` > 1, Bodla et al.'s Soft-NMS in spirit): the
  boxes that greedy suppression at the looser ``demote_overlap`` would drop stay in
  the list, but with their value multiplied by ``demote_factor``, so that the first
  hundreds of boxes reach more objects while the variants that sharpen the overlap
  with an object found already follow.

Modes
-----
The paper's settings (Section 5.3): ``"single"``: HSV, k = 100, C+T+S+F.
``"paper_fast"``: HSV and Lab, k = 50 and 100, strategies C+T+S+F and T+S+F (8
hierarchies).  ``"quality"``: HSV, Lab, rgI, H and I, k = 50, 100, 150 and 300, strategies
C+T+S+F, T+S+F, F and S (80 hierarchies).  All three rank as the paper does.

``"fast"`` (the default) extends the paper's Fast mode: HSV and Lab, k = 50, 100 and 200,
strategies C+T+S+F and T+S+F, on the k = 200 segmentation also the Quality mode's
fill-only strategy F, C+T+S+F on a coarse segmentation at k = 300 with a minimum region
size of 100 pixels (OpenCV's preset's own), and C+T+S+F on a fine segmentation at k = 100
with a minimum region size of 30 pixels (18 hierarchies on 10 segmentations).  The two
k = 300 hierarchies are ranked from the bottom (by level, as OpenCV ranks), the others
from the top (by position, as the paper ranks), so that the first boxes hold both whole
objects and the small objects of a small photograph (at 227 px, the size of ImageNet's
photographs in AlexNet-era pipelines, OpenCV's ranking, small regions first, is at its
strongest).  All are ranked with votes (gamma = 1, near votes above IoU 0.9),
near-duplicate suppression above IoU 0.98 and soft suppression above IoU 0.8 (values
times 3).  The coarse segmentations and the F groupings add the large boxes that the
paper's Fast mode lacks on object-centred photographs (the k = 300 one the boxes that fit
a whole object tightly once the finer groupings have merged it with its surroundings;
ranked by level, they follow their hierarchies' small regions, so that on object-centred
photographs the first hundred boxes are a little weaker than with positions, and than
``paper_fast``'s); the fine one keeps the regions of 30 to k pixels that a minimum size
of k pixels merges into their surroundings before any grouping (30-50 pixels at k = 50,
30-100 at k = 100; a 10 x 10 object on a 227 px photograph is at k = 100's minimum), so
that small objects are grouped from their own parts; the votes put the
small objects of cluttered photographs into the first hundreds of boxes, where the paper's
ranking (large regions first) has few of them.
The settings were chosen on seeded collage sets (:mod:`benchmarks.collages`,
:data:`~benchmarks.collages.TUNING_SETS`) against OpenCV's
``switchToSelectiveSearchFast`` preset (k = 150, 300, 450 with min_size 100; 12
hierarchies, far coarser initial regions) at equal numbers of boxes, the level ranking of
the k = 300 hierarchies and the fine k = 100 segmentation (in place of the Quality mode's
size-only strategy S on k = 200) on those sets shrunk to 227 px as well; ``make bench`` reports both
on a held-out collage set, on the same collages at 227 px and on the 195 boxed
Caltech-101 images.

Boxes are returned in the suite's canonical convention (:mod:`ilsvrc.boxes`): rows
``(x1, y1, x2, y2)`` of inclusive pixel coordinates, 0-based.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numba
import numpy as np

from baselines.graph_segmentation import SortedPixelGraph, segment_sorted_graph, sorted_pixel_graph

STRATEGIES = {"C+T+S+F": (1.0, 1.0, 1.0, 1.0), "T+S+F": (0.0, 1.0, 1.0, 1.0), "F": (0.0, 0.0, 0.0, 1.0),
              "S": (0.0, 0.0, 1.0, 0.0), "C+S": (1.0, 0.0, 1.0, 0.0), "C+T+S": (1.0, 1.0, 1.0, 0.0)}
"""Strategy name -> weights of (colour, texture, size, fill)."""

COLOR_SPACES = ("rgb", "hsv", "lab", "rgI", "H", "I")

RANK_ORDERS = ("position", "level")
"""How a hierarchy's regions are ranked: from the top (the paper) or from the initial regions up (OpenCV)."""

COLOR_BINS = 25
TEXTURE_BINS = 10
TEXTURE_ORIENTATIONS = 8


@dataclass(frozen=True)
class SelectiveSearchConfig:
    """One diversification: every colour space x every k x every strategy is a hierarchy.

    Attributes
    ----------
    color_spaces : tuple of str
        Names from :data:`COLOR_SPACES`.
    ks : tuple of float
        Graph-segmentation thresholds; the minimum region size is ``k`` as well
        (unless ``min_size`` is set).
    strategies : tuple of str
        Names from :data:`STRATEGIES`.
    sigma : float
        Gaussian smoothing before the graph segmentation.
    min_size : int or None
        Minimum initial region size; ``None`` uses ``k``.
    extra : tuple of (color_spaces, ks, strategies[, min_size[, order]])
        Further grids of hierarchies after the main one (a hierarchy already listed is not
        repeated); a segmentation that several strategies group is computed once.  A grid's
        own ``min_size`` (``None``: ``k``) replaces the config's for its segmentations; its
        ``order`` is ``"position"`` (the default: ranked from the top,
        as the paper ranks) or ``"level"`` (from the initial regions up, as OpenCV ranks;
        see "Ranking" in the module docstring).
    vote_exponent : float
        ``gamma`` of the ranking's votes (see "Ranking" in the module docstring); 0 is the
        paper's ranking.
    vote_overlap : float
        A hierarchy holding a box that overlaps a box by IoU above this gives it a near vote
        (1: only the same box).
    suppress_overlap : float
        Drop a ranked box whose IoU with a better-ranked box exceeds this (greedy, in
        ranked order); 1 drops exact repeats only, as the paper does.
    demote_overlap, demote_factor : float
        Soft suppression: a box that greedy suppression at ``demote_overlap`` would drop
        keeps its place in the list only after its value is multiplied by
        ``demote_factor`` (1: off).
    """

    color_spaces: tuple = ("hsv",)
    ks: tuple = (100,)
    strategies: tuple = ("C+T+S+F",)
    sigma: float = 0.8
    min_size: int | None = None
    extra: tuple = ()
    vote_exponent: float = 0.0
    vote_overlap: float = 1.0
    suppress_overlap: float = 1.0
    demote_overlap: float = 1.0
    demote_factor: float = 1.0

    def __post_init__(self):
        for grid in self.extra:
            if len(grid) not in (3, 4, 5):
                raise ValueError(f"extra: expected (color_spaces, ks, strategies[, min_size[, order]]) grids, "
                                 f"got {grid!r}")
        for spaces, ks, strategies, min_size, order in self._grids():
            if order not in RANK_ORDERS:
                raise ValueError(f"extra: a grid's order must be one of {RANK_ORDERS}, got {order!r}")
            if min_size is not None and not (isinstance(min_size, (int, float, np.integer)) and min_size >= 1
                                             and float(min_size).is_integer()):
                raise ValueError(f"min_size: expected a positive whole number of pixels or None, got {min_size!r}")
            for name in spaces:
                if name not in COLOR_SPACES:
                    raise ValueError(f"color_spaces: unknown colour space {name!r}; expected one of {COLOR_SPACES}")
            for name in strategies:
                if name not in STRATEGIES:
                    raise ValueError(f"strategies: unknown strategy {name!r}; expected one of {tuple(STRATEGIES)}")
            if not spaces or not ks or not strategies:
                raise ValueError("color_spaces, ks and strategies must each name at least one value")
            if any(not k > 0 for k in ks):
                raise ValueError(f"ks: expected positive thresholds, got {ks}")
        if not self.sigma >= 0:
            raise ValueError(f"sigma: expected >= 0, got {self.sigma}")
        if not self.vote_exponent >= 0:
            raise ValueError(f"vote_exponent: expected >= 0, got {self.vote_exponent}")
        if not self.demote_factor >= 1:
            raise ValueError(f"demote_factor: expected >= 1, got {self.demote_factor}")
        for name in ("vote_overlap", "suppress_overlap", "demote_overlap"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name}: expected a value in (0, 1], got {getattr(self, name)}")

    def _grids(self) -> list:
        """``(color_spaces, ks, strategies, min_size, order)`` of the main grid and of each ``extra`` grid."""
        grids = [(self.color_spaces, self.ks, self.strategies, self.min_size, "position")]
        for spaces, ks, strategies, *rest in self.extra:
            min_size = rest[0] if rest else self.min_size
            grids.append((spaces, ks, strategies, min_size, rest[1] if len(rest) > 1 else "position"))
        return grids

    def _hierarchy_orders(self) -> dict:
        """``(color_space, k, strategy, min_size) -> order`` of every hierarchy, in ranking
        order (``min_size`` resolved: ``k`` where the grid leaves it ``None``; a hierarchy
        listed twice keeps its first grid's order)."""
        orders = {}
        for spaces, ks, strategies, min_size, order in self._grids():
            for space, k, name in itertools.product(spaces, ks, strategies):
                orders.setdefault((space, k, name, int(k if min_size is None else min_size)), order)
        return orders

    @property
    def hierarchy_keys(self) -> list:
        """``(color_space, k, strategy, min_size)`` of every hierarchy in ranking order: the main
        grid, then ``extra`` (``min_size`` resolved: ``k`` where the grid leaves it ``None``)."""
        return list(self._hierarchy_orders())

    @property
    def ranked_by_level(self) -> list:
        """For each hierarchy of :attr:`hierarchy_keys`, whether it is ranked by level (from
        the initial regions up) rather than by position (from the top)."""
        return [order == "level" for order in self._hierarchy_orders().values()]

    @property
    def n_hierarchies(self) -> int:
        return len(self.hierarchy_keys)


MODES = {
    "single": SelectiveSearchConfig(("hsv",), (100,), ("C+T+S+F",)),
    "paper_fast": SelectiveSearchConfig(("hsv", "lab"), (50, 100), ("C+T+S+F", "T+S+F")),
    "fast": SelectiveSearchConfig(("hsv", "lab"), (50, 100, 200), ("C+T+S+F", "T+S+F"),
                                  extra=((("hsv", "lab"), (200,), ("F",)),
                                         (("hsv", "lab"), (300,), ("C+T+S+F",), 100, "level"),
                                         (("hsv", "lab"), (100,), ("C+T+S+F",), 30)), vote_exponent=1.0,
                                  vote_overlap=0.9, suppress_overlap=0.98, demote_overlap=0.8, demote_factor=3.0),
    "quality": SelectiveSearchConfig(("hsv", "lab", "rgI", "H", "I"), (50, 100, 150, 300),
                                     ("C+T+S+F", "T+S+F", "F", "S")),
}
"""The paper's single-strategy, Fast and Quality settings, and our default Fast (see above)."""


# --------------------------------------------------------------------------- input and colour spaces
def as_rgb_image(image) -> np.ndarray:
    """Return ``image`` as uint8 RGB (H, W, 3): grey (H, W) or (H, W, 1) is replicated, RGBA drops alpha.

    Raises
    ------
    ValueError
        For an empty image, another channel count, or values outside 0..255.
    """
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"image: expected (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"image: empty image of shape {arr.shape}")
    arr = arr[:, :, :3]
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating) and arr.size and float(np.nanmax(arr)) <= 1.0:
            arr = arr * 255.0
        if arr.size and (not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 255):
            raise ValueError("image: expected values in 0..255 (or floats in [0, 1])")
        arr = np.rint(arr).astype(np.uint8)
    return np.ascontiguousarray(arr)


def convert_color(rgb: np.ndarray, space: str) -> np.ndarray:
    """The image in colour space ``space`` as uint8 (H, W, C), every channel over 0..255.

    ``hsv`` uses OpenCV's full-range hue (0..255), ``lab`` OpenCV's 8-bit L*a*b*, ``rgI`` the
    red and green channels with the intensity, ``H`` the hue alone, ``I`` the intensity alone.
    """
    import cv2

    if space == "rgb":
        return rgb
    if space == "hsv":
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV_FULL)
    if space == "lab":
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if space == "rgI":
        return np.ascontiguousarray(np.dstack([rgb[:, :, 0], rgb[:, :, 1], gray]))
    if space == "H":
        return np.ascontiguousarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV_FULL)[:, :, :1])
    if space == "I":
        return gray[:, :, None]
    raise ValueError(f"unknown colour space {space!r}; expected one of {COLOR_SPACES}")


# --------------------------------------------------------------------------- initial regions
def relabel_consecutive(labels: np.ndarray) -> np.ndarray:
    """Map the labels of an (H, W) integer label map onto ``0 .. n - 1`` in order of first value."""
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.size == 0:
        raise ValueError(f"labels: expected a non-empty (H, W) label map, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels: expected integers, got {labels.dtype}")
    if labels.min() >= 0 and np.bincount(labels.ravel()).all():
        return labels.astype(np.int32, copy=False)      # already 0 .. n - 1, every label used
    _, inverse = np.unique(labels, return_inverse=True)
    return inverse.reshape(labels.shape).astype(np.int32)


def region_adjacency(labels: np.ndarray) -> np.ndarray:
    """Pairs ``(a, b)``, ``a < b``, of regions that touch in 8-connectivity; (E, 2) int64, sorted."""
    n = int(labels.max()) + 1
    pairs = []
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :]),
                 (labels[:-1, :-1], labels[1:, 1:]), (labels[:-1, 1:], labels[1:, :-1])):
        differ = a != b
        a = a[differ].astype(np.int64)
        b = b[differ].astype(np.int64)
        pairs.append(np.minimum(a, b) * n + np.maximum(a, b))
    codes = np.unique(np.concatenate(pairs))
    return np.stack([codes // n, codes % n], axis=1)


def region_boxes(labels: np.ndarray, n: int) -> np.ndarray:
    """Inclusive bounding boxes ``(x1, y1, x2, y2)`` of regions ``0 .. n - 1``; (n, 4) float64."""
    from scipy import ndimage

    boxes = np.empty((n, 4), np.float64)
    for i, sl in enumerate(ndimage.find_objects(labels + 1, max_label=n)):
        boxes[i] = (sl[1].start, sl[0].start, sl[1].stop - 1, sl[0].stop - 1)
    return boxes


def _region_histograms(planes: np.ndarray, labels: np.ndarray, n: int, n_bins: int) -> np.ndarray:
    """L1-normalised per-region histograms of per-pixel bin planes.

    ``planes`` is (M, H, W) of bin indices in ``0 .. n_bins - 1`` (uint8); the result is
    (n, M * n_bins) float32, plane-major, normalised over all planes together.  One plane
    at a time (contiguous reads): the only per-pixel temporaries are two (H, W) index arrays.
    """
    m = planes.shape[0]
    base = labels.ravel().astype(np.intp) * n_bins
    hist = np.empty((n, m * n_bins), np.float32)
    for j in range(m):
        hist[:, j * n_bins:(j + 1) * n_bins] = np.bincount(base + planes[j].ravel(),
                                                           minlength=n * n_bins).reshape(n, n_bins)
    hist /= hist.sum(axis=1, keepdims=True)
    return hist


_COLOR_BIN_OF_VALUE = (np.arange(256) * COLOR_BINS // 256).astype(np.uint8)


def color_bins(image: np.ndarray) -> np.ndarray:
    """Colour-histogram bin of each channel and pixel: ``value * 25 // 256``; (C, H, W) uint8."""
    return np.stack([_COLOR_BIN_OF_VALUE[image[:, :, c]] for c in range(image.shape[2])])


def texture_bins(image: np.ndarray) -> np.ndarray:
    """Texture-histogram bin of each channel, orientation and pixel; (8 C, H, W) uint8.

    For each channel, Gaussian derivatives (sigma 1) ``gx, gy`` give directional derivatives
    ``d_theta = cos(theta) gx + sin(theta) gy`` for theta in 0, 45, 90, 135 degrees; their
    positive and negative parts are the 8 orientations (plane ``8 c + 2 t`` the positive
    part of orientation ``t`` of channel ``c``, the next plane its negative part).  Each
    response map is scaled by its maximum over the image into 10 bins.  Computed one
    response map at a time (float32), so the peak memory is a few bytes per pixel besides
    the 8 C bytes per pixel of the result.
    """
    import cv2

    out = np.empty((TEXTURE_ORIENTATIONS * image.shape[2],) + image.shape[:2], np.uint8)
    i = 0
    for c in range(image.shape[2]):
        plane = cv2.GaussianBlur(image[:, :, c].astype(np.float32), (0, 0), 1.0)
        gx = cv2.Sobel(plane, cv2.CV_32F, 1, 0, ksize=1)
        gy = cv2.Sobel(plane, cv2.CV_32F, 0, 1, ksize=1)
        for theta in (0.0, 45.0, 90.0, 135.0):
            t = np.deg2rad(theta)
            d = np.float32(np.cos(t)) * gx + np.float32(np.sin(t)) * gy
            for sign in (1, -1):
                r = np.maximum(d if sign > 0 else np.negative(d), 0)
                top = float(r.max())
                r *= TEXTURE_BINS / top if top > 0 else 0.0
                np.minimum(r, TEXTURE_BINS - 1, out=r)
                out[i] = r                  # truncation: the bin of each non-negative response
                i += 1
    return out


# --------------------------------------------------------------------------- grouping
@dataclass(frozen=True)
class Hierarchy:
    """The regions of one hierarchical grouping, in creation order.

    Attributes
    ----------
    boxes : ndarray of shape (2n - 1, 4), float64
        Canonical boxes: the n initial regions, then one per merge.
    parents : ndarray of shape (n - 1, 2), int64
        The two regions merged into region ``n + t`` at step ``t``.
    n_initial : int
    """

    boxes: np.ndarray
    parents: np.ndarray
    n_initial: int

    @property
    def positions(self) -> np.ndarray:
        """Position of each region counted from the top (1 = last created); (len(boxes),) int64."""
        return np.arange(len(self.boxes), 0, -1, dtype=np.int64)

    @property
    def levels(self) -> np.ndarray:
        """Height of each region above the initial regions, as OpenCV's ``ximgproc`` counts it:
        1 for an initial region, ``max(level(a), level(b)) + 1`` for the merge of ``a`` and
        ``b``; (len(boxes),) int64."""
        levels = [1] * len(self.boxes)
        for t, (a, b) in enumerate(self.parents.tolist(), start=self.n_initial):
            levels[t] = max(levels[a], levels[b]) + 1
        return np.array(levels, np.int64)


def hierarchical_grouping(histograms: np.ndarray, sizes: np.ndarray, boxes: np.ndarray, edges: np.ndarray,
                          image_size: int, *, size_weight: float = 1.0, fill_weight: float = 1.0) -> Hierarchy:
    """Greedy merging of the most similar adjacent regions (see the module docstring).

    The merge loop is compiled (:func:`_merge_regions`): a binary heap of candidate pairs
    keyed by ``(-s(a, b), a, b)``, so that of equally similar pairs the one with the
    smallest indices merges first, with stale pairs (a part already merged) skipped when
    popped; each region keeps a sorted list of its neighbours.  ``s(a, b)`` sums the
    float32 minima in float64 from the first bin to the last.  For the L1-normalised count
    histograms of :func:`selective_search_hierarchies` every partial sum is exact on a
    working image of fewer than ~20 million pixels (each non-zero value, a region's or a
    size-weighted mean of them, is a float32 of at least 1 / (24 x pixels) >= 2^-29, so a
    multiple of 2^-52, and the sums stay below 2), so the order of summation, numpy's
    pairwise or this loop's, cannot change a merge there.

    Parameters
    ----------
    histograms : ndarray of shape (n, F), float32
        Per-region histograms already multiplied by their measure's weight (colour and
        texture blocks side by side); ``F`` may be 0.
    sizes : ndarray of shape (n,)
        Region sizes in pixels.
    boxes : ndarray of shape (n, 4)
        Canonical boxes of the regions.
    edges : ndarray of shape (E, 2), int
        Adjacent pairs.
    image_size : int
        Pixels in the image.
    size_weight, fill_weight : float

    Returns
    -------
    Hierarchy
    """
    n = len(sizes)
    cap = 2 * n - 1
    feat = np.zeros((cap, histograms.shape[1]), np.float32)
    feat[:n] = histograms
    size = np.zeros(cap, np.float64)
    size[:n] = sizes
    box = np.zeros((cap, 4), np.float64)
    box[:n] = boxes
    pairs = np.asarray(edges, np.int64).reshape(-1, 2)
    looped = bool(np.any(pairs[:, 0] == pairs[:, 1]))
    if len(pairs) and (pairs.min() < 0 or pairs.max() >= n or looped):
        raise ValueError(f"edges: expected pairs of two different regions in 0 .. {n - 1}, got indices "
                         f"{int(pairs.min())} .. {int(pairs.max())}" + (" and a region paired with itself" * looped))
    t, parents = _merge_regions(feat, size, box, np.ascontiguousarray(pairs[:, 0]), np.ascontiguousarray(pairs[:, 1]),
                                n, float(size_weight), float(fill_weight), 1.0 / float(image_size))
    return Hierarchy(box[:t].copy(), parents, n)


# compiled merge loop: a heap over three parallel arrays (key, a, b), compared as tuples
_JIT = dict(cache=True, nogil=True, boundscheck=False)


@numba.njit(**_JIT)
def _heap_less(ks, xs, ys, i, j):
    if ks[i] != ks[j]:
        return ks[i] < ks[j]
    if xs[i] != xs[j]:
        return xs[i] < xs[j]
    return ys[i] < ys[j]


@numba.njit(**_JIT)
def _heap_swap(ks, xs, ys, i, j):
    ks[i], ks[j] = ks[j], ks[i]
    xs[i], xs[j] = xs[j], xs[i]
    ys[i], ys[j] = ys[j], ys[i]


@numba.njit(**_JIT)
def _sift_up(ks, xs, ys, i):
    while i > 0:
        p = (i - 1) >> 1
        if _heap_less(ks, xs, ys, i, p):
            _heap_swap(ks, xs, ys, i, p)
            i = p
        else:
            break


@numba.njit(**_JIT)
def _sift_down(ks, xs, ys, i, m):
    while True:
        c = 2 * i + 1
        if c >= m:
            break
        if c + 1 < m and _heap_less(ks, xs, ys, c + 1, c):
            c += 1
        if _heap_less(ks, xs, ys, c, i):
            _heap_swap(ks, xs, ys, c, i)
            i = c
        else:
            break


@numba.njit(**_JIT)
def _heap_push(ks, xs, ys, m, key, x, y):
    """Add ``(key, x, y)`` to the heap of ``m`` items, doubling the arrays when full; returns them."""
    if m == len(ks):
        ks2 = np.empty(2 * m, np.float64)
        xs2 = np.empty(2 * m, np.int64)
        ys2 = np.empty(2 * m, np.int64)
        ks2[:m] = ks[:m]
        xs2[:m] = xs[:m]
        ys2[:m] = ys[:m]
        ks, xs, ys = ks2, xs2, ys2
    ks[m] = key
    xs[m] = x
    ys[m] = y
    _sift_up(ks, xs, ys, m)
    return ks, xs, ys


@numba.njit(**_JIT)
def _heap_pop_root(ks, xs, ys, m):
    """Remove the root of a heap that held ``m + 1`` items (read it first): the last item takes its place."""
    if m > 0:
        ks[0] = ks[m]
        xs[0] = xs[m]
        ys[0] = ys[m]
        _sift_down(ks, xs, ys, 0, m)


@numba.njit(**_JIT)
def _pair_similarity(feat, size, box, a, b, ws, wf, inv_im):
    s = 0.0
    for f in range(feat.shape[1]):
        u = feat[a, f]
        v = feat[b, f]
        s += np.float64(u if u < v else v)
    if ws != 0.0:
        s += ws * (1.0 - (size[a] + size[b]) * inv_im)
    if wf != 0.0:
        bw = max(box[a, 2], box[b, 2]) - min(box[a, 0], box[b, 0]) + 1
        bh = max(box[a, 3], box[b, 3]) - min(box[a, 1], box[b, 1]) + 1
        s += wf * (1.0 - (bw * bh - size[a] - size[b]) * inv_im)
    return s


@numba.njit(**_JIT)
def _merge_regions(feat, size, box, ea, eb, n, ws, wf, inv_im):
    """Merge regions ``0 .. n - 1`` until none is left with a neighbour.

    ``feat`` (cap, F) float32, ``size`` (cap,) and ``box`` (cap, 4) float64 hold the initial
    regions in their first ``n`` rows and receive each merged region ``t = n, n + 1, ...``;
    ``ea, eb`` are the adjacent pairs.  Returns the number of regions ``t`` and the
    ``(t - n, 2)`` parents.  ``s(a, b)`` is summed in float64 from the float32 minima, and a
    merged region's histogram is the float32 size-weighted mean of its parts.
    """
    cap = feat.shape[0]
    m0 = len(ea)
    hcap = max(16, m0)                 # _heap_push doubles it when full
    ks = np.empty(hcap, np.float64)
    xs = np.empty(hcap, np.int64)
    ys = np.empty(hcap, np.int64)
    deg = np.zeros(cap, np.int64)
    for e in range(m0):
        deg[ea[e]] += 1
        deg[eb[e]] += 1
    nbrs = [np.empty(0, np.int64) for _ in range(cap)]
    for r in range(n):
        nbrs[r] = np.empty(deg[r], np.int64)
    fill = np.zeros(n, np.int64)
    for e in range(m0):
        a, b = ea[e], eb[e]
        nbrs[a][fill[a]] = b
        fill[a] += 1
        nbrs[b][fill[b]] = a
        fill[b] += 1
        ks[e] = -_pair_similarity(feat, size, box, a, b, ws, wf, inv_im)
        xs[e] = a
        ys[e] = b
    for r in range(n):
        nbrs[r] = np.sort(nbrs[r])
    m = m0
    for i in range(m // 2 - 1, -1, -1):
        _sift_down(ks, xs, ys, i, m)
    alive = np.zeros(cap, np.bool_)
    alive[:n] = True
    parents = np.empty((max(cap - n, 0), 2), np.int64)
    t = n
    nf = feat.shape[1]
    while m > 0:
        a = xs[0]
        b = ys[0]
        m -= 1
        _heap_pop_root(ks, xs, ys, m)
        if not (alive[a] and alive[b]):
            continue
        sa = size[a]
        sb = size[b]
        st = sa + sb
        size[t] = st
        fa = np.float32(sa)
        fb = np.float32(sb)
        fs = np.float32(st)
        for f in range(nf):
            feat[t, f] = (feat[a, f] * fa + feat[b, f] * fb) / fs
        box[t, 0] = min(box[a, 0], box[b, 0])
        box[t, 1] = min(box[a, 1], box[b, 1])
        box[t, 2] = max(box[a, 2], box[b, 2])
        box[t, 3] = max(box[a, 3], box[b, 3])
        alive[a] = False
        alive[b] = False
        alive[t] = True
        parents[t - n, 0] = a
        parents[t - n, 1] = b
        # union of the two sorted neighbour lists, without a and b
        na = nbrs[a]
        nb_ = nbrs[b]
        merged = np.empty(len(na) + len(nb_), np.int64)
        i = 0
        j = 0
        k = 0
        while i < len(na) or j < len(nb_):
            if j >= len(nb_) or (i < len(na) and na[i] < nb_[j]):
                v = na[i]
                i += 1
            elif i >= len(na) or nb_[j] < na[i]:
                v = nb_[j]
                j += 1
            else:
                v = na[i]
                i += 1
                j += 1
            if v != a and v != b:
                merged[k] = v
                k += 1
        merged = merged[:k]
        nbrs[t] = merged
        nbrs[a] = np.empty(0, np.int64)
        nbrs[b] = np.empty(0, np.int64)
        for q in range(k):
            x = merged[q]
            old = nbrs[x]
            new = np.empty(len(old) + 1, np.int64)
            c = 0
            for v in old:
                if v != a and v != b:
                    new[c] = v
                    c += 1
            new[c] = t
            nbrs[x] = new[:c + 1]
            ks, xs, ys = _heap_push(ks, xs, ys, m, -_pair_similarity(feat, size, box, x, t, ws, wf, inv_im), x, t)
            m += 1
        t += 1
    return t, parents[:t - n]


# --------------------------------------------------------------------------- the whole search
@dataclass
class _Segmentation:
    labels: np.ndarray
    n: int
    sizes: np.ndarray
    boxes: np.ndarray
    edges: np.ndarray
    color: np.ndarray
    texture: np.ndarray


def _segment(graph: SortedPixelGraph, color_map: np.ndarray, texture_map: np.ndarray, k: float,
             min_size: int) -> _Segmentation:
    labels = segment_sorted_graph(graph, k, min_size)
    n = int(labels.max()) + 1
    sizes = np.bincount(labels.ravel(), minlength=n).astype(np.float64)
    color = _region_histograms(color_map, labels, n, COLOR_BINS)
    texture = _region_histograms(texture_map, labels, n, TEXTURE_BINS)
    return _Segmentation(labels, n, sizes, region_boxes(labels, n), region_adjacency(labels), color, texture)


def selective_search_hierarchies(image, config: SelectiveSearchConfig = MODES["fast"]):
    """Every hierarchy of ``config`` on ``image``, in the order of ``config.hierarchy_keys``.

    Each colour space is converted, binned and turned into a sorted pixel graph once, and
    segmented once per ``(k, min_size)``, however many strategies group its regions.

    Returns
    -------
    list of (dict, Hierarchy)
        The dict names the hierarchy's ``color_space``, ``k``, ``strategy`` and ``min_size``.
    """
    rgb = as_rgb_image(image)
    keys = config.hierarchy_keys
    found = {}
    for space in dict.fromkeys(key[0] for key in keys):
        image_c = convert_color(rgb, space)
        color_map, texture_map = color_bins(image_c), texture_bins(image_c)     # shared by every k
        graph = sorted_pixel_graph(image_c, config.sigma)
        for k, min_size in dict.fromkeys((key[1], key[3]) for key in keys if key[0] == space):
            seg = _segment(graph, color_map, texture_map, k, min_size)
            for key in (key for key in keys if (key[0], key[1], key[3]) == (space, k, min_size)):
                wc, wt, ws, wf = STRATEGIES[key[2]]
                blocks = [b for w, b in ((wc, seg.color), (wt, seg.texture)) if w]
                hist = np.hstack(blocks) if blocks else np.zeros((seg.n, 0), np.float32)
                found[key] = hierarchical_grouping(hist, seg.sizes, seg.boxes, seg.edges, rgb.shape[0] * rgb.shape[1],
                                                   size_weight=ws, fill_weight=wf)
    return [(dict(zip(("color_space", "k", "strategy", "min_size"), key)), found[key]) for key in keys]


def rank_hierarchies(hierarchies, seed: int = 0, *, vote_exponent: float = 0.0, vote_overlap: float = 1.0,
                     suppress_overlap: float = 1.0, demote_overlap: float = 1.0,
                     demote_factor: float = 1.0, by_level=None) -> np.ndarray:
    """Merge hierarchies into one de-duplicated, ranked list of boxes (see "Ranking" above).

    Parameters
    ----------
    hierarchies : sequence of Hierarchy
    seed : int
    vote_exponent : float
        ``gamma``: each occurrence's value ``RND * position`` is divided by
        ``(votes * near_votes) ** gamma`` (0: the paper's ranking).
    vote_overlap : float
        ``votes`` counts the hierarchies that hold the same box, ``near_votes`` those that
        hold the box or one overlapping it by IoU above ``vote_overlap`` (1: the same box).
    suppress_overlap : float
        Greedy suppression of near-duplicates in ranked order (1: exact repeats only).
    demote_overlap, demote_factor : float
        Soft suppression: the boxes that greedy suppression at ``demote_overlap`` would
        drop have their (best) value multiplied by ``demote_factor`` and the list is
        sorted again (``demote_factor`` 1: off).
    by_level : sequence of bool or None
        For each hierarchy, whether its values are ``RND * level`` (OpenCV's ranking, from
        the initial regions up) rather than ``RND * position`` (the paper's, from the top);
        None: positions everywhere.

    Returns
    -------
    ndarray of shape (m, 4), float64
        Unique boxes, best first.
    """
    if by_level is None:
        by_level = [False] * len(hierarchies)
    elif not np.iterable(by_level):
        raise TypeError(f"by_level: expected one flag per hierarchy (a sequence of {len(hierarchies)} bools) or None, "
                        f"got {by_level!r}")
    if not hierarchies:
        return np.zeros((0, 4), np.float64)
    by_level = [bool(b) for b in by_level]
    if len(by_level) != len(hierarchies):
        raise ValueError(f"by_level: expected one flag per hierarchy ({len(hierarchies)}), got {len(by_level)}")
    rng = np.random.default_rng(seed)
    boxes = np.concatenate([h.boxes for h in hierarchies])
    values = np.concatenate([rng.random(len(h.boxes)) * (h.levels if level else h.positions)
                             for h, level in zip(hierarchies, by_level)])
    if vote_exponent:
        box_id = _box_ids(boxes)
        votes, near_votes = hierarchy_votes(boxes, box_id, [len(h.boxes) for h in hierarchies], vote_overlap)
        values = values / (votes * near_votes)[box_id] ** vote_exponent
    order = np.argsort(values, kind="stable")
    _, first = np.unique(_box_ids(boxes[order]), return_index=True)
    best = order[np.sort(first)]                      # each box's best occurrence, in ranked order
    ranked, values = boxes[best], values[best]
    if suppress_overlap < 1:
        keep = suppress_near_duplicates(ranked, suppress_overlap)
        ranked, values = ranked[keep], values[keep]
    if demote_factor > 1 and demote_overlap < 1:
        factor = np.full(len(ranked), float(demote_factor))
        factor[suppress_near_duplicates(ranked, demote_overlap)] = 1.0
        ranked = ranked[np.argsort(values * factor, kind="stable")]
    return ranked


def hierarchy_votes(boxes: np.ndarray, box_id: np.ndarray, lengths, overlap: float = 1.0):
    """How many hierarchies hold each distinct box, exactly and nearly.

    Parameters
    ----------
    boxes : ndarray of shape (N, 4)
        The boxes of all hierarchies, one after the other.
    box_id : ndarray of shape (N,), int
        Dense id of each distinct box (:func:`_box_ids`).
    lengths : sequence of int
        Boxes per hierarchy (summing to N).
    overlap : float
        IoU above which a box of a hierarchy is a near vote for another box (1: exact only).

    Returns
    -------
    votes, near_votes : ndarray of shape (n_distinct,), float64
        Hierarchies holding the box; hierarchies holding the box or a box overlapping it
        by more than ``overlap``.
    """
    from scipy import sparse

    n_hier = len(lengths)
    n_box = int(box_id.max()) + 1
    owner = np.repeat(np.arange(n_hier), lengths)
    held = sparse.csr_matrix((np.ones(len(box_id), np.float32), (box_id, owner)), shape=(n_box, n_hier))
    held.data[:] = 1.0                                       # a box repeated within one hierarchy votes once
    votes = np.asarray(held.sum(axis=1), np.float64).ravel()
    if overlap >= 1:
        return votes, votes
    distinct = np.zeros((n_box, 4), np.float64)
    distinct[box_id] = boxes
    i, j = overlapping_pairs(distinct, overlap)
    near = sparse.csr_matrix((np.ones(2 * len(i), np.float32), (np.r_[i, j], np.r_[j, i])), shape=(n_box, n_box))
    near = (near + sparse.identity(n_box, np.float32, format="csr")) @ held
    return votes, np.asarray((near > 0).sum(axis=1), np.float64).ravel()


def _box_ids(boxes: np.ndarray) -> np.ndarray:
    """A dense id per distinct row of ``boxes`` (N, 4), equal ids for equal rows; (N,) int64."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    if len(b) and b.min() >= 0 and b.max() < 2 ** 15 and np.array_equal(b, np.floor(b)):
        codes = np.zeros(len(b), np.int64)            # whole pixels below 32768: one int64 per box
        for col in range(4):
            codes = (codes << 16) | b[:, col].astype(np.int64)
        return np.unique(codes, return_inverse=True)[1].ravel()
    return np.unique(b, axis=0, return_inverse=True)[1].ravel()


def unique_in_order(boxes: np.ndarray) -> np.ndarray:
    """Drop repeated rows of ``boxes`` (N, 4), keeping the first occurrence and the order."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if len(boxes) == 0:
        return boxes
    _, first = np.unique(_box_ids(boxes), return_index=True)
    return boxes[np.sort(first)]


def overlapping_pairs(boxes: np.ndarray, overlap: float) -> tuple[np.ndarray, np.ndarray]:
    """All pairs ``i < j`` of ``boxes`` whose IoU (devkit +1 convention) exceeds ``overlap``.

    IoU > t requires the widths (and the heights) to differ by a factor below 1 / t, so
    boxes are binned by ``floor(log(width) / -log(t))`` and ``floor(log(height) / -log(t))``
    and compared only with the boxes of the same and the eight adjacent bins: for t near 1
    a few boxes each, instead of all of them.

    Parameters
    ----------
    boxes : ndarray of shape (m, 4)
        Canonical boxes (non-empty: ``x2 >= x1``, ``y2 >= y1``).
    overlap : float
        In (0, 1).

    Returns
    -------
    i, j : ndarray of shape (p,), int64
        The pairs, ordered by ``j`` then ``i``.
    """
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    if not 0.0 < overlap < 1.0:
        raise ValueError(f"overlap: expected a value in (0, 1), got {overlap}")
    m = len(b)
    if m < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    w, h = b[:, 2] - b[:, 0] + 1, b[:, 3] - b[:, 1] + 1
    step = -np.log(overlap)
    wbin = np.floor(np.log(w) / step).astype(np.int64)
    hbin = np.floor(np.log(h) / step).astype(np.int64)
    hbin -= hbin.min() - 1                      # >= 1, so that hbin - 1 never borrows from wbin
    stride = int(hbin.max()) + 2
    key = wbin * stride + hbin
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    firsts, seconds = [], []
    for dw in (-1, 0, 1):
        for dh in (-1, 0, 1):
            target = key + dw * stride + dh
            lo = np.searchsorted(sorted_key, target, "left")
            counts = np.searchsorted(sorted_key, target, "right") - lo
            total = int(counts.sum())
            if not total:
                continue
            starts = np.repeat(lo - (np.cumsum(counts) - counts), counts)
            j = order[starts + np.arange(total)]
            i = np.repeat(np.arange(m), counts)
            later = j > i
            i, j = i[later], j[later]
            iw = np.minimum(b[i, 2], b[j, 2]) - np.maximum(b[i, 0], b[j, 0]) + 1
            ih = np.minimum(b[i, 3], b[j, 3]) - np.maximum(b[i, 1], b[j, 1]) + 1
            inter = np.where((iw > 0) & (ih > 0), iw * ih, 0.0)
            close = inter / (w[i] * h[i] + w[j] * h[j] - inter) > overlap   # kept per neighbouring bin: the
            firsts.append(i[close])                                          # candidates never all in memory
            seconds.append(j[close])
    i, j = np.concatenate(firsts), np.concatenate(seconds)
    by_later = np.lexsort((i, j))
    return i[by_later], j[by_later]


def suppress_near_duplicates(boxes: np.ndarray, overlap: float) -> np.ndarray:
    """Greedy non-maximum suppression in list order: the indices of the boxes kept.

    Visit the boxes in order (the first is the best); keep a box unless its IoU (devkit +1
    convention) with a box already kept exceeds ``overlap``.  The result equals
    :func:`baselines.detection.non_maximum_suppression` with scores falling along the list,
    but only the pairs of :func:`overlapping_pairs` are compared.

    Parameters
    ----------
    boxes : ndarray of shape (m, 4)
        Canonical boxes (non-empty), best first.
    overlap : float
        In (0, 1).

    Returns
    -------
    ndarray of shape (k,), int64
        Indices of the kept boxes, increasing.
    """
    i, j = overlapping_pairs(boxes, overlap)
    keep = bytearray(b"\x01") * len(np.asarray(boxes).reshape(-1, 4))
    for a, c in zip(i.tolist(), j.tolist()):    # every earlier box of a pair is decided before the later one
        if keep[a]:
            keep[c] = 0
    return np.flatnonzero(np.frombuffer(bytes(keep), np.uint8)).astype(np.int64)


def selective_search(image, mode: str | SelectiveSearchConfig = "fast", *, seed: int = 0) -> np.ndarray:
    """Ranked, unique object proposals of one image.

    Parameters
    ----------
    image : array_like of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)
        RGB(A) or grey, uint8 or floats in [0, 1].
    mode : {"single", "paper_fast", "fast", "quality"} or SelectiveSearchConfig
    seed : int
        Seed of the ranking's random factors.

    Returns
    -------
    ndarray of shape (m, 4), float64
        Canonical inclusive boxes ``(x1, y1, x2, y2)``, best first.
    """
    config = MODES[mode] if isinstance(mode, str) and mode in MODES else mode
    if not isinstance(config, SelectiveSearchConfig):
        raise ValueError(f"mode: expected one of {tuple(MODES)} or a SelectiveSearchConfig, got {mode!r}")
    return rank_hierarchies([h for _, h in selective_search_hierarchies(image, config)], seed=seed,
                            vote_exponent=config.vote_exponent, vote_overlap=config.vote_overlap,
                            suppress_overlap=config.suppress_overlap, demote_overlap=config.demote_overlap,
                            demote_factor=config.demote_factor, by_level=config.ranked_by_level)
