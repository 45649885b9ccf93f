"""Live differential tests against VLFeat itself (cyvlfeat + libvl), on real photographs.

Skipped where VLFeat is not installed (``make reference`` installs it); the committed
golden fixtures (test_dsift.py) cover the same ground everywhere else.
"""
from __future__ import annotations

import numpy as np
import pytest
from conftest import DATA
from test_dsift import cosine_stats

from benchmarks import vlfeat_reference
from features.dsift import dense_sift, phow
from features.image_io import load_gray

pytestmark = pytest.mark.skipif(not vlfeat_reference.available(),
                                reason="VLFeat reference (cyvlfeat + libvlfeat) not installed; run `make reference`")
IMAGES = sorted((DATA / "images").glob("*.jpg"))


@pytest.fixture(scope="module")
def vlfeat():
    return vlfeat_reference


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("step, size, window", [(4, 8, 2.0), (3, 4, 1.5), (2, 6, 2.0)])
def test_dense_sift_against_vl_dsift(vlfeat, fast, step, size, window):
    cos_all, p10_all = [], []
    for path in IMAGES:
        gray = load_gray(path)
        frames, desc = dense_sift(gray, step=step, bin_size=size, fast=fast, window_size=window)
        ref_frames, ref_desc = vlfeat.vlfeat_dsift(gray, step=step, size=size, fast=fast, window_size=window)
        np.testing.assert_array_equal(frames[:, :2], ref_frames[:, :2])
        mean, p10, mismatch = cosine_stats(desc, ref_desc)
        cos_all.append(mean)
        p10_all.append(p10)
        assert mismatch == 0
    assert min(cos_all) >= 0.9999 and min(p10_all) >= 0.999, (cos_all, p10_all)


def test_phow_against_vl_phow(vlfeat):
    for path in IMAGES:
        gray = load_gray(path)
        ref_frames, ref_desc = vlfeat.vlfeat_phow(gray, step=3)
        frames, desc = phow(gray, step=3)
        np.testing.assert_array_equal(frames[:, [0, 1, 3]], ref_frames[:, [0, 1, 3]])
        mean, p10, mismatch = cosine_stats(desc, ref_desc)
        assert mean >= 0.9999 and p10 >= 0.999 and mismatch <= 0.001 * len(desc), (path.name, mean, p10, mismatch)
