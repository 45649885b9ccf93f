"""Encoders and codebooks against obvious-loop oracles (float32 and float64), VLFeat's
vl_fisher where installed, scikit-image's Fisher vector, and the estimator contract."""
from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from features.codebook import assign_nearest, fit_gmm, kmeans, posteriors
from features.encoding import (
    BagOfWords,
    FisherVectorEncoder,
    HellingerMap,
    LLCEncoder,
    SuperVectorEncoder,
    VLADEncoder,
    bow_histogram,
    fisher_vector,
    from_skimage_layout,
    parse_layout,
    pyramid_cells,
    soft_histogram,
    spatial_pyramid,
    vlad,
)
from features.local import LocalFeatures


def _gmm_params(rng, k=6, d=5):
    means = rng.normal(0, 2, (k, d))
    covs = rng.uniform(0.3, 1.5, (k, d))
    priors = rng.dirichlet(np.ones(k))
    x = means[rng.integers(0, k, 300)] + rng.normal(0, 1, (300, d))
    return x, means, covs, priors


def fisher_oracle(x, means, covs, priors, improved=True):
    """vl_fisher, line by line (float64); a component of prior below 1e-6 has log-weight -inf
    in the posteriors (vl_get_gmm_data_posteriors) and is skipped."""
    n, d = x.shape
    k = len(priors)
    post = np.zeros((n, k))
    for i in range(n):
        logs = []
        for c in range(k):
            lp = math.log(priors[c]) if priors[c] >= 1e-6 else -math.inf
            for j in range(d):
                lp += -0.5 * math.log(2 * math.pi * covs[c, j]) - 0.5 * (x[i, j] - means[c, j]) ** 2 / covs[c, j]
            logs.append(lp)
        m = max(logs)
        w = [math.exp(v - m) for v in logs]
        post[i] = np.array(w) / sum(w)
    u = np.zeros((k, d))
    v = np.zeros((k, d))
    for c in range(k):
        if priors[c] < 1e-6:
            continue
        for i in range(n):
            p = post[i, c]
            if p < 1e-6:
                continue
            diff = (x[i] - means[c]) / np.sqrt(covs[c])
            u[c] += p * diff
            v[c] += p * (diff * diff - 1)
        u[c] /= n * math.sqrt(priors[c])
        v[c] /= n * math.sqrt(2 * priors[c])
    out = np.concatenate([u.ravel(), v.ravel()])
    if improved:
        out = np.sign(out) * np.sqrt(np.abs(out))
        out /= max(np.linalg.norm(out), 1e-12)
    return out


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@pytest.mark.parametrize("improved", [True, False])
def test_fisher_vector_matches_oracle(dtype, tol, improved, rng):
    x, means, covs, priors = _gmm_params(rng)
    priors[2] = 1e-7                                      # skipped component, as VLFeat
    priors /= priors.sum()
    ours = fisher_vector(x.astype(dtype), means, covs, priors, improved=improved)
    ref = fisher_oracle(x.astype(dtype).astype(np.float64), means, covs, priors, improved)
    assert ours.dtype == dtype and ours.shape == (2 * 6 * 5,)
    np.testing.assert_allclose(ours, ref, atol=tol * (1 if improved else 10))
    assert np.all(ours.reshape(2, 6, 5)[:, 2] == 0)


def test_fisher_vector_edge_cases(rng):
    _, means, covs, priors = _gmm_params(rng)
    assert np.all(fisher_vector(np.zeros((0, 5)), means, covs, priors) == 0)
    with pytest.raises(ValueError, match=r"expected shape \(n, 5\)"):
        fisher_vector(np.zeros((3, 4)), means, covs, priors)


