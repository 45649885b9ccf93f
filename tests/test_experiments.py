"""Configurations, data sets, the classifier and the runner end to end on real images."""
from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
from conftest import ROOT

from experiments.cli import main
from experiments.config import load_config, with_value
from experiments.datasets import ImageFolderDataset
from ilsvrc.errors import InputError

DEMO = ROOT / "data" / "caltech101_demo"


def _write(tmp_path, text, name="exp.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_every_shipped_config_loads():
    for path in sorted((ROOT / "experiments" / "configs").glob("*.toml")):
        cfg = load_config(path)
        assert cfg.name == path.stem
        if not cfg.name.startswith("demo"):
            pub = cfg.published
            assert (pub.value > 0 and pub.source) or (pub.loc_error > 0 and pub.loc_source), \
                f"{path.name} must state its published number"


def test_config_is_strict(tmp_path):
    ok = _write(tmp_path, 'name = "x"\n[encoding]\nn_words = 50\n')
    cfg = load_config(ok, ["encoding.layout=\"1x1+2x2\"", "classifier.C=[1, 10]", "data.seeds=[3]"])
    assert (cfg.encoding.n_words, cfg.encoding.layout, cfg.classifier.C, cfg.data.seeds) == (50, "1x1+2x2", (1.0, 10.0), (3,))
    assert with_value(cfg, "encoding.n_words", 7).encoding.n_words == 7
    cases = [('name = "x"\n[encoding]\nn_wrds = 5\n', "encoding: unknown key(s) ['n_wrds']"),
             ('name = "x"\n[encodings]\n', "unknown section(s) ['encodings']"),
             ('name = "x"\n[encoding]\nn_words = "many"\n', "encoding.n_words: expected int, got str 'many'"),
             ('name = "x"\n[encoding]\nkind = "sparse"\n', "encoding.kind: expected one of ['bow', 'vlad', 'fisher'"),
             ('name = "x"\n[encoding]\nn_words = -5\n', "encoding.n_words: expected a value >= 1, got -5"),
             ('name = "x"\n[encoding]\nmax_descriptors = -1\n', "encoding.max_descriptors: expected a value >= 1"),
             ('name = "x"\n[data]\nseeds = ["a"]\n', "data.seeds[0]: expected a list of int, got str 'a'"),
             ('name = "x"\n[data]\nseeds = []\n', "data.seeds: expected at least 1 item(s), got 0"),
             ('name = "x"\n[classifier]\nsolver = "newton"\n', "classifier.solver: expected one of ['liblinear'"),
             ('name = "x"\n[classifier]\nC = [1, 0]\n', "classifier.C[1]: expected a value > 0.0, got 0.0"),
             ('name = "x"\n[classifier]\nvalidation_fraction = 1.0\n', "expected a value <= 0.9, got 1.0"),
             ('name = "x"\n[data]\nseeds = [-1]\n', "data.seeds[0]: expected a value >= 0, got -1"),
             ('name = "x"\n[classifier]\nfeature_map = "chi2"\n[sweep]\nkey = "variant"\n'
              'values = [{label = "FV", encoding = {kind = "fisher"}}]\n',
              "classifier.feature_map: expected 'none' for signed encodings"),
             ('name = "x"\n[sweep]\nkey = "encoding.layout"\nvalues = ["1x1", "2y2"]\n',
              "encoding.layout: layout: expected parts like"),
             ('name = "x"\n[features]\nsizes = [4, 6.5]\n', "features.sizes[1]: expected a list of int, got float"),
             ('name = "x"\n[features]\nroot_sift = 1\n', "features.root_sift: expected bool, got int 1"),
             ('name = "x"\n[detection]\nproposals = "edgeboxes"\n', "detection.proposals: expected one of"),
             ('name = "x"\n[detection]\nnms_overlap = 2\n', "detection.nms_overlap: expected a value <= 1.0"),
             ('name = "x"\n[run]\nstore = "hdf5"\n', "run.store: expected one of ['', 'float32'"),
             ('name = "x"\n[encoding]\nkind = "fisher"\n[classifier]\nfeature_map = "chi2"\n',
              "classifier.feature_map: expected 'none' for signed encodings"),
             ('name = "x"\n[sweep]\nkey = "encoding.n_words"\nvalues = [10, -1]\n',
              "sweep encoding.n_words: expected a value >= 1, got -1"),
             ('name = "x"\n[encoding]\nlayout = "2y2"\n', "encoding.layout: layout: expected parts like"),
             ('name = "x"\n[sweep]\nkey = "encoding.n_words"\nvalues = [10, 20]\nonly = ["encoding.n_words=30"]\n',
              "sweep.only: unknown label(s) ['encoding.n_words=30'] (expected some of ['encoding.n_words=10', "
              "'encoding.n_words=20'])"),
             ('name = "x"\n[sweep]\nkey = "variant"\nvalues = [{label = "a"}]\nonly = [1]\n',
              "sweep.only[0]: expected a list of str, got int"),
             ('name = "x"\n[sweep]\nonly = ["a"]\n', "sweep.only: expected no labels without a sweep"),
             ("[data]\n", "name: expected a non-empty string 'name'"),
             ('name = "x"\n[data\n', "not valid TOML")]
    for text, message in cases:
        path = _write(tmp_path, text, "broken.toml")
        with pytest.raises(InputError, match=re.escape(message)):
            load_config(path)
    with pytest.raises(InputError, match="--set expects section.key=value"):
        load_config(ok, ["n_words=3"])
    with pytest.raises(InputError, match="encoding: unknown key"):
        load_config(ok, ["encoding.bogus=3"])


def test_caltech_style_dataset_and_splits(tmp_path):
    ds = ImageFolderDataset(DEMO)
    assert len(ds.classes) == 10 and "butterfly" in ds.classes and len(ds) == 300
    a, b = ds.split(15, 15, seed=4), ds.split(15, 15, seed=4)
    assert [s.path for s in a.train] == [s.path for s in b.train]
    assert len(a.train) == 150 and len(a.test) == 150
    assert not {s.path for s in a.train} & {s.path for s in a.test}
    assert [s.path for s in ds.split(15, 15, seed=5).train] != [s.path for s in a.train]
    root = tmp_path / "set"
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(3):
            shutil.copy(DEMO / "dolphin" / "image_0001.jpg", root / c / f"{i}.jpg")
    (root / "a" / "tmp").write_text("not an image")
    small = ImageFolderDataset(root)
    assert len(small) == 6
    with pytest.raises(InputError, match="class 'a' has 3 images, fewer than n_train \\+ 1 = 4"):
        small.split(3, 1, seed=0)
    with pytest.raises(InputError, match="class folders not found"):
        ImageFolderDataset(root, classes=["a", "zebra"])


TINY = """
name = "tiny"
[data]
classes = ["butterfly", "dolphin", "watch"]
n_train = 10
n_test = 10
seeds = [0]
max_side = 200
[features]
kind = "dsift"
step = 4
bin_size = 6
magnif = 0
samples_per_image = 200
[encoding]
kind = "bow"
n_words = 32
layout = "1x1+2x2"
max_descriptors = 3000
[classifier]
feature_map = "hellinger"
C = [1.0]
[run]
n_jobs = 1
"""


def test_run_end_to_end_and_resume_computes_nothing_twice(tmp_path, monkeypatch, capsys):
    from baselines import classification, pipeline

    calls = {"sample": 0, "encode": 0, "fit": 0}
    for owner, name in ((pipeline.ImagePipeline, "sample"), (pipeline.ImagePipeline, "encode"),
                        (classification.LinearSVMClassifier, "fit")):
        original = getattr(owner, name)

        def counted(self, *args, _original=original, _name=name, **kwargs):
            calls[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(owner, name, counted)
    cfg = _write(tmp_path, TINY + f'cache = "{tmp_path / "cache"}"\n')
    argv = ["run", str(cfg), "--data", str(DEMO), "--output", str(tmp_path / "runs"), "--quiet"]
    assert main(argv) == 0
    assert calls == {"sample": 30, "encode": 60, "fit": 1}
    out = tmp_path / "runs" / "tiny"
    metrics = json.loads((out / "metrics.json").read_text())
    split = metrics["variants"][0]["splits"][0]
    assert split["n_train"] == 30 and split["n_test"] == 30 and metrics["n_classes"] == 3
    assert split["accuracy"] >= 0.65                          # far above chance (1/3) on real images
    # the test set is balanced (10 images per class): top-1 error is exactly 1 - mean per-class accuracy
    assert split["top_k_error"][0] == pytest.approx(1 - split["accuracy"], abs=1e-12)
    assert split["top_k_error"][2] == 0.0                     # 3 classes: the top 3 always hold the truth
    for name in ("report.md", "confusion.png", "per_class_accuracy.png", "config.json", "split_0/submission.txt"):
        assert (out / name).exists(), name
    assert len((out / "split_0" / "submission.txt").read_text().splitlines()) == 30
    report = (out / "report.md").read_text()
    assert "mean per-class accuracy" in report and f"{split['accuracy']:.4f}" in report
    printed = capsys.readouterr().out
    assert "tiny: 3 classes, 1 split(s)" in printed and "top-5 err" in printed
    submission = (out / "split_0" / "submission.txt").read_bytes()
    # a second run finds everything in the cache, the trained SVMs included
    (out / "split_0" / "submission.txt").unlink()
    assert main(argv) == 0
    assert calls == {"sample": 30, "encode": 60, "fit": 1}
    again = json.loads((out / "metrics.json").read_text())["variants"][0]["splits"][0]
    assert (again["accuracy"], again["top_k_error"], again["C"]) == (split["accuracy"], split["top_k_error"], split["C"])
    assert again["classifier"] == split["classifier"]
    assert (out / "split_0" / "submission.txt").read_bytes() == submission
    # an interrupted run (some entries missing) recomputes exactly those; the same signatures
    # give the same classifier
    entries = sorted((tmp_path / "cache" / "codes").rglob("*.npz"))
    for entry in entries[:4]:
        entry.unlink()
    assert main(argv) == 0
    assert calls == {"sample": 30, "encode": 64, "fit": 1}
    # other classifier settings train again
    cfg.write_text(cfg.read_text().replace("C = [1.0]", "C = [10.0]"))
    assert main(argv) == 0
    assert calls == {"sample": 30, "encode": 64, "fit": 2}


def test_run_reports_unreadable_images_and_goes_on(tmp_path):
    """A broken file is reported once, by name, the run goes on, and as a test image it is
    scored as an error (never silently dropped)."""
    data = tmp_path / "data"
    for c in ("butterfly", "dolphin", "watch"):
        (data / c).mkdir(parents=True)
        for f in sorted((DEMO / c).glob("*.jpg"))[:12]:
            shutil.copy(f, data / c / f.name)
    (data / "dolphin" / "image_0005.jpg").write_bytes(b"\xff\xd8broken")
    for seed, in_test in ((0, False), (4, True)):     # the broken image drawn for training, then for testing
        text = TINY.replace("seeds = [0]", f"seeds = [{seed}]").replace("n_test = 10", "n_test = 0") \
            .replace("n_train = 10", "n_train = 6")
        cfg = _write(tmp_path, text + f'cache = "{tmp_path / "cache"}"\n')
        assert main(["run", str(cfg), "--data", str(data), "--output", str(tmp_path / f"runs{seed}"), "--quiet"]) == 0
        split = json.loads((tmp_path / f"runs{seed}" / "tiny" / "metrics.json").read_text())["variants"][0][
            "splits"][0]
        assert (split["n_train"], split["n_test"]) == ((18, 18) if in_test else (17, 18))
        failed = split["failed_images"]
        assert len(failed) == 1 and "dolphin/image_0005.jpg" in failed[0] and "cannot read image" in failed[0]
        lines = (tmp_path / f"runs{seed}" / "tiny" / f"split_{seed}" / "submission.txt").read_text().splitlines()
        assert len(lines) == 18                 # every test image has its line, the broken one included


def test_run_input_errors(tmp_path, capsys):
    cfg = _write(tmp_path, TINY)
    assert main(["run", str(cfg), "--data", str(tmp_path / "nowhere")]) == 2
    assert "data folder not found" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "missing.toml")]) == 2
    assert "configuration file not found" in capsys.readouterr().err


