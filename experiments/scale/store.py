"""A crash-safe, sharded store of per-image vectors (signatures or descriptor summaries).

Layout
------
``<root>/<config hash>/`` holds::

    manifest.json          what is in the store (written atomically, last)
    shard-<n>-<id>.npz     one shard: ``keys`` (m,), ``paths`` (m,), ``labels`` (m,),
                           ``rows`` (m, D) float32 / float16, or ``codes`` (m, M) uint8 (PQ)
    codec.npz              the product quantiser, when the store is compressed

The config hash is the SHA-256 of the canonical JSON of the extraction settings, so two
settings never share a store and the same settings always find theirs.  Keys are the
SHA-256 of each image's bytes.

Crash safety
------------
Only the process that owns the store writes it.  A shard is written to a temporary file
in the same folder and renamed into place; the manifest (listing each shard with its
row count and SHA-256) is rewritten the same way *after* the shard is in place.  A
process killed at any instant therefore leaves either the old manifest (the new shard,
complete or not, is not listed and is ignored) or the new one (the shard is complete).
On the next run, the listed shards' keys are "done" and every other image is computed
again: nothing finished is lost, nothing unfinished is read as valid.  :meth:`FeatureStore.verify`
re-hashes every shard and reports missing, truncated or altered ones;
``ilsvrc-classic store verify DIR`` prints the report and ``--repair`` drops bad shards
from the manifest so that their images are recomputed.

Compression
-----------
``dtype="float16"`` halves the bytes of float32.  ``codec="pq"`` stores product-quantised
codes (Jegou et al., TPAMI 2011, as XRCE compressed their ILSVRC Fisher vectors): the
vector is cut into ``M = D / sub_dim`` sub-vectors, each replaced by the index of its
nearest of 256 centroids learned by k-means (faiss), one byte per sub-vector (``4 *
sub_dim`` times smaller than float32).  Reading decodes to float32 centroids.
"""
from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cache import atomic_write_bytes, file_digest, npz_bytes

MANIFEST = "manifest.json"
STORE_KINDS = ("float32", "float16", "pq")
"""How rows are stored: plain float32, float16, or product-quantised codes."""
FORMAT = 1


