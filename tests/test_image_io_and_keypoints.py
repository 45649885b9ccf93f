"""Image loading on the oddities of the ILSVRC training set, and OpenCV keypoint SIFT in
VLFeat's conventions."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import DATA
from PIL import Image

from features.dsift import dense_sift, smooth_gaussian
from features.image_io import ImageReadError, load_gray, load_image, shrink_to_max_side
from features.keypoints import opencv_dense_sift, sift_keypoints

PHOTO = DATA / "images" / "butterfly_0001.jpg"


@pytest.fixture(scope="module")
def rgb():
    return np.asarray(Image.open(PHOTO).convert("RGB"))


def test_cmyk_grayscale_png_named_jpeg(tmp_path, rgb):
    img = Image.fromarray(rgb)
    img.convert("CMYK").save(tmp_path / "cmyk.JPEG", "JPEG", quality=95)
    img.convert("L").save(tmp_path / "gray.JPEG", "JPEG", quality=95)
    img.save(tmp_path / "really_a_png.JPEG", "PNG")
    cmyk = load_image(tmp_path / "cmyk.JPEG")
    assert cmyk.shape == rgb.shape and cmyk.dtype == np.uint8
    assert np.abs(cmyk.astype(int) - rgb).mean() < 3          # colours survive the CMYK round trip
    gray = load_image(tmp_path / "gray.JPEG")
    assert gray.shape == rgb.shape and np.array_equal(gray[..., 0], gray[..., 2])
    assert np.array_equal(load_image(tmp_path / "really_a_png.JPEG"), rgb)   # decoded by content, losslessly


def test_exif_orientation_is_ignored(tmp_path, rgb):
    exif = Image.Exif()
    exif[0x0112] = 6   # "rotate 90 CW to display"
    Image.fromarray(rgb).save(tmp_path / "rotated.jpg", "JPEG", quality=95, exif=exif)
    out = load_image(tmp_path / "rotated.jpg")
    assert out.shape == rgb.shape                               # the stored pixel grid, not the displayed one


def test_max_side_shrinks_but_never_enlarges(rgb):
    out = load_image(PHOTO, max_side=150)
    assert max(out.shape[:2]) == 150 and out.shape[:2] == (99, 150)
    assert load_image(PHOTO, max_side=1000).shape == rgb.shape
    assert shrink_to_max_side(rgb, 300) is rgb
    with pytest.raises(ValueError, match="max_side"):
        load_image(PHOTO, max_side=0)


@pytest.mark.parametrize("content, reason", [(None, "No such file"), (b"", "empty file"),
                                             (b"\xff\xd8\xff\xe0 not really a jpeg", "not a decodable image")])
def test_unreadable_files_raise_one_clear_error(tmp_path, content, reason):
    path = tmp_path / "bad.JPEG"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageReadError, match=reason) as info:
        load_image(path)
    assert info.value.path == str(path) and str(info.value).startswith(f"{path}: cannot read image")


def test_truncated_jpeg_still_decodes_or_fails_clearly(tmp_path):
    data = PHOTO.read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    try:
        out = load_image(tmp_path / "cut.jpg")
    except ImageReadError as exc:
        assert "cut.jpg" in str(exc)
    else:
        assert out.shape == (198, 300, 3)


def test_load_gray_uses_matlab_weights(rgb):
    gray = load_gray(PHOTO)
    expected = rgb.astype(np.float64) @ [0.298936021293775, 0.587043074451121, 0.114020904255103] / 255
    np.testing.assert_allclose(gray, expected, atol=1e-6)


@pytest.mark.parametrize("phi_deg", [0, 30, 120, 250])
def test_keypoint_orientation_is_in_image_coordinates(phi_deg):
    """A blob whose one side is bright along (cos phi, sin phi) (y down) gets theta ~ phi."""
    phi = np.deg2rad(phi_deg)
    y, x = np.mgrid[0:201, 0:201].astype(float)
    u = (x - 100) * np.cos(phi) + (y - 100) * np.sin(phi)
    image = (np.exp(-((x - 100) ** 2 + (y - 100) ** 2) / (2 * 15 ** 2)) * (0.5 + 0.5 * np.tanh(u / 4)))
    frames, desc = sift_keypoints(image.astype(np.float32))
    near = frames[np.hypot(frames[:, 0] - 100, frames[:, 1] - 100) < 20]
    assert len(near) >= 1
    err = np.angle(np.exp(1j * (near[:, 3] - phi)))
    assert np.abs(err).min() < np.deg2rad(5)
    assert np.allclose(np.linalg.norm(desc, axis=1), 1, atol=1e-5)


def test_opencv_dense_grid_matches_ours_with_the_same_pre_blur():
    """OpenCV blurs by sqrt(1.6^2 - 0.5^2) and uses a Gaussian window of bins 1.5 x size:
    after the same blur our Gaussian-window descriptors agree (orientation bins mirrored)."""
    gray = load_gray(PHOTO)
    frames_cv, desc_cv = opencv_dense_sift(gray, step=8, bin_size=8)
    frames, desc = dense_sift(smooth_gaussian(gray, np.sqrt(1.6 ** 2 - 0.25)), step=8, bin_size=8, fast=False)
    np.testing.assert_array_equal(frames_cv, frames[:, :2])
    keep = (np.linalg.norm(desc_cv, axis=1) > 0) & (np.linalg.norm(desc, axis=1) > 0)
    cos = (desc_cv[keep] * desc[keep]).sum(axis=1)
    assert cos.mean() > 0.995 and np.percentile(cos, 10) > 0.99
