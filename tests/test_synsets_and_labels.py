"""Synset tables of every devkit vintage, the three class numberings, convert, and the
label-order warning."""
from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import DEVKIT, GT_2012, META_2012, needs_devkit

from experiments.cli import main
from ilsvrc.errors import InputError
from ilsvrc.evaluation import evaluate_cls
from ilsvrc.label_order import (
    convert_submission,
    reinterpret_labels,
    suspect_label_order,
)
from ilsvrc.synsets import SynsetTable


def test_bundled_numberings():
    s = SynsetTable.bundled("clsloc")
    assert len(s) == s.n_classes == 1000
    assert s.wnid_of(1) == "n02119789" and s.name_of(1) == "kit fox"
    assert s.wnid_of(int(s.sorted_index_to_id[0])) == "n01440764"      # sorted index 0 = tench
    assert s.id_to_sorted_index[s.id_of("n01440764")] == 0
    assert list(s.sorted_index_to_id[s.id_to_sorted_index[1:]]) == list(range(1, 1001))
    assert list(np.array(s.class_wnids)[s.sorted_index_to_id - 1]) == sorted(s.class_wnids)
    d = SynsetTable.bundled("det")
    assert (d.n_classes, d.name_of(1), d.name_of(200)) == (200, "accordion", "zebra")
    with pytest.raises(ValueError, match="task"):
        SynsetTable.bundled("vid")


@needs_devkit
@pytest.mark.parametrize("path, n, n_classes, field, hierarchy", [
    ("ILSVRC2012_devkit_t12/data/meta.mat", 1860, 1000, "ILSVRC2012_ID", True),
    ("ILSVRC2014_devkit/data/meta_clsloc.mat", 1860, 1000, "ILSVRC2014_ID", True),
    ("ILSVRC2014_devkit/data/meta_det.mat", 815, 200, "ILSVRC2013_DET_ID", True),
    ("ILSVRC2015_devkit/data/meta_clsloc.mat", 1000, 1000, "ILSVRC2015_CLSLOC_ID", False),
    ("ILSVRC2015_devkit/data/meta_det.mat", 200, 200, "ILSVRC2015_DET_ID", False),
])
def test_meta_files_of_every_year(path, n, n_classes, field, hierarchy):
    s = SynsetTable.from_file(DEVKIT / path)
    assert (len(s), s.n_classes, s.id_field, s.has_hierarchy) == (n, n_classes, field, hierarchy)
    bundled = SynsetTable.bundled("det" if "det" in path else "clsloc")
    assert s.class_wnids == bundled.class_wnids                       # same ids in every year
    if n == 1860:
        assert s.wnid_of(1001) == "n00001740" and s.wordnet_height[1000] == 19
        assert s.num_train_images[:1000].sum() == 1281167
        assert sum(len(p) > 1 for p in s.parents) == 75               # the hierarchy is a DAG


@needs_devkit
def test_cost_matrix_derived_from_meta_equals_the_reference_derivation():
    import scipy.io

    cost = SynsetTable.from_file(META_2012).hierarchical_cost_matrix()
    ref = scipy.io.loadmat(DEVKIT / "derived/cost_matrix_2012_derived.mat", mat_dtype=True)["cost_matrix"]
    np.testing.assert_array_equal(cost, ref)
    assert cost.dtype == np.float64 and np.all(np.diag(cost) == 0) and np.array_equal(cost, cost.T)


def test_cost_matrix_needs_a_hierarchy():
    with pytest.raises(InputError, match="no hierarchy"):
        SynsetTable.bundled("clsloc").hierarchical_cost_matrix()


def test_meta_file_errors(tmp_path):
    bad = tmp_path / "meta.mat"
    bad.write_bytes(b"not a mat file")
    with pytest.raises(InputError, match="not a readable MATLAB"):
        SynsetTable.from_file(bad)
    txt = tmp_path / "map.txt"
    txt.write_text("n01440764 1 tench\nbogus line\n")
    with pytest.raises(InputError, match=r"map.txt:2: expected 'WNID id name'"):
        SynsetTable.from_file(txt)


def _write(path, rows):
    path.write_text("".join(" ".join(map(str, r)) + "\n" for r in rows))
    return path


@pytest.fixture
def perfect(tmp_path, rng):
    """A 1000-class ground truth and a perfect CLS submission in devkit ids."""
    gt = rng.integers(1, 1001, 400)
    pred = np.stack([gt] + [rng.integers(1, 1001, 400) for _ in range(4)], axis=1)
    return _write(tmp_path / "gt.txt", gt[:, None]), _write(tmp_path / "pred.txt", pred), gt, pred


