"""The spatial-pyramid authors' dense SIFT: a slow oracle written from their MATLAB code."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from features.image_io import load_image
from features.color import rgb_to_gray
from features.spm_sift import bin_weights, gradient_filters, patch_grid, spatial_pyramid_sift

DEMO = Path(__file__).resolve().parents[1] / "data" / "caltech101_demo"


def _filter2_same(kernel, image):
    """MATLAB ``filter2(kernel, image, 'same')``: correlation, zeros outside."""
    kh, kw = kernel.shape
    padded = np.pad(image, ((kh // 2, kh // 2), (kw // 2, kw // 2)))
    out = np.zeros_like(image)
    for i in range(kh):
        for j in range(kw):
            out += kernel[i, j] * padded[i:i + image.shape[0], j:j + image.shape[1]]
    return out


def oracle(gray, step=8, patch_size=16, sigma=0.8):
    """``GenerateSiftDescriptors`` + ``sp_find_sift_grid`` + ``sp_normalize_sift`` line by
    line (1-based indices turned 0-based), in float64, one patch at a time."""
    f_wid = 4 * math.ceil(sigma) + 1
    k = np.arange(f_wid) - f_wid // 2
    g1 = np.exp(-k ** 2 / (2 * sigma ** 2))
    G = np.outer(g1, g1)
    G /= G.sum()                                    # fspecial('gaussian', f_wid, sigma)
    GY, GX = np.gradient(G)                         # MATLAB [GX, GY] = gradient(G)
    GX = GX * 2 / np.abs(GX).sum()
    GY = GY * 2 / np.abs(GY).sum()
    I = gray.astype(np.float64)
    IX, IY = _filter2_same(GX, I), _filter2_same(GY, I)
    mag = np.sqrt(IX ** 2 + IY ** 2)
    theta = np.arctan2(IY, IX)
    angles = np.arange(8) * 2 * np.pi / 8
    orient = np.stack([np.where(np.cos(theta - a) ** 9 > 0, np.cos(theta - a) ** 9, 0) * mag for a in angles], -1)
    hgt, wid = I.shape
    off_x = ((wid - patch_size) % step) // 2
    off_y = ((hgt - patch_size) % step) // 2
    interval = np.arange(1, 5) * 2 / 4 - (1 / 4 + 1)
    sx, sy = np.meshgrid(interval, interval)        # bins: x along columns, y along rows
    descriptors, frames = [], []
    for gx in range(off_x, wid - patch_size + 1, step):      # gridX(:): column-major, y fastest
        for gy in range(off_y, hgt - patch_size + 1, step):
            r = patch_size / 2
            cx, cy = gx + r - 0.5, gy + r - 0.5
            bx, by = sx * r + cx, sy * r + cy
            res = by[1, 0] - by[0, 0]
            sample_x, sample_y = bx.ravel(order="F"), by.ravel(order="F")   # reshape(.., [1 16])
            curr = np.zeros((8, 16))                # curr_sift(a, sample)
            for v in range(patch_size):
                for u in range(patch_size):
                    wx = np.abs(gx + u - sample_x) / res
                    wy = np.abs(gy + v - sample_y) / res
                    w = (1 - wx) * (wx <= 1) * (1 - wy) * (wy <= 1)
                    curr += orient[gy + v, gx + u][:, None] * w[None, :]
            descriptors.append(curr.ravel(order="F"))   # reshape(curr_sift, [1 128]): a + 8 sample
            frames.append((cx, cy))
    arr = np.array(descriptors)
    norms = np.sqrt((arr ** 2).sum(1))
    for i in np.flatnonzero(norms > 1):
        row = np.minimum(arr[i] / norms[i], 0.2)
        arr[i] = row / np.sqrt((row ** 2).sum())
    return np.array(frames), arr, norms


@pytest.fixture(scope="module")
def photo():
    path = sorted((DEMO).rglob("*.jpg"))[3]
    gray = rgb_to_gray(load_image(path))
    return gray[:70, :61]                           # odd sizes: the grid's centring matters


def to_vlfeat_layout(frames, descriptors, n_rows, n_cols):
    """The code's order (patches column by column; element ``a + 8 (by + 4 bx)``) to this
    suite's (patches row by row; element ``t + 8 (bx + 4 by)``, ``t = (a + 4) mod 8``)."""
    order = np.arange(n_rows * n_cols).reshape(n_cols, n_rows).T.ravel()   # row-major patch -> code's index
    d = descriptors[order].reshape(-1, 4, 4, 8)                             # (patch, bx, by, a)
    d = np.roll(d.transpose(0, 2, 1, 3), 4, axis=-1)                        # (patch, by, bx, t)
    return frames[order], d.reshape(len(order), 128)


