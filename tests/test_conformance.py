"""The conformance kit: its numbers are the official ones, the evaluator passes every case,
and deliberately broken scorers fail exactly the cases of the rules they break."""
from __future__ import annotations

import json
import subprocess
import sys

import conformance_scorers
import numpy as np
import pytest
from conftest import (
    CLSLOC_BLACKLIST,
    DEVKIT,
    GT_2012,
    MICRO,
    ROOT,
    devkit_path,
    needs_devkit,
    needs_shared,
)

from experiments.cli import main
from ilsvrc import formats
from ilsvrc.conformance import (
    MISTAKES,
    check,
    export,
    first_difference,
    report,
    score_case,
)
from ilsvrc.conformance.kit import matching_mistakes
from ilsvrc.conformance.scoring import Inputs, compute
from ilsvrc.errors import InputError

EXAMPLE = ROOT / "docs" / "conformance" / "topk_scorer.py"
# the mistakes the independent scorers of tests/conformance_scorers.py make on purpose
BUGS = {"no_plus_one": {"loc.iou_without_plus_one", "det.iou_without_plus_one"},
        "ignore_blacklist": {"loc.blacklist_ignored", "det.blacklist_ignored"},
        "file_order": {"det.file_order_matching"}, "fixed_threshold": {"det.fixed_threshold"}}


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kit") / "kit"
    export(folder)
    return folder, json.loads((folder / "cases.json").read_text())


def _results(tmp_path, kit_dir, index, scorer, tasks=("cls", "loc", "det")):
    out = tmp_path / "results"
    out.mkdir(exist_ok=True)
    for case in index["cases"]:
        if case["task"] in tasks:
            result = scorer(kit_dir / case["name"] / case["files"]["submission"], kit_dir / case["name"])
            (out / f"{case['name']}.json").write_text(json.dumps(result))
    return out


def _failed(verdicts):
    return {v.name for v in verdicts if v.status != "pass"}


def _broken_by(index, mistakes, tasks=("cls", "loc", "det")):
    return {c["name"] for c in index["cases"] if c["task"] in tasks and set(c["broken_by"]) & set(mistakes)}


# --------------------------------------------------------------------------- the kit itself
def test_index_describes_every_case(kit):
    folder, index = kit
    names = [c["name"] for c in index["cases"]]
    assert len(names) == len(set(names)) >= 45
    assert {c["rules"] for c in index["cases"]} == {"cls", "hie", "loc2012", "loc2013", "det"}
    assert {c["kind"] for c in index["cases"]} == {"official", "rule", "random"}
    for case in index["cases"]:
        assert case["rule"].strip() and case["rules"] in index["rules"], case["name"]
        for role, name in case["files"].items():
            assert (folder / case["name"] / name).exists(), (case["name"], role)
        assert json.loads((folder / case["name"] / "case.json").read_text()) == case
        expected = json.loads((folder / case["name"] / "expected.json").read_text())
        assert expected["task"] == case["task"]
    # every known mistake is caught by some case, and the hand-built cases isolate their rules
    caught = {m for c in index["cases"] for m in c["broken_by"]}
    assert caught == {m.name for m in MISTAKES}
    by_name = {c["name"]: c["broken_by"] for c in index["cases"]}
    assert by_name["det_confidence_order_matching"] == ["det.file_order_matching"]
    assert by_name["det_second_object"] == ["det.voc_matching"]
    assert by_name["det_blacklist_objects"] == ["det.blacklist_ignored"]
    assert by_name["loc_iou_plus_one"] == ["loc.iou_without_plus_one"]
    assert by_name["cls_duplicate_guesses"] == ["cls.repeats_merged"]
    assert by_name["loc_blacklist_left_out"] == ["loc.blacklist_ignored", "loc.blacklist_in_denominator"]


