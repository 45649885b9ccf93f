"""The teaching figures: every explain command on a real image, deterministic, drawing what it computes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from experiments.teaching import explain as ex

ROOT = Path(__file__).resolve().parent.parent
IMAGE = ROOT / "data" / "caltech101_demo" / "dolphin" / "image_0002.jpg"


def _assert_figure(path):
    import matplotlib.image as mpimg

    path = Path(path)
    assert path.exists() and path.stat().st_size > 5000, f"{path} missing or tiny"
    pixels = mpimg.imread(path)[..., :3]
    assert pixels.std() > 0.05, f"{path} is blank"
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50, f"{path} has almost no content"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return ex.teaching_model(cache_dir=tmp_path_factory.mktemp("teach"))


def test_teaching_model_is_cached_and_classifies(model, tmp_path_factory):
    assert model.accuracy > 0.6
    assert model.vocabulary.shape == (200, 128) and model.coef.shape == (10, 5 * 200)


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


def test_word_fisher_and_evidence_figures(model, tmp_path):
    w = ex.explain_words(IMAGE, tmp_path, model)
    frames, _ = ex._dense(IMAGE)
    assert w["counts"].sum() == len(frames) == len(w["words"])
    f = ex.explain_fisher(IMAGE, tmp_path, model)
    assert f["energy"].sum() == pytest.approx(1.0, abs=1e-5) and f["mass"].sum() == pytest.approx(1.0)
    e = ex.explain_evidence(IMAGE, tmp_path, model)
    # the patches' evidence plus the bias is the classifier's score, exactly
    assert e["evidence"].sum() + e["bias"] == pytest.approx(e["scores"][e["top5"][0]], abs=1e-9)
    assert model.classes[e["top5"][0]] == "dolphin"
    for f_ in w["files"] + f["files"] + e["files"]:
        _assert_figure(f_)


def test_figures_are_deterministic(model, tmp_path):
    a = ex.explain_evidence(IMAGE, tmp_path / "a", model)
    b = ex.explain_evidence(IMAGE, tmp_path / "b", model)
    assert np.array_equal(a["evidence"], b["evidence"])
    assert Path(a["files"][0]).read_bytes() == Path(b["files"][0]).read_bytes()


def test_proposal_hierarchy_figure(tmp_path):
    from baselines.selective_search import (
        MODES,
        convert_color,
        graph_segmentation,
        selective_search_hierarchies,
    )
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
    from experiments.runners.classification import run_experiment

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
