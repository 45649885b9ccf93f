"""Experiment configurations: frozen dataclasses loaded strictly from TOML.

Every setting is declared once, here, with :func:`option`: its default, its allowed
values or range, and (for lists) the type of its items.  Where a setting configures an
estimator, its default and allowed values are read from that estimator (its signature
and its declared constants), so the documentation, the checks and the code cannot drift.

:func:`load_config` checks every value before any work starts: an unknown section or
key, a value of the wrong type (list items included), a value outside its range or not
among its choices is an :class:`~ilsvrc.errors.InputError` naming the file and the key.
``--set section.key=value`` overrides (the value in TOML syntax) are checked the same way.
"""
from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import math
import os
import sys
from dataclasses import dataclass, field

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from baselines.classification import SOLVERS, LinearSVMClassifier
from baselines.detection import RegionDetector
from baselines.proposals import BACKENDS, ProposalConfig
from baselines.selective_search import MODES
from baselines.streaming import StreamingSGDClassifier
from features.dsift import PHOW_COLORS
from features.encoding import (
    CELL_NORMALIZATIONS,
    SV_ASSIGNMENTS,
    BagOfWords,
    FisherVectorEncoder,
    LLCEncoder,
    SuperVectorEncoder,
)
from features.encoding.histograms import BOW_NORMALIZATIONS
from features.encoding.pyramid import parse_layout
from features.local import PHOW, DenseSIFT, DescriptorPCA
from ilsvrc.errors import InputError

from .scale.parallel import BACKENDS as EXECUTION_BACKENDS
from .scale.parallel import Execution
from .scale.store import STORE_KINDS


def default_of(target, name: str):
    """The default of keyword ``name`` in the signature of ``target`` (a class or function)."""
    return inspect.signature(target).parameters[name].default


def option(default, *, choices=None, minimum=None, maximum=None, exclusive_minimum=False, item=None,
            min_items: int = 0):
    """A configuration field: ``default`` and what a value must satisfy.

    ``choices``: allowed values (for a list: of each item); ``minimum`` / ``maximum``: bounds
    of a number (of each item of a list), ``exclusive_minimum`` for a strict lower bound;
    ``item``: the type of each item of a list; ``min_items``: shortest list.
    """
    return field(default=default, metadata={"choices": tuple(choices) if choices is not None else None,
                                            "minimum": minimum, "maximum": maximum,
                                            "exclusive_minimum": exclusive_minimum, "item": item,
                                            "min_items": min_items})


def _miner(name: str):
    return default_of(RegionDetector, name)


TASKS = ("classification", "detection")
DATA_LAYOUTS = ("folders", "ilsvrc", "boxes")
FEATURE_KINDS = ("phow", "dsift", "spm_sift")
ENCODING_KINDS = ("bow", "vlad", "fisher", "llc", "super_vector")
FEATURE_MAPS = ("none", "chi2", "hellinger")
BOW_ASSIGNMENTS = ("hard", "soft")


@dataclass(frozen=True)
class Published:
    """The published number a configuration reproduces, where it was published, and how our
    setting differs from the paper's (one item per deviation, with its reason)."""

    value: float = option(0.0, minimum=0.0)
    metric: str = option("mean_per_class_accuracy",
                          choices=("mean_per_class_accuracy", "top5_accuracy", "top5_error", "mean_ap"))
    spread: float = option(0.0, minimum=0.0)
    source: str = ""
    setting: str = ""
    loc_error: float = option(0.0, minimum=0.0)   # detection configs: the published CLS-LOC top-5 error
    loc_source: str = ""
    deviations: tuple = option((), item=str)


@dataclass(frozen=True)
class DataConfig:
    layout: str = option("folders", choices=DATA_LAYOUTS)
    path: str = ""                     # default for --data; relative paths are relative to the config
    classes: tuple = option((), item=str)    # only these classes (folder names / WNIDs); empty: all
    classes_file: str = ""             # a file of class names / WNIDs, one per line (relative to the data folder)
    n_train: int = option(15, minimum=1)
    n_test: int = option(15, minimum=0)      # per class; 0 means all remaining images
    seeds: tuple = option((0,), item=int, minimum=0, min_items=1)  # one split per seed; results are averaged
    max_side: int = option(480, minimum=0)   # shrink images to this longest side (0: keep)
    devkit: str = ""                   # ILSVRC: devkit folder or .tar.gz (default: found in the data folder)
    ground_truth: str = ""             # ILSVRC: validation ground truth (default: the devkit's)
    meta: str = ""                     # ILSVRC: devkit meta.mat (default: the devkit's)
    train_boxes: str = ""              # ILSVRC detection: training boxes (default: ILSVRC2012_bbox_train_v2)
    val_boxes: str = ""                # ILSVRC detection: validation boxes (default: ILSVRC2012_bbox_val_v3)
    train_per_class: int = option(0, minimum=0)   # ILSVRC: seeded subset of training images per class (0: all)
    val_images: int = option(0, minimum=0)        # ILSVRC: first N validation images in file order (0: all)