def test_linear_svm_classifier_top_k_and_c_selection(rng):
    from baselines.classification import LinearSVMClassifier

    x = rng.normal(size=(200, 30)).astype(np.float32)
    y = rng.integers(0, 4, 200)
    x[np.arange(200), y] += 4
    for solver in ("liblinear", "gram"):
        clf = LinearSVMClassifier(C=[0.01, 1.0], solver=solver).fit(x, y)
        assert set(clf.validation_scores_) == {0.01, 1.0} and clf.C_ in (0.01, 1.0)
        top = clf.top_k(x, 3)
        assert top.shape == (200, 3) and np.mean(top[:, 0] == y) > 0.9
        assert np.array_equal(top[:, 0], clf.predict(x))


def test_gram_solver_weights_give_its_decision_function_without_a_float64_copy_of_the_data(rng):
    """The dual solution turned into weights (w = sum_i alpha_i y_i x_i) scores new rows as the
    kernel machine does; the conversion holds one block of float64 columns at a time (a
    float64 copy of 3,060 Fisher vectors of 327,680 dimensions is 8 GB)."""
    import tracemalloc

    from baselines.classification import LinearSVMClassifier, linear_scores

    for n_classes in (2, 4):
        x = rng.normal(size=(300, 40_000)).astype(np.float32)
        y = rng.integers(0, n_classes, 300)
        x[np.arange(300), y] += 4
        clf = LinearSVMClassifier(C=[1.0], solver="gram").fit(x, y)
        tracemalloc.start()
        coef, intercept = clf.linear_model()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 0.5 * x.size * 8                           # the float64 copy would be 96 MB
        assert coef.shape == (n_classes, 40_000) and coef.dtype == np.float64
        new = rng.normal(size=(50, 40_000)).astype(np.float32)
        expected = clf.decision_function(new)
        np.testing.assert_allclose(new.astype(np.float64) @ coef.T + intercept, expected, rtol=0,
                                   atol=1e-5 * np.abs(expected).max())
        blocked = linear_scores(np.repeat(new, 8, axis=0), coef, intercept)    # 400 rows: 4 blocks of 104
        np.testing.assert_allclose(blocked, np.repeat(new.astype(np.float64) @ coef.T + intercept, 8, axis=0),
                                   rtol=1e-12, atol=1e-12)


