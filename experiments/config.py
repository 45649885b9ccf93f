"""Experiment configurations: frozen dataclasses loaded strictly from TOML.

An unknown section or key, or a value of the wrong type, is an error that names the file
and the key; ``--set section.key=value`` overrides (the value in TOML syntax) are checked
the same way.  Every number that changes results is a named field here.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
from dataclasses import dataclass, field

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from ilsvrc.errors import InputError


@dataclass(frozen=True)
class Published:
    """The published number a configuration reproduces."""

    value: float = 0.0
    metric: str = "mean_per_class_accuracy"
    spread: float = 0.0
    source: str = ""
    setting: str = ""
    loc_error: float = 0.0             # detection configs: the published CLS-LOC top-5 error beside the mAP
    loc_source: str = ""


@dataclass(frozen=True)
class DataConfig:
    layout: str = "folders"            # "folders" (Caltech style) or "ilsvrc"
    path: str = ""                     # default for --data; relative paths are relative to the config
    classes: tuple = ()                # restrict to these class folders (empty: all)
    n_train: int = 15
    n_test: int = 15                   # per class; 0 means all remaining images
    seeds: tuple = (0,)                # one split per seed; results are averaged
    max_side: int = 480                # shrink images to this longest side (0: keep)
    ground_truth: str = ""             # ILSVRC layout: validation ground truth
    meta: str = ""                     # ILSVRC layout: devkit meta file
    train_per_class: int = 0           # ILSVRC layout: subsample training images (0: all)


@dataclass(frozen=True)
class FeatureConfig:
    kind: str = "phow"                 # "phow" or "dsift"
    step: int = 3
    sizes: tuple = (4, 6, 8, 10)       # PHOW bin sizes
    bin_size: int = 8                  # dense SIFT bin size
    color: str = "gray"                # PHOW colour variant
    fast: bool = True                  # flat window
    window_size: float = 1.5
    magnif: float = 6.0                # pre-smoothing sigma = bin size / magnif (dsift: 0 = none)
    contrast_threshold: float = 0.005
    root_sift: bool = False
    pca_components: int = 0            # 0: no PCA
    pca_whiten: bool = False
    spatial: bool = False              # append (x, y) to each descriptor
    samples_per_image: int = 2000      # descriptors kept per training image to learn the vocabulary/PCA


@dataclass(frozen=True)
class EncodingConfig:
    kind: str = "bow"                  # "bow", "vlad" or "fisher"
    layout: str = "1x1"                # spatial pyramid, e.g. "1x1+2x2+4x4"
    n_words: int = 600                 # bow / vlad vocabulary size
    assignment: str = "hard"           # bow: "hard" or "soft"
    normalize: str = "l1"              # bow: "l1", "l1_per_cell" or "none"
    level_weights: tuple = ()          # bow: per-layout weights (empty: none)
    n_components: int = 256            # fisher: GMM size
    em_iter: int = 20
    kmeans_iter: int = 25
    max_descriptors: int = 100_000     # descriptors sampled to learn the vocabulary / GMM


@dataclass(frozen=True)
class ClassifierConfig:
    feature_map: str = "none"          # "none", "chi2" (additive chi2 map) or "hellinger"
    C: tuple = (10.0,)                 # several values: chosen on a validation split
    solver: str = "liblinear"          # linear kernel: "liblinear" or "sgd"
    validation_fraction: float = 0.25
    alpha: float = 1e-4                # run.store set: streaming SGD regularisation
    epochs: int = 10                   # run.store set: passes over the training store


@dataclass(frozen=True)
class DetectionConfig:
    proposals: str = "selective_search"  # backend: "selective_search", "opencv" or "selectivesearch"
    mode: str = "fast"                 # "single", "paper_fast", "fast" or "quality"
    seed: int = 0                      # proposal ranking seed
    min_side: int = 0                  # drop proposals narrower or shorter than this (pixels)
    train_proposals: int = 500         # best proposals per training image used for negatives
    test_proposals: int = 2000         # best proposals per test image scored
    layout: str = "1x1+2x2"            # spatial pyramid over each box
    C: float = 1.0
    positive_weight: float = 1.0
    initial_overlap: tuple = (0.2, 0.5)  # initial negatives: best overlap with a positive in [lo, hi)
    max_overlap: float = 0.3           # mining: never a negative at or above this overlap
    hard_score: float = -1.0001        # mining: hard when scoring above
    easy_score: float = -1.2           # mining: evicted when scoring below after a retraining
    retrain_every: int = 2000
    mining_rounds: int = 1
    max_per_image: int = 0             # mining: hard negatives per image and round (0: all)
    nms_overlap: float = 0.3
    max_detections: int = 100          # per class and image


@dataclass(frozen=True)
class RunConfig:
    n_jobs: int = 2
    backend: str = "local"             # "local" (joblib processes) or "dask"
    scheduler: str = "local"           # dask: "local" (a LocalCluster of n_jobs workers) or tcp://host:8786
    batch_size: int = 4                # images per parallel task
    store: str = ""                    # "" (cache, in memory) or "float32" / "float16" / "pq": feature store + streaming SGD
    store_dir: str = "store"
    shard_size: int = 1024             # images per store shard
    pq_sub_dim: int = 8                # store = "pq": dimensions per one-byte sub-quantiser
    cache: str = "cache"               # content- and config-keyed cache folder (relative to the working dir)
    output: str = "runs"


@dataclass(frozen=True)
class SweepConfig:
    key: str = ""                      # e.g. "encoding.n_words"
    values: tuple = ()


@dataclass(frozen=True)
class ExperimentConfig:
    name: str
    description: str = ""
    task: str = "classification"       # or "detection" (proposals, detector, localization)
    published: Published = field(default_factory=Published)
    data: DataConfig = field(default_factory=DataConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    encoding: EncodingConfig = field(default_factory=EncodingConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    run: RunConfig = field(default_factory=RunConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    source_path: str = ""

    def section_hash(self, *names) -> str:
        """Content hash of some sections (cache keys depend only on what changes results)."""
        payload = {n: dataclasses.asdict(getattr(self, n)) for n in names}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=list).encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out.pop("source_path")
        return out


_SECTIONS = {"published": Published, "data": DataConfig, "features": FeatureConfig, "encoding": EncodingConfig,
             "classifier": ClassifierConfig, "run": RunConfig, "sweep": SweepConfig,
             "detection": DetectionConfig}
_TOP = {"name", "description", "task", "extends"}


def _read_toml(path: str, seen=()) -> dict:
    """A TOML file as a dict; ``extends = "other.toml"`` (relative to the file) starts from that
    file's tables and lets this one override them key by key."""
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        raise InputError("configuration file not found", path=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML ({exc})", path=path) from None
    base_name = raw.pop("extends", None)
    if base_name is None:
        return raw
    if not isinstance(base_name, str):
        raise InputError("expected the name of a TOML file", path=path, field="extends")
    base_path = os.path.join(os.path.dirname(path), base_name)
    if os.path.abspath(base_path) in seen:
        raise InputError(f"circular 'extends' through {base_name}", path=path, field="extends")
    base = _read_toml(base_path, seen + (os.path.abspath(path),))
    for key, value in raw.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return base


def _coerce(value, annotation, where: str, path: str):
    """Check ``value`` against a field's declared type; tuples accept lists."""
    kind = annotation if isinstance(annotation, type) else None
    name = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    expected = {"int": int, "float": float, "bool": bool, "str": str, "tuple": tuple}.get(name, kind)
    if expected is tuple:
        items = value if isinstance(value, (list, tuple)) else [value]
        return tuple(items)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is int and isinstance(value, bool) or expected is not None and not isinstance(value, expected):
        raise InputError(f"expected {name}, got {type(value).__name__} {value!r}", path=path, field=where)
    return value


def _build(cls, table: dict, section: str, path: str):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise InputError(f"unknown key(s) {unknown}; known: {sorted(fields)}", path=path, field=section)
    values = {k: _coerce(v, fields[k].type, f"{section}.{k}", path) for k, v in table.items()}
    return cls(**values)


def load_config(path, overrides=()) -> ExperimentConfig:
    """Read a TOML experiment file, apply ``section.key=value`` overrides, validate strictly."""
    path = os.fspath(path)
    raw = _read_toml(path)
    for item in overrides:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise InputError(f"--set expects section.key=value, got {item!r}")
        key, text = item.split("=", 1)
        section, name = key.strip().split(".", 1)
        try:
            value = tomllib.loads(f"v = {text.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = text.strip()            # a bare word is a string
        raw.setdefault(section, {})[name] = value
    return config_from_dict(raw, path)


def config_from_dict(raw: dict, path: str = "") -> ExperimentConfig:
    """Build and validate a configuration from a dict of sections (a parsed TOML file, or a
    run's ``config.json``), as strictly as :func:`load_config`."""
    raw = dict(raw)
    raw.pop("extends", None)
    unknown = sorted(set(raw) - _TOP - set(_SECTIONS))
    if unknown:
        raise InputError(f"unknown section(s) {unknown}; known: {sorted(_TOP | set(_SECTIONS))}", path=path)
    if "name" not in raw or not isinstance(raw["name"], str):
        raise InputError("expected a string 'name'", path=path, field="name")
    sections = {}
    for name, cls in _SECTIONS.items():
        table = raw.get(name, {})
        if not isinstance(table, dict):
            raise InputError("expected a table", path=path, field=name)
        sections[name] = _build(cls, table, name, path)
    cfg = ExperimentConfig(name=raw["name"], description=str(raw.get("description", "")),
                           task=raw.get("task", "classification"), source_path=path, **sections)
    _validate(cfg, path)
    return cfg


def _validate(cfg: ExperimentConfig, path: str) -> None:
    checks = [
        (cfg.task in ("classification", "detection"), "task", "'classification' or 'detection'"),
        (cfg.run.backend in ("local", "dask"), "run.backend", "'local' or 'dask'"),
        (cfg.run.store in ("", "float32", "float16", "pq"), "run.store", "'', 'float32', 'float16' or 'pq'"),
        (cfg.run.n_jobs >= 1 and cfg.run.batch_size >= 1, "run.n_jobs", "n_jobs and batch_size >= 1"),
        (cfg.data.layout in ("folders", "ilsvrc", "boxes"), "data.layout", "'folders', 'ilsvrc' or 'boxes'"),
        ((cfg.task == "detection") == (cfg.data.layout == "boxes"), "data.layout",
         "'boxes' (a boxes.csv beside an images/ folder) exactly when task = 'detection'"),
        (cfg.detection.proposals in ("selective_search", "opencv", "selectivesearch"), "detection.proposals",
         "'selective_search', 'opencv' or 'selectivesearch'"),
        (cfg.detection.mode in ("single", "paper_fast", "fast", "quality"), "detection.mode",
         "'single', 'paper_fast', 'fast' or 'quality'"),
        (len(cfg.detection.initial_overlap) == 2 and cfg.detection.initial_overlap[0] < cfg.detection.initial_overlap[1],
         "detection.initial_overlap", "[lo, hi] with lo < hi"),
        (cfg.detection.C > 0 and cfg.detection.positive_weight > 0, "detection.C", "positive C and positive_weight"),
        (cfg.detection.train_proposals >= 1 and cfg.detection.test_proposals >= 1, "detection.train_proposals",
         "positive proposal budgets"),
        (cfg.features.kind in ("phow", "dsift"), "features.kind", "'phow' or 'dsift'"),
        (cfg.encoding.kind in ("bow", "vlad", "fisher"), "encoding.kind", "'bow', 'vlad' or 'fisher'"),
        (cfg.classifier.feature_map in ("none", "chi2", "hellinger"), "classifier.feature_map",
         "'none', 'chi2' or 'hellinger'"),
        (cfg.data.n_train >= 1, "data.n_train", "a positive integer"),
        (len(cfg.data.seeds) >= 1, "data.seeds", "at least one seed"),
        (all(c > 0 for c in cfg.classifier.C), "classifier.C", "positive values"),
    ]
    for ok, key, expected in checks:
        if not ok:
            raise InputError(f"expected {expected}", path=path, field=key)
    from features.encoding import parse_layout

    for key, value in (("encoding.layout", cfg.encoding.layout), ("detection.layout", cfg.detection.layout)):
        try:
            parse_layout(value)
        except ValueError as exc:
            raise InputError(str(exc), path=path, field=key) from None
    if cfg.sweep.key:
        section, _, name = cfg.sweep.key.partition(".")
        if section not in _SECTIONS or name not in {f.name for f in dataclasses.fields(_SECTIONS[section])}:
            raise InputError(f"unknown key {cfg.sweep.key!r}", path=path, field="sweep.key")


def with_value(cfg: ExperimentConfig, key: str, value) -> ExperimentConfig:
    """A copy of ``cfg`` with ``section.key`` set (used by sweeps)."""
    section, name = key.split(".", 1)
    sub = getattr(cfg, section)
    fields = {f.name: f for f in dataclasses.fields(sub)}
    new = dataclasses.replace(sub, **{name: _coerce(value, fields[name].type, key, cfg.source_path)})
    return dataclasses.replace(cfg, **{section: new})

