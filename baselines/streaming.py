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
``rho_c = n_neg_c / n_pos_c`` from the class counts of the training data, so that both sides
of every class weigh the same; ``n_classes - 1`` when the counts are not given).  Only the
classes given to ``fit`` exist for the model: a label space of 1,000 classes of which 200
have training images costs, and weighs, as 200 classes.
Mini-batch SGD with the Pegasos step ``eta_t = 1 / (alpha (t + t0))`` (``t0 = 10 / alpha`` by default): for a batch B::

    G = X_B^T (rho * y * [margin < 1]) / |B|          (D, C): one matrix product
    W <- (1 - eta alpha) W + eta G ;  b <- b + eta * column sums / |B|

and the averaged iterate (Polyak-Ruppert) is returned.

Reading order, determinism and memory
-------------------------------------
Each epoch visits the shards in a seeded order, ``mix`` shards at a time; the rows of the
shards read together are shuffled together (seeded), and the rows form one continuous
stream cut into mini-batches of ``batch_size`` regardless of shard boundaries.  SGD needs
a stream close to i.i.d.: a store whose shards each hold a few classes (images listed
class by class, as ILSVRC lists them) must be written shuffled, as
:class:`experiments.scale.store.FeatureStore` plans its shards.  The result depends only
on the shard contents, their order and the seed: reading a store in one piece and
streaming it shard by shard give the same model bit for bit.  Memory is the model
``(D, C)`` plus ``mix`` shards and one mini-batch, whatever the number of images.

