"""Bad input: exit status 2 and one message naming the file, the line and what was expected;
accepted variants (CRLF, tabs, trailing blanks, commas, gzip) score exactly like the clean file."""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys

import pytest
from conftest import MICRO, ROOT

from experiments.cli import main

DET = MICRO / "det_basic"
DET_META = str(ROOT / "ilsvrc/data/map_det.txt")
CLS_META = str(ROOT / "ilsvrc/data/map_clsloc.txt")


@pytest.fixture
def cls_gt(tmp_path):
    gt = tmp_path / "gt.txt"
    gt.write_text("5\n7\n4\n")
    return gt


def _cls(pred, gt):
    return ["evaluate", "cls", str(pred), "--ground-truth", str(gt), "--bootstrap", "0"]


def _det(pred):
    return ["evaluate", "det", str(pred), "--boxes", str(DET / "xml"), "--image-list", str(DET / "val.txt"),
            "--meta", DET_META, "--bootstrap", "0"]


def _loc(pred, gt):
    d = MICRO / "clsloc_rules"
    return ["evaluate", "loc", str(pred), "--ground-truth", str(gt), "--boxes", str(d / "xml"), "--meta", CLS_META,
            "--bootstrap", "0"]


def _error(capsys, argv):
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "Traceback" not in captured.err
    return lines[0]


@pytest.mark.parametrize("content, line, expected", [
    ("1 2\n3\n", None, "expected 3 lines (one per image, in the ground-truth order), got 2"),
    ("1\n2\n3\n4\n", 4, "expected 3 lines"),
    ("1 2\n\n3\n4\n", 2, "blank line in CLS submission"),
    ("1 2\nfoo 3\n4\n", 2, "guess 1: expected a number, got 'foo'"),
    ("1 2\n3 1001\n4\n", 2, "guess 2: expected an integer class id in 0..1000, got '1001'"),
    ("1 2\n3 -1\n4\n", 2, "guess 2: expected an integer class id in 0..1000, got '-1'"),
    ("1 2\n3 2.5\n4\n", 2, "guess 2: expected an integer class id in 0..1000, got '2.5'"),
    ("1 2\n3\nnan\n", 3, "guess 1: expected a finite number, got 'nan'"),
    ("1 inf\n3\n4\n", 1, "guess 2: expected a finite number, got 'inf'"),
])
def test_cls_submission_errors(content, line, expected, tmp_path, cls_gt, capsys):
    pred = tmp_path / "pred.txt"
    pred.write_text(content)
    message = _error(capsys, _cls(pred, cls_gt))
    where = f"{pred}:{line}: " if line else f"{pred}: "
    assert message.startswith(f"error: {where}") and expected in message, message


def test_unreadable_files(tmp_path, cls_gt, capsys):
    assert "No such file or directory" in _error(capsys, _cls(tmp_path / "missing.txt", cls_gt))
    assert "it is a directory" in _error(capsys, _cls(tmp_path, cls_gt))
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"1\n\xff\xfe\x00\n")
    assert f"{binary}:2: " in _error(capsys, _cls(binary, cls_gt))
    broken = tmp_path / "broken.txt.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00garbage")
    assert "corrupt gzip" in _error(capsys, _cls(broken, cls_gt)) or "cannot read" in _error(capsys, _cls(broken, cls_gt))
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    assert "CLS submission is empty" in _error(capsys, _cls(empty, cls_gt))


def test_accepted_variants_score_the_same(tmp_path, cls_gt, capsys):
    clean = tmp_path / "clean.txt"
    clean.write_text("5 1\n1 7\n4\n")
    scores = []
    for name, raw in [("crlf.txt", b"5 1\r\n1 7\r\n4\r\n"), ("tabs.txt", b"5\t1  \n\t1\t7\t\n4   \n\n\n"),
                      ("commas.txt", b"5,1\n1,7\n4\n"), ("bom.txt", b"\xef\xbb\xbf5 1\n1 7\n4\n")]:
        (tmp_path / name).write_bytes(raw)
        scores.append(tmp_path / name)
    with gzip.open(tmp_path / "gz.txt.gz", "wb") as handle:
        handle.write(clean.read_bytes())
    scores.append(tmp_path / "gz.txt.gz")
    out = tmp_path / "r.json"
    assert main(_cls(clean, cls_gt) + ["--json", str(out)]) == 0
    reference = json.loads(out.read_text())["top_k_error"]
    assert reference == [1 / 3, 0.0, 0.0, 0.0, 0.0]
    for path in scores:
        assert main(_cls(path, cls_gt) + ["--json", str(out)]) == 0
        assert json.loads(out.read_text())["top_k_error"] == reference, path


@pytest.mark.parametrize("content, line, expected", [
    ("1 1 0.9 10 10 59 59\n2 1 0.5 1 2 3\n", 2, "expected 7 values"),
    ("1 1 0.9 10 10 59 59\n9 1 0.5 1 2 3 4\n", 2, "image index: image index 9 is not in the image list"),
    ("1 1 0.9 10 10 59 59\n2 201 0.5 1 2 3 4\n", 2, "class id: expected an integer class id in 1..200, got '201'"),
    ("1 0 0.9 10 10 59 59\n", 1, "class id: expected an integer class id in 1..200, got '0'"),
    ("1 1 nan 10 10 59 59\n", 1, "confidence: expected a finite number, got 'nan'"),
    ("1 1 0.9 10 10 59 -inf\n", 1, "y2: expected a finite number, got '-inf'"),
    ("1.5 1 0.9 10 10 59 59\n", 1, "image index: expected an integer image index"),
    ("1 1 0.9 10 10 59 59\n\n1 1 0.9 10 10 59 59\n", 2, "blank line in DET submission"),
])
def test_det_submission_errors(content, line, expected, tmp_path, capsys):
    pred = tmp_path / "pred.txt"
    pred.write_text(content)
    message = _error(capsys, _det(pred))
    assert message.startswith(f"error: {pred}:{line}: ") and expected in message, message


