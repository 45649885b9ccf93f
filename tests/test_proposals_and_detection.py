"""Selective search, proposal adapters and metrics, NMS, hard-negative mining, region BoW, the detector."""
from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from baselines.detection import ImageRegions, RegionDetector, non_maximum_suppression
from baselines.hard_negatives import HardNegativeMiner
from baselines.proposals import (
    ProposalConfig,
    clip_boxes,
    propose,
    unique_in_order,
    xywh_inclusive_to_boxes,
    xywh_size_to_boxes,
)
from baselines.selective_search import (
    MODES,
    Hierarchy,
    hierarchical_grouping,
    rank_hierarchies,
    region_adjacency,
    region_boxes,
    relabel_consecutive,
    selective_search,
    selective_search_hierarchies,
)
from experiments.datasets import BoxedImageDataset, check_boxes_in_image
from features.encoding.regions import WordIntegral, region_bow, region_word_counts
from features.image_io import load_image
from ilsvrc.boxes import iou
from ilsvrc.errors import InputError
from ilsvrc.metrics.proposals import (
    average_recall,
    best_overlaps,
    mean_average_best_overlap,
    proposal_quality,
    recall_at,
    recall_curve,
)

ROOT = Path(__file__).resolve().parent.parent
BOXES = ROOT / "data" / "caltech101_boxes"


def _rectangle_image(h=60, w=80, box=(20, 10, 49, 39)):
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = (30, 120, 200)
    x1, y1, x2, y2 = box
    img[y1:y2 + 1, x1:x2 + 1] = (250, 240, 10)
    return img


# --------------------------------------------------------------------------- adapters on hand-made data
def test_box_adapters_by_hand():
    # the selectivesearch package: w = max_x - min_x (one short), so x2 = x + w
    assert xywh_inclusive_to_boxes([[3, 4, 10, 5]]).tolist() == [[3, 4, 13, 9]]
    # OpenCV Rect: true width, so x2 = x + w - 1
    assert xywh_size_to_boxes([[3, 4, 10, 5]]).tolist() == [[3, 4, 12, 8]]
    boxes = np.array([[1, 1, 5, 5], [0, 0, 2, 2], [1, 1, 5, 5], [0, 0, 2, 2], [7, 7, 9, 9]], float)
    assert unique_in_order(boxes).tolist() == [[1, 1, 5, 5], [0, 0, 2, 2], [7, 7, 9, 9]]
    assert clip_boxes([[-3, 2, 100, 8]], 10, 20).tolist() == [[0, 2, 19, 8]]


def test_region_boxes_adjacency_and_relabel_on_a_hand_made_segmentation():
    labels = np.array([[5, 5, 7, 7],
                       [5, 9, 9, 7],
                       [9, 9, 9, 7]])
    rel = relabel_consecutive(labels)
    assert rel.tolist() == [[0, 0, 1, 1], [0, 2, 2, 1], [2, 2, 2, 1]]
    assert region_boxes(rel, 3).tolist() == [[0, 0, 1, 1], [2, 0, 3, 2], [0, 1, 2, 2]]
    # brute-force 8-connectivity
    expected = set()
    for y, x in itertools.product(range(3), range(4)):
        for dy, dx in itertools.product((-1, 0, 1), repeat=2):
            yy, xx = y + dy, x + dx
            if 0 <= yy < 3 and 0 <= xx < 4 and rel[y, x] != rel[yy, xx]:
                expected.add((min(rel[y, x], rel[yy, xx]), max(rel[y, x], rel[yy, xx])))
    assert set(map(tuple, region_adjacency(rel).tolist())) == expected


def test_every_backend_finds_a_solid_rectangle_exactly():
    box = (20, 10, 49, 39)
    img = _rectangle_image(box=box)
    for backend in ("selective_search", "opencv", "selectivesearch_package"):
        props = propose(img, ProposalConfig(backend=backend))
        assert len(props) >= 1
        assert np.isclose(iou(props, np.array(box, float)).max(), 1.0), backend


def test_grey_rgba_float_and_tiny_images():
    img = load_image(BOXES / "images" / "dolphin" / "image_0009.jpg")
    rgb = selective_search(img)
    grey = selective_search(img[:, :, 1])
    rgba = selective_search(np.dstack([img, np.full(img.shape[:2], 255, np.uint8)]))
    assert np.array_equal(rgba, rgb)
    assert len(grey) > 50
    assert np.array_equal(selective_search(img / 255.0), rgb)
    # smaller than the segmentation scale: one region, the whole image
    tiny = selective_search(img[:3, :4])
    assert tiny.tolist() == [[0, 0, 3, 2]]
    with pytest.raises(ValueError, match="image"):
        selective_search(np.zeros((5, 5, 2), np.uint8))
    with pytest.raises(ValueError, match="image"):
        selective_search(np.zeros((0, 5, 3), np.uint8))