Resuming
--------
With ``checkpoint`` (a ``.npz`` path), :meth:`fit_shards` writes its whole state after
every epoch (weights, running sums of the average, step count, the generator's state, the
rows carried into the next epoch, the history), atomically: a temporary file renamed over
the last one.  A later call with the same settings, classes, shard count and class counts
starts from the epoch after the one saved, and ends with the model an uninterrupted run
gives, bit for bit; a call after the last epoch trains nothing.  A checkpoint of other
settings, or one that cannot be read (empty, truncated, not an ``.npz``), is ignored and
replaced.  What the shards hold is not part of the check: the caller names the file after
its data (the classification runner uses the feature store's name and its shards' names,
which cover the images, the pipeline and the code).  Size: 12 bytes per weight, float32
weights and float64 sums (ILSVRC's 1,000 classes x 262,144 dimensions: 3 GB), written
and synced to disk once an epoch; while it is written the previous one is still there.

Progress
--------
With ``verbose``, every epoch logs (``logging``, INFO) its mean training hinge loss, the
error on the held-out rows given as ``validation``, its duration and the time left;
:attr:`history_` keeps them.
"""
from __future__ import annotations

import json
import logging
import zipfile
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from ilsvrc.files import atomic_write

log = logging.getLogger(__name__)


class StreamingSGDClassifier(ClassifierMixin, BaseEstimator):
    """One-vs-rest hinge-loss SGD over shards.

    Parameters
    ----------
    alpha : float
        L2 regularisation.
    epochs : int
    batch_size : int
    positive_weight : float or "balanced"
    t0 : float or None
        Step offset: ``eta_t = 1 / (alpha (t + t0))``; None: ``10 / alpha``, so that the first
        steps are 0.1 long (signatures have unit norm) and the step shrinks as ``1 / t`` once
        ``t`` passes ``t0`` (a larger first step oscillates and the average converges slowly).
    average : bool
        Return the averaged iterate.
    average_from : int
        Average the iterates from this epoch on (0: from the first step); the first epoch's
        iterates, far from the optimum, would slow the average down (a single-epoch run
        averages its whole epoch).
    mix : int
        Shards read (and shuffled) together.
    verbose : bool
        Log each epoch's loss and held-out error.
    random_state : int

    Attributes
    ----------
    classes_ : ndarray
    coef_ : ndarray of shape (n_classes, D)
    intercept_ : ndarray of shape (n_classes,)
    positive_weights_ : ndarray of shape (n_classes,)
    history_ : list of dict
        Per epoch: ``epoch``, ``loss`` (mean weighted hinge loss of the epoch's mini-batches
        before each step), ``val_top1`` / ``val_top5`` (error on ``validation``, when given),
        ``seconds``.
    """

    def __init__(self, *, alpha: float = 1e-4, epochs: int = 5, batch_size: int = 64, positive_weight="balanced",
                 t0: float | None = None, average: bool = True, average_from: int = 1, mix: int = 2,
                 verbose: bool = False, random_state: int = 0):
        self.alpha = alpha
        self.epochs = epochs
        self.batch_size = batch_size
        self.positive_weight = positive_weight
        self.t0 = t0
        self.average = average
        self.average_from = average_from
        self.mix = mix
        self.verbose = verbose
        self.random_state = random_state

    # ------------------------------------------------------------------ streaming
    def _positive_weights(self, n_classes: int, class_counts) -> np.ndarray:
        if self.positive_weight != "balanced":
            return np.full(n_classes, float(self.positive_weight), np.float32)
        if class_counts is None:
            return np.full(n_classes, float(max(n_classes - 1, 1)), np.float32)
        counts = np.asarray(class_counts, np.float64)
        if counts.shape != (n_classes,) or (counts <= 0).any():
            raise ValueError(f"class_counts: expected {n_classes} positive counts (one per class), got {counts}")
        return ((counts.sum() - counts) / counts).astype(np.float32)

    def fit_shards(self, shards, classes, *, class_counts=None, validation=None,
                   checkpoint=None) -> "StreamingSGDClassifier":
        """Train from ``shards``: a sequence of callables, each returning ``(X, y)`` of one shard.

        Parameters
        ----------
        shards : sequence of callable
        classes : sequence
            The classes to learn (rows of other labels are negatives for every class).
        class_counts : sequence of int, optional
            Training rows per class (for ``positive_weight="balanced"``).
        validation : (X, y), optional
            Held-out rows whose error is reported after every epoch.
        checkpoint : path-like, optional
            ``.npz`` file of the state after each epoch; training resumes from it (see
            "Resuming" in the module docstring).

        Only ``mix`` shards are in memory at a time.
        """
        import time

        self.classes_ = np.asarray(classes)
        n_classes = len(self.classes_)
        if n_classes < 2:
            raise ValueError(f"classes: expected at least 2 classes, got {n_classes}")
        index = {c: i for i, c in enumerate(self.classes_.tolist())}
        rng = np.random.default_rng(self.random_state)
        self.positive_weights_ = self._positive_weights(n_classes, class_counts)
        w = b = w_sum = b_sum = None
        t = 0
        n_avg = 0
        avg_start = min(int(self.average_from), self.epochs - 1)
        carry_x, carry_y = None, None
        mix = max(1, int(self.mix))
        self.history_ = []
        first_epoch = 0
        identity = self._checkpoint_identity(len(shards), class_counts)
        saved = self._load_checkpoint(checkpoint, identity)
        if saved is not None:
            first_epoch = saved["epoch"]
            w, b, w_sum, b_sum = saved["w"], saved["b"], saved["w_sum"], saved["b_sum"]
            t, n_avg, carry_x, carry_y = saved["t"], saved["n_avg"], saved["carry_x"], saved["carry_y"]
            rng.bit_generator.state = saved["rng"]
            self.history_ = saved["history"]
            log.info("SGD: resumed after epoch %d of %d from %s", first_epoch, self.epochs, checkpoint)
        started = time.perf_counter()
        for epoch in range(first_epoch, self.epochs):
            epoch_start = time.perf_counter()
            loss_sum, loss_n = 0.0, 0
            order = rng.permutation(len(shards))
            for g in range(0, len(order), mix):
                parts = [shards[s]() for s in order[g:g + mix]]
                head = [] if carry_x is None else [(carry_x, carry_y)]
                _check_widths(parts, w.shape[0] if w is not None else None,
                              f"the model resumed from {checkpoint}" if saved is not None else "the rows read before")
                x = np.concatenate([np.asarray(p[0], np.float32) for p in head + parts])
                y = np.concatenate([np.asarray(p[1]) for p in head + parts])
                del parts
                if w is None:
                    w = np.zeros((x.shape[1], n_classes), np.float32)
                    b = np.zeros(n_classes, np.float32)
                    w_sum = np.zeros_like(w, np.float64)
                    b_sum = np.zeros_like(b, np.float64)
                start_new = 0 if carry_x is None else len(carry_x)
                perm = start_new + rng.permutation(len(x) - start_new)   # shuffle the rows just read
                x[start_new:], y[start_new:] = x[perm], y[perm]
                n_full = len(x) // self.batch_size * self.batch_size
                for start in range(0, n_full, self.batch_size):
                    t += 1
                    loss_sum += self._step(w, b, x[start:start + self.batch_size], y[start:start + self.batch_size],
                                           index, t)
                    loss_n += 1
                    if self.average and epoch >= avg_start:
                        w_sum += w
                        b_sum += b
                        n_avg += 1
                carry_x, carry_y = (x[n_full:], y[n_full:]) if n_full < len(x) else (None, None)
            if w is not None:
                self._epoch_done(epoch, w, b, w_sum, b_sum, n_avg, loss_sum / max(loss_n, 1), validation,
                                 time.perf_counter() - epoch_start, time.perf_counter() - started,
                                 epoch - first_epoch)
                if checkpoint is not None:
                    _save_checkpoint(checkpoint, identity, epoch + 1, w, b, w_sum, b_sum, t, n_avg, carry_x,
                                     carry_y, rng.bit_generator.state, self.history_)
        if carry_x is not None and len(carry_x):
            t += 1
            self._step(w, b, carry_x, carry_y, index, t)
            if self.average and n_avg:
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

    def _checkpoint_identity(self, n_shards: int, class_counts) -> str:
        """What a checkpoint must have been written with to be resumed: the settings (not
        ``verbose``), the classes, the shard count and the class counts."""
        params = {k: v for k, v in self.get_params().items() if k != "verbose"}
        counts = None if class_counts is None else np.asarray(class_counts).tolist()
        return json.dumps({"params": params, "classes": self.classes_.tolist(), "n_shards": int(n_shards),
                           "class_counts": counts}, sort_keys=True, default=str)

    @staticmethod
    def _load_checkpoint(path, identity: str):
        """The state saved in ``path`` if it was written with ``identity``; else None."""
        if path is None or not Path(path).exists():
            return None
        try:
            z = np.load(path, allow_pickle=False)
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise ValueError("not an .npz archive")
            with z:
                if str(z["identity"]) != identity:
                    log.info("SGD: %s was written with other settings or data; starting afresh", path)
                    return None
                has_carry = bool(z["has_carry"])
                return {"epoch": int(z["epoch"]), "w": z["w"], "b": z["b"], "w_sum": z["w_sum"],
                        "b_sum": z["b_sum"], "t": int(z["t"]), "n_avg": int(z["n_avg"]),
                        "carry_x": z["carry_x"] if has_carry else None,
                        "carry_y": z["carry_y"] if has_carry else None,
                        "rng": json.loads(str(z["rng"])), "history": json.loads(str(z["history"]))}
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:   # damaged: train again
            log.warning("SGD: checkpoint %s unreadable (%s); starting afresh", path, exc)
            return None

    def _epoch_done(self, epoch, w, b, w_sum, b_sum, n_avg, loss, validation, seconds, elapsed, done_before=0):
        entry = {"epoch": epoch + 1, "loss": float(loss), "seconds": round(seconds, 2)}
        if validation is not None and len(validation[1]):
            if self.average and n_avg:
                coef, icpt = (w_sum / n_avg).astype(np.float32), (b_sum / n_avg).astype(np.float32)
            else:
                coef, icpt = w, b
            scores = np.asarray(validation[0], np.float32) @ coef + icpt
            top = self.classes_[np.argsort(-scores, axis=1, kind="stable")[:, :5]]
            truth = np.asarray(validation[1])[:, None]
            entry["val_top1"] = float(np.mean(top[:, 0] != truth[:, 0]))
            entry["val_top5"] = float(np.mean(~(top == truth).any(axis=1)))
        self.history_.append(entry)
        if self.verbose:
            left = elapsed / (done_before + 1) * (self.epochs - epoch - 1)
            held = (f", held-out top-1 / top-5 error {entry['val_top1']:.3f} / {entry['val_top5']:.3f}"
                    if "val_top1" in entry else "")
            log.info("SGD epoch %d/%d: hinge loss %.4f%s (%.1f s; about %.0f s left)", epoch + 1, self.epochs,
                     loss, held, seconds, left)

    def _step(self, w, b, xb, yb, index, t) -> float:
        """One mini-batch step; returns the batch's mean weighted hinge loss before it."""
        t0 = 10.0 / self.alpha if self.t0 is None else self.t0
        eta = np.float32(1.0 / (self.alpha * (t + t0)))
        n_classes = w.shape[1]
        signs = -np.ones((len(xb), n_classes), np.float32)
        cols = np.array([index.get(v, -1) for v in yb.tolist()])
        known = cols >= 0
        signs[np.flatnonzero(known), cols[known]] = 1.0
        margins = signs * (xb @ w + b)
        rho = np.where(signs > 0, self.positive_weights_[None, :], np.float32(1.0))
        slack = np.maximum(np.float32(1) - margins, 0)
        loss = float((rho * slack).sum() / len(xb))
        coeff = np.where(margins < 1, rho * signs, np.float32(0)) / np.float32(len(xb))
        w *= np.float32(1.0) - eta * np.float32(self.alpha)
        w += eta * (xb.T @ coeff)
        b += eta * coeff.sum(axis=0)
        return loss

    # ------------------------------------------------------------------ in memory
    def fit(self, X, y, shard_size: int = 1024, *, validation=None):
        """Train on arrays: the same schedule as :meth:`fit_shards` over ``shard_size``-row shards,
        with the class counts of ``y``."""
        X = np.asarray(X, np.float32)
        y = np.asarray(y)
        shards = [(lambda s=s: (X[s:s + shard_size], y[s:s + shard_size])) for s in range(0, len(X), shard_size)]
        classes, counts = np.unique(y, return_counts=True)
        return self.fit_shards(shards, classes, class_counts=counts, validation=validation)

    def decision_function(self, X) -> np.ndarray:
        return np.asarray(X, np.float32) @ self.coef_.T + self.intercept_

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.decision_function(X), axis=1)]

    def top_k(self, X, k: int = 5) -> np.ndarray:
        """Indices into ``classes_`` of the k best classes per row, best first."""
        scores = self.decision_function(X)
        return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def _save_checkpoint(path, identity: str, epoch: int, w, b, w_sum, b_sum, t: int, n_avg: int, carry_x, carry_y,
                     rng_state: dict, history: list) -> None:
    """Write the state after ``epoch`` epochs to ``path`` atomically (a temporary file, renamed;
    a failed write leaves the last checkpoint and raises ``OSError`` naming ``path``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    has_carry = carry_x is not None
    arrays = dict(identity=np.array(identity), epoch=np.array(epoch), w=w, b=b, w_sum=w_sum, b_sum=b_sum,
                  t=np.array(t), n_avg=np.array(n_avg), has_carry=np.array(has_carry),
                  carry_x=carry_x if has_carry else np.zeros((0, w.shape[0]), np.float32),
                  carry_y=_plain_labels(carry_y) if has_carry else np.zeros(0, np.int64),
                  rng=np.array(json.dumps(rng_state)), history=np.array(json.dumps(history)))
    atomic_write(path, lambda handle: np.savez(handle, **arrays), sync=True)


def _check_widths(parts, width, source: str) -> None:
    """Every shard's rows (n, width); ``width`` None: that of the first shard (no model yet)."""
    shapes = [np.shape(rows) for rows, _ in parts]
    width = shapes[0][1] if width is None and len(shapes[0]) == 2 else width
    for shape in shapes:
        if len(shape) != 2 or shape[1] != width:
            raise ValueError(f"shards: rows of shape {shape}, expected (n, {width}): the width of {source}")


def _plain_labels(y: np.ndarray) -> np.ndarray:
    """Labels as an array ``np.load`` reads without pickling (object arrays of strings or
    numbers become string or number arrays)."""
    return np.array(y.tolist()) if y.dtype == object else y
