"""Run a detection experiment: proposals, region signatures, detectors, DET and CLS-LOC scores.

``ilsvrc-classic run CONFIG`` with ``task = "detection"`` and ``data.layout = "boxes"``
(a ``boxes.csv`` beside an ``images/`` folder, :class:`experiments.datasets.BoxedImageDataset`).

For every split seed: selective-search proposals of every image (cached per image by
content and proposal settings, in parallel); a visual vocabulary from dense-SIFT samples of
the training images; every image's visual-word map (cached); one linear SVM per class with
hard-negative mining (:class:`baselines.detection.RegionDetector`); detections of the test
images written as an ILSVRC DET submission and scored by the DET evaluator; an image
classifier on whole-image signatures whose top-5 classes, each with its detector's best
box, form a CLS-LOC submission scored by the CLS-LOC evaluator; and the proposals'
recall, MABO and average recall on the test images.  ``runs/<name>/`` receives the
metrics, the report, PR curves, the recall curve and pictures of proposals and detections.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np

from baselines.classification import LinearSVMClassifier
from baselines.detection import ImageRegions, RegionDetector
from baselines.proposals import ProposalConfig, propose
from features.codebook import assign_nearest, kmeans
from features.encoding.histograms import normalize_bow, pyramid_word_counts
from features.image_io import boxes_to_original, load_image, shrink_to_max_side
from ilsvrc.datasets import image_stem
from ilsvrc.errors import InputError

from ..config import ExperimentConfig
from ..datasets import BoxedImageDataset, check_boxes_in_image, open_boxed_data
from ..scale.cache import ContentCache, code_version, image_digests
from .common import (
    FEATURE_CODE,
    cached_map,
    class_subset,
    data_root,
    descriptor_samples,
    execution_of,
    extractor_of,
    library_versions,
    output_lock,
    phase,
    pipeline_of,
)

log = logging.getLogger(__name__)

BUDGETS = (10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


# --------------------------------------------------------------------------- per-image jobs (worker processes)
def _working_image(image, max_side: int):
    """The image shrunk to ``max_side`` (0: as is): proposals and words live on its pixels."""
    return shrink_to_max_side(image, max_side) if max_side else image


class Shapes(tuple):
    """``(working (h, w), original (h, w))`` of one image: boxes move between the two with
    :func:`features.image_io.boxes_to_original` (per axis, pixel-centre convention)."""

    def to_original(self, boxes) -> np.ndarray:
        return boxes_to_original(boxes, self[0], self[1]) if self[0] != self[1] else np.asarray(boxes, np.float64)

    def to_working(self, boxes) -> np.ndarray:
        return boxes_to_original(boxes, self[1], self[0]) if self[0] != self[1] else np.asarray(boxes, np.float64)


def _proposal_job(path, config: ProposalConfig, max_side: int) -> dict:
    original = load_image(path)
    image = _working_image(original, max_side)
    return {"boxes": propose(image, config), "size": np.array(image.shape[:2]),
            "original": np.array(original.shape[:2])}


def _words_job(extractor, path, vocabulary) -> dict:
    feats = extractor.extract(path)
    words = assign_nearest(feats.descriptors, vocabulary) if len(feats) else np.zeros(0, np.int64)
    return {"positions": feats.frames[:, :2], "words": words.astype(np.int32)}


# --------------------------------------------------------------------------- one split
def _proposal_config(cfg: ExperimentConfig) -> ProposalConfig:
    """Proposals on the working image itself (the runner shrinks it to ``data.max_side``, so that
    proposals and descriptors share its pixels)."""
    d = cfg.detection
    return ProposalConfig(backend=d.proposals, mode=d.mode, seed=d.seed, min_side=d.min_side, max_side=0)


def _gt_in_image(sample, shapes: Shapes) -> np.ndarray:
    """The image's annotated boxes on the working image (an annotation off the image is an error)."""
    h, w = shapes[1]
    inside = check_boxes_in_image(sample.boxes, h, w, sample.source)
    return shapes.to_working(inside)


