"""Plain, independent CLS-LOC and DET scorers for testing the conformance kit.

Written from the rules (METRICS.md) in plain Python, sharing no code with the evaluator:
correct by default, and each ``--bug`` breaks one rule the way real scorers do.  The kit
must see each bug exactly in the cases it lists under the matching known mistake.

    python tests/conformance_scorers.py [--bug NAME ...] SUBMISSION CASE_DIR OUT_JSON
"""
from __future__ import annotations

import json
import math
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

BUGS = ("no_plus_one", "ignore_blacklist", "file_order", "fixed_threshold")


def _rows(path):
    text = Path(path).read_text().replace(",", " ")
    return [[float(t) for t in line.split()] for line in text.splitlines() if line.strip()]


def _ids(map_file):
    return {line.split()[0]: int(line.split()[1]) for line in Path(map_file).read_text().splitlines() if line.strip()}


def _objects(xml_file, ids):
    out = []
    for obj in ET.parse(xml_file).getroot().iter("object"):
        box = obj.find("bndbox")
        out.append((ids[obj.findtext("name").strip()],
                    tuple(float(box.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))))
    return out


def _iou(a, b, one):
    iw = min(a[2], b[2]) - max(a[0], b[0]) + one
    ih = min(a[3], b[3]) - max(a[1], b[1]) + one
    if iw <= 0 or ih <= 0:
        return -1.0
    union = (a[2] - a[0] + one) * (a[3] - a[1] + one) + (b[2] - b[0] + one) * (b[3] - b[1] + one) - iw * ih
    return iw * ih / union


def score_loc(submission, case, bugs=()):
    one = 0 if "no_plus_one" in bugs else 1
    ids = _ids(case / "map_clsloc.txt")
    truth = [[int(g) for g in row if g] for row in _rows(case / "ground_truth.txt")]
    objects = [_objects(case / "xml" / f"ILSVRC2012_val_{i:08d}.xml", ids) for i in range(1, len(truth) + 1)]
    guesses = [[row[j:j + 5] for j in range(0, len(row), 5)][:5] for row in _rows(submission)]
    blacklist = set()
    if (case / "blacklist.txt").exists() and "ignore_blacklist" not in bugs:
        blacklist = {int(r[0]) - 1 for r in _rows(case / "blacklist.txt")}
    loc, cls = [], []
    for k in range(1, 6):
        loc_errors, cls_errors = [], []
        for i, (labels, top) in enumerate(zip(truth, guesses)):
            top = top[:k]
            found = [any(int(g[0]) == c and any(o == c and _iou(g[1:], box, one) >= 0.5 for o, box in objects[i])
                         for g in top) for c in labels]
            cls_errors.append(sum(c not in [int(g[0]) for g in top] for c in labels) / len(labels))
            if i not in blacklist:
                loc_errors.append(sum(not f for f in found) / len(labels))
        loc.append(sum(loc_errors) / len(loc_errors))
        cls.append(sum(cls_errors) / len(cls_errors))
    return {"task": "loc", "top_k_error": loc, "cls_top_k_error": cls}


def _threshold(box, one, fixed):
    w, h = box[2] - box[0] + one, box[3] - box[1] + one
    return 0.5 if fixed else min(0.5, w * h / ((w + 10) * (h + 10)))


def _vocap(recall, precision):
    mrec, mpre = [0.0] + recall + [1.0], [0.0] + precision + [0.0]
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    return sum((mrec[i] - mrec[i - 1]) * mpre[i] for i in range(1, len(mrec)) if mrec[i] != mrec[i - 1])


def score_det(submission, case, bugs=()):
    one = 0 if "no_plus_one" in bugs else 1
    ids = _ids(case / "map_det.txt")
    listed = [line.split() for line in (case / "val.txt").read_text().splitlines() if line.strip()]
    position = {int(index): p for p, (_, index) in enumerate(listed)}
    objects = [_objects(case / "xml" / f"{name}.xml", ids) for name, _ in listed]
    blacklist = set()
    if (case / "blacklist.txt").exists() and "ignore_blacklist" not in bugs:
        for line in (case / "blacklist.txt").read_text().split("\n"):
            if line.strip():
                blacklist.add((position[int(line.split()[0])], ids[line.split()[1]]))
    dets = [(position[int(r[0])], int(r[1]), r[2], tuple(r[3:7]), line) for line, r in enumerate(_rows(submission))]
    ranked = sorted(dets, key=lambda d: (-d[2], d[0], d[4]))
    taken, outcome = set(), {}
    for d in (sorted(dets, key=lambda d: d[4]) if "file_order" in bugs else ranked):
        image, label, _, box, line = d
        if (image, label) in blacklist:
            continue
        best, pick = -math.inf, None
        for j, (c, obj) in enumerate(objects[image]):
            if c != label or (image, j) in taken:
                continue
            overlap = _iou(box, obj, one)
            if overlap >= _threshold(obj, one, "fixed_threshold" in bugs) and overlap > best:
                best, pick = overlap, j
        if pick is not None:
            taken.add((image, pick))
        outcome[line] = pick is not None
    n_classes = max(c for objs in objects for c, _ in objs)
    ap = []
    for c in range(1, n_classes + 1):
        npos = sum(1 for i, objs in enumerate(objects) for o, _ in objs if o == c and (i, c) not in blacklist)
        tp = fp = 0
        recall, precision = [], []
        for d in ranked:
            if d[1] == c and d[4] in outcome:
                tp, fp = tp + outcome[d[4]], fp + (not outcome[d[4]])
                recall.append(tp / npos if npos else math.nan)
                precision.append(tp / (tp + fp))
        ap.append(_vocap(recall, precision) if npos else math.nan)
    ordered = sorted(ap)
    mean = sum(ap) / len(ap)
    median = math.nan if any(map(math.isnan, ap)) else (ordered[(len(ap) - 1) // 2] + ordered[len(ap) // 2]) / 2
    return {"task": "det", "mean_ap": mean, "median_ap": median, "ap": {str(c): v for c, v in enumerate(ap, 1)}}


def score(submission, case_dir, bugs=()):
    case = Path(case_dir)
    task = json.loads((case / "case.json").read_text())["task"]
    return {"loc": score_loc, "det": score_det}[task](submission, case, bugs)


if __name__ == "__main__":
    args = sys.argv[1:]
    bugs = [args[i + 1] for i, a in enumerate(args) if a == "--bug"]
    positional = [a for i, a in enumerate(args) if a != "--bug" and (i == 0 or args[i - 1] != "--bug")]
    Path(positional[2]).write_text(json.dumps(score(positional[0], positional[1], bugs)))
