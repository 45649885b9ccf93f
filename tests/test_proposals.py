"""Proposals: working size and the box mapping back, compact dtypes, near-duplicate suppression,
backend names, the collage photo set and the equal-budget comparison of the benchmark."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from baselines import proposals as proposals_module
from baselines.detection import non_maximum_suppression
from baselines.proposals import ProposalConfig, propose
from baselines.selective_search import (color_bins, convert_color, selective_search, suppress_near_duplicates,
                                        texture_bins)
from features.image_io import boxes_to_original, load_image, shrink_to_max_side
from ilsvrc.boxes import iou, iou_matrix
from experiments.datasets import BoxedImageDataset

ROOT = Path(__file__).resolve().parent.parent
BOXES = ROOT / "data" / "caltech101_boxes"


def _random_boxes(rng, n, h, w):
    xy = np.c_[rng.integers(0, w, n), rng.integers(0, h, n)]
    wh = np.c_[rng.integers(1, w + 1, n), rng.integers(1, h + 1, n)]
    x2 = np.minimum(xy[:, 0] + wh[:, 0] - 1, w - 1)
    y2 = np.minimum(xy[:, 1] + wh[:, 1] - 1, h - 1)
    return np.c_[xy, x2, y2].astype(float)


# --------------------------------------------------------------------------- boxes back to the original pixels
@pytest.mark.parametrize("working, original", [((375, 500), (3000, 4000)), ((333, 500), (1000, 1500)),
                                               ((7, 11), (30, 19)), ((500, 375), (499, 374))])
def test_whole_working_image_maps_to_the_whole_original(working, original):
    whole = np.array([[0, 0, working[1] - 1, working[0] - 1]], float)
    assert boxes_to_original(whole, working, original).tolist() == [[0, 0, original[1] - 1, original[0] - 1]]


def test_box_mapping_follows_pixel_centres_per_axis():
    # width 20 -> 40 (x factor 2), height 10 -> 45 (y factor 4.5): each axis its own factor
    got = boxes_to_original(np.array([[1, 2, 3, 3]], float), (10, 20), (45, 40))
    # working x pixels 1..3 span [0.5, 3.5) -> [(0.5 + 0.5) * 2 - 0.5, (3.5 + 0.5) * 2 - 0.5) = [1.5, 7.5): pixels 2..7
    # working y pixels 2..3 span [1.5, 3.5) -> [2 * 4.5 - 0.5, 4 * 4.5 - 0.5) = [8.5, 17.5): pixels 9..17
    assert got.tolist() == [[2, 9, 7, 17]]
    # multiplying the corners by one scale (the old way) is a pixel off at the far edge
    assert (np.array([1, 2, 3, 3]) * 2).tolist() != got[0].tolist()
    # pixel 1 of 4 spans [0.5, 1.5) -> [2.0, 4.5) of 10: centres 2, 3 and 4 (an edge on a centre includes it)
    assert boxes_to_original(np.array([[1, 1, 1, 1]], float), (4, 4), (10, 10)).tolist() == [[2, 2, 4, 4]]


def test_box_mapping_agrees_with_pixel_centre_inclusion():
    """Oracle: an original pixel belongs to the mapped box iff its centre lies inside the box's continuous extent."""
    rng = np.random.default_rng(0)
    for working, original in (((37, 50), (300, 400)), ((41, 29), (130, 97)), ((64, 48), (21, 17))):
        boxes = _random_boxes(rng, 200, *working)
        got = boxes_to_original(boxes, working, original)
        for axis, (lo, hi) in ((1, (0, 2)), (0, (1, 3))):
            f = original[axis] / working[axis]
            centres = (np.arange(original[axis]) + 0.5) / f - 0.5      # original pixel centres, working units
            for box, mapped in zip(boxes, got):
                inside = np.flatnonzero((centres >= box[lo] - 0.5) & (centres < box[hi] + 0.5))
                if len(inside):
                    assert (mapped[lo], mapped[hi]) == (inside[0], inside[-1])
                else:                     # shrinking left no centre inside: the pixel holding the middle
                    middle = ((box[lo] + box[hi]) / 2 + 0.5) * f - 0.5
                    assert mapped[lo] == mapped[hi] == np.floor(middle + 0.5)


