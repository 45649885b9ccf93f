"""Evaluator benchmark: the official demo submissions (or random inputs of their sizes).

Three tables: the library calls (parse + score, best of several runs); the command line
as a user runs it (process start, reading the ground truth and the default 1,000
bootstrap resamples included); and peak memory on generated oversized files (a CLS file
of the right lines followed by a long tail, random bytes, and a DET file of millions of
detections), each in a fresh process.  The size of the generated files is
``$ILSVRC_BENCH_MB`` (default 200 MB).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .common import DEVKIT, ROOT, best_of


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


def _cli() -> list[str]:
    script = shutil.which("ilsvrc-classic", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "ilsvrc"]


def _demo_commands(files) -> dict:
    return {
        "CLS demo": ["evaluate", "cls", str(files["cls"]), "--ground-truth", str(files["gt"])],
        "CLS-LOC demo (2013+ rules)": ["evaluate", "loc", str(files["loc"]), "--ground-truth", str(files["gt"]),
                                       "--boxes", str(files["clsloc_boxes"]), "--meta", str(files["clsloc_meta"]),
                                       "--blacklist", str(files["clsloc_blacklist"])],
        "DET demo (blacklist)": ["evaluate", "det", str(files["det"]), "--boxes", str(files["det_boxes"]),
                                 "--image-list", str(files["det_list"]), "--meta", str(files["det_meta"]),
                                 "--blacklist", str(files["det_blacklist"])],
    }


def _run_cli(args: list[str], env: dict) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run of the console script."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(_cli() + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def bench_cli(repeats: int) -> list[str]:
    """Wall time of the console script on the official demos, process start included."""
    files = _official_inputs()
    if files is None:
        return [f"Evaluator command line: skipped (devkit data not found at {DEVKIT})"]
    rows = [f"Evaluator command line ({' '.join(Path(c).name for c in _cli())}), process start included, best of "
            f"{repeats}: wall time (CPU time user + system); first run: empty ground-truth cache",
            f"  {'demo':<28}{'1000 resamples':>22}{'--bootstrap 0':>22}{'first run':>20}"]
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, ILSVRC_CACHE=cache, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        for name, args in _demo_commands(files).items():
            cells = [_run_cli(args, env)]
            for extra in ([], ["--bootstrap", "0"]):
                runs = [_run_cli(args + extra, env) for _ in range(repeats)]
                cells.insert(len(cells) - 1, (min(r[0] for r in runs), min(r[1] for r in runs)))
            rows.append(f"  {name:<28}" + "".join(f"{f'{w:.2f} s ({c:.2f} s)':>22}" for w, c in cells[:2])
                        + f"{f'{cells[2][0]:.2f} s ({cells[2][1]:.2f} s)':>20}")
    rows.append("  target: every demo under 1.0 s with intervals on; on a busy machine the CPU time is the time a "
                "free core would take")
    return rows


_PEAK = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
print(json.dumps({"seconds": time.perf_counter() - start, "rc": done.returncode,
                  "peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                  "stderr": done.stderr.strip().splitlines()[-1:] }))
"""

_PARSE_DET = """
import json, resource, sys, time
from ilsvrc.ground_truth import read_image_list
from ilsvrc.submissions import read_det_submission
images = read_image_list(sys.argv[2])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
n = len(read_det_submission(sys.argv[1], images, 200))
print(json.dumps({"seconds": time.perf_counter() - start, "n": n, "base_mb": base / 1024,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _measure(command: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-c", _PEAK, *command], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def _write_repeated(path: Path, head: bytes, block: bytes, size: int) -> int:
    with open(path, "wb") as handle:
        handle.write(head)
        written = len(head)
        while written < size:
            handle.write(block)
            written += len(block)
    return written


def bench_memory(size_mb: int | None = None) -> list[str]:
    """Peak resident memory of the evaluator on oversized generated files, each in a fresh process."""
    size = (size_mb or int(os.environ.get("ILSVRC_BENCH_MB", "200"))) << 20
    rng = np.random.default_rng(0)
    files = _official_inputs()
    rows = [f"Evaluator memory on generated files of {size >> 20} MB (peak resident set of a fresh process)",
            f"  {'input':<58}{'seconds':>9}{'peak MB':>9}   outcome"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if files is not None:
            gt, det_list = files["gt"], files["det_list"]
        else:
            gt, det_list = tmp / "gt.txt", tmp / "val.txt"
            gt.write_text("".join(f"{g}\n" for g in rng.integers(1, 1001, 50000)))
            det_list.write_text("".join(f"img_{i:08d} {i}\n" for i in range(1, 20122)))
        n_gt = sum(1 for _ in open(gt))
        guesses = "".join(" ".join(map(str, r)) + "\n" for r in rng.integers(1, 1001, (n_gt, 5)).tolist())
        tail = "".join(" ".join(map(str, r)) + "\n" for r in rng.integers(1, 1001, (20000, 5)).tolist())
        cls_file = tmp / "cls_too_long.txt"
        _write_repeated(cls_file, guesses.encode(), tail.encode(), size)
        noise = tmp / "random.bin"
        _write_repeated(noise, b"", rng.integers(0, 256, 1 << 22, dtype=np.uint8).tobytes(), size)
        cls = _cli() + ["evaluate", "cls", "--bootstrap", "0", "--ground-truth", str(gt)]
        for label, path in ((f"CLS: {n_gt:,} valid lines + a {size >> 20} MB tail", cls_file),
                            (f"{size >> 20} MB of random bytes as a CLS submission", noise)):
            got = _measure(cls + [str(path)])
            outcome = "exit 2: " + (got["stderr"][0].split(": ", 2)[-1][:60] if got["stderr"] else "")
            rows.append(f"  {label:<58}{got['seconds']:>9.2f}{got['peak_mb']:>9.0f}   {outcome}")
        n_images = sum(1 for _ in open(det_list))
        k = 100_000
        xy = rng.uniform(0, 400, (k, 2))
        block = "".join(f"{i} {c} {s:.6f} {a:.2f} {b:.2f} {a + w:.2f} {b + h:.2f}\n" for i, c, s, a, b, w, h in zip(
            rng.integers(1, n_images + 1, k).tolist(), rng.integers(1, 201, k).tolist(), rng.random(k).tolist(),
            xy[:, 0].tolist(), xy[:, 1].tolist(), rng.uniform(1, 300, k).tolist(), rng.uniform(1, 300, k).tolist()))
        det_file = tmp / "det_large.txt"
        _write_repeated(det_file, b"", block.encode(), size)
        out = subprocess.run([sys.executable, "-c", _PARSE_DET, str(det_file), str(det_list)], capture_output=True,
                             text=True, check=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        got = json.loads(out.stdout)
        budget = 300 + 64 * got["n"] / 2**20
        label = f"DET parse: {got['n']:,} detections ({size >> 20} MB)"
        rows.append(f"  {label:<58}{got['seconds']:>9.2f}{got['peak_mb']:>9.0f}   budget 300 MB + 64 B/detection "
                    f"= {budget:.0f} MB ({got['base_mb']:.0f} MB before parsing)")
    rows.append("  target: a CLS file longer than the ground truth is refused at line N+1 with a peak under 300 MB")
    return rows


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
    return rows + [""] + bench_cli(min(repeats, 3)) + [""] + bench_memory()
