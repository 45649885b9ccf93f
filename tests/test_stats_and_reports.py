"""Bootstrap intervals, paired comparisons, per-class breakdowns and PR-curve pictures."""
from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import (
    DET_BLACKLIST,
    DET_CACHE,
    DET_LIST,
    DEVKIT,
    META_DET_2015,
    MICRO,
    needs_devkit,
)
from test_metric_oracles import random_det_case

from experiments.cli import main
from ilsvrc import stats
from ilsvrc.ground_truth import ObjectTable
from ilsvrc.metrics.detection import evaluate_detection


def _table(objects, n_images):
    return ObjectTable.from_lists(
        [[o[1] for o in objects if o[0] == i] for i in range(n_images)],
        [np.array([o[2] for o in objects if o[0] == i]).reshape(-1, 4) for i in range(n_images)])


def test_bootstrap_mean_is_seeded_and_covers_the_estimate(rng):
    errors = (rng.random((5000, 5)) < np.linspace(0.6, 0.2, 5)).astype(float)
    a = stats.bootstrap_mean(errors, n_resamples=300, seed=3)
    b = stats.bootstrap_mean(errors, n_resamples=300, seed=3)
    c = stats.bootstrap_mean(errors, n_resamples=300, seed=4)
    np.testing.assert_array_equal(a.low, b.low)
    assert not np.array_equal(a.low, c.low)
    mean = errors.mean(axis=0)
    assert np.all(a.low < mean) and np.all(mean < a.high)
    # the width is that of a binomial proportion: 2 * 1.96 * sqrt(p(1-p)/n)
    expected = 2 * 1.96 * np.sqrt(mean * (1 - mean) / len(errors))
    np.testing.assert_allclose(a.high - a.low, expected, rtol=0.2)


def test_resample_weights_are_draw_counts():
    chunks = list(stats.resample_weights(50, 100, seed=1))
    w = np.concatenate(chunks)
    assert w.shape == (100, 50) and np.all(w.sum(axis=1) == 50)


@pytest.mark.parametrize("seed", range(5))
def test_weighted_ap_equals_the_evaluation_of_the_resampled_set(seed):
    """Bootstrap mAP without re-matching equals evaluating the materialised resample.

    Exact when confidences do not tie across images: the weighted form keeps the copies of
    a duplicated image together, a materialised resample would interleave them with other
    images' tied detections by position.
    """
    rng = np.random.default_rng(seed)
    dets, objects, blacklist = random_det_case(rng)
    dets = [(d[0], d[1], d[2] + 1e-6 * k, d[3]) for k, d in enumerate(dets)]
    n = 12
    table = _table(objects, n)
    img, lab, score = [d[0] for d in dets], [d[1] for d in dets], [d[2] for d in dets]
    box = np.array([d[3] for d in dets])
    bl = np.array(sorted(blacklist))
    res = evaluate_detection(img, lab, score, box, table, blacklist=bl)
    wap = stats.WeightedAP.from_result(res, img, lab, table, bl)
    np.testing.assert_allclose(wap.average_precisions(np.ones(n)), res.ap, atol=1e-12, equal_nan=True)
    draw = np.sort(rng.integers(0, n, n))
    weights = np.bincount(draw, minlength=n).astype(float)
    # materialise: copy q of image `draw[q]` becomes image q
    new_objects = [(q, o[1], o[2], o[3]) for q, i in enumerate(draw) for o in objects if o[0] == i]
    new_dets = [(q, d[1], d[2], d[3]) for q, i in enumerate(draw) for d in dets if d[0] == i]
    new_bl = np.array([(q, c) for q, i in enumerate(draw) for (bi, c) in blacklist if bi == i]).reshape(-1, 2)
    resampled = evaluate_detection([d[0] for d in new_dets], [d[1] for d in new_dets], [d[2] for d in new_dets],
                                   np.array([d[3] for d in new_dets]).reshape(-1, 4), _table(new_objects, n),
                                   blacklist=new_bl)
    got = wap.average_precisions(weights)
    c = len(resampled.ap)
    np.testing.assert_allclose(got[:c], resampled.ap, atol=1e-12, equal_nan=True)