def run_detection_split(cfg: ExperimentConfig, dataset: BoxedImageDataset, split, cache: ContentCache,
                        out_dir: Path, progress: bool = True) -> dict:
    start = time.perf_counter()
    samples = split.train + split.test
    n_train = len(split.train)
    n_classes = len(dataset.classes)
    digests = image_digests([s.path for s in samples], cfg.run.cache, progress=progress)
    pconf = _proposal_config(cfg)
    max_side = cfg.data.max_side

    # 1. proposals
    proposal_code = code_version("baselines.proposals", "baselines.selective_search", "features.image_io")
    proposals, failed = cached_map(_proposal_job, [(s.path, pconf, max_side) for s in samples], digests, cache,
                                   f"proposals/{pconf.fingerprint()}-{max_side}-{proposal_code}", execution_of(cfg),
                                   f"proposals (seed {split.seed})", progress)

    # 2. vocabulary from the training images' descriptors (the classification runner's samples)
    extractor = extractor_of(cfg)
    sampled, failed_s = descriptor_samples(cfg, pipeline_of(cfg), split.train, digests[:n_train], cache,
                                           f"descriptor samples (seed {split.seed})", progress, seed=split.seed)
    pool = np.concatenate([r["descriptors"] for r in sampled if r is not None])
    if len(pool) > cfg.encoding.max_descriptors:
        pool = pool[np.random.default_rng(split.seed).choice(len(pool), cfg.encoding.max_descriptors, replace=False)]
    with phase(f"k-means vocabulary of {cfg.encoding.n_words} words from {len(pool):,} descriptors"):
        vocabulary = kmeans(pool, cfg.encoding.n_words, n_iter=cfg.encoding.kmeans_iter, random_state=split.seed)
    vocab_key = f"{cfg.section_hash('features')}-{max_side}-{array_digest(vocabulary)}-{code_version(*FEATURE_CODE)}"

    # 3. visual-word maps
    words, failed_w = cached_map(_words_job, [(extractor, s.path, vocabulary) for s in samples], digests, cache,
                                 f"words/{vocab_key}", execution_of(cfg), f"visual words (seed {split.seed})", progress)
    bad = {i for i, _ in failed} | {i for i, _ in failed_w} | {i for i, _ in failed_s}
    failures = [{"image": str(samples[i].path), "error": e} for i, e in failed + failed_w + failed_s]

    regions, shapes = [], []
    for i, s in enumerate(samples):
        if i in bad or proposals[i] is None or words[i] is None:
            regions.append(None)
            shapes.append(None)
            continue
        shape = Shapes((tuple(int(v) for v in proposals[i]["size"]), tuple(int(v) for v in proposals[i]["original"])))
        budget = cfg.detection.train_proposals if i < n_train else cfg.detection.test_proposals
        try:
            gt_boxes = _gt_in_image(s, shape)
        except InputError as exc:          # an annotation off the image: report, skip, score as missed
            log.warning("skipped %s: %s", s.path, exc)
            failures.append({"image": str(s.path), "error": str(exc)})
            regions.append(None)
            shapes.append(None)
            continue
        regions.append(ImageRegions(proposals[i]["boxes"][:budget], None, s.labels, gt_boxes,
                                    positions=words[i]["positions"], words=words[i]["words"],
                                    n_words=cfg.encoding.n_words))
        shapes.append(shape)
    train_idx = [i for i in range(n_train) if regions[i] is not None]
    test_idx = [i for i in range(n_train, len(samples)) if regions[i] is not None]

    # 4. detectors
    d = cfg.detection
    detector = RegionDetector(layout=d.layout, C=d.C, positive_weight=d.positive_weight,
                              initial_overlap=tuple(d.initial_overlap), max_overlap=d.max_overlap,
                              hard_score=d.hard_score, easy_score=d.easy_score, retrain_every=d.retrain_every,
                              rounds=d.mining_rounds, max_per_image=d.max_per_image, nms_overlap=d.nms_overlap,
                              max_detections=d.max_detections, random_state=split.seed)
    detector.fit([regions[i] for i in train_idx], n_classes)

    # 5. image classifier on whole-image signatures (for the localization task)
    def whole(i):             # the image's bag of words, per-cell histograms square-rooted (Hellinger)
        size = tuple(int(v) for v in proposals[i]["size"])
        counts = pyramid_word_counts(words[i]["words"], words[i]["positions"], size, cfg.encoding.layout,
                                     cfg.encoding.n_words)
        return np.sqrt(normalize_bow(counts[None], normalize="l1_per_cell")[0])

    clf = LinearSVMClassifier(C=tuple(cfg.classifier.C), validation_fraction=cfg.classifier.validation_fraction,
                              random_state=split.seed)
    labelled = [i for i in train_idx if samples[i].label >= 0]        # images with an object of a run class
    clf.fit(np.stack([whole(i) for i in labelled]), np.array([samples[i].label for i in labelled]))
    top_ok = clf.top_k(np.stack([whole(i) for i in test_idx]), min(5, n_classes))
    # every test image is scored: one that failed has no detections and no localization
    # (its objects count as missed), never a hole in the metrics
    scored_idx = list(range(n_train, len(samples)))
    top = np.full((len(scored_idx), min(5, n_classes)), -1)          # -1: no guess (written as 0)
    top[[i - n_train for i in test_idx]] = top_ok

    # 6. submissions, written and scored with the ILSVRC evaluators
    sub_dir = out_dir / f"split_{split.seed}"
    sub_dir.mkdir(parents=True, exist_ok=True)
    scores = {}
    for i in test_idx:                        # once per image, for DET and CLS-LOC; its integral released after
        scores[i] = detector.score(regions[i])
        regions[i].release()
    det = _write_and_score_det(detector, regions, scores, samples, scored_idx, shapes, n_classes, sub_dir)
    # localization scores the test images that have a class (ILSVRC: every validation image; an image
    # without objects of the run's classes, as PASCAL-VOC has, has none)
    loc_rows = [r for r, i in enumerate(scored_idx) if samples[i].truth or samples[i].label >= 0]
    loc = _write_and_score_loc(detector, regions, scores, samples, [scored_idx[r] for r in loc_rows], shapes,
                               top[loc_rows], dataset, sub_dir)

    # 7. proposal quality on the test images (original pixel coordinates)
    from ilsvrc.metrics.proposals import proposal_quality, recall_curve

    test_props = [shapes[i].to_original(proposals[i]["boxes"]) if shapes[i] is not None else np.zeros((0, 4))
                  for i in scored_idx]
    test_gt = [samples[i].boxes for i in scored_idx]
    test_lab = [samples[i].labels for i in scored_idx]
    quality = {str(n): proposal_quality(test_props, test_gt, test_lab, n).as_dict() for n in (100, 500, 1000, 2000)}
    quality["all"] = proposal_quality(test_props, test_gt, test_lab).as_dict()
    curve = recall_curve(test_props, test_gt, BUDGETS)

    np.savez(sub_dir / "model.npz", vocabulary=vocabulary, coef=detector.coef_, intercept=detector.intercept_)
    result = {"seed": split.seed, "n_train": len(train_idx), "n_test": len(scored_idx),
              "n_test_failed": len(scored_idx) - len(test_idx),
              "det": det, "loc": loc, "proposals": quality,
              "training": detector.training_log_, "failed_images": failures,
              "seconds": round(time.perf_counter() - start, 1)}
    return {"summary": result, "curve": curve, "detector": detector, "regions": regions, "test_idx": test_idx,
            "samples": samples, "shapes": shapes, "det_result": det.pop("_result")}


