"""Stream per-image signatures into a :class:`~experiments.store.FeatureStore`, resumably.

``encode_into_store`` hashes every image (the content key), skips those the store already
holds, runs the rest through :func:`experiments.parallel.map_images` (local processes or a
Dask cluster) and appends results to the store as they arrive, a shard at a time.  A run
killed at any point loses at most the unflushed shard; the next run computes exactly the
images that are not in a listed shard.  Images that fail are recorded in the manifest
with their error and retried by the next run.
"""
from __future__ import annotations

import logging
import time

import numpy as np

from .cache import file_digest
from .parallel import Execution, map_images
from .store import FeatureStore

log = logging.getLogger(__name__)


def signature_job(pipeline, path):
    """Worker job: one image's signature as float32, or an error message."""
    code, error = pipeline.encode(path)
    return (None, error) if code is None else (np.asarray(code, np.float32), None)


def encode_into_store(store: FeatureStore, samples, job, args_of, execution: Execution = Execution(), *,
                      keys=None, progress: bool = True, desc: str = "signatures") -> dict:
    """Compute and store the signature of every sample missing from ``store``.

    Parameters
    ----------
    store : FeatureStore
    samples : sequence
        Objects with ``path`` and ``label``.
    job : callable
        Picklable ``job(*args) -> (vector, None) | (None, error)``.
    args_of : callable
        ``args_of(sample) -> tuple`` of the job's arguments.
    execution : Execution
    keys : sequence of str, optional
        The samples' content keys (:func:`experiments.cache.file_digest`), when the caller
        has already hashed the files.

    Returns
    -------
    dict
        ``computed``, ``reused`` (already stored), ``failed`` counts, ``seconds`` and
        ``keys`` (the content key of each sample, in order).
    """
    start = time.perf_counter()
    keys = [file_digest(s.path) for s in samples] if keys is None else list(keys)
    done = store.done_keys()
    first_of = {}
    for i, key in enumerate(keys):
        if key not in done:
            first_of.setdefault(key, i)          # identical files are computed once
    todo = sorted(first_of.values())
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