@pytest.mark.skipif(importlib.util.find_spec("cyvlfeat") is None, reason="VLFeat (cyvlfeat) not installed")
@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-4), (np.float64, 1e-6)])
def test_fisher_vector_equals_vl_fisher_on_real_descriptors(dtype, tol):
    from conftest import DATA
    from cyvlfeat.fisher import fisher

    from features import DenseSIFT, DescriptorPCA

    feats = DenseSIFT(step=3, bin_size=6).transform(sorted((DATA / "images").glob("*.jpg"))[:2])
    pca = DescriptorPCA(n_components=32, random_state=0).fit(feats)
    x = pca.transform(feats)[0].descriptors
    gmm = fit_gmm(np.concatenate([f.descriptors for f in pca.transform(feats)]), 32, max_iter=5, random_state=0)
    ours = fisher_vector(x.astype(dtype), gmm.means, gmm.covariances, gmm.priors)
    ref = fisher(x.astype(dtype), gmm.means.astype(dtype), gmm.covariances.astype(dtype), gmm.priors.astype(dtype),
                 improved=True).ravel()
    assert np.abs(ours - ref).max() <= tol


@pytest.fixture(scope="module")
def fisher_golden():
    import hashlib

    from conftest import DATA

    path = DATA / "vlfeat_fisher_golden.npz"
    recorded = (DATA / "vlfeat_fisher_golden.sha256").read_text().split()[0]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == recorded, \
        "vlfeat_fisher_golden.npz differs from its manifest; regenerate with make_fisher_fixtures.py"
    with np.load(path) as archive:
        return dict(archive)


@pytest.mark.parametrize("gmm", ["broad", "tight"])
@pytest.mark.parametrize("dtype, improved, tol", [(np.float32, True, 3e-6), (np.float32, False, 1e-5),
                                                  (np.float64, True, 1e-12), (np.float64, False, 1e-12)])
def test_fisher_vector_equals_vl_fisher_golden(fisher_golden, gmm, dtype, improved, tol):
    """vl_fisher (VLFeat 0.9.21) on 400 PCA'd dense-SIFT descriptors of a real image: a broad K=8 GMM
    with a component of prior 1e-7 (dense posteriors) and a tight K=128 one (sparse posteriors)."""
    g = fisher_golden
    x = g["descriptors"].astype(dtype)
    params = [g[f"{gmm}/{name}"].astype(dtype) for name in ("means", "covariances", "priors")]
    ref = g[f"{gmm}/{np.dtype(dtype).name}/{'improved' if improved else 'plain'}"]
    ours = fisher_vector(x, *params, improved=improved)
    assert ours.dtype == dtype and ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=0, atol=tol)
    assert np.array_equal(ours == 0, ref == 0)            # the same skipped components and blocks


def test_fisher_vector_agrees_with_scikit_image_after_layout_conversion(rng):
    from skimage.feature import fisher_vector as sk_fisher
    from sklearn.mixture import GaussianMixture

    x, *_ = _gmm_params(rng)
    gmm = GaussianMixture(4, covariance_type="diag", random_state=0).fit(x)
    sk = sk_fisher(x, gmm)
    ours = fisher_vector(x, gmm.means_, gmm.covariances_, gmm.weights_, improved=False)
    # equal but for the posteriors below 1e-6 that VLFeat (and we) skip and scikit-image keeps
    np.testing.assert_allclose(from_skimage_layout(sk, 4, 5), ours, rtol=0, atol=1e-6)


def test_bow_soft_and_vlad_match_oracles(rng):
    words = rng.normal(size=(7, 4))
    x = rng.normal(size=(50, 4))
    nearest = [int(np.argmin([np.sum((xi - w) ** 2) for w in words])) for xi in x]
    np.testing.assert_array_equal(assign_nearest(x, words), nearest)
    np.testing.assert_array_equal(bow_histogram(x, words), np.bincount(nearest, minlength=7))
    soft = np.zeros(7)
    for xi in x:
        d2 = np.array([np.sum((xi - w) ** 2) for w in words])
        near = np.argsort(d2)[:3]
        w = np.exp(-d2[near] / (2 * 0.8 ** 2))
        soft[near] += w / w.sum()
    np.testing.assert_allclose(soft_histogram(x, words, sigma=0.8, n_neighbors=3), soft)
    raw = np.zeros((7, 4))
    for xi, k in zip(x, nearest):
        raw[k] += xi - words[k]
    np.testing.assert_allclose(vlad(x, words, normalize=False), raw.ravel())
    norm = vlad(x, words)
    expected = np.sign(raw.ravel()) * np.sqrt(np.abs(raw.ravel()))
    np.testing.assert_allclose(norm, expected / np.linalg.norm(expected))