# --------------------------------------------------------------------------- grouping against an obvious oracle
def _grouping_oracle(hist, sizes, boxes, edges, im_size, ws, wf):
    """Recompute every similarity at every step; merge the best pair (ties: smallest pair)."""
    feat = {i: hist[i].astype(np.float32) for i in range(len(sizes))}
    size = {i: float(s) for i, s in enumerate(sizes)}
    box = {i: np.array(b, float) for i, b in enumerate(boxes)}
    nbr = {i: set() for i in range(len(sizes))}
    for a, b in edges:
        nbr[a].add(b)
        nbr[b].add(a)

    def sim(a, b):
        s = float(np.minimum(feat[a], feat[b]).astype(np.float64).sum()) if hist.shape[1] else 0.0
        s += ws * (1 - (size[a] + size[b]) / im_size)
        bb = np.r_[np.minimum(box[a][:2], box[b][:2]), np.maximum(box[a][2:], box[b][2:])]
        s += wf * (1 - ((bb[2] - bb[0] + 1) * (bb[3] - bb[1] + 1) - size[a] - size[b]) / im_size)
        return s

    parents, t = [], len(sizes)
    while True:
        pairs = [(a, b) for a in nbr for b in nbr[a] if a < b]
        if not pairs:
            break
        a, b = max(pairs, key=lambda p: (sim(*p), -p[0], -p[1]))
        feat[t] = (feat[a] * np.float32(size[a]) + feat[b] * np.float32(size[b])) / np.float32(size[a] + size[b])
        size[t] = size[a] + size[b]
        box[t] = np.r_[np.minimum(box[a][:2], box[b][:2]), np.maximum(box[a][2:], box[b][2:])]
        nbr[t] = (nbr[a] | nbr[b]) - {a, b}
        for x in nbr[t]:
            nbr[x] -= {a, b}
            nbr[x].add(t)
        del nbr[a], nbr[b], feat[a], feat[b]
        parents.append((a, b))
        t += 1
    return parents, [box[i] for i in range(t)]


@pytest.mark.parametrize("weights", [(1, 1, 1, 1), (0, 1, 1, 1), (0, 0, 0, 1), (0, 0, 1, 0)])
def test_hierarchical_grouping_matches_the_oracle(weights):
    rng = np.random.default_rng(3)
    labels = relabel_consecutive(np.kron(rng.integers(0, 40, (6, 8)), np.ones((5, 5), int)))
    n = int(labels.max()) + 1
    sizes = np.bincount(labels.ravel()).astype(float)
    boxes = region_boxes(labels, n)
    edges = region_adjacency(labels)
    wc, wt, ws, wf = weights
    blocks = [rng.dirichlet(np.ones(6), n).astype(np.float32) for w in (wc, wt) if w]
    hist = np.hstack(blocks) if blocks else np.zeros((n, 0), np.float32)
    h = hierarchical_grouping(hist, sizes, boxes, edges, labels.size, size_weight=ws, fill_weight=wf)
    parents, oracle_boxes = _grouping_oracle(hist, sizes, boxes, edges, labels.size, ws, wf)
    assert h.parents.tolist() == [list(p) for p in parents]
    assert np.array_equal(h.boxes, np.array(oracle_boxes))
    assert len(h.boxes) == 2 * n - 1 and h.boxes[-1].tolist() == [0, 0, labels.shape[1] - 1, labels.shape[0] - 1]


def test_hierarchical_grouping_refuses_edges_outside_its_regions():
    hist = np.full((3, 2), 0.5, np.float32)
    sizes = np.ones(3)
    boxes = np.array([[0, 0, 0, 0], [1, 0, 1, 0], [2, 0, 2, 0]], float)
    for bad in ([[0, 3]], [[-1, 1]], [[1, 1]]):
        with pytest.raises(ValueError, match="edges"):
            hierarchical_grouping(hist, sizes, boxes, np.array(bad), 3)
    h = hierarchical_grouping(hist, sizes, boxes, np.array([[0, 1], [1, 2]]), 3)
    assert h.parents.tolist() == [[0, 1], [2, 3]]           # equal similarities: the smaller pair first
    single = hierarchical_grouping(hist[:1], sizes[:1], boxes[:1], np.zeros((0, 2), np.int64), 1)
    assert single.parents.shape == (0, 2) and single.boxes.tolist() == [[0, 0, 0, 0]]