def image_name(path) -> str:
    """``<folder>/<stem>`` of an image file or archive member (names in the DET image list)."""
    p = Path(getattr(path, "name", str(path)))
    return f"{p.parent.name or Path(str(path)).parent.name}/{image_stem(path)}"


def array_digest(array: np.ndarray) -> str:
    """SHA-256 (16 hex digits) of an array's bytes."""
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]


def _objects(samples, test_idx):
    from ilsvrc.ground_truth import ObjectTable

    return ObjectTable.from_lists([samples[i].labels + 1 for i in test_idx], [samples[i].boxes for i in test_idx])


def _write_and_score_det(detector, regions, scores, samples, test_idx, shapes, n_classes, sub_dir: Path) -> dict:
    from ilsvrc.ground_truth import read_image_list
    from ilsvrc.metrics.detection import evaluate_detection
    from ilsvrc.submissions import read_det_submission, write_det_submission

    image_index, labels, det_scores, boxes = [], [], [], []
    for pos, i in enumerate(test_idx, start=1):
        if regions[i] is None:
            continue
        lab, sc, bx = detector.detect(regions[i], scores[i])
        image_index.append(np.full(len(lab), pos))
        labels.append(lab + 1)
        det_scores.append(sc)
        boxes.append(shapes[i].to_original(bx))
    list_path = sub_dir / "det_image_list.txt"
    list_path.write_text("".join(f"{image_name(samples[i].path)} {pos}\n"
                                 for pos, i in enumerate(test_idx, start=1)))
    sub_path = sub_dir / "det_submission.txt"
    write_det_submission(sub_path, np.concatenate(image_index), np.concatenate(labels), np.concatenate(det_scores),
                         np.concatenate(boxes))
    (sub_dir / "det_ground_truth.txt").write_text("".join(
        f"{pos} {label + 1} {b[0]:g} {b[1]:g} {b[2]:g} {b[3]:g}\n" for pos, i in enumerate(test_idx, start=1)
        for label, b in zip(samples[i].labels.tolist(), samples[i].boxes.tolist())))
    images = read_image_list(list_path)
    sub = read_det_submission(sub_path, images, n_classes)
    result = evaluate_detection(sub.image, sub.label, sub.score, sub.box, _objects(samples, test_idx))
    return {"mean_ap": float(result.mean_ap), "ap": [float(a) for a in result.ap], "n_detections": len(sub),
            "_result": result}