def test_box_mapping_round_trips_and_stays_inside():
    rng = np.random.default_rng(1)
    for working, original in (((375, 500), (3000, 4000)), ((333, 500), (1000, 1500)), ((50, 70), (51, 141))):
        boxes = _random_boxes(rng, 500, *working)
        up = boxes_to_original(boxes, working, original)
        assert np.array_equal(boxes_to_original(up, original, working), boxes)      # back to the same pixels
        assert np.all(up[:, 2:] >= up[:, :2]) and up[:, 2].max() <= original[1] - 1 and up[:, 3].max() <= original[0] - 1
        down = boxes_to_original(up, original, working)
        assert np.all(down[:, 2:] >= down[:, :2])
    with pytest.raises(ValueError, match="boxes"):
        boxes_to_original(np.zeros((3, 5)), (10, 10), (20, 20))
    with pytest.raises(ValueError, match="working_shape"):
        boxes_to_original(np.zeros((1, 4)), (0, 10), (20, 20))


# --------------------------------------------------------------------------- working size in propose
def test_a_large_image_is_searched_at_the_working_size(monkeypatch):
    photo = load_image(BOXES / "images" / "dolphin" / "image_0009.jpg")
    import cv2

    big = cv2.resize(photo, (1203, 901), interpolation=cv2.INTER_CUBIC)     # per-axis factors differ once shrunk
    seen = []
    real = proposals_module.selective_search

    def spy(image, *args, **kwargs):
        seen.append(image.shape)
        return real(image, *args, **kwargs)

    monkeypatch.setattr(proposals_module, "selective_search", spy)
    boxes = propose(big, ProposalConfig(mode="single", max_side=400))
    working = shrink_to_max_side(big, 400)
    assert seen == [working.shape] and max(working.shape[:2]) == 400
    expected = boxes_to_original(real(working, "single"), working.shape, big.shape)
    assert np.array_equal(boxes, expected)
    assert [0, 0, 1202, 900] in boxes.tolist()                                  # the whole image, exactly
    # max_side 0 keeps the image; an image within the working size is not resized
    seen.clear()
    propose(photo, ProposalConfig(mode="single"))
    assert seen == [photo.shape]
    with pytest.raises(ValueError, match="max_side"):
        ProposalConfig(max_side=-1)


def test_every_backend_returns_boxes_on_the_original_pixels():
    img = np.zeros((900, 1200, 3), np.uint8)
    img[:] = (30, 120, 200)
    img[300:604, 448:904] = (250, 240, 10)         # on the working image (factor 4): x 112..225, y 75..150
    rect = np.array([448, 300, 903, 603], float)
    for backend in ("selective_search", "opencv", "selectivesearch_package"):
        boxes = propose(img, ProposalConfig(backend=backend, max_side=300))
        assert iou(boxes, rect).max() > 0.95, backend
        # a working pixel is exactly 4 x 4 original pixels: every box starts and ends on a working pixel's edge
        assert np.all(boxes[:, :2] % 4 == 0) and np.all((boxes[:, 2:] + 1) % 4 == 0), backend
        assert boxes.min() == 0 and boxes[:, 2].max() == 1199 and boxes[:, 3].max() == 899
        assert not np.signbit(boxes).any()