def test_sweep_runs_every_value_and_plots_it(tmp_path):
    text = TINY.replace("n_words = 32\n", "") + f'cache = "{tmp_path / "cache"}"\n[sweep]\nkey = "encoding.n_words"\nvalues = [8, 24]\n'
    cfg = _write(tmp_path, text)
    assert main(["run", str(cfg), "--data", str(DEMO), "--output", str(tmp_path / "runs"), "--quiet"]) == 0
    out = tmp_path / "runs" / "tiny"
    metrics = json.loads((out / "metrics.json").read_text())
    assert [v["sweep_value"] for v in metrics["variants"]] == [8, 24]
    report = (out / "report.md").read_text()
    assert (out / "sweep.png").exists() and "encoding.n_words=24" in report
    # each value's own setting, and per-split rows that say which value they belong to
    assert "- encoding.n_words=8: Features: dsift" in report and ", 8 words)" in report and ", 24 words)" in report
    assert "| setting | seed |" in report and "| encoding.n_words=24 | 0 |" in report
    from matplotlib.image import imread

    assert imread(out / "sweep.png")[..., :3].std() > 0.05
    # sweep.only runs the values it names, and only those
    assert main(["run", str(cfg), "--data", str(DEMO), "--output", str(tmp_path / "part"), "--quiet",
                 "--set", 'sweep.only=["encoding.n_words=24"]']) == 0
    part = json.loads((tmp_path / "part" / "tiny" / "metrics.json").read_text())
    assert [v["sweep_value"] for v in part["variants"]] == [24]
    assert part["variants"][0]["splits"][0]["accuracy"] == metrics["variants"][1]["splits"][0]["accuracy"]
    assert not (tmp_path / "part" / "tiny" / "encoding.n_words=8").exists()
    part_report = (tmp_path / "part" / "tiny" / "report.md").read_text()
    assert "| encoding.n_words=24 | 0 |" in part_report and "encoding.n_words=8" not in part_report


