"""Jobs for the feature-store tests (importable by worker and child processes)."""
from __future__ import annotations

import hashlib
import sys
import time

import numpy as np


def digest_vector(path, delay: float = 0.0):
    """A deterministic 64-d vector from the file's bytes (stands in for a signature)."""
    if delay:
        time.sleep(delay)
    data = open(path, "rb").read()
    seed = int(hashlib.sha256(data).hexdigest()[:8], 16)
    return np.random.default_rng(seed).standard_normal(64).astype(np.float32), None


def main(store_root: str, delay: float, *paths) -> None:
    """Child process of the kill test: encode ``paths`` into a store with 2-image shards."""
    from dataclasses import dataclass

    from experiments.extract import encode_into_store
    from experiments.parallel import Execution
    from experiments.store import FeatureStore

    @dataclass
    class S:
        path: str
        label: int

    store = FeatureStore(store_root, {"test": "kill"}, shard_size=2)
    encode_into_store(store, [S(p, 0) for p in paths], digest_vector, lambda s: (s.path, delay),
                      Execution(n_jobs=1, batch_size=1), progress=False)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), *sys.argv[3:])