def test_ranking_is_seeded_and_follows_the_paper():
    boxes_a = np.array([[0, 0, 1, 1], [2, 2, 3, 3], [0, 0, 3, 3]], float)
    boxes_b = np.array([[0, 0, 1, 1], [4, 4, 5, 5], [0, 0, 5, 5]], float)
    hs = [Hierarchy(boxes_a, np.zeros((1, 2), np.int64), 2), Hierarchy(boxes_b, np.zeros((1, 2), np.int64), 2)]
    ranked = rank_hierarchies(hs, seed=7)
    rng = np.random.default_rng(7)
    values = np.r_[rng.random(3) * [3, 2, 1], rng.random(3) * [3, 2, 1]]
    all_boxes = np.vstack([boxes_a, boxes_b])[np.argsort(values, kind="stable")]
    assert np.array_equal(ranked, unique_in_order(all_boxes))
    assert len(ranked) == 5
    assert np.array_equal(rank_hierarchies(hs, seed=7), ranked)


def test_selective_search_is_reproducible_and_seed_changes_only_the_order():
    img = load_image(BOXES / "images" / "butterfly" / "image_0003.jpg")
    a = selective_search(img, "paper_fast", seed=0)
    b = selective_search(img, "paper_fast", seed=0)
    c = selective_search(img, "paper_fast", seed=1)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert {tuple(r) for r in a.tolist()} == {tuple(r) for r in c.tolist()}
    assert len(np.unique(a, axis=0)) == len(a)
    hier = selective_search_hierarchies(img, MODES["paper_fast"])
    assert len(hier) == MODES["paper_fast"].n_hierarchies == 8
    # the fast mode adds k = 200 with its F hierarchies, k = 300 (min_size 100) and k = 100
    # (min_size 30) to the paper's Fast mode; before its
    # near-duplicate suppression, a superset of the paper's boxes
    fast = MODES["fast"]
    unsuppressed = selective_search(img, dataclasses.replace(fast, suppress_overlap=1.0))
    assert {tuple(r) for r in a.tolist()} <= {tuple(r) for r in unsuppressed.tolist()}
    assert set(fast.hierarchy_keys) >= set(MODES["paper_fast"].hierarchy_keys) and fast.n_hierarchies == 18


def test_opencv_backend_order_is_reproducible():
    img = load_image(BOXES / "images" / "dolphin" / "image_0009.jpg")
    config = ProposalConfig(backend="opencv")
    assert np.array_equal(propose(img, config), propose(img, config))


def test_proposal_config_rejects_bad_values():
    with pytest.raises(ValueError, match="backend"):
        ProposalConfig(backend="edgeboxes")
    with pytest.raises(ValueError, match="mode"):
        ProposalConfig(mode="slow")
    with pytest.raises(ValueError, match="paper_fast"):
        ProposalConfig(backend="opencv", mode="paper_fast")
    assert ProposalConfig().fingerprint() != ProposalConfig(seed=1).fingerprint()


def test_proposal_cache_key_follows_what_the_mode_means(monkeypatch):
    from baselines import selective_search as ss

    before = ProposalConfig().fingerprint()
    monkeypatch.setitem(ss.MODES, "fast", ss.SelectiveSearchConfig(("hsv",), (100,), ("S",)))
    assert ProposalConfig().fingerprint() != before


# --------------------------------------------------------------------------- proposal metrics, hand-computed
def test_proposal_metrics_by_hand():
    gt = np.array([[0, 0, 9, 9]], float)
    # proposal sharing 50 of 150 pixels: IoU 1/3; exact box: 1
    assert best_overlaps([[5, 0, 14, 9]], gt).tolist() == [pytest.approx(1 / 3)]
    assert best_overlaps([[5, 0, 14, 9], [0, 0, 9, 9]], gt).tolist() == [1.0]
    assert best_overlaps(np.zeros((0, 4)), gt).tolist() == [0.0]
    assert best_overlaps([[20, 20, 30, 30]], gt).tolist() == [0.0]
    best = np.array([0.4, 0.6, 0.8, 1.0])
    assert recall_at(best, 0.5) == 0.75 and recall_at(best, 0.7) == 0.5
    # AR = 2 * mean(max(0, bo - 0.5)) = 2 * (0 + 0.1 + 0.3 + 0.5) / 4
    assert average_recall(best) == pytest.approx(0.45)
    # numeric integral of the recall curve agrees
    t = np.linspace(0.5, 1.0, 200001)
    numeric = 2 * np.trapezoid([recall_at(best, x) for x in t[::1000]], t[::1000])
    assert numeric == pytest.approx(0.45, abs=0.01)
    # MABO: mean over classes of the per-class mean
    assert mean_average_best_overlap(best, [0, 0, 0, 1]) == pytest.approx(((0.4 + 0.6 + 0.8) / 3 + 1.0) / 2)


