"""Dense SIFT as the spatial-pyramid authors computed it (Lazebnik, Schmid & Ponce, CVPR 2006).

The descriptor of the public *Spatial Pyramid* code (``GenerateSiftDescriptors`` with
``sp_find_sift_grid`` and ``sp_normalize_sift``), which produced the paper's Caltech-101
numbers, and which the LLC code of Wang et al. (CVPR 2010) reuses.  It differs from
VLFeat's ``vl_dsift`` (:mod:`features.dsift`) in four ways that change the words a
vocabulary learns:

1. **Gradients.**  The grey image ``I`` in [0, 1] is correlated, with zeros outside the
   image (MATLAB ``filter2(G, I, 'same')``), with the derivatives of a 5 x 5 Gaussian of
   ``sigma_edge = 0.8``: ``G = g g^T`` with ``g(k) = exp(-k^2 / (2 sigma^2)) / Z``,
   ``k = -2..2``; ``G_x = gradient(G)`` along x (central differences, one-sided at the
   ends) scaled so that ``sum |G_x| = 2``, and ``G_y`` likewise.  The filter is separable:
   ``I_x = I (*) (g ⊗ dg) 2 / (sum g sum |dg|)`` with ``dg = gradient(g)``.  (Correlating
   with a derivative filter flips the sign: ``I_x`` points to *decreasing* intensity; the
   zero padding makes the image border an edge.)
2. **Orientations.**  Eight channels ``O_a = max(0, cos(theta - a))^9 |grad I|`` for
   ``a = k pi / 4``, ``theta = atan2(I_y, I_x)``: a smooth angular kernel instead of
   VLFeat's linear split between the two nearest bins.
3. **Spatial bins.**  A patch of ``P = 16`` pixels whose top-left pixel is ``(x0, y0)``;
   bin centres at pixel offsets ``c_b = (P - 1) / 2 + (P / 2) (-3/4, -1/4, 1/4, 3/4)``
   (1.5, 5.5, 9.5, 13.5), each pixel ``(x0 + u, y0 + v)``, ``0 <= u, v < P``, weighted by
   ``w_bx(u) w_by(v)`` with ``w_b(u) = max(0, 1 - |u - c_b| / s)``, ``s = P / 4``: bilinear
   weights cut at the patch's edge, no Gaussian window.
4. **Normalisation.**  Only descriptors whose L2 norm exceeds 1 are normalised (then
   clamped at 0.2 and normalised again); weaker ones -- flat and low-contrast patches --
   are kept as they are, small, so that they gather in a few "empty" words.

The grid is the code's: ``x0 = floor(((W - P) mod step) / 2) + step k`` while
``x0 <= W - P`` (0-based), rows likewise, so every patch lies inside the image; frames are
the patch centres ``x0 + (P - 1) / 2``, row by row (the code lists them column by column).
Descriptors are laid out as VLFeat's, element ``t + 8 (bx + 4 by)`` (the code stores
``a + 8 (by + 4 bx)``), and orientation ``t`` is VLFeat's: the direction ``t pi / 4`` of
*increasing* intensity, y pointing down, i.e. the code's channel ``a = (t + 4) mod 8``
(its ``I_x, I_y`` point the other way).  The same numbers, permuted, so that every tool of
the suite (pictures of descriptors included) reads them as it reads ``vl_dsift``'s.
Computation is separable: each bin column's weights along x on the pixel columns of the
grid, then each bin row's along y.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from ._validation import as_float_image, check_positive_int, check_positive_real

NUM_ANGLES = 8
NUM_BINS = 4
ALPHA = 9


def gradient_filters(sigma_edge: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """The 1-D factors of the authors' derivative-of-Gaussian filter ``G_x = g ⊗ dg``.

    Returns
    -------
    smooth, derivative : ndarray of shape (4 ceil(sigma) + 1,), float64
        ``G_x[i, j] = smooth[i] derivative[j]`` (``G_y`` is its transpose), scaled so that
        ``sum |G_x| = 2``.
    """
    sigma_edge = check_positive_real(sigma_edge, "sigma_edge")
    half = 2 * math.ceil(sigma_edge)
    k = np.arange(-half, half + 1, dtype=np.float64)
    g = np.exp(-k * k / (2 * sigma_edge * sigma_edge))
    g /= g.sum()
    dg = np.gradient(g)                 # MATLAB gradient: central inside, one-sided at the ends
    return g, dg * (2.0 / (g.sum() * np.abs(dg).sum()))


def bin_weights(patch_size: int = 16, num_bins: int = NUM_BINS) -> np.ndarray:
    """``w[b, u]``: weight of pixel offset ``u`` of a patch in spatial bin ``b`` (item 3 of
    the module docstring); shape (num_bins, patch_size), float64."""
    r = patch_size / 2
    centres = (patch_size - 1) / 2 + r * (np.arange(1, num_bins + 1) * 2 / num_bins - (1 / num_bins + 1))
    spacing = 2 * r / num_bins
    distance = np.abs(np.arange(patch_size)[None, :] - centres[:, None]) / spacing
    return np.where(distance <= 1, 1 - distance, 0.0)


def patch_grid(height: int, width: int, step: int, patch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-left corners (0-based) of the patches along y and x: the authors' centred grid."""
    def axis(n):
        if n < patch_size:
            return np.zeros(0, np.int64)
        first = ((n - patch_size) % step) // 2
        return np.arange(first, n - patch_size + 1, step, dtype=np.int64)
    return axis(height), axis(width)


