"""Every number the official devkit code printed for the demo and seeded submissions,
reproduced to 1e-9 through the API and through the command-line interface."""
from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import (
    CLSLOC_BLACKLIST,
    CLSLOC_CACHE,
    DET_BLACKLIST,
    DET_CACHE,
    DET_LIST,
    GT_2012,
    META_2012,
    META_CLSLOC_2015,
    META_DET_2015,
    REFERENCE,
    devkit_path,
    needs_devkit,
)

from experiments.cli import main
from ilsvrc.evaluation import evaluate_cls, evaluate_det, evaluate_loc

pytestmark = needs_devkit
TOL = 1e-9
COST_2012 = "derived/cost_matrix_2012_derived.mat"


def _keys(task_prefix):
    if not REFERENCE.exists():
        return []
    with open(REFERENCE) as handle:
        return [k for k in json.load(handle)["results"] if k.split("|")[0].startswith(task_prefix)]


def _close(actual, expected):
    actual = np.asarray(actual, np.float64)
    expected = np.asarray([np.nan if e is None else e for e in np.ravel(expected)], np.float64)
    np.testing.assert_allclose(actual, expected, rtol=0, atol=TOL, equal_nan=True)


def _cli_json(tmp_path, argv):
    out = tmp_path / "out.json"
    assert main(argv + ["--json", str(out), "--bootstrap", "0", "--worst", "0"]) == 0
    return json.loads(out.read_text())


# --------------------------------------------------------------------------- CLS
@pytest.mark.parametrize("key", _keys("flat2012"))
def test_flat_error(key, reference, tmp_path):
    ref = reference["results"][key]
    pred = devkit_path(ref["pred"])
    res = evaluate_cls(pred, GT_2012)
    _close(res.top_k_error, ref["error"])
    got = _cli_json(tmp_path, ["evaluate", "cls", str(pred), "--ground-truth", str(GT_2012)])
    assert got["task"] == "cls" and got["n_images"] == 50000
    _close(got["top_k_error"], ref["error"])


@pytest.mark.parametrize("key", _keys("hie_derived2012"))
def test_hierarchical_cost(key, reference, tmp_path):
    from ilsvrc.synsets import SynsetTable

    ref = reference["results"][key]
    pred = devkit_path(ref["pred"])
    # the official routine run with the derived matrix file ...
    res = evaluate_cls(pred, GT_2012, cost_matrix=devkit_path(COST_2012))
    _close(res.hierarchical_cost, ref["error"])
    # ... and our own derivation from meta.mat give the official numbers
    res = evaluate_cls(pred, GT_2012, synsets=SynsetTable.from_file(META_2012), hierarchical=True)
    _close(res.hierarchical_cost, ref["error"])
    got = _cli_json(tmp_path, ["evaluate", "cls", str(pred), "--ground-truth", str(GT_2012),
                               "--meta", str(META_2012), "--hierarchical"])
    _close(got["hierarchical_cost"], ref["error"])
    got = _cli_json(tmp_path, ["evaluate", "cls", str(pred), "--ground-truth", str(GT_2012),
                               "--cost-matrix", str(devkit_path(COST_2012))])
    _close(got["hierarchical_cost"], ref["error"])


# --------------------------------------------------------------------------- CLS-LOC
@pytest.mark.parametrize("key", _keys("clsloc2015"))
def test_clsloc_error(key, reference, clsloc_synsets, clsloc_objects, tmp_path):
    ref = reference["results"][key]
    pred = devkit_path(ref["pred"])
    blacklist = CLSLOC_BLACKLIST if ref["blacklist"] else None
    res = evaluate_loc(pred, GT_2012, clsloc_objects, clsloc_synsets, blacklist=blacklist)
    _close(res.top_k_error, ref["loc_error"])
    _close(res.cls_top_k_error, ref["cls_error"])
    argv = ["evaluate", "loc", str(pred), "--ground-truth", str(GT_2012), "--boxes", str(CLSLOC_CACHE),
            "--meta", str(META_CLSLOC_2015)]
    got = _cli_json(tmp_path, argv + (["--blacklist", str(blacklist)] if blacklist else []))
    assert got["task"] == "loc" and got["n_images"] == 50000
    assert got["n_blacklisted"] == (1762 if blacklist else 0)
    _close(got["top_k_error"], ref["loc_error"])
    _close(got["cls_top_k_error"], ref["cls_error"])


@pytest.mark.parametrize("key", _keys("loc2012"))
def test_localization_2012_rules(key, reference, clsloc_synsets, clsloc_objects):
    ref = reference["results"][key]
    res = evaluate_loc(devkit_path(ref["pred"]), GT_2012, clsloc_objects, clsloc_synsets)
    assert res.rules == "2012"
    _close(res.top_k_error[np.asarray(ref["k"]) - 1], ref["error"])


# --------------------------------------------------------------------------- DET
@pytest.mark.parametrize("key", _keys("det2015"))
def test_detection_ap(key, reference, det_setup, tmp_path):
    synsets, images, objects, _ = det_setup
    ref = reference["results"][key]
    pred = devkit_path(ref["pred"])
    blacklist = DET_BLACKLIST if ref["blacklist"] else None
    res = evaluate_det(pred, objects, images, synsets, blacklist=blacklist)
    _close(res.result.ap, ref["ap"])
    _close([res.result.mean_ap, res.result.median_ap], [ref["mean_ap"], ref["median_ap"]])
    assert [synsets.names[i] for i in range(200)] == ref["class_names"]
    argv = ["evaluate", "det", str(pred), "--boxes", str(DET_CACHE), "--image-list", str(DET_LIST),
            "--meta", str(META_DET_2015)]
    got = _cli_json(tmp_path, argv + (["--blacklist", str(blacklist)] if blacklist else []))
    assert got["task"] == "det" and sorted(got["ap"], key=int) == [str(c) for c in range(1, 201)]
    _close([got["ap"][str(c)] for c in range(1, 201)], ref["ap"])
    _close([got["mean_ap"], got["median_ap"]], [ref["mean_ap"], ref["median_ap"]])


def test_det_demo_reversed_boxes_are_counted_and_missed(det_setup):
    synsets, images, objects, blacklist = det_setup
    res = evaluate_det(devkit_path("ILSVRC2014_devkit/evaluation/demo.val.pred.det.txt"), objects, images,
                       synsets, blacklist=DET_BLACKLIST)
    assert res.result.n_reversed == 1692
    assert any("1692 detection(s) have reversed" in w for w in res.warnings)
    from ilsvrc.boxes import is_reversed

    reversed_ = is_reversed(res.submission.box)
    assert res.result.matches.tp[reversed_].sum() == 0
