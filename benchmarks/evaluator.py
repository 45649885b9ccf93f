"""Evaluator benchmark: the official demo submissions (or random inputs of their sizes)."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from .common import DEVKIT, best_of


def _official_inputs():
    d = DEVKIT
    files = dict(
        gt=d / "ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt",
        cls=d / "ILSVRC2012_devkit_t12/evaluation/demo.val.pred.txt",
        loc=d / "ILSVRC2012_devkit_t12/evaluation/demo.val.pred.det.txt",
        clsloc_meta=d / "ILSVRC2015_devkit/data/meta_clsloc.mat",
        clsloc_boxes=d / "ILSVRC2015_devkit/data/ILSVRC2015_clsloc_validation_ground_truth.mat",
        clsloc_blacklist=d / "ILSVRC2015_devkit/data/ILSVRC2015_clsloc_validation_blacklist.txt",
        det=d / "ILSVRC2014_devkit/evaluation/demo.val.pred.det.txt",
        det_meta=d / "ILSVRC2015_devkit/data/meta_det.mat",
        det_boxes=d / "ILSVRC2015_devkit/data/ILSVRC2015_det_validation_ground_truth.mat",
        det_list=d / "ILSVRC2014_devkit/data/det_lists/val.txt",
        det_blacklist=d / "ILSVRC2015_devkit/data/ILSVRC2015_det_validation_blacklist.txt",
    )
    return files if all(p.exists() for p in files.values()) else None


def _synthetic_inputs(directory: Path):
    """Random inputs of the official sizes (50,000 images; 20,121 DET images, 49,013 detections)."""
    from ilsvrc.ground_truth import ImageList, ObjectTable
    from ilsvrc.submissions import (
        write_cls_submission,
        write_det_submission,
        write_loc_submission,
    )

    rng = np.random.default_rng(0)
    n = 50000
    gt = rng.integers(1, 1001, n)
    (directory / "gt.txt").write_text("".join(f"{g}\n" for g in gt))
    guesses = np.where(rng.random((n, 5)) < 0.3, gt[:, None], rng.integers(1, 1001, (n, 5)))
    write_cls_submission(directory / "cls.txt", guesses)
    xy = rng.uniform(0, 300, (n, 2))
    gt_boxes = np.hstack([xy, xy + rng.uniform(20, 200, (n, 2))])
    boxes = gt_boxes[:, None, :] + rng.normal(0, 15, (n, 5, 4))
    write_loc_submission(directory / "loc.txt", guesses, boxes)
    objects = ObjectTable.from_lists([[g] for g in gt], [b[None] for b in gt_boxes])
    n_det_images = 20121
    names = tuple(f"img_{i:08d}" for i in range(1, n_det_images + 1))
    images = ImageList(names, np.arange(1, n_det_images + 1))
    counts = rng.integers(0, 5, n_det_images)
    det_img = np.repeat(np.arange(n_det_images), counts)
    labels = rng.integers(1, 201, len(det_img))
    xy = rng.uniform(0, 300, (len(det_img), 2))
    obj_boxes = np.hstack([xy, xy + rng.uniform(10, 200, (len(det_img), 2))])
    det_objects = ObjectTable.from_lists([labels[det_img == i] for i in range(n_det_images)],
                                         [obj_boxes[det_img == i] for i in range(n_det_images)])
    pick = rng.integers(0, len(det_img), 49013)
    write_det_submission(directory / "det.txt", det_img[pick] + 1, labels[pick], rng.random(len(pick)),
                         obj_boxes[pick] + rng.normal(0, 10, (len(pick), 4)))
    return dict(gt=directory / "gt.txt", cls=directory / "cls.txt", loc=directory / "loc.txt", objects=objects,
                det=directory / "det.txt", det_objects=det_objects, det_images=images)


def bench_evaluator(repeats: int) -> list[str]:
    from ilsvrc.evaluation import evaluate_cls, evaluate_det, evaluate_loc
    from ilsvrc.ground_truth import (
        load_clsloc_boxes,
        load_det_ground_truth,
        read_image_list,
    )
    from ilsvrc.synsets import SynsetTable

    rows = []
    files = _official_inputs()
    with tempfile.TemporaryDirectory() as tmp:
        if files is not None:
            source = f"official devkit demo submissions ({DEVKIT})"
            clsloc = SynsetTable.from_file(files["clsloc_meta"])
            det_syn = SynsetTable.from_file(files["det_meta"])
            t_gt_loc, objects = best_of(lambda: load_clsloc_boxes(files["clsloc_boxes"], clsloc, 50000), 1)
            images = read_image_list(files["det_list"])
            t_gt_det, det_objects = best_of(lambda: load_det_ground_truth(files["det_boxes"], images, det_syn), 1)
            loc_bl, det_bl = files["clsloc_blacklist"], files["det_blacklist"]
        else:
            source = f"RANDOM inputs of the official sizes (devkit data not found at {DEVKIT})"
            files = _synthetic_inputs(Path(tmp))
            clsloc, det_syn = SynsetTable.bundled("clsloc"), SynsetTable.bundled("det")
            objects, det_objects, images = files["objects"], files["det_objects"], files["det_images"]
            t_gt_loc = t_gt_det = float("nan")
            loc_bl = det_bl = None
        t_cls, res_cls = best_of(lambda: evaluate_cls(files["cls"], files["gt"], check_label_order=False), repeats)
        t_loc, res_loc = best_of(lambda: evaluate_loc(files["loc"], files["gt"], objects, clsloc, blacklist=loc_bl,
                                                      check_label_order=False), repeats)
        t_det, res_det = best_of(lambda: evaluate_det(files["det"], det_objects, images, det_syn, blacklist=det_bl),
                                 repeats)
    rows.append(f"Evaluator, one core, best of {repeats} (parse the submission + score it); inputs: {source}")
    rows.append(f"  {'task':<44}{'seconds':>9}   result")
    rows.append(f"  {'CLS  (50,000 images, k=1..5)':<44}{t_cls:>9.3f}   top-5 error {res_cls.top_k_error[4]:.5f}")
    rows.append(f"  {'CLS-LOC (50,000 images, k=1..5)':<44}{t_loc:>9.3f}   top-5 loc error {res_loc.top_k_error[4]:.7f}")
    rows.append(f"  {f'DET  ({len(res_det.submission):,} detections, 200 classes)':<44}{t_det:>9.3f}   "
                f"mAP {res_det.result.mean_ap:.7f}")
    rows.append(f"  {'load CLS-LOC ground truth (.mat cache)':<44}{t_gt_loc:>9.3f}")
    rows.append(f"  {'load DET ground truth (.mat cache)':<44}{t_gt_det:>9.3f}")
    rows.append("  target: each task under 1 s (the official 2012 localization routine takes ~14 CPU-minutes per k)")
    return rows