def test_expected_numbers_are_the_official_ones(kit, micro_expected):
    """Every number the official code printed for a case's input, checked against the test copy."""
    folder, index = kit
    official = [c for c in index["cases"] if c["kind"] == "official"]
    assert len(official) == 12
    for case in official:
        expected = json.loads((folder / case["name"] / "expected.json").read_text())
        micro = case["official"]["source"].split(":")[0].split("/")[1]
        truth = micro_expected[micro]
        if case["task"] == "det":
            want = {"ap": truth["ap"], "mean_ap": [truth["mean_ap"]], "median_ap": [truth["median_ap"]]}
            got = {"ap": list(expected["ap"].values()), "mean_ap": [expected["mean_ap"]],
                   "median_ap": [expected["median_ap"]]}
        elif case["rules"] == "hie":
            want, got = {"h": truth["error"]}, {"h": expected["hierarchical_cost"][: len(truth["k"])]}
        elif case["rules"] == "cls":
            want, got = {"e": truth["error"]}, {"e": expected["top_k_error"]}
        else:
            key = "eval_clsloc_2015_blacklist" if case["rules"] == "loc2013" else "eval_localization_flat_2012"
            k = np.array(truth[key]["k"]) - 1
            want = {"loc": truth[key].get("loc_error", truth[key].get("error"))}
            got = {"loc": np.array(expected["top_k_error"])[k].tolist()}
            if "cls_error" in truth[key]:
                want["cls"], got["cls"] = truth[key]["cls_error"], np.array(expected["cls_top_k_error"])[k].tolist()
        for key in want:
            np.testing.assert_allclose(np.array(got[key], float), np.array(want[key], float), rtol=0, atol=1e-12,
                                       equal_nan=True, err_msg=f"{case['name']} {key}")


@needs_shared(DEVKIT / "micro_cases" / "expected.json", "the official micro cases of the devkit data")
def test_test_copy_of_the_official_numbers_is_the_shared_one(micro_expected):
    shared = json.loads((DEVKIT / "micro_cases" / "expected.json").read_text())
    for name, value in micro_expected.items():
        assert json.dumps(value, sort_keys=True) == json.dumps(shared[name], sort_keys=True), name


@needs_devkit
def test_kit_scoring_core_reproduces_the_reference_numbers(reference, clsloc_objects, det_setup):
    """The code that computes every expected number, on the official demos, gives the official numbers."""
    from ilsvrc.ground_truth import read_class_labels, read_clsloc_blacklist
    from ilsvrc.submissions import (
        read_cls_submission,
        read_det_submission,
        read_loc_submission,
    )

    gt = read_class_labels(GT_2012, 1000)
    res = reference["results"]
    cls = compute(Inputs("cls", read_cls_submission(devkit_path(res["flat2012|demo.val.pred.txt"]["pred"]), 50000,
                                                    1000), gt, n_images=50000))
    np.testing.assert_allclose(cls["top_k_error"], res["flat2012|demo.val.pred.txt"]["error"], atol=1e-9)
    key = "clsloc2015_blacklist|demo.val.pred.det.txt(2012 task2 demo)"
    loc = compute(Inputs("loc", read_loc_submission(devkit_path(res[key]["pred"]), 50000, 1000), gt,
                         objects=clsloc_objects, blacklist=read_clsloc_blacklist(CLSLOC_BLACKLIST, 50000),
                         n_images=50000))
    np.testing.assert_allclose(loc["top_k_error"], res[key]["loc_error"], atol=1e-9)
    np.testing.assert_allclose(loc["cls_top_k_error"], res[key]["cls_error"], atol=1e-9)
    synsets, images, objects, blacklist = det_setup
    key = "det2015_blacklist|demo.val.pred.det.txt(2014 DET demo)"
    det = compute(Inputs("det", read_det_submission(devkit_path(res[key]["pred"]), images, 200), objects=objects,
                         blacklist=blacklist, n_images=len(images)))
    np.testing.assert_allclose(list(det["ap"].values()), res[key]["ap"], atol=1e-9)
    assert det["mean_ap"] == pytest.approx(res[key]["mean_ap"], abs=1e-9)


# --------------------------------------------------------------------------- the evaluator passes
def test_the_evaluator_passes_every_case(kit, tmp_path):
    folder, index = kit
    results = _results(tmp_path, folder, index, lambda s, c: score_case(s, c))
    verdicts = check(folder, results)
    assert len(verdicts) == len(index["cases"]) and not _failed(verdicts)


