"""Dense SIFT and PHOW: VLFeat's golden outputs, a slow oracle, geometry and properties."""
from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
from conftest import DATA

from benchmarks import agreement
from features.dsift import (
    dense_grid,
    dense_sift,
    fast_atan2,
    fast_sqrt,
    orientation_planes,
    phow,
    smooth_gaussian,
    to_vlfeat_uint8,
)

GOLDEN = DATA / "vlfeat_golden.npz"
CONFIGS = {"fast_s4_b8": dict(step=4, bin_size=8, fast=True),
           "gauss_s4_b8": dict(step=4, bin_size=8, fast=False),
           "fast_s3_b4_w15": dict(step=3, bin_size=4, fast=True, window_size=1.5),
           "gauss_s3_b5_w15": dict(step=3, bin_size=5, fast=False, window_size=1.5)}


def cosine_stats(ours_float, vlfeat_bytes):
    """Mean and 10th percentile of the cosine similarity of our descriptors with VLFeat's
    bytes (pairs non-zero in both; :func:`benchmarks.agreement.cosine_stats`), and the
    descriptors that are zero on one side only."""
    cos, mismatch = agreement.cosine_stats(ours_float, vlfeat_bytes)
    return cos.mean(), np.percentile(cos, 10), mismatch


@pytest.fixture(scope="module")
def golden():
    digest = hashlib.sha256(GOLDEN.read_bytes()).hexdigest()
    recorded = (DATA / "vlfeat_golden.sha256").read_text().split()[0]
    assert digest == recorded, "vlfeat_golden.npz differs from its manifest; regenerate with make_vlfeat_fixtures.py"
    return np.load(GOLDEN)


GOLDEN_IMAGES = ["butterfly", "dalmatian", "overexposed", "wrench"]


def golden_gray(golden, image):
    stored = golden[f"{image}/image"]
    return stored.astype(np.float32) / 255 if stored.dtype == np.uint8 else stored.astype(np.float32)


def assert_equals_vlfeat_bytes(ours, vlfeat_bytes):
    """Agreement with VLFeat's byte descriptors: per-image mean cosine >= 0.9999 and 10th
    percentile >= 0.999, every single descriptor >= 0.999, and the bytes themselves equal
    within 1 (the byte scale floors 512 d) except in at most 1 of 10,000 entries (or 2)."""
    cos, mismatch = agreement.cosine_stats(ours, vlfeat_bytes)
    assert mismatch == 0
    assert cos.mean() >= 0.9999 and np.percentile(cos, 10) >= 0.999 and cos.min() >= 0.999, \
        (cos.mean(), np.percentile(cos, 10), cos.min())
    far = np.abs(to_vlfeat_uint8(ours).astype(int) - np.floor(vlfeat_bytes)) > 1   # bytes are floored
    assert far.sum() <= max(2, 1e-4 * far.size), far.sum()


@pytest.mark.parametrize("image", GOLDEN_IMAGES)
@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_dense_sift_equals_vlfeat_golden(golden, image, config):
    """On photographs, on a photograph against a saturated background and on a synthetic
    over-exposed image (saturated plateaus with faint one-channel steps, gradients exactly
    along the orientation-bin boundaries): there the flat window's near-empty descriptors are
    VLFeat's running-sum residue, which only VLFeat's own arithmetic reproduces."""
    gray = golden_gray(golden, image)
    frames, desc = dense_sift(gray, **CONFIGS[config])
    ref_frames = golden[f"{image}/{config}/frames"]
    assert frames.shape == (len(ref_frames), 4)
    np.testing.assert_array_equal(frames[:, :2], ref_frames[:, :2])          # same grid, same positions
    np.testing.assert_allclose(frames[:, 2], ref_frames[:, 2], rtol=1e-4, atol=1e-6)   # contrast ("norm")
    assert_equals_vlfeat_bytes(desc, golden[f"{image}/{config}/descriptors"])