@dataclass(frozen=True)
class FeatureConfig:
    kind: str = option("phow", choices=FEATURE_KINDS)
    step: int = option(default_of(PHOW, "step"), minimum=1)
    sizes: tuple = option(default_of(PHOW, "sizes"), item=int, minimum=1, min_items=1)   # PHOW bin sizes
    bin_size: int = option(default_of(DenseSIFT, "bin_size"), minimum=1)                 # dense SIFT bin size
    color: str = option(default_of(PHOW, "color"), choices=PHOW_COLORS)
    fast: bool = default_of(PHOW, "fast")                 # flat window
    window_size: float = option(default_of(PHOW, "window_size"), minimum=0.0, exclusive_minimum=True)
    magnif: float = option(default_of(PHOW, "magnif"), minimum=0.0)  # pre-smoothing sigma = bin / magnif (dsift: 0 = none)
    contrast_threshold: float = option(default_of(PHOW, "contrast_threshold"), minimum=0.0)
    root_sift: bool = False
    pca_components: int = option(0, minimum=0)           # 0: no PCA
    pca_whiten: bool = default_of(DescriptorPCA, "whiten")
    spatial: bool = False              # append (x, y) to each descriptor
    samples_per_image: int = option(2000, minimum=1)     # descriptors per training image for the vocabulary / PCA


@dataclass(frozen=True)
class EncodingConfig:
    kind: str = option("bow", choices=ENCODING_KINDS)
    layout: str = default_of(BagOfWords, "layout")      # spatial pyramid, e.g. "1x1+2x2+4x4"
    n_words: int = option(default_of(BagOfWords, "n_words"), minimum=1)        # bow / vlad vocabulary size
    assignment: str = option(default_of(BagOfWords, "assignment"), choices=BOW_ASSIGNMENTS)
    normalize: str = option(default_of(BagOfWords, "normalize"), choices=BOW_NORMALIZATIONS)
    level_weights: tuple = option((), item=float, minimum=0.0)                  # bow: per-layout weights
    n_components: int = option(default_of(FisherVectorEncoder, "n_components"), minimum=1)  # fisher: GMM size
    em_iter: int = option(default_of(FisherVectorEncoder, "em_iter"), minimum=1)
    kmeans_iter: int = option(default_of(BagOfWords, "kmeans_iter"), minimum=1)
    max_descriptors: int = option(default_of(BagOfWords, "max_descriptors"), minimum=1)
    n_neighbors: int = option(default_of(LLCEncoder, "n_neighbors"), minimum=1)    # llc: k; soft assignments
    beta: float = option(default_of(LLCEncoder, "beta"), minimum=0.0)              # llc: conditioning
    cell_normalize: str = option(default_of(LLCEncoder, "normalize"), choices=CELL_NORMALIZATIONS)  # llc / sv
    sv_s: float = option(0.0, minimum=0.0)           # super_vector: the constant s (0: learned from the data)
    sv_assignment: str = option(default_of(SuperVectorEncoder, "assignment"), choices=SV_ASSIGNMENTS)


@dataclass(frozen=True)
class ClassifierConfig:
    feature_map: str = option("none", choices=FEATURE_MAPS)
    C: tuple = option((default_of(LinearSVMClassifier, "C"),), item=float, minimum=0.0, exclusive_minimum=True,
                       min_items=1)     # several values: chosen on a validation split
    solver: str = option(default_of(LinearSVMClassifier, "solver"), choices=SOLVERS)
    validation_fraction: float = option(default_of(LinearSVMClassifier, "validation_fraction"), minimum=0.0,
                                         maximum=0.9, exclusive_minimum=True)
    alpha: float = option(default_of(StreamingSGDClassifier, "alpha"), minimum=0.0, exclusive_minimum=True)
    epochs: int = option(default_of(StreamingSGDClassifier, "epochs"), minimum=1)       # run.store: SGD passes
    batch_size: int = option(default_of(StreamingSGDClassifier, "batch_size"), minimum=1)
    validation_images: int = option(1000, minimum=0)    # run.store: held out to report the error each epoch