def test_compact_per_pixel_maps():
    photo = load_image(BOXES / "images" / "butterfly" / "image_0003.jpg")
    lab = convert_color(photo, "lab")
    tex, col = texture_bins(lab), color_bins(lab)
    assert tex.dtype == np.uint8 and tex.shape == (24,) + photo.shape[:2] and tex.max() == 9
    assert col.dtype == np.uint8 and np.array_equal(col, np.moveaxis(lab.astype(np.int64) * 25 // 256, 2, 0))
    # a vertical step edge (dark left, bright right): maps are (0, 45, 90, 135 degrees) x (positive, negative);
    # the derivative along 0 and 45 degrees is positive, along 135 degrees negative
    step = np.zeros((20, 20, 1), np.uint8)
    step[:, 10:] = 200
    bins = texture_bins(step)
    assert bins[[0, 2, 7], 10, 9:11].min() == 9 and bins[[1, 3, 6]].max() == 0


# --------------------------------------------------------------------------- near-duplicate suppression
def test_near_duplicate_suppression_equals_greedy_nms():
    rng = np.random.default_rng(2)
    for _ in range(60):
        boxes = _random_boxes(rng, int(rng.integers(2, 120)), 60, 80)
        jitter = boxes[: len(boxes) // 2] + rng.integers(-2, 3, (len(boxes) // 2, 4))
        jitter[:, 2:] = np.maximum(jitter[:, 2:], jitter[:, :2])
        boxes = np.vstack([boxes, jitter])
        for overlap in (0.3, 0.7, 0.9, 0.95):
            expected = np.sort(non_maximum_suppression(boxes, -np.arange(len(boxes), dtype=float), overlap))
            assert np.array_equal(suppress_near_duplicates(boxes, overlap), expected)
    real = selective_search(load_image(BOXES / "images" / "dalmatian" / "image_0004.jpg"), "paper_fast")
    expected = np.sort(non_maximum_suppression(real, -np.arange(len(real), dtype=float), 0.9))
    assert np.array_equal(suppress_near_duplicates(real, 0.9), expected) and len(expected) < len(real)
    assert suppress_near_duplicates(real[:1], 0.9).tolist() == [0]
    with pytest.raises(ValueError, match="overlap"):
        suppress_near_duplicates(real, 1.0)


# --------------------------------------------------------------------------- names
def test_backend_names():
    assert proposals_module.BACKENDS == ("selective_search", "opencv", "selectivesearch_package")
    with pytest.raises(ValueError, match="selectivesearch_package"):
        ProposalConfig(backend="selectivesearch")


# --------------------------------------------------------------------------- the collage set
collages = pytest.importorskip("benchmarks.collages")
needs_backgrounds = pytest.mark.skipif(not collages.BACKGROUNDS.is_dir(),
                                       reason=f"needs the Caltech-101 background photographs at {collages.BACKGROUNDS}")


@needs_backgrounds
def test_collages_are_reproducible_and_their_boxes_hold_the_pasted_objects(tmp_path):
    source = collages.CollageSource()
    first = collages.make_collages(3, 5, source)
    again = collages.make_collages(2, 5, source)
    other = collages.make_collages(1, 6, source)
    for a, b in zip(first, again):
        assert np.array_equal(a.image, b.image) and np.array_equal(a.boxes, b.boxes)
    assert not np.array_equal(first[0].boxes, other[0].boxes)
    settings = collages.CollageSettings()
    for c in first:
        h, w = c.image.shape[:2]
        assert settings.image_side[0] <= max(h, w) <= settings.image_side[1]
        assert 1 <= len(c.boxes) <= settings.objects[1] and len(c.labels) == len(c.boxes)
        sides = np.maximum(c.boxes[:, 2] - c.boxes[:, 0] + 1, c.boxes[:, 3] - c.boxes[:, 1] + 1)
        assert np.all(sides >= settings.object_side[0] - 1) and np.all(sides <= settings.object_side[1] + 1)
        assert c.boxes[:, :2].min() >= 0 and c.boxes[:, 2].max() < w and c.boxes[:, 3].max() < h
        for i in range(len(c.boxes)):                          # objects never overlap
            for j in range(i):
                a, b = c.boxes[i], c.boxes[j]
                assert a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1]
    csv = collages.write_collages(first, tmp_path / "set", source.classes)
    data = BoxedImageDataset(csv)
    for c, s in zip(first, data.samples()):
        assert np.array_equal(s.boxes, c.boxes) and np.array_equal(load_image(s.path), c.image)


def test_equal_budget_quality_uses_the_references_count_per_image():
    from benchmarks.proposals import equal_budget_quality

    gt = [np.array([[0, 0, 9, 9]], float), np.array([[0, 0, 9, 9]], float)]
    labels = [np.array([0]), np.array([0])]
    miss = [20, 20, 30, 30]
    ours = [np.array([miss, [0, 0, 9, 9]], float), np.array([miss, [0, 0, 9, 9]], float)]
    reference = [np.zeros((1, 4)), np.zeros((2, 4))]           # one box for the first image, two for the second
    q = equal_budget_quality(ours, reference, gt, labels)
    assert q["reference"].recall_50 == 0.5 and q["reference"].boxes_per_image == 1.5
    assert q[100].recall_50 == 1.0


def test_interleaved_proposals_warm_each_method_untimed_then_take_turns(monkeypatch):
    from benchmarks import proposals as bench

    calls = []

    def method(name, cost):
        def run(image):
            calls.append((name, image.shape))
            clock[0] += cost if image.shape[0] > 64 else 100.0     # a slow first call (loading compiled code)
            return np.zeros((image.shape[0], 4))
        return run

    clock = [0.0]
    monkeypatch.setattr(bench.time, "perf_counter", lambda: clock[0])
    images = [np.zeros((80 + i, 90, 3), np.uint8) for i in range(3)]
    props, seconds = bench.propose_interleaved({"a": method("a", 1.0), "b": method("b", 2.0)}, images)
    assert calls[:2] == [("a", (64, 64, 3)), ("b", (64, 64, 3))]            # warm-up on a corner, untimed
    assert [name for name, _ in calls[2:]] == ["a", "b", "b", "a", "a", "b"]  # turns alternate image by image
    assert seconds == {"a": 3.0, "b": 6.0}
    assert [len(p) for p in props["a"]] == [80, 81, 82]                     # the warm-up's output is not kept


# --------------------------------------------------------------------------- the ranking of the fast mode
def test_levels_count_merges_from_the_initial_regions_as_opencv_does():
    from baselines.selective_search import MODES, Hierarchy, selective_search_hierarchies

    chain = Hierarchy(np.zeros((7, 4)), np.array([[0, 1], [4, 2], [5, 3]]), 4)
    balanced = Hierarchy(np.zeros((7, 4)), np.array([[0, 1], [2, 3], [4, 5]]), 4)
    assert chain.levels.tolist() == [1, 1, 1, 1, 2, 3, 4]
    assert balanced.levels.tolist() == [1, 1, 1, 1, 2, 2, 3]
    assert chain.positions.tolist() == balanced.positions.tolist() == [7, 6, 5, 4, 3, 2, 1]
    photo = load_image(BOXES / "images" / "butterfly" / "image_0010.jpg")
    for _, h in selective_search_hierarchies(photo[::2, ::2], MODES["paper_fast"]):
        assert h.levels.tolist() == [_height_oracle(h, r) for r in range(len(h.boxes))]


def _height_oracle(hierarchy, region: int) -> int:
    """A region's level counted from the initial regions, by recursion over the merge tree."""
    if region < hierarchy.n_initial:
        return 1
    a, b = hierarchy.parents[region - hierarchy.n_initial]
    return 1 + max(_height_oracle(hierarchy, int(a)), _height_oracle(hierarchy, int(b)))


def _ranking_oracle(hierarchies, seed, gamma, vote_overlap, overlap, demote_overlap=1.0, factor=1.0, by_level=None):
    """The ranking written out box by box: RND * position (or RND * level where by_level says so) /
    (votes * near votes) ** gamma, the best value per box, greedy NMS in ranked order, then the values
    of the boxes NMS at demote_overlap would drop multiplied by factor."""
    rng = np.random.default_rng(seed)
    occurrences = []
    for h_index, h in enumerate(hierarchies):
        n = len(h.boxes)
        level = by_level is not None and by_level[h_index]
        ranks = [_height_oracle(h, r) for r in range(n)] if level else [n - r for r in range(n)]
        for box, rnd, rank in zip(h.boxes.tolist(), rng.random(n), ranks):
            occurrences.append((tuple(box), rnd * rank, h_index))
    holders = {}
    for box, _, h_index in occurrences:
        holders.setdefault(box, set()).add(h_index)
    distinct = list(holders)
    overlaps = iou_matrix(np.array(distinct, float), np.array(distinct, float))
    near = {box: set().union(*(holders[distinct[j]] for j in np.flatnonzero((overlaps[i] > vote_overlap)
                                                                             | (np.arange(len(distinct)) == i))))
            for i, box in enumerate(distinct)}
    best = {}
    for i, (box, value, _) in enumerate(occurrences):
        key = (value / (len(holders[box]) * len(near[box])) ** gamma, i)
        best[box] = min(best.get(box, key), key)
    ranked = sorted(best, key=best.get)
    if overlap < 1:
        kept = non_maximum_suppression(np.array(ranked, float), -np.arange(len(ranked), dtype=float), overlap)
        ranked = [ranked[i] for i in np.sort(kept)]
    if factor > 1:
        kept = set(non_maximum_suppression(np.array(ranked, float), -np.arange(len(ranked), dtype=float),
                                           demote_overlap).tolist())
        value = {box: best[box][0] * (1 if i in kept else factor) for i, box in enumerate(ranked)}
        ranked = sorted(ranked, key=lambda box: (value[box], ranked.index(box)))
    return np.array(ranked, float)


def test_vote_ranking_matches_the_oracle():
    from baselines.selective_search import MODES, rank_hierarchies, selective_search_hierarchies

    photo = load_image(BOXES / "images" / "dolphin" / "image_0021.jpg")
    hierarchies = [h for _, h in selective_search_hierarchies(photo, MODES["paper_fast"])]
    for gamma, vote_overlap, overlap, demote, factor in ((0.0, 1.0, 1.0, 1.0, 1.0), (2.0, 1.0, 1.0, 1.0, 1.0),
                                                         (1.0, 0.9, 0.98, 0.8, 3.0), (1.5, 0.7, 0.9, 0.6, 10.0)):
        got = rank_hierarchies(hierarchies, seed=3, vote_exponent=gamma, vote_overlap=vote_overlap,
                               suppress_overlap=overlap, demote_overlap=demote, demote_factor=factor)
        expected = _ranking_oracle(hierarchies, 3, gamma, vote_overlap, overlap, demote, factor)
        assert np.array_equal(got, expected), (gamma, vote_overlap, overlap, demote, factor)
    # some hierarchies ranked from the initial regions up (OpenCV's RND * level)
    mixed = [False, True, False, True, False, False, True, False]
    for gamma, vote_overlap, overlap, demote, factor in ((0.0, 1.0, 1.0, 1.0, 1.0), (1.0, 0.9, 0.98, 0.8, 3.0)):
        got = rank_hierarchies(hierarchies, seed=5, vote_exponent=gamma, vote_overlap=vote_overlap,
                               suppress_overlap=overlap, demote_overlap=demote, demote_factor=factor, by_level=mixed)
        expected = _ranking_oracle(hierarchies, 5, gamma, vote_overlap, overlap, demote, factor, by_level=mixed)
        assert np.array_equal(got, expected), (gamma, vote_overlap, overlap, demote, factor)
    unflagged = rank_hierarchies(hierarchies, seed=3)
    assert np.array_equal(rank_hierarchies(hierarchies, seed=3, by_level=[False] * 8), unflagged)
    # ranked by level, the initial regions come first (38-40 of the first 50 boxes are initial regions'
    # boxes, against 8-16 by position), and the boxes are small (median area 600-1,300 px against
    # 4,000-17,000 px on this 300 x 211 photograph)
    initial = {tuple(b) for h in hierarchies for b in h.boxes[:h.n_initial].tolist()}
    area = lambda b: (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)     # noqa: E731
    for seed in range(3):
        by_level = rank_hierarchies(hierarchies, seed=seed, by_level=[True] * 8)[:50]
        by_position = rank_hierarchies(hierarchies, seed=seed)[:50]
        assert sum(tuple(b) in initial for b in by_level.tolist()) >= 35
        assert sum(tuple(b) in initial for b in by_position.tolist()) <= 20
        assert np.median(area(by_level)) * 3 < np.median(area(by_position))
    with pytest.raises(ValueError, match="by_level"):
        rank_hierarchies(hierarchies, by_level=[True])
    for flag in (True, np.True_, 1):           # one flag for all would be ambiguous: name what is expected
        with pytest.raises(TypeError, match=r"by_level: expected one flag per hierarchy \(a sequence of 8 bools\)"):
            rank_hierarchies(hierarchies, by_level=flag)
    with pytest.raises(TypeError, match="by_level"):
        rank_hierarchies([], by_level=True)


def test_fast_mode_ranks_its_coarse_hierarchies_by_level():
    from baselines.selective_search import MODES, rank_hierarchies, selective_search, selective_search_hierarchies

    fast = MODES["fast"]
    photo = load_image(BOXES / "images" / "dalmatian" / "image_0005.jpg")[::2, ::2]
    hierarchies = [h for _, h in selective_search_hierarchies(photo, fast)]
    settings = dict(vote_exponent=fast.vote_exponent, vote_overlap=fast.vote_overlap,
                    suppress_overlap=fast.suppress_overlap, demote_overlap=fast.demote_overlap,
                    demote_factor=fast.demote_factor)
    got = selective_search(photo, "fast", seed=4)
    assert np.array_equal(got, rank_hierarchies(hierarchies, seed=4, by_level=fast.ranked_by_level, **settings))
    assert not np.array_equal(got, rank_hierarchies(hierarchies, seed=4, **settings))
    # votes move boxes that several hierarchies share ahead
    plain = rank_hierarchies(hierarchies, seed=3)
    voted = rank_hierarchies(hierarchies, seed=3, vote_exponent=1.0, vote_overlap=0.9)
    shared = {tuple(b) for b in hierarchies[0].boxes.tolist()} & {tuple(b) for b in hierarchies[2].boxes.tolist()}
    rank_of = lambda boxes: {tuple(b): i for i, b in enumerate(boxes.tolist())}     # noqa: E731
    p, v = rank_of(plain), rank_of(voted)
    assert np.mean([v[b] for b in shared]) < np.mean([p[b] for b in shared])


def test_fast_mode_keeps_objects_below_the_authors_minimum_region_size():
    # five 6 x 6 squares (36 pixels) on a 227 px photograph of faint noise: every
    # segmentation whose minimum region size is k (50 and up) or OpenCV's 100 merges them
    # into the background; the fine k = 100 segmentation with a minimum of 30 keeps each
    # one as a region, so its exact box is among the first few hundred proposals
    import dataclasses

    from baselines import selective_search as ss

    rng = np.random.default_rng(0)
    image = np.full((170, 227, 3), 128, np.uint8) + rng.integers(0, 6, (170, 227, 3)).astype(np.uint8)
    squares = []
    for (y, x), colour in zip([(20, 30), (60, 150), (120, 80), (140, 200), (30, 190)],
                              [(230, 40, 40), (40, 200, 40), (40, 40, 220), (240, 240, 30), (20, 20, 20)]):
        image[y:y + 6, x:x + 6] = colour
        squares.append([x, y, x + 5, y + 5])
    fast = ss.MODES["fast"]
    ranked = selective_search(image, fast).astype(int).tolist()
    assert all(square in ranked[:300] for square in squares)
    fine = [grid for grid in fast.extra if len(grid) > 3 and grid[3] == 30]
    assert fine == [(("hsv", "lab"), (100,), ("C+T+S+F",), 30)]
    without = selective_search(image, dataclasses.replace(fast, extra=tuple(g for g in fast.extra if g not in fine)))
    assert not any(square in without.astype(int).tolist() for square in squares)


def test_fast_mode_segments_each_colour_space_threshold_and_minimum_size_once(monkeypatch):
    from baselines import selective_search as ss

    calls, graphs = [], []
    real_segment, real_graph = ss.segment_sorted_graph, ss.sorted_pixel_graph

    def counting_segment(graph, k, min_size):
        calls.append(([id(g) for g in graphs].index(id(graph)), k, min_size))
        return real_segment(graph, k, min_size)

    def counting_graph(image, sigma):
        graphs.append(real_graph(image, sigma))
        return graphs[-1]

    monkeypatch.setattr(ss, "segment_sorted_graph", counting_segment)
    monkeypatch.setattr(ss, "sorted_pixel_graph", counting_graph)
    photo = load_image(BOXES / "images" / "butterfly" / "image_0010.jpg")
    hierarchies = ss.selective_search_hierarchies(photo, ss.MODES["fast"])
    # one sorted graph per colour space, segmented at k = 50, 100, 200 with the authors'
    # minimum region size k, at k = 300 with OpenCV's 100, and at k = 100 with 30
    assert len(graphs) == 2
    assert sorted(calls) == sorted([(g, k, k) for g in (0, 1) for k in (50, 100, 200)]
                                   + [(g, 300, 100) for g in (0, 1)] + [(g, 100, 30) for g in (0, 1)])
    assert [tuple(d.values()) for d, _ in hierarchies] == ss.MODES["fast"].hierarchy_keys
    assert len(hierarchies) == 18 and len(set(ss.MODES["fast"].hierarchy_keys)) == 18
    # a grid's own min_size is a different segmentation from the same k with the default one
    both = ss.SelectiveSearchConfig(("hsv",), (100,), ("S",), extra=((("hsv",), (100,), ("S",), 20),))
    assert both.hierarchy_keys == [("hsv", 100, "S", 100), ("hsv", 100, "S", 20)]
    (_, coarse), (_, fine) = ss.selective_search_hierarchies(photo[::2, ::2], both)
    assert fine.n_initial > coarse.n_initial
    for bad in (0, 2.5, "100"):
        with pytest.raises(ValueError, match="min_size"):
            ss.SelectiveSearchConfig(extra=((("hsv",), (100,), ("S",), bad),))
    with pytest.raises(ValueError, match="extra"):
        ss.SelectiveSearchConfig(extra=((("hsv",), (100,)),))
    # the coarse k = 300 hierarchies are ranked by level (OpenCV's order), the others by position
    assert [key for key, level in zip(ss.MODES["fast"].hierarchy_keys, ss.MODES["fast"].ranked_by_level) if level] \
        == [("hsv", 300, "C+T+S+F", 100), ("lab", 300, "C+T+S+F", 100)]
    assert not any(ss.MODES["paper_fast"].ranked_by_level) and not any(ss.MODES["quality"].ranked_by_level)
    ordered = ss.SelectiveSearchConfig(("hsv",), (100,), ("S",), min_size=30,
                                       extra=((("hsv",), (100, 200), ("S",), 30, "level"),
                                              (("hsv",), (300,), ("S",), None, "level"), (("hsv",), (50,), ("S",))))
    assert ordered.hierarchy_keys == [("hsv", 100, "S", 30), ("hsv", 200, "S", 30), ("hsv", 300, "S", 300),
                                      ("hsv", 50, "S", 30)]
    # a hierarchy listed twice keeps its first order; a grid without an order is ranked by position
    assert ordered.ranked_by_level == [False, True, True, False]
    assert both.ranked_by_level == [False, False]
    with pytest.raises(ValueError, match="order must be one of"):
        ss.SelectiveSearchConfig(extra=((("hsv",), (100,), ("S",), 100, "top"),))
    with pytest.raises(ValueError, match="strategies"):
        ss.SelectiveSearchConfig(extra=((("hsv",), (100,), ("X",)),))
    with pytest.raises(ValueError, match="suppress_overlap"):
        ss.SelectiveSearchConfig(suppress_overlap=0.0)
    with pytest.raises(ValueError, match="vote_overlap"):
        ss.SelectiveSearchConfig(vote_overlap=1.5)
    with pytest.raises(ValueError, match="demote_factor"):
        ss.SelectiveSearchConfig(demote_factor=0.5)
