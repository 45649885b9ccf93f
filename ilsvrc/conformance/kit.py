"""Export the conformance kit, score a case, check a scorer's results, run a scorer.

A kit folder holds ``cases.json`` (the index) and one folder per case::

    kit/cases.json
    kit/det_tie_order/case.json        the case's entry of cases.json, with its files
    kit/det_tie_order/expected.json    the numbers, in the schema of ``evaluate --json``
    kit/det_tie_order/submission.txt   (.csv / .json in the Kaggle / COCO formats)
    kit/det_tie_order/val.txt, xml/, map_det.txt, blacklist.txt   (official formats)

A scorer under test reads a case's submission and files and writes one JSON per case
(``RESULTS/<case>.json``) in the same schema; ``check`` compares the numbers of the
task (``top_k_error`` and ``hierarchical_cost``; ``top_k_error`` and
``cls_top_k_error``; ``ap``, ``mean_ap`` and ``median_ap``) within :data:`TOLERANCE`,
NaN (``null`` or ``NaN``) matching NaN only.
"""
from __future__ import annotations

import json
import math
import os
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from .. import formats
from ..errors import InputError
from ..files import atomic_write
from ..submissions import _fmt
from ..synsets import SynsetTable
from .cases import RULES, Case, all_cases
from .scoring import MISTAKES, compute, load_inputs

TOLERANCE = 1e-9
COMPARED = {"cls": ("top_k_error", "hierarchical_cost"), "loc": ("top_k_error", "cls_top_k_error"),
            "det": ("ap", "mean_ap", "median_ap")}
PLACEHOLDERS = ("{submission}", "{case_dir}", "{out_json}")


# --------------------------------------------------------------------------- writing a case
def _write_xml(path: Path, name: str, objects, synsets: SynsetTable) -> None:
    parts = ["<annotation>", "\t<folder>val</folder>", f"\t<filename>{name}</filename>",
             "\t<source>\n\t\t<database>ILSVRC</database>\n\t</source>"]
    for cid, box in objects:
        coords = "".join(f"\t\t\t<{k}>{_fmt(v)}</{k}>\n" for k, v in zip(("xmin", "ymin", "xmax", "ymax"), box))
        parts.append(f"\t<object>\n\t\t<name>{synsets.wnid_of(int(cid))}</name>\n\t\t<bndbox>\n{coords}"
                     "\t\t</bndbox>\n\t</object>")
    atomic_write(path, "\n".join(parts + ["</annotation>"]) + "\n")


def _bundled(name: str) -> str:
    return (resources.files("ilsvrc") / "data" / name).read_text()


def _write_ground_truth(case: Case, folder: Path) -> dict:
    """Write the case's ground truth in the official formats; returns {role: relative path}."""
    files = {}
    if case.ground_truth is not None:
        atomic_write(folder / "ground_truth.txt", "".join(" ".join(map(str, r)) + "\n" for r in case.ground_truth))
        files["ground_truth"] = "ground_truth.txt"
    if case.cost_matrix is not None:
        import scipy.io

        scipy.io.savemat(folder / "cost_matrix.mat", {"cost_matrix": case.cost_matrix})
        atomic_write(folder / "cost_matrix.txt", "".join(" ".join(_fmt(v) for v in row) + "\n"
                                                         for row in case.cost_matrix.tolist()))
        files["cost_matrix"] = "cost_matrix.mat"
    if case.task == "loc":
        synsets = SynsetTable.bundled("clsloc")
        (folder / "xml").mkdir(exist_ok=True)
        for i, objs in enumerate(case.objects, start=1):
            _write_xml(folder / "xml" / f"ILSVRC2012_val_{i:08d}.xml", f"ILSVRC2012_val_{i:08d}", objs, synsets)
        atomic_write(folder / "map_clsloc.txt", _bundled("map_clsloc.txt"))
        files.update(boxes="xml", meta="map_clsloc.txt")
        if case.rules == "loc2013":
            atomic_write(folder / "blacklist.txt", "".join(f"{i}\n" for i in case.blacklist or []))
            files["blacklist"] = "blacklist.txt"
    if case.task == "det":
        synsets = SynsetTable.bundled("det")
        (folder / "xml").mkdir(exist_ok=True)
        for name, objs in zip(case.image_names, case.objects):
            _write_xml(folder / "xml" / f"{name}.xml", name, objs, synsets)
        atomic_write(folder / "val.txt", "".join(f"{n} {i}\n" for i, n in enumerate(case.image_names, start=1)))
        atomic_write(folder / "map_det.txt", _bundled("map_det.txt"))
        files.update(boxes="xml", image_list="val.txt", meta="map_det.txt")
        if case.blacklist is not None:
            atomic_write(folder / "blacklist.txt", "".join(f"{i} {synsets.wnid_of(c)}\n" for i, c in case.blacklist))
            files["blacklist"] = "blacklist.txt"
    return files