def test_golden_images_exercise_saturation_and_bin_boundaries(golden):
    """The synthetic image holds what the test above is meant to exercise."""
    gray = golden_gray(golden, "overexposed")
    assert (gray == gray.max()).mean() > 0.3                                  # saturated plateaus
    gy, gx = np.gradient(gray.astype(np.float64))
    moving = np.hypot(gx, gy) > 0
    on_axes = moving & ((gx == 0) | (gy == 0))
    assert on_axes.sum() > 500 and (moving & (gx == gy)).sum() > 100          # angles exactly on bin boundaries
    faint = moving & (np.hypot(gx, gy) < 1e-3)                                # sub-level steps (0.114 / 255)
    assert faint.sum() > 20


@pytest.mark.parametrize("image", GOLDEN_IMAGES)
def test_phow_equals_vlfeat_golden(golden, image):
    gray = golden_gray(golden, image)
    frames, desc = phow(gray, step=4)
    ref = golden[f"{image}/phow_s4/frames"]
    np.testing.assert_array_equal(frames[:, [0, 1, 3]], ref[:, [0, 1, 3]])
    np.testing.assert_allclose(frames[:, 2], ref[:, 2], rtol=1e-4, atol=1e-5)
    cos, zero_mismatch = agreement.cosine_stats(desc, golden[f"{image}/phow_s4/descriptors"])
    assert cos.mean() >= 0.9999 and np.percentile(cos, 10) >= 0.999 and cos.min() >= 0.999 and zero_mismatch <= 2, \
        (cos.mean(), np.percentile(cos, 10), cos.min(), zero_mismatch)
    # all sizes share their descriptor centres (vl_phow's aligned bounds; all sizes even)
    centres = [set(map(tuple, frames[frames[:, 3] == s][:, :2])) for s in (4, 6, 8, 10)]
    assert centres[3] <= centres[2] <= centres[1] <= centres[0]


def slow_dense_sift(gray, step, bin_size, fast, window_size=2.0, num_orientations=8):
    """Obvious per-descriptor loops over the definition in features/dsift.py's docstring."""
    h, w = gray.shape
    n_t = num_orientations
    gy, gx = np.gradient(gray.astype(np.float64))
    mag = np.hypot(gx, gy)
    pos = (np.arctan2(gy, gx) % (2 * np.pi)) * n_t / (2 * np.pi)
    planes = np.zeros((n_t, h, w))
    for t in range(n_t):
        dist = np.abs(pos - t)
        dist = np.minimum(dist, n_t - dist)
        planes[t] = np.maximum(0, 1 - dist) * mag
    sigma = window_size * bin_size
    span = 3 * bin_size + 1
    out_frames, out_desc = [], []
    for y0 in range(0, h - span + 1, step):
        for x0 in range(0, w - span + 1, step):
            desc = np.zeros((4, 4, n_t))
            for by in range(4):
                for bx in range(4):
                    cy, cx = y0 + by * bin_size, x0 + bx * bin_size
                    dy_bin = bin_size * (by - 1.5)
                    dx_bin = bin_size * (bx - 1.5)
                    for ky in range(-bin_size + 1, bin_size):
                        for kx in range(-bin_size + 1, bin_size):
                            yy = min(max(cy + ky, 0), h - 1)
                            xx = min(max(cx + kx, 0), w - 1)
                            tri = (1 - abs(ky) / bin_size) * (1 - abs(kx) / bin_size)
                            if fast:
                                win = 1.0
                            else:  # window centred on the descriptor centre
                                win = math.exp(-0.5 * ((ky + dy_bin) ** 2 + (kx + dx_bin) ** 2) / sigma ** 2)
                            desc[by, bx] += tri * win * planes[:, yy, xx]
                    if fast:  # mean of the window over the bin, as VLFeat's flat window
                        ks = np.arange(-bin_size + 1, bin_size)
                        desc[by, bx] *= (np.exp(-0.5 * ((ks - dy_bin) / sigma) ** 2).mean()
                                         * np.exp(-0.5 * ((ks - dx_bin) / sigma) ** 2).mean())
            d = desc.ravel()
            contrast = d.sum() / span ** 2
            d = d / (np.linalg.norm(d) + 1.19e-7)
            d = np.minimum(d, 0.2)
            d = d / (np.linalg.norm(d) + 1.19e-7)
            out_frames.append((x0 + 1.5 * bin_size, y0 + 1.5 * bin_size, contrast))
            out_desc.append(d)
    return np.array(out_frames), np.array(out_desc)


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("step, bin_size", [(3, 4), (2, 3), (4, 5)])
def test_matches_slow_oracle(fast, step, bin_size, rng):
    gray = cv2_blur(rng.random((37, 41)).astype(np.float32))
    frames, desc = dense_sift(gray, step=step, bin_size=bin_size, fast=fast, vlfeat_math=False)
    ref_frames, ref_desc = slow_dense_sift(gray, step, bin_size, fast)
    np.testing.assert_allclose(frames[:, :2], ref_frames[:, :2])
    np.testing.assert_allclose(frames[:, 2], ref_frames[:, 2], rtol=1e-4)
    np.testing.assert_allclose(desc, ref_desc, atol=2e-5)