def test_convert_round_trip(perfect, tmp_path):
    _, pred_path, _, pred = perfect
    s = SynsetTable.bundled("clsloc")
    convert_submission(pred_path, tmp_path / "sorted.txt", task="cls", source_form="devkit-id",
                       target_form="sorted-index")
    sorted_labels = np.loadtxt(tmp_path / "sorted.txt", dtype=np.int64)
    np.testing.assert_array_equal(sorted_labels, s.id_to_sorted_index[pred])
    convert_submission(tmp_path / "sorted.txt", tmp_path / "wnid.txt", task="cls", source_form="sorted-index",
                       target_form="wnid")
    assert (tmp_path / "wnid.txt").read_text().split()[0] == s.wnid_of(int(pred[0, 0]))
    assert main(["convert", str(tmp_path / "wnid.txt"), str(tmp_path / "back.txt"), "--task", "cls",
                 "--from", "wnid", "--to", "devkit-id"]) == 0
    assert (tmp_path / "back.txt").read_text() == pred_path.read_text()


def test_convert_keeps_boxes_and_scores(tmp_path):
    loc = tmp_path / "loc.txt"
    loc.write_text("1 0 0 10.5 10 2 1 1 5 5\n")
    convert_submission(loc, tmp_path / "out.txt", task="loc", source_form="devkit-id", target_form="wnid")
    assert (tmp_path / "out.txt").read_text() == "n02119789 0 0 10.5 10 n02100735 1 1 5 5\n"
    det = tmp_path / "det.txt"
    det.write_text("7 200 0.25 1 2 3 4\n")
    convert_submission(det, tmp_path / "out.txt", task="det", source_form="devkit-id", target_form="sorted-index")
    d = SynsetTable.bundled("det")
    assert (tmp_path / "out.txt").read_text() == f"7 {d.id_to_sorted_index[200]} 0.25 1 2 3 4\n"


def test_convert_errors(tmp_path, capsys):
    src = tmp_path / "a.txt"
    src.write_text("1 2\n1000 0\n")
    assert main(["convert", str(src), str(tmp_path / "b.txt"), "--task", "cls", "--from", "sorted-index",
                 "--to", "devkit-id"]) == 2
    assert f"{src}:2: label in column 1: expected a sorted-WNID index in 0..999, got 1000" in capsys.readouterr().err
    src.write_text("1 2\n3 0\n")
    assert main(["convert", str(src), str(tmp_path / "b.txt"), "--task", "cls", "--from", "devkit-id",
                 "--to", "wnid"]) == 2
    assert "a 'no guess' 0 has no wnid form" in capsys.readouterr().err
    src.write_text("n99999999\n")
    assert main(["convert", str(src), str(tmp_path / "b.txt"), "--task", "cls", "--from", "wnid",
                 "--to", "devkit-id"]) == 2
    assert "unknown WNID 'n99999999'" in capsys.readouterr().err


def test_label_order_warning(perfect, tmp_path, capsys):
    gt_path, pred_path, gt, pred = perfect
    s = SynsetTable.bundled("clsloc")
    assert suspect_label_order(pred, gt[:, None], s) is None
    for base in (0, 1):
        wrong = _write(tmp_path / f"wrong{base}.txt", s.id_to_sorted_index[pred] + base)
        res = evaluate_cls(wrong, gt_path)
        assert res.top_k_error[4] > 0.95
        assert len(res.warnings) == 1 and "LABEL ORDER?" in res.warnings[0]
        assert ("0-based sorted-WNID" in res.warnings[0]) == (base == 0)
        np.testing.assert_array_equal(reinterpret_labels(s.id_to_sorted_index[pred] + base, base, s), pred)
    out = tmp_path / "r.json"
    assert main(["evaluate", "cls", str(tmp_path / "wrong0.txt"), "--ground-truth", str(gt_path), "--bootstrap", "0",
                 "--json", str(out)]) == 0
    assert "warning: LABEL ORDER?" in capsys.readouterr().err
    assert "LABEL ORDER?" in json.loads(out.read_text())["warnings"][0]


@needs_devkit
def test_near_chance_submission_in_the_right_order_gives_no_warning():
    res = evaluate_cls(DEVKIT / "ILSVRC2012_devkit_t12/evaluation/demo.val.pred.txt", GT_2012)
    assert res.top_k_error[4] == pytest.approx(0.995) and res.warnings == []
