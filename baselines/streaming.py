"""One-vs-rest linear SVMs trained by SGD over a stream of feature shards, in bounded memory.

The ILSVRC Fisher-vector entries (Perronnin, Sanchez et al.) trained one linear SVM per
class by stochastic gradient descent over signatures that did not fit in memory, with
the positives re-weighted against the far more numerous negatives.  Here every class is
updated at once from each mini-batch, so a pass over the data reads each shard once and
the classes run in parallel inside one matrix product.

Objective and update
--------------------
For class ``c`` with weights ``w_c`` and bias ``b_c``, labels ``y_ic = +1`` for images of
class ``c`` and ``-1`` otherwise, the regularised, re-weighted hinge loss is::

    alpha / 2 ||w_c||^2 + 1/n sum_i rho_ic max(0, 1 - y_ic (w_c . x_i + b_c))

with ``rho_ic = positive_weight`` for positives and 1 for negatives (``"balanced"``:
``positive_weight = (n_classes - 1)``, so that both sides weigh the same in expectation).
Mini-batch SGD with the Pegasos step ``eta_t = 1 / (alpha (t + t0))``: for a batch B::

    G = X_B^T (rho * y * [margin < 1]) / |B|          (D, C): one matrix product
    W <- (1 - eta alpha) W + eta G ;  b <- b + eta * column sums / |B|

and the averaged iterate (Polyak-Ruppert) is returned.

Determinism and memory
----------------------
Each epoch visits the shards in a seeded order and each shard's rows in a seeded order;
the rows form one continuous stream cut into mini-batches of ``batch_size`` regardless
of shard boundaries.  The result depends only on the shard contents, their order and the
seed: reading a store in one piece and streaming it shard by shard give the same model
bit for bit.  Memory is the model ``(D, C)`` plus one shard and one mini-batch, whatever
the number of images.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class StreamingSGDClassifier(ClassifierMixin, BaseEstimator):
    """One-vs-rest hinge-loss SGD over shards.

    Parameters
    ----------
    alpha : float
        L2 regularisation.
    epochs : int
    batch_size : int
    positive_weight : float or "balanced"
    t0 : float
        Step offset: ``eta_t = 1 / (alpha (t + t0))``.
    average : bool
        Return the averaged iterate.
    random_state : int
    """

    def __init__(self, *, alpha: float = 1e-4, epochs: int = 5, batch_size: int = 64, positive_weight="balanced",
                 t0: float = 100.0, average: bool = True, random_state: int = 0):
        self.alpha = alpha
        self.epochs = epochs
        self.batch_size = batch_size
        self.positive_weight = positive_weight
        self.t0 = t0
        self.average = average
        self.random_state = random_state

    # ------------------------------------------------------------------ streaming
    def fit_shards(self, shards, classes) -> "StreamingSGDClassifier":
        """Train from ``shards``: a sequence of callables, each returning ``(X, y)`` of one shard.

        Only one shard is in memory at a time; ``classes`` lists every label.
        """
        self.classes_ = np.asarray(classes)
        n_classes = len(self.classes_)
        index = {c: i for i, c in enumerate(self.classes_.tolist())}
        rng = np.random.default_rng(self.random_state)
        w = b = w_sum = b_sum = None
        rho_pos = float(n_classes - 1 if self.positive_weight == "balanced" else self.positive_weight)
        t = 0
        n_avg = 0
        carry_x, carry_y = None, None
        for _ in range(self.epochs):
            for s in rng.permutation(len(shards)):
                x, y = shards[s]()
                x = np.asarray(x, np.float32)
                if w is None:
                    w = np.zeros((x.shape[1], n_classes), np.float32)
                    b = np.zeros(n_classes, np.float32)
                    w_sum = np.zeros_like(w, np.float64)
                    b_sum = np.zeros_like(b, np.float64)
                order = rng.permutation(len(x))
                x, y = x[order], np.asarray(y)[order]
                if carry_x is not None:
                    x, y = np.concatenate([carry_x, x]), np.concatenate([carry_y, y])
                n_full = len(x) // self.batch_size * self.batch_size
                for start in range(0, n_full, self.batch_size):
                    t += 1
                    self._step(w, b, x[start:start + self.batch_size], y[start:start + self.batch_size], index,
                               rho_pos, t)
                    if self.average:
                        w_sum += w
                        b_sum += b
                        n_avg += 1
                carry_x, carry_y = (x[n_full:], y[n_full:]) if n_full < len(x) else (None, None)
        if carry_x is not None and len(carry_x):
            t += 1
            self._step(w, b, carry_x, carry_y, index, rho_pos, t)
            if self.average:
                w_sum += w
                b_sum += b
                n_avg += 1
        if w is None:
            raise ValueError("fit_shards: no data")
        if self.average and n_avg:
            w, b = (w_sum / n_avg).astype(np.float32), (b_sum / n_avg).astype(np.float32)
        self.coef_ = w.T.copy()
        self.intercept_ = b.copy()
        self.n_steps_ = t
        return self

    def _step(self, w, b, xb, yb, index, rho_pos, t):
        eta = np.float32(1.0 / (self.alpha * (t + self.t0)))
        cols = np.array([index[v] for v in yb.tolist()], np.int64)
        signs = -np.ones((len(xb), w.shape[1]), np.float32)
        signs[np.arange(len(xb)), cols] = 1.0
        margins = signs * (xb @ w + b)
        rho = np.where(signs > 0, np.float32(rho_pos), np.float32(1.0))
        coeff = np.where(margins < 1, rho * signs, np.float32(0)) / np.float32(len(xb))
        w *= np.float32(1.0) - eta * np.float32(self.alpha)
        w += eta * (xb.T @ coeff)
        b += eta * coeff.sum(axis=0)

    # ------------------------------------------------------------------ in memory
    def fit(self, X, y, shard_size: int = 1024):
        """Train on arrays: the same schedule as :meth:`fit_shards` over ``shard_size``-row shards."""
        X = np.asarray(X, np.float32)
        y = np.asarray(y)
        shards = [(lambda s=s: (X[s:s + shard_size], y[s:s + shard_size])) for s in range(0, len(X), shard_size)]
        return self.fit_shards(shards, np.unique(y))

    def decision_function(self, X) -> np.ndarray:
        return np.asarray(X, np.float32) @ self.coef_.T + self.intercept_

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.decision_function(X), axis=1)]

    def top_k(self, X, k: int = 5) -> np.ndarray:
        """Indices into ``classes_`` of the k best classes per row, best first."""
        scores = self.decision_function(X)
        return np.argsort(-scores, axis=1, kind="stable")[:, :k]
