"""What the classification and detection runners share: the data folder, the extractor,
the cached parallel map, descriptor samples, the output lock, the library versions."""
from __future__ import annotations

import logging
import os
import platform
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from baselines.pipeline import ImagePipeline, make_extractor
from ilsvrc.errors import InputError

from ..config import ExperimentConfig
from ..scale import locks
from ..scale.cache import ContentCache, code_version
from ..scale.parallel import Execution, map_images

log = logging.getLogger(__name__)

FEATURE_CODE = ("features", "baselines.pipeline")
"""The code that turns an image into descriptors and signatures: part of those caches' keys."""

# Worker processes stream image-sized temporaries; glibc's default is to hand large freed
# blocks back to the kernel and fault them in again on the next image (a third of the CPU
# time went to the kernel).  Keep up to 32 MB blocks in the heap instead.  Workers read
# these when they start; the parent process is not affected.
WORKER_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(256 << 20)}


def execution_of(cfg: ExperimentConfig) -> Execution:
    """The parallel execution settings of a configuration's ``[run]`` section."""
    r = cfg.run
    return Execution(backend=r.backend, scheduler=r.scheduler, n_jobs=r.n_jobs, batch_size=r.batch_size)


def extractor_of(cfg: ExperimentConfig):
    """The local-feature extractor of a configuration's ``[features]`` (images shrunk to ``data.max_side``)."""
    f = cfg.features
    return make_extractor(f.kind, step=f.step, sizes=f.sizes, bin_size=f.bin_size, color=f.color, fast=f.fast,
                          window_size=f.window_size, magnif=f.magnif, contrast_threshold=f.contrast_threshold,
                          max_side=cfg.data.max_side)


def pipeline_of(cfg: ExperimentConfig) -> ImagePipeline:
    """The per-image pipeline of a configuration (extractor, RootSIFT, spatial augmentation)."""
    return ImagePipeline(extractor_of(cfg), root_sift=cfg.features.root_sift, spatial=cfg.features.spatial)


def data_root(cfg: ExperimentConfig, data_dir) -> Path:
    """``--data`` or the configuration's ``data.path`` (relative to the configuration file)."""
    root = Path(data_dir or cfg.data.path)
    if not data_dir and not root.is_absolute() and cfg.source_path:
        root = Path(cfg.source_path).parent / root
    if not str(data_dir or cfg.data.path) or not root.exists():
        raise InputError("data folder not found; pass --data DIR (nothing is downloaded)", path=root)
    return root


def class_subset(cfg: ExperimentConfig, root: Path) -> tuple | None:
    """The classes to run on: ``data.classes``, else the lines of ``data.classes_file``
    (relative to the data folder), else None (all)."""
    if cfg.data.classes:
        return tuple(cfg.data.classes)
    if cfg.data.classes_file:
        from ilsvrc.datasets import read_class_list

        path = Path(cfg.data.classes_file)
        names = read_class_list(path if path.is_absolute() else root / path)
        if not names:
            raise InputError("the class list is empty", path=path, field="data.classes_file")
        return names
    return None


def cached_map(job, args_list, keys, cache: ContentCache, namespace: str, execution: Execution, desc: str,
               progress: bool):
    """Run ``job(*args)`` for every item whose cache entry is missing, in parallel.

    ``job`` returns a dict of arrays (the entry).  Returns the list of entries (None for
    failures) and the failures as ``(index, message)``; each failure is logged once.
    """
    results = [cache.get(namespace, key) for key in keys]
    todo = [i for i, r in enumerate(results) if r is None]
    failures = []
    for i, value, error in map_images(job, args_list, execution, indices=todo, progress=progress, desc=desc):
        if value is None:
            failures.append((i, error))
            log.warning("skipped: %s", error)
            continue
        cache.put(namespace, keys[i], **value)
        results[i] = value
    return results, failures


def sample_job(pipeline: ImagePipeline, path, n: int, seed: int) -> dict:
    """Worker job: a seeded sample of ``n`` descriptors (and frames) of one image."""
    feats = pipeline.sample(path, n, seed)
    return {"frames": feats.frames, "descriptors": feats.descriptors, "size": np.array(feats.image_size)}


SAMPLE_SURPLUS = 5
"""Descriptor samples are drawn from at most this many times the images that
``encoding.max_descriptors`` needs (a seeded subset of the training images, every class
represented): the PCA and the vocabulary see ``max_descriptors`` of them anyway."""


def vocabulary_images(samples, n_per: int, max_descriptors: int, seed: int) -> list[int]:
    """Indices of the training images whose descriptors are sampled: all of them, or, when
    they would give more than ``SAMPLE_SURPLUS * max_descriptors`` descriptors, a seeded
    subset with the same share of every class (at least one image each)."""
    needed = -(-SAMPLE_SURPLUS * max_descriptors // max(n_per, 1))
    if len(samples) <= needed:
        return list(range(len(samples)))
    rng = np.random.default_rng(seed)
    by_class: dict = {}
    for i, s in enumerate(samples):
        by_class.setdefault(s.label, []).append(i)
    share = needed / len(samples)
    chosen = []
    for members in by_class.values():
        take = max(1, int(round(share * len(members))))
        chosen += [members[j] for j in rng.choice(len(members), min(take, len(members)), replace=False)]
    return sorted(chosen)


def descriptor_samples(cfg: ExperimentConfig, pipeline: ImagePipeline, samples, digests, cache: ContentCache,
                       desc: str, progress: bool, seed: int = 0):
    """Descriptor samples (``features.samples_per_image`` each, seeded by the image's content)
    of the training images :func:`vocabulary_images` picks, through the cache; returns
    ``(entries, failures)`` as :func:`cached_map` (entries of the picked images only; the
    failures index ``samples``)."""
    n_per = cfg.features.samples_per_image
    picked = vocabulary_images(samples, n_per, cfg.encoding.max_descriptors, seed)
    namespace = f"samples/{cfg.section_hash('features')}-{cfg.data.max_side}-{code_version(*FEATURE_CODE)}"
    entries, failures = cached_map(
        sample_job, [(pipeline, samples[i].path, n_per, int(digests[i][:8], 16)) for i in picked],
        [f"{digests[i]}-{n_per}" for i in picked], cache, namespace, execution_of(cfg), desc, progress)
    return entries, [(picked[i], message) for i, message in failures]


def library_versions() -> dict:
    """Python, platform and the versions of the libraries that decide the numbers."""
    import importlib.metadata as md

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in ("numpy", "scipy", "scikit-learn", "opencv-contrib-python-headless", "faiss-cpu", "joblib"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


class RunLockedError(InputError):
    """Another run writes into the same output folder."""


@contextmanager
def output_lock(out_dir: Path):
    """Hold an exclusive lock on ``out_dir`` for the duration of a run (a second run of the
    same configuration into the same folder stops at once with a clear message)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / ".lock"
    handle = locks.try_lock(path, f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}")
    if handle is None:
        owner = path.read_text().strip() or "another process"
        raise RunLockedError(f"another run ({owner}) is writing into this folder; wait for it to finish, or "
                             "pass --output to write elsewhere", path=out_dir)
    try:
        yield
    finally:
        locks.release(handle)


@contextmanager
def phase(name: str):
    """Log the start and the duration of a long phase that has no per-image progress bar."""
    log.info("%s ...", name)
    start = time.perf_counter()
    yield
    log.info("%s: done in %.1f s", name, time.perf_counter() - start)