@pytest.mark.parametrize("num_orientations", [5, 7, 12])
def test_any_orientation_count_matches_the_slow_oracle_on_both_paths(num_orientations, rng):
    """Exact math to float rounding; VLFeat's arithmetic (fast atan2, running sums) within its
    approximation, every descriptor.  (5 and 7 orientations make bin elements OpenCV's transpose
    cannot move.)"""
    gray = cv2_blur(rng.random((37, 41)).astype(np.float32))
    ref_frames, ref_desc = slow_dense_sift(gray, 3, 4, True, num_orientations=num_orientations)
    exact = dense_sift(gray, step=3, bin_size=4, num_orientations=num_orientations, vlfeat_math=False)
    vlfeat = dense_sift(gray, step=3, bin_size=4, num_orientations=num_orientations)
    np.testing.assert_allclose(exact[1], ref_desc, atol=2e-5)
    np.testing.assert_allclose(vlfeat[0][:, :2], ref_frames[:, :2])
    cosines = np.einsum("ij,ij->i", vlfeat[1], ref_desc)
    assert cosines.min() > 0.999


def test_compiled_kernels_refuse_arguments_they_would_overrun():
    """The compiled loops do not check bounds: their wrappers do."""
    from features.dsift import _vlfeat_triangle

    with pytest.raises(ValueError, match="out: expected a C-contiguous float32 array of shape"):
        fast_sqrt(np.ones(4, np.float32), out=np.zeros(1000, np.float32))
    with pytest.raises(ValueError, match="float64"):
        fast_sqrt(np.ones(2, np.float32), out=np.zeros(2))
    with pytest.raises(ValueError, match="C-contiguous"):
        fast_sqrt(np.ones((3, 2), np.float32), out=np.zeros((3, 4), np.float32)[:, :2])
    x = np.float32([0.25, 4.0])
    assert fast_sqrt(x, out=x) is x and x.tolist() == pytest.approx([0.5, 2.0], rel=1e-5)
    with pytest.raises(ValueError, match="outside the 10 rows"):
        _vlfeat_triangle(np.ones((14, 5), np.float32), 4, (0, 1, 11, 0, 1), "test_tri")


def cv2_blur(x):
    import cv2

    return cv2.GaussianBlur(x, (0, 0), 1.0)