@dataclass(frozen=True)
class DetectionConfig:
    proposals: str = option(default_of(ProposalConfig, "backend"), choices=BACKENDS)
    mode: str = option(default_of(ProposalConfig, "mode"), choices=tuple(MODES))
    seed: int = option(default_of(ProposalConfig, "seed"), minimum=0)    # proposal ranking seed
    min_side: int = option(default_of(ProposalConfig, "min_side"), minimum=0)
    train_proposals: int = option(500, minimum=1)       # best proposals per training image used for negatives
    test_proposals: int = option(2000, minimum=1)       # best proposals per test image scored
    layout: str = default_of(RegionDetector, "layout")   # spatial pyramid over each box
    C: float = option(default_of(RegionDetector, "C"), minimum=0.0, exclusive_minimum=True)
    positive_weight: float = option(default_of(RegionDetector, "positive_weight"), minimum=0.0,
                                     exclusive_minimum=True)
    initial_overlap: tuple = option(default_of(RegionDetector, "initial_overlap"), item=float, minimum=0.0,
                                     maximum=1.0, min_items=2)
    max_overlap: float = option(_miner("max_overlap"), minimum=0.0, maximum=1.0)
    hard_score: float = _miner("hard_score")
    easy_score: float = _miner("easy_score")
    retrain_every: int = option(_miner("retrain_every"), minimum=1)
    mining_rounds: int = option(_miner("rounds"), minimum=0)
    max_per_image: int = option(_miner("max_per_image"), minimum=0)
    nms_overlap: float = option(default_of(RegionDetector, "nms_overlap"), minimum=0.0, maximum=1.0)
    max_detections: int = option(default_of(RegionDetector, "max_detections"), minimum=1)


@dataclass(frozen=True)
class RunConfig:
    n_jobs: int = option(default_of(Execution, "n_jobs"), minimum=1)
    backend: str = option(default_of(Execution, "backend"), choices=EXECUTION_BACKENDS)
    scheduler: str = default_of(Execution, "scheduler")   # dask: "local" (a LocalCluster) or tcp://host:8786
    batch_size: int = option(4, minimum=1)              # images per parallel task
    store: str = option("", choices=("",) + STORE_KINDS)  # "": in-memory; else a feature store + streaming SGD
    store_dir: str = "store"
    shard_size: int = option(1024, minimum=1)           # images per store shard
    pq_sub_dim: int = option(8, minimum=1)              # store = "pq": dimensions per one-byte sub-quantiser
    cache: str = "cache"               # content- and config-keyed cache folder (relative to the working dir)
    output: str = "runs"


@dataclass(frozen=True)
class SweepConfig:
    """Run the configuration at several values of one setting (``key = "encoding.n_words"``,
    ``values = [200, 400]``), or as several variants (``key = "variant"``, ``values`` a list of
    tables ``{label = "...", <section> = {<key> = <value>, ...}, published = <number>}``).
    ``only`` (labels as the report names them: a variant's label, ``"encoding.n_words=400"``)
    runs some of the values, e.g. ``--set 'sweep.only=["SV"]'`` to run a long sweep piece by
    piece; empty runs them all.  A run's report and ``metrics.json`` hold the values it ran (give
    each piece its own ``--output``); a last run without ``only`` finds every piece in the cache
    and writes the whole report."""

    key: str = ""
    values: tuple = ()
    only: tuple = option((), item=str)


VARIANT = "variant"


def sweep_label(key: str, value) -> str:
    """How a sweep value is named in reports and folder names."""
    if key == VARIANT:
        return str(value.get("label", "")) if isinstance(value, dict) else str(value)
    return f"{key}={value}"


def swept_values(sweep: SweepConfig) -> list:
    """The values of ``sweep`` to run: all of them, or those whose label ``sweep.only`` lists (in the
    order of ``values``)."""
    return [v for v in sweep.values if not sweep.only or sweep_label(sweep.key, v) in sweep.only]


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


