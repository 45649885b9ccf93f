r"""Dense SIFT with VLFeat's semantics, and PHOW (multi-scale dense SIFT).

Geometry (VLFeat ``vl/dsift.c``)
--------------------------------
A descriptor has ``num_bins x num_bins`` spatial bins of ``bin_size`` pixels and
``num_orientations`` orientation bins.  Pixel centres sit at integer coordinates, the
image's top-left pixel at (0, 0).  Descriptors are sampled so that every *bin centre*
falls on an integer pixel inside the image: the top-left bin of the top-left descriptor
is centred on ``(x_min, y_min)`` (the ``bounds``, default the whole image), the next
bins on ``x_min + bin_size``, ``x_min + 2 bin_size``, ... and descriptors follow every
``step`` pixels while their last bin centre stays ``<= x_max``.  With ``F = bin_size *
(num_bins - 1) + 1`` (the span of the bin centres) there are ``floor((x_max - x_min -
F + 1) / step) + 1`` descriptors per row, and a descriptor's centre is

.. math::  x = x_{\min} + p\,\mathrm{step} + \tfrac12\,\mathrm{bin\_size}\,(\mathrm{num\_bins} - 1)

(``y`` likewise): frames are 0-based, as VLFeat's C API reports them (MATLAB's
``vl_dsift`` adds 1).

Computation
-----------
1. Gradients by central differences (one-sided on the border rows and columns);
   orientation ``theta = atan2(gy, gx)`` with the y axis pointing *down*, in [0, 2 pi).
2. The magnitude is split linearly between the two nearest of ``num_orientations``
   orientation planes (bin t is centred on ``2 pi t / num_orientations``).
3. Each plane is convolved with a separable triangular kernel
   ``1 - |x| / bin_size`` on ``|x| < bin_size`` (bilinear spatial binning), padding by
   continuity.  The *flat* window ("fast", ``vl_dsift_set_flat_window``) then weights each
   spatial bin by the mean of the Gaussian window over the bin; the *Gaussian* window
   multiplies the kernel of bin i by ``exp(-(x - d_i)^2 / (2 sigma^2))``, ``d_i =
   bin_size (i - (num_bins - 1) / 2)``, ``sigma = window_size * bin_size``.
4. Reading the planes at the bin centres gives the descriptor, element
   ``t + num_orientations * (bx + num_bins * by)`` (orientation fastest, then x bin, then
   y bin: VLFeat's order).
5. The frame's *contrast* is the descriptor's sum divided by ``F^2`` (VLFeat's "norm",
   which PHOW thresholds); the descriptor is L2-normalised, clamped at 0.2 and
   L2-normalised again (norms get ``+1.19e-7``, VLFeat's ``VL_EPSILON_F``).

Agreement with VLFeat 0.9.21
----------------------------
VLFeat computes ``atan2`` and ``sqrt`` with fast approximations (errors up to ~0.006 rad),
and its flat window filters with running sums in float32 (``vl_imconvcoltri_f``:
integrate, difference, integrate, difference), which leave in every bin a rounding residue
of ~1e-7 of the total of the row (or column) it was summed along.  In a near-empty
descriptor -- a saturated or flat patch on rows that cross strong edges, typically a white
background -- that residue is most of VLFeat's value, and the L2 normalisation blows it up
to a unit vector: exact arithmetic then gives a different descriptor (cosine down to 0.7,
the whole difference often in one orientation bin), and photographs with saturated
backgrounds fall below a mean cosine of 0.9999.  With ``vlfeat_math`` (the default) both
are reproduced bit for bit: the fast math, and the running sums in VLFeat's order of
operations, along y and along x (both residues matter).  Both loops are compiled with numba
(numpy would need a call per row and step of the running sums, and a dozen passes over the
image for the fast math).  The bins being VLFeat's, a frame's contrast (their sum, here in
another order) is VLFeat's to a few float32 ulps, and PHOW's threshold zeroes the same
descriptors but for a handful per million whose contrast is that close to it (the smoothing
before each PHOW size rounds differently from MATLAB's ``vl_imsmooth`` too).
``vlfeat_math=False`` is exact math with OpenCV's filters (the definition above, checked
against a slow oracle in the tests).  ``python -m benchmarks.agreement`` measures the
agreement on a photo collection.

``to_vlfeat_uint8`` gives VLFeat's default byte descriptors, ``min(512 d, 255)``.
"""
from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass

import cv2
import numba
import numpy as np

from ._validation import (
    as_float_image,
    check_choice,
    check_positive_int,
    check_positive_real,
)

VL_EPSILON_F = np.float32(1.19209290e-07)
CLAMP = np.float32(0.2)


class _Workspace(threading.local):
    """Grow-only scratch buffers, one set per thread.

    Dense SIFT streams several image-sized float arrays through every call.  Allocating
    them afresh costs more than the arithmetic: the C allocator hands large freed blocks
    back to the kernel, and touching new pages is slow (measured: ~8 ms of a ~20 ms call
    on a 500-px image).  Views into buffers kept between calls avoid that.  Nothing
    returned to the caller is a view into them.
    """

    def __init__(self):
        self.buffers = {}

    def get(self, name: str, shape: tuple) -> np.ndarray:
        size = math.prod(shape)     # (np.prod costs more than a small call's arithmetic)
        buf = self.buffers.get(name)
        if buf is None or buf.size < size:
            buf = np.empty(max(size, 1), np.float32)
            self.buffers[name] = buf
        return buf[:size].reshape(shape)


_WORKSPACE = _Workspace()
_CHUNK_VALUES = 1 << 18  # descriptors are assembled and normalised ~1 MB at a time


@dataclass(frozen=True)
class DenseGrid:
    """Where the descriptors of one image and bin size lie.

    Attributes
    ----------
    x0, y0 : int
        Top-left bin centre of the first descriptor.
    nx, ny : int
        Descriptors per row and per column.
    step : int
    bin_size : int
    num_bins : int
    """

    x0: int
    y0: int
    nx: int
    ny: int
    step: int
    bin_size: int
    num_bins: int

    @property
    def span(self) -> int:
        """``F``: distance from the first to the last bin centre, plus one."""
        return self.bin_size * (self.num_bins - 1) + 1

    def centers(self) -> tuple[np.ndarray, np.ndarray]:
        """Descriptor centres, x (nx,) and y (ny,), float64."""
        half = 0.5 * self.bin_size * (self.num_bins - 1)
        return (self.x0 + self.step * np.arange(self.nx) + half,
                self.y0 + self.step * np.arange(self.ny) + half)


