"""Linear classifiers on image signatures: one-vs-rest linear SVMs, C chosen on a validation split.

``LinearSVMClassifier`` wraps liblinear (``sklearn.svm.LinearSVC``, one-vs-rest) for data
that fits in memory and a hinge-loss SGD (``sklearn.linear_model.SGDClassifier``) for large
sets.  When ``C`` is a list, each value is trained on a seeded stratified part of the
training data and scored on the rest (top-1 accuracy), and the best one is retrained on
all of it (enceval's protocol).  :meth:`top_k` gives the k best classes per image, best
first, as an ILSVRC submission lists them.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted


class LinearSVMClassifier(ClassifierMixin, BaseEstimator):
    """One-vs-rest linear SVM with C selected on a validation split.

    Parameters
    ----------
    C : float or sequence of float
        Regularisation; a sequence is searched on a validation split.
    solver : {"liblinear", "sgd"}
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
    """

    def __init__(self, *, C=1.0, solver="liblinear", validation_fraction=0.25, class_weight=None, max_iter=2000,
                 random_state=0):
        self.C = C
        self.solver = solver
        self.validation_fraction = validation_fraction
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.random_state = random_state

    def _model(self, c, n):
        if self.solver == "liblinear":
            from sklearn.svm import LinearSVC

            return LinearSVC(C=c, loss="hinge", dual=True, max_iter=self.max_iter, class_weight=self.class_weight,
                             random_state=self.random_state)
        if self.solver == "sgd":
            from sklearn.linear_model import SGDClassifier

            return SGDClassifier(loss="hinge", alpha=1.0 / (c * n), max_iter=self.max_iter, tol=1e-4,
                                 class_weight=self.class_weight, random_state=self.random_state)
        raise ValueError(f"solver: expected 'liblinear' or 'sgd', got {self.solver!r}")

    def fit(self, X, y):
        X = np.asarray(X, np.float32)
        y = np.asarray(y)
        candidates = list(np.atleast_1d(self.C).astype(float))
        self.validation_scores_ = {}
        if len(candidates) > 1:
            from sklearn.model_selection import train_test_split

            fit_idx, val_idx = train_test_split(np.arange(len(y)), test_size=self.validation_fraction,
                                                stratify=y, random_state=self.random_state)
            for c in candidates:
                model = self._model(c, len(fit_idx)).fit(X[fit_idx], y[fit_idx])
                self.validation_scores_[float(c)] = float(np.mean(model.predict(X[val_idx]) == y[val_idx]))
            best = max(candidates, key=lambda c: (self.validation_scores_[float(c)], -c))
        else:
            best = candidates[0]
        self.C_ = float(best)
        self.model_ = self._model(best, len(y)).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def decision_function(self, X):
        check_is_fitted(self, "model_")
        scores = self.model_.decision_function(np.asarray(X, np.float32))
        return scores if scores.ndim == 2 else np.stack([-scores, scores], axis=1)

    def predict(self, X):
        return self.classes_[np.argmax(self.decision_function(X), axis=1)]

    def top_k(self, X, k: int = 5) -> np.ndarray:
        """The k highest-scoring classes per row, best first; (n, k)."""
        scores = self.decision_function(X)
        k = min(k, scores.shape[1])
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return self.classes_[order]