def test_kernel_codebook_pyramid_searches_once_and_pools_each_cell_like_a_histogram_per_cell(rng):
    from features.encoding.histograms import normalize_bow, pyramid_word_counts
    feats = _local_features(rng, n=3)
    feats[1] = LocalFeatures(feats[1].frames[:0], feats[1].descriptors[:0], (100, 100))     # no descriptors
    enc = BagOfWords(n_words=10, assignment="soft", n_neighbors=3, layout="1x1+2x2+3x1", normalize="none",
                     random_state=0).fit(feats)
    per_cell = np.stack([spatial_pyramid(lambda d: soft_histogram(d, enc.vocabulary_, sigma=enc.soft_sigma_,
                                                                  n_neighbors=3) if len(d) else np.zeros(10),
                                         f.descriptors, f.frames, f.image_size, enc.layout) for f in feats])
    np.testing.assert_allclose(enc.transform(feats), per_cell, rtol=1e-6, atol=1e-7)
    assert not enc.transform(feats)[1].any()
    per_level = enc.set_params(normalize="l1_per_cell", level_weights=(1.0, 0.5, 0.25))
    np.testing.assert_allclose(per_level.transform(feats), normalize_bow(
        per_cell.reshape(3, -1, 10), normalize="l1_per_cell", level_weights=(1.0, 0.5, 0.25), layout=enc.layout),
        rtol=1e-6, atol=1e-7)
    # weighted counts: every descriptor adds its weights to its words in the cells it lies in
    frames = np.array([[10, 10], [90, 10], [10, 90], [90, 90.0]])
    words = np.array([[0, 1], [1, 2], [2, 0], [0, 3]])
    weights = np.array([[0.75, 0.25], [0.5, 0.5], [1.0, 0.0], [0.125, 0.875]])
    counts = pyramid_word_counts(words, frames, (100, 100), "1x1+2x2", 4, weights=weights)
    np.testing.assert_array_equal(counts[0], [0.75 + 0.125, 0.25 + 0.5, 0.5 + 1.0, 0.875])
    np.testing.assert_array_equal(counts[1:], [[0.75, 0.25, 0, 0], [0, 0.5, 0.5, 0], [0, 0, 1.0, 0],
                                               [0.125, 0, 0, 0.875]])
    np.testing.assert_array_equal(normalize_bow(counts[None], normalize="l1", layout="1x1+2x2").sum(), 1)
    with pytest.raises(ValueError, match="weights: expected the shape of words"):
        pyramid_word_counts(words, frames, (100, 100), "1x1", 4, weights=weights[:, :1])
    with pytest.raises(ValueError, match=r"words: expected shape \(n,\) without weights"):
        pyramid_word_counts(words, frames, (100, 100), "1x1", 4)


def test_spatial_pyramid_cells():
    frames = np.array([[10, 10], [90, 10], [10, 90], [90, 90], [50, 60.0]])
    cells = pyramid_cells(frames, (100, 100), "1x1+2x2+3x1")
    assert len(cells) == 1 + 4 + 3
    assert cells[0].tolist() == [0, 1, 2, 3, 4]
    assert [c.tolist() for c in cells[1:5]] == [[0], [1], [2], [3, 4]]     # row-major 2x2
    assert [c.tolist() for c in cells[5:]] == [[0, 1], [4], [2, 3]]        # 3 horizontal stripes
    counts = spatial_pyramid(lambda d: np.array([len(d)]), np.zeros((5, 2)), frames, (100, 100), "1x1+3x1")
    assert counts.tolist() == [5, 2, 1, 2]
    for bad in ["2x", "0x1", "2x2+", "a"]:
        with pytest.raises(ValueError, match="layout"):
            parse_layout(bad)


