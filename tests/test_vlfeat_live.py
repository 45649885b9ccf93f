"""Live differential tests against VLFeat itself (cyvlfeat + libvl), on real photographs.

Skipped where VLFeat is not installed (``make reference`` installs it); the committed
golden fixtures (test_dsift.py) cover the same ground everywhere else.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest
from conftest import DATA
from test_dsift import assert_equals_vlfeat_bytes, cosine_stats

from benchmarks import vlfeat_reference
from features.color import rgb_to_gray
from features.dsift import dense_sift, phow
from features.image_io import load_gray

sys.path.insert(0, str(DATA))
from make_vlfeat_fixtures import overexposed_rgb  # noqa: E402

pytestmark = pytest.mark.skipif(not vlfeat_reference.available(),
                                reason="VLFeat reference (cyvlfeat + libvlfeat) not installed; run `make reference`")
IMAGES = sorted((DATA / "images").glob("*.jpg")) + sorted((DATA / "saturated").glob("*.jpg"))


@pytest.fixture(scope="module")
def vlfeat():
    return vlfeat_reference


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("step, size, window", [(4, 8, 2.0), (3, 4, 1.5), (2, 6, 2.0)])
def test_dense_sift_against_vl_dsift(vlfeat, fast, step, size, window):
    for path in IMAGES:
        gray = load_gray(path)
        frames, desc = dense_sift(gray, step=step, bin_size=size, fast=fast, window_size=window)
        ref_frames, ref_desc = vlfeat.vlfeat_dsift(gray, step=step, size=size, fast=fast, window_size=window)
        np.testing.assert_array_equal(frames[:, :2], ref_frames[:, :2])
        assert_equals_vlfeat_bytes(desc, ref_desc)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("fast, step, size, window", [(True, 4, 8, 2.0), (True, 3, 4, 1.5), (True, 2, 6, 2.0),
                                                      (True, 3, 5, 2.0), (False, 3, 5, 1.5)])
def test_overexposed_images_against_vl_dsift(vlfeat, seed, fast, step, size, window):
    """Synthetic over-exposed images: saturated plateaus, faint one-channel steps inside
    them, gradients exactly along the orientation-bin boundaries."""
    gray = rgb_to_gray(overexposed_rgb(seed=seed))
    frames, desc = dense_sift(gray, step=step, bin_size=size, fast=fast, window_size=window)
    ref_frames, ref_desc = vlfeat.vlfeat_dsift(gray, step=step, size=size, fast=fast, window_size=window)
    np.testing.assert_array_equal(frames[:, :2], ref_frames[:, :2])
    assert_equals_vlfeat_bytes(desc, ref_desc)


@pytest.mark.parametrize("shape", [(2, 2), (3, 3), (5, 100), (24, 100), (100, 24), (25, 25), (25, 24),
                                   (26, 60), (30, 400), (100, 30)])
def test_thin_images_against_vlfeat(vlfeat, shape, rng):
    """As VLFeat: no descriptor where one does not fit, PHOW the sizes that fit.  (Images
    one pixel high are left out: VLFeat reads past their last row.)"""
    image = (0.5 + 0.4 * np.sin(np.arange(shape[0])[:, None] / 3.0) * np.cos(np.arange(shape[1])[None, :] / 4.0)
             ).astype(np.float32)
    for fast in (True, False):
        frames, desc = dense_sift(image, step=4, bin_size=8, fast=fast)
        ref_frames, ref_desc = vlfeat.vlfeat_dsift(image, step=4, size=8, fast=fast)
        assert frames.shape == (len(ref_frames), 4) and desc.shape == ref_desc.shape
        np.testing.assert_array_equal(frames[:, :2], ref_frames[:, :2])
        if len(desc):
            assert_equals_vlfeat_bytes(desc, ref_desc)
    frames, desc = phow(image, step=3)
    ref_frames, ref_desc = vlfeat.vlfeat_phow(image, step=3)
    assert frames.shape == ref_frames.shape and desc.shape == ref_desc.shape
    np.testing.assert_array_equal(frames[:, [0, 1, 3]], ref_frames[:, [0, 1, 3]])
    if len(desc):
        mean, p10, mismatch = cosine_stats(desc, ref_desc)
        assert mean >= 0.9999 and p10 >= 0.999 and mismatch == 0


def test_phow_against_vl_phow(vlfeat):
    for path in IMAGES:
        gray = load_gray(path)
        ref_frames, ref_desc = vlfeat.vlfeat_phow(gray, step=3)
        frames, desc = phow(gray, step=3)
        np.testing.assert_array_equal(frames[:, [0, 1, 3]], ref_frames[:, [0, 1, 3]])
        mean, p10, mismatch = cosine_stats(desc, ref_desc)
        assert mean >= 0.9999 and p10 >= 0.999 and mismatch <= 0.001 * len(desc), (path.name, mean, p10, mismatch)
