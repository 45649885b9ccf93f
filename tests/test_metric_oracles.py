"""Fast metrics against slow, obviously correct oracles written from the rules' text
(METRICS.md), on random cases built to hit ties, blacklists, shared objects, reversed boxes."""
from __future__ import annotations

import math

import numpy as np
import pytest

from ilsvrc.boxes import det_iou_threshold, iou, iou_matrix
from ilsvrc.ground_truth import ObjectTable
from ilsvrc.metrics.average_precision import average_precision, matlab_colon
from ilsvrc.metrics.classification import flat_errors, hierarchical_costs
from ilsvrc.metrics.detection import evaluate_detection
from ilsvrc.metrics.localization import localization_errors


# --------------------------------------------------------------------------- oracles
def iou_oracle(a, b):
    ix1, iy1, ix2, iy2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    iw, ih = ix2 - ix1 + 1, iy2 - iy1 + 1
    if iw <= 0 or ih <= 0:
        return -1.0
    ua = (a[2] - a[0] + 1) * (a[3] - a[1] + 1) + (b[2] - b[0] + 1) * (b[3] - b[1] + 1) - iw * ih
    return iw * ih / ua


def vocap_oracle(rec, prec):
    mrec = [0.0] + list(rec) + [1.0]
    mpre = [0.0] + list(prec) + [0.0]
    for i in range(len(mpre) - 2, -1, -1):
        a, b = mpre[i], mpre[i + 1]
        mpre[i] = b if math.isnan(a) else (a if math.isnan(b) else max(a, b))
    ap = 0.0
    for i in range(1, len(mrec)):
        if mrec[i] != mrec[i - 1]:
            ap += (mrec[i] - mrec[i - 1]) * mpre[i]
    return ap


def det_oracle(dets, objects, n_images, blacklist):
    """dets: list of (image, label, score, box); objects: list of (image, label, box, thr)."""
    C = max(o[1] for o in objects)
    per_image = {i: [] for i in range(n_images)}
    for line, d in enumerate(dets):
        per_image[d[0]].append((line,) + tuple(d))
    tp, fp, lab, conf = [], [], [], []
    for i in range(n_images):
        mine = sorted(per_image[i], key=lambda d: -d[3])  # stable: file order on ties
        gts = [o for o in objects if o[0] == i]
        taken = [False] * len(gts)
        for _, _, c, s, b in mine:
            lab.append(c)
            conf.append(s)
            if (i, c) in blacklist:
                tp.append(0), fp.append(0)
                continue
            best, pick = -math.inf, -1
            for j, (_, gc, gb, thr) in enumerate(gts):
                if gc != c or taken[j]:
                    continue
                ov = iou_oracle(b, gb)
                if ov >= thr and ov > best:
                    best, pick = ov, j
            if pick >= 0:
                taken[pick] = True
                tp.append(1), fp.append(0)
            else:
                tp.append(0), fp.append(1)
    order = sorted(range(len(conf)), key=lambda k: -conf[k])  # stable over the concatenation
    aps = []
    for c in range(1, C + 1):
        npos = sum(1 for o in objects if o[1] == c and (o[0], c) not in blacklist)
        ctp = cfp = 0
        rec, prec = [], []
        for k in order:
            if lab[k] != c:
                continue
            ctp += tp[k]
            cfp += fp[k]
            rec.append(ctp / npos if npos else math.nan)
            prec.append(ctp / (ctp + cfp) if ctp + cfp else math.nan)
        aps.append(vocap_oracle(rec, prec))
    return np.array(aps)


