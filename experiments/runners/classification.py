"""Run a named experiment: extract, learn the vocabulary, encode, train, predict, score, report.

``ilsvrc-classic run CONFIG [--data DIR] [--set section.key=value ...]``

For every split seed of the configuration: descriptor samples of the training images
teach the PCA and the vocabulary (or GMM); every image is encoded; one-vs-rest linear SVMs
are trained (C chosen on a validation split when several are given); the top-5 classes of
each test image are written as an ILSVRC CLS submission and scored by the ILSVRC
evaluator, next to the mean per-class accuracy of the Caltech protocol.  Per-image work
runs in parallel (joblib), shows progress (tqdm), and is cached by image content and
settings, so an interrupted or repeated run recomputes nothing it has already done.
Results go to ``runs/<name>/``: the resolved configuration, library versions, metrics
JSON, a Markdown report beside the published number, and plots.
"""
from __future__ import annotations

import json
import logging
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from baselines.classification import LinearSVMClassifier
from baselines.pipeline import ImagePipeline, make_extractor
from features.encoding import BagOfWords, FisherVectorEncoder, HellingerMap, VLADEncoder
from features.local import DescriptorPCA, LocalFeatures
from ilsvrc.datasets import ILSVRCDataset, Split
from ilsvrc.errors import InputError

from ..config import ExperimentConfig, with_value
from ..datasets import ImageFolderDataset
from ..scale.cache import ContentCache, file_digest
from ..scale.parallel import Execution, map_images

log = logging.getLogger(__name__)


@dataclass
class SplitResult:
    seed: int
    accuracy: float
    top_k_error: list
    n_train: int
    n_test: int
    C: float
    seconds: float
    failed: list = field(default_factory=list)
    confusion: np.ndarray | None = None
    per_class_accuracy: np.ndarray | None = None


# --------------------------------------------------------------------------- parallel map with cache
def _sample_job(pipeline, path, n, seed):
    feats, error = pipeline.sample(path, n, seed)
    if feats is None:
        return None, error
    return {"frames": feats.frames, "descriptors": feats.descriptors, "size": np.array(feats.image_size)}, None


def _encode_job(pipeline, path):
    code, error = pipeline.encode(path)
    return (None, error) if code is None else ({"code": code}, None)


def _cached_map(job, args_list, keys, cache: ContentCache, namespace: str, execution: Execution, desc: str,
                progress: bool):
    """Run ``job(*args)`` for every item whose cache entry is missing, in parallel.

    Returns the list of results (dicts of arrays, or None for failures) and the failures
    as ``(index, message)``.
    """
    results = [cache.get(namespace, key) for key in keys]
    todo = [i for i, r in enumerate(results) if r is None]
    failures = []
    for i, value, error in map_images(job, args_list, execution, indices=todo, progress=progress, desc=desc):
        if value is None:
            failures.append((i, error))
            log.warning("skipped %s: %s", args_list[i][1], error)
            continue
        cache.put(namespace, keys[i], **value)
        results[i] = value
    return results, failures


def execution_of(cfg: ExperimentConfig) -> Execution:
    """The parallel execution settings of a configuration's ``[run]`` section."""
    r = cfg.run
    return Execution(backend=r.backend, scheduler=r.scheduler, n_jobs=r.n_jobs, batch_size=r.batch_size)


# --------------------------------------------------------------------------- one split
def extractor_of(cfg: ExperimentConfig):
    """The local-feature extractor of a configuration's ``[features]`` (images shrunk to ``data.max_side``)."""
    f = cfg.features
    return make_extractor(f.kind, step=f.step, sizes=f.sizes, bin_size=f.bin_size, color=f.color, fast=f.fast,
                          window_size=f.window_size, magnif=f.magnif, contrast_threshold=f.contrast_threshold,
                          max_side=cfg.data.max_side)


def _make_pipeline(cfg: ExperimentConfig) -> ImagePipeline:
    f = cfg.features
    return ImagePipeline(extractor_of(cfg), root_sift=f.root_sift, spatial=f.spatial)