def test_spm_sift_equals_the_authors_code(photo):
    frames, desc = spatial_pyramid_sift(photo)
    rows, cols = patch_grid(*photo.shape, 8, 16)
    code_frames, code_desc, code_norms = oracle(photo)
    ref_frames, ref_desc = to_vlfeat_layout(code_frames, code_desc, len(rows), len(cols))
    ref_norms = to_vlfeat_layout(code_frames, np.repeat(code_norms[:, None], 128, 1), len(rows), len(cols))[1][:, 0]
    assert frames.shape == (len(ref_frames), 4) and desc.shape == ref_desc.shape
    np.testing.assert_array_equal(frames[:, :2], ref_frames)
    np.testing.assert_allclose(frames[:, 2], ref_norms, rtol=1e-5)
    np.testing.assert_allclose(desc, ref_desc, atol=2e-6, rtol=1e-4)
    # orientation t is VLFeat's: a vertical edge dark on the left puts its energy in t = 0
    step_image = np.zeros((40, 40), np.float32)
    step_image[:, 20:] = 1
    f2, d2 = spatial_pyramid_sift(step_image)
    centre = np.argmin(np.abs(f2[:, 0] - 19.5) + np.abs(f2[:, 1] - 19.5))
    assert d2[centre].reshape(4, 4, 8).sum(axis=(0, 1)).argmax() == 0
    # both kinds of descriptor occur: normalised (norm > 1) and kept as they are
    assert (ref_norms > 1).any() and (ref_norms <= 1).any()


def test_zero_padding_and_weak_descriptors():
    # a flat image: the zero padding makes its border an edge, so patches reaching within
    # 2 pixels of it are strong and normalised; the others see no gradient at all
    flat = np.full((40, 40), 0.5, np.float32)
    frames, desc = spatial_pyramid_sift(flat)
    touches = (np.minimum(frames[:, 0], frames[:, 1]) - 7.5 < 2) | (np.maximum(frames[:, 0], frames[:, 1]) + 7.5 > 37)
    assert touches.any() and (~touches).any()
    assert (frames[touches, 2] > 1).all()
    np.testing.assert_allclose(np.linalg.norm(desc[touches], axis=1), 1, rtol=1e-5)
    assert not desc[~touches].any()
    # a faint square far from the border: its descriptor is weak, kept as it is (not unit length)
    faint = np.full((100, 100), 0.5, np.float32)
    faint[45:55, 45:55] += 0.01
    f2, d2 = spatial_pyramid_sift(faint)
    centre = (np.abs(f2[:, 0] - 49.5) < 4) & (np.abs(f2[:, 1] - 49.5) < 4)
    assert centre.sum() == 1
    assert 0 < f2[centre, 2][0] < 1
    np.testing.assert_allclose(np.linalg.norm(d2[centre]), f2[centre, 2][0], rtol=1e-5)


def test_geometry_and_errors():
    rows, cols = patch_grid(31, 16, 8, 16)          # (31 - 16) mod 8 = 7: from 3, while <= 15
    assert list(rows) == [3, 11] and list(cols) == [0]
    assert list(patch_grid(50, 41, 8, 16)[0]) == [1, 9, 17, 25, 33]
    w = bin_weights(16)
    np.testing.assert_allclose(w[0, :7], [0.625, 0.875, 0.875, 0.625, 0.375, 0.125, 0])
    np.testing.assert_allclose(w.sum(0)[2:14], 1)    # inside, the bins share each pixel
    g, dg = gradient_filters(0.8)
    assert len(g) == 5 and abs(np.abs(np.outer(g, dg)).sum() - 2) < 1e-12
    frames, desc = spatial_pyramid_sift(np.zeros((15, 100), np.float32))
    assert frames.shape == (0, 4) and desc.shape == (0, 128)
    with pytest.raises(ValueError, match="patch_size"):
        spatial_pyramid_sift(np.zeros((40, 40), np.float32), patch_size=18)
