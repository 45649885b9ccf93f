"""Colour conversions with MATLAB's and VLFeat's exact definitions.

The classical pipelines were written in MATLAB; their colour variants of dense SIFT
(``vl_phow``) convert with MATLAB's ``rgb2gray`` and ``rgb2hsv`` and with
``vl_phow``'s own opponent space.  Inputs are float RGB images of shape (H, W, 3) with
values in [0, 1] (uint8 is scaled by 1/255); outputs are float32 of the same shape (or
(H, W) for gray).
"""
from __future__ import annotations

import numpy as np

from ._validation import as_float_image

#: MATLAB ``rgb2gray`` weights (the luma row of the inverse NTSC transform, as MATLAB computes it).
RGB2GRAY_WEIGHTS = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])


def rgb_to_gray(rgb) -> np.ndarray:
    """MATLAB ``rgb2gray`` for float input: ``0.2989 R + 0.5870 G + 0.1140 B``; (H, W) float32."""
    im = as_float_image(rgb, "rgb", channels=3)
    return (im @ RGB2GRAY_WEIGHTS.astype(np.float32)).astype(np.float32)


def rgb_to_hsv(rgb) -> np.ndarray:
    """MATLAB ``rgb2hsv``: hue, saturation and value in [0, 1]; (H, W, 3) float32.

    ``V = max(R, G, B)``, ``S = (V - min) / V`` (0 where V = 0); hue from the channel
    holding the maximum (blue over green over red on ties, as MATLAB's assignment
    order gives), divided by 6 and wrapped into [0, 1); 0 where the pixel is gray.
    """
    im = as_float_image(rgb, "rgb", channels=3)
    r, g, b = im[..., 0], im[..., 1], im[..., 2]
    v = im.max(axis=2)
    delta = v - im.min(axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(v > 0, delta / v, 0)
        safe = np.where(delta > 0, delta, 1)
        h = np.where(r == v, (g - b) / safe, 0)
        h = np.where(g == v, 2 + (b - r) / safe, h)
        h = np.where(b == v, 4 + (r - g) / safe, h)
    h = h / 6
    h = np.where(h < 0, h + 1, h)
    h = np.where(delta > 0, h, 0)
    return np.stack([h, s, v], axis=2).astype(np.float32)


def rgb_to_opponent(rgb) -> np.ndarray:
    """``vl_phow``'s opponent colour space; (H, W, 3) float32.

    ``mu = 0.3 R + 0.59 G + 0.11 B`` (the intensity, so that contrast thresholding works
    as for gray), ``(R - G) / sqrt(2) + 0.01 mu`` and ``(R + G - 2 B) / sqrt(6) + 0.01 mu``
    (the small share of ``mu`` keeps monochromatic regions from being all zero).
    """
    im = as_float_image(rgb, "rgb", channels=3).astype(np.float64)
    r, g, b = im[..., 0], im[..., 1], im[..., 2]
    mu = 0.3 * r + 0.59 * g + 0.11 * b
    alpha = 0.01
    return np.stack([mu, (r - g) / np.sqrt(2) + alpha * mu, (r + g - 2 * b) / np.sqrt(6) + alpha * mu],
                    axis=2).astype(np.float32)