def test_store_backed_run_streams_and_resumes(tmp_path, monkeypatch):
    """run.store: signatures go to feature stores, streaming SGD trains from their shards, and a
    second run computes nothing (the stores hold every image, the SGD's checkpoint its last epoch)."""
    from baselines.streaming import StreamingSGDClassifier
    from experiments.scale.store import open_store

    steps = {"n": 0}
    step = StreamingSGDClassifier._step

    def counted(self, *args):
        steps["n"] += 1
        return step(self, *args)

    monkeypatch.setattr(StreamingSGDClassifier, "_step", counted)

    text = TINY.replace("[classifier]\n", "[classifier]\nalpha = 1e-3\nepochs = 20\nvalidation_images = 2\n") + (
        f'cache = "{tmp_path / "cache"}"\nstore = "float16"\nstore_dir = "{tmp_path / "store"}"\nshard_size = 8\n')
    cfg = _write(tmp_path, text)
    argv = ["run", str(cfg), "--data", str(DEMO), "--output", str(tmp_path / "runs"), "--quiet"]
    assert main(argv) == 0
    split = json.loads((tmp_path / "runs" / "tiny" / "metrics.json").read_text())["variants"][0]["splits"][0]
    # 1 of the 30 training images (at most 5%) is held out to report the error after every epoch
    assert split["n_train"] == 29 and split["n_test"] == 30 and split["accuracy"] >= 0.6
    history = split["classifier"]["history"]
    assert len(history) == 20 and split["classifier"]["validation_images"] == 1 and "val_top1" in history[0]
    stores = [open_store(m.parent) for m in (tmp_path / "store").glob("*/manifest.json")]
    assert sorted(len(s) for s in stores) == [30, 30] and all(s.verify() == [] for s in stores)
    assert all(len(s.shards) == 4 for s in stores)              # 8 images per shard
    mtimes = sorted(p.stat().st_mtime_ns for p in (tmp_path / "store").rglob("shard-*.npz"))
    # 29 rows x 20 epochs in one stream of mini-batches of 64, and the rest as a last step
    assert steps["n"] == 29 * 20 // 64 + 1 and len(list((tmp_path / "cache" / "sgd").glob("*.npz"))) == 1
    steps["n"] = 0
    assert main(argv) == 0
    assert sorted(p.stat().st_mtime_ns for p in (tmp_path / "store").rglob("shard-*.npz")) == mtimes
    assert steps["n"] == 1                     # no epoch again: only the last, partial mini-batch
    again = json.loads((tmp_path / "runs" / "tiny" / "metrics.json").read_text())["variants"][0]["splits"][0]
    assert again["accuracy"] == split["accuracy"] and again["classifier"]["history"] == history