def random_det_case(rng, n_images=12, n_classes=4):
    objects = []
    for i in range(n_images):
        for _ in range(rng.integers(0, 5)):
            x, y = rng.integers(0, 200, 2)
            w, h = rng.integers(3, 80, 2)
            box = np.array([x, y, x + w, y + h], float)
            objects.append((i, int(rng.integers(1, n_classes + 1)), box))
    if not any(o[1] == n_classes for o in objects):
        objects.append((0, n_classes, np.array([0, 0, 50, 50.0])))
    dets = []
    for i, c, box in objects:  # jittered copies of the objects, some twice
        for _ in range(rng.integers(0, 3)):
            jitter = rng.normal(0, rng.choice([1.0, 6.0]), 4)
            dets.append((i, c, float(rng.choice([0.1, 0.5, 0.9, rng.random()])), box + jitter))
    for _ in range(15):  # background and reversed boxes
        x, y = rng.uniform(0, 200, 2)
        box = np.array([x, y, x + rng.uniform(-10, 60), y + rng.uniform(5, 60)])
        dets.append((int(rng.integers(0, n_images)), int(rng.integers(1, n_classes + 1)),
                     float(rng.choice([0.5, rng.random()])), box))
    order = rng.permutation(len(dets))
    dets = [dets[k] for k in order]
    blacklist = {(int(rng.integers(0, n_images)), int(rng.integers(1, n_classes + 1))) for _ in range(2)}
    thr = det_iou_threshold(np.array([o[2] for o in objects]))
    objects = [(i, c, b, float(t)) for (i, c, b), t in zip(objects, thr)]
    return dets, objects, blacklist


# --------------------------------------------------------------------------- tests
@pytest.mark.parametrize("seed", range(25))
def test_detection_matches_oracle(seed):
    rng = np.random.default_rng(seed)
    dets, objects, blacklist = random_det_case(rng)
    n_images = 12
    expected = det_oracle(dets, objects, n_images, blacklist)
    table = ObjectTable.from_lists(
        [[o[1] for o in objects if o[0] == i] for i in range(n_images)],
        [np.array([o[2] for o in objects if o[0] == i]).reshape(-1, 4) for i in range(n_images)])
    result = evaluate_detection([d[0] for d in dets], [d[1] for d in dets], [d[2] for d in dets],
                                np.array([d[3] for d in dets]), table, blacklist=np.array(sorted(blacklist)))
    np.testing.assert_allclose(result.ap, expected, rtol=0, atol=1e-12, equal_nan=True)


def test_voc_matching_calls_duplicates_false_positives():
    """The micro case det_reassign_second_gt: ILSVRC re-assigns, VOC calls it a duplicate."""
    table = ObjectTable.from_lists([[1, 1]], [np.array([[0, 0, 99, 99], [0, 0, 99, 139.0]])])
    det = np.array([[0, 0, 99, 99], [0, 0, 99, 109.0]])
    ilsvrc = evaluate_detection([0, 0], [1, 1], [0.9, 0.8], det, table)
    voc = evaluate_detection([0, 0], [1, 1], [0.9, 0.8], det, table, matching="voc")
    assert ilsvrc.ap[0] == 1.0
    assert voc.matches.tp.tolist() == [1.0, 0.0] and voc.ap[0] == 0.5


@pytest.mark.parametrize("seed", range(10))
def test_flat_and_hierarchical_match_oracle(seed):
    rng = np.random.default_rng(seed)
    n, n_classes = 40, 6
    gt = rng.integers(1, n_classes + 1, (n, 2))
    gt[rng.random(n) < 0.6, 1] = 0
    pred = rng.integers(0, n_classes + 1, (n, 7))
    cost = rng.integers(0, 9, (n_classes, n_classes)).astype(float)
    np.fill_diagonal(cost, 0)
    fast = flat_errors(pred, gt)
    fast_h = hierarchical_costs(pred, gt, cost)
    for i in range(n):
        labels = [g for g in gt[i] if g > 0]
        for k in range(1, 6):
            guesses = list(pred[i, :k])
            assert fast[i, k - 1] == pytest.approx(sum(g not in guesses for g in labels) / len(labels))
            costs = [min(cost.max() if p == 0 else cost[p - 1, g - 1] for p in guesses) for g in labels]
            assert fast_h[i, k - 1] == pytest.approx(sum(costs) / len(labels))