def config_hash(config: dict) -> str:
    """SHA-256 (first 20 hex digits) of the canonical JSON of ``config``."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:20]


# --------------------------------------------------------------------------- product quantisation
class PQCodec:
    """Product quantiser: ``D / sub_dim`` sub-vectors, 256 centroids each (one byte per code).

    Parameters
    ----------
    sub_dim : int
        Dimensions per sub-vector; must divide D.
    n_iter : int
        k-means iterations per sub-quantiser.
    seed : int
    """

    def __init__(self, sub_dim: int = 8, n_iter: int = 20, seed: int = 0):
        self.sub_dim = sub_dim
        self.n_iter = n_iter
        self.seed = seed

    def fit(self, x: np.ndarray) -> "PQCodec":
        """Learn the centroids from sample vectors ``x`` (n, D), n >= 256."""
        import faiss

        x = np.ascontiguousarray(x, np.float32)
        n, d = x.shape
        if d % self.sub_dim:
            raise ValueError(f"sub_dim {self.sub_dim} does not divide the dimension {d}")
        if n < 256:
            raise ValueError(f"a product quantiser needs at least 256 training vectors, got {n}")
        m = d // self.sub_dim
        pq = faiss.ProductQuantizer(d, m, 8)
        pq.cp.niter = self.n_iter
        pq.cp.seed = self.seed
        pq.train(x)
        self.centroids_ = faiss.vector_to_array(pq.centroids).reshape(m, 256, self.sub_dim).copy()
        return self

    def _pq(self):
        import faiss

        m, _, sub = self.centroids_.shape
        pq = faiss.ProductQuantizer(m * sub, m, 8)
        faiss.copy_array_to_vector(self.centroids_.ravel(), pq.centroids)
        pq.is_trained = True
        return pq

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Codes (n, M) uint8 of vectors (n, D)."""
        return self._pq().compute_codes(np.ascontiguousarray(x, np.float32))

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Vectors (n, D) float32 of codes (n, M)."""
        return self._pq().decode(np.ascontiguousarray(codes, np.uint8))

    def save(self, path: Path) -> None:
        buf = npz_bytes(centroids=self.centroids_, sub_dim=np.array(self.sub_dim))
        atomic_write_bytes(Path(path), buf)

    @classmethod
    def load(cls, path: Path) -> "PQCodec":
        with np.load(path) as data:
            codec = cls(int(data["sub_dim"]))
            codec.centroids_ = data["centroids"]
        return codec


# --------------------------------------------------------------------------- the store
@dataclass
class Shard:
    name: str
    n: int
    sha256: str


class FeatureStore:
    """Per-image vectors of one extraction configuration.

    Parameters
    ----------
    root : path-like
        Folder holding stores of several configurations.
    config : dict
        The extraction settings (JSON-serialisable); they name the store.
    dtype : {"float32", "float16"}
        Storage type of uncompressed rows.
    codec : PQCodec, optional
        Fitted product quantiser: rows are stored as codes.
    shard_size : int
        Images per shard.
    flush_seconds : float
        Also write a (smaller) shard when this long has passed since the last one, so that a
        killed run loses at most this much finished work.
    """

    def __init__(self, root, config: dict, *, dtype: str = "float32", codec: PQCodec | None = None,
                 shard_size: int = 1024, flush_seconds: float = 300.0):
        if dtype not in ("float32", "float16"):
            raise ValueError(f"dtype: expected 'float32' or 'float16', got {dtype!r}")
        self.config = config
        self.dir = Path(root) / config_hash(config)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.shard_size = int(shard_size)
        self.flush_seconds = float(flush_seconds)
        self._last_flush = time.monotonic()
        manifest = self._read_manifest()
        if manifest is None:
            self.dtype = dtype
            self.compressed = codec is not None
            self.shards: list[Shard] = []
            self.failures: dict = {}
            if codec is not None:
                codec.save(self.dir / "codec.npz")
            self._write_manifest()
        else:
            self.dtype = manifest["dtype"]
            self.compressed = manifest["compressed"]
            self.shards = [Shard(**s) for s in manifest["shards"]]
            self.failures = manifest.get("failures", {})
        self.codec = PQCodec.load(self.dir / "codec.npz") if self.compressed else None
        self._pending: list = []

    # ------------------------------------------------------------------ manifest
    def _read_manifest(self) -> dict | None:
        path = self.dir / MANIFEST
        if not path.exists():
            return None
        manifest = json.loads(path.read_text())
        if manifest.get("format") != FORMAT:
            raise ValueError(f"{path}: unknown store format {manifest.get('format')}")
        return manifest

    def _write_manifest(self) -> None:
        manifest = {"format": FORMAT, "config": self.config, "dtype": self.dtype, "compressed": self.compressed,
                    "shards": [vars(s) for s in self.shards], "failures": self.failures,
                    "n_images": sum(s.n for s in self.shards), "written": time.strftime("%Y-%m-%dT%H:%M:%S")}
        atomic_write_bytes(self.dir / MANIFEST, (json.dumps(manifest, indent=1) + "\n").encode())

    # ------------------------------------------------------------------ writing
    def done_keys(self) -> set:
        """Keys of every image stored in a listed shard."""
        done = set()
        for shard in self.shards:
            with np.load(self.dir / shard.name) as data:
                done.update(data["keys"].tolist())
        return done

    def add(self, key: str, vector: np.ndarray, *, path: str = "", label: int = -1) -> None:
        """Queue one image's vector; a shard is written every ``shard_size`` images."""
        self._pending.append((key, path, int(label), np.asarray(vector, np.float32).ravel()))
        if len(self._pending) >= self.shard_size or time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush()

    def add_failure(self, key: str, path: str, error: str) -> None:
        """Record an image that could not be processed (kept in the manifest, retried next run)."""
        self.failures[key] = {"path": path, "error": error}

    def flush(self) -> None:
        """Write the queued images as one shard, then the manifest."""
        if not self._pending:
            if self.failures:
                self._write_manifest()
            return
        keys = np.array([p[0] for p in self._pending])
        paths = np.array([p[1] for p in self._pending])
        labels = np.array([p[2] for p in self._pending], np.int64)
        rows = np.stack([p[3] for p in self._pending])
        if self.codec is not None:
            payload = {"codes": self.codec.encode(rows)}
        else:
            payload = {"rows": rows.astype(self.dtype)}
        name = f"shard-{len(self.shards):06d}-{uuid.uuid4().hex[:8]}.npz"
        data = npz_bytes(keys=keys, paths=paths, labels=labels, **payload)
        atomic_write_bytes(self.dir / name, data)
        self.shards.append(Shard(name, len(keys), hashlib.sha256(data).hexdigest()))
        for key in keys.tolist():
            self.failures.pop(key, None)
        self._write_manifest()
        self._pending = []
        self._last_flush = time.monotonic()

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return sum(s.n for s in self.shards)

    def read_shard(self, shard: Shard):
        """``(keys, labels, rows float32)`` of one shard."""
        with np.load(self.dir / shard.name) as data:
            keys, labels = data["keys"], data["labels"]
            rows = self.codec.decode(data["codes"]) if self.compressed else data["rows"].astype(np.float32)
        return keys, labels, rows

    def iter_shards(self):
        """Yield ``(keys, labels, rows)`` shard by shard (memory: one shard)."""
        for shard in self.shards:
            yield self.read_shard(shard)

    def shard_loaders(self) -> list:
        """One callable per shard returning its ``(rows, labels)``: the input of
        :meth:`baselines.streaming.StreamingSGDClassifier.fit_shards`."""
        def loader(shard):
            keys, labels, rows = self.read_shard(shard)
            return rows, labels
        return [(lambda sh=sh: loader(sh)) for sh in self.shards]

    def read_all(self):
        """Everything in memory: ``(keys, labels, rows)``."""
        parts = list(self.iter_shards())
        if not parts:
            return np.zeros(0, str), np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                np.concatenate([p[2] for p in parts]))

    def bytes_per_image(self) -> float:
        """Mean file bytes per stored image (shards only)."""
        total = sum((self.dir / s.name).stat().st_size for s in self.shards)
        return total / max(len(self), 1)

    # ------------------------------------------------------------------ verification
    def verify(self, repair: bool = False) -> list[str]:
        """Problems found (empty when the store is sound); with ``repair``, drop bad shards.

        Checks every listed shard exists, hashes to its recorded SHA-256, loads, and holds
        the recorded number of rows with one key each, and that no key is stored twice.
        """
        problems, bad, seen = [], set(), {}
        for shard in self.shards:
            path = self.dir / shard.name
            if not path.exists():
                problems.append(f"{shard.name}: missing")
                bad.add(shard.name)
                continue
            if file_digest(path) != shard.sha256:
                problems.append(f"{shard.name}: contents differ from the manifest's SHA-256 (corrupt or altered)")
                bad.add(shard.name)
                continue
            try:
                with np.load(path) as data:
                    keys = data["keys"]
                    n_rows = len(data["codes"] if self.compressed else data["rows"])
            except Exception as exc:  # noqa: BLE001 - any failure to read is a finding
                problems.append(f"{shard.name}: unreadable ({exc})")
                bad.add(shard.name)
                continue
            if len(keys) != shard.n or n_rows != shard.n:
                problems.append(f"{shard.name}: {len(keys)} keys and {n_rows} rows, manifest says {shard.n}")
                bad.add(shard.name)
            for key in keys.tolist():
                if key in seen:
                    problems.append(f"{shard.name}: key {key[:12]}... also in {seen[key]}")
                    bad.add(shard.name)
                seen[key] = shard.name
        if repair and bad:
            self.shards = [s for s in self.shards if s.name not in bad]
            self._write_manifest()
        return problems


def open_store(directory) -> FeatureStore:
    """Open an existing store folder (the one holding ``manifest.json``)."""
    directory = Path(directory)
    path = directory / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{path}: no store manifest")
    manifest = json.loads(path.read_text())
    store = FeatureStore(directory.parent, manifest["config"])
    if store.dir.resolve() != directory.resolve():
        raise ValueError(f"{directory}: its manifest's configuration hashes to {store.dir.name}")
    return store