def orientation_channels(gray: np.ndarray, sigma_edge: float = 0.8) -> np.ndarray:
    """``O[y, x, a] = max(0, cos(theta - a pi / 4))^9 |grad I|`` (items 1-2); (H, W, 8) float32."""
    smooth, derivative = gradient_filters(sigma_edge)
    image = np.asarray(gray, np.float32)
    # cv2 correlates, as filter2 does; zeros outside the image
    gx = cv2.sepFilter2D(image, cv2.CV_32F, derivative.astype(np.float32), smooth.astype(np.float32),
                         borderType=cv2.BORDER_CONSTANT)
    gy = cv2.sepFilter2D(image, cv2.CV_32F, smooth.astype(np.float32), derivative.astype(np.float32),
                         borderType=cv2.BORDER_CONSTANT)
    magnitude = np.sqrt(gx * gx + gy * gy)
    safe = np.where(magnitude > 0, magnitude, np.float32(1))
    cos_t, sin_t = gx / safe, gy / safe
    out = np.empty(image.shape + (NUM_ANGLES,), np.float32)
    for a in range(NUM_ANGLES):
        angle = 2 * math.pi * a / NUM_ANGLES
        c = np.maximum(cos_t * np.float32(math.cos(angle)) + sin_t * np.float32(math.sin(angle)), 0)
        c2 = c * c
        c4 = c2 * c2
        out[..., a] = c4 * c4 * c * magnitude
    return out


def normalize_descriptors(descriptors: np.ndarray, norms: np.ndarray | None = None) -> np.ndarray:
    """``sp_normalize_sift`` in place: rows of L2 norm above 1 are normalised, clamped at 0.2
    and normalised again; the others are left as they are.  ``norms`` (optional): the rows'
    L2 norms, when already known."""
    if norms is None:
        norms = np.sqrt(np.einsum("ij,ij->i", descriptors, descriptors))
    strong = norms > 1
    rows = descriptors[strong] / norms[strong, None]
    np.minimum(rows, np.float32(0.2), out=rows)
    rows /= np.sqrt(np.einsum("ij,ij->i", rows, rows))[:, None]
    descriptors[strong] = rows
    return descriptors


def spatial_pyramid_sift(image, *, step: int = 8, patch_size: int = 16, sigma_edge: float = 0.8):
    """The spatial-pyramid authors' dense SIFT of a grey image (see the module docstring).

    Parameters
    ----------
    image : array_like of shape (H, W)
        Grayscale; uint8 (scaled by 1/255) or float in [0, 1].
    step : int
        Grid spacing in pixels (the paper: 8).
    patch_size : int
        Side of the square patch in pixels, a multiple of 4 (the paper: 16).
    sigma_edge : float
        Sigma of the derivative-of-Gaussian filter (the code: 0.8).

    Returns
    -------
    frames : ndarray of shape (n, 4), float64
        ``x, y`` of the patch centre (0-based), the descriptor's L2 norm before
        normalisation, and the bin size ``patch_size / 4``; rows row-major over the grid.
    descriptors : ndarray of shape (n, 128), float32
    """
    step = check_positive_int(step, "step")
    patch_size = check_positive_int(patch_size, "patch_size")
    if patch_size % NUM_BINS:
        raise ValueError(f"patch_size: expected a multiple of {NUM_BINS}, got {patch_size}")
    gray = as_float_image(image)
    rows, cols = patch_grid(*gray.shape, step, patch_size)
    dim = NUM_BINS * NUM_BINS * NUM_ANGLES
    if len(rows) == 0 or len(cols) == 0:
        return np.zeros((0, 4)), np.zeros((0, dim), np.float32)
    channels = orientation_channels(gray, sigma_edge)
    weights = bin_weights(patch_size).astype(np.float32)                   # (bins, P)
    offsets = np.arange(patch_size)
    # along x: (H, nx, bins, 8)
    along_x = np.einsum("bu,hjua->hjba", weights, channels[:, cols[:, None] + offsets[None, :], :], optimize=True)
    # along y: (ny, nx, bins_y, bins_x, 8)
    bins = np.einsum("bv,ivjca->ijbca", weights, along_x[rows[:, None] + offsets[None, :]], optimize=True)
    bins = np.roll(bins, NUM_ANGLES // 2, axis=-1)                          # the code's channel a -> VLFeat's a + 4
    descriptors = np.ascontiguousarray(bins.reshape(len(rows) * len(cols), dim), dtype=np.float32)
    norms = np.sqrt(np.einsum("ij,ij->i", descriptors, descriptors, dtype=np.float64))
    normalize_descriptors(descriptors, norms)
    ys, xs = np.meshgrid(rows, cols, indexing="ij")
    centre = (patch_size - 1) / 2
    frames = np.column_stack([xs.ravel() + centre, ys.ravel() + centre, norms,
                              np.full(len(norms), patch_size / NUM_BINS)])
    return frames, descriptors
