"""Stream per-image signatures into a :class:`~experiments.scale.store.FeatureStore`, resumably.

``encode_into_store`` hashes every image (the content key), plans the store's shards
(every shard a seeded random sample of the images, see :mod:`experiments.scale.store`),
skips the images the store already holds, runs the rest through
:func:`experiments.scale.parallel.map_images` (local processes or a Dask cluster) in the
store's order, and writes each shard as soon as its images are done.  A run killed at
any point loses at most the unwritten rows; the next run computes exactly the images that
are not stored, and the finished store is the same, byte for byte, however often it was
interrupted and whichever backend computed it.  Images that fail are recorded in the
manifest with their error and retried by the next run.
"""
from __future__ import annotations

import logging
import time

import numpy as np

from ilsvrc.files import file_digest

from .parallel import Execution, map_images
from .store import FeatureStore

log = logging.getLogger(__name__)


def signature_job(pipeline, path):
    """Worker job: one image's signature as float32 (raises for a bad image)."""
    return np.asarray(pipeline.encode(path), np.float32)


def encode_into_store(store: FeatureStore, samples, job, args_of, execution: Execution = Execution(), *,
                      keys=None, progress: bool = True, desc: str = "signatures") -> dict:
    """Compute and store the signature of every sample missing from ``store``.

    Parameters
    ----------
    store : FeatureStore
    samples : sequence
        Objects with ``path`` and ``label``.
    job : callable
        Picklable ``job(*args) -> vector`` (raising for a bad image, see
        :mod:`experiments.scale.parallel`).
    args_of : callable
        ``args_of(sample) -> tuple`` of the job's arguments.
    execution : Execution
    keys : sequence of str, optional
        The samples' content keys (:func:`ilsvrc.files.file_digest`), when the
        caller has already hashed the files.

    Returns
    -------
    dict
        ``computed``, ``reused`` (already stored), ``failed`` counts, ``seconds`` and
        ``keys`` (the content key of each sample, in order).
    """
    start = time.perf_counter()
    keys = [file_digest(s.path) for s in samples] if keys is None else list(keys)
    store.plan(keys)
    done = store.done_keys()
    first_of = {}
    for i, key in enumerate(keys):
        if key not in done:
            first_of.setdefault(key, i)          # identical files are computed once
    todo = sorted(first_of.values())
    todo = [todo[j] for j in store.order([keys[i] for i in todo])]
    computed = failed = 0
    args = [args_of(s) for s in samples]
    try:
        for i, value, error in map_images(job, args, execution, indices=todo, progress=progress, desc=desc):
            if value is None:
                store.add_failure(keys[i], str(samples[i].path), error)
                log.warning("skipped %s: %s", samples[i].path, error)
                failed += 1
                continue
            store.add(keys[i], value, path=str(samples[i].path), label=samples[i].label)
            computed += 1
    finally:
        store.flush()
    reused = sum(1 for k in set(keys) if k in done)
    return {"computed": computed, "reused": reused, "failed": failed, "keys": keys,
            "seconds": round(time.perf_counter() - start, 2)}