def test_kmeans_and_gmm(rng):
    centres = rng.normal(0, 10, (4, 3))
    x = (centres[rng.integers(0, 4, 2000)] + rng.normal(0, 0.5, (2000, 3))).astype(np.float32)
    a = kmeans(x, 4, random_state=1)
    np.testing.assert_array_equal(a, kmeans(x, 4, random_state=1))           # seeded
    found = np.sort(np.linalg.norm(a[:, None] - centres[None], axis=2).min(axis=0))
    assert found.max() < 0.2
    gmm = fit_gmm(x, 4, max_iter=30, random_state=0)
    assert np.all(np.diff(gmm.log_likelihood) >= -1e-4)                      # EM never decreases it
    np.testing.assert_allclose(np.sort(gmm.priors), np.sort(np.bincount(assign_nearest(x, centres)) / 2000),
                               atol=0.02)
    np.testing.assert_allclose(gmm.covariances, 0.25, rtol=0.2)
    floored = fit_gmm(x, 4, max_iter=5, covariance_floor=0.5, random_state=0)
    assert floored.covariances.min() >= 0.5 * x.var(axis=0).max() * (1 - 1e-6)
    p = posteriors(x, gmm.means, gmm.covariances, gmm.priors)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)
    with pytest.raises(ValueError, match="exceeds the number of descriptors"):
        fit_gmm(x[:3], 4)


def _local_features(rng, n=4):
    out = []
    for _ in range(n):
        m = int(rng.integers(80, 120))
        frames = np.c_[rng.uniform(0, 100, (m, 2)), np.zeros((m, 2))]
        out.append(LocalFeatures(frames, rng.random((m, 8)).astype(np.float32), (100, 100)))
    return out