def evaluate_argv(task: str, files: dict, fmt: str) -> list:
    """The ``ilsvrc-classic`` arguments that score the case (paths relative to its folder)."""
    argv = ["evaluate", task, files["submission"]]
    options = {"ground_truth": "--ground-truth", "cost_matrix": "--cost-matrix", "boxes": "--boxes",
               "image_list": "--image-list", "meta": "--meta", "blacklist": "--blacklist"}
    for role, flag in options.items():
        if role in files:
            argv += [flag, files[role]]
    return argv + ["--format", fmt, "--bootstrap", "0"]


def _raw_rows(path: Path) -> list:
    from .._text import read_token_lines

    return [[float(t) for t in row] for row in read_token_lines(path, "submission").tokens]


def _write_submission(case: Case, folder: Path, inputs, fmt: str) -> str:
    """Write the case's submission in ``fmt``; returns its file name (ValueError: not expressible)."""
    name = "submission" + formats.SUFFIX.get(fmt, ".txt")
    if fmt == "devkit":
        atomic_write(folder / name, case.submission)
        return name
    if case.task == "cls":
        rows = _raw_rows(folder / "submission.txt")
        formats.write_cls(folder / name, np.array([r + [0] * (max(map(len, rows)) - len(r)) for r in rows], np.int64),
                          fmt=fmt)
    elif case.task == "loc":
        rows = _raw_rows(folder / "submission.txt")
        width = max(len(r) for r in rows) // 5
        groups = np.zeros((len(rows), width, 5))
        for i, r in enumerate(rows):
            groups[i, : len(r) // 5] = np.reshape(r, (-1, 5))
        formats.write_loc(folder / name, groups[:, :, 0].astype(np.int64), groups[:, :, 1:], fmt=fmt)
    else:
        sub = inputs.pred
        if fmt == "coco-json" and not formats.coco_round_trip_exact(sub.box):
            raise ValueError("a box does not survive [x, y, w, h] bit for bit")
        index = np.arange(1, inputs.n_images + 1)[sub.image]
        formats.write_det(folder / name, index, sub.label, sub.score, sub.box, fmt=fmt)
    return name


def _differs(expected: dict, got: dict, task: str, tolerance: float = 1e-12) -> bool:
    return first_difference(expected, got, task, tolerance) is not None


def export(directory, *, task: str = "all", fmt: str = "devkit", force: bool = False) -> dict:
    """Write the kit (see the module docstring); returns the index written to ``cases.json``.

    Every expected number is the evaluator's; where the official devkit code printed a
    number for the same input (the micro cases) the two are checked to agree to 1e-12
    here.  Each known mistake of the case's task is applied, and the mistakes that change
    the numbers are listed as ``broken_by``.
    """
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()):
        if not force and not (directory / "cases.json").is_file():
            raise InputError("the folder exists and is not a conformance kit; give an empty or new folder",
                             path=directory)
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    index = {"kit": "ilsvrc-classic conformance kit", "version": 1, "format": fmt, "tolerance": TOLERANCE,
             "placeholders": list(PLACEHOLDERS), "rules": RULES,
             "mistakes": {m.name: m.description for m in MISTAKES}, "cases": [], "skipped": []}
    for case in all_cases(task):
        if fmt not in formats.FORMATS[case.task]:
            continue
        if fmt in ("kaggle-csv", "coco-json") and "other" not in case.layouts:
            index["skipped"].append({"name": case.name, "reason": "the rule is about the devkit's text layout"})
            continue
        folder = directory / case.name
        folder.mkdir()
        files = _write_ground_truth(case, folder)
        files["submission"] = "submission.txt"
        atomic_write(folder / "submission.txt", case.submission)
        meta = {"name": case.name, "task": case.task, "rules": case.rules, "rule": case.rule, "kind": case.kind,
                "files": files}
        inputs = load_inputs(folder, meta, folder / "submission.txt", "devkit")
        expected = {k: v for k, v in compute(inputs).items() if k != "warnings"}
        if case.official is not None:
            _check_official(case, expected)
        broken_by = [m.name for m in MISTAKES if m.task == case.task and _differs(expected, compute(inputs, m.name),
                                                                                    case.task)]
        if fmt != "devkit":
            try:
                files["submission"] = _write_submission(case, folder, inputs, fmt)
                again = compute(load_inputs(folder, meta, folder / files["submission"], fmt))
                if _differs(expected, again, case.task):
                    raise ValueError("the converted submission scores differently")
            except ValueError as exc:
                shutil.rmtree(folder)
                index["skipped"].append({"name": case.name, "reason": f"not expressible in {fmt}: {exc}"})
                continue
            if files["submission"] != "submission.txt":
                (folder / "submission.txt").unlink()
        meta.update(format=fmt, files=files, evaluate=evaluate_argv(case.task, files, fmt), tolerance=TOLERANCE,
                    broken_by=broken_by)
        if case.official is not None:
            meta["official"] = case.official
        if case.seed is not None:
            meta["seed"] = case.seed
        atomic_write(folder / "case.json", json.dumps(meta, indent=1) + "\n")
        atomic_write(folder / "expected.json", json.dumps(expected, indent=1) + "\n")
        index["cases"].append(meta)
    atomic_write(directory / "cases.json", json.dumps(index, indent=1) + "\n")
    return index