def test_proposal_quality_budgets():
    gt = [np.array([[0, 0, 9, 9]], float), np.array([[10, 10, 19, 19]], float)]
    props = [np.array([[0, 0, 1, 1], [0, 0, 9, 9]], float), np.array([[10, 10, 19, 19]], float)]
    labels = [np.array([0]), np.array([1])]
    assert proposal_quality(props, gt, labels).mabo == 1.0
    q1 = proposal_quality(props, gt, labels, 1)
    assert q1.boxes_per_image == 1.0 and q1.recall_50 == 0.5
    curve = recall_curve(props, gt, [1, 2])
    assert curve["recall_50"].tolist() == [0.5, 1.0]
    with pytest.raises(ValueError, match="one entry per image"):
        proposal_quality(props, gt[:1], labels)


# --------------------------------------------------------------------------- NMS
def _nms_oracle(boxes, scores, thr):
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    keep = []
    for i in order:
        if all(iou(boxes[i], boxes[k]) <= thr for k in keep):
            keep.append(i)
    return keep


def test_nms_matches_the_obvious_loop():
    rng = np.random.default_rng(0)
    for trial in range(20):
        xy = rng.integers(0, 50, (40, 2))
        wh = rng.integers(1, 30, (40, 2))
        boxes = np.c_[xy, xy + wh].astype(float)
        scores = rng.integers(0, 10, 40).astype(float)        # many ties
        for thr in (0.0, 0.3, 0.7):
            assert non_maximum_suppression(boxes, scores, thr).tolist() == _nms_oracle(boxes, scores, thr)
    assert non_maximum_suppression(boxes, scores, 0.3, max_keep=2).tolist() == _nms_oracle(boxes, scores, 0.3)[:2]


# --------------------------------------------------------------------------- region BoW
def test_region_word_counts_match_a_loop_over_descriptors():
    rng = np.random.default_rng(1)
    pos = np.c_[rng.integers(0, 60, 400) + rng.choice([0, 0.5], 400), rng.integers(0, 40, 400)].astype(float)
    words = rng.integers(0, 7, 400)
    boxes = np.array([[0, 0, 59, 39], [10, 5, 30, 20], [3, 3, 3, 3], [11, 7, 44, 38]], float)
    got = region_word_counts(WordIntegral(pos, words, 7), boxes, "1x1+2x2+3x1")
    for m, (x1, y1, x2, y2) in enumerate(boxes):
        w, h = x2 - x1 + 1, y2 - y1 + 1
        k = 0
        for rows, cols in ((1, 1), (2, 2), (3, 1)):
            for r in range(rows):
                for c in range(cols):
                    inside = ((x1 - .5 + c * w / cols <= pos[:, 0]) & (pos[:, 0] < x1 - .5 + (c + 1) * w / cols)
                              & (y1 - .5 + r * h / rows <= pos[:, 1]) & (pos[:, 1] < y1 - .5 + (r + 1) * h / rows))
                    assert np.array_equal(got[m, k], np.bincount(words[inside], minlength=7)), (m, k)
                    k += 1
    sig = region_bow(WordIntegral(pos, words, 7), boxes[:2], "1x1+2x2")
    cells = sig.reshape(2, 5, 7) ** 2
    assert np.allclose(cells.sum(axis=2)[cells.sum(axis=2) > 0], 1.0)
    with pytest.raises(ValueError, match="words"):
        WordIntegral(pos, words + 7, 7)


# --------------------------------------------------------------------------- hard-negative mining
class _Model:
    def __init__(self, w, b):
        self.w, self.b = w, b

    def decision_function(self, x):
        return np.asarray(x) @ self.w + self.b