def test_grid_geometry_and_errors():
    grid = dense_grid(100, 90, step=4, bin_size=8)
    assert (grid.nx, grid.ny) == ((90 - 25) // 4 + 1, (100 - 25) // 4 + 1)
    xs, ys = grid.centers()
    assert xs[0] == 12.0 and ys[0] == 12.0 and xs[1] == 16.0       # x0 + 1.5 bin_size, then + step
    frames, desc = dense_sift(np.zeros((25, 25), np.float32), step=4, bin_size=8)
    assert len(frames) == 1 and frames[0, 0] == 12 and frames[0, 1] == 12
    assert dense_grid(24, 100, step=4, bin_size=8).nx == 0           # 24 rows < the 25-px span: none
    bounded = dense_grid(100, 90, step=5, bin_size=4, bounds=(10, 20, 60, np.inf))
    assert (bounded.x0, bounded.y0, bounded.nx) == (10, 20, (60 - 10 - 13 + 1) // 5 + 1)
    for bad in [dict(step=0), dict(bin_size=2.5), dict(window_size=-1)]:
        with pytest.raises(ValueError, match=list(bad)[0]):
            dense_sift(np.zeros((40, 40), np.float32), **bad)
    with pytest.raises(ValueError, match="expected a 2-D grayscale array"):
        dense_sift(np.zeros((40, 40, 3), np.float32))


def test_uniform_image_gives_zero_descriptors():
    frames, desc = dense_sift(np.full((50, 60), 0.4, np.float32), step=5, bin_size=6)
    assert np.all(desc == 0) and np.all(frames[:, 2] == 0)


def test_float_and_uint8_input_agree():
    from features.image_io import load_gray

    gray = load_gray(DATA / "images" / "dolphin_0001.jpg")
    as_uint8 = np.round(gray * 255).astype(np.uint8)
    f8, d8 = dense_sift(as_uint8, step=5, bin_size=6)
    ff, df = dense_sift(as_uint8.astype(np.float32) / 255, step=5, bin_size=6)
    np.testing.assert_array_equal(f8, ff)
    np.testing.assert_array_equal(d8, df)


@pytest.mark.parametrize("angle_deg", [0, 45, 90, 135, 180, 225, 270, 315, 20, 200])
def test_rotated_step_edge_fills_the_expected_orientation_bins(angle_deg):
    """A step edge whose gradient points along angle a (image coordinates, y down) puts its
    mass into orientation bins floor(a / 45) and the next one, split linearly (exactly in
    the orientation planes; the descriptor's 0.2 clamp then flattens the split a little)."""
    a = np.deg2rad(angle_deg)
    y, x = np.mgrid[0:60, 0:60].astype(np.float64)
    u = (x - 30) * np.cos(a) + (y - 30) * np.sin(a)
    image = (0.5 + 0.5 * np.tanh(u / 2)).astype(np.float32)
    pos = angle_deg / 45
    lower = int(np.floor(pos)) % 8
    expected = np.zeros(8)
    expected[lower] += 1 - (pos - np.floor(pos))
    expected[(lower + 1) % 8] += pos - np.floor(pos)
    plane_mass = orientation_planes(image)[20:40, 20:40].sum(axis=(0, 1))
    np.testing.assert_allclose(plane_mass / plane_mass.sum(), expected, atol=0.01)
    frames, desc = dense_sift(image, step=30, bin_size=8)
    centre = np.argmin(np.hypot(frames[:, 0] - 30, frames[:, 1] - 30))
    mass = desc[centre].reshape(16, 8).sum(axis=0)
    mass /= mass.sum()
    assert mass[[lower, (lower + 1) % 8]].sum() > 0.99
    assert np.sign(mass[lower] - mass[(lower + 1) % 8]) == np.sign(expected[lower] - expected[(lower + 1) % 8])


def test_contrast_threshold_zeroes_flat_descriptors():
    image = np.zeros((60, 60), np.float32)
    image[:, 30:] = 1
    frames, desc = dense_sift(image, step=5, bin_size=6, contrast_threshold=1e-3)
    flat = frames[:, 2] < 1e-3
    assert flat.any() and (~flat).any()
    assert np.all(desc[flat] == 0) and np.allclose(np.linalg.norm(desc[~flat], axis=1), 1, atol=1e-5)


def test_vlfeat_fast_math_approximations():
    rng = np.random.default_rng(0)
    y, x = rng.normal(size=(2, 10000)).astype(np.float32)
    err = np.angle(np.exp(1j * (fast_atan2(y, x) - np.arctan2(y, x))))
    assert np.abs(err).max() < 0.0065                    # VLFeat's cubic is within ~0.006 rad
    v = rng.random(10000).astype(np.float32) * 100
    np.testing.assert_allclose(fast_sqrt(v), np.sqrt(v), rtol=1e-5)
    assert fast_sqrt(np.float32([1e-9]))[0] == 0


def test_orientation_planes_sum_to_the_gradient_magnitude(rng):
    gray = rng.random((20, 30)).astype(np.float32)
    planes = orientation_planes(gray)
    gy, gx = np.gradient(gray)
    np.testing.assert_allclose(planes.sum(axis=2), np.hypot(gx, gy), rtol=1e-5, atol=1e-6)
    assert ((planes > 0).sum(axis=2) <= 2).all()        # each pixel feeds at most two bins


def test_smoothing_kernel_is_matlab_vl_imsmooth():
    impulse = np.zeros((31, 31), np.float32)
    impulse[15, 15] = 1
    out = smooth_gaussian(impulse, 1.5)
    half = int(np.ceil(4 * 1.5))
    k = np.exp(-0.5 * (np.arange(-half, half + 1) / (1.5 + 1.19209290e-07)) ** 2)
    k /= k.sum()
    np.testing.assert_allclose(out[15, 15 - half: 15 + half + 1], k * k[half], rtol=1e-5)
    assert out[15, 15 - half - 1] == 0                   # truncated at ceil(4 sigma)
    assert np.array_equal(smooth_gaussian(impulse, 0.001), impulse)


@pytest.mark.parametrize("color, channels", [("gray", 1), ("rgb", 3), ("hsv", 3), ("opponent", 3)])
def test_phow_colour_variants(color, channels):
    from features.image_io import load_image

    rgb = load_image(DATA / "images" / "butterfly_0001.jpg")[:90, :120]
    frames, desc = phow(rgb, step=6, color=color)
    assert desc.shape == (len(frames), 128 * channels)
    gray_frames, _ = phow(rgb, step=6, color="gray")
    np.testing.assert_array_equal(frames[:, [0, 1, 3]], gray_frames[:, [0, 1, 3]])
    zero = np.all(desc == 0, axis=1)
    assert np.all(frames[zero, 2] < 0.005) and np.all(frames[~zero, 2] >= 0.005)
    if color == "opponent":   # its first channel is the intensity, so gray contrast is close
        np.testing.assert_allclose(frames[:, 2], gray_frames[:, 2], rtol=0.05, atol=1e-3)


@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (1, 50), (50, 1), (5, 100), (24, 100), (100, 24), (25, 24)])
@pytest.mark.parametrize("fast", [True, False])
def test_thin_image_gives_no_descriptors_with_the_right_shape(shape, fast, rng):
    """VLFeat returns zero descriptors when the bounds are narrower than one descriptor's
    span (here 25 px), so a long run never drops an image for being thin."""
    frames, desc = dense_sift(rng.random(shape).astype(np.float32), step=4, bin_size=8, fast=fast)
    assert frames.shape == (0, 4) and desc.shape == (0, 128) and desc.dtype == np.float32
    out = np.empty((0, 128), np.float32)
    assert dense_sift(rng.random(shape).astype(np.float32), step=4, bin_size=8, out=out)[1] is out
    frames, desc = dense_sift(np.zeros(shape, np.uint8), step=1, bin_size=1, num_bins=2)
    assert len(frames) == max(shape[0] - 1, 0) * max(shape[1] - 1, 0) and desc.shape == (len(frames), 32)
    from features.keypoints import (
        opencv_dense_sift,  # the OpenCV baseline on the same grid
    )

    frames, desc = opencv_dense_sift(rng.random(shape).astype(np.float32), step=4, bin_size=8)
    assert frames.shape == (0, 2) and desc.shape == (0, 128)


