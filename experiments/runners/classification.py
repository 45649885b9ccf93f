"""Run a named classification experiment: extract, learn the vocabulary, encode, train, predict, score, report.

``ilsvrc-classic run CONFIG [--data DIR] [--set section.key=value ...]``

For every split seed of the configuration: descriptor samples of the training images
teach the PCA and the vocabulary (or GMM); every image is encoded; one-vs-rest linear SVMs
are trained (C chosen on a validation split when several are given), or, with
``run.store``, the signatures stream into feature stores and SGD trains from their
shards; the top-5 classes of each test image are written as an ILSVRC CLS submission
(``split_<seed>/submission.txt``: devkit ids for ILSVRC data, so it scores against the
official ground truth) and scored by the ILSVRC evaluator, next to the mean per-class
accuracy of the Caltech protocol.  Per-image work runs in parallel (joblib), shows
progress (tqdm), and is cached by image content, settings and code version, so an
interrupted or repeated run recomputes nothing it has already done.  Results go to
``runs/<name>/``: the resolved configuration, library versions, metrics JSON, each
split's model (``split_<seed>/model.npz``, what ``ilsvrc-classic explain`` draws), a
Markdown report beside the published number, and plots.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from baselines.classification import KERNEL_SOLVERS, LinearSVMClassifier, linear_scores
from baselines.pipeline import ImagePipeline
from features.encoding import (
    BagOfWords,
    FisherVectorEncoder,
    HellingerMap,
    LLCEncoder,
    SuperVectorEncoder,
    VLADEncoder,
)
from features.local import DescriptorPCA, LocalFeatures
from ilsvrc.datasets import Split
from ilsvrc.errors import InputError

from ..config import ExperimentConfig, config_from_dict, swept_values, sweep_label, with_value
from ..datasets import open_classification_data
from ..scale.cache import ContentCache, code_version, image_digests
from .common import (
    FEATURE_CODE,
    WORKER_MALLOC,
    cached_map,
    class_subset,
    data_root,
    descriptor_samples,
    execution_of,
    library_versions,
    output_lock,
    phase,
    pipeline_of,
)

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
    classifier: dict = field(default_factory=dict)
    failed: list = field(default_factory=list)
    confusion: np.ndarray | None = None
    per_class_accuracy: np.ndarray | None = None
    submission: str = ""


# --------------------------------------------------------------------------- building blocks
def encoder_of(cfg: ExperimentConfig, seed: int):
    """The (unfitted) encoder of a configuration's ``[encoding]``."""
    e = cfg.encoding
    if e.kind == "bow":
        return BagOfWords(n_words=e.n_words, layout=e.layout, assignment=e.assignment, normalize=e.normalize,
                          level_weights=tuple(e.level_weights) or None, max_descriptors=e.max_descriptors,
                          kmeans_iter=e.kmeans_iter, random_state=seed)
    if e.kind == "vlad":
        return VLADEncoder(n_words=e.n_words, layout=e.layout, max_descriptors=e.max_descriptors,
                           kmeans_iter=e.kmeans_iter, random_state=seed)
    if e.kind == "llc":
        return LLCEncoder(n_words=e.n_words, layout=e.layout, n_neighbors=e.n_neighbors, beta=e.beta,
                          normalize=e.cell_normalize, max_descriptors=e.max_descriptors, kmeans_iter=e.kmeans_iter,
                          random_state=seed)
    if e.kind == "super_vector":
        return SuperVectorEncoder(n_words=e.n_words, layout=e.layout, s=e.sv_s or None, assignment=e.sv_assignment,
                                  n_neighbors=e.n_neighbors, normalize=e.cell_normalize,
                                  max_descriptors=e.max_descriptors, kmeans_iter=e.kmeans_iter, random_state=seed)
    return FisherVectorEncoder(n_components=e.n_components, layout=e.layout, max_descriptors=e.max_descriptors,
                               em_iter=e.em_iter, verbose=True, random_state=seed)