SECTIONS = {"published": Published, "data": DataConfig, "features": FeatureConfig, "encoding": EncodingConfig,
            "classifier": ClassifierConfig, "run": RunConfig, "sweep": SweepConfig, "detection": DetectionConfig}
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


_TYPES = {"int": int, "float": float, "bool": bool, "str": str, "tuple": tuple}


def _typed(value, expected: type, what: str, where: str, path: str):
    """``value`` as ``expected`` (an int is accepted for a float; a bool is never a number)."""
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, bool) and expected is not bool or not isinstance(value, expected):
        raise InputError(f"expected {what}, got {type(value).__name__} {value!r}", path=path, field=where)
    if expected is float and not math.isfinite(value):
        raise InputError(f"expected a finite number, got {value!r}", path=path, field=where)
    return value


def _check_bounds(value, meta: dict, where: str, path: str) -> None:
    if meta.get("choices") is not None and value not in meta["choices"]:
        raise InputError(f"expected one of {list(meta['choices'])}, got {value!r}", path=path, field=where)
    lo, hi = meta.get("minimum"), meta.get("maximum")
    if lo is not None and (value <= lo if meta.get("exclusive_minimum") else value < lo):
        bound = f"> {lo}" if meta.get("exclusive_minimum") else f">= {lo}"
        raise InputError(f"expected a value {bound}, got {value!r}", path=path, field=where)
    if hi is not None and value > hi:
        raise InputError(f"expected a value <= {hi}, got {value!r}", path=path, field=where)


def _coerce(value, f: dataclasses.Field, where: str, path: str):
    """Check ``value`` against field ``f`` (type, list items, range, choices); return it typed."""
    name = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    expected = _TYPES.get(name)
    meta = dict(f.metadata)
    if expected is tuple:
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        item_type = meta.get("item")
        if item_type is not None:
            items = [_typed(v, item_type, f"a list of {item_type.__name__}", f"{where}[{i}]", path)
                     for i, v in enumerate(items)]
            for i, v in enumerate(items):
                _check_bounds(v, meta, f"{where}[{i}]", path)
        if len(items) < meta.get("min_items", 0):
            raise InputError(f"expected at least {meta['min_items']} item(s), got {len(items)}", path=path,
                             field=where)
        return tuple(items)
    if expected is not None:
        value = _typed(value, expected, name, where, path)
    _check_bounds(value, meta, where, path)
    return value


def _build(cls, table: dict, section: str, path: str):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise InputError(f"unknown key(s) {unknown}; known: {sorted(fields)}", path=path, field=section)
    values = {k: _coerce(v, fields[k], f"{section}.{k}", path) for k, v in table.items()}
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
        target = raw.setdefault(section, {})
        if not isinstance(target, dict):
            raise InputError(f"--set {key}: {section!r} is not a section", path=path, field=section)
        target[name] = value
    return config_from_dict(raw, path)


def config_from_dict(raw: dict, path: str = "") -> ExperimentConfig:
    """Build and validate a configuration from a dict of sections (a parsed TOML file, or a
    run's ``config.json``), as strictly as :func:`load_config`."""
    raw = dict(raw)
    raw.pop("extends", None)
    unknown = sorted(set(raw) - _TOP - set(SECTIONS))
    if unknown:
        raise InputError(f"unknown section(s) {unknown}; known: {sorted(_TOP | set(SECTIONS))}", path=path)
    if "name" not in raw or not isinstance(raw["name"], str) or not raw["name"]:
        raise InputError("expected a non-empty string 'name'", path=path, field="name")
    sections = {}
    for name, cls in SECTIONS.items():
        table = raw.get(name, {})
        if not isinstance(table, dict):
            raise InputError("expected a table", path=path, field=name)
        sections[name] = _build(cls, table, name, path)
    task = raw.get("task", "classification")
    if task not in TASKS:
        raise InputError(f"expected one of {list(TASKS)}, got {task!r}", path=path, field="task")
    cfg = ExperimentConfig(name=raw["name"], description=str(raw.get("description", "")), task=task,
                           source_path=path, **sections)
    _validate(cfg, path)
    return cfg