def _write_and_score_loc(detector, regions, scores, samples, test_idx, shapes, top, dataset, sub_dir: Path) -> dict:
    """The CLS-LOC submission (the classifier's top-5 classes, each with its detector's best
    box), in the data set's ids (ILSVRC: devkit ids), scored by the official rules."""
    from ilsvrc.ground_truth import ObjectTable
    from ilsvrc.metrics.classification import flat_errors
    from ilsvrc.metrics.localization import localization_error, localization_errors
    from ilsvrc.submissions import read_loc_submission, write_loc_submission

    boxes = np.stack([shapes[i].to_original(detector.best_boxes(regions[i], top[row], scores[i]))
                      if regions[i] is not None
                      else np.full((top.shape[1], 4), -1.0) for row, i in enumerate(test_idx)])
    sub_path = sub_dir / "loc_submission.txt"
    write_loc_submission(sub_path, np.where(top >= 0, dataset.label_ids[np.maximum(top, 0)], 0), boxes)
    sub = read_loc_submission(sub_path, len(test_idx), dataset.n_label_ids)
    truth = [samples[i].truth or int(dataset.label_ids[samples[i].label]) for i in test_idx]
    gt = np.array([[t] for t in truth])
    objects = ObjectTable.from_lists([dataset.label_ids[samples[i].labels] for i in test_idx],
                                     [samples[i].boxes for i in test_idx])
    per_image = localization_errors(sub.labels, sub.boxes, gt, objects)
    return {"top_k_error": [float(e) for e in localization_error(per_image)],
            "cls_top_k_error": [float(e) for e in flat_errors(sub.labels, gt).mean(axis=0)]}


# --------------------------------------------------------------------------- whole experiment
def run_detection_experiment(cfg: ExperimentConfig, data_dir=None, *, output=None, progress: bool = True) -> dict:
    """Run every split of a detection configuration; write ``runs/<name>/``; return the summary."""
    root = data_root(cfg, data_dir)
    dataset = open_boxed_data(cfg, root, class_subset(cfg, root), Path(cfg.run.cache))
    out_dir = Path(output or cfg.run.output) / cfg.name
    with output_lock(out_dir):
        cache = ContentCache(cfg.run.cache)
        started = time.perf_counter()
        splits, last = [], None
        for seed in cfg.data.seeds:
            n_test = cfg.data.val_images if dataset.kind == "ilsvrc" else (cfg.data.n_test or None)
            split = dataset.split(cfg.data.n_train, n_test, int(seed))
            last = run_detection_split(cfg, dataset, split, cache, out_dir, progress)
            splits.append(last["summary"])
        det_map = np.array([s["det"]["mean_ap"] for s in splits])
        loc_err = np.array([s["loc"]["top_k_error"] for s in splits])
        summary = {"name": cfg.name, "task": "detection", "description": cfg.description,
                   "published": cfg.to_dict()["published"], "classes": list(dataset.classes),
                   "mean_ap_mean": float(det_map.mean()), "mean_ap_std": float(det_map.std()),
                   "loc_top_k_error_mean": loc_err.mean(axis=0).tolist(),
                   "loc_top_k_error_std": loc_err.std(axis=0).tolist(),
                   "proposals_mean": _mean_quality([s["proposals"] for s in splits]),
                   "splits": splits, "seconds": round(time.perf_counter() - started, 1),
                   "versions": library_versions()}
        from ..reports.detection import write_detection_report

        write_detection_report(cfg, dataset, summary, last, out_dir)
        (out_dir / "metrics.json").write_text(json.dumps(summary, indent=1) + "\n")
        (out_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1, default=list) + "\n")
    return summary


