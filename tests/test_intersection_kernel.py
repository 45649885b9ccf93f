"""The histogram intersection kernel SVM: the blockwise kernel against a loop, and the classifier
against scikit-learn's SVC with the kernel as a callable."""
from __future__ import annotations

import numpy as np
import pytest

from baselines.classification import SOLVERS, LinearSVMClassifier, intersection_kernel


def kernel_oracle(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    out = np.zeros((len(a), len(b)))
    for i in range(len(a)):
        for j in range(len(b)):
            out[i, j] = sum(min(u, v) for u, v in zip(a[i], b[j]))
    return out


def _histograms(rng, n, d=60, n_classes=4):
    """L1-normalised histograms whose class shows in a few over-represented bins."""
    y = np.repeat(np.arange(n_classes), n // n_classes)
    x = rng.gamma(0.5, size=(len(y), d))
    for c in range(n_classes):
        x[y == c, c * 5: c * 5 + 5] += rng.gamma(1.0, size=(np.sum(y == c), 5))
    return (x / x.sum(axis=1, keepdims=True)).astype(np.float32), y


@pytest.mark.parametrize("block_bytes", [1, 700, 5000, 1 << 25])
def test_intersection_kernel_equals_a_loop(rng, block_bytes):
    a, _ = _histograms(rng, 40)
    b = a[:13] * 1.5
    ref = kernel_oracle(a, b)
    np.testing.assert_allclose(intersection_kernel(a, b, block_bytes=block_bytes), ref, rtol=1e-6, atol=0)
    sym = intersection_kernel(a, block_bytes=block_bytes)          # the symmetric path: blocks mirrored
    np.testing.assert_allclose(sym, kernel_oracle(a, a), rtol=1e-6, atol=0)
    assert np.array_equal(sym, sym.T)
    np.testing.assert_allclose(np.diag(sym), a.astype(np.float64).sum(axis=1), rtol=1e-6)   # k(x, x) = |x|_1


def test_intersection_svm_equals_svc_with_the_kernel_as_a_callable(rng):
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.svm import SVC

    x, y = _histograms(rng, 120)
    xt, yt = _histograms(rng, 60)
    ours = LinearSVMClassifier(C=10.0, solver="intersection").fit(x, y)
    ref = OneVsRestClassifier(SVC(kernel=kernel_oracle, C=10.0)).fit(x, y)
    scores, ref_scores = ours.decision_function(xt), ref.decision_function(xt)
    np.testing.assert_allclose(scores, ref_scores, rtol=0, atol=1e-5 * np.abs(ref_scores).max())
    np.testing.assert_array_equal(ours.predict(xt), ref.predict(xt))
    assert np.mean(ours.predict(xt) == yt) > 0.8
    searched = LinearSVMClassifier(C=[0.1, 10.0, 1000.0], solver="intersection").fit(x, y)
    assert set(searched.validation_scores_) == {0.1, 10.0, 1000.0}


def test_solver_names_and_bad_input(rng):
    assert SOLVERS == ("liblinear", "sgd", "gram", "intersection")
    x, y = _histograms(rng, 40)
    with pytest.raises(ValueError, match="non-negative"):
        LinearSVMClassifier(solver="intersection").fit(x - 0.01, y)
    with pytest.raises(ValueError, match=r"solver: expected one of \('liblinear'"):
        LinearSVMClassifier(solver="rbf").fit(x, y)
    with pytest.raises(ValueError, match=r"expected two arrays \(n, D\) and \(m, D\)"):
        intersection_kernel(x, x[:, :10])