def _validate(cfg: ExperimentConfig, path: str, *, sweep: bool = True) -> None:
    """Checks that involve several settings (of every sweep value too, before any work)."""
    d = cfg.detection
    checks = [
        ((cfg.task == "detection") == (cfg.data.layout == "boxes") or cfg.data.layout == "ilsvrc", "data.layout",
         "'boxes' (a boxes.csv beside an images/ folder, or a PASCAL-VOC folder) exactly when task = 'detection', "
         "or 'ilsvrc' for either task"),
        (len(d.initial_overlap) == 2 and d.initial_overlap[0] < d.initial_overlap[1], "detection.initial_overlap",
         "[lo, hi] with lo < hi"),
        (cfg.encoding.kind == "bow" or cfg.classifier.feature_map == "none", "classifier.feature_map",
         "'none' for signed encodings (the chi2 and Hellinger maps need non-negative histograms)"),
        (not cfg.encoding.level_weights or cfg.encoding.kind == "bow", "encoding.level_weights",
         "no level weights except for encoding.kind = 'bow'"),
        (cfg.run.store == "" or cfg.task == "classification", "run.store", "'' for detection runs"),
    ]
    for ok, key, expected in checks:
        if not ok:
            raise InputError(f"expected {expected}", path=path, field=key)
    for key, value in (("encoding.layout", cfg.encoding.layout), ("detection.layout", cfg.detection.layout)):
        try:
            layout = parse_layout(value)
        except ValueError as exc:
            raise InputError(str(exc), path=path, field=key) from None
        if key == "encoding.layout" and cfg.encoding.level_weights and len(cfg.encoding.level_weights) != len(layout):
            raise InputError(f"expected one weight per layout part of {value!r} ({len(layout)}), got "
                             f"{len(cfg.encoding.level_weights)}", path=path, field="encoding.level_weights")
    if cfg.sweep.only and not cfg.sweep.key:
        raise InputError(f"expected no labels without a sweep (sweep.key is empty), got {list(cfg.sweep.only)}",
                         path=path, field="sweep.only")
    if cfg.sweep.key:
        section, _, name = cfg.sweep.key.partition(".")
        if cfg.sweep.key != VARIANT and (section not in SECTIONS or name not in {f.name for f in
                                                                                 dataclasses.fields(SECTIONS[section])}):
            raise InputError(f"unknown key {cfg.sweep.key!r} (expected section.key, or 'variant')", path=path,
                             field="sweep.key")
        if not cfg.sweep.values:
            raise InputError("expected at least one value to sweep", path=path, field="sweep.values")
        labels = [sweep_label(cfg.sweep.key, v) for v in cfg.sweep.values]
        unknown = [x for x in cfg.sweep.only if x not in labels]
        if unknown:
            raise InputError(f"unknown label(s) {unknown} (expected some of {labels})", path=path, field="sweep.only")
        if sweep:
            for value in cfg.sweep.values:     # every value is checked now, not after the first ones ran
                _validate(with_value(cfg, cfg.sweep.key, value), path, sweep=False)


def with_value(cfg: ExperimentConfig, key: str, value) -> ExperimentConfig:
    """A copy of ``cfg`` with ``section.key`` set (used by sweeps), checked like a loaded value;
    ``key = "variant"``: ``value`` is a table of section tables (and a ``label``, and the
    variant's ``published`` number), each applied key by key."""
    if key == VARIANT:
        where = f"sweep variant {value.get('label', '?')!r}" if isinstance(value, dict) else "sweep variant"
        if not isinstance(value, dict) or not isinstance(value.get("label"), str):
            raise InputError("expected a table with a string 'label' and section tables", path=cfg.source_path,
                             field="sweep.values")
        changes = {}
        for section, table in value.items():
            if section == "label":
                continue
            if section == "published" and isinstance(table, (int, float)):
                table = {"value": table}
            if section not in SECTIONS or section == "sweep" or not isinstance(table, dict):
                raise InputError(f"{where}: expected section tables of {sorted(set(SECTIONS) - {'sweep'})}, got "
                                 f"{section!r}", path=cfg.source_path, field="sweep.values")
            merged = {**dataclasses.asdict(getattr(cfg, section)), **table}
            changes[section] = _build(SECTIONS[section], merged, f"{where}: {section}", cfg.source_path)
        return dataclasses.replace(cfg, **changes)
    section, name = key.split(".", 1)
    sub = getattr(cfg, section)
    fields = {f.name: f for f in dataclasses.fields(sub)}
    new = dataclasses.replace(sub, **{name: _coerce(value, fields[name], f"sweep {key}", cfg.source_path)})
    return dataclasses.replace(cfg, **{section: new})