def pca_of(cfg: ExperimentConfig, seed: int) -> DescriptorPCA | None:
    f = cfg.features
    if not f.pca_components:
        return None
    return DescriptorPCA(n_components=f.pca_components, whiten=f.pca_whiten, max_samples=cfg.encoding.max_descriptors,
                         random_state=seed)


def feature_map_of(kind: str):
    """The explicit feature map of ``classifier.feature_map`` (stateless), or None."""
    if kind == "chi2":
        from sklearn.kernel_approximation import AdditiveChi2Sampler

        return AdditiveChi2Sampler(sample_steps=2)
    if kind == "hellinger":
        return HellingerMap()
    return None


def _mapped(fmap, x: np.ndarray) -> np.ndarray:
    return x if fmap is None else fmap.fit_transform(x).astype(np.float32)


def _encode_job(pipeline: ImagePipeline, path) -> dict:
    return {"code": pipeline.encode(path)}


# --------------------------------------------------------------------------- signatures and classifiers
def _in_memory(cfg, pipeline, split, digests, cache, progress):
    """Signatures through the content cache, all in memory; a LinearSVMClassifier."""
    train, test = split.train, split.test
    images = train + test
    namespace = f"codes/{pipeline.fingerprint()}-{code_version(*FEATURE_CODE)}"
    codes, failed = cached_map(_encode_job, [(pipeline, s.path) for s in images], digests, cache, namespace,
                               execution_of(cfg), f"signatures (seed {split.seed})", progress)
    keep_train = [i for i in range(len(train)) if codes[i] is not None]
    keep_test = [i for i in range(len(test)) if codes[len(train) + i] is not None]
    if not keep_train:
        raise InputError("no training image could be encoded")
    y_train = np.array([train[i].label for i in keep_train])
    key = _classifier_key(cfg, pipeline, split.seed, [digests[i] for i in keep_train], y_train,
                          [digests[len(train) + i] for i in keep_test])
    found = cache.get(CLASSIFIER_NAMESPACE, key)
    if found is not None:
        log.info("linear SVMs of split %d: trained before (cache), reused", split.seed)
        info = json.loads(str(found["info"]))
        info["validation_scores"] = {float(c): v for c, v in info["validation_scores"]}
        coef, intercept = (found["coef"], found["intercept"]) if "coef" in found else (None, None)
        return (_top(found["scores"], found["classes"]), keep_train, keep_test, failed, info,
                (coef, intercept, found["classes"]))
    fmap = feature_map_of(cfg.classifier.feature_map)
    x_train = _mapped(fmap, _take_codes(codes, keep_train))
    c = cfg.classifier
    clf = LinearSVMClassifier(C=tuple(c.C), solver=c.solver, validation_fraction=c.validation_fraction,
                              random_state=split.seed)
    with phase(f"training one-vs-rest linear SVMs ({c.solver}, {len(np.unique(y_train))} classes, "
               f"{len(x_train)} images x {x_train.shape[1]} dimensions, C in {list(c.C)})"):
        clf.fit(x_train, y_train)
    for warning in getattr(clf, "warnings_", []):
        log.warning("linear SVM: %s", warning)
    dim = x_train.shape[1]
    if c.solver in KERNEL_SOLVERS and c.solver != "gram":          # a kernel machine: no weights to save
        coef = intercept = None
    else:
        coef, intercept = clf.linear_model()
        del x_train                                                # the weights are all the test needs
        vars(clf).pop("train_", None)
    x_test = _mapped(fmap, _take_codes(codes, [len(train) + i for i in keep_test])) if keep_test else \
        np.zeros((0, dim), np.float32)
    if coef is None:
        scores = clf.decision_function(x_test) if len(x_test) else np.zeros((0, len(clf.classes_)))
    else:
        scores = linear_scores(x_test, coef, intercept)
    info = {"kind": "linear SVM, one-vs-rest", "solver": c.solver, "C_candidates": list(c.C), "C": clf.C_,
            "validation_scores": clf.validation_scores_, "feature_map": c.feature_map,
            "classes": int(len(clf.classes_))}
    weights = {} if coef is None else {"coef": coef, "intercept": intercept}
    stored_info = {**info, "validation_scores": [[float(k), float(v)] for k, v in info["validation_scores"].items()]}
    cache.put(CLASSIFIER_NAMESPACE, key, scores=scores, classes=np.asarray(clf.classes_),
              info=np.array(json.dumps(stored_info, default=float)), **weights)
    return _top(scores, clf.classes_), keep_train, keep_test, failed, info, (coef, intercept, clf.classes_)


