"""scikit-learn estimators that turn each image's local features into one vector.

``fit`` learns the vocabulary (k-means) or the GMM on a seeded sample of the training
descriptors; ``transform`` maps a list of :class:`features.local.LocalFeatures` to an
array of shape (n_images, n_features), one row per image, through the pure functions of
the modules of :mod:`features.encoding` over the cells of a spatial pyramid.  Parameters are stored
verbatim; fitted state ends in ``_``.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._validation import check_choice, check_positive_int, check_positive_real
from ..codebook import assign_nearest, fit_gmm, kmeans, nearest_words
from ..local import _features_list, _sample_descriptors
from .fisher import fisher_vector_pyramid
from .histograms import BOW_NORMALIZATIONS, normalize_bow, pyramid_word_counts, soft_assignments
from .llc import llc_pyramid
from .normalize import CELL_NORMALIZATIONS
from .pyramid import n_pyramid_cells, parse_layout, spatial_pyramid
from .super_vector import SV_ASSIGNMENTS, super_vector_pyramid
from .vlad import vlad


class _PyramidEncoder(TransformerMixin, BaseEstimator):
    def _check_layout(self):
        parse_layout(self.layout)

    def _encode_all(self, X, encode_one):
        rows = []
        for f in _features_list(X, type(self).__name__):
            rows.append(spatial_pyramid(encode_one, f.descriptors, f.frames, f.image_size, self.layout))
        return np.vstack(rows) if rows else np.zeros((0, 0))

    @staticmethod
    def _stack(rows) -> np.ndarray:
        """One float32 row per image."""
        rows = list(rows)
        return np.vstack(rows).astype(np.float32) if rows else np.zeros((0, 0), np.float32)


class _VocabularyEncoder(_PyramidEncoder):
    """A pyramid encoder over a k-means vocabulary learned on a seeded descriptor sample."""

    def _fit_vocabulary(self, X) -> np.ndarray:
        """Validate the layout, learn ``vocabulary_``; return the (float32) sample it was learned on."""
        self._check_layout()
        sample = _sample_descriptors(X, self.max_descriptors, self.random_state).astype(np.float32)
        self.vocabulary_ = kmeans(sample, self.n_words, n_iter=self.kmeans_iter, random_state=self.random_state)
        return sample

    def _nearest_squared_distances(self, sample) -> np.ndarray:
        """Squared distances of (at most 5,000 of) the sample descriptors to their nearest word; float64."""
        probe = sample[: min(len(sample), 5000)]
        return nearest_words(probe, self.vocabulary_, 1)[1][:, 0].astype(np.float64)

    def _default_soft_sigma(self, d2) -> float:
        """The median distance of the sample descriptors to their nearest word, counting only
        those not on a word: descriptors that *are* words (a vocabulary nearly as large as its
        sample, or PHOW's many all-zero descriptors) would make it 0, and the kernel
        ``exp(-d^2 / 2 sigma^2)`` undefined."""
        positive = d2[d2 > 0]
        if not len(positive):
            raise ValueError("soft_sigma: every sampled descriptor lies on a word, so no kernel width can be "
                             "estimated; set soft_sigma (encoding.soft_sigma) or sample more descriptors")
        return float(np.sqrt(np.median(positive)))


class BagOfWords(_VocabularyEncoder):
    """Bag of visual words over a spatial pyramid (Lazebnik 2006; VLFeat's phow_caltech101).

    Parameters
    ----------
    n_words : int
        Vocabulary size (k-means on ``max_descriptors`` sampled training descriptors).
    layout : str
        Spatial pyramid, e.g. ``"1x1+2x2+4x4"`` (see :func:`features.parse_layout`).
    assignment : {"hard", "soft"}
        Nearest word, or kernel codebook over the ``n_neighbors`` nearest words.
    soft_sigma : float or None
        Kernel width for soft assignment (default: the median nearest-word distance of the
        sampled descriptors that are not words themselves).
    n_neighbors : int
    normalize : {"l1", "l1_per_cell", "none"}
        Divide the whole histogram by its total count (VLFeat's phow_caltech101), each cell
        by its own, or not at all.
    level_weights : sequence of float or None
        Multiply each layout's cells by a weight (Lazebnik's pyramid match weights, e.g.
        ``(0.25, 0.25, 0.5)`` for 1x1+2x2+4x4).
    max_descriptors, kmeans_iter, random_state :
        Vocabulary training.

    Attributes
    ----------
    vocabulary_ : ndarray of shape (n_words, D)
    soft_sigma_ : float or None
    """

    def __init__(self, *, n_words=600, layout="1x1", assignment="hard", soft_sigma=None, n_neighbors=5,
                 normalize="l1", level_weights=None, max_descriptors=100_000, kmeans_iter=25, random_state=0):
        self.n_words = n_words
        self.layout = layout
        self.assignment = assignment
        self.soft_sigma = soft_sigma
        self.n_neighbors = n_neighbors
        self.normalize = normalize
        self.level_weights = level_weights
        self.max_descriptors = max_descriptors
        self.kmeans_iter = kmeans_iter
        self.random_state = random_state

    def fit(self, X, y=None):
        self._check_layout()
        if self.assignment not in ("hard", "soft"):
            raise ValueError(f"assignment: expected 'hard' or 'soft', got {self.assignment!r}")
        if self.normalize not in BOW_NORMALIZATIONS:
            raise ValueError(f"normalize: expected one of {BOW_NORMALIZATIONS}, got {self.normalize!r}")
        sample = self._fit_vocabulary(X)
        self.soft_sigma_ = None
        if self.assignment == "soft":
            self.soft_sigma_ = (float(self.soft_sigma) if self.soft_sigma is not None
                                else self._default_soft_sigma(self._nearest_squared_distances(sample)))
        return self

    def transform(self, X):
        check_is_fitted(self, "vocabulary_")
        k = self.n_words
        rows = []
        for f in _features_list(X, type(self).__name__):
            if self.assignment == "hard":
                words = assign_nearest(f.descriptors, self.vocabulary_) if len(f) else np.zeros(0, np.int64)
                rows.append(pyramid_word_counts(words, f.frames, f.image_size, self.layout, k))
            else:
                words, weights = soft_assignments(f.descriptors, self.vocabulary_, sigma=self.soft_sigma_,
                                                  n_neighbors=self.n_neighbors)
                rows.append(pyramid_word_counts(words, f.frames, f.image_size, self.layout, k, weights=weights))
        if not rows:
            return np.zeros((0, 0), np.float32)
        return normalize_bow(np.stack(rows), normalize=self.normalize, level_weights=self.level_weights,
                             layout=self.layout)


class VLADEncoder(_VocabularyEncoder):
    """VLAD over a spatial pyramid (per cell: residual sums, signed square root, L2).

    Attributes
    ----------
    vocabulary_ : ndarray of shape (n_words, D)
    """

    def __init__(self, *, n_words=64, layout="1x1", max_descriptors=100_000, kmeans_iter=25, random_state=0):
        self.n_words = n_words
        self.layout = layout
        self.max_descriptors = max_descriptors
        self.kmeans_iter = kmeans_iter
        self.random_state = random_state

    def fit(self, X, y=None):
        self._fit_vocabulary(X)
        return self

    def transform(self, X):
        check_is_fitted(self, "vocabulary_")
        out = self._encode_all(X, lambda d: vlad(d, self.vocabulary_))
        return (out / np.sqrt(n_pyramid_cells(self.layout))).astype(np.float32)


class FisherVectorEncoder(_PyramidEncoder):
    """Improved Fisher vectors over a spatial pyramid (Perronnin et al. 2010; Chatfield et al. 2011).

    Each cell's vector is VLFeat's improved FV (signed square root, L2); the concatenation
    is divided by the square root of the number of cells so that it has unit norm.

    Parameters
    ----------
    n_components : int
        GMM components (K).
    layout : str
    max_descriptors, em_iter, kmeans_iter, covariance_floor, random_state :
        GMM training on a seeded descriptor sample.
    dtype : {"float32", "float64"}
        Arithmetic of the encoding.
    verbose : bool
        Log each EM iteration (see :func:`features.codebook.fit_gmm`).

    Attributes
    ----------
    means_, covariances_ : ndarray of shape (K, D)
    priors_ : ndarray of shape (K,)
    log_likelihood_ : list of float
    """

    def __init__(self, *, n_components=256, layout="1x1", max_descriptors=200_000, em_iter=20, kmeans_iter=10,
                 covariance_floor=1e-4, dtype="float32", verbose=False, random_state=0):
        self.n_components = n_components
        self.layout = layout
        self.max_descriptors = max_descriptors
        self.em_iter = em_iter
        self.kmeans_iter = kmeans_iter
        self.covariance_floor = covariance_floor
        self.dtype = dtype
        self.verbose = verbose
        self.random_state = random_state

    def fit(self, X, y=None):
        self._check_layout()
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype: expected 'float32' or 'float64', got {self.dtype!r}")
        sample = _sample_descriptors(X, self.max_descriptors, self.random_state).astype(np.float32)
        gmm = fit_gmm(sample, self.n_components, max_iter=self.em_iter, kmeans_iter=self.kmeans_iter,
                      covariance_floor=self.covariance_floor, verbose=self.verbose,
                      random_state=self.random_state)
        self.means_, self.covariances_, self.priors_ = gmm.means, gmm.covariances, gmm.priors
        self.log_likelihood_ = gmm.log_likelihood
        return self

    def transform(self, X):
        check_is_fitted(self, "means_")
        dtype = np.dtype(self.dtype)
        rows = [fisher_vector_pyramid(np.asarray(f.descriptors, dtype), f.frames, f.image_size, self.layout,
                                               self.means_, self.covariances_, self.priors_)
                for f in _features_list(X, type(self).__name__)]
        out = np.vstack(rows) if rows else np.zeros((0, 0))
        return (out / np.sqrt(n_pyramid_cells(self.layout))).astype(np.float32)


class LLCEncoder(_VocabularyEncoder):
    """Locality-constrained linear coding over a spatial pyramid (Wang et al. 2010; see
    :mod:`features.encoding.llc`): codes on the ``n_neighbors`` nearest words, max pooling per
    cell, L2 normalisation.

    Parameters
    ----------
    n_words : int
        Vocabulary size (k-means; the paper used 2048 words on Caltech-101).
    layout : str
        Spatial pyramid (the paper: ``"1x1+2x2+4x4"``).
    n_neighbors : int
        k (the paper: 5).
    beta : float
        Regularisation of the local covariance, relative to its trace (the authors' code: 1e-4).
    normalize : {"l2", "l2_per_cell", "none"}
        L2 of the whole pyramid vector (the authors' code), of each cell, or none.
    max_descriptors, kmeans_iter, random_state :
        Vocabulary training.

    Attributes
    ----------
    vocabulary_ : ndarray of shape (n_words, D)
    """

    def __init__(self, *, n_words=2048, layout="1x1+2x2+4x4", n_neighbors=5, beta=1e-4, normalize="l2",
                 max_descriptors=100_000, kmeans_iter=25, random_state=0):
        self.n_words = n_words
        self.layout = layout
        self.n_neighbors = n_neighbors
        self.beta = beta
        self.normalize = normalize
        self.max_descriptors = max_descriptors
        self.kmeans_iter = kmeans_iter
        self.random_state = random_state

    def fit(self, X, y=None):
        check_choice(self.normalize, "normalize", CELL_NORMALIZATIONS)
        check_positive_real(self.beta, "beta")
        if check_positive_int(self.n_neighbors, "n_neighbors") > check_positive_int(self.n_words, "n_words"):
            raise ValueError(f"n_neighbors={self.n_neighbors} exceeds the vocabulary size (n_words={self.n_words})")
        self._fit_vocabulary(X)
        return self

    def transform(self, X):
        check_is_fitted(self, "vocabulary_")
        return self._stack(llc_pyramid(f.descriptors, f.frames, f.image_size, self.vocabulary_, layout=self.layout,
                                       n_neighbors=self.n_neighbors, beta=self.beta, normalize=self.normalize)
                           for f in _features_list(X, type(self).__name__))


class SuperVectorEncoder(_VocabularyEncoder):
    """Super-vector coding over a spatial pyramid (Zhou et al. 2010; see
    :mod:`features.encoding.super_vector`): per word ``[s sqrt(p_k), (1 / (N sqrt(p_k)))
    sum gamma_k(x) (x - v_k)]``, cells concatenated, L2 normalisation.

    Parameters
    ----------
    n_words : int
        Vocabulary size (k-means).
    layout : str
        Spatial pyramid (the paper's PASCAL setting: ``"1x1+2x2+3x1"``).
    s : float or None
        Weight of the zero-order part; None: the root-mean-square distance of the training
        sample to its nearest word (so that both parts have the same scale).
    assignment : {"hard", "soft"}
        Nearest word (the paper's VQ coding), or kernel codebook over ``n_neighbors`` words.
    soft_sigma : float or None
        Kernel width for soft assignment (default: the median nearest-word distance of the
        sampled descriptors that are not words themselves).
    n_neighbors : int
    normalize : {"l2", "l2_per_cell", "none"}
    max_descriptors, kmeans_iter, random_state :
        Vocabulary training.

    Attributes
    ----------
    vocabulary_ : ndarray of shape (n_words, D)
    s_ : float
    soft_sigma_ : float or None
    """

    def __init__(self, *, n_words=1024, layout="1x1+2x2+3x1", s=None, assignment="hard", soft_sigma=None,
                 n_neighbors=5, normalize="l2", max_descriptors=100_000, kmeans_iter=25, random_state=0):
        self.n_words = n_words
        self.layout = layout
        self.s = s
        self.assignment = assignment
        self.soft_sigma = soft_sigma
        self.n_neighbors = n_neighbors
        self.normalize = normalize
        self.max_descriptors = max_descriptors
        self.kmeans_iter = kmeans_iter
        self.random_state = random_state

    def fit(self, X, y=None):
        check_choice(self.assignment, "assignment", SV_ASSIGNMENTS)
        check_choice(self.normalize, "normalize", CELL_NORMALIZATIONS)
        if self.s is not None and self.s != 0:
            check_positive_real(self.s, "s")
        sample = self._fit_vocabulary(X)
        d2 = self._nearest_squared_distances(sample)
        self.s_ = float(self.s) if self.s is not None else float(np.sqrt(np.mean(d2)))
        self.soft_sigma_ = None
        if self.assignment == "soft":
            self.soft_sigma_ = float(self.soft_sigma) if self.soft_sigma is not None else self._default_soft_sigma(d2)
        return self

    def transform(self, X):
        check_is_fitted(self, "vocabulary_")
        return self._stack(super_vector_pyramid(f.descriptors, f.frames, f.image_size, self.vocabulary_,
                                                layout=self.layout, s=self.s_, assignment=self.assignment,
                                                sigma=self.soft_sigma_, n_neighbors=self.n_neighbors,
                                                normalize=self.normalize)
                           for f in _features_list(X, type(self).__name__))


class HellingerMap(TransformerMixin, BaseEstimator):
    """Explicit feature map of the Hellinger (Bhattacharyya) kernel: element-wise square root
    of non-negative (L1-normalised) histograms."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        X = np.asarray(X, np.float32)
        if (X < 0).any():
            raise ValueError("HellingerMap: expected non-negative histograms")
        return np.sqrt(X)