def test_the_evaluate_command_of_each_case_gives_its_expected_numbers(kit, tmp_path, monkeypatch):
    folder, index = kit
    for case in index["cases"]:
        monkeypatch.chdir(folder / case["name"])
        out = tmp_path / f"{case['name']}.json"
        assert main(case["evaluate"] + ["--json", str(out), "--worst", "0"]) == 0, case["name"]
        expected = json.loads((folder / case["name"] / "expected.json").read_text())
        assert first_difference(expected, json.loads(out.read_text()), case["task"], 1e-12) is None, case["name"]


@pytest.mark.parametrize("fmt", ["sorted-index", "wnid", "kaggle-csv", "coco-json"])
def test_every_format_exports_cases_the_evaluator_passes(fmt, tmp_path):
    folder = tmp_path / fmt
    index = export(folder, fmt=fmt)
    tasks = [t for t, fmts in formats.FORMATS.items() if fmt in fmts]
    assert {c["task"] for c in index["cases"]} == set(tasks)
    skipped = {s["name"] for s in index["skipped"]}
    if fmt != "coco-json":  # a 'no guess' 0 before a real guess has no other form
        assert {"cls_label_zero", "hie_missing_guess"} <= skipped
    assert skipped <= {"cls_label_zero", "hie_missing_guess", "cls_separators"}
    suffix = formats.SUFFIX.get(fmt, ".txt")
    assert all(c["files"]["submission"] == "submission" + suffix and c["format"] == fmt for c in index["cases"])
    verdicts = check(folder, _results(tmp_path, folder, index, lambda s, c: score_case(s, c)))
    assert not _failed(verdicts)


# --------------------------------------------------------------------------- broken scorers
def test_example_scorer_fails_exactly_the_flattening_cases(tmp_path, capsys):
    """The README's worked example, through the run command."""
    folder = tmp_path / "kit"
    assert main(["conformance", "export", str(folder), "--task", "cls"]) == 0
    index = json.loads((folder / "cases.json").read_text())
    command = f"{sys.executable} {EXAMPLE} {{submission}} {{case_dir}} {{out_json}}"
    capsys.readouterr()
    assert main(["conformance", "run", str(folder), "--command", command, "--results", str(tmp_path / "r")]) == 1
    out = capsys.readouterr().out
    failed = {line.split()[0] for line in out.splitlines() if " FAIL " in line}
    assert failed == _broken_by(index, {"cls.ragged_lines_flattened"}) and len(failed) >= 5
    assert "known mistake, cls.ragged_lines_flattened" in out
    assert main(["conformance", "run", str(folder), "--command", command.replace(str(EXAMPLE), f"{EXAMPLE} --per-line"),
                 "--results", str(tmp_path / "r")]) == 0
    assert f"{len(index['cases'])} cases: {len(index['cases'])} pass" in capsys.readouterr().out


@pytest.mark.parametrize("bugs", [(), ("no_plus_one",), ("ignore_blacklist",), ("file_order",), ("fixed_threshold",),
                                  ("ignore_blacklist", "file_order")])
def test_independent_scorers_fail_exactly_the_rules_they_break(kit, tmp_path, bugs):
    folder, index = kit
    results = _results(tmp_path, folder, index, lambda s, c: conformance_scorers.score(s, c, bugs), ("loc", "det"))
    verdicts = [v for v in check(folder, results) if v.status != "missing"]
    assert len(verdicts) == sum(c["task"] in ("loc", "det") for c in index["cases"])
    mistakes = set().union(*(BUGS[b] for b in bugs)) if bugs else set()
    assert _failed(verdicts) == _broken_by(index, mistakes, ("loc", "det"))
    if len(bugs) == 1 and len(BUGS[bugs[0]]) == 1:
        assert matching_mistakes(folder, verdicts) == sorted(BUGS[bugs[0]])


@pytest.mark.parametrize("mistake", [m.name for m in MISTAKES])
def test_each_known_mistake_fails_exactly_its_cases(kit, tmp_path, mistake):
    folder, index = kit
    task = mistake.split(".")[0]
    results = _results(tmp_path, folder, index, lambda s, c: score_case(s, c, mistake=mistake), (task,))
    verdicts = [v for v in check(folder, results) if v.status != "missing"]
    assert _failed(verdicts) == _broken_by(index, {mistake}, (task,)) != set()
    assert mistake in matching_mistakes(folder, verdicts)


