"""Our own estimators against scikit-learn's on real dense SIFT of the committed photographs: the
diagonal GMM (EM from the same initial parameters) and the whitened descriptor PCA."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import DATA

from features import DenseSIFT, DescriptorPCA
from features.codebook import assign_nearest, fit_gmm, kmeans


@pytest.fixture(scope="module")
def sift():
    """Dense SIFT (step 4, bin size 6) of two photographs: about 8,500 x 128."""
    return DenseSIFT(step=4, bin_size=6).transform(sorted((DATA / "images").glob("*.jpg"))[:2])


@pytest.fixture(scope="module")
def gmm_pair(sift):
    """Our fit_gmm and sklearn's GaussianMixture, 10 EM iterations each from the same initial
    parameters: k-means means, and the priors and variances of the k-means clusters (fit_gmm's
    initialisation)."""
    from sklearn.mixture import GaussianMixture

    x = DescriptorPCA(n_components=32, random_state=0).fit(sift).transform(sift)
    x = np.concatenate([f.descriptors for f in x]).astype(np.float64)
    k = 8
    means = kmeans(x, k, n_iter=5, random_state=0).astype(np.float64)
    labels = assign_nearest(x, means)
    priors = np.bincount(labels, minlength=k) / len(x)
    variances = np.array([x[labels == c].var(axis=0) for c in range(k)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                       # tol=0: "did not converge" is expected
        ref = GaussianMixture(k, covariance_type="diag", weights_init=priors, means_init=means,
                              precisions_init=1 / variances, max_iter=10, tol=0, reg_covar=0,
                              init_params="random_from_data", random_state=0).fit(x)
    return x, means, ref


@pytest.mark.parametrize("dtype, rtol, atol", [(np.float64, 1e-10, 1e-12), (np.float32, 1e-4, 2e-5)])
def test_gmm_equals_scikit_learn_from_the_same_start(gmm_pair, dtype, rtol, atol):
    """float64: equal to 1e-10 (measured 6e-14); float32 descriptors (float32 E-step products,
    float64 sums): variances to 1e-4 relative (measured 1e-5), means and priors to 2e-5 (6e-7)."""
    x, init, ref = gmm_pair
    ours = fit_gmm(x.astype(dtype), 8, max_iter=10, tol=0, init_means=init, covariance_floor=1e-12)
    assert len(ours.log_likelihood) == 11                       # 10 E-steps, then the final parameters'
    # sklearn's lower bound is the mean log-likelihood of the last E-step; score() that of the result
    np.testing.assert_allclose(ours.log_likelihood[-2], ref.lower_bound_, rtol=rtol)
    np.testing.assert_allclose(ours.log_likelihood[-1], ref.score(x), rtol=rtol)
    assert ours.log_likelihood[-1] - ours.log_likelihood[0] > 0.1          # EM moved: the comparison bites
    np.testing.assert_allclose(ours.means, ref.means_, rtol=0, atol=atol)
    np.testing.assert_allclose(ours.covariances, ref.covariances_, rtol=rtol * 10)
    np.testing.assert_allclose(ours.priors, ref.weights_, rtol=0, atol=atol)


def test_whitened_pca_equals_scikit_learn(sift):
    """Same mean, variances (n - 1 denominator) to 1e-6, components to 1e-6 up to sign (the
    smallest relative eigengap of the 16 is 2%), whitened projections to 2e-5 (float32 output)."""
    from sklearn.decomposition import PCA

    x = np.concatenate([f.descriptors for f in sift]).astype(np.float64)
    ours = DescriptorPCA(n_components=16, whiten=True, eps=0.0, max_samples=len(x)).fit(sift)
    ref = PCA(16, whiten=True, svd_solver="full").fit(x)
    np.testing.assert_allclose(ours.mean_, ref.mean_, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours.explained_variance_, ref.explained_variance_, rtol=1e-6)
    signs = np.sign(np.sum(ours.components_ * ref.components_, axis=1))
    np.testing.assert_allclose(ours.components_, signs[:, None] * ref.components_, rtol=0, atol=1e-6)
    projector = ours.components_.T.astype(np.float64) @ ours.components_         # the same subspace
    np.testing.assert_allclose(projector, ref.components_.T @ ref.components_, rtol=0, atol=1e-6)
    projected = ours.project(x)
    np.testing.assert_allclose(projected, ref.transform(x) * signs, rtol=0, atol=2e-5)
    np.testing.assert_allclose(projected.var(axis=0, ddof=1), 1, rtol=1e-5)        # whitened
    # the default eps = 1e-6 only shrinks each whitened coordinate by sqrt(var / (var + eps))
    shrink = np.sqrt(ref.explained_variance_ / (ref.explained_variance_ + 1e-6))
    np.testing.assert_allclose(DescriptorPCA(n_components=16, whiten=True, max_samples=len(x)).fit(sift).project(x),
                               ref.transform(x) * signs * shrink, rtol=0, atol=2e-5)