def _check_official(case: Case, expected: dict) -> None:
    ks = case.official.get("k")
    for key, values in case.official["values"].items():
        got = expected[key]
        got = list(got.values()) if isinstance(got, dict) else (got if isinstance(got, list) else [got])
        if ks is not None:
            got = [got[k - 1] for k in ks]
        want = [float("nan") if v is None else v for v in values]
        have = [float("nan") if v is None else v for v in got]
        if len(want) != len(have) or not np.allclose(have, want, rtol=0, atol=1e-12, equal_nan=True):
            raise AssertionError(f"{case.name}: {key} {have} differs from the official {want}")


# --------------------------------------------------------------------------- scoring and checking
def read_index(directory) -> dict:
    path = Path(directory) / "cases.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError("not a conformance kit (no cases.json); write one with 'conformance export'",
                         path=directory) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed cases.json ({exc.msg})", path=path, line=exc.lineno) from None


def score_case(submission, case_dir, *, fmt: str | None = None, mistake: str | None = None) -> dict:
    """Score a submission for a case folder with the evaluator (or with one known mistake)."""
    case_dir = Path(case_dir)
    try:
        meta = json.loads((case_dir / "case.json").read_text())
    except FileNotFoundError:
        raise InputError("not a case folder (no case.json)", path=case_dir) from None
    return compute(load_inputs(case_dir, meta, submission, fmt or meta.get("format", "devkit")), mistake)


def _as_number(value):
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(value)
    return float(value)


def first_difference(expected: dict, got: dict, task: str, tolerance: float = TOLERANCE) -> str | None:
    """The first compared number that differs, as ``"key[i]: got G, expected E"``, or None."""
    for key in COMPARED[task]:
        if key not in expected:
            continue
        if key not in got:
            return f"{key}: missing from the result"
        want, have = expected[key], got[key]
        if isinstance(want, dict):
            if not isinstance(have, dict):
                return f"{key}: expected an object of per-class values"
            extra = sorted(set(have) - set(want), key=lambda c: (len(c), c))
            pairs = [(f"{key}[{c}]", want[c], have.get(c, "missing")) for c in want]
            if extra:
                pairs.append((f"{key}[{extra[0]}]", "absent (class above C)", have[extra[0]]))
        elif isinstance(want, list):
            if not isinstance(have, list) or len(have) != len(want):
                return f"{key}: expected a list of {len(want)} values, got {have!r}"[:120]
            pairs = [(f"{key}[{k}]", w, h) for k, (w, h) in enumerate(zip(want, have), start=1)]
        else:
            pairs = [(key, want, have)]
        for label, w, h in pairs:
            try:
                w, h = _as_number(w), _as_number(h)
            except TypeError:
                return f"{label}: got {h!r}, expected {w!r}"
            if math.isnan(w) or math.isnan(h):
                if math.isnan(w) != math.isnan(h):
                    return f"{label}: got {h:.10g}, expected {w:.10g}"
            elif abs(w - h) > tolerance:
                return f"{label}: got {h:.10g}, expected {w:.10g}"
    return None


@dataclass
class Verdict:
    """The outcome of one case."""

    name: str
    rules: str
    status: str          # "pass", "fail", "missing" or "error"
    detail: str = ""