@pytest.mark.parametrize("height, sizes_that_fit", [(1, []), (12, []), (21, []), (22, [4]), (24, [4]),
                                                    (25, [4, 6]), (27, [4, 6]), (28, [4, 6, 8]),
                                                    (30, [4, 6, 8]), (31, [4, 6, 8, 10])])
def test_phow_keeps_the_sizes_that_fit(height, sizes_that_fit, rng):
    """vl_phow starts size s at offset floor(1 + 1.5 (10 - s)) - 1 = 9, 6, 3, 0 px (so that all
    sizes share centres), and a size fits when the image spans offset + 3 s + 1 pixels:
    22, 25, 28 and 31 px for s = 4, 6, 8, 10 (the heights VLFeat itself gives them from)."""
    image = rng.random((height, 200)).astype(np.float32)
    frames, desc = phow(image, step=3)
    assert sorted(set(frames[:, 3].astype(int).tolist())) == sizes_that_fit
    assert frames.shape == (len(desc), 4) and desc.shape[1] == 128
    for size in sizes_that_fit:   # each size: the grid that its offset bounds allow
        off = int(np.floor(1 + 1.5 * (10 - size))) - 1
        grid = dense_grid(height, 200, step=3, bin_size=size, bounds=(off, off, np.inf, np.inf))
        assert (frames[:, 3] == size).sum() == grid.nx * grid.ny > 0