def _make_encoder(cfg: ExperimentConfig, seed: int):
    e = cfg.encoding
    if e.kind == "bow":
        return BagOfWords(n_words=e.n_words, layout=e.layout, assignment=e.assignment, normalize=e.normalize,
                          level_weights=tuple(e.level_weights) or None, max_descriptors=e.max_descriptors,
                          kmeans_iter=e.kmeans_iter, random_state=seed)
    if e.kind == "vlad":
        return VLADEncoder(n_words=e.n_words, layout=e.layout, max_descriptors=e.max_descriptors,
                           kmeans_iter=e.kmeans_iter, random_state=seed)
    return FisherVectorEncoder(n_components=e.n_components, layout=e.layout, max_descriptors=e.max_descriptors,
                               em_iter=e.em_iter, random_state=seed)


def _feature_map(kind: str):
    if kind == "chi2":
        from sklearn.kernel_approximation import AdditiveChi2Sampler

        return AdditiveChi2Sampler(sample_steps=2)
    if kind == "hellinger":
        return HellingerMap()
    return None


def _cached_signatures_and_classifier(cfg, pipeline, split, digests, cache, progress):
    """Signatures through the content cache, all in memory; a LinearSVMClassifier."""
    train, test = split.train, split.test
    images = train + test
    codes, failed_codes = _cached_map(
        _encode_job, [(pipeline, s.path) for s in images], [digests[s.path] for s in images], cache,
        f"codes/{pipeline.fingerprint()}", execution_of(cfg), f"encoding (seed {split.seed})", progress)
    keep_train = [i for i in range(len(train)) if codes[i] is not None]
    keep_test = [i for i in range(len(test)) if codes[len(train) + i] is not None]
    x_train = np.stack([codes[i]["code"] for i in keep_train])
    y_train = np.array([train[i].label for i in keep_train])
    x_test = np.stack([codes[len(train) + i]["code"] for i in keep_test])
    y_test = np.array([test[i].label for i in keep_test])
    fmap = _feature_map(cfg.classifier.feature_map)
    if fmap is not None:
        x_train, x_test = fmap.fit_transform(x_train), fmap.transform(x_test)
    clf = LinearSVMClassifier(C=tuple(cfg.classifier.C), solver=cfg.classifier.solver,
                              validation_fraction=cfg.classifier.validation_fraction,
                              random_state=split.seed).fit(x_train, y_train)
    return clf.top_k(x_test, 5), y_test, keep_train, keep_test, failed_codes, clf.C_


