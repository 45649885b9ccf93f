"""LLC and super-vector coding against per-descriptor oracles written from the papers' equations
(float64 loops), their properties, pyramid pooling and error paths."""
from __future__ import annotations

import numpy as np
import pytest

from features.encoding import (
    llc_codes,
    llc_pyramid,
    llc_weights,
    pool_super_vector,
    pyramid_cells,
    spatial_pyramid,
    super_vector,
    super_vector_assignments,
    super_vector_pyramid,
)


def llc_oracle(x, words, k=5, beta=1e-4):
    """Wang et al. 2010, approximated LLC, descriptor by descriptor: C = (B_x - 1x^T)(B_x - 1x^T)^T,
    C += beta tr(C) I, c = C^-1 1, c /= 1^T c; codes (n, K) dense."""
    out = np.zeros((len(x), len(words)))
    for i, xi in enumerate(np.asarray(x, np.float64)):
        d2 = [float(np.sum((xi - w) ** 2)) for w in words]
        near = np.argsort(d2, kind="stable")[:k]
        z = words[near] - xi
        c = z @ z.T
        c = c + np.eye(k) * beta * np.trace(c)
        w = np.linalg.solve(c, np.ones(k))
        out[i, near] = w / w.sum()
    return out


def llc_pooling_oracle(codes, frames, image_size, layout, normalize="l2"):
    """LLC_pooling.m: per cell the max over its descriptors' dense codes (zeros for an empty cell),
    cells concatenated, then L2 of the whole vector."""
    pooled = []
    for idx in pyramid_cells(frames, image_size, layout):
        pooled.append(codes[idx].max(axis=0) if len(idx) else np.zeros(codes.shape[1]))
    if normalize == "l2_per_cell":
        pooled = [p / max(np.linalg.norm(p), 1e-12) for p in pooled]
    out = np.concatenate(pooled)
    return out / np.linalg.norm(out) if normalize == "l2" else out


def super_vector_oracle(x, words, s, soft=None):
    """Zhou et al. 2010: phi(x) = [s gamma_k(x), gamma_k(x)(x - v_k)]_k, pooled as
    (1/N) sum_x sum_k phi_k(x) / sqrt(p_k), p_k = (1/N) sum_x gamma_k(x); unnormalised."""
    n, (k, d) = len(x), words.shape
    gamma = np.zeros((n, k))
    for i, xi in enumerate(x):
        d2 = np.array([np.sum((xi - w) ** 2) for w in words])
        if soft is None:
            gamma[i, np.argmin(d2)] = 1
        else:
            sigma, m = soft
            near = np.argsort(d2)[:m]
            w = np.exp(-d2[near] / (2 * sigma ** 2))
            gamma[i, near] = w / w.sum()
    p = gamma.sum(axis=0) / n
    out = np.zeros((k, d + 1))
    for j in range(k):
        if p[j] == 0:
            continue
        for i, xi in enumerate(x):
            out[j] += gamma[i, j] * np.r_[s, xi - words[j]] / np.sqrt(p[j])
    return out.ravel() / n


@pytest.fixture
def data(rng):
    words = rng.normal(size=(40, 16))
    x = rng.normal(size=(300, 16))
    return x, words


@pytest.mark.parametrize("k, beta", [(5, 1e-4), (3, 1e-2), (8, 1e-4)])
def test_llc_codes_equal_the_papers_equations(data, k, beta):
    x, words = data
    ref = llc_oracle(x, words, k, beta)
    ours = llc_codes(x, words, n_neighbors=k, beta=beta)
    assert ours.shape == (300, 40) and ours.nnz == 300 * k
    np.testing.assert_allclose(ours.toarray(), ref, rtol=0, atol=1e-12)
    assert (ref < 0).any()                              # the unconstrained-sign case is exercised
    # float32 descriptors: neighbours searched in float32 (faiss), the solves in float64
    x32 = x.astype(np.float32)
    np.testing.assert_allclose(llc_codes(x32, words, n_neighbors=k, beta=beta).toarray(),
                               llc_oracle(x32.astype(np.float64), words, k, beta), rtol=0, atol=1e-10)