def _train_mean_difference(x, y):
    """A deterministic stand-in for an SVM: direction between class means, margin at the midpoint."""
    mp, mn = x[y == 1].mean(axis=0), x[y == 0].mean(axis=0)
    w = (mp - mn) / max(np.linalg.norm(mp - mn), 1e-9) * 2
    return _Model(w, -float((mp + mn) @ w) / 2)


def _mining_problem(seed=0):
    rng = np.random.default_rng(seed)
    pos = rng.normal(2.0, 1.0, (20, 4))
    images = {i: (np.arange(50), rng.normal(0.0, 1.5, (50, 4)), rng.uniform(0, 0.6, 50)) for i in range(12)}
    init_keys = [(0, 0), (0, 1), (1, 0)]
    init = np.stack([images[k[0]][1][k[1]] for k in init_keys])
    return pos, init_keys, init, images


def _run_miner(**kwargs):
    pos, keys, init, images = _mining_problem()
    miner = HardNegativeMiner(_train_mean_difference, **kwargs)
    model = miner.fit(pos, keys, init, list(images), lambda i: images[i])
    return miner, model


def test_miner_keeps_unique_keys_respects_overlap_and_logs():
    miner, model = _run_miner(retrain_every=30, rounds=2)
    keys = miner.cache_keys_
    assert len(keys) == len(set(keys))
    _, _, _, images = _mining_problem()
    for image, cand in keys:
        if (image, cand) not in [(0, 0), (0, 1), (1, 0)]:
            assert images[image][2][cand] < 0.3
    assert len(miner.cache_features_) == len(keys)
    assert miner.log_.retrains[0]["round"] == 0 and miner.log_.retrains[-1]["round"] == 2
    with pytest.raises(ValueError, match="duplicate"):
        HardNegativeMiner(_train_mean_difference).fit(np.ones((2, 4)), [(0, 0), (0, 0)], np.zeros((2, 4)), [],
                                                      lambda i: None)


@pytest.mark.parametrize("arg, value", [("max_overlap", 0.1), ("hard_score", 0.5), ("easy_score", -0.2),
                                        ("retrain_every", 5), ("rounds", 3), ("max_per_image", 2)])
def test_every_miner_argument_changes_behaviour(arg, value):
    base = dict(max_overlap=0.3, hard_score=-1.0001, easy_score=-1.2, retrain_every=2000, rounds=1, max_per_image=0)
    a, _ = _run_miner(**base)
    b, _ = _run_miner(**{**base, arg: value})
    assert (sorted(a.cache_keys_), a.log_.retrains) != (sorted(b.cache_keys_), b.log_.retrains)


# --------------------------------------------------------------------------- data set and boxes
def test_boxed_dataset_reads_the_embedded_boxes_zero_based():
    data = BoxedImageDataset(BOXES / "boxes.csv")
    assert len(data) == 195 and data.classes == ("butterfly", "dalmatian", "dolphin")
    first = data.samples()[0]
    assert first.boxes.tolist() == [[2, 10, 283, 187]]          # 3,11,284,188 counted from 1
    split = data.split(40, 25, seed=0)
    assert len(split.train) == 120 and len(split.test) == 75
    assert not {s.path for s in split.train} & {s.path for s in split.test}


@pytest.mark.parametrize("body, message", [
    ("image,class,x1,y1,x2,y2\n", "header"),
    ("image,class,xmin,ymin,xmax,ymax\nbutterfly/image_0001.jpg,butterfly,3,11,abc,188\n", "xmax"),
    ("image,class,xmin,ymin,xmax,ymax\nbutterfly/image_0001.jpg,butterfly,30,11,3,188\n", "reversed"),
    ("image,class,xmin,ymin,xmax,ymax\nbutterfly/image_9999.jpg,butterfly,3,11,30,188\n", "image not found"),
    ("image,class,xmin,ymin,xmax,ymax\nbutterfly/image_0001.jpg,butterfly,3,11\n", "columns"),
])
def test_boxed_dataset_errors_name_file_and_line(tmp_path, body, message):
    path = tmp_path / "boxes.csv"
    path.write_text(body)
    with pytest.raises(InputError, match=message) as err:
        BoxedImageDataset(path, BOXES / "images")
    assert str(path) in str(err.value)


