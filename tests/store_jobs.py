"""Jobs for the feature-store tests (importable by worker and child processes)."""
from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

import numpy as np


def digest_vector(path, delay: float = 0.0, progress_file: str = ""):
    """A deterministic 64-d vector from the file's bytes (stands in for a signature); with
    ``progress_file``, a line is appended there for each image done."""
    if delay:
        time.sleep(delay)
    from features.image_io import read_image_bytes

    data = read_image_bytes(path)
    if progress_file:
        with open(progress_file, "a") as handle:
            handle.write(path + "\n")
    seed = int(hashlib.sha256(data).hexdigest()[:8], 16)
    return np.random.default_rng(seed).standard_normal(64).astype(np.float32)


def broken_job(path):
    """A job with a programming error."""
    return 1 / 0


def main(store_root: str, delay: float, *paths, shard_size: int = 2) -> None:
    """Child process of the kill tests: encode ``paths`` into a store (``shard_size`` images a shard),
    with SIGTERM handled as the command line handles it."""
    import signal

    from experiments.cli import _terminate_gracefully

    signal.signal(signal.SIGTERM, _terminate_gracefully)
    from dataclasses import dataclass

    from experiments.scale.extract import encode_into_store
    from experiments.scale.parallel import Execution
    from experiments.scale.store import FeatureStore

    @dataclass
    class S:
        path: str
        label: int

    store = FeatureStore(store_root, {"test": "kill"}, shard_size=shard_size)
    progress = str(Path(store_root) / "progress.txt")
    encode_into_store(store, [S(p, 0) for p in paths], digest_vector, lambda s: (s.path, delay, progress),
                      Execution(n_jobs=1, batch_size=1), progress=False)


if __name__ == "__main__":
    main(sys.argv[2], float(sys.argv[3]), *sys.argv[4:], shard_size=int(sys.argv[1]))


def synthetic_signature(label: int, index: int, dim: int = 128, noise: float = 3.0):
    """A class-separable synthetic signature: the class's seeded mean plus seeded noise, with
    unit L2 norm (as Fisher vectors and normalised histograms have)."""
    mean = np.random.default_rng([7, label]).standard_normal(dim)
    v = mean + noise * np.random.default_rng([7, label, index]).standard_normal(dim)
    return (v / np.linalg.norm(v)).astype(np.float32)


def dies_on(path, fatal: str = ""):
    """:func:`digest_vector`, except that the worker process dies (SIGKILL, as the kernel's
    out-of-memory killer does) on the file whose name ends with ``fatal``."""
    import os
    import signal

    if fatal and str(path).endswith(fatal):
        os.kill(os.getpid(), signal.SIGKILL)
    return digest_vector(path)


class _DiesWhenSent:
    """A value whose pickling kills the process (a worker dying while it sends results back)."""

    def __reduce__(self):
        import os
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def dies_sending(path, fatal: str = ""):
    """:func:`digest_vector`, except that the worker dies while returning the result of ``fatal``."""
    if fatal and str(path).endswith(fatal):
        return _DiesWhenSent()
    return digest_vector(path)