def test_det_reversed_boxes_are_legal_and_missed(tmp_path, capsys):
    pred = tmp_path / "pred.txt"
    # the TP box of det_basic written reversed: legal, scored as a miss, counted in a warning
    pred.write_text("1 1 0.9 59 10 10 59\n1 1 0.8 10 10 59 59\n")
    out = tmp_path / "r.json"
    assert main(_det(pred) + ["--json", str(out)]) == 0
    got = json.loads(out.read_text())
    assert got["n_reversed_boxes"] == 1
    # ranked FP then TP: recall 1/3 reached at precision 1/2
    assert got["ap"]["1"] == pytest.approx(1 / 3 * 1 / 2)
    assert "1 detection(s) have reversed or empty boxes" in capsys.readouterr().err


def test_det_empty_submission_scores_zero(tmp_path, capsys):
    pred = tmp_path / "pred.txt"
    pred.write_text("")
    out = tmp_path / "r.json"
    assert main(_det(pred) + ["--json", str(out)]) == 0
    assert json.loads(out.read_text())["ap"] == {"1": 0.0}
    assert "no detections" in capsys.readouterr().err


def test_loc_submission_errors(tmp_path, capsys):
    gt = MICRO / "clsloc_rules" / "gt.txt"
    good = (MICRO / "clsloc_rules" / "pred.txt").read_text().splitlines()
    pred = tmp_path / "pred.txt"
    pred.write_text("\n".join(good[:1] + ["7 100 100 199"] + good[2:]) + "\n")
    assert f"{pred}:2: expected groups of 5 values" in _error(capsys, _loc(pred, gt))
    pred.write_text("\n".join(good[:2] + ["9 200 200 250 nan"] + good[3:]) + "\n")
    assert f"{pred}:3: guess 1 y2: expected a finite number, got 'nan'" in _error(capsys, _loc(pred, gt))
    pred.write_text("\n".join(good[:3] + ["12.5 0 0 99 99"] + good[4:]) + "\n")
    assert f"{pred}:4: guess 1 class id: expected an integer class id in 0..1000" in _error(capsys, _loc(pred, gt))
    pred.write_text("\n".join(good[:-1]) + "\n")
    assert "expected 7 lines" in _error(capsys, _loc(pred, gt))


def test_blacklist_and_ground_truth_errors(tmp_path, capsys):
    d = MICRO / "clsloc_rules"
    bl = tmp_path / "bl.txt"
    bl.write_text("3\n3\n")
    message = _error(capsys, _loc(d / "pred.txt", d / "gt.txt") + ["--blacklist", str(bl)])
    assert f"{bl}:2: image index: image index 3 is listed twice" in message
    bl.write_text("3\n8\n")
    assert f"{bl}:2: image index: expected an integer image index in 1..7, got '8'" in \
        _error(capsys, _loc(d / "pred.txt", d / "gt.txt") + ["--blacklist", str(bl)])
    gt = tmp_path / "gt.txt"
    gt.write_text("5\n0\n4\n")
    pred = tmp_path / "p.txt"
    pred.write_text("1\n1\n1\n")
    assert f"{gt}:2: label 1: expected at least one non-zero class id" in _error(capsys, _cls(pred, gt))


def test_xml_errors(tmp_path, capsys):
    xml = tmp_path / "xml"
    xml.mkdir()
    for f in (DET / "xml").iterdir():
        (xml / f.name).write_text(f.read_text())
    first = sorted(xml.iterdir())[0]
    first.write_text(first.read_text().replace("<xmax>59</xmax>", "<xmax>5x9</xmax>"))
    argv = _det(DET / "pred.txt")
    argv[argv.index("--boxes") + 1] = str(xml)
    assert f"{first}: bndbox/xmax: object 1 (n02672831): expected a number, got '5x9'" in _error(capsys, argv)
    first.write_text("<annotation><object>")
    assert f"{first}:1: malformed XML" in _error(capsys, argv)
    first.unlink()
    assert "no annotation file for listed image 'micro_val_0001'" in _error(capsys, argv)


def test_clsloc_xml_folder_must_match_ground_truth(tmp_path, capsys):
    d = MICRO / "clsloc_rules"
    xml = tmp_path / "xml"
    xml.mkdir()
    for f in sorted((d / "xml").iterdir())[:-1]:
        (xml / f.name).write_text(f.read_text())
    argv = _loc(d / "pred.txt", d / "gt.txt")
    argv[argv.index("--boxes") + 1] = str(xml)
    assert "expected 7 .xml files (one per ground-truth line), found 6" in _error(capsys, argv)


def test_console_script_exit_status_and_no_traceback(tmp_path):
    pred = tmp_path / "pred.txt"
    pred.write_text("1\nx\n1\n")
    gt = tmp_path / "gt.txt"
    gt.write_text("1\n2\n3\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "ilsvrc", "evaluate", "cls", str(pred), "--ground-truth", str(gt)],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {pred}:2: guess 1: expected a number, got 'x'"
    proc = subprocess.run([sys.executable, "-m", "ilsvrc", "evaluate", "cls", str(gt), "--ground-truth", str(gt),
                           "--bootstrap", "0"], capture_output=True, text=True, env=env, cwd=ROOT)
    assert proc.returncode == 0 and "flat top-k error" in proc.stdout and "0.00000" in proc.stdout