def check(directory, results) -> list[Verdict]:
    """Compare ``RESULTS/<case>.json`` with every case's expected numbers."""
    index = read_index(directory)
    results = Path(results)
    verdicts = []
    for meta in index["cases"]:
        expected = json.loads((Path(directory) / meta["name"] / "expected.json").read_text())
        path = results / f"{meta['name']}.json"
        error = results / f"{meta['name']}.error"
        if not path.is_file():
            detail = error.read_text().strip() if error.is_file() else f"no {path.name}"
            verdicts.append(Verdict(meta["name"], meta["rules"], "error" if error.is_file() else "missing", detail))
            continue
        try:
            got = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            verdicts.append(Verdict(meta["name"], meta["rules"], "fail", f"malformed JSON ({exc.msg})"))
            continue
        if not isinstance(got, dict):
            verdicts.append(Verdict(meta["name"], meta["rules"], "fail", "expected a JSON object"))
            continue
        diff = first_difference(expected, got, meta["task"], meta.get("tolerance", TOLERANCE))
        verdicts.append(Verdict(meta["name"], meta["rules"], "fail" if diff else "pass", diff or ""))
    return verdicts


def matching_mistakes(directory, verdicts: list[Verdict]) -> list[str]:
    """Known mistakes whose cases are exactly the failed ones."""
    index = read_index(directory)
    failed = {v.name for v in verdicts if v.status in ("fail", "error")}
    checked = {v.name for v in verdicts if v.status != "missing"}
    if not failed:
        return []
    return [m for m in index["mistakes"]
            if {c["name"] for c in index["cases"] if m in c.get("broken_by", [])} & checked == failed]


def report(directory, verdicts: list[Verdict]) -> list[str]:
    """The table printed by ``check`` and ``run``."""
    index = read_index(directory)
    rules = {c["name"]: c["rule"] for c in index["cases"]}
    width = max([len(v.name) for v in verdicts] + [4])
    lines = [f"{'case':<{width}}  {'rules':<8} {'result':<8} first differing number (tolerance "
             f"{index.get('tolerance', TOLERANCE):g})"]
    for v in verdicts:
        lines.append(f"{v.name:<{width}}  {v.rules:<8} {v.status.upper() if v.status != 'pass' else 'pass':<8} "
                     f"{v.detail}".rstrip())
    counts = {s: sum(v.status == s for v in verdicts) for s in ("pass", "fail", "error", "missing")}
    lines.append(f"{len(verdicts)} cases: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n or s == "pass"))
    broken = [v for v in verdicts if v.status in ("fail", "error")]
    if broken:
        lines.append("\nrules broken:")
        lines += [f"  {v.name}: {rules[v.name]}" for v in broken]
        for name in matching_mistakes(directory, verdicts):
            lines.append(f"\nthe failures are exactly the cases of a known mistake, {name}: the scorer "
                         f"{index['mistakes'][name]}")
    return lines


def run(directory, command: str, results=None, *, timeout: float = 120.0) -> tuple[list[Verdict], Path]:
    """Run ``command`` (with the placeholders) for every case, then :func:`check` the results."""
    index = read_index(directory)
    if not any(p in command for p in PLACEHOLDERS):
        raise InputError(f"the command must use the placeholders {', '.join(PLACEHOLDERS)}")
    directory = Path(directory).resolve()
    results = Path(results) if results else Path(tempfile.mkdtemp(prefix="conformance-results-"))
    results.mkdir(parents=True, exist_ok=True)
    template = shlex.split(command)
    for meta in index["cases"]:
        case_dir = directory / meta["name"]
        out = (results / f"{meta['name']}.json").resolve()
        for stale in (out, out.with_suffix(".error")):
            if stale.exists():
                stale.unlink()
        values = {"{submission}": str(case_dir / meta["files"]["submission"]), "{case_dir}": str(case_dir),
                  "{out_json}": str(out)}
        argv = [_substitute(token, values) for token in template]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=os.getcwd())
        except (OSError, subprocess.TimeoutExpired) as exc:
            out.with_suffix(".error").write_text(f"could not run the scorer: {exc}\n")
            continue
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or [""])[-1][:100]
            out.with_suffix(".error").write_text(f"scorer exited with status {done.returncode}: {tail}\n")
            if out.exists():
                out.unlink()
    return check(directory, results), results


def _substitute(token: str, values: dict) -> str:
    for key, value in values.items():
        token = token.replace(key, value)
    return token