def test_image_without_boxes_and_boxes_outside_the_image(tmp_path):
    path = tmp_path / "boxes.csv"
    path.write_text("image,class,xmin,ymin,xmax,ymax\nbutterfly/image_0001.jpg,butterfly,,,,\n"
                    "dolphin/image_0001.jpg,dolphin,1,1,10,10\n")
    data = BoxedImageDataset(path, BOXES / "images")
    assert len(data.samples()[0].boxes) == 0
    assert check_boxes_in_image([[-5, 2, 400, 8]], 100, 300).tolist() == [[0, 2, 299, 8]]
    with pytest.raises(InputError, match="outside"):
        check_boxes_in_image([[310, 2, 400, 8]], 100, 300, "boxes.csv:3")


# --------------------------------------------------------------------------- the detector end to end
def test_region_detector_finds_planted_objects():
    """A synthetic word map: each object quadrant has its own word (0-3), a 4-pixel ring along the
    object's border word 4, the background words 5-7: only a box aligned with the object has
    one pure quadrant word per cell and the ring."""
    rng = np.random.default_rng(0)

    def make(obj):
        pos = np.mgrid[0:60:2, 0:60:2].reshape(2, -1).T[:, ::-1].astype(float)
        x1, y1, x2, y2 = obj
        inside = (pos[:, 0] >= x1) & (pos[:, 0] <= x2) & (pos[:, 1] >= y1) & (pos[:, 1] <= y2)
        quadrant = (pos[:, 0] > (x1 + x2) / 2).astype(int) + 2 * (pos[:, 1] > (y1 + y2) / 2)
        ring = inside & ((pos[:, 0] < x1 + 4) | (pos[:, 0] > x2 - 4) | (pos[:, 1] < y1 + 4) | (pos[:, 1] > y2 - 4))
        words = np.where(ring, 4, np.where(inside, quadrant, rng.integers(5, 8, len(pos))))
        shifts = rng.integers(6, 13, (40, 2)) * rng.choice([-1, 1], (40, 2))
        shifted = np.clip(np.array(obj)[None] + np.tile(shifts, 2), 0, 59)
        background = rng.integers(0, 30, (40, 2)).repeat(2, 1) + [0, 0, 20, 20]
        props = np.vstack([shifted, background, [obj]]).astype(float)
        props = props[rng.permutation(len(props))]
        return ImageRegions(props, WordIntegral(pos, words, 8), np.array([0]), np.array([obj], float))

    objs = [tuple(int(v) for v in (a, b, a + 25, b + 25)) for a, b in rng.integers(0, 30, (12, 2))]
    images = [make(o) for o in objs]
    det = RegionDetector(layout="1x1+2x2", C=10.0).fit(images[:8], 1)
    for im in images[8:]:
        labels, scores, boxes = det.detect(im)
        assert np.array_equal(boxes[0], im.gt_boxes[0])      # the exact box ranks first
        background = iou(im.proposals, im.gt_boxes[0]) < 0.3
        assert background.any() and scores[0] > det.score(im)[background, 0].max() + 0.5
        assert np.array_equal(det.best_boxes(im, [0])[0], boxes[0])
    assert det.training_log_[0]["positives"] == 8


