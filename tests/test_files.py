"""Readers and writers of the devkit's files: round trips, XML folders against the caches."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import MICRO, needs_devkit

from ilsvrc.ground_truth import (
    ImageList,
    load_clsloc_boxes,
    load_det_ground_truth,
    read_voc_xml,
)
from ilsvrc.submissions import (
    read_cls_submission,
    read_det_submission,
    read_loc_submission,
    write_cls_submission,
    write_det_submission,
    write_loc_submission,
)


def test_submission_round_trips(tmp_path, rng):
    labels = rng.integers(0, 1001, (30, 5))
    write_cls_submission(tmp_path / "cls.txt", labels)
    np.testing.assert_array_equal(read_cls_submission(tmp_path / "cls.txt", 30, 1000), labels)
    boxes = np.round(rng.uniform(-5, 500, (30, 5, 4)), 3)
    boxes[0, 0] = [1e-7, 2.5, 1234567.125, 3]
    write_loc_submission(tmp_path / "loc.txt", labels, boxes)
    loc = read_loc_submission(tmp_path / "loc.txt", 30, 1000)
    np.testing.assert_array_equal(loc.labels, labels)
    np.testing.assert_array_equal(loc.boxes, boxes)             # floats read back bit for bit
    images = ImageList(tuple(f"im{i}" for i in range(10)), np.arange(101, 111))
    idx = rng.integers(101, 111, 40)
    det_labels = rng.integers(1, 201, 40)
    scores = rng.random(40)
    det_boxes = rng.uniform(0, 300, (40, 4))
    write_det_submission(tmp_path / "det.txt", idx, det_labels, scores, det_boxes)
    det = read_det_submission(tmp_path / "det.txt", images, 200)
    np.testing.assert_array_equal(det.image, idx - 101)
    np.testing.assert_array_equal(det.label, det_labels)
    np.testing.assert_array_equal(det.score, scores)
    np.testing.assert_array_equal(det.box, det_boxes)


def test_writers_refuse_bad_shapes(tmp_path):
    with pytest.raises(ValueError, match="integer array of shape"):
        write_cls_submission(tmp_path / "x.txt", np.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"labels \(n, k\) and boxes \(n, k, 4\)"):
        write_loc_submission(tmp_path / "x.txt", np.zeros((3, 5), int), np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match="same length"):
        write_det_submission(tmp_path / "x.txt", [1, 2], [1], [0.5, 0.5], np.zeros((2, 4)))


def test_det_xml_reader_field_order_and_empty_images():
    objects = read_voc_xml(MICRO / "det_basic" / "xml" / "micro_val_0001.xml")
    assert objects[0][0] == "n02672831"
    np.testing.assert_array_equal(objects[0][1], [10, 10, 59, 59])   # xmin ymin xmax ymax despite file order


def test_image_list_positions():
    images = ImageList(("a", "b", "c"), np.array([5, 2, 9]))
    np.testing.assert_array_equal(images.positions_of([2, 9, 5, 7]), [1, 2, 0, -1])


def _write_xml(path, name, objects):
    body = "".join(f"<object><name>{w}</name><bndbox><xmin>{b[0]:g}</xmin><xmax>{b[2]:g}</xmax>"
                   f"<ymin>{b[1]:g}</ymin><ymax>{b[3]:g}</ymax></bndbox></object>" for w, b in objects)
    path.write_text(f"<annotation><filename>{name}</filename>{body}</annotation>")


@needs_devkit
def test_clsloc_xml_folder_equals_the_cache(tmp_path, clsloc_synsets, clsloc_objects):
    """XML files rebuilt from the 2015 cache load to the same table (first 300 images)."""
    n = 300
    for i in range(n):
        labels, boxes = clsloc_objects.per_image(i)
        _write_xml(tmp_path / f"ILSVRC2012_val_{i + 1:08d}.xml", f"ILSVRC2012_val_{i + 1:08d}",
                   [(clsloc_synsets.wnid_of(int(l)), b) for l, b in zip(labels, boxes)])
    table = load_clsloc_boxes(tmp_path, clsloc_synsets, n)
    keep = clsloc_objects.image < n
    np.testing.assert_array_equal(table.image, clsloc_objects.image[keep])
    np.testing.assert_array_equal(table.label, clsloc_objects.label[keep])
    np.testing.assert_array_equal(table.box, clsloc_objects.box[keep])


@needs_devkit
def test_det_xml_examples_equal_the_cache(det_setup):
    from conftest import DEVKIT

    synsets, images, objects, _ = det_setup
    folder = DEVKIT / "ILSVRC2014_devkit/examples_det_val_xml"
    names = sorted(p.stem for p in folder.glob("*.xml"))
    positions = [images.names.index(n) for n in names]
    subset = ImageList(tuple(names), images.indices[positions])
    table = load_det_ground_truth(folder, subset, synsets)
    for k, pos in enumerate(positions):
        lab, box = objects.per_image(pos)
        got_lab, got_box = table.per_image(k)
        np.testing.assert_array_equal(got_lab, lab)
        np.testing.assert_array_equal(got_box, box)
    assert any(len(table.per_image(k)[0]) == 0 for k in range(len(names)))   # an image without objects


@needs_devkit
def test_det_cache_matches_official_counts(det_setup):
    synsets, images, objects, blacklist = det_setup
    assert len(images) == 20121 and len(objects) == 55502
    assert (objects.threshold < 0.5).sum() == 3566 and objects.threshold.min() == 0.125
    assert len(blacklist) == 409 and len(np.unique(blacklist[:, 0])) == 317
    assert objects.box.dtype == np.float64                               # not the uint16 storage type