def test_thin_images_flow_through_the_transformers(rng):
    """A batch with a thin image: it gets an empty LocalFeatures, and RootSIFT / PCA keep it."""
    from features import PHOW, DenseSIFT, DescriptorPCA, RootSIFT

    thin = (rng.random((10, 300)) * 255).astype(np.uint8)
    normal = (rng.random((60, 80)) * 255).astype(np.uint8)
    feats = DenseSIFT(step=4, bin_size=8).transform([thin, normal])
    assert [f.descriptors.shape for f in feats] == [(0, 128), (126, 128)] and feats[0].frames.shape == (0, 4)
    rooted = RootSIFT().fit_transform(feats)
    reduced = DescriptorPCA(n_components=8, random_state=0).fit(rooted).transform(rooted)
    assert [f.descriptors.shape for f in reduced] == [(0, 8), (126, 8)]
    colour = PHOW(step=3, color="opponent").transform([np.stack([thin] * 3, axis=2), np.stack([thin[:, :60]] * 3, axis=2)])
    assert [f.descriptors.shape for f in colour] == [(0, 384), (0, 384)]


def c_fast_atan2(y: np.float32, x: np.float32) -> np.float32:
    """vl_fast_atan2_f transcribed line by line (float32 scalars)."""
    f = np.float32
    abs_y = f(abs(y)) + f(1.19209290e-07)
    if x >= 0:
        r = (x - abs_y) / (x + abs_y)
        angle = f(np.pi / 4)
    else:
        r = (x + abs_y) / (abs_y - x)
        angle = f(3 * np.pi / 4)
    angle = angle + (f(0.1821) * r * r - f(0.9675)) * r
    return -angle if y < 0 else angle


def c_fast_sqrt(x: np.float32) -> np.float32:
    """vl_fast_sqrt_f transcribed (bit trick through int32, two Newton steps)."""
    f = np.float32
    if float(x) < 1e-8:
        return f(0)
    half = f(0.5) * x
    u = (np.int32(0x5F3759DF) - (np.array(x, np.float32).view(np.int32) >> 1)).view(np.float32)[()]
    for _ in range(2):
        u = u * (f(1.5) - half * u * u)
    return x * u


def test_fast_math_equals_vlfeats_c_code_bit_for_bit(rng):
    special = np.float32([0.0, -0.0, 1.0, -1.0, 1e-9, -1e-9, 0.5, 2.0])
    y = np.concatenate([rng.normal(size=300).astype(np.float32), np.repeat(special, len(special))])
    x = np.concatenate([rng.normal(size=300).astype(np.float32), np.tile(special, len(special))])
    with np.errstate(all="ignore"):
        expected = np.array([c_fast_atan2(a, b) for a, b in zip(y, x)], np.float32)
    np.testing.assert_array_equal(fast_atan2(y, x).view(np.int32), expected.view(np.int32))
    v = np.concatenate([rng.random(300).astype(np.float32) * 10, np.float32([0, 1e-9, 1e-8, 1.0000001e-8, 3e-8])])
    expected = np.array([c_fast_sqrt(a) for a in v], np.float32)
    np.testing.assert_array_equal(fast_sqrt(v).view(np.int32), expected.view(np.int32))


def _vlfeat_gradient(gray, axis):
    """vl_dsift's gradient along ``axis``: central differences, one-sided on the borders, 0 on
    an axis of one pixel."""
    if gray.shape[axis] == 1:
        return np.zeros_like(gray)
    return np.gradient(gray, axis=axis).astype(np.float32)


