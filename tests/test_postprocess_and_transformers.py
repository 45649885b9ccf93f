"""RootSIFT, PCA, spatial augmentation, colour statistics; the scikit-learn contract of the
transformers; the descriptor figure."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import DATA
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline

from features import (
    PHOW,
    DenseSIFT,
    DescriptorPCA,
    LocalFeatures,
    RootSIFT,
    SpatialAugmentation,
)
from features.image_io import load_image
from features.plots import descriptor_glyph, plot_descriptors
from features.postprocess import append_spatial, local_color_statistics, root_sift

PHOTOS = sorted((DATA / "images").glob("*.jpg"))


def test_root_sift_is_the_hellinger_map(rng):
    a, b = rng.random((2, 128)).astype(np.float32)
    ra, rb = root_sift(np.stack([a, b]))
    hellinger = np.sum(np.sqrt(a * b)) / np.sqrt(a.sum() * b.sum())
    assert ra @ rb == pytest.approx(hellinger, rel=1e-5)
    np.testing.assert_allclose(np.linalg.norm(root_sift(np.stack([a, b])), axis=1), 1, rtol=1e-5)
    assert np.all(root_sift(np.zeros((1, 128))) == 0)
    with pytest.raises(ValueError, match="non-negative"):
        root_sift(-np.ones((1, 4)))


def test_append_spatial():
    out = append_spatial(np.ones((2, 3)), np.array([[0, 0, 0, 4], [50, 25, 0, 4.0]]), (50, 100))
    np.testing.assert_allclose(out[:, 3:], [[-0.5, -0.5], [0.0, 0.0]])
    with pytest.raises(ValueError, match="differ in length"):
        append_spatial(np.ones((2, 3)), np.zeros((3, 4)), (10, 10))


def test_local_color_statistics_against_a_slow_oracle():
    rgb = load_image(PHOTOS[1])
    frames = np.array([[60.0, 50.0, 0, 4], [150.5, 100.5, 0, 6], [3.0, 3.0, 0, 4]])  # last one clipped
    out = local_color_statistics(rgb, frames).reshape(3, 4, 4, 2, 3)
    im = rgb.astype(np.float64) / 255
    for n, (x, y, _, size) in enumerate(frames):
        half = size * 2
        edges = np.linspace(0, 1, 5)
        xs = np.clip(np.round(x - half + 0.5 + 2 * half * edges), 0, im.shape[1]).astype(int)
        ys = np.clip(np.round(y - half + 0.5 + 2 * half * edges), 0, im.shape[0]).astype(int)
        for i in range(4):
            for j in range(4):
                cell = im[ys[i]: ys[i + 1], xs[j]: xs[j + 1]].reshape(-1, 3)
                if len(cell):
                    np.testing.assert_allclose(out[n, i, j, 0], cell.mean(0), atol=1e-5)
                    np.testing.assert_allclose(out[n, i, j, 1], cell.std(0), atol=1e-4)


def _features(n_images=3):
    return DenseSIFT(step=6, bin_size=6).fit_transform(PHOTOS[:n_images])


def test_pca_fit_is_deterministic_and_whitens():
    feats = _features()
    pca = DescriptorPCA(n_components=16, whiten=True, max_samples=2000, random_state=3).fit(feats)
    again = DescriptorPCA(n_components=16, whiten=True, max_samples=2000, random_state=3).fit(feats)
    np.testing.assert_array_equal(pca.components_, again.components_)
    np.testing.assert_allclose(pca.components_ @ pca.components_.T, np.eye(16), atol=1e-5)
    assert np.all(np.diff(pca.explained_variance_) <= 1e-7)
    projected = np.concatenate([f.descriptors for f in pca.transform(feats)])
    assert projected.shape[1] == 16
    np.testing.assert_allclose(projected.var(axis=0), 1, rtol=0.15)    # whitened (fitted on a sample)
    unwhitened = DescriptorPCA(n_components=16, random_state=3, max_samples=2000).fit(feats)
    np.testing.assert_allclose(np.concatenate([f.descriptors for f in unwhitened.transform(feats)]).var(axis=0),
                               unwhitened.explained_variance_, rtol=0.15)
    with pytest.raises(ValueError, match="exceeds the descriptor dimension"):
        DescriptorPCA(n_components=200).fit(feats)


@pytest.mark.parametrize("estimator", [DenseSIFT(step=8, bin_size=6), PHOW(step=8), RootSIFT(), SpatialAugmentation(),
                                       DescriptorPCA(n_components=8, random_state=0)])
def test_sklearn_contract(estimator):
    cloned = clone(estimator)
    assert cloned.get_params() == estimator.get_params()
    cloned.set_params(**estimator.get_params())
    images = [load_image(p) for p in PHOTOS[:2]]
    data = images if isinstance(estimator, (DenseSIFT, PHOW)) else DenseSIFT(step=8).transform(images)
    if isinstance(estimator, DescriptorPCA):
        with pytest.raises(NotFittedError):
            clone(estimator).transform(data)
    fitted = cloned.fit(data)
    assert fitted is cloned
    out = fitted.transform(data)
    again = clone(estimator).fit(data).transform(data)
    assert len(out) == len(data) and all(isinstance(f, LocalFeatures) for f in out)
    for a, b in zip(out, again):
        np.testing.assert_array_equal(a.descriptors, b.descriptors)
        assert len(a.frames) == len(a.descriptors)


def test_pipeline_from_paths_and_arrays():
    pipe = Pipeline([("sift", DenseSIFT(step=5, bin_size=6, max_side=200)), ("root", RootSIFT()),
                     ("pca", DescriptorPCA(n_components=32, random_state=0))])
    from_paths = pipe.fit_transform(PHOTOS[:2])
    from_arrays = pipe.transform([load_image(p, max_side=200) for p in PHOTOS[:2]])
    for a, b in zip(from_paths, from_arrays):
        np.testing.assert_array_equal(a.descriptors, b.descriptors)
        assert max(a.image_size) == 200 and a.descriptors.shape[1] == 32
    with pytest.raises(TypeError, match="expected LocalFeatures items"):
        RootSIFT().transform([np.zeros((3, 128))])


def test_descriptor_figure(tmp_path):
    rgb = load_image(PHOTOS[1])
    feats = DenseSIFT(step=6, bin_size=8).transform([rgb])[0]
    path = plot_descriptors(rgb, feats.frames, feats.descriptors, tmp_path / "fig" / "descriptors.png",
                            max_descriptors=5)
    from matplotlib.image import imread

    img = imread(path)
    assert img.shape[0] > 300 and img[..., :3].std() > 0.05
    # the glyph draws each orientation bin with a length proportional to its value
    d = feats.descriptors[np.argmax(feats.frames[:, 2])]
    segments = descriptor_glyph(d)
    lengths = np.linalg.norm(segments[:, 1] - segments[:, 0], axis=1)
    np.testing.assert_allclose(lengths, 0.5 * d / d.max(), atol=1e-6)
    # bin t of cell (bx, by) points along 2 pi t / 8 from the centre of that cell
    k = 8 * (2 + 4 * 1) + 3                                   # bx=2, by=1, t=3
    np.testing.assert_allclose(segments[k, 0], [0.5, -0.5])
    direction = segments[k, 1] - segments[k, 0]
    if lengths[k] > 0:
        np.testing.assert_allclose(direction / lengths[k], [np.cos(3 * np.pi / 4), np.sin(3 * np.pi / 4)], atol=1e-6)