def dense_grid(height: int, width: int, *, step: int, bin_size: int, num_bins: int = 4,
               bounds=None) -> DenseGrid:
    """The sampling grid of :func:`dense_sift` (see the module docstring).

    Parameters
    ----------
    height, width : int
        Image size.
    step, bin_size, num_bins : int
    bounds : (x_min, y_min, x_max, y_max), optional
        Inclusive 0-based pixel bounds for the bin centres; clipped to the image
        (``numpy.inf`` for "to the edge").

    Returns
    -------
    DenseGrid
        Empty (``nx = ny = 0``) when not a single descriptor fits, i.e. when the bounds
        span fewer than ``bin_size * (num_bins - 1) + 1`` pixels in either direction (VLFeat
        returns no descriptors then).
    """
    if bounds is None:
        bounds = (0, 0, width - 1, height - 1)
    if len(bounds) != 4:
        raise ValueError(f"bounds: expected (x_min, y_min, x_max, y_max), got {bounds!r}")
    x_min, y_min = max(int(bounds[0]), 0), max(int(bounds[1]), 0)
    x_max = width - 1 if bounds[2] == np.inf else min(int(bounds[2]), width - 1)
    y_max = height - 1 if bounds[3] == np.inf else min(int(bounds[3]), height - 1)
    span = bin_size * (num_bins - 1) + 1
    range_x = x_max - x_min - span + 1
    range_y = y_max - y_min - span + 1
    # VLFeat: no descriptor along an axis whose bounds are narrower than the span
    nx = range_x // step + 1 if range_x >= 0 else 0
    ny = range_y // step + 1 if range_y >= 0 else 0
    if nx == 0 or ny == 0:
        nx = ny = 0
    return DenseGrid(x_min, y_min, nx, ny, step, bin_size, num_bins)


_JIT = dict(cache=True, nogil=True, boundscheck=False, error_model="numpy")   # (numpy's error model: IEEE
# division, no zero check, so that loops vectorise)
_C3, _C1 = np.float32(0.1821), np.float32(0.9675)
_PI_4, _3_PI_4, _TWO_PI_F = np.float32(np.pi / 4), np.float32(3 * np.pi / 4), np.float32(2 * np.pi)
_SQRT_CUT = np.float32(1e-8)   # C compares the float with the double 1e-8: keeping x > float32(1e-8) is the same


@numba.njit(**_JIT)
def _fast_atan2_into(y, x, out):  # pragma: no cover (compiled)
    """:func:`fast_atan2` of 1-D float32 arrays into ``out``.  ``x < 0`` takes VLFeat's second
    branch as ``3 pi/4 - p(q)``: its ``r`` is exactly ``-q`` and ``p`` is odd (IEEE rounding is
    symmetric), so the floats are the C code's; one expression for both branches vectorises."""
    for i in range(out.shape[0]):
        a = abs(y[i]) + VL_EPSILON_F
        b = abs(x[i])
        q = (b - a) / (b + a)
        p = ((q * _C3) * q - _C1) * q
        angle = _PI_4 + p if x[i] >= 0 else _3_PI_4 - p
        out[i] = -angle if y[i] < 0 else angle


@numba.njit(**_JIT)
def _fast_sqrt_into(x, out, guess):  # pragma: no cover (compiled)
    """:func:`fast_sqrt` of a 1-D float32 array into ``out`` (may be ``x``); ``guess`` scratch."""
    kept_bits, guess_bits = out.view(np.int32), guess.view(np.int32)
    for i in range(out.shape[0]):
        v = x[i]
        out[i] = v if v > _SQRT_CUT else np.float32(0)
    for i in range(out.shape[0]):
        guess_bits[i] = np.int32(0x5F3759DF) - (kept_bits[i] >> 1)
    for i in range(out.shape[0]):
        kept = out[i]
        half = kept * np.float32(0.5)
        u = guess[i]
        u = u * (np.float32(1.5) - (half * u) * u)
        u = u * (np.float32(1.5) - (half * u) * u)
        out[i] = kept * u                    # 0 where cut off: 0 times a finite guess