def _take_codes(codes: list, rows) -> np.ndarray:
    """The signatures ``codes[rows]`` as one (n, D) array, the list letting go of each as it is
    copied: a signature is held once, plus one (6,000 Fisher vectors of 327,680 dimensions
    are 8 GB)."""
    out = None
    for k, i in enumerate(rows):
        code = codes[i]["code"]
        if out is None:
            out = np.empty((len(rows),) + code.shape, code.dtype)
        out[k] = code
        codes[i] = {}
    return out


CLASSIFIER_NAMESPACE = "classifiers"
"""Content-cache namespace of trained classifiers and their test scores (:func:`_classifier_key`)."""


def _classifier_key(cfg, pipeline, seed: int, train_digests, train_labels, test_digests) -> str:
    """What decides a split's classifier and its test scores: the fitted pipeline (its
    signatures), the ``[classifier]`` settings, the seed (the validation part), the training
    images in order with their labels, the test images in order, the code of the signatures
    and of the SVMs, and the library versions.  A resumed run reuses a split it finished
    (the SVMs of 6,000 signatures of 100,000 dimensions take tens of minutes)."""
    payload = json.dumps([pipeline.fingerprint(), code_version(*FEATURE_CODE, "baselines.classification"),
                          cfg.section_hash("classifier"), seed, list(train_digests),
                          np.asarray(train_labels).tolist(), list(test_digests), library_versions()])
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def _top(scores: np.ndarray, classes: np.ndarray, k: int = 5) -> np.ndarray:
    order = np.argsort(-scores, axis=1, kind="stable")[:, :min(k, scores.shape[1])]
    return np.asarray(classes)[order]


