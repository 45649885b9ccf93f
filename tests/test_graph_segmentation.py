"""The graph segmentation against OpenCV's ``ximgproc`` (the reference), label for label."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from baselines.graph_segmentation import (_heap_sort, graph_segmentation, segment_sorted_graph, sorted_pixel_graph,
                                          std_sort)
from baselines.selective_search import convert_color
from features.image_io import load_image

cv2 = pytest.importorskip("cv2")

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = sorted((ROOT / "data" / "caltech101_boxes" / "images").glob("*/image_00[0-2]3.jpg"))


def _opencv(image, k, min_size, sigma=0.8):
    return cv2.ximgproc.segmentation.createGraphSegmentation(sigma, float(k), int(min_size)).processImage(image)


def _overexposed(h=90, w=120):
    """Saturated plateaus, a hard vertical step, steps at 45 degrees and a repeated texture:
    many edges of exactly equal positive weight, whose order decides the merges."""
    y, x = np.mgrid[:h, :w]
    img = np.full((h, w, 3), 255, np.uint8)
    img[:, w // 2:] = (250, 251, 252)
    img[(x + y) % 16 < 8] = (0, 0, 0)
    img[h // 2:, :w // 3] = ((x[h // 2:, :w // 3] // 2 % 2) * 255)[:, :, None]
    return img


def test_segmentations_equal_opencv_label_for_label_on_photographs():
    assert len(PHOTOS) >= 6
    for path in PHOTOS:
        rgb = load_image(path)
        for space in ("hsv", "lab"):
            image = convert_color(rgb, space)
            graph = sorted_pixel_graph(image)
            for k, min_size in ((50, 50), (100, 100), (300, 100), (150, 20)):
                got = segment_sorted_graph(graph, k, min_size)
                assert got.dtype == np.int32 and got.shape == rgb.shape[:2]
                assert np.array_equal(got, _opencv(image, k, min_size)), (path.name, space, k, min_size)


def test_ties_are_broken_in_opencvs_order():
    image = _overexposed()
    graph = sorted_pixel_graph(image)
    positive = graph.weights[graph.weights > 0]
    assert len(positive) - len(np.unique(positive)) > 1000          # the case is about ties
    # a stable sort breaks the ties otherwise, and the segmentation changes with it
    for k, min_size in ((20, 5), (100, 30), (500, 1), (2000, 50)):
        assert np.array_equal(segment_sorted_graph(graph, k, min_size), _opencv(image, k, min_size)), (k, min_size)
    for sigma in (0.0, 0.5, 2.0):
        assert np.array_equal(graph_segmentation(image, 100, sigma=sigma, min_size=10),
                              _opencv(image, 100, 10, sigma=sigma)), sigma


def test_random_palette_images_with_many_ties_equal_opencv():
    # few colours, blocky layouts, several sigmas and thresholds: a stable sort or weights summed
    # in double fail some tens of these 300 cases
    rng = np.random.default_rng(123)
    for trial in range(300):
        h, w = rng.integers(5, 60, 2)
        channels = int(rng.choice([2, 3, 4]))
        palette = rng.integers(0, 256, (rng.integers(2, 6), channels))
        image = palette[rng.integers(0, len(palette), (h, w))]
        if rng.random() < 0.5:
            image = np.repeat(np.repeat(image[: (h + 1) // 2, : (w + 1) // 2], 2, 0), 2, 1)[:h, :w]
        image = (image.astype(np.uint8) if rng.random() < 0.7
                 else image.astype(np.float32) + rng.random(image.shape, dtype=np.float32))
        sigma = float(rng.choice([0.3, 0.5, 0.8, 1.5]))
        k, min_size = float(rng.choice([1, 5, 20, 60, 200])), int(rng.choice([1, 3, 5, 20]))
        assert np.array_equal(graph_segmentation(image, k, sigma=sigma, min_size=min_size),
                              _opencv(image, k, min_size, sigma=sigma)), trial


@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 9, 3), (7, 1, 3), (2, 2, 1), (33, 17, 1), (40, 50, 4), (25, 30)])
def test_small_odd_and_many_channel_images_equal_opencv(shape):
    rng = np.random.default_rng(sum(shape))
    image = rng.integers(0, 256, shape).astype(np.uint8)
    image[: shape[0] // 2] = 255                                     # a saturated half
    for k, min_size in ((1, 1), (80, 10), (400, 400)):
        assert np.array_equal(graph_segmentation(image, k, min_size=min_size), _opencv(image, k, min_size))
    floats = rng.random(shape, dtype=np.float32) * 100
    assert np.array_equal(graph_segmentation(floats, 30, min_size=3), _opencv(floats, 30, 3))


def test_labels_follow_the_first_pixel_and_min_size_holds():
    image = convert_color(load_image(PHOTOS[0]), "lab")
    labels = graph_segmentation(image, 200, min_size=150)
    first = [int(np.flatnonzero(labels.ravel() == i)[0]) for i in range(labels.max() + 1)]
    assert first == sorted(first)
    assert np.bincount(labels.ravel()).min() >= 150
    # a larger k never gives more regions on the same graph
    graph = sorted_pixel_graph(image)
    counts = [segment_sorted_graph(graph, k, 1).max() + 1 for k in (10, 50, 250, 1250)]
    assert counts == sorted(counts, reverse=True) and counts[0] > 2 * counts[-1]


def test_bad_input_is_refused_with_the_field_name():
    with pytest.raises(ValueError, match="image"):
        sorted_pixel_graph(np.zeros((0, 5, 3)))
    with pytest.raises(ValueError, match="image"):
        sorted_pixel_graph(np.zeros((4, 5, 3, 2)))
    with pytest.raises(ValueError, match="2\\*\\*29 pixels"):
        sorted_pixel_graph(np.broadcast_to(np.zeros(1, np.uint8), (1 << 15, (1 << 14) + 1)))
    with pytest.raises(ValueError, match="finite"):
        sorted_pixel_graph(np.full((4, 5), np.nan, np.float32))
    with pytest.raises(ValueError, match="k"):
        segment_sorted_graph(sorted_pixel_graph(np.zeros((4, 5))), 0, 1)


_STD_SORT_PROGRAM = r"""
#include <algorithm>
#include <cstdio>
#include <vector>
struct Edge { float weight; int id; bool operator<(const Edge &e) const { return weight < e.weight; } };
int main() {
    int n, heap;
    while (std::scanf("%d %d", &n, &heap) == 2) {
        std::vector<Edge> v(n);
        for (int i = 0; i < n; i++) { std::scanf("%f", &v[i].weight); v[i].id = i; }
        if (heap) std::partial_sort(v.begin(), v.end(), v.end()); else std::sort(v.begin(), v.end());
        for (int i = 0; i < n; i++) std::printf("%d ", v[i].id);
        std::printf("\n");
    }
}
"""


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++ to run libstdc++'s std::sort itself")
def test_std_sort_permutes_ties_as_libstdcxx(tmp_path):
    source = tmp_path / "sort.cpp"
    source.write_text(_STD_SORT_PROGRAM)
    subprocess.run(["g++", "-O1", "-o", str(tmp_path / "sort"), str(source)], check=True)
    rng = np.random.default_rng(7)
    cases = []
    for n in [0, 1, 2, 3, 15, 16, 17, 18, 33, 100, 1000, 5000, 20000]:
        for levels in (1, 2, 5, 50, 10 ** 6):                      # 1: all equal ... 10^6: few ties
            keys = rng.integers(0, levels, n).astype(np.float32) / 4
            for heap in (0, 1):
                cases.append((keys, heap))
        cases.append((np.sort(rng.random(n, dtype=np.float32)), 0))          # sorted and reversed
        cases.append((np.sort(rng.random(n, dtype=np.float32))[::-1].copy(), 0))
    stdin = "".join(f"{len(k)} {h}\n" + " ".join(repr(float(x)) for x in k) + "\n" for k, h in cases)
    lines = subprocess.run([str(tmp_path / "sort")], input=stdin, capture_output=True, text=True,
                           check=True).stdout.splitlines()
    assert len(lines) == len(cases)
    for (keys, heap), line in zip(cases, lines):
        expected = np.array(line.split(), np.int64)
        # the key's float32 bits in the high word, the index in the low word (as the edges)
        items = (keys.view(np.uint32).astype(np.uint64) << np.uint64(32)) | np.arange(len(keys), dtype=np.uint64)
        (_heap_sort(items, 0, len(keys)) if heap else std_sort(items))
        ids = (items & np.uint64(0xFFFFFFFF)).astype(np.int64)
        assert np.array_equal(ids, expected), (len(keys), heap)
        assert np.array_equal((items >> np.uint64(32)).astype(np.uint32).view(np.float32), np.sort(keys))