def fast_atan2(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """VLFeat's ``vl_fast_atan2_f``: a cubic in ``r`` around pi/4 or 3 pi/4 (max error ~0.005 rad).

    ``r = (x - |y|) / (x + |y|)`` for ``x >= 0`` (else ``(x + |y|) / (|y| - x)``),
    ``angle = pi/4 (or 3 pi/4) + (0.1821 r^2 - 0.9675) r``, negated where ``y < 0``;
    ``|y|`` carries ``+1.19e-7`` so that ``(0, 0)`` is defined.  float32 throughout, the
    same floats as VLFeat's C code (compiled with numba).
    """
    y, x = np.broadcast_arrays(np.asarray(y, np.float32), np.asarray(x, np.float32))
    out = np.empty(x.shape, np.float32)
    _fast_atan2_into(np.ascontiguousarray(y).reshape(-1), np.ascontiguousarray(x).reshape(-1), out.reshape(-1))
    return out


def fast_sqrt(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """VLFeat's ``vl_fast_sqrt_f``: ``x * resqrt(x)`` with the bit-trick reciprocal square root
    (initial guess ``0x5f3759df - (bits >> 1)``, two Newton steps), 0 below 1e-8; float32.
    ``out`` (optional, contiguous float32, may be ``x``) receives the result."""
    x = np.ascontiguousarray(x, np.float32)
    if out is None:
        out = np.empty(x.shape, np.float32)
    elif (not isinstance(out, np.ndarray) or out.shape != x.shape or out.dtype != np.float32
          or not out.flags.c_contiguous):
        raise ValueError(f"out: expected a C-contiguous float32 array of shape {x.shape}, got "
                         f"{getattr(out, 'dtype', type(out).__name__)} {getattr(out, 'shape', '')}")
    _fast_sqrt_into(x.reshape(-1), out.reshape(-1), np.empty(x.size, np.float32))
    return out


@numba.njit(**_JIT)
def _planes_kernel(gray, num_orientations, vlfeat_math, out):  # pragma: no cover (compiled)
    """:func:`_orientation_planes_htw` row by row into ``out`` (H, T, W).

    Per pixel: VLFeat's gradient (central differences, one-sided on the border rows and
    columns); the orientation ``p`` in bin units and the magnitude ``m`` -- with
    ``vlfeat_math``, ``vl_fast_sqrt_f``, ``vl_fast_atan2_f``, ``vl_mod_2pi_f`` and the
    product with the double constant ``T / (2 pi)`` rounded to float, else exact ``sqrt``
    (0 below 1e-8, as VLFeat's) and ``atan2`` times ``float32(T / (2 pi))``, plus T where
    negative; then the split between planes.  VLFeat writes ``(1 - r) m`` into bin
    ``floor(p)`` and ``r m`` into bin ``floor(p) + 1`` (mod T), ``r = p - floor(p)``.  Here bin
    t's share is ``max(0, min(p - (t - 1), (t + 1) - p))`` (bin 0: ``max(0, 1 - p, p - (T -
    1))``): the same floats, since every subtraction involved is exact (Sterbenz), without a
    branch.  For ``t >= 2`` it is ``max(0, 1 - |p - t|)``, one operation fewer: where that is
    positive, ``p`` lies in ``(t - 1, t + 1)``, within a factor 2 of ``t``, so ``p - t`` is
    exact and ``1 - |p - t|`` is one of the two exact differences above; elsewhere ``|p - t|``
    rounds to 1 or more and the share to 0.  One orientation: VLFeat's second write wins,
    ``r m``."""
    h, w = gray.shape
    half = np.float32(0.5)
    scale = num_orientations / (2 * np.pi)          # a double, as VLFeat's numBinT / (2 pi)
    scale_f = np.float32(scale)
    n_t = np.float32(num_orientations)
    gx = np.empty(w, np.float32)
    gy = np.empty(w, np.float32)
    angle = np.empty(w, np.float32)
    magnitude = np.empty(w, np.float32)
    guess = np.empty(w, np.float32)
    for y in range(h):
        row = gray[y]
        if w > 1:                                   # central differences, one-sided on the borders
            gx[0] = row[1] - row[0]
            gx[w - 1] = row[w - 1] - row[w - 2]
            for x in range(1, w - 1):
                gx[x] = (row[x + 1] - row[x - 1]) * half
        else:
            gx[:] = 0
        if h == 1:
            gy[:] = 0
        elif y == 0 or y == h - 1:
            below, above = gray[min(y + 1, h - 1)], gray[max(y - 1, 0)]
            for x in range(w):
                gy[x] = below[x] - above[x]
        else:
            below, above = gray[y + 1], gray[y - 1]
            for x in range(w):
                gy[x] = (below[x] - above[x]) * half
        for x in range(w):
            magnitude[x] = gx[x] * gx[x] + gy[x] * gy[x]
        if vlfeat_math:
            _fast_sqrt_into(magnitude, magnitude, guess)
            _fast_atan2_into(gy, gx, angle)
            for x in range(w):                      # vl_mod_2pi_f, then times the double constant
                a = angle[x] + _TWO_PI_F if angle[x] < 0 else angle[x]
                angle[x] = np.float32(np.float64(a) * scale)
        else:
            for x in range(w):
                v = magnitude[x]
                magnitude[x] = np.sqrt(v) if v > _SQRT_CUT else np.float32(0)
                p = np.arctan2(gy[x], gx[x]) * scale_f
                angle[x] = p + n_t if math.copysign(np.float32(1), p) < 0 else p   # [-T/2, T/2] -> [0, T]
        planes = out[y]
        for t in range(num_orientations):
            dst = planes[t]
            if num_orientations == 1:               # VLFeat's second write wins: r m
                for x in range(w):
                    p = angle[x]
                    dst[x] = (p - np.float32(np.floor(p))) * magnitude[x]
            elif t == 0:
                last = np.float32(num_orientations - 1)
                for x in range(w):
                    p = angle[x]
                    v = max(np.float32(1) - p, p - last)
                    dst[x] = (v if v > 0 else np.float32(0)) * magnitude[x]
            elif t == 1:
                for x in range(w):
                    p = angle[x]
                    v = min(p, np.float32(2) - p)
                    dst[x] = (v if v > 0 else np.float32(0)) * magnitude[x]
            else:
                centre = np.float32(t)
                for x in range(w):
                    v = np.float32(1) - abs(angle[x] - centre)
                    dst[x] = (v if v > 0 else np.float32(0)) * magnitude[x]


@numba.njit(**_JIT)
def _running_triangle_kernel(buf, size, length, top, out_rows, inv, out, block):  # pragma: no cover (compiled)
    """The running sums of :func:`_vlfeat_triangle`, compiled: per block of ``block`` columns,
    every step one loop across the block's columns (the float operations of each column are
    VLFeat's, in VLFeat's order; only independent columns are interleaved)."""
    n = buf.shape[1]
    head = min(top + 1, length)
    for c0 in range(0, n, block):
        c1 = min(c0 + block, n)
        width = c1 - c0
        first = buf[size, c0:c1].copy()
        last = buf[length - 1 + size, c0:c1].copy()
        # backward integral, in place: row r += row r + 1
        for r in range(length - 2 + size, size - 1, -1):
            row, below = buf[r, c0:c1], buf[r + 1, c0:c1]
            for c in range(width):
                row[c] = below[c] + row[c]
        # continuity above the first row: the first value repeated `size` times
        for r in range(size - 1, -1, -1):
            row, below = buf[r, c0:c1], buf[r + 1, c0:c1]
            for c in range(width):
                row[c] = below[c] + first[c]
        # difference at lag `size` (row r + size is read before it is overwritten)
        for r in range(head):
            row, later = buf[r, c0:c1], buf[r + size, c0:c1]
            for c in range(width):
                row[c] = row[c] - later[c]
        # rows past the end continue the last value (VLFeat's tail)
        for r in range(length, top + 1):
            coef = np.float32(length - r)
            row = buf[r, c0:c1]
            for c in range(width):
                row[c] = row[c] - last[c] * coef
        # forward integral, as far as the outputs read
        for r in range(1, top + 1):
            row, above = buf[r, c0:c1], buf[r - 1, c0:c1]
            for c in range(width):
                row[c] = row[c] + above[c]
        # the last difference at lag `size`, scaled, at the output rows
        for i in range(out_rows.shape[0]):
            upper, lower, dst = buf[out_rows[i] + size, c0:c1], buf[out_rows[i], c0:c1], out[i, c0:c1]
            for c in range(width):
                dst[c] = (upper[c] - lower[c]) * inv


_TRIANGLE_BLOCK_VALUES = 1 << 17  # running sums in column blocks of ~512 KB (they stay in cache)


def _vlfeat_triangle(buf: np.ndarray, size: int, at: tuple[int, int, int, int, int], name: str) -> np.ndarray:
    """VLFeat's ``vl_imconvcoltri_f`` along axis 0, padding by continuity, read at the rows ``at``.

    Convolution with the unit-area triangle ``(size - |t|) / size^2``, ``|t| < size``, done
    as VLFeat does it, by running sums in float32: integrate each column backwards (the
    first value repeated ``size`` times above it), difference at lag ``size``, integrate
    forwards, difference at lag ``size`` again and scale by ``float32(1 / size^2)``.  The
    same float operations in the same order give VLFeat's values bit for bit, including the
    rounding residue of the running sums (differences of sums that are large next to the
    result).  Where the true value is tiny -- flat or saturated patches beside strong
    edges -- that residue is most of VLFeat's value, and a descriptor made of such bins is
    normalised to unit length: only this arithmetic reproduces it.  The sums run compiled
    (:func:`_running_triangle_kernel`), every step one loop across the columns: as numpy
    calls, one per row and step, they cost ~0.3 us each, most of the time on small images.

    Parameters
    ----------
    buf : ndarray of shape (size + L, N), float32, C-contiguous
        ``N`` independent signals of length ``L`` (columns) in rows ``size`` on; the sums
        are run in place (VLFeat's ``buffer[k]`` is ``buf[k + size]``), overwriting them.
    size : int
        Triangle half-width (VLFeat's ``filterSize``; the bin size).
    at : (start, stride, count, shift, shifts)
        Output rows ``start + stride * j + shift * k`` for ``j < count``, ``k < shifts``
        (j-major), each in [0, L): a lattice of rows (``shifts = 1``), or the columns of the
        bins of a row of descriptors.
    name : str
        Workspace buffer name for the output.

    Returns
    -------
    ndarray of shape (count * shifts, N), float32 (a workspace buffer)
    """
    length, n = buf.shape[0] - size, buf.shape[1]
    start, stride, count, shift, shifts = at
    out_rows = (start + stride * np.arange(count)[:, None] + shift * np.arange(shifts)[None, :]).ravel()
    if out_rows.size and not 0 <= out_rows.min() <= out_rows.max() < length:     # (the kernel does not check)
        raise ValueError(f"output rows {out_rows.min()}..{out_rows.max()} outside the {length} rows of the signal")
    top = int(out_rows[-1]) + size                     # last row of the forward integral any output reads
    out = _WORKSPACE.get(name + "_out", (count * shifts, n))
    block = max(16, _TRIANGLE_BLOCK_VALUES // buf.shape[0] // 16 * 16)
    _running_triangle_kernel(buf, size, length, top, out_rows, np.float32(1.0 / (size * size)), out, block)
    return out


def orientation_planes(gray: np.ndarray, num_orientations: int = 8, *, vlfeat_math: bool = False,
                       out: np.ndarray | None = None) -> np.ndarray:
    """Gradient magnitude split into orientation planes (steps 1-2 of the module docstring).

    Parameters
    ----------
    gray : ndarray of shape (H, W), float32
    num_orientations : int
    vlfeat_math : bool
        Use VLFeat's approximations of ``atan2`` and ``sqrt`` (:func:`fast_atan2`,
        :func:`fast_sqrt`) and its float arithmetic, instead of exact math.
    out : ndarray of shape (H, W, num_orientations), float32, optional
        Where to write the result.

    Returns
    -------
    ndarray of shape (H, W, num_orientations), float32
        ``out[y, x, t]``: the share of pixel (x, y)'s gradient magnitude in orientation
        bin t.  As an OpenCV image with ``num_orientations`` channels, one filter call
        smooths all planes.
    """
    gray = np.ascontiguousarray(gray, np.float32)
    h, w = gray.shape
    if out is None:
        out = np.empty((h, w, num_orientations), np.float32)
    out[...] = _orientation_planes_htw(gray, num_orientations, vlfeat_math).transpose(0, 2, 1)
    return out


def _bin_offsets(bin_size: int, num_bins: int) -> np.ndarray:
    return np.float32(bin_size) * (np.arange(num_bins, dtype=np.float32) - np.float32(0.5 * (num_bins - 1)))


@functools.lru_cache(maxsize=64)
def _window(bin_size: int, num_bins: int, window_size: float) -> np.ndarray:
    """exp(-(x - d_i)^2 / 2 sigma^2) for x in -(b-1)..(b-1), one row per bin i; float32
    (cached: treat as read-only)."""
    x = np.arange(-bin_size + 1, bin_size, dtype=np.float32)
    sigma = np.float32(bin_size) * np.float32(window_size)
    z = (x[None, :] - _bin_offsets(bin_size, num_bins)[:, None]) / sigma
    window = np.exp(np.float32(-0.5) * z * z)
    window.setflags(write=False)
    return window


@functools.lru_cache(maxsize=64)
def _triangle(bin_size: int) -> np.ndarray:
    """1 - |x| / bin_size for x in -(b-1)..(b-1); float32 (cached: treat as read-only)."""
    x = np.arange(-bin_size + 1, bin_size, dtype=np.float32)
    triangle = np.float32(1) - np.abs(x) / np.float32(bin_size)
    triangle.setflags(write=False)
    return triangle


@functools.lru_cache(maxsize=64)
def _flat_weights(bin_size: int, num_bins: int, window_size: float, num_orientations: int,
                  running_sums: bool) -> np.ndarray:
    """The flat window's weight of each descriptor entry, (num_bins, num_bins * num_orientations)
    float32, bin (bx, by) weighted ``w[by] * w[bx]`` (cached: read-only).

    VLFeat: the bin's share of the window is its mean over the bin; the unit-area triangle of
    the running-sum filter (``running_sums``) is rescaled to unit height by the bin size.
    """
    w = _window(bin_size, num_bins, window_size).mean(axis=1, dtype=np.float32)
    if running_sums:
        w = w * np.float32(bin_size)
    weights = (w[:, None, None] * w[None, :, None] * np.ones((1, 1, num_orientations), np.float32))
    weights = weights.reshape(num_bins, num_bins * num_orientations)
    weights.setflags(write=False)
    return weights


_ONE = np.ones(1, np.float32)


def _smooth(planes: np.ndarray, kernel: np.ndarray, axis: int, name: str) -> np.ndarray:
    """Convolve (H, W, T) planes along ``axis`` (0: y, 1: x), padding by continuity, into
    the workspace buffer ``name``.  (cv2 correlates and VLFeat convolves: flip.)

    Along y the columns are independent, and the planes are filtered as one channel of
    ``W T`` columns: OpenCV's 8-channel path is about twice as slow for the same sums.
    """
    planes = np.ascontiguousarray(planes)
    flipped = kernel[::-1].copy()
    dst = _WORKSPACE.get(name, planes.shape)
    if axis == 0:
        result = cv2.sepFilter2D(planes.reshape(planes.shape[0], -1), cv2.CV_32F, _ONE, flipped,
                                 dst=dst.reshape(planes.shape[0], -1), borderType=cv2.BORDER_REPLICATE)
    else:
        result = cv2.sepFilter2D(planes, cv2.CV_32F, flipped, _ONE, dst=dst, borderType=cv2.BORDER_REPLICATE)
    return result.reshape(planes.shape)


def _bin_lattice(grid: DenseGrid) -> tuple[np.ndarray, int, int, int]:
    """Image rows that the bins read, and where bin row ``by`` of descriptor row ``i`` is
    among them: ``row0 + by * row_shift + row_step * i``.  With ``bin_size`` a multiple of
    ``step`` every bin centre is on the lattice ``y0 + step m``; otherwise all rows from
    the first bin centre to the last."""
    nb, b, step = grid.num_bins, grid.bin_size, grid.step
    if b % step == 0:
        n_rows = grid.ny + (nb - 1) * (b // step)
        return grid.y0 + step * np.arange(n_rows), 0, 1, b // step
    n_rows = step * (grid.ny - 1) + b * (nb - 1) + 1
    return grid.y0 + np.arange(n_rows), 0, step, b


def _bin_columns(grid: DenseGrid) -> np.ndarray:
    """Image column of bin ``bx`` of descriptor column ``j`` at position ``j * num_bins + bx``."""
    return (grid.x0 + grid.step * np.arange(grid.nx)[:, None]
            + grid.bin_size * np.arange(grid.num_bins)[None, :]).ravel()


_CV_TRANSPOSE_SIZES = (4, 8, 12, 16, 24, 32)   # float32 elements of 1, 2, 3, 4, 6, 8 channels


def _transpose(matrix: np.ndarray, name: str, pad: int = 0) -> np.ndarray:
    """Transpose the first two axes of a C-contiguous (A, B) or (A, B, C) float32 array into a
    workspace buffer (OpenCV for the element sizes it supports), below ``pad`` spare rows:
    returns the (B, A, ...) view, the buffer itself is ``(pad + B, A, ...)``."""
    shape = (matrix.shape[1], matrix.shape[0]) + matrix.shape[2:]
    out = _WORKSPACE.get(name, (pad + shape[0],) + shape[1:])[pad:]
    if matrix.ndim == 2 or matrix.shape[2] * matrix.itemsize in _CV_TRANSPOSE_SIZES:
        result = cv2.transpose(matrix, dst=out)
        if result is not out:
            out[...] = result.reshape(shape)
    else:
        out[...] = matrix.swapaxes(0, 1)
    return out


def _orientation_planes_htw(gray: np.ndarray, num_orientations: int, vlfeat_math: bool, pad: int = 0) -> np.ndarray:
    """Orientation planes laid out (H, T, W) (row y: T planes of W values), float32, below
    ``pad`` spare rows: returns the (H, T, W) view of a (pad + H, T, W) workspace buffer.

    VLFeat's ``vl_dsift_process`` loop, compiled (:func:`_planes_kernel`); with
    ``vlfeat_math`` in VLFeat's float32 operations (the planes equal VLFeat's bit for bit).
    ``gray``: C-contiguous float32 (H, W)."""
    h, w = gray.shape
    planes = _WORKSPACE.get("planes_htw", (pad + h, num_orientations, w))[pad:]
    _planes_kernel(gray, num_orientations, bool(vlfeat_math), planes)
    return planes


def _flat_bins_vlfeat(gray: np.ndarray, grid: DenseGrid, num_orientations: int):
    """Flat-window spatial binning as VLFeat computes it, bit for bit.

    Orientation planes in VLFeat's fast math (:func:`_orientation_planes_htw`), then VLFeat's
    running-sum triangle filter (:func:`_vlfeat_triangle`) along y for every column, and
    along x on the rows the bins read.  Both passes matter: each leaves in every bin a
    rounding residue of ~1e-7 of the column's or row's total, and in a near-empty
    descriptor (a flat or saturated patch crossed by rows and columns with strong edges)
    that residue is what VLFeat normalises to unit length.

    Returns ``expanded`` (rows, nx, num_bins * T) as :class:`_SharedKernelBins` takes it,
    and the row geometry.
    """
    h, w = gray.shape
    t = num_orientations
    b = grid.bin_size
    _orientation_planes_htw(gray, t, True, pad=b)       # into rows b.. of the "planes_htw" buffer
    rows, row0, row_step, row_shift = _bin_lattice(grid)
    n_rows = len(rows)
    padded = _WORKSPACE.get("planes_htw", (b + h, t, w)).reshape(b + h, t * w)
    lattice = (int(rows[0]), int(rows[1] - rows[0]) if n_rows > 1 else 1, n_rows, 0, 1)
    along_y = _vlfeat_triangle(padded, b, lattice, "tri_y")                               # (R, T * W)
    _transpose(along_y.reshape(n_rows * t, w), "tri_yt", pad=b)                           # (W, R * T)
    padded = _WORKSPACE.get("tri_yt", (b + w, n_rows * t))
    columns = (grid.x0, grid.step, grid.nx, b, grid.num_bins)                             # bin bx of column j
    along_x = _vlfeat_triangle(padded, b, columns, "tri_x")                               # (nx * nb, R * T)
    expanded = _transpose(along_x.reshape(grid.nx * grid.num_bins, n_rows, t), "expanded")  # (R, nx * nb, T)
    return expanded.reshape(n_rows, grid.nx, grid.num_bins * t), row0, row_step, row_shift


def _flat_bins_opencv(planes: np.ndarray, grid: DenseGrid, kernel: np.ndarray):
    """Flat-window spatial binning with OpenCV's separable filter (exact math); same output
    as :func:`_flat_bins_vlfeat`."""
    nb, b, step = grid.num_bins, grid.bin_size, grid.step
    t = planes.shape[2]
    smoothed_y = _smooth(planes, kernel, 0, "smooth_y")  # (two 1-D passes: faster than OpenCV's 2-D call)
    if b % step == 0:  # bin centres on the lattice (x0 + step j, y0 + step i): smooth fewer rows
        rows, row0, row_step, row_shift = _bin_lattice(grid)
        smoothed = _smooth(smoothed_y[rows[0]: rows[-1] + 1: step], kernel, 1, "smooth_x")
    else:
        smoothed = _smooth(smoothed_y, kernel, 1, "smooth_x")
        row0, row_step, row_shift = grid.y0, step, b
    columns = _bin_columns(grid)
    expanded = _WORKSPACE.get("expanded", (smoothed.shape[0], len(columns), t))
    np.take(smoothed, columns, axis=1, out=expanded, mode="clip")
    return expanded.reshape(smoothed.shape[0], grid.nx, nb * t), row0, row_step, row_shift


class _SharedKernelBins:
    """Spatial binning when every bin uses the same kernels (the flat window).

    ``expanded[r, j, bx * T + t]`` is the smoothed plane t at bin row r and at the column of
    bin bx of descriptor column j: the four bins of descriptor column j side by side.  Bin
    row ``by`` of descriptor row i is then ``expanded[row0 + by * row_shift + row_step * i]``
    times the bin weights: one strided copy with runs of ``num_bins * T`` contiguous values
    and one product with the weights write the descriptors.
    """

    def __init__(self, expanded, row0: int, row_step: int, row_shift: int, grid: DenseGrid, weights):
        self.expanded = expanded
        self.row0, self.row_step, self.row_shift = row0, row_step, row_shift
        self.weights = weights          # (nb, nb * T): entry (by, bx * T + t)
        self.grid = grid

    def fill(self, blocks, i0, i1):
        """Write bins of descriptor rows i0..i1-1 into ``blocks`` (i1-i0, nx, nb, nb, T)."""
        nb, nx = self.grid.num_bins, self.grid.nx
        run = self.expanded.shape[2]
        item = self.expanded.itemsize
        # One copy through a 4-D view (descriptor row, column, bin row, run): far fewer
        # iterator steps than a copy per bin row, and numpy copies runs of contiguous
        # values ~3x faster than it multiplies them (the weights follow on whole rows).
        view = np.ndarray((i1 - i0, nx, nb, run), np.float32, buffer=self.expanded,
                          offset=(self.row0 + self.row_step * i0) * nx * run * item,
                          strides=(self.row_step * nx * run * item, run * item, self.row_shift * nx * run * item, item))
        flat = blocks.reshape(i1 - i0, nx, nb, run)
        flat[...] = view
        flat *= self.weights


class _PerBinKernelBins:
    """Spatial binning with a different kernel per bin (the Gaussian window)."""

    def __init__(self, planes, grid: DenseGrid, y_kernels, x_kernels):
        nb, b, step = grid.num_bins, grid.bin_size, grid.step
        ys = grid.y0 + step * np.arange(grid.ny)
        xs = grid.x0 + step * np.arange(grid.nx)
        self.full = np.empty((grid.ny, grid.nx, nb, nb, planes.shape[2]), np.float32)
        rows = _WORKSPACE.get("rows", (grid.ny,) + planes.shape[1:])
        for by in range(nb):
            np.take(_smooth(planes, y_kernels[by], 0, "smooth_y"), ys + by * b, axis=0, out=rows, mode="clip")
            for bx in range(nb):
                self.full[:, :, by, bx, :] = _smooth(rows, x_kernels[bx], 1, "smooth_x")[:, xs + bx * b]

    def fill(self, blocks, i0, i1):
        blocks[...] = self.full[i0:i1]


def _squared_norms(rows: np.ndarray) -> np.ndarray:
    """``sum(rows ** 2, axis=1)`` of a float32 (n, d) array without a temporary (n, d) array.

    numpy 2's ``vecdot`` and older numpy's ``einsum`` sum in different orders: the last bit
    of a descriptor can differ between the two (far below the agreement with VLFeat)."""
    if hasattr(np, "vecdot"):       # numpy >= 2: a dot product per row, ~2x einsum's speed
        return np.vecdot(rows, rows)
    return np.einsum("ij,ij->i", rows, rows)


def _normalize(descriptors: np.ndarray) -> np.ndarray:
    """L2-normalise, clamp at 0.2, L2-normalise, in place.

    VLFeat divides by ``n1 = sqrt(sum d^2) + eps``, clamps at 0.2 and divides by
    ``n2 = sqrt(sum clamped^2) + eps``, where its square root returns 0 below 1e-8.  The
    same result (to float rounding) takes fewer passes: ``m = min(d, 0.2 n1)`` scaled by
    ``1 / (||m|| + eps n1)`` (keeping the 1e-8 cut-off of the first norm; VLFeat's second
    cut-off only acts on descriptors of entries below ~1e-11).
    """
    squared = _squared_norms(descriptors)
    n1 = np.where(squared < np.float32(1e-8), np.float32(0), np.sqrt(squared)) + VL_EPSILON_F
    np.minimum(descriptors, (CLAMP * n1)[:, None], out=descriptors)
    n2 = np.sqrt(_squared_norms(descriptors)) + VL_EPSILON_F * n1
    descriptors *= (np.float32(1) / n2)[:, None]
    return descriptors


def dense_sift(image, *, step: int = 4, bin_size: int = 8, bounds=None, fast: bool = True,
               window_size: float = 2.0, num_bins: int = 4, num_orientations: int = 8,
               contrast_threshold: float | None = None, vlfeat_math: bool | None = None,
               out: np.ndarray | None = None):
    """Dense SIFT descriptors of a grayscale image, as VLFeat's ``vl_dsift``.

    Parameters
    ----------
    image : array_like of shape (H, W)
        Grayscale; uint8 (scaled by 1/255) or float in [0, 1].  No smoothing is applied
        (as in VLFeat: pre-smooth for a given scale, or use :func:`phow`).
    step : int
        Sampling step in pixels (both directions).
    bin_size : int
        Width of a spatial bin in pixels.
    bounds : (x_min, y_min, x_max, y_max), optional
        Inclusive 0-based bounds of the bin centres.
    fast : bool
        Flat window (``vl_dsift(..., 'Fast')``) when True, Gaussian window otherwise.
    window_size : float
        Gaussian window sigma in units of bins (VLFeat's ``WindowSize``; default 2).
    num_bins, num_orientations : int
        Descriptor geometry (4 x 4 x 8 = 128 by default).
    contrast_threshold : float, optional
        Descriptors whose contrast (frame column 2) is below it are set to zero.
    vlfeat_math : bool or None
        VLFeat's arithmetic (fast ``atan2``/``sqrt``, running sums; see the module
        docstring) when True or None (default); exact math and OpenCV's filters when False.
    out : ndarray of shape (n, num_bins**2 * num_orientations), float32, optional
        Where to write the descriptors (rows must be contiguous; e.g. a column block of a
        wider array); ``n`` is given by :func:`dense_grid`.

    Returns
    -------
    frames : ndarray of shape (n, 4), float64
        ``x, y, contrast, bin_size`` per descriptor, row-major over the grid (x fastest).
    descriptors : ndarray of shape (n, num_bins**2 * num_orientations), float32
        Unit L2 norm (or zero).
    """
    step = check_positive_int(step, "step")
    bin_size = check_positive_int(bin_size, "bin_size")
    num_bins = check_positive_int(num_bins, "num_bins")
    num_orientations = check_positive_int(num_orientations, "num_orientations")
    window_size = check_positive_real(window_size, "window_size")
    gray = as_float_image(image)
    grid = dense_grid(*gray.shape, step=step, bin_size=bin_size, num_bins=num_bins, bounds=bounds)
    return _dense_sift(gray, grid, fast=fast, window_size=window_size, num_orientations=num_orientations,
                       contrast_threshold=contrast_threshold, vlfeat_math=vlfeat_math, out=out)


def _dense_sift(gray: np.ndarray, grid: DenseGrid, *, fast: bool, window_size: float, num_orientations: int,
                contrast_threshold, vlfeat_math, out):
    """:func:`dense_sift` on a validated float32 image and grid."""
    bin_size, num_bins = grid.bin_size, grid.num_bins
    n, dim = grid.ny * grid.nx, num_bins * num_bins * num_orientations
    if out is None:
        descriptors = np.empty((n, dim), np.float32)
    else:
        if out.shape != (n, dim) or out.dtype != np.float32 or (out.size and out.strides[1] != 4):
            raise ValueError(f"out: expected a float32 array of shape {(n, dim)} with contiguous rows, "
                             f"got {out.dtype} {out.shape}")
        descriptors = out
    if n == 0:
        return np.zeros((0, 4)), descriptors
    if vlfeat_math is None:
        vlfeat_math = True
    triangle = _triangle(bin_size)
    window = _window(bin_size, num_bins, window_size)
    if fast:
        if vlfeat_math:
            layout = _flat_bins_vlfeat(gray, grid, num_orientations)
        else:
            planes = orientation_planes(gray, num_orientations, vlfeat_math=vlfeat_math,
                                        out=_WORKSPACE.get("planes", gray.shape + (num_orientations,)))
            layout = _flat_bins_opencv(planes, grid, triangle)
        bins = _SharedKernelBins(*layout, grid, _flat_weights(bin_size, num_bins, window_size, num_orientations,
                                                               vlfeat_math))
    else:
        planes = orientation_planes(gray, num_orientations, vlfeat_math=vlfeat_math,
                                    out=_WORKSPACE.get("planes", gray.shape + (num_orientations,)))
        kernels = [triangle * window[i] for i in range(num_bins)]
        bins = _PerBinKernelBins(planes, grid, kernels, kernels)
    contrast = np.empty(n, np.float32)
    ones = np.ones(dim, np.float32)
    rows_per_chunk = max(1, _CHUNK_VALUES // (grid.nx * dim))
    for i0 in range(0, grid.ny, rows_per_chunk):
        i1 = min(grid.ny, i0 + rows_per_chunk)
        chunk = descriptors[i0 * grid.nx: i1 * grid.nx]
        bins.fill(chunk.reshape(i1 - i0, grid.nx, num_bins, num_bins, num_orientations), i0, i1)
        np.matmul(chunk, ones, out=contrast[i0 * grid.nx: i1 * grid.nx])
        _normalize(chunk)
    contrast /= np.float32(grid.span * grid.span)
    if contrast_threshold is not None:
        descriptors[contrast < contrast_threshold] = 0
    frames = np.empty((len(descriptors), 4))
    frames[:, :2] = _frame_centers(grid)
    frames[:, 2] = contrast
    frames[:, 3] = bin_size
    return frames, descriptors


@functools.lru_cache(maxsize=16)
def _frame_centers(grid: DenseGrid) -> np.ndarray:
    """``x, y`` of every descriptor, row-major over the grid, (n, 2) float64 (cached: read-only)."""
    xs, ys = grid.centers()
    centers = np.empty((grid.ny, grid.nx, 2))
    centers[:, :, 0] = xs[None, :]
    centers[:, :, 1] = ys[:, None]
    centers = centers.reshape(-1, 2)
    centers.setflags(write=False)
    return centers


def smooth_gaussian(image, sigma: float) -> np.ndarray:
    """Gaussian smoothing as MATLAB's ``vl_imsmooth(I, sigma)`` (what ``vl_phow`` calls).

    Kernel ``exp(-z^2 / 2)``, ``z = j / (sigma + 1.19e-7)`` for ``j = -W..W``,
    ``W = ceil(4 sigma)``, normalised to unit sum; padding by continuity; applied to each
    channel.  ``sigma < 0.01`` returns the image unchanged.  (VLFeat's C function
    ``vl_imsmooth_f`` truncates at ``3 sigma`` instead.)

    Parameters
    ----------
    image : array_like of shape (H, W) or (H, W, C)
    sigma : float

    Returns
    -------
    ndarray of the same shape, float32
    """
    im = np.ascontiguousarray(image, np.float32)
    if sigma < 0.01:
        return im.copy()
    half = int(np.ceil(4.0 * sigma))
    z = (np.arange(2 * half + 1, dtype=np.float32) - np.float32(half)) / (np.float32(sigma) + VL_EPSILON_F)
    kernel = np.exp(np.float32(-0.5) * z * z)
    kernel /= kernel.sum(dtype=np.float32)
    out = cv2.sepFilter2D(im, cv2.CV_32F, kernel, kernel, borderType=cv2.BORDER_REPLICATE)
    return out.reshape(im.shape)


PHOW_COLORS = ("gray", "rgb", "hsv", "opponent")


def phow(image, *, sizes=(4, 6, 8, 10), step: int = 2, color: str = "gray", fast: bool = True,
         window_size: float = 1.5, magnif: float = 6.0, contrast_threshold: float = 0.005,
         vlfeat_math: bool | None = None):
    """Pyramid histogram of visual words features: dense SIFT at several bin sizes, as ``vl_phow``.

    For each bin size ``s``: the image is smoothed with :func:`smooth_gaussian` of sigma
    ``s / magnif``, dense SIFT is extracted on every channel with bounds offset by
    ``floor(1 + 1.5 (max(sizes) - s)) - 1`` so that all sizes share their descriptor
    centres (exactly so when all sizes are even, or all odd), and descriptors whose
    contrast is below ``contrast_threshold`` are zeroed (on every channel; the contrast is
    that of the intensity channel for gray/opponent, the mean of the three for rgb, and
    of V for hsv).

    Parameters
    ----------
    image : array_like of shape (H, W) or (H, W, 3)
        uint8 or float in [0, 1]; RGB channel order.  A gray image is replicated for the
        colour variants; a colour image is converted with MATLAB's ``rgb2gray`` for gray.
    sizes : sequence of int
        Bin sizes (``vl_phow`` default 4, 6, 8, 10).
    step : int
        Sampling step (``vl_phow`` default 2; ``phow_caltech101`` uses 3).
    color : {"gray", "rgb", "hsv", "opponent"}
    fast, window_size, vlfeat_math :
        As :func:`dense_sift` (``vl_phow`` uses the flat window and window size 1.5).
    magnif : float
        Smoothing sigma is ``size / magnif``.
    contrast_threshold : float

    Returns
    -------
    frames : ndarray of shape (n, 4), float64
        ``x, y, contrast, size`` (as ``vl_phow``'s FRAMES, 0-based), sizes in order.
    descriptors : ndarray of shape (n, 128 * channels), float32
        Channel descriptors concatenated (gray: 128, colour: 384).
    """
    from .color import rgb_to_gray, rgb_to_hsv, rgb_to_opponent

    check_choice(color, "color", PHOW_COLORS)
    sizes = [check_positive_int(s, "sizes") for s in np.atleast_1d(sizes).tolist()]
    step = check_positive_int(step, "step")
    magnif = check_positive_real(magnif, "magnif")
    window_size = check_positive_real(window_size, "window_size")
    im = as_float_image(image, channels=None)
    if color == "gray":
        channels = (rgb_to_gray(im) if im.ndim == 3 else im)[:, :, None]
    else:
        rgb = im if im.ndim == 3 else np.repeat(im[:, :, None], 3, axis=2)
        channels = {"rgb": lambda x: x, "hsv": rgb_to_hsv, "opponent": rgb_to_opponent}[color](rgb)
    largest = max(sizes)
    h, w, n_channels = channels.shape
    offsets = [int(np.floor(1 + 1.5 * (largest - size))) - 1 for size in sizes]  # vl_phow's 1-based bound, 0-based
    grids = [dense_grid(h, w, step=step, bin_size=size, bounds=(off, off, np.inf, np.inf))
             for size, off in zip(sizes, offsets)]
    counts = [g.nx * g.ny for g in grids]
    frames = np.empty((sum(counts), 4))
    descriptors = np.empty((sum(counts), 128 * n_channels), np.float32)
    start = 0
    for size, grid, count in zip(sizes, grids, counts):
        if count == 0:  # VLFeat: a size whose descriptor does not fit gives none
            continue
        rows = slice(start, start + count)
        smoothed = smooth_gaussian(channels, size / magnif).reshape(channels.shape)
        contrasts = []
        for k in range(n_channels):
            f, _ = _dense_sift(np.ascontiguousarray(smoothed[:, :, k]), grid, fast=fast, window_size=window_size,
                               num_orientations=8, contrast_threshold=None, vlfeat_math=vlfeat_math,
                               out=descriptors[rows, 128 * k: 128 * (k + 1)])
            contrasts.append(f[:, 2])
            if k == 0:
                frames[rows] = f
        if color == "rgb":
            frames[rows, 2] = np.mean(contrasts, axis=0)
        elif color == "hsv":
            frames[rows, 2] = contrasts[2]
        frames[rows, 3] = size
        low = np.flatnonzero(frames[rows, 2] < contrast_threshold)
        descriptors[start + low] = 0
        start += count
    return frames, descriptors


def to_vlfeat_uint8(descriptors) -> np.ndarray:
    """VLFeat's byte descriptors: ``min(floor(512 d), 255)`` as uint8 (``vl_dsift`` default output)."""
    d = np.asarray(descriptors, np.float32)
    return np.minimum(d * np.float32(512), np.float32(255)).astype(np.uint8)
