"""Linear classifiers on image signatures: one-vs-rest linear SVMs, C chosen on a validation split.

``LinearSVMClassifier`` wraps liblinear (``sklearn.svm.LinearSVC``, one-vs-rest) for data
that fits in memory, a hinge-loss SGD (``sklearn.linear_model.SGDClassifier``) for large
sets, and one-vs-rest SVMs solved in the dual by libsvm on a precomputed kernel matrix:
the linear kernel ``X X^T`` (``solver="gram"``), much faster than liblinear when images
are far fewer than dimensions (Fisher vectors of a few hundred thousand values) and
differing from it only in leaving the bias unregularised, or the histogram intersection
kernel ``k(x, y) = sum_j min(x_j, y_j)`` (``solver="intersection"``, Lazebnik, Schmid &
Ponce 2006's spatial pyramid match kernel when the histograms carry the pyramid level
weights), computed block by block so that memory stays bounded.  When ``C`` is a list,
each value is trained on a seeded stratified part of the training data and scored on the
rest (top-1 accuracy), and the best one is retrained on all of it (enceval's protocol).  :meth:`top_k` gives the k best classes per image, best
first, as an ILSVRC submission lists them.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

SOLVERS = ("liblinear", "sgd", "gram", "intersection")
"""The solvers :class:`LinearSVMClassifier` offers (see its ``solver`` parameter)."""
KERNEL_SOLVERS = ("gram", "intersection")     # libsvm on a precomputed kernel matrix
_KERNEL_BLOCK_BYTES = 1 << 25


def intersection_kernel(a, b=None, *, block_bytes: int = _KERNEL_BLOCK_BYTES) -> np.ndarray:
    """Histogram intersection kernel ``K[i, j] = sum_d min(a[i, d], b[j, d])``.

    Computed over blocks of rows whose ``min`` temporaries take about ``block_bytes``;
    ``b=None`` computes the symmetric ``K(a, a)`` (each off-diagonal block once).

    Parameters
    ----------
    a : array_like of shape (n, D)
        Non-negative features (histograms); float32 keeps it fast.
    b : array_like of shape (m, D) or None

    Returns
    -------
    ndarray of shape (n, m), float64
    """
    a = np.ascontiguousarray(a, np.float32)
    same = b is None
    b = a if same else np.ascontiguousarray(b, np.float32)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"intersection kernel: expected two arrays (n, D) and (m, D), got {a.shape} and {b.shape}")
    for name, arr in (("a", a), ("b", b)):
        if arr.size and not (arr.min() >= 0):
            raise ValueError(f"intersection kernel: {name} must be non-negative histograms (minimum "
                             f"{arr.min()!r}); the kernel is not positive definite on negative values")
    n, d = a.shape
    out = np.empty((n, len(b)))
    rows_a = 8
    rows_b = max(1, min(len(b), block_bytes // (rows_a * max(d, 1) * 4)))
    buffer = np.empty((rows_a, rows_b, d), np.float32)
    for i in range(0, n, rows_a):
        first = (i // rows_b) * rows_b if same else 0        # symmetric: the blocks on or above the diagonal
        block_a = a[i: i + rows_a, None, :]
        for j in range(first, len(b), rows_b):
            block_b = b[None, j: j + rows_b]
            tmp = np.minimum(block_a, block_b, out=buffer[: block_a.shape[0], : block_b.shape[1]])
            out[i: i + rows_a, j: j + rows_b] = tmp.sum(axis=2)
    if same:
        for i in range(0, n, rows_a):
            first = (i // rows_b) * rows_b
            out[i: i + rows_a, :first] = out[:first, i: i + rows_a].T
    return out


class LinearSVMClassifier(ClassifierMixin, BaseEstimator):
    """One-vs-rest SVM (linear, or on the intersection kernel) with C selected on a validation split.

    Parameters
    ----------
    C : float or sequence of float
        Regularisation; a sequence is searched on a validation split.
    solver : {"liblinear", "sgd", "gram", "intersection"}
        See the module docstring (:data:`SOLVERS`); ``"intersection"`` needs non-negative
        features.
    validation_fraction : float
        Share of the training data held out (per class) to choose C.
    class_weight : None or "balanced"
    max_iter : int
    random_state : int

    Attributes
    ----------
    C_ : float
        The C used for the final model.
    validation_scores_ : dict
        Validation top-1 accuracy of each C tried.
    classes_ : ndarray
    warnings_ : list of str
        The solver's convergence warnings (recorded, not printed; callers report them).
    """

    def __init__(self, *, C=1.0, solver="liblinear", validation_fraction=0.25, class_weight=None, max_iter=2000,
                 random_state=0):
        self.C = C
        self.solver = solver
        self.validation_fraction = validation_fraction
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.random_state = random_state

    def _kernel(self, X, train=None) -> np.ndarray:
        """Kernel matrix of the rows of ``X`` against ``train`` (None: against themselves); float64."""
        if self.solver == "intersection":
            return intersection_kernel(X, train)
        return (X @ (X if train is None else train).T).astype(np.float64)

    def _model(self, c, n):
        if self.solver in KERNEL_SOLVERS:
            from sklearn.multiclass import OneVsRestClassifier
            from sklearn.svm import SVC

            return OneVsRestClassifier(SVC(kernel="precomputed", C=c, class_weight=self.class_weight))
        if self.solver == "liblinear":
            from sklearn.svm import LinearSVC

            return LinearSVC(C=c, loss="hinge", dual=True, max_iter=self.max_iter, class_weight=self.class_weight,
                             random_state=self.random_state)
        from sklearn.linear_model import SGDClassifier              # "sgd"

        return SGDClassifier(loss="hinge", alpha=1.0 / (c * n), max_iter=self.max_iter, tol=1e-4,
                             class_weight=self.class_weight, random_state=self.random_state)

    def fit(self, X, y):
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            self._fit(X, y)
        self.warnings_ = sorted({str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)})
        for w in caught:
            if not issubclass(w.category, ConvergenceWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return self

    def _fit(self, X, y):
        X = np.asarray(X, np.float32)
        y = np.asarray(y)
        if self.solver not in SOLVERS:
            raise ValueError(f"solver: expected one of {SOLVERS}, got {self.solver!r}")
        gram = None
        if self.solver in KERNEL_SOLVERS:
            self.train_ = X
            gram = self._kernel(X)
        candidates = list(np.atleast_1d(self.C).astype(float))
        self.validation_scores_ = {}
        if len(candidates) > 1:
            from sklearn.model_selection import train_test_split

            fit_idx, val_idx = train_test_split(np.arange(len(y)), test_size=self.validation_fraction,
                                                stratify=y, random_state=self.random_state)
            for c in candidates:
                if gram is None:
                    model = self._model(c, len(fit_idx)).fit(X[fit_idx], y[fit_idx])
                    predicted = model.predict(X[val_idx])
                else:
                    model = self._model(c, len(fit_idx)).fit(gram[np.ix_(fit_idx, fit_idx)], y[fit_idx])
                    predicted = model.predict(gram[np.ix_(val_idx, fit_idx)])
                self.validation_scores_[float(c)] = float(np.mean(predicted == y[val_idx]))
            best = max(candidates, key=lambda c: (self.validation_scores_[float(c)], -c))
        else:
            best = candidates[0]
        self.C_ = float(best)
        self.model_ = self._model(best, len(y)).fit(X if gram is None else gram, y)
        self.classes_ = self.model_.classes_
        return self

    def decision_function(self, X):
        check_is_fitted(self, "model_")
        X = np.asarray(X, np.float32)
        scores = self.model_.decision_function(self._kernel(X, self.train_) if self.solver in KERNEL_SOLVERS else X)
        return scores if scores.ndim == 2 else np.stack([-scores, scores], axis=1)

    def predict(self, X):
        return self.classes_[np.argmax(self.decision_function(X), axis=1)]

    def linear_model(self) -> tuple[np.ndarray, np.ndarray]:
        """The classifier as weights: ``(coef (n_classes, D), intercept (n_classes,))`` with
        ``decision_function(X) == X @ coef.T + intercept`` (the dual solution of ``"gram"``
        turned into primal weights, ``w = sum_i alpha_i y_i x_i``)."""
        check_is_fitted(self, "model_")
        if self.solver in KERNEL_SOLVERS and self.solver != "gram":
            raise ValueError(f"solver {self.solver!r}: a kernel machine has no weight vector")
        if self.solver == "gram":
            dual = np.zeros((len(self.model_.estimators_), len(self.train_)))      # (n_classes, n_train)
            for row, est in zip(dual, self.model_.estimators_):
                row[est.support_] = est.dual_coef_.ravel()
            intercept = np.array([float(est.intercept_[0]) for est in self.model_.estimators_])
            coef = _dual_to_primal(dual, self.train_)
        else:
            coef, intercept = np.asarray(self.model_.coef_, np.float64), np.asarray(self.model_.intercept_, np.float64)
        if len(coef) == 1:                          # two classes: one score s, reported as (-s, s)
            coef, intercept = np.vstack([-coef, coef]), np.concatenate([-intercept, intercept])
        return coef, intercept

    def top_k(self, X, k: int = 5) -> np.ndarray:
        """The k highest-scoring classes per row, best first; (n, k)."""
        scores = self.decision_function(X)
        k = min(k, scores.shape[1])
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return self.classes_[order]


def _dual_to_primal(dual: np.ndarray, train: np.ndarray) -> np.ndarray:
    """``dual @ train`` in float64, ``train`` (n, D) float32 converted a block of columns at a
    time (32 MB each): a float64 copy of 3,060 Fisher vectors of 327,680 dimensions would
    be 8 GB."""
    coef = np.empty((len(dual), train.shape[1]))
    step = max(1, _KERNEL_BLOCK_BYTES // (8 * max(len(train), 1)))
    for start in range(0, train.shape[1], step):
        coef[:, start:start + step] = dual @ train[:, start:start + step].astype(np.float64)
    return coef


def linear_scores(X, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    """``X @ coef.T + intercept`` in float64 (n, n_classes), ``X`` (n, D) float32 converted a
    block of rows at a time (32 MB each) rather than all at once."""
    X = np.asarray(X)
    scores = np.empty((len(X), len(coef)))
    step = max(1, _KERNEL_BLOCK_BYTES // (8 * max(X.shape[1], 1)))
    for start in range(0, len(X), step):
        scores[start:start + step] = X[start:start + step].astype(np.float64) @ coef.T + intercept
    return scores
