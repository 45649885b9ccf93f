"""A crash-safe, sharded store of per-image vectors (signatures or descriptor summaries).

Layout
------
``<root>/<config hash>/`` holds::

    manifest.json          what is in the store (written atomically, last)
    shard-<n>-<sha>.npz    shard n: ``keys`` (m,), ``paths`` (m,), ``labels`` (m,),
                           ``rows`` (m, D) float32 / float16, or ``codes`` (m, M) uint8 (PQ);
                           <sha> begins its SHA-256 (the name follows the content)
    codec.npz              the product quantiser, when the store is compressed

The config hash is the SHA-256 of the canonical JSON of the extraction settings, so two
settings never share a store and the same settings always find theirs.  Keys are the
SHA-256 of each image's bytes.

Shards
------
Shard ``n`` of a planned store (:meth:`FeatureStore.plan`, as the runners use it) holds
the images of ranks ``n * shard_size`` onwards in a seeded pseudo-random order of the
image keys (:func:`shard_ranks`): each shard is a random sample of the whole set, so a
shard-by-shard reader sees every class in every shard however the images were listed
(ILSVRC lists them class by class), and the files depend only on which images are stored,
never on the order they were computed in, the backend, or interruptions.

Crash safety
------------
Only the process that owns the store writes it (opening a store deletes the temporary
files a killed writer left).  A shard is written to a temporary file
in the same folder and renamed into place under a name of its own; the manifest (listing
each shard with its row count and SHA-256) is rewritten the same way *after* the shard is
in place, and only then is a superseded version of the shard deleted.  A
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
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ilsvrc.errors import InputError
from ilsvrc.files import file_digest

from .cache import atomic_write_bytes, npz_bytes
from .locks import try_lock

MANIFEST = "manifest.json"
STORE_KINDS = ("float32", "float16", "pq")
"""How rows are stored: plain float32, float16, or product-quantised codes."""
FORMAT = 2


class DamagedShardError(InputError):
    """A listed shard cannot be read: names it and the command that repairs the store."""

    def __init__(self, path, cause):
        super().__init__(f"damaged feature-store shard ({type(cause).__name__}: {cause}); run "
                         f"`ilsvrc-classic store verify {Path(path).parent} --repair` and run again: the images of "
                         "the shards it drops are recomputed", path=path)


def _writer_lock(directory: Path):
    """Hold the store's writer lock for the life of the returned handle (one writer per store:
    a second run writing the same store stops at once with a clear message)."""
    import os

    handle = try_lock(directory / ".writer.lock", f"pid {os.getpid()}")
    if handle is None:
        raise InputError("another process is writing this feature store; wait for it to finish (a store has one "
                         "writer at a time)", path=directory)
    return handle


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


def shard_ranks(keys, seed: int) -> np.ndarray:
    """The rank of each key in the store's seeded order: keys sorted by SHA-256 of
    ``"<seed>:<key>"`` (a pseudo-random permutation that depends only on the keys and the seed)."""
    scores = [hashlib.sha256(f"{seed}:{k}".encode()).hexdigest() for k in keys]
    order = sorted(range(len(scores)), key=lambda i: (scores[i], keys[i]))
    ranks = np.empty(len(order), np.int64)
    ranks[order] = np.arange(len(order))
    return ranks


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
        Also write the shards that have new rows when this long has passed since the last
        write, so that a killed run loses at most this much finished work.
    seed : int
        Seed of the shard assignment of :meth:`plan`.

    Two ways to fill a store: :meth:`plan` the keys first (what
    :func:`experiments.scale.extract.encode_into_store` does), and shard ``k`` holds the
    keys of ranks ``k * shard_size`` to ``(k + 1) * shard_size - 1`` in :func:`shard_ranks`'
    seeded order, rows sorted by rank: every shard is a random sample of the images (of
    every class, whatever order the images were listed in), and its contents depend only
    on the set of stored images, never on the order in which they were computed, the
    backend, or interruptions.  Without a plan, rows go to shards in the order they are
    added.  Files are written deterministically (no time stamps), so two stores of the
    same images are equal byte for byte.
    """

    def __init__(self, root, config: dict, *, dtype: str = "float32", codec: PQCodec | None = None,
                 shard_size: int = 1024, flush_seconds: float = 300.0, seed: int = 0, writer: bool = True):
        if dtype not in ("float32", "float16"):
            raise ValueError(f"dtype: expected 'float32' or 'float16', got {dtype!r}")
        self.config = config
        self.dir = Path(root) / config_hash(config)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = _writer_lock(self.dir) if writer else None
        if writer:
            for debris in self.dir.glob(".tmp-*"):    # half-written files of a killed writer
                debris.unlink(missing_ok=True)
        self.flush_seconds = float(flush_seconds)
        self._last_flush = time.monotonic()
        self._superseded: list = []
        manifest = self._read_manifest()
        if manifest is None:
            self.dtype = dtype
            self.compressed = codec is not None
            self.shard_size = int(shard_size)
            self.seed = int(seed)
            self.shards: list[Shard] = []
            self.failures: dict = {}
            if codec is not None:
                codec.save(self.dir / "codec.npz")
            self._write_manifest()
        else:
            self.dtype = manifest["dtype"]
            self.compressed = manifest["compressed"]
            self.shard_size = int(manifest.get("shard_size", shard_size))
            self.seed = int(manifest.get("seed", seed))
            self.shards = [Shard(**s) for s in manifest["shards"]]
            self.failures = manifest.get("failures", {})
        self.codec = PQCodec.load(self.dir / "codec.npz") if self.compressed else None
        self._pending: list = []
        self._rank: dict | None = None
        self._open: dict = {}                 # planned shard -> its keys neither stored nor failed yet
        self._stored: set | None = None

    # ------------------------------------------------------------------ manifest
    def _read_manifest(self) -> dict | None:
        path = self.dir / MANIFEST
        return read_manifest(path) if path.exists() else None

    def close(self) -> None:
        """Release the writer lock (the store stays readable)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _write_manifest(self) -> None:
        """Write the manifest (atomically), then delete the shard files it no longer lists."""
        manifest = {"format": FORMAT, "config": self.config, "dtype": self.dtype, "compressed": self.compressed,
                    "shard_size": self.shard_size, "seed": self.seed,
                    "shards": [vars(s) for s in sorted(self.shards, key=lambda s: s.name)],
                    "failures": dict(sorted(self.failures.items())), "n_images": sum(s.n for s in self.shards)}
        atomic_write_bytes(self.dir / MANIFEST, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())
        for name in self._superseded:
            (self.dir / name).unlink(missing_ok=True)
        self._superseded = []

    # ------------------------------------------------------------------ writing
    def plan(self, keys) -> None:
        """Fix the shard of every key (see the class docstring); call before :meth:`add`."""
        unique = sorted(set(keys))
        ranks = shard_ranks(unique, self.seed)
        self._rank = dict(zip(unique, ranks.tolist()))
        stored = self.done_keys()
        self._open = {}
        for key, rank in self._rank.items():
            if key not in stored:
                self._open.setdefault(rank // self.shard_size, set()).add(key)

    def order(self, keys) -> list[int]:
        """Positions of ``keys`` sorted by their planned rank (the order to compute them in)."""
        if self._rank is None:
            return list(range(len(keys)))
        return sorted(range(len(keys)), key=lambda i: self._rank[keys[i]])

    def done_keys(self) -> set:
        """Keys of every image stored in a listed shard."""
        if self._stored is None:
            self._stored = set()
            for shard in self.shards:
                self._stored.update(self._shard_keys(shard))
        return set(self._stored)

    def _shard_keys(self, shard: Shard) -> list:
        try:
            with np.load(self.dir / shard.name) as data:
                return data["keys"].tolist()
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise DamagedShardError(self.dir / shard.name, exc) from None

    def _check_writer(self) -> None:
        if self._lock is None:
            raise RuntimeError(f"{self.dir}: opened for reading; open_store(..., writer=True) to add to it")

    def add(self, key: str, vector: np.ndarray, *, path: str = "", label: int = -1) -> None:
        """Queue one image's vector; shards are written when full (or ``flush_seconds`` passed)."""
        self._check_writer()
        self._pending.append((key, str(path), int(label), np.asarray(vector, np.float32).ravel()))
        self.failures.pop(key, None)
        self._resolved(key)

    def add_failure(self, key: str, path: str, error: str) -> None:
        """Record an image that could not be processed (kept in the manifest, retried next run)."""
        self._check_writer()
        self.failures[key] = {"path": str(path), "error": error}
        self._resolved(key)

    def _resolved(self, key: str) -> None:
        """``key`` is stored or failed: write its shard when that completes it (or on time)."""
        complete = None
        if self._rank is not None and key in self._rank:
            shard = self._rank[key] // self.shard_size
            remaining = self._open.get(shard)
            if remaining is not None:
                remaining.discard(key)
                if not remaining:
                    del self._open[shard]
                    complete = shard
        if time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush()
        elif self._rank is None:
            if len(self._pending) >= self.shard_size:
                self.flush()
        elif complete is not None:
            self.flush(only={complete})

    def _write_shard(self, prefix: str, rows: list) -> None:
        """Write ``rows`` as the shard ``<prefix>-<first 8 hex of its SHA-256>.npz`` (its name
        follows its content, so a rewritten shard never replaces a listed file in place);
        the file it supersedes is deleted after the next manifest write."""
        keys = np.array([p[0] for p in rows])
        paths = np.array([p[1] for p in rows])
        labels = np.array([p[2] for p in rows], np.int64)
        matrix = np.stack([p[3] for p in rows])
        payload = {"codes": self.codec.encode(matrix)} if self.codec is not None else \
            {"rows": matrix.astype(self.dtype)}
        data = npz_bytes(keys=keys, paths=paths, labels=labels, **payload)
        digest = hashlib.sha256(data).hexdigest()
        name = f"{prefix}-{digest[:8]}.npz"
        atomic_write_bytes(self.dir / name, data)
        old = [s for s in self.shards if s.name.startswith(prefix + "-") and s.name != name]
        self._superseded += [s.name for s in old]
        self.shards = [s for s in self.shards if not s.name.startswith(prefix + "-")]
        self.shards.append(Shard(name, len(keys), digest))
        if self._stored is not None:
            self._stored.update(keys.tolist())

    def _stored_rows(self, prefix: str) -> list:
        """The rows of the listed shard named ``<prefix>-*`` as queue entries (to merge new rows into)."""
        shard = next((s for s in self.shards if s.name.startswith(prefix + "-")), None)
        if shard is None:
            return []
        keys, labels, rows = self.read_shard(shard)
        with np.load(self.dir / shard.name) as data:
            paths = data["paths"].tolist()
        return list(zip(keys.tolist(), paths, labels.tolist(), rows))

    def flush(self, only=None) -> None:
        """Write the queued rows, then the manifest.

        Planned stores write each touched shard whole (its stored rows merged with the new
        ones, sorted by rank); ``only``: just these shard numbers.  Unplanned stores write
        the queue as one new shard.
        """
        if self._lock is None and not self._pending:
            return                                    # a reader has nothing to write
        self._check_writer()
        if not self._pending:
            self._write_manifest()
            return
        if self._rank is None:
            used = [int(sh.name[7:13]) for sh in self.shards if sh.name.startswith("shard-u")]
            self._write_shard(f"shard-u{max(used, default=-1) + 1:06d}", self._pending)
            self._pending = []
        else:
            by_shard: dict = {}
            for entry in self._pending:
                by_shard.setdefault(self._rank[entry[0]] // self.shard_size, []).append(entry)
            if only is not None:
                by_shard = {k: v for k, v in by_shard.items() if k in only}
                if not by_shard:
                    return
            for index, entries in sorted(by_shard.items()):
                prefix = f"shard-{index:06d}"
                merged = {e[0]: e for e in self._stored_rows(prefix)}
                merged.update({e[0]: e for e in entries})
                self._write_shard(prefix, sorted(merged.values(), key=lambda e: self._rank.get(e[0], -1)))
            written = {e[0] for entries in by_shard.values() for e in entries}
            self._pending = [e for e in self._pending if e[0] not in written]
        self._write_manifest()
        self._last_flush = time.monotonic()

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return sum(s.n for s in self.shards)

    def read_shard(self, shard: Shard):
        """``(keys, labels, rows float32)`` of one shard."""
        path = self.dir / shard.name
        try:
            with np.load(path) as data:
                keys, labels = data["keys"], data["labels"]
                rows = self.codec.decode(data["codes"]) if self.compressed else data["rows"].astype(np.float32)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise DamagedShardError(path, exc) from None
        return keys, labels, rows

    def read_labels(self, shard: Shard) -> np.ndarray:
        """The labels of one shard (without reading its rows)."""
        try:
            with np.load(self.dir / shard.name) as data:
                return data["labels"]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise DamagedShardError(self.dir / shard.name, exc) from None

    def iter_shards(self):
        """Yield ``(keys, labels, rows)`` shard by shard, in name order (memory: one shard)."""
        for shard in sorted(self.shards, key=lambda s: s.name):
            yield self.read_shard(shard)

    def shard_loaders(self) -> list:
        """One callable per shard (name order) returning its ``(rows, labels)``: the input of
        :meth:`baselines.streaming.StreamingSGDClassifier.fit_shards`."""
        def loader(shard):
            keys, labels, rows = self.read_shard(shard)
            return rows, labels
        return [(lambda sh=sh: loader(sh)) for sh in sorted(self.shards, key=lambda s: s.name)]

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
            self._check_writer()
            self.shards = [s for s in self.shards if s.name not in bad]
            self._write_manifest()
        return problems


def read_manifest(path) -> dict:
    """A store's manifest, checked; :class:`InputError` naming it when unreadable."""
    path = Path(path)
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"unreadable store manifest ({exc}); delete the store's folder to rebuild the store",
                         path=path) from None
    if not isinstance(manifest, dict) or manifest.get("format") not in (1, FORMAT) or "config" not in manifest:
        raise InputError(f"not a store manifest of a known format (format {manifest.get('format')!r})"
                         if isinstance(manifest, dict) else "not a store manifest", path=path)
    return manifest


def open_store(directory, *, writer: bool = False) -> FeatureStore:
    """Open an existing store folder (the one holding ``manifest.json``); ``writer``: take the
    writer lock (to repair it, or add to it)."""
    directory = Path(directory)
    path = directory / MANIFEST
    if not path.exists():
        raise InputError("no store manifest here", path=path)
    manifest = read_manifest(path)
    store = FeatureStore(directory.parent, manifest["config"], writer=writer)
    if store.dir.resolve() != directory.resolve():
        raise ValueError(f"{directory}: its manifest's configuration hashes to {store.dir.name}")
    return store