def test_config_defaults_and_choices_come_from_the_estimators():
    import inspect

    from baselines.classification import SOLVERS
    from baselines.hard_negatives import HardNegativeMiner
    from baselines.proposals import BACKENDS
    from experiments.config import ClassifierConfig, DetectionConfig, option

    miner = inspect.signature(HardNegativeMiner).parameters
    d = DetectionConfig()
    assert (d.max_overlap, d.hard_score, d.easy_score, d.retrain_every, d.mining_rounds, d.max_per_image) == tuple(
        miner[n].default for n in ("max_overlap", "hard_score", "easy_score", "retrain_every", "rounds",
                                   "max_per_image"))
    fields = {f.name: f for f in __import__("dataclasses").fields(ClassifierConfig)}
    assert fields["solver"].metadata["choices"] == SOLVERS
    assert {f.name: f for f in __import__("dataclasses").fields(DetectionConfig)}["proposals"].metadata["choices"] \
        == BACKENDS
    assert option(3, minimum=1).metadata["minimum"] == 1


def test_variant_sweeps_apply_whole_tables_and_are_checked_at_load(tmp_path):
    text = ('name = "x"\n[sweep]\nkey = "variant"\nvalues = [\n'
            ' {label = "VQ", encoding = {kind = "bow", n_words = 40}, classifier = {feature_map = "chi2"}},\n'
            ' {label = "LLC", encoding = {kind = "llc", n_words = 64, n_neighbors = 3}, published = 0.73},\n]\n')
    cfg = load_config(_write(tmp_path, text))
    vq, llc = (with_value(cfg, "variant", v) for v in cfg.sweep.values)
    assert (vq.encoding.kind, vq.encoding.n_words, vq.classifier.feature_map) == ("bow", 40, "chi2")
    assert (llc.encoding.kind, llc.encoding.n_words, llc.encoding.n_neighbors, llc.published.value) == \
        ("llc", 64, 3, 0.73)
    assert llc.classifier.feature_map == "none"            # untouched sections keep the file's values
    for bad, message in (('{encoding = {kind = "bow"}}', "expected a table with a string 'label'"),
                         ('{label = "a", encodings = {kind = "bow"}}', "expected section tables"),
                         ('{label = "a", encoding = {n_words = -1}}', "sweep variant 'a': encoding.n_words: expected "
                                                                      "a value >= 1")):
        path = _write(tmp_path, f'name = "x"\n[sweep]\nkey = "variant"\nvalues = [{bad}]\n', "bad.toml")
        with pytest.raises(InputError, match=re.escape(message)):
            load_config(path)


def test_every_reproduction_lists_its_deviations_from_the_paper():
    for path in sorted((ROOT / "experiments" / "configs").glob("*.toml")):
        cfg = load_config(path)
        if cfg.published.value or cfg.published.loc_error:
            assert cfg.published.deviations, f"{path.name}: list how the setting differs from the paper (or why not)"
            assert all(len(d) > 20 for d in cfg.published.deviations)