def _streamed_signatures_and_classifier(cfg, pipeline, split, digests, n_classes, progress):
    """Signatures streamed into two feature stores (training and test images); streaming SGD
    over the training store's shards; predictions shard by shard.  Memory: one shard."""
    from baselines.streaming import StreamingSGDClassifier

    from ..scale.extract import encode_into_store, signature_job
    from ..scale.store import FeatureStore, PQCodec

    r = cfg.run
    dtype = "float16" if r.store == "float16" else "float32"
    base = {"pipeline": pipeline.fingerprint(), "seed": split.seed, "store": r.store}
    codec = None
    if r.store == "pq":
        sample = split.train[:: max(1, len(split.train) // 1024)]
        vectors = [v for v in (signature_job(pipeline, s.path)[0] for s in sample) if v is not None]
        codec = PQCodec(sub_dim=r.pq_sub_dim, seed=split.seed).fit(np.stack(vectors))
    stores, stats = {}, {}
    for role, samples in (("train", split.train), ("test", split.test)):
        stores[role] = FeatureStore(r.store_dir, {**base, "role": role}, dtype=dtype, codec=codec,
                                    shard_size=r.shard_size)
        stats[role] = encode_into_store(stores[role], samples, signature_job, lambda s: (pipeline, s.path),
                                        execution_of(cfg), keys=[digests[s.path] for s in samples],
                                        progress=progress, desc=f"{role} signatures")
    classes = np.arange(n_classes)
    fmap = _feature_map(cfg.classifier.feature_map)       # stateless maps, applied shard by shard
    transform = (lambda x: x) if fmap is None else (lambda x: fmap.fit_transform(x).astype(np.float32))
    shards = [(lambda load=load: (lambda rows, labels: (transform(rows), labels))(*load()))
              for load in stores["train"].shard_loaders()]
    c = cfg.classifier
    clf = StreamingSGDClassifier(alpha=c.alpha, epochs=c.epochs, random_state=split.seed).fit_shards(shards, classes)
    positions: dict = {}
    for i, key in enumerate(stats["test"]["keys"]):
        positions.setdefault(key, []).append(i)           # identical files share one stored row
    k = min(5, n_classes)
    top5 = np.zeros((len(split.test), k), np.int64)
    found = np.zeros(len(split.test), bool)
    for keys, _, rows in stores["test"].iter_shards():
        pred = clf.top_k(transform(rows), k)
        for key, p in zip(keys.tolist(), pred):
            for i in positions.get(key, ()):
                top5[i], found[i] = p, True
    train_keys = stores["train"].done_keys()
    keep_train = [i for i, k in enumerate(stats["train"]["keys"]) if k in train_keys]
    keep_test = np.flatnonzero(found).tolist()
    failed = [(len(split.train) + i, "not stored") for i in np.flatnonzero(~found)]
    return top5[keep_test], np.array([split.test[i].label for i in keep_test]), keep_train, keep_test, failed, \
        c.alpha


def run_split(cfg: ExperimentConfig, split: Split, n_classes: int, cache: ContentCache, out_dir: Path,
              progress: bool = True) -> SplitResult:
    start = time.perf_counter()
    pipeline = _make_pipeline(cfg)
    train, test = split.train, split.test
    digests = {s.path: file_digest(s.path) for s in train + test}
    feature_key = cfg.section_hash("features") + f"-{cfg.data.max_side}"

    # 1. descriptor samples of the training images: PCA and vocabulary
    n_per = cfg.features.samples_per_image
    samples, failed = _cached_map(
        _sample_job, [(pipeline, s.path, n_per, int(digests[s.path][:8], 16)) for s in train],
        [f"{digests[s.path]}-{n_per}" for s in train], cache, f"samples/{feature_key}", execution_of(cfg),
        f"descriptors (seed {split.seed})", progress)
    feats = [LocalFeatures(r["frames"], r["descriptors"], tuple(r["size"])) for r in samples if r is not None]
    if not feats:
        raise InputError("no training image could be read")
    if cfg.features.pca_components:
        pipeline.pca = DescriptorPCA(n_components=cfg.features.pca_components, whiten=cfg.features.pca_whiten,
                                     max_samples=cfg.encoding.max_descriptors, random_state=split.seed).fit(feats)
    feats = [pipeline.finish(f) for f in feats]
    pipeline.encoder = _make_encoder(cfg, split.seed).fit(feats)

    # 2. every image's signature, and 3. the classifier
    if cfg.run.store:
        top5, y_test, keep_train, keep_test, failed_codes, C = _streamed_signatures_and_classifier(
            cfg, pipeline, split, digests, n_classes, progress)
        failed = [train[i].path for i, _ in failed] + [(train + test)[i].path for i, _ in failed_codes]
    else:
        top5, y_test, keep_train, keep_test, failed_codes, C = _cached_signatures_and_classifier(
            cfg, pipeline, split, digests, cache, progress)
        failed = [(train + test)[i].path for i, _ in failed_codes] + [train[i].path for i, _ in failed]

    # 4. scores: Caltech mean per-class accuracy, and the ILSVRC evaluator on a CLS submission
    from ilsvrc.evaluation import evaluate_cls
    from ilsvrc.metrics.classification import mean_per_class_accuracy
    from ilsvrc.submissions import write_cls_submission

    accuracy = mean_per_class_accuracy(top5[:, 0], y_test, n_classes)
    sub_dir = out_dir / f"split_{split.seed}"
    sub_dir.mkdir(parents=True, exist_ok=True)
    write_cls_submission(sub_dir / "submission.txt", top5 + 1)
    (sub_dir / "ground_truth.txt").write_text("".join(f"{y + 1}\n" for y in y_test))
    scored = evaluate_cls(sub_dir / "submission.txt", sub_dir / "ground_truth.txt", check_label_order=False)
    confusion = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(confusion, (y_test, top5[:, 0]), 1)
    per_class = np.diag(confusion) / np.maximum(confusion.sum(axis=1), 1)
    return SplitResult(split.seed, accuracy, [float(e) for e in scored.top_k_error], len(keep_train), len(keep_test),
                       C, time.perf_counter() - start, failed, confusion, per_class)


# --------------------------------------------------------------------------- whole experiment
def _open(cfg: ExperimentConfig, data_dir):
    root = Path(data_dir or cfg.data.path)
    if not data_dir and not root.is_absolute() and cfg.source_path:
        root = Path(cfg.source_path).parent / root
    if not str(root) or not root.exists():
        raise InputError("data folder not found; pass --data DIR (nothing is downloaded)", path=root)
    if cfg.data.layout == "ilsvrc":
        return ILSVRCDataset(root, cfg.data.ground_truth, cfg.data.meta)
    return ImageFolderDataset(root, classes=cfg.data.classes or None)


def _split(dataset, cfg: ExperimentConfig, seed: int) -> Split:
    """The Caltech protocol for a folder data set; ILSVRC: training images (optionally a
    seeded subset per class) against the whole validation set."""
    if isinstance(dataset, ILSVRCDataset):
        return Split(dataset.train_samples(cfg.data.train_per_class or None, seed), dataset.val_samples(), seed)
    return dataset.split(cfg.data.n_train, cfg.data.n_test or None, seed)


def _versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in ("numpy", "scipy", "scikit-learn", "opencv-contrib-python-headless", "faiss-cpu", "joblib"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


# Worker processes stream image-sized temporaries; glibc's default is to hand large freed
# blocks back to the kernel and fault them in again on the next image (a third of the CPU
# time went to the kernel).  Keep up to 32 MB blocks in the heap instead.  Workers read
# these when they start; the parent process is not affected.
_WORKER_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(256 << 20)}


def run_experiment(cfg: ExperimentConfig, data_dir=None, *, output=None, progress: bool = True) -> dict:
    """Run every split (and sweep value) of ``cfg``; write ``runs/<name>/``; return the summary."""
    if cfg.task == "detection":
        from .detection import run_detection_experiment

        return run_detection_experiment(cfg, data_dir, output=output, progress=progress)
    for key, value in _WORKER_MALLOC.items():
        os.environ.setdefault(key, value)
    dataset = _open(cfg, data_dir)
    out_dir = Path(output or cfg.run.output) / cfg.name
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = ContentCache(cfg.run.cache)
    started = time.perf_counter()
    variants = [(None, cfg)] if not cfg.sweep.key else [(v, with_value(cfg, cfg.sweep.key, v))
                                                        for v in cfg.sweep.values]
    summary = {"name": cfg.name, "description": cfg.description, "published": cfg.to_dict()["published"],
               "n_classes": len(dataset.classes), "variants": []}
    for value, variant in variants:
        results = []
        for seed in variant.data.seeds:
            split = _split(dataset, variant, int(seed))
            sub = out_dir if value is None else out_dir / f"{cfg.sweep.key}={value}"
            results.append(run_split(variant, split, len(dataset.classes), cache, sub, progress))
        acc = np.array([r.accuracy for r in results])
        errors = np.array([r.top_k_error for r in results])
        summary["variants"].append({
            "sweep_value": value, "accuracy_mean": float(acc.mean()), "accuracy_std": float(acc.std()),
            "top_k_error_mean": errors.mean(axis=0).tolist(),
            "splits": [{"seed": r.seed, "accuracy": r.accuracy, "top_k_error": r.top_k_error, "C": r.C,
                        "n_train": r.n_train, "n_test": r.n_test, "seconds": round(r.seconds, 1),
                        "failed_images": r.failed} for r in results],
            "_results": results})
    summary["seconds"] = round(time.perf_counter() - started, 1)
    summary["versions"] = _versions()
    from ..reports.classification import write_report

    write_report(cfg, dataset, summary, out_dir)
    for v in summary["variants"]:
        v.pop("_results")
    (out_dir / "metrics.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1, default=list) + "\n")
    return summary
