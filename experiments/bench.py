"""``make bench``: wall time of the suite's hot paths, on one core.

Descriptors: our dense SIFT and PHOW against VLFeat's (when ``make reference`` has
installed it) and OpenCV's ``SIFT.compute`` on the same dense grid, on the same real
photographs at longest side 300 and 500 px, alternating implementations round by round.

Proposals: every backend and mode on the 195 embedded boxed Caltech-101 images: seconds
per image, boxes, recall at IoU 0.5 / 0.7, MABO and average recall, also at the first
100 / 500 / 1000 / 2000 boxes; the recall curves go to ``docs/proposal_recall.png``.

Evaluator: the full 50,000-image CLS and CLS-LOC demo submissions and the 49,013-detection
DET demo of the official devkits (read from ``$ILSVRC_DEVKIT_DATA``, default
``../shared/ilsvrc-devkit`` beside the repository).  Without that data the benchmark
writes random inputs of the same sizes and says so.  Times are the best of several runs
and cover parsing the submission and scoring it; loading the ground truth (once per
session in practice) is timed separately.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEVKIT = Path(os.environ.get("ILSVRC_DEVKIT_DATA", ROOT.parent / "shared" / "ilsvrc-devkit"))


def best_of(fn, repeats: int = 5) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


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
    from ilsvrc.submissions import write_cls_submission, write_det_submission, write_loc_submission

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
    from ilsvrc.ground_truth import load_clsloc_boxes, load_det_ground_truth, read_image_list
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


def _bench_images(longest: int) -> list:
    """The committed test photographs, resized so that their longest side is ``longest``."""
    import cv2

    from features.image_io import load_gray

    images = []
    for path in sorted((ROOT / "tests" / "data" / "images").glob("*.jpg")):
        gray = load_gray(path)
        scale = longest / max(gray.shape)
        size = (int(round(gray.shape[1] * scale)), int(round(gray.shape[0] * scale)))
        images.append(cv2.resize(gray, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC))
    return images


def _interleaved(impls: dict, images: list, rounds: int) -> dict:
    """Median ms per image of each implementation, alternating them round by round."""
    times = {name: [] for name in impls}
    for _ in range(rounds):
        for name, fn in impls.items():
            start = time.perf_counter()
            for im in images:
                fn(im)
            times[name].append((time.perf_counter() - start) * 1000 / len(images))
    return {name: float(np.median(t)) for name, t in times.items()}


def bench_descriptors(repeats: int) -> list[str]:
    import cv2

    from experiments import vlfeat_reference
    from features.dsift import dense_sift, phow
    from features.keypoints import opencv_dense_sift

    cv2.setNumThreads(1)
    have_vl = vlfeat_reference.available()
    rows = [f"Descriptors, one thread, median ms per image over {repeats} interleaved rounds "
            f"(4 Caltech-101 photographs resized; VLFeat {'via cyvlfeat' if have_vl else 'NOT installed: make reference'})"]
    rows.append(f"  {'work':<44}{'px':>5}{'ours':>9}{'VLFeat':>9}{'OpenCV':>9}{'vs VLFeat':>11}")
    for longest in (300, 500):
        images = _bench_images(longest)
        cases = [
            ("dense SIFT flat window, step 4, bin 8",
             lambda im: dense_sift(im, step=4, bin_size=8, fast=True),
             (lambda im: vlfeat_reference.vlfeat_dsift(im, step=4, size=8, fast=True)) if have_vl else None,
             lambda im: opencv_dense_sift(im, step=4, bin_size=8)),
            ("dense SIFT Gaussian window, step 4, bin 8",
             lambda im: dense_sift(im, step=4, bin_size=8, fast=False),
             (lambda im: vlfeat_reference.vlfeat_dsift(im, step=4, size=8, fast=False)) if have_vl else None, None),
            ("PHOW gray, sizes 4-10, step 3",
             lambda im: phow(im, step=3),
             (lambda im: vlfeat_reference.vlfeat_phow(im, step=3)) if have_vl else None, None),
        ]
        for name, ours, vl, ocv in cases:
            impls = {"ours": ours}
            if vl is not None:
                impls["vl"] = vl
            if ocv is not None:
                impls["cv"] = ocv
            t = _interleaved(impls, images, repeats)
            fmt = lambda k: f"{t[k]:>9.1f}" if k in t else f"{'-':>9}"  # noqa: E731
            ratio = f"{t['vl'] / t['ours']:>10.1f}x" if "vl" in t else f"{'-':>11}"
            rows.append(f"  {name:<44}{longest:>5}{fmt('ours')}{fmt('vl')}{fmt('cv')}{ratio}")
    rows.append("  targets (500 px): flat-window dense SIFT >= 2x faster than vl_dsift, PHOW >= 3x faster than VLFeat's")
    return rows


def _real_descriptors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """``n`` dense SIFT descriptors of the embedded Caltech-101 images, PCA-projected to ``dim``."""
    from features import DenseSIFT, DescriptorPCA

    paths = sorted((ROOT / "data" / "caltech101_demo").glob("*/*.jpg"))
    feats = DenseSIFT(step=3, bin_size=6).transform(paths[:: max(1, len(paths) // 120)])
    x = np.concatenate([f.descriptors for f in feats])
    rng = np.random.default_rng(seed)
    x = x[rng.choice(len(x), min(n, len(x)), replace=False)]
    if dim < x.shape[1]:
        x = DescriptorPCA(n_components=dim, random_state=0).fit(x).project(x)
    return np.ascontiguousarray(x, np.float32)


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def bench_encoders(repeats: int) -> list[str]:
    from experiments import vlfeat_reference
    from features.codebook import assign_nearest, fit_gmm, kmeans
    from features.encoding import fisher_vector

    have_vl = vlfeat_reference.available()
    rows = ["Encoders and codebooks, one thread, on dense SIFT of the embedded Caltech-101 images"
            f" (VLFeat {'via cyvlfeat' if have_vl else 'NOT installed: make reference'})"]
    # Fisher vector encoding: K=256, D=64, 10k descriptors
    x = _real_descriptors(210_000, 64)
    train, probe = x[:200_000], x[200_000:210_000]
    gmm = fit_gmm(train[:50_000], 256, max_iter=5, random_state=0)
    args = (gmm.means, gmm.covariances, gmm.priors)
    impls = {"ours": lambda: fisher_vector(probe, *args)}
    if have_vl:
        from cyvlfeat.fisher import fisher

        impls["VLFeat vl_fisher"] = lambda: fisher(probe, *args, improved=True)
    try:
        from sklearn.mixture import GaussianMixture
        from skimage.feature import fisher_vector as sk_fisher

        sk_gmm = GaussianMixture(256, covariance_type="diag")
        sk_gmm.weights_, sk_gmm.means_, sk_gmm.covariances_ = gmm.priors.astype(float), gmm.means.astype(float), \
            gmm.covariances.astype(float)
        sk_gmm.precisions_cholesky_ = 1 / np.sqrt(sk_gmm.covariances_)
        impls["scikit-image fisher_vector"] = lambda: sk_fisher(probe, sk_gmm, improved=True)
    except ImportError:
        pass
    times = {name: min(_timed(fn)[0] for _ in range(repeats)) * 1000 for name, fn in impls.items()}
    rows.append("  improved Fisher vector, K=256, D=64, 10,000 descriptors (ms, best of runs):")
    rows += [f"    {name:<32}{t:>9.1f}" + (f"   ({t / times['ours']:.1f}x ours)" if name != "ours" else "")
             for name, t in times.items()]
    rows.append("    target: >= 4x faster than vl_fisher (98 ms on this machine kind)")
    # GMM: K=256, 200k x 64, 20 EM iterations
    rows.append("  diagonal GMM, K=256, 200,000 x 64, 20 EM iterations (s; mean log-likelihood per descriptor):")
    t_init, init = _timed(lambda: kmeans(train, 256, n_iter=10, random_state=0))
    t_ours, ours = _timed(lambda: fit_gmm(train, 256, max_iter=20, tol=0, init_means=init, random_state=0))
    rows.append(f"    {'ours (EM as matrix products)':<32}{t_ours:>9.1f}   LL {ours.log_likelihood[-1]:.3f}"
                f"   (+ {t_init:.1f} s k-means init)")
    if have_vl:
        from cyvlfeat.gmm import gmm as vl_gmm

        t_vl, res = _timed(lambda: vl_gmm(train, n_clusters=256, max_num_iterations=20, init_mode="kmeans"))
        from features.codebook import posteriors

        _, ll = posteriors(train, res[0], res[1], res[2], return_log_likelihood=True)
        rows.append(f"    {'VLFeat vl_gmm (its k-means init)':<32}{t_vl:>9.1f}   LL {ll:.3f}   "
                    f"({t_vl / t_ours:.1f}x ours)")
    from sklearn.mixture import GaussianMixture

    t_sk, sk = _timed(lambda: GaussianMixture(256, covariance_type="diag", max_iter=20, tol=0, means_init=init,
                                              random_state=0).fit(train))
    rows.append(f"    {'scikit-learn GaussianMixture':<32}{t_sk:>9.1f}   LL {sk.score(train):.3f}   "
                f"({t_sk / t_ours:.1f}x ours)")
    rows.append("    target: >= 3x faster than vl_gmm (35 s on this machine kind) at the same log-likelihood")
    # k-means K=1024, 200k x 128, 10 iterations; word assignment K=4096
    x128 = _real_descriptors(200_000, 128, seed=1)
    t_km, _ = _timed(lambda: kmeans(x128, 1024, n_iter=10, random_state=0))
    rows.append("  k-means, K=1024, 200,000 x 128, 10 iterations (s):")
    rows.append(f"    {'ours (faiss)':<32}{t_km:>9.1f}")
    from sklearn.cluster import KMeans

    t_skm, _ = _timed(lambda: KMeans(1024, n_init=1, max_iter=10, tol=0, random_state=0).fit(x128))
    rows.append(f"    {'scikit-learn KMeans':<32}{t_skm:>9.1f}   ({t_skm / t_km:.1f}x ours)")
    words = x128[:4096]
    t_assign = min(_timed(lambda: assign_nearest(x128[:10_000], words))[0] for _ in range(repeats)) * 1000
    rows.append(f"  nearest of 4,096 words for 10,000 x 128 descriptors (exact, matrix products): {t_assign:.0f} ms")
    return rows


PROPOSAL_BUDGETS = (100, 500, 1000, 2000)


def _proposal_methods() -> dict:
    from baselines.proposals import ProposalConfig, propose

    def method(**kw):
        config = ProposalConfig(**kw)
        return lambda image: propose(image, config)

    return {"OpenCV Fast preset": method(backend="opencv", mode="fast"),
            "selectivesearch package (500, 0.9, 10)": method(backend="selectivesearch"),
            "ours paper_fast": method(mode="paper_fast"),
            "ours fast": method(mode="fast"),
            "ours quality": method(mode="quality")}


def bench_proposals(repeats: int, every: int = 1) -> list[str]:
    """Each proposal method on the embedded boxed Caltech-101 images, one core, one pass."""
    from features.image_io import load_image
    from ilsvrc.datasets import BoxedImageDataset
    from ilsvrc.proposals import plot_recall_curves, proposal_quality, recall_curve

    data = BoxedImageDataset(ROOT / "data" / "caltech101_boxes" / "boxes.csv")
    samples = data.samples()[::every]
    images = [load_image(s.path) for s in samples]
    gt = [s.boxes for s in samples]
    labels = [s.labels for s in samples]
    rows = [f"Proposals: {len(images)} boxed Caltech-101 images (~300 px), one core; quality at all boxes and at the "
            "first N (ranked order)",
            f"  {'method':<40}{'s/image':>8}{'boxes':>7}{'R@0.5':>7}{'R@0.7':>7}{'MABO':>7}{'AR':>7}"
            + "".join(f"{'AR@' + str(n):>9}{'MABO@' + str(n):>10}" for n in PROPOSAL_BUDGETS)]
    curves = {}
    for name, fn in _proposal_methods().items():
        start = time.perf_counter()
        props = [fn(im) for im in images]
        seconds = (time.perf_counter() - start) / len(images)
        q = proposal_quality(props, gt, labels)
        at = [proposal_quality(props, gt, labels, n) for n in PROPOSAL_BUDGETS]
        rows.append(f"  {name:<40}{seconds:>8.3f}{q.boxes_per_image:>7.0f}{q.recall_50:>7.3f}{q.recall_70:>7.3f}"
                    f"{q.mabo:>7.3f}{q.average_recall:>7.3f}"
                    + "".join(f"{a.average_recall:>9.3f}{a.mabo:>10.3f}" for a in at))
        curves[name] = recall_curve(props, gt, (10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000))
    out = ROOT / "docs" / "proposal_recall.png"
    out.parent.mkdir(exist_ok=True)
    plot_recall_curves(curves, out, title=f"Proposal recall, {len(images)} boxed Caltech-101 images")
    rows.append(f"  recall curves: {out.relative_to(ROOT)}")
    return rows


SECTIONS = {"evaluator": bench_evaluator, "descriptors": bench_descriptors, "encoders": bench_encoders,
            "proposals": bench_proposals}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(SECTIONS), action="append", help="run only these sections")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--every", type=int, default=1, help="proposals: use every n-th boxed image (quick look)")
    args = parser.parse_args(argv)
    import logging

    logging.getLogger("ilsvrc").setLevel(logging.ERROR)  # warnings about the demo files are expected
    for name in args.only or list(SECTIONS):
        rows = SECTIONS[name](args.repeats, args.every) if name == "proposals" else SECTIONS[name](args.repeats)
        print("\n".join(rows))
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
