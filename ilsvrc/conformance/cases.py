"""The cases of the conformance kit: one rule of the official ILSVRC evaluation each.

A :class:`Case` holds a submission in the devkit's own text format and the ground truth
it is scored against, in memory; :mod:`ilsvrc.conformance.kit` writes it to files in
the official formats and computes its expected numbers.  Three kinds:

* **official**: the hand-built micro cases whose numbers the official devkit code
  printed under GNU Octave (``ilsvrc/data/micro_cases``, © The ImageNet Project, MIT-style
  licence ``ilsvrc/data/COPYING.devkit``);
* **rule**: small hand-built cases, each isolating one rule of ``METRICS``-level detail
  (label 0, ragged lines, ties, blacklists, the ``+1`` in IoU, the small-object
  threshold, ...), built so that the rule decides the numbers;
* **random**: seeded random submissions mixing every rule of their task.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

RULES = {
    "cls": "CLS flat top-k error, ILSVRC 2010-2017 (eval_flat.m)",
    "hie": "CLS hierarchical cost, ILSVRC 2010-2011 (eval_hie.m)",
    "loc2012": "CLS-LOC, ILSVRC 2012 rules: every image counts (eval_localization_flat.m)",
    "loc2013": "CLS-LOC, ILSVRC 2013-2017 rules: blacklisted images left out (eval_clsloc.m)",
    "det": "DET, ILSVRC 2013-2017 (eval_detection.m)",
}
TASK_OF_RULES = {"cls": "cls", "hie": "cls", "loc2012": "loc", "loc2013": "loc", "det": "det"}


@dataclass
class Case:
    """One case of the kit.

    Attributes
    ----------
    name : str
        Folder name (``det_tie_order``).
    rules : str
        Key of :data:`RULES`: the task and year rules that apply.
    rule : str
        The rule the case isolates, in one sentence.
    submission : str
        The submission in the devkit's text format (devkit ids).
    ground_truth : list of list of int, optional
        CLS / CLS-LOC: the devkit ids of each image (``ground_truth.txt``).
    cost_matrix : ndarray, optional
        Hierarchical cost between the classes (``cost_matrix.mat``).
    objects : list of list of (int, tuple), optional
        CLS-LOC / DET: the (devkit id, (x1, y1, x2, y2)) objects of each image.
    blacklist : list, optional
        CLS-LOC: 1-based image numbers; DET: (image index, devkit id) pairs.
    image_names : list of str, optional
        DET: names of the images (``val.txt`` lists them with indices 1..n).
    official : dict, optional
        What the official devkit code printed: ``{"source": ..., "values": {key: [...]},
        "k": [...]}`` (``k``: which of k = 1..5 the values cover).
    kind : str
        ``"official"``, ``"rule"`` or ``"random"``.
    layouts : tuple of str
        ``"text"`` where only the devkit's text layout can express the case.
    """

    name: str
    rules: str
    rule: str
    submission: str
    ground_truth: list | None = None
    cost_matrix: np.ndarray | None = None
    objects: list | None = None
    blacklist: list | None = None
    image_names: list | None = None
    official: dict | None = None
    kind: str = "rule"
    layouts: tuple = ("text", "other")
    seed: int | None = field(default=None)

    @property
    def task(self) -> str:
        return TASK_OF_RULES[self.rules]


def _lines(rows) -> str:
    return "".join(" ".join(str(v) for v in row) + "\n" for row in rows)


def _det_names(n: int) -> list:
    return [f"ILSVRC2013_val_{i:08d}" for i in range(1, n + 1)]


# --------------------------------------------------------------------------- official (micro cases)
def _micro(name: str):
    return resources.files("ilsvrc") / "data" / "micro_cases" / name


def official_cases() -> list[Case]:
    """The micro cases with the numbers the official code printed for them."""
    from ..ground_truth import read_det_blacklist, read_image_list, read_voc_xml
    from ..synsets import SynsetTable

    base = resources.files("ilsvrc") / "data" / "micro_cases"
    expected = json.loads((base / "expected.json").read_text())
    manifest = json.loads((base / "manifest.json").read_text())
    clsloc, det = SynsetTable.bundled("clsloc"), SynsetTable.bundled("det")
    cases = []
    d = base / "flat_rules"
    cases.append(Case("cls_official_flat_rules", "cls", manifest["flat_rules"]["doc"],
                      (d / "pred.txt").read_text(), _read_rows(d / "gt.txt"), kind="official",
                      official={"source": "micro_cases/flat_rules: eval_flat.m", "k": [1, 2, 3, 4, 5],
                                "values": {"top_k_error": expected["flat_rules"]["error"]}}))
    d = base / "hie_rules"
    hie = expected["hie_rules"]
    cases.append(Case("hie_official_rules", "hie", manifest["hie_rules"]["doc"], (d / "pred.txt").read_text(),
                      _read_rows(d / "gt.txt"), cost_matrix=np.array(_read_rows(d / "cost_matrix.txt"), float),
                      kind="official", official={"source": "micro_cases/hie_rules: eval_hie.m", "k": hie["k"],
                                                 "values": {"hierarchical_cost": hie["error"]}}))
    d = base / "clsloc_rules"
    loc = expected["clsloc_rules"]
    objects = []
    for i in range(1, 8):
        objs = read_voc_xml(d / "xml" / f"ILSVRC2012_val_{i:08d}.xml")
        objects.append([(clsloc.id_of(w), tuple(b.tolist())) for w, b in objs])
    pred, gt = (d / "pred.txt").read_text(), _read_rows(d / "gt.txt")
    for rules, key, blacklist in (("loc2013", "eval_clsloc_2015_blacklist", [3]),
                                  ("loc2012", "eval_localization_flat_2012", None)):
        numbers = loc[key]
        values = {"top_k_error": numbers.get("loc_error", numbers.get("error"))}
        if "cls_error" in numbers:
            values["cls_top_k_error"] = numbers["cls_error"]
        cases.append(Case(f"loc_official_rules_{rules[3:]}", rules, manifest["clsloc_rules"]["doc"], pred, gt,
                          objects=objects, blacklist=blacklist, kind="official",
                          official={"source": f"micro_cases/clsloc_rules: {key}", "k": numbers["k"],
                                    "values": values}))
    for micro in ("det_basic", "det_reassign_second_gt", "det_small_object_threshold", "det_tie_order",
                  "det_blacklist", "det_empty_image_fp", "det_class_without_gt", "det_float_coords"):
        d = base / micro
        images = read_image_list(d / "val.txt")
        objects = []
        for image_name in images.names:
            objs = read_voc_xml(d / "xml" / f"{image_name}.xml")
            objects.append([(det.id_of(w), tuple(b.tolist())) for w, b in objs])
        blacklist = None
        if (d / "blacklist.txt").is_file():
            with resources.as_file(d / "blacklist.txt") as path:
                pairs = read_det_blacklist(path, det, images)
            blacklist = [(int(images.indices[p]), int(c)) for p, c in pairs]
        e = expected[micro]
        cases.append(Case(f"det_official_{micro[4:]}", "det", manifest[micro]["doc"], (d / "pred.txt").read_text(),
                          objects=objects, blacklist=blacklist, image_names=list(images.names), kind="official",
                          official={"source": f"micro_cases/{micro}: eval_detection.m",
                                    "values": {"ap": e["ap"], "mean_ap": [e["mean_ap"]],
                                               "median_ap": [e["median_ap"]]}}))
    return cases


def _read_rows(path) -> list:
    return [[int(float(t)) for t in line.split()] for line in path.read_text().splitlines() if line.strip()]


# --------------------------------------------------------------------------- rules, hand-built
def cls_cases() -> list[Case]:
    full = [[5, 1, 2, 3, 4], [1, 7, 2, 3, 4], [1, 2, 9, 3, 4], [1, 2, 3, 11, 4], [1, 2, 3, 4, 13], [1, 2, 3, 4, 6]]
    gt = [[5], [7], [9], [11], [13], [15]]
    return [
        Case("cls_top_k", "cls", "An image is an error at k when its label is not among its first k guesses "
             "(k = 1..5), and the error is the mean over images.", _lines(full), gt),
        Case("cls_ragged_lines", "cls", "A line with fewer than 5 guesses is padded with 'no guess': the missing "
             "guesses never match and the next line's guesses stay on the next image.",
             _lines([[3, 5], [7, 1, 2, 3, 4], [1], [9, 1, 2], [2, 11]]), [[5], [7], [9], [9], [11]]),
        Case("cls_label_zero", "cls", "A guess of 0 means 'no guess' and never matches, not even the 0 that pads "
             "a shorter line of a multi-label ground truth.",
             _lines([[1, 2, 3, 4, 6], [0, 5, 1, 2, 3], [0, 8, 1, 2, 3]]), [[7, 9], [5], [8]]),
        Case("cls_more_than_five", "cls", "Guesses after the fifth are ignored: a right sixth guess does not "
             "count (the official reader keeps 5).",
             _lines([[1, 2, 3, 4, 6, 5], [1, 2, 3, 4, 6, 8, 7], [9, 1, 2, 3, 4, 6]]), [[5], [7], [9]]),
        Case("cls_duplicate_guesses", "cls", "Repeated guesses are not merged: each takes a slot, so a repeat can "
             "push the right label out of the first k.",
             _lines([[3, 3, 3, 7, 1], [5, 5, 6, 6, 8], [2, 2, 2, 2, 2]]), [[7], [6], [2]]),
        Case("cls_multi_label", "cls", "With several labels on a ground-truth line the error is the share of "
             "them missing from the first k guesses.",
             _lines([[7, 1, 2, 3, 4], [5, 1, 8, 2, 3], [1, 2, 3, 4, 6]]), [[7, 9], [5, 8], [10, 11]]),
        Case("cls_separators", "cls", "Tabs, commas, Windows line ends and trailing blank lines separate values "
             "like spaces (the official reader is dlmread).",
             "5,1,2\r\n1\t7\t2 \r\n3,  9\r\n\r\n", [[5], [7], [9]], layouts=("text",)),
    ]


def hie_cases() -> list[Case]:
    cost = np.array([[0, 1, 3, 3], [1, 0, 3, 3], [3, 3, 0, 2], [3, 3, 2, 0]], float)
    return [
        Case("hie_min_over_guesses", "hie", "The hierarchical cost of an image at k is the smallest cost among "
             "its first k guesses.", _lines([[3, 2, 1, 4, 3], [4, 1, 3, 2, 1], [1, 3, 2, 4, 2]]),
             [[1], [2], [4]], cost_matrix=cost),
        Case("hie_missing_guess", "hie", "A missing guess costs the largest cost of the matrix (the dummy class), "
             "so a short line pays for every guess it leaves out.",
             _lines([[2], [3, 4], [1, 0, 0, 2, 0]]), [[1], [3], [4]], cost_matrix=cost),
    ]


def _xml_box_case(name, rules, rule, guesses, objects, gt, blacklist=None):
    return Case(name, rules, rule, _lines(guesses), gt, objects=objects, blacklist=blacklist)


def loc_cases() -> list[Case]:
    big = (0, 0, 99, 99)
    far = (300, 300, 399, 399)
    return [
        _xml_box_case("loc_iou_half", "loc2012", "A box with IoU exactly 0.5 with an object of its class "
                      "localizes it (IoU >= 0.5).",
                      [[5, 0, 0, 99, 49], [7, 0, 0, 99, 99]], [[(5, big)], [(7, big)]], [[5], [7]]),
        _xml_box_case("loc_iou_plus_one", "loc2012", "IoU counts inclusive pixels (width x2 - x1 + 1): this box "
                      "reaches 0.5 only that way.",
                      [[5, 0, 0, 50, 98], [7, 0, 0, 99, 99]], [[(5, big)], [(7, big)]], [[5], [7]]),
        _xml_box_case("loc_real_coordinates", "loc2012", "Real-valued coordinates take the +1 too (IoU 0.5037 "
                      "here, 0.4987 without it).",
                      [[5, 0, 0, 49.75, 98.25], [7, 0, 0, 99, 99]], [[(5, big)], [(7, big)]], [[5], [7]]),
        _xml_box_case("loc_best_of_boxes", "loc2012", "A guess is compared with every box of its class in the "
                      "image and the best overlap counts, not only the first box.",
                      [[5, 300, 300, 399, 399], [7, 0, 0, 99, 99]], [[(5, big), (5, far)], [(7, big)]], [[5], [7]]),
        _xml_box_case("loc_other_class_box", "loc2012", "A box on an object of another class does not localize "
                      "the guess, even with the right label.",
                      [[5, 300, 300, 399, 399, 6, 300, 300, 399, 399], [7, 0, 0, 99, 99]],
                      [[(5, big), (6, far)], [(7, big)]], [[5], [7]]),
        _xml_box_case("loc_classification_ignores_boxes", "loc2012", "The classification error reported with "
                      "CLS-LOC looks at the labels only: a right label with a wrong box is a localization error only.",
                      [[5, 300, 300, 399, 399], [8, 0, 0, 99, 99, 7, 0, 0, 99, 99]], [[(5, big)], [(7, big)]],
                      [[5], [7]]),
        _xml_box_case("loc_ragged_groups", "loc2012", "A line may hold fewer than 5 groups; the missing guesses "
                      "never localize.",
                      [[1, 0, 0, 99, 99], [2, 0, 0, 9, 9, 7, 0, 0, 99, 99], [9, 0, 0, 99, 99]],
                      [[(5, big)], [(7, big)], [(9, big)]], [[5], [7], [9]]),
        _xml_box_case("loc_more_than_five", "loc2012", "Groups after the fifth are ignored, even a right one.",
                      [[1, 0, 0, 9, 9, 2, 0, 0, 9, 9, 3, 0, 0, 9, 9, 4, 0, 0, 9, 9, 6, 0, 0, 9, 9, 5, 0, 0, 99, 99],
                       [7, 0, 0, 99, 99]], [[(5, big)], [(7, big)]], [[5], [7]]),
        _xml_box_case("loc_reversed_box", "loc2012", "A reversed box (x2 < x1) overlaps nothing: it never "
                      "localizes.",
                      [[5, 99, 0, 0, 99], [7, 0, 0, 99, 99]], [[(5, big)], [(7, big)]], [[5], [7]]),
        _xml_box_case("loc_blacklist_left_out", "loc2013", "Under the 2013+ rules a blacklisted image is left out "
                      "of the localization error: numerator and denominator.",
                      [[5, 0, 0, 99, 99], [7, 300, 300, 399, 399], [9, 300, 300, 399, 399]],
                      [[(5, big)], [(7, big)], [(9, big)]], [[5], [7], [9]], blacklist=[2]),
        _xml_box_case("loc_blacklist_keeps_classification", "loc2013", "The blacklist does not apply to the "
                      "classification error reported alongside: it stays over all images.",
                      [[5, 0, 0, 99, 99], [8, 0, 0, 99, 99], [9, 0, 0, 99, 99]],
                      [[(5, big)], [(7, big)], [(9, big)]], [[5], [7], [9]], blacklist=[2]),
        _xml_box_case("loc_rules_2012", "loc2012", "Under the 2012 rules (no blacklist) every image counts in the "
                      "localization error.",
                      [[5, 0, 0, 99, 99], [7, 300, 300, 399, 399], [9, 0, 0, 99, 99]],
                      [[(5, big)], [(7, big)], [(9, big)]], [[5], [7], [9]]),
    ]


def _det_case(name, rule, detections, objects, blacklist=None):
    return Case(name, "det", rule, _lines(detections), objects=objects, blacklist=blacklist,
                image_names=_det_names(len(objects)))


def det_cases() -> list[Case]:
    big = (0, 0, 99, 99)
    return [
        _det_case("det_confidence_order_matching", "Detections take objects in confidence order, wherever they "
                  "stand in the file: the more confident of two detections on one object is the true positive.",
                  [[1, 1, 0.3, 0, 0, 99, 99], [1, 1, 0.9, 2, 2, 99, 99], [2, 1, 0.6, 0, 0, 99, 99]],
                  [[(1, big)], [(1, big)]]),
        _det_case("det_second_object", "A detection whose best object is already taken takes the best remaining "
                  "object above its threshold (PASCAL VOC would call it a duplicate).",
                  [[1, 1, 0.9, 0, 0, 99, 99], [1, 1, 0.8, 0, 0, 99, 99]], [[(1, (0, 0, 99, 99)), (1, (0, 0, 99, 69))]]),
        _det_case("det_small_object_threshold", "An object of w x h pixels is found at IoU >= min(0.5, wh / ((w + "
                  "10)(h + 10))): 0.25 for a 10 x 10 object.",
                  [[1, 1, 0.9, 95, 95, 114, 114], [2, 1, 0.8, 0, 0, 99, 99]],
                  [[(1, (100, 100, 109, 109))], [(1, big)]]),
        _det_case("det_tie_order", "Equal confidences rank by image position in the list, then by file line.",
                  [[2, 1, 0.5, 0, 0, 99, 99], [1, 1, 0.5, 300, 300, 399, 399]], [[(1, big)], [(1, big)]]),
        _det_case("det_blacklist_detections", "Detections of a blacklisted (image, class) pair are skipped: "
                  "neither true nor false positives.",
                  [[1, 1, 0.9, 300, 300, 399, 399], [2, 1, 0.5, 0, 0, 99, 99]], [[], [(1, big)]], blacklist=[(1, 1)]),
        _det_case("det_blacklist_objects", "Objects of a blacklisted (image, class) pair are not positives, even "
                  "without detections.",
                  [[2, 1, 0.5, 0, 0, 99, 99]], [[(1, big)], [(1, big)]], blacklist=[(1, 1)]),
        _det_case("det_class_without_objects", "A class with detections but no objects has AP NaN, and so have the "
                  "mean and the median.",
                  [[1, 1, 0.9, 0, 0, 99, 99], [1, 2, 0.8, 0, 0, 99, 99], [1, 3, 0.7, 0, 0, 99, 99]],
                  [[(1, big), (3, big)]]),
        _det_case("det_classes_up_to_c", "Only classes 1..C count, C the largest class with an object: detections "
                  "of larger ids are ignored.",
                  [[1, 1, 0.9, 0, 0, 99, 99], [1, 7, 0.95, 0, 0, 99, 99], [1, 2, 0.5, 0, 0, 99, 99]],
                  [[(1, big), (2, big)]]),
        _det_case("det_duplicates", "A second detection of a lone, already matched object is a false positive.",
                  [[1, 1, 0.9, 0, 0, 99, 99], [1, 1, 0.8, 0, 0, 99, 99], [2, 1, 0.7, 0, 0, 99, 99]],
                  [[(1, big)], [(1, big)]]),
        _det_case("det_empty_image", "Detections on an image without objects are false positives.",
                  [[2, 1, 0.9, 0, 0, 99, 99], [1, 1, 0.8, 0, 0, 99, 99]], [[(1, big)], []]),
        _det_case("det_reversed_box", "A reversed box (x2 < x1) overlaps nothing: a false positive.",
                  [[1, 1, 0.9, 99, 0, 0, 99], [2, 1, 0.8, 0, 0, 99, 99]], [[(1, big)], [(1, big)]]),
        _det_case("det_iou_plus_one", "IoU counts inclusive pixels: a detection at IoU exactly 0.5 with a large "
                  "object is a true positive only with the +1.",
                  [[1, 1, 0.9, 0, 0, 99, 49], [2, 1, 0.8, 0, 0, 99, 99]], [[(1, big)], [(1, big)]]),
        _det_case("det_all_points_ap", "AP is the all-points area under the interpolated precision (VOC2010+), "
                  "not the 11-point average of VOC2007.",
                  [[1, 1, 0.9, 300, 300, 399, 399], [1, 1, 0.8, 0, 0, 99, 99], [2, 1, 0.7, 0, 0, 99, 99],
                   [3, 1, 0.6, 300, 300, 399, 399], [3, 1, 0.5, 0, 0, 99, 99]],
                  [[(1, big)], [(1, big)], [(1, big)]]),
    ]


# --------------------------------------------------------------------------- random
def _jitter(rng, box, scale):
    w, h = box[2] - box[0] + 1, box[3] - box[1] + 1
    d = rng.normal(0, scale, 4) * np.array([w, h, w, h])
    return tuple(np.round(np.array(box, float) + d).tolist())


def random_cls_case(seed: int = 1, n: int = 300) -> Case:
    rng = np.random.default_rng(seed)
    gt = rng.integers(1, 1001, n)
    rows = []
    for g in gt.tolist():
        k = int(rng.choice([1, 2, 3, 4, 5, 5, 5, 5, 6, 7]))
        row = rng.integers(1, 1001, k).tolist()
        if rng.random() < 0.6:
            row[int(rng.integers(0, k))] = g
        if rng.random() < 0.1 and k > 1:
            row[-1] = 0  # an explicit 'no guess' (at the end: every format can leave it out)
        if rng.random() < 0.1 and k > 1:
            row[1] = row[0]
        rows.append(row)
    return Case(f"cls_random_seed{seed}", "cls", "Seeded random submission: ragged and over-long lines, label 0, "
                "repeated guesses, right labels at every rank.", _lines(rows), [[g] for g in gt.tolist()],
                kind="random", seed=seed)


def random_loc_case(seed: int = 2, n: int = 120, rules: str = "loc2013") -> Case:
    rng = np.random.default_rng(seed)
    classes = rng.choice(np.arange(1, 1001), 12, replace=False)
    gt = rng.choice(classes, n)
    objects, rows = [], []
    for g in gt.tolist():
        objs = []
        for _ in range(int(rng.integers(1, 4))):
            x, y = rng.integers(0, 300, 2)
            w, h = rng.integers(20, 200, 2)
            objs.append((g, (int(x), int(y), int(x + w - 1), int(y + h - 1))))
        if rng.random() < 0.2:
            objs.append((int(rng.choice(classes)), objs[0][1]))
        objects.append(objs)
        k = int(rng.choice([1, 3, 5, 5, 5, 6]))
        row = []
        for j in range(k):
            label = g if rng.random() < 0.35 else int(rng.choice(classes))
            box = _jitter(rng, objs[int(rng.integers(0, len(objs)))][1], 0.12)
            if rng.random() < 0.05:
                box = (box[2], box[1], box[0], box[3])
            row += [label, *box]
        rows.append(row)
    blacklist = sorted(rng.choice(np.arange(1, n + 1), n // 10, replace=False).tolist()) if rules == "loc2013" else None
    return Case(f"loc_random_seed{seed}_{rules[3:]}", rules, "Seeded random submission: several boxes per image, "
                "objects of other classes, jittered boxes around IoU 0.5, reversed boxes, ragged and over-long "
                "lines" + (", a blacklist." if blacklist else "."), _lines(rows), [[g] for g in gt.tolist()],
                objects=objects, blacklist=blacklist, kind="random", seed=seed)


def random_det_case(seed: int = 3, n_images: int = 30, n_classes: int = 8, blacklist: bool = True) -> Case:
    rng = np.random.default_rng(seed)
    objects, detections = [], []
    for i in range(1, n_images + 1):
        objs = []
        for _ in range(int(rng.integers(0, 5))):
            x, y = rng.integers(0, 300, 2)
            w, h = (rng.integers(6, 24, 2) if rng.random() < 0.2 else rng.integers(30, 200, 2))
            objs.append((int(rng.integers(1, n_classes + 1)), (int(x), int(y), int(x + w - 1), int(y + h - 1))))
        objects.append(objs)
        for c, box in objs:
            for _ in range(int(rng.choice([0, 1, 1, 1, 2]))):
                b = _jitter(rng, box, 0.15)
                if rng.random() < 0.05:
                    b = (b[2], b[1], b[0], b[3])
                detections.append([i, c, round(float(rng.random()), 1), *b])
        for _ in range(int(rng.integers(0, 3))):
            x, y = rng.integers(0, 300, 2)
            detections.append([i, int(rng.integers(1, n_classes + 1)), round(float(rng.random()), 1),
                               int(x), int(y), int(x + 60), int(y + 60)])
    present = {c for objs in objects for c, _ in objs}
    for c in range(1, n_classes + 1):  # every class 1..C has an object
        if c not in present:
            objects[c % n_images].append((c, (10, 10, 109, 109)))
    order = rng.permutation(len(detections))
    pairs = None
    if blacklist:
        with_objects = [(i + 1, c) for i, objs in enumerate(objects) for c, _ in objs]
        pick = rng.choice(len(with_objects), 3, replace=False)
        pairs = sorted({with_objects[int(p)] for p in pick})
    return Case(f"det_random_seed{seed}" + ("_blacklist" if blacklist else ""), "det",
                "Seeded random submission: tied confidences, small objects, duplicates, reversed boxes, false "
                "positives, lines in random order" + (", blacklisted pairs." if blacklist else "."),
                _lines([detections[k] for k in order]), objects=objects, blacklist=pairs,
                image_names=_det_names(n_images), kind="random", seed=seed)


def all_cases(task: str = "all") -> list[Case]:
    """Every case of the kit, or those of one task (``cls``, ``loc``, ``det``)."""
    cases = (official_cases() + cls_cases() + hie_cases() + loc_cases() + det_cases()
             + [random_cls_case(1), random_loc_case(2, rules="loc2012"), random_loc_case(12, rules="loc2013"),
                random_det_case(3, blacklist=True), random_det_case(4, blacklist=False)])
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    return [c for c in cases if task == "all" or c.task == task]