def _product_quantiser(cfg, pipeline, split):
    """The PQ codec of ``run.store = "pq"``, learned from a seeded sample of about 1,024
    training signatures (unreadable images skipped, as in any run)."""
    from ..scale.parallel import PER_IMAGE_ERRORS
    from ..scale.store import PQCodec

    sample = split.train[:: max(1, len(split.train) // 1024)]
    vectors = []
    with phase(f"product quantiser from {len(sample)} training signatures"):
        for s in sample:
            try:
                vectors.append(pipeline.encode(s.path))
            except PER_IMAGE_ERRORS as exc:
                log.warning("skipped: %s", exc)
        try:
            return PQCodec(sub_dim=cfg.run.pq_sub_dim, seed=split.seed).fit(np.stack(vectors))
        except ValueError as exc:
            raise InputError(str(exc), field="run.pq_sub_dim") from None


def _store_of(cfg, pipeline, split, role: str, keys, codec):
    """The feature store of one role (``"train"`` / ``"test"``) of a split: named by the settings,
    the code, the seed and the image set."""
    from ..scale.store import FeatureStore

    r = cfg.run
    config = {"pipeline": pipeline.fingerprint(), "code": code_version(*FEATURE_CODE), "seed": split.seed,
              "store": r.store, "pq_sub_dim": r.pq_sub_dim if r.store == "pq" else None, "role": role,
              "images": file_digest_of_keys(sorted(set(keys)))}
    return FeatureStore(r.store_dir, config, dtype="float16" if r.store == "float16" else "float32", codec=codec,
                        shard_size=r.shard_size, seed=split.seed)


def _held_out(shards, counts, classes, wanted: int):
    """Hold out the first rows of the first shard (a random sample of the images, by the
    store's construction) to report the error after every epoch: at most ``wanted`` and at
    most 5% of the training images; the loaders of the rest and the class counts trained on."""
    total = int(counts.sum())
    n_val = min(wanted, total // 20)
    if not n_val or len(shards) < 2:
        return shards, counts, None
    rows, y = shards[0]()
    n_val = min(n_val, len(y) // 2)
    validation = (rows[:n_val], y[:n_val])
    first = shards[0]
    shards = [lambda: tuple(a[n_val:] for a in first())] + shards[1:]
    counts = counts - np.array([np.count_nonzero(validation[1] == k) for k in classes])
    return shards, counts, validation


def _streamed(cfg, pipeline, split, digests, progress):
    """Signatures streamed into two feature stores (training and test images); streaming SGD
    over the training store's shards; predictions shard by shard.  Memory: a few shards."""
    from baselines.streaming import StreamingSGDClassifier

    from ..scale.extract import encode_into_store, signature_job

    r, c = cfg.run, cfg.classifier
    codec = _product_quantiser(cfg, pipeline, split) if r.store == "pq" else None
    keys = {"train": digests[:len(split.train)], "test": digests[len(split.train):]}
    samples = {"train": split.train, "test": split.test}
    stores = {}
    try:
        for role in ("train", "test"):
            stores[role] = _store_of(cfg, pipeline, split, role, keys[role], codec)
            encode_into_store(stores[role], samples[role], signature_job, lambda s: (pipeline, s.path),
                              execution_of(cfg), keys=keys[role], progress=progress,
                              desc=f"{role} signatures (seed {split.seed})")
        train_store = stores["train"]
        labels = np.concatenate([train_store.read_labels(sh) for sh in train_store.shards]) if train_store.shards \
            else np.zeros(0, np.int64)
        classes, counts = np.unique(labels, return_counts=True)
        if len(classes) < 2:
            raise InputError(f"the training store holds {len(classes)} class(es); at least 2 are needed")
        fmap = feature_map_of(c.feature_map)                  # stateless maps, applied shard by shard
        shards = [(lambda load=load: (lambda rows, y: (_mapped(fmap, rows), y))(*load()))
                  for load in train_store.shard_loaders()]
        shards, counts, validation = _held_out(shards, counts, classes, c.validation_images)
        clf = StreamingSGDClassifier(alpha=c.alpha, epochs=c.epochs, batch_size=c.batch_size, verbose=True,
                                     random_state=split.seed)
        with phase(f"streaming SGD ({len(classes)} classes, {int(counts.sum())} images in {len(shards)} shards, "
                   f"{c.epochs} epochs)"):
            clf.fit_shards(shards, classes, class_counts=np.maximum(counts, 1), validation=validation,
                           checkpoint=_sgd_checkpoint(cfg, train_store))
        k = min(5, len(classes))
        top5 = np.zeros((len(split.test), k), np.int64)
        found = np.zeros(len(split.test), bool)
        positions: dict = {}
        for i, key in enumerate(keys["test"]):
            positions.setdefault(key, []).append(i)           # identical files share one stored row
        for stored_keys, _, rows in stores["test"].iter_shards():
            pred = clf.classes_[clf.top_k(_mapped(fmap, rows), k)]
            for key, p in zip(stored_keys.tolist(), pred):
                for i in positions.get(key, ()):
                    top5[i], found[i] = p, True
        trained = train_store.done_keys()
        held = set() if validation is None else set(train_store.read_shard(sorted(
            train_store.shards, key=lambda sh: sh.name)[0])[0][:len(validation[1])].tolist())

        def reason(role, key, path):
            known = stores[role].failures.get(key)
            return known["error"] if known else f"{path}: no stored signature"

        keep_train = [i for i, key in enumerate(keys["train"]) if key in trained and key not in held]
        failed = [(len(split.train) + i, reason("test", keys["test"][i], split.test[i].path))
                  for i in np.flatnonzero(~found)]
        failed += [(i, reason("train", key, split.train[i].path)) for i, key in enumerate(keys["train"])
                   if key not in trained]
        info = {"kind": "linear SVM, one-vs-rest, streaming SGD", "alpha": c.alpha, "epochs": c.epochs,
                "batch_size": c.batch_size, "positive_weight": "balanced (per class: negatives / positives)",
                "feature_map": c.feature_map, "classes": int(len(classes)), "store": r.store,
                "shards": len(shards), "history": clf.history_,
                "validation_images": 0 if validation is None else int(len(validation[1]))}
        return (top5[found], keep_train, np.flatnonzero(found).tolist(), failed, info,
                (clf.coef_, clf.intercept_, clf.classes_))
    finally:
        for store in stores.values():
            store.close()


def _sgd_checkpoint(cfg, train_store) -> Path:
    """Where the streaming SGD of a split saves its state after every epoch: named by the
    training store (the images, the pipeline, the signature code and the seed) and its
    shards (whose names follow their contents), the ``[classifier]`` settings, the SGD's
    code and the library versions, so that an interrupted run resumes at its last finished
    epoch and a finished split is not trained again.  Stale files can be deleted."""
    key = hashlib.sha256(json.dumps([train_store.dir.name, sorted(sh.name for sh in train_store.shards),
                                     cfg.section_hash("classifier"), code_version("baselines.streaming"),
                                     library_versions()]).encode()).hexdigest()[:32]
    return Path(cfg.run.cache) / "sgd" / f"{key}.npz"


def file_digest_of_keys(keys) -> str:
    """SHA-256 (16 hex digits) of a sorted list of content keys: names the image set of a store."""
    return hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- models on disk
def save_model(path: Path, cfg: ExperimentConfig, pipeline: ImagePipeline, coef, intercept, classes,
               class_names, label_ids) -> None:
    """A split's model: the fitted PCA and encoder state, the classifier's weights, the classes."""
    arrays = {"coef": np.asarray(coef, np.float64), "intercept": np.asarray(intercept, np.float64),
              "classes": np.asarray(classes), "class_names": np.array(class_names, dtype=str),
              "label_ids": np.asarray(label_ids, np.int64)}
    for prefix, model in (("pca", pipeline.pca), ("encoder", pipeline.encoder)):
        if model is None:
            continue
        for name, value in vars(model).items():
            if name.endswith("_") and not name.startswith("_") and isinstance(value, (np.ndarray, float, int)):
                arrays[f"{prefix}.{name}"] = np.asarray(value)
    np.savez(path, **arrays)


@dataclass
class TrainedClassifier:
    """A classification run's model, ready for new images (see :func:`load_classifier`)."""

    config: ExperimentConfig
    pipeline: ImagePipeline
    coef: np.ndarray
    intercept: np.ndarray
    class_names: tuple
    feature_map: object

    def scores(self, signature: np.ndarray) -> np.ndarray:
        """Class scores of one signature (n_classes,)."""
        return (_mapped(self.feature_map, signature[None].astype(np.float32)) @ self.coef.T + self.intercept)[0]


def load_classifier(run_dir, split: int | None = None) -> TrainedClassifier:
    """The model a classification run saved (``split_<seed>/model.npz``; the last split by default)."""
    run_dir = Path(run_dir)
    path = run_dir / "config.json"
    if not path.exists():
        raise InputError("no finished classification run here (config.json is missing); run one first "
                         "(make demo)", path=run_dir)
    cfg = config_from_dict(json.loads(path.read_text()), str(path))
    if cfg.task != "classification":
        raise InputError(f"a {cfg.task} run; expected a classification run", path=run_dir)
    dirs = sorted(run_dir.glob("split_*/model.npz"), key=lambda p: int(p.parent.name.split("_")[1]))
    if split is not None:
        dirs = [d for d in dirs if d.parent.name == f"split_{split}"]
    if not dirs:
        why = (" (runs with the intersection-kernel SVM save none: a kernel machine has no weight vector)"
               if cfg.classifier.solver == "intersection" else "")
        raise InputError(f"no saved model (split_*/model.npz) in this run{why}", path=run_dir)
    pipeline = pipeline_of(cfg)
    pipeline.pca, pipeline.encoder = pca_of(cfg, 0), encoder_of(cfg, 0)
    with np.load(dirs[-1]) as z:
        for key in z.files:
            prefix, _, name = key.partition(".")
            if prefix in ("pca", "encoder") and getattr(pipeline, prefix) is not None:
                value = z[key]
                setattr(getattr(pipeline, prefix), name, value.item() if value.ndim == 0 else value)
        model = TrainedClassifier(cfg, pipeline, z["coef"], z["intercept"], tuple(z["class_names"].tolist()),
                                  feature_map_of(cfg.classifier.feature_map))
    return model


# --------------------------------------------------------------------------- one split
def run_split(cfg: ExperimentConfig, data, split: Split, cache: ContentCache, out_dir: Path,
              progress: bool = True) -> SplitResult:
    start = time.perf_counter()
    pipeline = pipeline_of(cfg)
    train, test = split.train, split.test
    n_classes = len(data.classes)
    digests = image_digests([s.path for s in train + test], cfg.run.cache, progress=progress)

    # 1. descriptor samples of the training images: PCA and vocabulary
    samples, failed_samples = descriptor_samples(cfg, pipeline, train, digests[:len(train)], cache,
                                                 f"descriptor samples (seed {split.seed})", progress, seed=split.seed)
    feats = [LocalFeatures(r["frames"], r["descriptors"], tuple(r["size"])) for r in samples if r is not None]
    if not feats:
        raise InputError("no training image could be read")
    pipeline.pca = pca_of(cfg, split.seed)
    if pipeline.pca is not None:
        with phase(f"PCA to {cfg.features.pca_components} dimensions"):
            pipeline.pca.fit(feats)
    feats = [pipeline.finish(f) for f in feats]
    pipeline.encoder = encoder_of(cfg, split.seed)
    what = "GMM" if cfg.encoding.kind == "fisher" else "k-means vocabulary"
    with phase(f"{what} from {sum(len(f) for f in feats):,} descriptors"):
        pipeline.encoder.fit(feats)

    # 2. every image's signature, and 3. the classifier
    if cfg.run.store:
        top5, keep_train, keep_test, failed, info, model = _streamed(cfg, pipeline, split, digests, progress)
    else:
        top5, keep_train, keep_test, failed, info, model = _in_memory(cfg, pipeline, split, digests, cache,
                                                                      progress)
    images = train + test
    first_error: dict = {}
    for i, msg in [(i, m) for i, m in failed_samples] + [(i, m) for i, m in failed if i < len(images)]:
        first_error.setdefault(str(images[i].path), msg)        # an image is listed once, by its first error
    failed_paths = [first_error[p] for p in sorted(first_error)]

    # 4. scores: the ILSVRC evaluator on the CLS submission, and the Caltech mean per-class accuracy
    from ilsvrc.ground_truth import read_class_labels
    from ilsvrc.metrics.classification import flat_errors, mean_per_class_accuracy
    from ilsvrc.submissions import read_cls_submission, write_cls_submission

    sub_dir = out_dir / f"split_{split.seed}"
    sub_dir.mkdir(parents=True, exist_ok=True)
    truth_ids = data.ground_truth_ids(split)
    # every test image has a line; one that failed gets no guesses and counts as an error
    guesses = np.zeros((len(test), top5.shape[1] if len(top5) else 5), np.int64)
    guesses[keep_test] = data.label_ids[top5]
    write_cls_submission(sub_dir / "submission.txt", guesses)
    (sub_dir / "ground_truth.txt").write_text("".join(f"{g}\n" for g in truth_ids))
    # scored as the evaluator scores it, from the files (in the data set's id space: devkit ids for ILSVRC)
    truth_read = read_class_labels(sub_dir / "ground_truth.txt", data.n_label_ids)
    top_k_error = flat_errors(read_cls_submission(sub_dir / "submission.txt", len(truth_read), data.n_label_ids),
                              truth_read).mean(axis=0)
    y_test = np.array([s.label for s in test])
    top1 = np.full(len(test), -1)
    top1[keep_test] = top5[:, 0]
    known = y_test >= 0
    accuracy = mean_per_class_accuracy(top1[known], y_test[known], n_classes)
    confusion = np.zeros((n_classes, n_classes), np.int64)
    ok = known & (top1 >= 0)
    np.add.at(confusion, (y_test[ok], top1[ok]), 1)
    per_class = np.diag(confusion) / np.maximum(confusion.sum(axis=1), 1)
    if model[0] is not None:
        save_model(sub_dir / "model.npz", cfg, pipeline, *model[:2], model[2], data.classes, data.label_ids)
    return SplitResult(split.seed, accuracy, [float(e) for e in top_k_error], len(keep_train), len(test),
                       info.get("C"), time.perf_counter() - start, info, failed_paths,
                       confusion, per_class, str(sub_dir / "submission.txt"))


# --------------------------------------------------------------------------- whole experiment
def run_classification_experiment(cfg: ExperimentConfig, data_dir=None, *, output=None,
                                  progress: bool = True) -> dict:
    """Run every split (and sweep value) of ``cfg``; write ``runs/<name>/``; return the summary."""
    for key, value in WORKER_MALLOC.items():
        os.environ.setdefault(key, value)
    root = data_root(cfg, data_dir)
    out_dir = Path(output or cfg.run.output) / cfg.name
    with output_lock(out_dir):
        cache = ContentCache(cfg.run.cache)
        data = open_classification_data(cfg, root, class_subset(cfg, root), Path(cfg.run.cache))
        started = time.perf_counter()
        variants = [(None, cfg)] if not cfg.sweep.key else [(v, with_value(cfg, cfg.sweep.key, v))
                                                            for v in swept_values(cfg.sweep)]
        summary = {"name": cfg.name, "description": cfg.description, "published": cfg.to_dict()["published"],
                   "data": {"layout": data.kind, "root": str(root), "classes": list(data.classes)},
                   "n_classes": len(data.classes), "variants": []}
        if data.kind == "ilsvrc":
            summary["data"]["absent_classes"] = len(data.dataset.absent)
        for value, variant in variants:
            results = []
            for seed in variant.data.seeds:
                split = data.split(variant, int(seed))
                sub = out_dir if value is None else out_dir / sweep_label(cfg.sweep.key, value)
                results.append(run_split(variant, data, split, cache, sub, progress))
                if value is not None:        # each variant's folder is a run of its own (explain --run ...)
                    (sub / "config.json").write_text(json.dumps({**variant.to_dict(), "sweep": {}}, indent=1,
                                                                default=list) + "\n")
            acc = np.array([r.accuracy for r in results])
            errors = np.array([r.top_k_error for r in results])
            summary["variants"].append({
                "sweep_value": value, "label": None if value is None else sweep_label(cfg.sweep.key, value),
                "published": variant.published.value, "accuracy_mean": float(acc.mean()), "accuracy_std": float(acc.std()),
                "top_k_error_mean": errors.mean(axis=0).tolist(), "top_k_error_std": errors.std(axis=0).tolist(),
                "splits": [{"seed": r.seed, "accuracy": r.accuracy, "top_k_error": r.top_k_error, "C": r.C,
                            "n_train": r.n_train, "n_test": r.n_test, "seconds": round(r.seconds, 1),
                            "classifier": r.classifier, "submission": r.submission,
                            "failed_images": r.failed} for r in results],
                "_results": results})
        summary["seconds"] = round(time.perf_counter() - started, 1)
        summary["versions"] = library_versions()
        from ..reports.classification import write_report

        write_report(cfg, data, summary, out_dir)
        for v in summary["variants"]:
            v.pop("_results")
        (out_dir / "metrics.json").write_text(json.dumps(summary, indent=1) + "\n")
        (out_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1, default=list) + "\n")
    return summary