def test_detection_experiment_end_to_end(tmp_path):
    from experiments.config import load_config
    from experiments.runners import run_experiment

    cfg = load_config(ROOT / "experiments" / "configs" / "uva2013_detector.toml",
                      ["data.n_train=8", "data.n_test=4", "data.seeds=[0]", "encoding.n_words=64",
                       "encoding.kmeans_iter=5", "detection.train_proposals=100", "detection.test_proposals=200",
                       "detection.mode=paper_fast", "classifier.C=[1.0]", f"run.cache={tmp_path / 'cache'}",
                       "run.n_jobs=1"])
    summary = run_experiment(cfg, output=tmp_path / "runs", progress=False)
    out = tmp_path / "runs" / "uva2013_detector"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["mean_ap_mean"] == summary["mean_ap_mean"]
    # the run's numbers are those of its submission files, scored again from disk by the evaluator
    from experiments.runners.detection import rescore_split

    result, classes = rescore_split(out)
    assert classes == ("butterfly", "dalmatian", "dolphin")
    assert summary["mean_ap_mean"] == pytest.approx(result.mean_ap, abs=1e-12)
    # far above the same detections ranked at random (the detector's scores carry the information)
    from ilsvrc.ground_truth import ObjectTable, read_image_list
    from ilsvrc.metrics.detection import evaluate_detection
    from ilsvrc.submissions import read_det_submission

    sub = read_det_submission(out / "split_0" / "det_submission.txt",
                              read_image_list(out / "split_0" / "det_image_list.txt"), 3)
    gt = np.loadtxt(out / "split_0" / "det_ground_truth.txt", ndmin=2)
    n_images = int(gt[:, 0].max())
    objects = ObjectTable.from_lists([gt[gt[:, 0] == i + 1, 1].astype(np.int64) for i in range(n_images)],
                                     [gt[gt[:, 0] == i + 1, 2:6] for i in range(n_images)])
    shuffled = [evaluate_detection(sub.image, sub.label, np.random.default_rng(k).permutation(sub.score), sub.box,
                                   objects).mean_ap for k in range(5)]
    assert summary["mean_ap_mean"] > 0.25 and summary["mean_ap_mean"] > 3 * max(shuffled), \
        (summary["mean_ap_mean"], shuffled)
    loc = summary["loc_top_k_error_mean"]
    # the CLS-LOC numbers are those of the written submission, scored again by the evaluator's rules
    from ilsvrc.metrics.localization import localization_error, localization_errors
    from ilsvrc.submissions import read_loc_submission

    loc_sub = read_loc_submission(out / "split_0" / "loc_submission.txt", n_images, 3)
    truth = np.array([[int(gt[gt[:, 0] == i + 1, 1][0])] for i in range(n_images)])
    rescored = localization_error(localization_errors(loc_sub.labels, loc_sub.boxes, truth, objects))
    assert np.allclose(rescored, loc, atol=1e-12) and loc[-1] <= loc[0] and loc[-1] < 1.0, loc
    for name in ("report.md", "detections.png", "proposal_recall.png", "proposals_dolphin.png",
                 "split_0/det_submission.txt", "split_0/loc_submission.txt", "pr_curves/pr_overview.png"):
        assert (out / name).stat().st_size > 0, name
    # a second run reads every proposal and word map from the cache
    cached = list((tmp_path / "cache").rglob("*.npz"))
    run_experiment(cfg, output=tmp_path / "runs", progress=False)
    assert sorted(cached) == sorted((tmp_path / "cache").rglob("*.npz"))


def test_detection_config_validation(tmp_path):
    from experiments.config import load_config

    path = ROOT / "experiments" / "configs" / "uva2013_detector.toml"
    for override, field in [("detection.mode=slow", "detection.mode"), ("detection.proposals=edgeboxes",
                                                                          "detection.proposals"),
                            ("data.layout=folders", "data.layout"), ("detection.initial_overlap=[0.5, 0.2]",
                                                                     "detection.initial_overlap"),
                            ("detection.layout=2y2", "detection.layout"), ("detection.nonsense=1", "detection")]:
        with pytest.raises(InputError) as err:
            load_config(path, [override])
        assert field in str(err.value)


def test_config_extends_another_file(tmp_path):
    from experiments.config import load_config

    demo = load_config(ROOT / "experiments" / "configs" / "demo_detection.toml")
    full = load_config(ROOT / "experiments" / "configs" / "uva2013_detector.toml")
    assert demo.name == "demo_detection" and demo.data.seeds == (0,) and full.data.seeds == (0, 1, 2)
    assert demo.detection == full.detection and demo.data.n_train == full.data.n_train
    (tmp_path / "a.toml").write_text('extends = "b.toml"\nname = "a"\n')
    (tmp_path / "b.toml").write_text('extends = "a.toml"\nname = "b"\n')
    with pytest.raises(InputError, match="circular"):
        load_config(tmp_path / "a.toml")