def test_run_reports_scorer_errors_and_check_reports_missing_and_malformed(kit, tmp_path, capsys):
    folder, index = kit
    results = tmp_path / "results"
    results.mkdir()
    (results / "cls_top_k.json").write_text("{not json")
    expected = json.loads((folder / "det_tie_order" / "expected.json").read_text())
    (results / "det_tie_order.json").write_text(json.dumps(dict(expected, ap={"1": float("nan")})))
    (results / "det_duplicates.json").write_text((folder / "det_duplicates" / "expected.json").read_text())
    verdicts = {v.name: v for v in check(folder, results)}
    assert (verdicts["cls_top_k"].status, verdicts["cls_top_k"].detail[:14]) == ("fail", "malformed JSON")
    assert verdicts["det_tie_order"].status == "fail"
    assert verdicts["det_tie_order"].detail == f"ap[1]: got nan, expected {expected['ap']['1']:.10g}"
    assert verdicts["det_duplicates"].status == "pass" and verdicts["loc_iou_half"].status == "missing"
    lines = report(folder, list(verdicts.values()))
    n = len(index["cases"])
    assert f"{n} cases: 1 pass, 2 fail, {n - 3} missing" in lines
    assert main(["conformance", "check", str(folder), str(results)]) == 1
    capsys.readouterr()
    cls_kit = tmp_path / "cls"
    export(cls_kit, task="cls")
    fail = f"{sys.executable} -c \"import sys; sys.exit('boom')\" {{submission}} {{case_dir}} {{out_json}}"
    assert main(["conformance", "run", str(cls_kit), "--command", fail, "--results", str(tmp_path / "r2")]) == 1
    out = capsys.readouterr().out
    assert out.count("ERROR    scorer exited with status 1: boom") == sum(c["task"] == "cls" for c in index["cases"])
    assert main(["conformance", "run", str(cls_kit), "--command", "true"]) == 2
    assert "placeholders" in capsys.readouterr().err


def test_first_difference_compares_numbers_and_nan():
    expected = {"task": "det", "ap": {"1": 0.5, "2": None}, "mean_ap": None, "median_ap": None}
    assert first_difference(expected, {"ap": {"1": 0.5, "2": float("nan")}, "mean_ap": None, "median_ap": None},
                            "det") is None
    assert first_difference(expected, {"ap": {"1": 0.5 + 2e-9, "2": None}, "mean_ap": None, "median_ap": None},
                            "det").startswith("ap[1]: got 0.500000002")
    assert first_difference(expected, {"ap": {"1": 0.5, "2": 0.0}, "mean_ap": None, "median_ap": None},
                            "det") == "ap[2]: got 0, expected nan"
    assert first_difference(expected, {"ap": {"1": 0.5, "2": None, "3": 1.0}, "mean_ap": None, "median_ap": None},
                            "det").startswith("ap[3]")
    assert first_difference({"top_k_error": [0.1] * 5}, {"top_k_error": [0.1] * 4}, "cls").startswith(
        "top_k_error: expected a list of 5 values")
    assert first_difference({"top_k_error": [0.1] * 5}, {}, "cls") == "top_k_error: missing from the result"