def test_mcnemar_and_identical_comparison(rng):
    assert stats.mcnemar_exact([1, 0, 1], [1, 0, 1]) == 1.0
    # 10 discordant pairs, all one way: two-sided exact p = 2 * 0.5**10
    a = np.r_[np.ones(10), np.zeros(30)]
    assert stats.mcnemar_exact(a, np.zeros(40)) == pytest.approx(2 * 0.5**10)
    errors = (rng.random((300, 5)) < 0.4).astype(float)
    same = stats.compare_per_image(errors, errors, n_resamples=100)
    assert np.all(same.difference == 0) and np.all(same.p_value == 1.0) and same.test == "exact McNemar"
    frac = errors / 2  # multi-label style fractional errors use the permutation test
    diff = stats.compare_per_image(frac, frac * 0.5, n_resamples=100)
    assert diff.test == "paired sign-flip permutation" and np.all(diff.p_value[:] < 0.01)
    assert np.all(diff.interval.high < 0)


@pytest.fixture
def det_micro_argv():
    d = MICRO / "det_basic"
    return ["--boxes", str(d / "xml"), "--image-list", str(d / "val.txt"),
            "--meta", str(MICRO.parent.parent.parent / "ilsvrc/data/map_det.txt")]


def test_det_cli_interval_and_pr_curves(det_micro_argv, tmp_path, capsys):
    out = tmp_path / "r.json"
    plots = tmp_path / "pr"
    assert main(["evaluate", "det", str(MICRO / "det_basic" / "pred.txt"), *det_micro_argv, "--json", str(out),
                 "--pr-curves", str(plots), "--bootstrap", "200"]) == 0
    got = json.loads(out.read_text())
    ci = got["mean_ap_ci"]
    assert ci["low"][0] <= got["mean_ap"] <= ci["high"][0] and ci["n_resamples"] == 200
    from matplotlib.image import imread

    for name in ("pr_overview.png", "pr_001_accordion.png"):
        img = imread(plots / name)
        assert img.shape[0] > 200 and img[..., :3].std() > 0.05, f"{name} looks blank"
    assert "Worst 1 classes by AP" in capsys.readouterr().out


def test_compare_cli(tmp_path, capsys):
    gt = tmp_path / "gt.txt"
    gt.write_text("".join(f"{c}\n" for c in range(1, 201)))
    a = tmp_path / "a.txt"
    a.write_text("".join(f"{c if c % 2 else 1}\n" for c in range(1, 201)))
    b = tmp_path / "b.txt"
    b.write_text("".join(f"{c}\n" for c in range(1, 201)))
    out = tmp_path / "cmp.json"
    assert main(["evaluate", "compare", str(a), str(b), "--task", "cls", "--ground-truth", str(gt),
                 "--bootstrap", "200", "--json", str(out)]) == 0
    got = json.loads(out.read_text())
    assert got["difference"][0] == pytest.approx(-0.5) and got["p_value"][0] < 1e-20
    assert got["test"] == "exact McNemar" and got["interval"]["high"][0] < 0
    assert "B - A" in capsys.readouterr().out
    assert main(["evaluate", "compare", str(a), str(b), "--task", "loc", "--ground-truth", str(gt)]) == 2
    assert "compare --task loc needs --boxes, --meta" in capsys.readouterr().err


@needs_devkit
def test_det_compare_on_official_data(tmp_path):
    out = tmp_path / "cmp.json"
    demo = DEVKIT / "ILSVRC2014_devkit/evaluation/demo.val.pred.det.txt"
    seeded = DEVKIT / "reference/submissions/det_s3_informed.txt.gz"
    assert main(["evaluate", "compare", str(demo), str(seeded), "--task", "det", "--boxes", str(DET_CACHE),
                 "--image-list", str(DET_LIST), "--meta", str(META_DET_2015), "--blacklist", str(DET_BLACKLIST),
                 "--bootstrap", "100", "--json", str(out)]) == 0
    got = json.loads(out.read_text())
    assert got["a"][0] == pytest.approx(0.5900608141381709, abs=1e-9)
    assert got["b"][0] == pytest.approx(0.3692536742360412, abs=1e-9)
    assert got["interval"]["low"][0] < got["difference"][0] < got["interval"]["high"][0] < 0
    assert got["p_value"][0] < 1e-6