def test_llc_code_properties(data, rng):
    x, words = data
    idx, codes = llc_weights(x, words, n_neighbors=5)
    np.testing.assert_allclose(codes.sum(axis=1), 1, atol=1e-12)                # shift invariance: 1^T c = 1
    d2 = ((x[:, None, :] - words[None]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(idx, np.argsort(d2, axis=1)[:, :5])           # the 5 nearest, nearest first
    dense = llc_codes(x, words).toarray()
    assert np.all((dense != 0).sum(axis=1) == 5)                                 # zero outside the neighbours
    # a descriptor equal to a word: code 1 there (up to the regularisation, exactly as beta -> 0)
    on_words = words[[3, 17, 29]]
    for beta, tol in [(1e-4, 2e-3), (1e-10, 1e-8)]:
        c = llc_codes(on_words, words, beta=beta).toarray()
        np.testing.assert_allclose(c[[0, 1, 2], [3, 17, 29]], 1, atol=tol)
        c[[0, 1, 2], [3, 17, 29]] = 0
        assert np.abs(c).max() < tol                                              # the other neighbours: ~0
    # k > D and a tiny beta: x lies in the affine hull of its neighbours, so it is reconstructed
    w3, x3 = rng.normal(size=(20, 3)), rng.normal(size=(50, 3))
    idx, codes = llc_weights(x3, w3, n_neighbors=6, beta=1e-9)
    np.testing.assert_allclose(np.einsum("nk,nkd->nd", codes, w3[idx]), x3, atol=1e-5)
    # all neighbours equal to the descriptor (tr C = 0): equal weights
    dup = np.vstack([np.zeros((2, 3)), np.ones((3, 3))])
    np.testing.assert_allclose(llc_weights(np.zeros((1, 3)), dup, n_neighbors=2)[1], [[0.5, 0.5]])


def test_llc_pyramid_max_pooling_equals_the_authors_pooling(data, rng):
    x, words = data
    frames = rng.uniform(0, 100, (300, 2))
    frames[0] = [5, 5]
    frames[1:, 0] = np.where(frames[1:, 0] < 25, frames[1:, 0] + 25, frames[1:, 0])
    # descriptor 0 is alone in the first 4x4 cell and the rest of the first column is empty
    layout = "1x1+2x2+4x4"
    codes = llc_oracle(x, words)
    for normalize in ("l2", "l2_per_cell", "none"):
        ref = llc_pooling_oracle(codes, frames, (100, 100), layout, normalize)
        ours = llc_pyramid(x, frames, (100, 100), words, layout=layout, normalize=normalize)
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)
    raw = llc_pyramid(x, frames, (100, 100), words, layout=layout, normalize="none").reshape(21, 40)
    assert raw[5].min() < 0                       # a lone descriptor's negative codes survive max pooling
    assert not raw[5 + 4].any()                   # the empty cell (row 1, column 0 of the 4x4 grid) is zero
    assert raw[0].min() >= 0                      # elsewhere the implicit zeros win over negative codes
    assert np.isclose(np.linalg.norm(llc_pyramid(x, frames, (100, 100), words)), 1)
    empty = llc_pyramid(np.zeros((0, 16)), np.zeros((0, 4)), (100, 100), words, layout="2x2")
    assert empty.shape == (160,) and not empty.any()


def test_llc_bad_input(data):
    x, words = data
    with pytest.raises(ValueError, match=r"expected shape \(n, 16\)"):
        llc_codes(x[:, :8], words)
    with pytest.raises(ValueError, match="n_neighbors=50 exceeds the vocabulary size"):
        llc_codes(x, words, n_neighbors=50)
    with pytest.raises(ValueError, match="beta: expected a positive number"):
        llc_codes(x, words, beta=0)
    with pytest.raises(ValueError, match="normalize"):
        llc_pyramid(x, np.zeros((300, 2)), (10, 10), words, normalize="l1")
    with pytest.raises(ValueError, match="one .* row per descriptor"):
        llc_pyramid(x, np.zeros((299, 2)), (10, 10), words)


@pytest.mark.parametrize("soft", [None, (0.9, 3), (2.0, 40)])
@pytest.mark.parametrize("s", [0.0, 0.5, 3.0])
def test_super_vector_equals_the_papers_equations(data, soft, s):
    x, words = data
    ref = super_vector_oracle(x, words, s, soft)
    kw = dict(assignment="soft", sigma=soft[0], n_neighbors=soft[1]) if soft else {}
    ours = super_vector(x, words, s=s, normalize=False, **kw)
    assert ours.shape == (40 * 17,)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(super_vector(x, words, s=s, **kw), ref / np.linalg.norm(ref), rtol=0, atol=1e-12)
    np.testing.assert_allclose(super_vector(x.astype(np.float32), words, s=s, normalize=False, **kw),
                               super_vector_oracle(x.astype(np.float32).astype(np.float64), words, s, soft),
                               rtol=0, atol=1e-6)


def test_super_vector_properties(data, rng):
    x, words = data
    s = 1.7
    sv = super_vector(x, words, s=s, normalize=False).reshape(40, 17)
    nearest = np.argmin(((x[:, None] - words[None]) ** 2).sum(axis=2), axis=1)
    counts = np.bincount(nearest, minlength=40)
    p = counts / len(x)
    np.testing.assert_allclose(sv[:, 0], s * np.sqrt(p))                     # zero-order part: s sqrt(p_k) ...
    assert np.isclose(np.linalg.norm(sv[:, 0]), s)                           # ... of norm s
    for k in np.flatnonzero(counts)[:5]:                                     # first order: sqrt(p_k)(mean_k - v_k)
        np.testing.assert_allclose(sv[k, 1:], np.sqrt(p[k]) * (x[nearest == k].mean(axis=0) - words[k]))
    assert not sv[counts == 0].any()                                          # unused words: zero blocks
    # translating descriptors and words together changes nothing
    shift = rng.normal(size=16) * 10
    np.testing.assert_allclose(super_vector(x + shift, words + shift, s=s), super_vector(x, words, s=s), atol=1e-10)
    # descriptors on the words: no first-order part
    on = super_vector(words[[1, 1, 5]], words, s=1.0, normalize=False).reshape(40, 17)
    assert not on[:, 1:].any() and np.allclose(on[[1, 5], 0], np.sqrt([2 / 3, 1 / 3]))
    # assignments: hard one-hot, soft rows summing to 1 over n_neighbors words
    soft = super_vector_assignments(x, words, assignment="soft", sigma=1.0, n_neighbors=4)
    assert soft.nnz == 300 * 4 and np.allclose(soft.sum(axis=1), 1)


def test_super_vector_pyramid_equals_per_cell_vectors(data, rng):
    x, words = data
    frames = rng.uniform(0, 60, (300, 2))
    frames[:, 1] = np.minimum(frames[:, 1], 39)                                   # the bottom stripe of 3x1 is empty
    for normalize in ("l2", "l2_per_cell", "none"):
        ours = super_vector_pyramid(x, frames, (60, 60), words, layout="1x1+2x2+3x1", s=0.8, normalize=normalize)
        cells = spatial_pyramid(lambda d: super_vector(d, words, s=0.8, normalize=normalize == "l2_per_cell"),
                                x, frames, (60, 60), "1x1+2x2+3x1")
        ref = cells / np.linalg.norm(cells) if normalize == "l2" else cells
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)
    last = super_vector_pyramid(x, frames, (60, 60), words, layout="3x1", s=0.8).reshape(3, -1)[2]
    assert not last.any()


def test_super_vector_bad_input(data):
    x, words = data
    with pytest.raises(ValueError, match="sigma: soft assignment needs"):
        super_vector(x, words, assignment="soft")
    with pytest.raises(ValueError, match="assignment: expected one of"):
        super_vector(x, words, assignment="nearest")
    with pytest.raises(ValueError, match="s: expected a positive number"):
        super_vector(x, words, s=-1.0)
    with pytest.raises(ValueError, match=r"expected shape \(n, 16\)"):
        super_vector(x[:, :3], words)
    with pytest.raises(ValueError, match="one .* row per descriptor"):
        super_vector_pyramid(x, np.zeros((3, 2)), (10, 10), words)
    assert not pool_super_vector(np.zeros((0, 16)), np.zeros((0, 40)), words).any()
