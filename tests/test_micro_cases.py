"""The hand-built micro cases: each pins one rule of the official code (manifest.json),
with the numbers the official routines printed (expected.json)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import MICRO

from experiments.cli import main
from ilsvrc.evaluation import evaluate_cls, evaluate_det, evaluate_loc
from ilsvrc.synsets import SynsetTable

DET_CASES = sorted(p.name for p in MICRO.iterdir() if p.name.startswith("det_") and p.name != "det_pred_outside_eval_list")


def _as_array(value):
    return np.array([np.nan if v is None else v for v in np.atleast_1d(value)], np.float64)


def _det_args(case):
    d = MICRO / case
    argv = [str(d / "pred.txt"), "--boxes", str(d / "xml"), "--image-list", str(d / "val.txt")]
    blacklist = d / "blacklist.txt"
    return argv, (blacklist if blacklist.exists() else None)


@pytest.mark.parametrize("case", DET_CASES)
def test_det_micro_case(case, micro_expected, tmp_path):
    exp = micro_expected[case]
    d = MICRO / case
    _, blacklist = _det_args(case)
    res = evaluate_det(d / "pred.txt", d / "xml", d / "val.txt", SynsetTable.bundled("det"), blacklist=blacklist)
    r = res.result
    np.testing.assert_allclose(r.ap, _as_array(exp["ap"]), atol=1e-12, equal_nan=True)
    np.testing.assert_allclose([r.mean_ap, r.median_ap], _as_array([exp["mean_ap"], exp["median_ap"]]),
                               atol=1e-12, equal_nan=True)
    for c in range(1, len(r.ap) + 1):
        np.testing.assert_allclose(r.recall[c - 1], _as_array(exp["curves"][f"recall_{c}"]), atol=1e-12,
                                   equal_nan=True)
        np.testing.assert_allclose(r.precision[c - 1], _as_array(exp["curves"][f"precision_{c}"]), atol=1e-12,
                                   equal_nan=True)
    # the same through the command line, with the bundled DET class list as metadata
    meta = tmp_path / "map_det.txt"
    meta.write_text((MICRO.parent.parent.parent / "ilsvrc/data/map_det.txt").read_text())
    argv, _ = _det_args(case)
    out = tmp_path / "r.json"
    cmd = ["evaluate", "det", *argv, "--meta", str(meta), "--json", str(out), "--bootstrap", "0"]
    assert main(cmd + (["--blacklist", str(blacklist)] if blacklist else [])) == 0
    got = json.loads(out.read_text())
    assert list(got["ap"]) == [str(c) for c in range(1, len(exp["ap"]) + 1)]
    np.testing.assert_allclose(_as_array(list(got["ap"].values())), _as_array(exp["ap"]), atol=1e-12, equal_nan=True)


def test_det_prediction_outside_list_is_refused(capsys):
    """The official code crashes (Octave) or misaligns; we refuse with file, line and field."""
    argv, _ = _det_args("det_pred_outside_eval_list")
    d = MICRO / "det_pred_outside_eval_list"
    meta = MICRO.parent.parent.parent / "ilsvrc/data/map_det.txt"
    assert main(["evaluate", "det", *argv, "--meta", str(meta)]) == 2
    err = capsys.readouterr().err.strip()
    bad_line = next(i for i, l in enumerate((d / "pred.txt").read_text().splitlines(), 1) if l.split()[0] == "3")
    assert err == (f"error: {d / 'pred.txt'}:{bad_line}: image index: image index 3 is not in the image list "
                   f"{d / 'val.txt'} (1 detection(s) affected)")


def test_clsloc_micro_case(micro_expected, tmp_path):
    exp = micro_expected["clsloc_rules"]
    d = MICRO / "clsloc_rules"
    synsets = SynsetTable.bundled("clsloc")
    with_bl = evaluate_loc(d / "pred.txt", d / "gt.txt", d / "xml", synsets, blacklist=d / "blacklist.txt")
    without = evaluate_loc(d / "pred.txt", d / "gt.txt", d / "xml", synsets)
    k = np.array(exp["eval_clsloc_2015_blacklist"]["k"]) - 1
    np.testing.assert_allclose(with_bl.top_k_error[k], exp["eval_clsloc_2015_blacklist"]["loc_error"], atol=1e-12)
    np.testing.assert_allclose(with_bl.cls_top_k_error[k], exp["eval_clsloc_2015_blacklist"]["cls_error"], atol=1e-12)
    np.testing.assert_allclose(without.top_k_error[k], exp["eval_clsloc_2015_noblacklist"]["loc_error"], atol=1e-12)
    np.testing.assert_allclose(without.top_k_error[k], exp["eval_localization_flat_2012"]["error"], atol=1e-12)
    meta = MICRO.parent.parent.parent / "ilsvrc/data/map_clsloc.txt"
    out = tmp_path / "r.json"
    assert main(["evaluate", "loc", str(d / "pred.txt"), "--ground-truth", str(d / "gt.txt"), "--boxes",
                 str(d / "xml"), "--meta", str(meta), "--blacklist", str(d / "blacklist.txt"),
                 "--json", str(out), "--bootstrap", "0"]) == 0
    got = json.loads(out.read_text())
    assert got["n_images"] == 7 and got["n_blacklisted"] == 1
    np.testing.assert_allclose(np.array(got["top_k_error"])[k], exp["eval_clsloc_2015_blacklist"]["loc_error"],
                               atol=1e-12)


def test_flat_micro_case(micro_expected, tmp_path):
    exp = micro_expected["flat_rules"]
    d = MICRO / "flat_rules"
    res = evaluate_cls(d / "pred.txt", d / "gt.txt")
    np.testing.assert_allclose(res.top_k_error, exp["error"], atol=1e-12)
    out = tmp_path / "r.json"
    assert main(["evaluate", "cls", str(d / "pred.txt"), "--ground-truth", str(d / "gt.txt"),
                 "--json", str(out), "--bootstrap", "0"]) == 0
    np.testing.assert_allclose(json.loads(out.read_text())["top_k_error"], exp["error"], atol=1e-12)


@pytest.mark.parametrize("matrix", ["cost_matrix.mat", "cost_matrix.txt"])
def test_hierarchical_micro_case(matrix, micro_expected, tmp_path):
    exp = micro_expected["hie_rules"]
    d = MICRO / "hie_rules"
    res = evaluate_cls(d / "pred.txt", d / "gt.txt", cost_matrix=d / matrix)
    np.testing.assert_allclose(res.hierarchical_cost[: len(exp["error"])], exp["error"], atol=1e-12)
    out = tmp_path / "r.json"
    assert main(["evaluate", "cls", str(d / "pred.txt"), "--ground-truth", str(d / "gt.txt"), "--cost-matrix",
                 str(d / matrix), "--json", str(out), "--bootstrap", "0"]) == 0
    np.testing.assert_allclose(json.loads(out.read_text())["hierarchical_cost"][:2], exp["error"], atol=1e-12)
