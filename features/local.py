"""Local features of an image and the scikit-learn transformers that produce and refine them.

A transformer in this module maps a list of images (arrays, or paths read with
:func:`features.image_io.load_image`) or a list of :class:`LocalFeatures` to a list of
:class:`LocalFeatures`, one per input, so that steps compose in a
:class:`sklearn.pipeline.Pipeline`::

    Pipeline([("sift", DenseSIFT(step=4, bin_size=8)), ("root", RootSIFT()),
              ("pca", DescriptorPCA(n_components=64, random_state=0))])

Parameters are stored verbatim by ``__init__``; work happens in ``fit``/``transform``;
fitted state ends in ``_``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from . import dsift, postprocess, spm_sift
from ._validation import as_float_image, check_choice, check_positive_real
from .color import rgb_to_gray
from .image_io import is_image_source, load_image, shrink_to_max_side


@dataclass(frozen=True)
class LocalFeatures:
    """The local descriptors of one image.

    Attributes
    ----------
    frames : ndarray of shape (n, 4), float64
        ``x, y, contrast, bin_size`` (0-based pixel centres).
    descriptors : ndarray of shape (n, d), float32
    image_size : (height, width)
        Size of the image the frames refer to.
    """

    frames: np.ndarray
    descriptors: np.ndarray
    image_size: tuple

    def __len__(self) -> int:
        return len(self.descriptors)


def _as_image(item, max_side):
    if is_image_source(item):
        return load_image(item, max_side=max_side)
    arr = np.asarray(item)
    return shrink_to_max_side(arr, max_side) if max_side is not None else arr


def _gray(image):
    return rgb_to_gray(image) if image.ndim == 3 else image


def _features_list(X, name):
    if isinstance(X, LocalFeatures):
        raise TypeError(f"{name}: expected a list of LocalFeatures, got a single LocalFeatures (wrap it in a list)")
    items = list(X)
    for item in items:
        if not isinstance(item, LocalFeatures):
            raise TypeError(f"{name}: expected LocalFeatures items (the output of DenseSIFT/PHOW), got {type(item)}")
    return items


class DenseSIFT(TransformerMixin, BaseEstimator):
    """Dense SIFT of each image (:func:`features.dsift.dense_sift`).

    Parameters
    ----------
    step, bin_size, fast, window_size, contrast_threshold, vlfeat_math :
        As :func:`features.dsift.dense_sift`.
    magnif : float or None
        Pre-smooth with :func:`features.dsift.smooth_gaussian` of sigma ``bin_size /
        magnif`` (as PHOW does with 6; SIFT's own magnification is 3); None (default) for
        no smoothing, as ``vl_dsift``.
    max_side : int or None
        Shrink images so that their longest side is at most this many pixels.
    """

    def __init__(self, *, step=4, bin_size=8, fast=True, window_size=2.0, contrast_threshold=None,
                 magnif=None, max_side=None, vlfeat_math=None):
        self.step = step
        self.bin_size = bin_size
        self.fast = fast
        self.window_size = window_size
        self.contrast_threshold = contrast_threshold
        self.magnif = magnif
        self.max_side = max_side
        self.vlfeat_math = vlfeat_math

    def fit(self, X=None, y=None):
        """Nothing to learn; validates the parameters."""
        dsift.dense_grid(10**6, 10**6, step=self.step, bin_size=self.bin_size)
        return self

    def extract(self, image) -> LocalFeatures:
        """Local features of one image (array or path)."""
        gray = _gray(_as_image(image, self.max_side))
        gray = as_float_image(gray)
        if self.magnif:
            gray = dsift.smooth_gaussian(gray, self.bin_size / self.magnif)
        frames, desc = dsift.dense_sift(gray, step=self.step, bin_size=self.bin_size, fast=self.fast,
                                        window_size=self.window_size, contrast_threshold=self.contrast_threshold,
                                        vlfeat_math=self.vlfeat_math)
        return LocalFeatures(frames, desc, gray.shape[:2])

    def transform(self, X):
        """List of images (arrays or paths) to a list of :class:`LocalFeatures`."""
        return [self.extract(item) for item in X]


class PHOW(TransformerMixin, BaseEstimator):
    """Multi-scale dense SIFT of each image (:func:`features.dsift.phow`).

    Parameters
    ----------
    sizes, step, color, fast, window_size, magnif, contrast_threshold, vlfeat_math :
        As :func:`features.dsift.phow`.
    max_side : int or None
        Shrink images so that their longest side is at most this many pixels
        (``phow_caltech101`` uses 480).
    """

    def __init__(self, *, sizes=(4, 6, 8, 10), step=2, color="gray", fast=True, window_size=1.5, magnif=6.0,
                 contrast_threshold=0.005, max_side=None, vlfeat_math=None):
        self.sizes = sizes
        self.step = step
        self.color = color
        self.fast = fast
        self.window_size = window_size
        self.magnif = magnif
        self.contrast_threshold = contrast_threshold
        self.max_side = max_side
        self.vlfeat_math = vlfeat_math

    def fit(self, X=None, y=None):
        """Nothing to learn; validates the parameters."""
        check_choice(self.color, "color", dsift.PHOW_COLORS)
        return self

    def extract(self, image) -> LocalFeatures:
        """Local features of one image (array or path)."""
        im = _as_image(image, self.max_side)
        frames, desc = dsift.phow(im, sizes=self.sizes, step=self.step, color=self.color, fast=self.fast,
                                  window_size=self.window_size, magnif=self.magnif,
                                  contrast_threshold=self.contrast_threshold, vlfeat_math=self.vlfeat_math)
        return LocalFeatures(frames, desc, im.shape[:2])

    def transform(self, X):
        """List of images (arrays or paths) to a list of :class:`LocalFeatures`."""
        return [self.extract(item) for item in X]


class SpatialPyramidSIFT(TransformerMixin, BaseEstimator):
    """Dense SIFT of each image as the spatial-pyramid authors computed it
    (:func:`features.spm_sift.spatial_pyramid_sift`: derivative-of-Gaussian gradients, a cos^9 angular
    kernel, bilinear bins inside 16 x 16 patches, weak descriptors left unnormalised).

    Parameters
    ----------
    step : int
        Grid spacing in pixels.
    bin_size : int
        Spatial bin size; the patch is ``4 bin_size`` pixels wide.
    sigma_edge : float
        Sigma of the derivative-of-Gaussian filter.
    max_side : int or None
        Shrink images so that their longest side is at most this many pixels.
    """

    def __init__(self, *, step=8, bin_size=4, sigma_edge=0.8, max_side=None):
        self.step = step
        self.bin_size = bin_size
        self.sigma_edge = sigma_edge
        self.max_side = max_side

    def fit(self, X=None, y=None):
        """Nothing to learn; validates the parameters."""
        spm_sift.spatial_pyramid_sift(np.zeros((1, 1), np.float32), step=self.step, patch_size=4 * self.bin_size,
                                      sigma_edge=self.sigma_edge)
        check_positive_real(self.sigma_edge, "sigma_edge")
        return self

    def extract(self, image) -> LocalFeatures:
        """Local features of one image (array or path)."""
        gray = as_float_image(_gray(_as_image(image, self.max_side)))
        frames, desc = spm_sift.spatial_pyramid_sift(gray, step=self.step, patch_size=4 * self.bin_size,
                                         sigma_edge=self.sigma_edge)
        return LocalFeatures(frames, desc, gray.shape[:2])

    def transform(self, X):
        """List of images (arrays or paths) to a list of :class:`LocalFeatures`."""
        return [self.extract(item) for item in X]


class RootSIFT(TransformerMixin, BaseEstimator):
    """Hellinger mapping of every descriptor (:func:`features.postprocess.root_sift`)."""

    def fit(self, X=None, y=None):
        return self

    def transform(self, X):
        return [replace(f, descriptors=postprocess.root_sift(f.descriptors)) for f in _features_list(X, "RootSIFT")]


class SpatialAugmentation(TransformerMixin, BaseEstimator):
    """Append each descriptor's normalised position (:func:`features.postprocess.append_spatial`)."""

    def fit(self, X=None, y=None):
        return self

    def transform(self, X):
        return [replace(f, descriptors=postprocess.append_spatial(f.descriptors, f.frames, f.image_size))
                for f in _features_list(X, "SpatialAugmentation")]


class DescriptorPCA(TransformerMixin, BaseEstimator):
    """PCA of local descriptors, fitted on a random sample of them.

    Parameters
    ----------
    n_components : int
        Output dimension (64 or 80 in the 2010-2012 Fisher-vector entries).
    whiten : bool
        Divide each component by the square root of its variance (plus ``eps``).
    max_samples : int
        Descriptors sampled (uniformly, without replacement) across images for fitting.
    eps : float
        Added to the variances before whitening.
    random_state : int or None

    Attributes
    ----------
    mean_ : ndarray of shape (d,)
    components_ : ndarray of shape (n_components, d)
        Unit rows, each signed so that its largest-magnitude entry is positive.
    explained_variance_ : ndarray of shape (n_components,)
    """

    def __init__(self, *, n_components=64, whiten=False, max_samples=100_000, eps=1e-6, random_state=None):
        self.n_components = n_components
        self.whiten = whiten
        self.max_samples = max_samples
        self.eps = eps
        self.random_state = random_state

    def fit(self, X, y=None):
        sample = _sample_descriptors(X, self.max_samples, self.random_state)
        if sample.shape[1] < self.n_components:
            raise ValueError(f"n_components={self.n_components} exceeds the descriptor dimension {sample.shape[1]}")
        if len(sample) < 2:
            raise ValueError("DescriptorPCA needs at least 2 descriptors to fit")
        mean = sample.mean(axis=0)
        centred = sample - mean
        cov = centred.T @ centred / (len(sample) - 1)
        values, vectors = np.linalg.eigh(cov)
        order = np.argsort(values)[::-1][: self.n_components]
        comps = vectors[:, order].T
        signs = np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(axis=1)])
        self.mean_ = mean.astype(np.float32)
        self.components_ = (comps * signs[:, None]).astype(np.float32)
        self.explained_variance_ = np.maximum(values[order], 0).astype(np.float32)
        return self

    def project(self, descriptors) -> np.ndarray:
        """Project an (n, d) array; (n, n_components) float32."""
        check_is_fitted(self, "components_")
        d = np.asarray(descriptors, np.float32)
        out = (d - self.mean_) @ self.components_.T
        if self.whiten:
            out /= np.sqrt(self.explained_variance_ + np.float32(self.eps))
        return out.astype(np.float32)

    def transform(self, X):
        check_is_fitted(self, "components_")
        return [replace(f, descriptors=self.project(f.descriptors)) for f in _features_list(X, "DescriptorPCA")]


def _sample_descriptors(X, max_samples: int, random_state) -> np.ndarray:
    """Uniform sample of at most ``max_samples`` descriptors across a list of LocalFeatures (or one array)."""
    rng = np.random.default_rng(random_state)
    if isinstance(X, np.ndarray):
        data = np.asarray(X, np.float64)
    else:
        data = np.concatenate([f.descriptors for f in _features_list(X, "DescriptorPCA")]).astype(np.float64)
    if data.ndim != 2:
        raise ValueError(f"expected descriptors of shape (n, d), got {data.shape}")
    if len(data) > max_samples:
        data = data[np.sort(rng.choice(len(data), max_samples, replace=False))]
    return data
