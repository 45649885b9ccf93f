"""The teaching figures: every explain command on a real image, deterministic, drawing what it computes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from experiments.teaching import explain as ex
from ilsvrc.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
IMAGE = ROOT / "data" / "caltech101_demo" / "dolphin" / "image_0002.jpg"


def _assert_figure(path):
    import matplotlib.image as mpimg

    path = Path(path)
    assert path.exists() and path.stat().st_size > 5000, f"{path} missing or tiny"
    pixels = mpimg.imread(path)[..., :3]
    assert pixels.std() > 0.05, f"{path} is blank"
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50, f"{path} has almost no content"


TINY_RUN = """
name = "{name}"
[data]
path = "{demo}"
classes = ["butterfly", "dolphin", "watch", "sunflower"]
n_train = 10
n_test = 5
seeds = [0]
max_side = 240
[features]
kind = "phow"
step = 6
samples_per_image = 200
{features}
[encoding]
{encoding}
layout = "1x1+2x2"
max_descriptors = 8000
[classifier]
feature_map = "{fmap}"
C = [10.0]
[run]
n_jobs = 1
cache = "{cache}"
"""


def _train(tmp, name, encoding, fmap, features=""):
    from experiments.config import load_config
    from experiments.runners import run_experiment
    from experiments.runners.classification import load_classifier

    path = tmp / f"{name}.toml"
    path.write_text(TINY_RUN.format(name=name, demo=(ROOT / "data" / "caltech101_demo").as_posix(),
                                    encoding=encoding, fmap=fmap, features=features, cache=(tmp / "cache").as_posix()))
    run_experiment(load_config(path), output=tmp / "runs", progress=False)
    return load_classifier(tmp / "runs" / name)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A classification run's saved model: bag of words with the chi2 feature map."""
    return _train(tmp_path_factory.mktemp("bow"), "bow_run", 'kind = "bow"\nn_words = 60', "chi2")


@pytest.fixture(scope="module")
def fisher_model(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("fv"), "fv_run", 'kind = "fisher"\nn_components = 8', "none",
                  "pca_components = 32")


def test_a_runs_saved_model_is_the_model_it_scored_with(model):
    """Loaded from disk, the model gives the run's own submission on the run's test images."""
    from experiments.datasets import ImageFolderDataset

    cfg = model.config
    assert model.class_names == ("butterfly", "dolphin", "watch", "sunflower")
    assert model.coef.shape == (4, 3 * 5 * 60)   # chi2 map (2 sample steps: sqrt, cos, sin) x 5 cells x 60 words
    split = ImageFolderDataset(ROOT / "data" / "caltech101_demo", classes=cfg.data.classes).split(
        cfg.data.n_train, cfg.data.n_test, cfg.data.seeds[0])
    guesses = []
    for sample in split.test:
        scores = model.scores(model.pipeline.encode(sample.path))
        guesses.append(np.argsort(-scores, kind="stable")[:4] + 1)
    run_dir = Path(cfg.run.cache).parent / "runs" / cfg.name
    written = np.loadtxt(run_dir / "split_0" / "submission.txt", dtype=np.int64)
    assert np.array_equal(np.array(guesses), written)


def test_gradients_and_sift_figures(tmp_path):
    g = ex.explain_gradients(IMAGE, tmp_path)
    planes = g["planes"]
    # the orientation planes split the gradient magnitude: they sum back to it
    assert np.allclose(planes.sum(axis=2)[1:-1, 1:-1], np.hypot(*np.gradient(
        ex._gray_image(IMAGE)[1].astype(np.float64)))[1:-1, 1:-1], atol=1e-4)
    s = ex.explain_sift(IMAGE, tmp_path)
    d = s["descriptors"][s["index"]]
    lengths = np.linalg.norm(s["glyph"][:, 1] - s["glyph"][:, 0], axis=1)
    assert np.allclose(lengths, 0.5 * d / d.max(), atol=1e-6)          # the glyph draws this descriptor
    p = ex.explain_phow(IMAGE, tmp_path)
    for f in g["files"] + s["files"] + p["files"]:
        _assert_figure(f)


def test_word_fisher_and_evidence_figures(model, fisher_model, tmp_path):
    w = ex.explain_words(IMAGE, tmp_path, model)
    assert w["counts"].sum() == len(w["frames"]) == len(w["words"])
    f = ex.explain_fisher(IMAGE, tmp_path, fisher_model)
    assert f["energy"].sum() == pytest.approx(1.0, abs=1e-5) and f["mass"].sum() == pytest.approx(1.0, abs=1e-5)
    e = ex.explain_evidence(IMAGE, tmp_path, model)
    # through the chi2 feature map too, the patches' evidence plus the bias is the classifier's score
    assert e["evidence"].sum() + e["bias"] == pytest.approx(e["scores"][e["top5"][0]], rel=1e-5, abs=1e-6)
    assert e["score"] == pytest.approx(e["scores"][e["top5"][0]])
    assert model.class_names[e["top5"][0]] == "dolphin"
    assert e["rejected"] == (e["scores"].max() < 0)
    for f_ in w["files"] + f["files"] + e["files"]:
        _assert_figure(f_)
    # a picture that needs another kind of model says which
    with pytest.raises(InputError, match="draw a Fisher-vector run"):
        ex.explain_fisher(IMAGE, tmp_path, model)
    with pytest.raises(InputError, match="hard-assignment bag of words"):
        ex.explain_evidence(IMAGE, tmp_path, fisher_model)