@pytest.mark.parametrize("seed", range(10))
def test_localization_matches_oracle(seed):
    rng = np.random.default_rng(seed)
    n, n_classes = 30, 5
    gt = rng.integers(1, n_classes + 1, (n, 1))
    labels, boxes = [], []
    for i in range(n):
        m = rng.integers(1, 4)
        lab = np.where(rng.random(m) < 0.8, gt[i, 0], rng.integers(1, n_classes + 1, m))
        xy = rng.integers(0, 100, (m, 2))
        wh = rng.integers(5, 60, (m, 2))
        labels.append(lab)
        boxes.append(np.hstack([xy, xy + wh]).astype(float))
    objects = ObjectTable.from_lists(labels, boxes)
    pred = np.where(rng.random((n, 5)) < 0.5, gt, rng.integers(0, n_classes + 1, (n, 5)))
    pred_boxes = np.array([[boxes[i][rng.integers(len(boxes[i]))] + rng.normal(0, 8, 4) for _ in range(5)]
                           for i in range(n)])
    fast = localization_errors(pred, pred_boxes, gt, objects)
    for i in range(n):
        g = gt[i, 0]
        gboxes = [b for l, b in zip(labels[i], boxes[i]) if l == g]
        correct = [pred[i, j] == g and max([iou_oracle(pred_boxes[i, j], b) for b in gboxes], default=-1) >= 0.5
                   for j in range(5)]
        for k in range(1, 6):
            assert fast[i, k - 1] == (0.0 if any(correct[:k]) else 1.0)


def test_iou_against_oracle_and_plus_one_convention(rng):
    a = rng.uniform(0, 100, (50, 4))
    b = rng.uniform(0, 100, (60, 4))
    a[:, 2:] += a[:, :2] * rng.uniform(-0.2, 1, (50, 2))
    mat = iou_matrix(a, b)
    for i in range(0, 50, 7):
        for j in range(0, 60, 5):
            assert mat[i, j] == iou_oracle(a[i], b[j])
    assert iou([0, 0, 9, 9], [0, 0, 9, 9]) == 1.0
    assert iou([0, 0, 9, 9], [10, 0, 19, 9]) == -1.0          # touching: no shared pixel
    assert iou([0, 0, 9, 9], [9, 0, 18, 9]) == 10 / 190        # one shared column of 10 pixels
    assert iou([0, 0, 99, 99], [0, 0, 99, 199]) == 0.5         # micro case: exactly 0.5 counts


def test_det_threshold_pins_the_size_rule():
    assert det_iou_threshold([[0, 0, 9, 9]])[0] == 100 / 400            # 10x10 px -> 0.25
    assert det_iou_threshold([[0, 0, 99, 99]])[0] == 0.5
    assert det_iou_threshold([[0, 0, 0, 0]])[0] == 1 / 121


def test_average_precision_variants():
    rec = np.array([0.25, 0.5, 0.5, 0.75])
    prec = np.array([1.0, 1.0, 2 / 3, 0.75])
    assert average_precision(rec, prec) == pytest.approx(vocap_oracle(rec, prec)) == pytest.approx(0.6875)
    # VOC2007: thresholds 0..0.5 -> 1.0 (6 of them), 0.6, 0.7 -> 0.75, 0.8..1.0 -> 0
    assert average_precision(rec, prec, "11_point") == pytest.approx((6 * 1.0 + 2 * 0.75) / 11)
    assert np.isnan(average_precision([np.nan, np.nan], [0.0, 0.0]))
    assert average_precision([], []) == 0.0
    with pytest.raises(ValueError, match="method"):
        average_precision(rec, prec, "coco")


def test_matlab_colon_is_exact_at_both_ends():
    t = matlab_colon(0.0, 0.1, 1.0)
    assert len(t) == 11 and t[0] == 0.0 and t[-1] == 1.0
    assert t[3] == 3 * 0.1                    # first half: start + k*step
    assert t[7] == 1.0 - 3 * 0.1              # second half: stop - (n-k)*step
    assert t[3] != 0.3 and not np.array_equal(t, np.arange(0, 1.1, 0.1))