@pytest.mark.parametrize("shape", [(40, 50), (1, 9), (9, 1), (2, 3)])
def test_orientation_planes_split_as_vlfeat_bit_for_bit(rng, shape):
    """VLFeat writes (1 - r) m into bin floor(p) and r m into bin floor(p) + 1 (mod 8); with
    its fast math the planes are those floats exactly, on every branch (axes, zeros, wrap),
    on thin images too."""
    gray = np.round(rng.random(shape) * 4).astype(np.float32) / 4        # many ties: gx or gy exactly 0
    gray[10:20, 10:30] = 1.0                                                # a saturated plateau
    planes = orientation_planes(gray, 8, vlfeat_math=True)
    gx, gy = _vlfeat_gradient(gray, 1), _vlfeat_gradient(gray, 0)
    expected = np.zeros(gray.shape + (8,), np.float32)
    for (i, j), _ in np.ndenumerate(gray):
        with np.errstate(all="ignore"):
            angle = c_fast_atan2(gy[i, j], gx[i, j])
        mod = c_fast_sqrt(gx[i, j] * gx[i, j] + gy[i, j] * gy[i, j])
        if angle < 0:
            angle = angle + np.float32(2 * np.pi)
        nt = np.float32(float(angle) * (8 / (2 * np.pi)))
        b = int(np.floor(nt))
        r = nt - np.float32(b)
        expected[i, j, b % 8] = (np.float32(1) - r) * mod
        expected[i, j, (b + 1) % 8] = r * mod
    np.testing.assert_array_equal(planes, expected)


def c_coltri(x, size, rows):
    """VLFeat's ``vl_imconvcoltri_f`` on one column, padding by continuity, transcribed
    statement by statement in float32 scalars; the values at ``rows``."""
    f = np.float32
    length = len(x)
    buf = {}                                        # VLFeat's buffer[y], y in [-size, length)
    buf[length - 1] = f(x[length - 1])
    for y in range(length - 2, -1, -1):
        buf[y] = f(buf[y + 1] + x[y])
    for y in range(-1, -size - 1, -1):
        buf[y] = f(buf[y + 1] + x[0])
    for y in range(-size, length - size):
        buf[y] = f(buf[y] - buf[y + size])
    for y in range(length - size, length):
        buf[y] = f(buf[y] - f(buf[length - 1] * f(length - size - y)))
    for y in range(-size + 1, length):
        buf[y] = f(buf[y] + buf[y - 1])
    scale = f(1.0 / (size * size))
    return np.array([f(scale * f(buf[y] - buf[y - size])) for y in rows], np.float32)


@pytest.mark.parametrize("length, size, at", [
    (37, 4, (2, 3, 11, 0, 1)),          # a lattice of rows ending before the tail
    (37, 4, (2, 3, 12, 0, 1)),          # the same lattice one row further: the tail is read
    (40, 8, (0, 4, 4, 8, 4)),           # descriptor bins: shared rows repeated, read into the tail
    (9, 5, (0, 1, 9, 0, 1)),            # shorter than two triangle widths
    (3, 5, (0, 1, 3, 0, 1)),            # shorter than one triangle width
    (64, 3, (5, 7, 4, 3, 2)),           # pitch 1 between distinct rows
])
def test_running_sum_triangle_equals_vlfeats_c_code_bit_for_bit(length, size, at, rng):
    """The in-place running sums give VLFeat's floats exactly, rounding residue included:
    columns of large values around plateaus (where the residue is all there is)."""
    from features.dsift import _vlfeat_triangle

    n = 6
    signals = (rng.random((length, n)) * 50).astype(np.float32)
    signals[length // 3: length // 2, :3] = 0            # flat stretch between strong values
    signals[:, 4] = np.float32(255.0)                    # saturated column
    buf = np.zeros((size + length, n), np.float32)
    buf[size:] = signals
    out = _vlfeat_triangle(buf, size, at, "test_tri").copy()
    start, stride, count, shift, shifts = at
    rows = [start + stride * j + shift * k for j in range(count) for k in range(shifts)]
    expected = np.stack([c_coltri(signals[:, c], size, rows) for c in range(n)], axis=1)
    np.testing.assert_array_equal(out.view(np.int32), expected.view(np.int32))