def test_evidence_on_a_photo_of_no_known_class_says_so(model, tmp_path):
    other = ROOT / "data" / "caltech101_demo" / "Motorbikes" / "image_0001.jpg"      # not among the 4 classes
    e = ex.explain_evidence(other, tmp_path, model)
    assert e["evidence"].sum() + e["bias"] == pytest.approx(e["scores"][e["top5"][0]], rel=1e-5, abs=1e-6)
    assert e["rejected"] == (e["scores"].max() < 0)


def test_figures_are_deterministic(model, tmp_path):
    a = ex.explain_evidence(IMAGE, tmp_path / "a", model)
    b = ex.explain_evidence(IMAGE, tmp_path / "b", model)
    assert np.array_equal(a["evidence"], b["evidence"])
    assert Path(a["files"][0]).read_bytes() == Path(b["files"][0]).read_bytes()


def test_proposal_hierarchy_figure(tmp_path):
    from baselines.graph_segmentation import graph_segmentation
    from baselines.selective_search import MODES, convert_color, selective_search_hierarchies
    from features.image_io import load_image

    out = ex.explain_proposals(IMAGE, tmp_path, mode="paper_fast")
    for f in out["files"]:
        _assert_figure(f)
    rgb = load_image(IMAGE)
    (_, h), = selective_search_hierarchies(rgb, MODES["single"])
    labels = graph_segmentation(convert_color(rgb, "hsv"), 100)
    assert np.array_equal(np.unique(ex.partition_after(h, labels, 0)), np.arange(h.n_initial))
    assert len(np.unique(ex.partition_after(h, labels, h.n_initial - 1))) == 1
    part = ex.partition_after(h, labels, 10)
    assert len(np.unique(part)) == h.n_initial - 10


@pytest.fixture(scope="module")
def detection_run(tmp_path_factory):
    from experiments.config import load_config
    from experiments.runners import run_experiment

    tmp = tmp_path_factory.mktemp("det")
    cfg = load_config(ROOT / "experiments" / "configs" / "demo_detection.toml",
                      ["data.n_train=8", "data.n_test=4", "encoding.n_words=64", "encoding.kmeans_iter=5",
                       "detection.train_proposals=100", "detection.test_proposals=200", "detection.mode=paper_fast",
                       "classifier.C=[1.0]", f"run.cache={tmp / 'cache'}", "run.n_jobs=1"])
    run_experiment(cfg, output=tmp / "runs", progress=False)
    return tmp / "runs" / "demo_detection"


def test_detection_and_ap_figures(detection_run, tmp_path):
    from experiments.runners.detection import rescore_split

    d = ex.explain_detections(ROOT / "data" / "caltech101_boxes" / "images" / "dolphin" / "image_0050.jpg",
                              tmp_path, detection_run)
    assert len(d["scores"]) and np.all(np.diff(d["scores"][d["labels"] == 0]) <= 0)
    a = ex.explain_ap(tmp_path, detection_run)
    result, _ = rescore_split(detection_run)
    assert np.allclose(a["ap"], result.ap)
    import json

    stored = json.loads((detection_run / "metrics.json").read_text())["splits"][-1]["det"]["ap"]
    assert np.allclose(a["ap"], stored)               # the run's files re-score to the run's numbers
    for f in d["files"] + a["files"]:
        _assert_figure(f)


def test_explain_cli(tmp_path, capsys):
    from experiments.cli import main

    assert main(["explain", "sift", "--out", str(tmp_path)]) == 2
    assert main(["explain", "phow", str(IMAGE), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "phow_scales.png").exists()
    # a missing, an unreadable and a 1x1 image: one line naming the file, exit status 2, no traceback
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    import cv2

    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), np.zeros((1, 1, 3), np.uint8))
    for path, message in ((tmp_path / "missing.jpg", "missing.jpg: cannot read image"),
                          (broken, "broken.jpg: cannot read image"),
                          (tiny, "tiny.png: the image is 1x1 pixels: too small to explain")):
        for what in ("gradients", "proposals"):
            capsys.readouterr()
            assert main(["explain", what, str(path), "--out", str(tmp_path)]) == 2
            err = capsys.readouterr().err
            assert message in err and "Traceback" not in err, (what, err)


def test_explain_draws_the_ground_truth_of_embedded_boxed_images(tmp_path):
    image = ROOT / "data" / "caltech101_boxes" / "images" / "butterfly" / "image_0008.jpg"
    import shutil

    moved = tmp_path / "anywhere.jpg"
    shutil.copy(image, moved)
    boxes = ex.known_boxes(moved)                        # found by content, wherever the file lies
    assert boxes.shape == (1, 4) and boxes[0, 2] > boxes[0, 0]
    assert ex.known_boxes(ROOT / "data" / "caltech101_demo" / "watch" / "image_0001.jpg").shape == (0, 4)