def test_a_failing_test_image_is_scored_as_missed_not_dropped(tmp_path):
    """An unreadable test image is reported, gets no detections, and its objects count as missed."""
    import shutil

    from experiments.config import load_config
    from experiments.runners import run_experiment

    data = tmp_path / "boxes"
    shutil.copytree(BOXES, data)
    cfg = load_config(ROOT / "experiments" / "configs" / "demo_detection.toml",
                      ["data.n_train=6", "data.n_test=3", "encoding.n_words=32", "encoding.kmeans_iter=3",
                       "detection.train_proposals=50", "detection.test_proposals=100", "detection.mode=single",
                       "classifier.C=[1.0]", f"run.cache={tmp_path / 'cache'}", "run.n_jobs=1"])
    split = BoxedImageDataset(data / "boxes.csv").split(6, 3, 0)
    victim = Path(split.test[0].path)
    victim.write_bytes(b"not a jpeg")
    # and a training image whose box lies off the image: reported with its line, skipped
    off = Path(split.train[1].path)
    rel = f"{off.parent.name}/{off.name}"
    lines = (data / "boxes.csv").read_text().splitlines()
    lines = [f"{rel},{off.parent.name},900,900,950,950" if line.startswith(rel + ",") else line for line in lines]
    (data / "boxes.csv").write_text("\n".join(lines) + "\n")
    summary = run_experiment(cfg, data, output=tmp_path / "runs", progress=False)
    s = summary["splits"][0]
    assert s["n_test"] == 9 and s["n_test_failed"] == 1 and s["n_train"] == 17
    assert any(f["image"].endswith(victim.name) for f in s["failed_images"])
    assert any(f["image"].endswith(off.name) and "outside" in f["error"] and "boxes.csv:" in f["error"]
               for f in s["failed_images"])
    gt_lines = (tmp_path / "runs" / "demo_detection" / "split_0" / "det_ground_truth.txt").read_text().splitlines()
    assert len(gt_lines) == 9                                  # the failed image's object is still counted
    loc_lines = (tmp_path / "runs" / "demo_detection" / "split_0" / "loc_submission.txt").read_text().splitlines()
    assert len(loc_lines) == 9


def _voc_folder(root: Path, per_class: int = 4) -> Path:
    """A PASCAL-VOC layout built from the embedded boxed images (VOC counts pixels from 1)."""
    import shutil

    csv_data = BoxedImageDataset(BOXES / "boxes.csv")
    (root / "Annotations").mkdir(parents=True)
    (root / "JPEGImages").mkdir()
    (root / "ImageSets" / "Main").mkdir(parents=True)
    trainval, test = [], []
    for c, name in enumerate(csv_data.classes):
        members = [s for s in csv_data.samples() if s.label == c][:per_class]
        for k, s in enumerate(members):
            stem = f"{name}_{Path(s.path).stem}"
            shutil.copy(s.path, root / "JPEGImages" / f"{stem}.jpg")
            x1, y1, x2, y2 = (s.boxes[0] + 1).astype(int).tolist()
            (root / "Annotations" / f"{stem}.xml").write_text(
                f"<annotation><filename>{stem}.jpg</filename><object><name>{name}</name><bndbox>"
                f"<xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"
                "</annotation>")
            (test if k == 0 else trainval).append(stem)
    (root / "ImageSets" / "Main" / "trainval.txt").write_text("\n".join(trainval) + "\n")
    (root / "ImageSets" / "Main" / "test.txt").write_text("\n".join(test) + "\n")
    return root


def test_voc_layout_reads_zero_based_boxes_and_the_official_split(tmp_path):
    voc = BoxedImageDataset.from_voc(_voc_folder(tmp_path / "VOC"))
    csv_data = BoxedImageDataset(BOXES / "boxes.csv")
    assert voc.classes == csv_data.classes and len(voc) == 12
    by_name = {Path(s.path).name: s for s in csv_data.samples() if s.label == 0}
    first = voc.samples()[0]
    assert np.array_equal(first.boxes, by_name[Path(first.path).name.split("_", 1)[1]].boxes)
    split = voc.split(40, 25, seed=7)                       # the official split, whatever the numbers
    assert len(split.train) == 9 and len(split.test) == 3
    (tmp_path / "bad").mkdir()
    with pytest.raises(InputError, match="Annotations"):
        BoxedImageDataset.from_voc(tmp_path / "bad")


def test_detection_run_on_a_voc_folder(tmp_path):
    from experiments.config import load_config
    from experiments.runners import run_experiment

    voc = _voc_folder(tmp_path / "VOC", per_class=6)
    cfg = load_config(ROOT / "experiments" / "configs" / "demo_detection.toml",
                      ["encoding.n_words=32", "encoding.kmeans_iter=3", "detection.train_proposals=50",
                       "detection.test_proposals=100", "detection.mode=single", "classifier.C=[1.0]",
                       f"run.cache={tmp_path / 'cache'}", "run.n_jobs=1"])
    summary = run_experiment(cfg, voc, output=tmp_path / "runs", progress=False)
    assert summary["splits"][0]["n_train"] == 15 and summary["splits"][0]["n_test"] == 3
    from experiments.runners.detection import rescore_split

    result, _ = rescore_split(tmp_path / "runs" / "demo_detection")
    assert summary["mean_ap_mean"] == pytest.approx(result.mean_ap, abs=1e-12)
    # the VOC objects are read and matched: a test image's own object is found
    assert np.isfinite(result.ap).all() and summary["mean_ap_mean"] > 0