@pytest.mark.parametrize("estimator", [
    BagOfWords(n_words=10, layout="1x1+2x2", random_state=0),
    BagOfWords(n_words=10, assignment="soft", normalize="l1_per_cell", layout="1x1+2x2", level_weights=(0.5, 1.0)),
    VLADEncoder(n_words=5, layout="3x1"),
    FisherVectorEncoder(n_components=4, layout="1x1+3x1", em_iter=5),
    LLCEncoder(n_words=12, layout="1x1+2x2"),
    LLCEncoder(n_words=12, n_neighbors=3, normalize="l2_per_cell", layout="2x2"),
    SuperVectorEncoder(n_words=6, layout="1x1+3x1"),
    SuperVectorEncoder(n_words=6, s=0.5, assignment="soft", layout="1x1"),
])
def test_encoder_contract(estimator, rng):
    feats = _local_features(rng)
    with pytest.raises(NotFittedError):
        clone(estimator).transform(feats)
    fitted = clone(estimator)
    assert fitted.fit(feats) is fitted
    out = fitted.transform(feats)
    assert out.shape[0] == len(feats) and out.dtype == np.float32
    np.testing.assert_array_equal(out, clone(estimator).fit(feats).transform(feats))   # same seed, same output
    assert clone(estimator).get_params() == estimator.get_params()
    if isinstance(estimator, (VLADEncoder, FisherVectorEncoder)) or getattr(estimator, "normalize", None) == "l2":
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1, rtol=1e-5)
    elif estimator.normalize == "l1":
        np.testing.assert_allclose(out.sum(axis=1), 1, rtol=1e-5)
    assert np.all(np.sqrt(np.abs(out)) == HellingerMap().fit_transform(np.abs(out)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fisher_pyramid_shares_posteriors_but_equals_per_cell_vectors(dtype, rng):
    from features.encoding import fisher_vector_pyramid

    x, means, covs, priors = _gmm_params(rng)
    frames = np.c_[rng.uniform(0, 50, (len(x), 2)), np.zeros((len(x), 2))]
    fast = fisher_vector_pyramid(x.astype(dtype), frames, (50, 50), "1x1+2x2+3x1", means, covs, priors)
    slow = spatial_pyramid(lambda d: fisher_vector(d, means, covs, priors), x.astype(dtype), frames, (50, 50),
                           "1x1+2x2+3x1")
    np.testing.assert_allclose(fast, slow, rtol=1e-6, atol=1e-7)
    empty = fisher_vector_pyramid(np.zeros((0, 5), dtype), np.zeros((0, 4)), (50, 50), "2x2", means, covs, priors)
    assert empty.shape == (4 * 60,) and not empty.any()


def test_kernel_codebook_width_ignores_descriptors_that_are_words(rng):
    """PHOW zeroes its low-contrast descriptors, and a vocabulary nearly as large as its
    sample puts most sampled descriptors on a word: the median nearest-word distance is then
    0 and ``exp(-d^2 / 2 sigma^2)`` undefined (NaN signatures).  The default width is the
    median over the descriptors that are not words."""
    feats = _local_features(rng)
    for f in feats:
        f.descriptors[: 2 * len(f.descriptors) // 3] = 0          # two thirds all-zero, as PHOW in flat areas
    for encoder in (BagOfWords(n_words=10, assignment="soft", layout="1x1"),
                    SuperVectorEncoder(n_words=6, assignment="soft", layout="1x1")):
        encoder.fit(feats)
        sample = np.concatenate([f.descriptors for f in feats]).astype(np.float64)
        d2 = ((sample[:, None] - encoder.vocabulary_[None]) ** 2).sum(axis=2).min(axis=1)
        assert np.median(d2) == 0                                 # the old default: sigma = 0
        assert np.isclose(encoder.soft_sigma_, np.sqrt(np.median(d2[d2 > 0])), rtol=1e-5)
        assert np.isfinite(encoder.transform(feats)).all()
    flat = _local_features(rng)
    for f in flat:
        f.descriptors[:] = 0
    with pytest.raises(ValueError, match="soft_sigma: every sampled descriptor lies on a word"):
        BagOfWords(n_words=3, assignment="soft").fit(flat)
    with pytest.raises(ValueError, match="sigma: expected a positive kernel width"):
        soft_histogram(np.ones((2, 8)), np.zeros((3, 8)), sigma=0.0)


def test_llc_and_super_vector_estimators_apply_the_pure_functions(rng):
    from features.encoding import llc_pyramid, super_vector_pyramid

    feats = _local_features(rng)
    llc = LLCEncoder(n_words=12, layout="1x1+2x2", beta=1e-3).fit(feats)
    assert llc.vocabulary_.shape == (12, 8)
    np.testing.assert_allclose(llc.transform(feats)[1], llc_pyramid(feats[1].descriptors, feats[1].frames, (100, 100),
                                                                    llc.vocabulary_, layout="1x1+2x2", beta=1e-3),
                               rtol=1e-6, atol=1e-7)
    sv = SuperVectorEncoder(n_words=6, assignment="soft", layout="1x1+2x2").fit(feats)
    sample = np.concatenate([f.descriptors for f in feats]).astype(np.float64)
    d2 = ((sample[:, None] - sv.vocabulary_[None]) ** 2).sum(axis=2).min(axis=1)
    assert np.isclose(sv.s_, np.sqrt(d2.mean()), rtol=1e-5)                # s: RMS distance to the nearest word
    assert np.isclose(sv.soft_sigma_, np.sqrt(np.median(d2)), rtol=1e-5)
    np.testing.assert_allclose(sv.transform(feats)[2], super_vector_pyramid(
        feats[2].descriptors, feats[2].frames, (100, 100), sv.vocabulary_, layout="1x1+2x2", s=sv.s_,
        assignment="soft", sigma=sv.soft_sigma_), rtol=1e-6, atol=1e-7)
    assert sv.transform(feats).shape == (4, 5 * 6 * 9)                       # 5 cells x 6 words x (1 + D)
    with pytest.raises(ValueError, match="normalize"):
        LLCEncoder(normalize="l1").fit(feats)
    with pytest.raises(ValueError, match="n_neighbors=20 exceeds the vocabulary size"):
        LLCEncoder(n_words=12, n_neighbors=20).fit(feats)
    with pytest.raises(ValueError, match="assignment"):
        SuperVectorEncoder(assignment="sparse").fit(feats)
    with pytest.raises(ValueError, match="s: expected a positive number"):
        SuperVectorEncoder(s=-1).fit(feats)
