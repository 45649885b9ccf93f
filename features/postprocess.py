"""Descriptor post-processing of the 2010-2012 ILSVRC entries.

* RootSIFT (Hellinger kernel): L1-normalise, then take square roots (Arandjelovic &
  Zisserman 2012); the Euclidean distance of RootSIFT vectors is the Hellinger distance
  of the SIFT histograms.
* PCA to 64 or 80 dimensions, optionally whitened, fitted on a sample of descriptors
  (Sanchez & Perronnin's Fisher-vector recipe; the OXFORD_VGG and XRCE 2012 entries).
* Spatial coordinates appended: ``(x / W - 0.5, y / H - 0.5)`` (the "spatial
  augmentation" of the 2012 Fisher-vector entries).
* Local colour statistics: mean and standard deviation of R, G and B in a 4 x 4 grid of
  sub-regions of each patch, 96 values (XRCE's colour descriptor).
"""
from __future__ import annotations

import numpy as np

from ._validation import as_float_image, check_positive_int


def root_sift(descriptors, eps: float = 1e-12) -> np.ndarray:
    """RootSIFT: ``sqrt(d / ||d||_1)`` per row; rows of zeros stay zero.

    Parameters
    ----------
    descriptors : array_like of shape (n, d), non-negative

    Returns
    -------
    ndarray of shape (n, d), float32, unit L2 norm (or zero)
    """
    d = np.asarray(descriptors, np.float32)
    if d.ndim != 2:
        raise ValueError(f"descriptors: expected shape (n, d), got {d.shape}")
    if (d < 0).any():
        raise ValueError("descriptors: RootSIFT needs non-negative histograms")
    l1 = d.sum(axis=1, keepdims=True)
    return np.sqrt(d / np.maximum(l1, np.float32(eps)))


def append_spatial(descriptors, frames, image_size) -> np.ndarray:
    """Append ``x / W - 0.5`` and ``y / H - 0.5`` to each descriptor.

    Parameters
    ----------
    descriptors : array_like of shape (n, d)
    frames : array_like of shape (n, >=2)
        Columns 0 and 1 are the x and y of each descriptor's centre.
    image_size : (height, width)

    Returns
    -------
    ndarray of shape (n, d + 2), float32
    """
    d = np.asarray(descriptors, np.float32)
    f = np.asarray(frames, np.float64)
    if len(d) != len(f):
        raise ValueError(f"descriptors ({len(d)}) and frames ({len(f)}) differ in length")
    h, w = image_size
    xy = np.stack([f[:, 0] / w - 0.5, f[:, 1] / h - 0.5], axis=1).astype(np.float32)
    return np.hstack([d, xy])


def local_color_statistics(image, frames, *, grid: int = 4, num_bins: int = 4) -> np.ndarray:
    """Mean and standard deviation of each colour channel in ``grid x grid`` sub-regions.

    The patch of a frame ``(x, y, _, bin_size)`` is the square of side ``num_bins *
    bin_size`` centred on it (the support of the SIFT descriptor at that frame), clipped
    to the image; it is split into ``grid x grid`` equal cells.

    Parameters
    ----------
    image : array_like of shape (H, W, 3)
        RGB, uint8 or float in [0, 1].
    frames : array_like of shape (n, 4)
        ``x, y, contrast, bin_size`` as returned by :func:`features.dsift.dense_sift`.

    Returns
    -------
    ndarray of shape (n, grid * grid * 6), float32
        Per cell (row-major), the means of R, G, B, then their standard deviations.
    """
    import cv2

    im = as_float_image(image, channels=3).astype(np.float64)
    grid = check_positive_int(grid, "grid")
    f = np.asarray(frames, np.float64)
    h, w = im.shape[:2]
    s1 = cv2.integral(im)                      # (h+1, w+1, 3)
    s2 = cv2.integral(im * im)
    half = f[:, 3] * num_bins / 2.0
    edges = np.linspace(0.0, 1.0, grid + 1)
    x0 = f[:, 0] - half + 0.5
    y0 = f[:, 1] - half + 0.5
    side = 2 * half
    xs = np.clip(np.round(x0[:, None] + side[:, None] * edges[None, :]), 0, w).astype(np.int64)
    ys = np.clip(np.round(y0[:, None] + side[:, None] * edges[None, :]), 0, h).astype(np.int64)
    out = np.zeros((len(f), grid, grid, 2, 3))
    for i in range(grid):
        for j in range(grid):
            ya, yb, xa, xb = ys[:, i], ys[:, i + 1], xs[:, j], xs[:, j + 1]
            area = np.maximum((yb - ya) * (xb - xa), 1)[:, None]
            total = s1[yb, xb] - s1[ya, xb] - s1[yb, xa] + s1[ya, xa]
            total2 = s2[yb, xb] - s2[ya, xb] - s2[yb, xa] + s2[ya, xa]
            mean = total / area
            out[:, i, j, 0] = mean
            out[:, i, j, 1] = np.sqrt(np.maximum(total2 / area - mean * mean, 0))
    return out.reshape(len(f), -1).astype(np.float32)
