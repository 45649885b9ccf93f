"""Hard-negative mining for one binary linear detector (R-CNN's schedule).

A detector sees a handful of positives and millions of candidate negatives.  Mining keeps
a *cache* of negatives: it starts from given initial negatives, trains, then sweeps the
training images; in each image, the candidates overlapping every positive by less than
``max_overlap`` whose score exceeds ``hard_score`` (they sit inside the margin) join the
cache.  When ``retrain_every`` new negatives have joined, the model is retrained and the
negatives that the new model scores below ``easy_score`` (far outside the margin) are
evicted.  R-CNN's values: ``max_overlap = 0.3``, ``hard_score = -1.0001``,
``easy_score = -1.2``, ``retrain_every = 2000``.

Every negative is identified by a key ``(image, candidate)``; the cache never holds a key
twice, and an evicted key may come back in a later sweep if it becomes hard again.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)


@dataclass
class MiningLog:
    """What the miner did: one entry per retraining."""

    retrains: list = field(default_factory=list)

    def add(self, round_: int, n_cache: int, n_added: int, n_evicted: int) -> None:
        self.retrains.append({"round": round_, "cache": n_cache, "added": n_added, "evicted": n_evicted})


class HardNegativeMiner:
    """Train a binary linear classifier with hard-negative mining.

    Parameters
    ----------
    train : callable (X, y) -> model
        Fits and returns a model with ``decision_function(X) -> (n,)``; ``y`` is 1 for
        positives and 0 for negatives.
    max_overlap : float
        Candidates whose overlap with a positive reaches this are never negatives.
    hard_score : float
        A candidate scoring above this is hard.
    easy_score : float
        A cached negative scoring below this after a retraining is evicted.
    retrain_every : int
        Retrain after this many new negatives (and at the end of each sweep).
    rounds : int
        Sweeps over the training images.
    max_per_image : int
        At most this many hard negatives join per image and sweep (the highest scoring);
        0 means no limit.
    """

    def __init__(self, train, *, max_overlap: float = 0.3, hard_score: float = -1.0001, easy_score: float = -1.2,
                 retrain_every: int = 2000, rounds: int = 1, max_per_image: int = 0):
        self.train = train
        self.max_overlap = max_overlap
        self.hard_score = hard_score
        self.easy_score = easy_score
        self.retrain_every = retrain_every
        self.rounds = rounds
        self.max_per_image = max_per_image

    def fit(self, positives: np.ndarray, initial_keys, initial_negatives: np.ndarray, images, candidates):
        """Mine and train.

        Parameters
        ----------
        positives : ndarray of shape (P, D)
        initial_keys : sequence of (image, candidate) keys, length N0
        initial_negatives : ndarray of shape (N0, D)
        images : sequence
            Image identifiers to sweep, in order.
        candidates : callable image -> (ids, X, overlap)
            The image's candidate ids (m,), features (m, D) and largest overlap with any
            positive (m,).

        Returns
        -------
        model
            The last trained model; the cache is left in ``self.cache_keys_`` /
            ``self.cache_features_`` and the history in ``self.log_``.
        """
        positives = np.asarray(positives)
        keys = [tuple(k) for k in initial_keys]
        feats = list(np.asarray(initial_negatives).reshape(len(keys), -1)) if keys else []
        if len(set(keys)) != len(keys):
            raise ValueError("initial_keys: duplicate (image, candidate) keys")
        self.log_ = MiningLog()
        cache = dict(zip(keys, feats))
        model = self._retrain(positives, cache, 0, 0)
        for round_ in range(1, self.rounds + 1):
            added = 0
            for image in images:
                ids, x, overlap = candidates(image)
                ids = np.asarray(ids)
                keep = np.asarray(overlap) < self.max_overlap
                if not keep.any():
                    continue
                x, ids = np.asarray(x)[keep], ids[keep]
                scores = model.decision_function(x)
                hard = np.flatnonzero(scores > self.hard_score)
                if self.max_per_image and len(hard) > self.max_per_image:
                    hard = hard[np.argsort(-scores[hard], kind="stable")[: self.max_per_image]]
                for i in hard:
                    key = (image, ids[i].item())
                    if key not in cache:
                        cache[key] = x[i]
                        added += 1
                if added >= self.retrain_every:
                    model = self._retrain(positives, cache, round_, added)
                    added = 0
            model = self._retrain(positives, cache, round_, added)
        self.cache_keys_ = list(cache)
        self.cache_features_ = np.stack(list(cache.values())) if cache else np.zeros((0, positives.shape[1]))
        return model

    def _retrain(self, positives, cache: dict, round_: int, added: int):
        negatives = np.stack(list(cache.values())) if cache else np.zeros((0, positives.shape[1]), positives.dtype)
        x = np.concatenate([positives, negatives])
        y = np.r_[np.ones(len(positives), np.int64), np.zeros(len(negatives), np.int64)]
        model = self.train(x, y)
        evicted = 0
        if len(negatives):
            easy = model.decision_function(negatives) < self.easy_score
            if easy.any():
                for key, drop in zip(list(cache), easy):
                    if drop:
                        del cache[key]
                evicted = int(easy.sum())
        self.log_.add(round_, len(cache), added, evicted)
        log.debug("mining round %d: cache %d (+%d, -%d)", round_, len(cache), added, evicted)
        return model