def test_export_refuses_a_folder_that_is_not_a_kit(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not a conformance kit"):
        export(tmp_path, task="cls")
    assert (tmp_path / "notes.txt").exists()


# --------------------------------------------------------------------------- the formats
def test_formats_read_the_micro_cases_like_the_devkit_files(tmp_path):
    d = MICRO / "clsloc_rules"
    meta = str(ROOT / "ilsvrc/data/map_clsloc.txt")
    base = ["--ground-truth", str(d / "gt.txt"), "--boxes", str(d / "xml"), "--meta", meta, "--bootstrap", "0"]
    assert main(["evaluate", "loc", str(d / "pred.txt"), *base, "--json", str(tmp_path / "a.json")]) == 0
    assert main(["convert", str(d / "pred.txt"), str(tmp_path / "p.csv"), "--task", "loc", "--from", "devkit-id",
                 "--to", "kaggle-csv"]) == 0
    text = (tmp_path / "p.csv").read_text().splitlines()
    assert text[0] == "ImageId,PredictionString"
    assert text[1] == "ILSVRC2012_val_00000001,n02102040 0 0 99 199"  # devkit id 5
    rows = text[:1] + text[:0:-1]  # any row order
    (tmp_path / "shuffled.csv").write_text("\n".join(rows) + "\n")
    assert main(["evaluate", "loc", str(tmp_path / "shuffled.csv"), *base, "--format", "kaggle-csv",
                 "--json", str(tmp_path / "b.json")]) == 0
    a, b = (json.loads((tmp_path / f).read_text()) for f in ("a.json", "b.json"))
    assert a["top_k_error"] == b["top_k_error"] and a["cls_top_k_error"] == b["cls_top_k_error"]
    d = MICRO / "det_float_coords"
    assert main(["convert", str(d / "pred.txt"), str(tmp_path / "d.json"), "--task", "det", "--from", "devkit-id",
                 "--to", "coco-json"]) == 0
    records = json.loads((tmp_path / "d.json").read_text())
    assert records[1] == {"image_id": 1, "category_id": 1, "bbox": [10.0, 10.0, 20.0, 20.0], "score": 0.8}
    det = ["--boxes", str(d / "xml"), "--image-list", str(d / "val.txt"), "--meta",
           str(ROOT / "ilsvrc/data/map_det.txt"), "--bootstrap", "0"]
    assert main(["evaluate", "det", str(tmp_path / "d.json"), *det, "--format", "coco-json",
                 "--json", str(tmp_path / "c.json")]) == 0
    assert json.loads((tmp_path / "c.json").read_text())["ap"] == {"1": 1.0}


def test_coco_boxes_map_to_inclusive_devkit_boxes(tmp_path):
    from ilsvrc.ground_truth import ImageList

    images = ImageList(("a", "b"), np.array([7, 9]))
    path = tmp_path / "r.json"
    path.write_text(json.dumps([{"image_id": 9, "category_id": 3, "bbox": [10, 20, 30, 40], "score": 0.25}]))
    sub = formats.read_coco_json(path, images, 200)
    assert sub.image.tolist() == [1] and sub.label.tolist() == [3] and sub.score.tolist() == [0.25]
    assert sub.box.tolist() == [[10, 20, 39, 59]]  # 30 x 40 pixels: x2 = x + w - 1
    formats.write_det(tmp_path / "back.json", [9], sub.label, sub.score, sub.box, fmt="coco-json")
    assert json.loads((tmp_path / "back.json").read_text())[0]["bbox"] == [10, 20, 30, 40]


@pytest.mark.parametrize("text, line, field, message", [
    ("[{\"image_id\": 1, \"category_id\": 1, \"bbox\": [0, 0, 5, 5], \"score\": 0.5},\n"
     " {\"image_id\": 1, \"category_id\": 1, \"bbox\": [0, 0, 5], \"score\": 0.5}]", 2, "bbox", "detection 2: expected bbox"),
    ("[\n{\"image_id\": 1, \"category_id\": 201, \"bbox\": [0, 0, 5, 5], \"score\": 1}]", 2, "category_id",
     "expected a DET class id in 1..200, got 201"),
    ("[\n\n{\"image_id\": 5, \"category_id\": 1, \"bbox\": [0, 0, 5, 5], \"score\": 1}]", 3, "image_id",
     "image index 5 is not in the image list"),
    ("[{\"image_id\": 1, \"category_id\": 1, \"bbox\": [0, 0, 5, 5], \"score\": NaN}]", 1, "score",
     "expected a finite number, got nan"),
    ("[{\"image_id\": 1, \"category_id\": 1, \"bbox\": [0, 0, 5, 5]}]", 1, "score", "has no 'score'"),
    ("[{\"image_id\": 1, \"category_id\": 1,\n \"bbox\": [0, 0, 5, 5] \"score\": 1}]", 2, None, "malformed JSON"),
    ("{\"image_id\": 1}", 1, None, "expected a JSON list of detections"),
])
def test_coco_errors_name_file_line_and_field(text, line, field, message, tmp_path):
    from ilsvrc.ground_truth import ImageList

    path = tmp_path / "r.json"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        formats.read_coco_json(path, ImageList(("a", "b"), np.array([1, 2])), 200)
    assert (err.value.path, err.value.line, err.value.field) == (str(path), line, field) and message in str(err.value)


@pytest.mark.parametrize("rows, line, field, message", [
    (["ImageId,Prediction"], 1, None, "expected the header 'ImageId,PredictionString'"),
    (["ImageId,PredictionString", "ILSVRC2012_val_00000001,n02119789 0 0 9", "ILSVRC2012_val_00000002,"], 2,
     "PredictionString", "expected groups of 5 values"),
    (["ImageId,PredictionString", "ILSVRC2012_val_00000002,", "ILSVRC2012_val_00000001,n99999999 0 0 9 9"], 3,
     "guess 1 WNID", "expected a WNID of the 1000 classes, got 'n99999999'"),
    (["ImageId,PredictionString", "ILSVRC2012_val_00000001,n02119789 0 0 9 x"], 2, "guess 1 ymax",
     "expected a number, got 'x'"),
    (["ImageId,PredictionString", "ILSVRC2012_val_00000003,"], 2, "ImageId", "is not one of the 2 images"),
    (["ImageId,PredictionString", "ILSVRC2012_val_00000001,", "ILSVRC2012_val_00000001,"], 3, "ImageId",
     "has a second row (the first is line 2)"),
    (["ImageId,PredictionString", "ILSVRC2012_val_00000001,"], None, None,
     "no row for image ILSVRC2012_val_00000002 (1 of 2 images missing)"),
])
def test_kaggle_errors_name_file_line_and_field(rows, line, field, message, tmp_path):
    from ilsvrc.synsets import SynsetTable

    path = tmp_path / "s.csv"
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(InputError) as err:
        formats.read_kaggle_csv(path, 2, SynsetTable.bundled("clsloc"), with_boxes=True)
    assert (err.value.line, err.value.field) == (line, field) and message in str(err.value)


def test_sorted_index_and_wnid_submissions_score_like_devkit_ids(tmp_path):
    from ilsvrc.evaluation import evaluate_cls
    from ilsvrc.synsets import SynsetTable

    s = SynsetTable.bundled("clsloc")
    gt = tmp_path / "gt.txt"
    gt.write_text("1\n2\n3\n")
    ids = np.array([[1, 5], [3, 2], [9, 8]])
    formats.write_cls(tmp_path / "ids.txt", ids)
    formats.write_cls(tmp_path / "idx.txt", ids, fmt="sorted-index")
    formats.write_cls(tmp_path / "wnid.txt", ids, fmt="wnid")
    assert (tmp_path / "idx.txt").read_text().split("\n")[0] == f"{s.id_to_sorted_index[1]} {s.id_to_sorted_index[5]}"
    assert (tmp_path / "wnid.txt").read_text().startswith("n02119789 ")
    base = evaluate_cls(tmp_path / "ids.txt", gt).top_k_error
    assert base.tolist() == [2 / 3, 1 / 3, 1 / 3, 1 / 3, 1 / 3]
    for name, fmt in (("idx.txt", "sorted-index"), ("wnid.txt", "wnid")):
        np.testing.assert_array_equal(evaluate_cls(tmp_path / name, gt, fmt=fmt).top_k_error, base)
    with pytest.raises(InputError) as err:
        evaluate_cls(tmp_path / "wnid.txt", gt, fmt="sorted-index")
    assert err.value.line == 1 and err.value.field == "label in column 1"


def test_conformance_score_command_and_mistake_option(kit, tmp_path):
    folder, index = kit
    case = folder / "det_confidence_order_matching"
    env_cmd = [sys.executable, "-m", "ilsvrc", "conformance", "score", str(case / "submission.txt"), str(case)]
    subprocess.run(env_cmd + [str(tmp_path / "a.json")], check=True, cwd=ROOT)
    subprocess.run(env_cmd + [str(tmp_path / "b.json"), "--mistake", "det.file_order_matching"], check=True, cwd=ROOT)
    expected = json.loads((case / "expected.json").read_text())
    assert first_difference(expected, json.loads((tmp_path / "a.json").read_text()), "det") is None
    assert first_difference(expected, json.loads((tmp_path / "b.json").read_text()), "det").startswith("ap[1]")