def _mean_quality(per_split: list) -> dict:
    out = {}
    for budget in per_split[0]:
        out[budget] = {k: float(np.mean([q[budget][k] for q in per_split])) for k in per_split[0][budget]
                       if per_split[0][budget][k] is not None}
    return out


# --------------------------------------------------------------------------- reuse of a finished run
def _run_config(run_dir: Path) -> ExperimentConfig:
    from ..config import config_from_dict

    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise InputError("no detection run here; run a detection configuration first (make demo)", path=run_dir)
    return config_from_dict(json.loads(path.read_text()), str(path))


def _last_split(run_dir: Path, split: int | None) -> Path:
    dirs = sorted(Path(run_dir).glob("split_*"), key=lambda p: int(p.name.split("_")[1]))
    if split is not None:
        dirs = [d for d in dirs if d.name == f"split_{split}"]
    if not dirs:
        raise InputError("no split folder in this run", path=run_dir)
    return dirs[-1]


def load_detector(run_dir, split: int | None = None):
    """The detector a detection run trained, ready for new images.

    Returns
    -------
    detector : RegionDetector
    regions_of : callable image (H, W, 3) uint8 -> (ImageRegions, Shapes)
        Regions in working pixels (the image shrunk to ``data.max_side``);
        ``Shapes.to_original`` maps their boxes onto the image's own pixels.
    classes : tuple of str
    """
    cfg = _run_config(run_dir)
    with np.load(_last_split(run_dir, split) / "model.npz") as z:
        vocabulary, coef, intercept = z["vocabulary"], z["coef"], z["intercept"]
    d = cfg.detection
    detector = RegionDetector(layout=d.layout, nms_overlap=d.nms_overlap, max_detections=d.max_detections)
    detector.coef_, detector.intercept_ = coef, intercept
    extractor = extractor_of(cfg)
    pconf = _proposal_config(cfg)

    def regions_of(original):
        image = _working_image(original, cfg.data.max_side)
        feats = extractor.extract(image)
        words = assign_nearest(feats.descriptors, vocabulary)
        return (ImageRegions(propose(image, pconf)[: d.test_proposals], positions=feats.frames[:, :2], words=words,
                             n_words=len(vocabulary)), Shapes((image.shape[:2], original.shape[:2])))

    metrics = json.loads((Path(run_dir) / "metrics.json").read_text())
    return detector, regions_of, tuple(metrics["classes"])


def rescore_split(run_dir, split: int | None = None):
    """Re-evaluate a run's DET submission from its files; returns (DetectionResult, classes)."""
    from ilsvrc.ground_truth import ObjectTable, read_image_list
    from ilsvrc.metrics.detection import evaluate_detection
    from ilsvrc.submissions import read_det_submission

    folder = _last_split(run_dir, split)
    classes = tuple(json.loads((Path(run_dir) / "metrics.json").read_text())["classes"])
    images = read_image_list(folder / "det_image_list.txt")
    sub = read_det_submission(folder / "det_submission.txt", images, len(classes))
    gt = np.loadtxt(folder / "det_ground_truth.txt", ndmin=2)
    labels = [gt[gt[:, 0] == i + 1, 1].astype(np.int64) for i in range(len(images))]
    boxes = [gt[gt[:, 0] == i + 1, 2:6] for i in range(len(images))]
    return evaluate_detection(sub.image, sub.label, sub.score, sub.box, ObjectTable.from_lists(labels, boxes)), classes
