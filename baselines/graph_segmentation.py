"""Felzenszwalb & Huttenlocher's graph segmentation, label for label as OpenCV's ``ximgproc``.

The initial regions of selective search.  OpenCV's ``GraphSegmentation.processImage``
rebuilds and re-sorts the whole pixel graph for every threshold ``k``, although only the
threshold changes; here the sorted graph of an image is built once
(:func:`sorted_pixel_graph`) and segmented at any number of thresholds
(:func:`segment_sorted_graph`), each segmentation equal to OpenCV's label for label.

Algorithm
---------
1. The image (H, W, C) is converted to float32 and smoothed with a Gaussian of standard
   deviation ``sigma`` (``cv2.GaussianBlur``, kernel size from sigma, reflect-101 border;
   a sigma <= 0 is taken as 0.001, as OpenCV's setter does).
2. Graph: each pixel ``p = (i, j)`` has an edge to each 4-neighbour ``q``, listed in the
   order up, left, down, right, pixels in raster order, so every adjacent pair appears twice
   (``4 H W - 2 (H + W)`` edges).  Its weight is the Euclidean colour distance of the
   smoothed pixels ``f``, every operation in float32 as OpenCV's build rounds it::

       w(p, q) = sqrt(s_C),   s_c = s_(c-1) + (f_c(p) - f_c(q)) * (f_c(p) - f_c(q)),   s_0 = 0

   (summing the squares in double before rounding changes many weights by an ulp, which
   reorders ties and changes some segmentations: the tests catch it).

3. The edges are sorted by weight with the C++ standard library's ``std::sort`` of
   libstdc++ (introsort: median-of-three quicksort, heapsort beyond depth
   ``2 floor(log2 n)``, a final insertion sort over runs of 16), transcribed here so that
   edges of equal weight come out in OpenCV's order; that order decides which of two
   equally weighted merges happens first.
4. Every pixel starts as its own component ``C`` with threshold ``tau(C) = k``.  In sorted
   order, an edge ``(p, q)`` of weight ``w`` between components ``A != B`` merges them when
   ``w <= tau(A)`` and ``w <= tau(B)``; the merged component gets
   ``tau = w + k / |A u B|`` (float32).  Since the edges come in increasing weight, ``w`` is
   the largest weight of the merged component's spanning tree, the paper's ``Int``.
5. Small regions: in the same order, each edge whose two components differ and are not
   both of at least ``min_size`` pixels merges them.  (OpenCV skips the edges merged in
   step 4 and those of weight 0; neither can join two components here: the first lie
   inside one already, and an edge of weight 0 is never above a threshold, so step 4
   merged its two ends.)
6. Labels ``0 .. n - 1`` in order of each region's first pixel in raster order.

Steps 1-3 depend on the image and sigma only; steps 4-6 on ``k`` and ``min_size``.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

import numba
import numpy as np

_JIT = dict(cache=True, nogil=True, boundscheck=False)

_INSERTION_RUN = 16       # libstdc++'s _S_threshold


# --------------------------------------------------------------------------- libstdc++'s std::sort
# An edge is one uint64: its weight's float32 bits in the high word, its code in the low word.
# Weights are >= +0, whose bit patterns order as the floats do, so comparing high words is
# comparing weights; the low word only rides along (a tie compares equal, as in std::sort).
# Each helper is the libstdc++ routine of the same name (bits/stl_algo.h, bits/stl_heap.h),
# element moves and comparisons in the same order, so that equal weights end in the same
# order as std::sort leaves them.
_KEY_SHIFT = np.uint64(32)


@numba.njit(**_JIT)
def _key(item):
    return item >> _KEY_SHIFT


@numba.njit(**_JIT)
def _push_heap(items, base, hole, top, item):
    parent = (hole - 1) // 2
    while hole > top and _key(items[base + parent]) < _key(item):
        items[base + hole] = items[base + parent]
        hole = parent
        parent = (hole - 1) // 2
    items[base + hole] = item


@numba.njit(**_JIT)
def _adjust_heap(items, base, hole, length, item):
    top = hole
    child = hole
    while child < (length - 1) // 2:
        child = 2 * (child + 1)
        if _key(items[base + child]) < _key(items[base + child - 1]):
            child -= 1
        items[base + hole] = items[base + child]
        hole = child
    if length % 2 == 0 and child == (length - 2) // 2:
        child = 2 * (child + 1)
        items[base + hole] = items[base + child - 1]
        hole = child - 1
    _push_heap(items, base, hole, top, item)


@numba.njit(**_JIT)
def _heap_sort(items, first, last):
    """``std::partial_sort(first, last, last)``: make_heap, then sort_heap."""
    length = last - first
    if length >= 2:
        parent = (length - 2) // 2
        while True:
            _adjust_heap(items, first, parent, length, items[first + parent])
            if parent == 0:
                break
            parent -= 1
    while last - first > 1:
        last -= 1
        item = items[last]
        items[last] = items[first]
        _adjust_heap(items, first, 0, last - first, item)


@numba.njit(**_JIT)
def _median_of_three(items, a, b, c):
    """The position ``__move_median_to_first`` moves to the front (its comparisons, in order)."""
    ka, kb, kc = _key(items[a]), _key(items[b]), _key(items[c])
    if ka < kb:
        if kb < kc:
            return b
        return c if ka < kc else a
    if ka < kc:
        return a
    return c if kb < kc else b


@numba.njit(**_JIT)
def _unguarded_partition_pivot(items, first, last):
    median = _median_of_three(items, first + 1, first + (last - first) // 2, last - 1)
    items[first], items[median] = items[median], items[first]
    pivot = _key(items[first])
    lo, hi = first + 1, last
    while True:
        while _key(items[lo]) < pivot:
            lo += 1
        hi -= 1
        while pivot < _key(items[hi]):
            hi -= 1
        if not lo < hi:
            return lo
        items[lo], items[hi] = items[hi], items[lo]
        lo += 1


@numba.njit(**_JIT)
def _introsort_loop(items, first, last, depth_limit):
    # at most depth_limit (< 128) parts wait on the stack: their depths fall from the bottom up
    stack_first = np.empty(128, np.int64)
    stack_last = np.empty(128, np.int64)
    stack_depth = np.empty(128, np.int64)
    stack_first[0], stack_last[0], stack_depth[0] = first, last, depth_limit
    top = 1
    while top:
        top -= 1
        first, last, depth = stack_first[top], stack_last[top], stack_depth[top]
        while last - first > _INSERTION_RUN:
            if depth == 0:
                _heap_sort(items, first, last)
                break
            depth -= 1
            cut = _unguarded_partition_pivot(items, first, last)
            # libstdc++ recurses on the right part before it loops on the left; here the left
            # goes first and the right waits on the stack with the same depth budget.  The
            # parts are disjoint, so the order does not change any element's final place
            stack_first[top], stack_last[top], stack_depth[top] = cut, last, depth
            top += 1
            last = cut


@numba.njit(**_JIT)
def _linear_insert(items, last):
    item = items[last]
    key = _key(item)
    nxt = last - 1
    while key < _key(items[nxt]):
        items[last] = items[nxt]
        last = nxt
        nxt -= 1
    items[last] = item


@numba.njit(**_JIT)
def _insertion_sort(items, first, last):
    for i in range(first + 1, last):
        if _key(items[i]) < _key(items[first]):
            item = items[i]
            for j in range(i, first, -1):
                items[j] = items[j - 1]
            items[first] = item
        else:
            _linear_insert(items, i)


@numba.njit(**_JIT)
def std_sort(items):
    """Sort ``items`` in place by their high 32 bits as libstdc++'s ``std::sort`` does.

    Parameters
    ----------
    items : ndarray of shape (n,), uint64
        The sort key in the high word (the bits of a float32 >= +0, or any unsigned
        integer), a payload in the low word that moves with it: the low words end in the
        order std::sort leaves equal keys in.
    """
    n = items.shape[0]
    if n > 1:
        depth = 0
        m = n
        while m > 1:          # 2 * floor(log2(n)): std::__lg
            m >>= 1
            depth += 1
        _introsort_loop(items, 0, n, 2 * depth)
        if n > _INSERTION_RUN:
            _insertion_sort(items, 0, _INSERTION_RUN)
            for i in range(_INSERTION_RUN, n):
                _linear_insert(items, i)
        else:
            _insertion_sort(items, 0, n)


# --------------------------------------------------------------------------- the pixel graph
_DIRECTIONS = 4          # edge code = 4 * pixel + direction: up, left, down, right (OpenCV's order)


@numba.njit(**_JIT)
def _build_edges(smoothed):
    """OpenCV's edge list of an (H, W, C) float32 image (step 2), packed (see ``std_sort``).

    Edge ``e`` is ``bits(w) << 32 | code``: ``w`` its float32 weight, ``code = 4 p + d`` the
    edge from raster pixel ``p`` in direction ``d`` (0 up, 1 left, 2 down, 3 right); codes
    increase along the list, as OpenCV lists the edges.
    """
    h, w, c = smoothed.shape
    edges = np.empty(4 * h * w - 2 * (h + w), np.uint64)
    weight = np.empty(1, np.float32)
    weight_bits = weight.view(np.uint32)
    e = 0
    for i in range(h):
        for j in range(w):
            for direction in range(_DIRECTIONS):
                i2 = i - 1 if direction == 0 else (i + 1 if direction == 2 else i)
                j2 = j - 1 if direction == 1 else (j + 1 if direction == 3 else j)
                if 0 <= i2 < h and 0 <= j2 < w:
                    total = np.float32(0.0)
                    for ch in range(c):
                        d = smoothed[i, j, ch] - smoothed[i2, j2, ch]
                        total += d * d                  # float32 throughout, as OpenCV's build
                    weight[0] = np.sqrt(total)          # >= +0: its bits order as the float
                    code = _DIRECTIONS * (i * w + j) + direction
                    edges[e] = (np.uint64(weight_bits[0]) << _KEY_SHIFT) | np.uint64(code)
                    e += 1
    return edges


@numba.njit(**_JIT)
def _edge_pixels(code, offsets):
    """The two raster pixels of edge ``code`` (see :func:`_build_edges`); ``offsets`` holds
    ``(-W, -1, W, 1)``, the raster step of each direction."""
    p = code >> 2                       # code // _DIRECTIONS for codes >= 0
    return p, p + offsets[code & 3]


_LOW_WORD = 0 if sys.byteorder == "little" else 1       # of a uint64 seen as two uint32


@dataclass(frozen=True)
class SortedPixelGraph:
    """The 4-connected pixel graph of a smoothed image, edges in OpenCV's sorted order.

    Attributes
    ----------
    shape : (int, int)
        ``(H, W)`` of the image.
    edges : ndarray of shape (E,), uint64
        Each edge's float32 weight bits in the high word and its code in the low word, in
        sorted order: 8 bytes per edge (OpenCV's take 12).
    """

    shape: tuple
    edges: np.ndarray

    @property
    def weights(self) -> np.ndarray:
        """Non-decreasing edge weights; (E,) float32 view."""
        return self.edges.view(np.uint32)[1 - _LOW_WORD::2].view(np.float32)

    @property
    def codes(self) -> np.ndarray:
        """Each edge as ``4 p + d``: from raster pixel ``p = i W + j`` to its neighbour up,
        left, down or right (``d`` = 0, 1, 2, 3); (E,) int32 view."""
        return self.edges.view(np.int32)[_LOW_WORD::2]


def sorted_pixel_graph(image: np.ndarray, sigma: float = 0.8) -> SortedPixelGraph:
    """Steps 1-3 of the module docstring: smoothing, the pixel graph, OpenCV's edge order.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C)
        Any real dtype (converted to float32 as OpenCV does).
    sigma : float
        Gaussian smoothing; <= 0 is taken as 0.001.

    Returns
    -------
    SortedPixelGraph
    """
    import cv2

    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[0] < 1 or arr.shape[1] < 1 or arr.shape[2] < 1:
        raise ValueError(f"image: expected a non-empty (H, W) or (H, W, C) array, got shape {np.shape(image)}")
    if arr.shape[0] * arr.shape[1] > 2 ** 29:
        raise ValueError(f"image: at most 2**29 pixels (int32 edge codes), got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"image: expected real values, got dtype {arr.dtype}")
    sigma = float(sigma) if sigma > 0 else 0.001
    smoothed = cv2.GaussianBlur(np.ascontiguousarray(arr, np.float32), (0, 0), sigma, sigma)
    smoothed = smoothed.reshape(arr.shape)
    if not np.isfinite(smoothed).all():
        raise ValueError("image: expected finite values")
    edges = _build_edges(np.ascontiguousarray(smoothed))
    std_sort(edges)
    return SortedPixelGraph(arr.shape[:2], edges)


# --------------------------------------------------------------------------- segmentation
@numba.njit(**_JIT)
def _root(parent, p):
    while parent[p] != p:
        parent[p] = parent[parent[p]]           # path halving: the partition is the same
        p = parent[p]
    return p


@numba.njit(**_JIT)
def _join(parent, size, a, b):
    if size[a] < size[b]:
        a, b = b, a
    parent[b] = a
    size[a] += size[b]
    return a


@numba.njit(**_JIT)
def _segment(weights, codes, height, width, k, min_size):
    n_pixels = height * width
    offsets = np.array((-width, -1, width, 1), np.int64)
    parent = np.arange(n_pixels).astype(np.int32)
    size = np.ones(n_pixels, np.int32)
    threshold = np.full(n_pixels, k, np.float32)
    for e in range(weights.shape[0]):                        # step 4
        p, q = _edge_pixels(codes[e], offsets)
        a = _root(parent, p)
        b = _root(parent, q)
        w = weights[e]
        if a != b and w <= threshold[a] and w <= threshold[b]:
            r = _join(parent, size, a, b)
            threshold[r] = w + k / np.float32(size[r])
    for e in range(weights.shape[0]):                        # step 5
        p, q = _edge_pixels(codes[e], offsets)
        a = _root(parent, p)
        b = _root(parent, q)
        if a != b and (size[a] < min_size or size[b] < min_size):
            _join(parent, size, a, b)
    labels = np.empty(n_pixels, np.int32)                    # step 6
    label_of_root = np.full(n_pixels, -1, np.int32)
    n = 0
    for p in range(n_pixels):
        r = _root(parent, p)
        if label_of_root[r] < 0:
            label_of_root[r] = n
            n += 1
        labels[p] = label_of_root[r]
    return labels


def segment_sorted_graph(graph: SortedPixelGraph, k: float, min_size: int) -> np.ndarray:
    """Steps 4-6 of the module docstring: the segmentation at threshold ``k``.

    Parameters
    ----------
    graph : SortedPixelGraph
    k : float
        Threshold (float32, as OpenCV stores it): larger k, larger regions.
    min_size : int
        Regions below this many pixels are merged into a neighbour.

    Returns
    -------
    ndarray of shape (H, W), int32
        Region labels ``0 .. n - 1`` in order of first pixel.
    """
    if not k > 0:
        raise ValueError(f"k: expected a positive threshold, got {k!r}")
    h, w = graph.shape
    labels = _segment(graph.weights, graph.codes, h, w, np.float32(k), int(min_size))
    return labels.reshape(h, w)


def graph_segmentation(image: np.ndarray, k: float, *, sigma: float = 0.8, min_size: int | None = None) -> np.ndarray:
    """The segmentation of one image at one threshold: OpenCV's ``processImage``, label for label.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C)
    k : float
        Threshold: larger k, larger regions.
    sigma : float
    min_size : int, optional
        Regions smaller than this are merged into a neighbour; default ``k`` (the selective
        search authors' choice).

    Returns
    -------
    ndarray of shape (H, W), int32
        Region labels ``0 .. n - 1`` in order of first pixel.
    """
    return segment_sorted_graph(sorted_pixel_graph(image, sigma), k, int(k if min_size is None else min_size))
