"""Keypoint SIFT (Lowe's detector and descriptor) through OpenCV, in VLFeat's conventions.

OpenCV and VLFeat store a descriptor in the same spatial order
(``t + 8 (bx + 4 by)``), but OpenCV's descriptor measures gradient angles with the y
axis pointing *up*: OpenCV orientation bin t is VLFeat bin ``(-t) mod 8``.  OpenCV's
``KeyPoint.angle`` on the other hand is already in image (y down) coordinates: VLFeat's
``theta`` is the same angle in radians (a keypoint on an edge whose gradient points
along ``(cos phi, sin phi)`` in image coordinates gets ``theta ~ phi``; see the tests).  OpenCV's ``KeyPoint.size`` is twice the scale
``sigma``; its spatial bins are ``3 sigma = 1.5 size`` wide (VLFeat: ``magnif * sigma``
with ``magnif = 3``).  OpenCV returns descriptors scaled by 512 and saturated at 255;
here they are re-normalised to unit L2 norm.

Frames are ``(x, y, sigma, theta)`` rows, 0-based pixel centres, as ``vl_sift`` reports
them (without MATLAB's +1).
"""
from __future__ import annotations

import cv2
import numpy as np

from ._validation import as_float_image, check_positive_int

#: OpenCV spatial bin width per unit of ``KeyPoint.size``.
OPENCV_BIN_PER_SIZE = 1.5


def _opencv_to_vlfeat_descriptors(desc: np.ndarray) -> np.ndarray:
    d = np.asarray(desc, np.float32).reshape(-1, 16, 8)
    d = d[:, :, (-np.arange(8)) % 8].reshape(-1, 128)
    norm = np.linalg.norm(d, axis=1, keepdims=True)
    return np.divide(d, norm, out=np.zeros_like(d), where=norm > 0)


def _to_uint8(gray: np.ndarray) -> np.ndarray:
    return np.clip(np.round(gray * 255), 0, 255).astype(np.uint8)


def sift_keypoints(image, *, n_features: int = 0, contrast_threshold: float = 0.04, edge_threshold: float = 10,
                   sigma: float = 1.6):
    """Detect SIFT keypoints and describe them (OpenCV), in VLFeat's conventions.

    Parameters
    ----------
    image : array_like of shape (H, W)
        Grayscale, uint8 or float in [0, 1] (quantised to 8 bits for OpenCV).
    n_features, contrast_threshold, edge_threshold, sigma :
        OpenCV ``SIFT_create`` parameters (0 features = keep all).

    Returns
    -------
    frames : ndarray of shape (n, 4), float64
        ``x, y, sigma, theta`` (theta in radians, y axis down, in [0, 2 pi)).
    descriptors : ndarray of shape (n, 128), float32
        VLFeat element order, unit L2 norm.
    """
    gray = _to_uint8(as_float_image(image))
    sift = cv2.SIFT_create(nfeatures=n_features, contrastThreshold=contrast_threshold,
                           edgeThreshold=edge_threshold, sigma=sigma)
    keypoints, desc = sift.detectAndCompute(gray, None)
    if not keypoints:
        return np.zeros((0, 4)), np.zeros((0, 128), np.float32)
    frames = np.array([(k.pt[0], k.pt[1], k.size / 2.0, np.deg2rad(k.angle) % (2 * np.pi)) for k in keypoints])
    return frames, _opencv_to_vlfeat_descriptors(desc)


def opencv_dense_sift(image, *, step: int = 4, bin_size: int = 8):
    """OpenCV's ``SIFT.compute`` on the dense grid of :func:`features.dsift.dense_sift`.

    A baseline for comparison (it is ~7x slower than VLFeat's dense SIFT, and OpenCV
    blurs the image by sigma 1.52 and rounds keypoint centres to whole pixels).

    Returns
    -------
    frames : ndarray of shape (n, 2), float64
        The grid centres.
    descriptors : ndarray of shape (n, 128), float32
        VLFeat element order, unit L2 norm.
    """
    from .dsift import dense_grid

    gray = as_float_image(image)
    grid = dense_grid(*gray.shape, step=check_positive_int(step, "step"), bin_size=check_positive_int(bin_size, "bin_size"))
    if grid.nx == 0:  # thin image: no descriptor fits, as in dense_sift
        return np.zeros((0, 2)), np.zeros((0, 128), np.float32)
    xs, ys = grid.centers()
    size = bin_size / OPENCV_BIN_PER_SIZE
    keypoints = [cv2.KeyPoint(float(x), float(y), size, 0.0) for y in ys for x in xs]
    _, desc = cv2.SIFT_create().compute(_to_uint8(gray), keypoints)
    frames = np.array([(x, y) for y in ys for x in xs])
    return frames, _opencv_to_vlfeat_descriptors(desc)
