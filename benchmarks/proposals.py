"""Proposal benchmark: quality at equal budgets, time and peak memory, against OpenCV's preset.

Three photo sets with their object boxes:

- ``collages``: the held-out collage set (:mod:`benchmarks.collages`, seed
  :data:`benchmarks.collages.EVALUATION_SEED`): real Caltech-101 objects of 20..120 px
  pasted onto real 400..500 px background photographs, 3..8 per image.  The ``fast``
  mode's settings were chosen on other collage sets (:data:`benchmarks.collages.TUNING_SETS`);
- ``collages_227``: the same collages shrunk to a longest side of 227 px, the size of the
  ImageNet validation photographs that AlexNet-era pipelines work on (their objects become
  ~10..67 px): the regime where OpenCV's ranking, small regions first, is strongest;
- ``caltech``: the 195 boxed Caltech-101 images of ``data/caltech101_boxes`` (one object
  filling most of a ~300 px photograph).

Each method proposes boxes for every image; the methods take turns image by image (in
alternating order), so that the load of a shared machine falls on all of them alike, and
the time is reported as a ratio to OpenCV's ``switchToSelectiveSearchFast`` preset.
*Equal budget* means that at each per-image budget N both methods keep their first N
boxes in their own ranked order (OpenCV's order is the preset's ``level x rand()`` with
the adapter's seeded generator, ours the mode's ``RND x position`` or ``RND x level`` per
hierarchy, its votes and its suppression); "OpenCV's all" gives each image the number of boxes the preset returned
for it.  Quality is recall at IoU 0.5 and 0.7, MABO and average recall
(:mod:`ilsvrc.metrics.proposals`).  The AR-against-N curves go to ``docs/proposal_recall.png``.

Memory: a fresh process decodes a 4000 x 3000 photograph (a Caltech-101 background
photograph resized to 12 megapixels) and proposes boxes for it, for each backend at the
default working size and at 1000 px: its resident size before, the highest resident
size while proposing (Linux ``VmHWM``, reset just before) and ``ru_maxrss``.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np

from .common import ROOT

PROPOSAL_BUDGETS = (100, 300, 500, 1000)
COLLAGE_IMAGES = 100
SMALL_SIDE = 227
"""Longest side of the shrunk collage set (``collages_227``)."""
REFERENCE = "OpenCV Fast preset"
OURS = "ours fast"


def _methods() -> dict:
    from baselines.proposals import ProposalConfig, propose

    def method(**kw):
        config = ProposalConfig(**kw)
        return lambda image: propose(image, config)

    return {REFERENCE: method(backend="opencv", mode="fast"),
            OURS: method(mode="fast"),
            "ours paper_fast": method(mode="paper_fast"),
            "selectivesearch package (500, 0.9, 10)": method(backend="selectivesearch_package")}


def photo_sets(every: int = 1) -> list:
    """``(name, description, images, gt_boxes, gt_labels)`` of each set (collages when their photographs exist)."""
    from features.image_io import boxes_to_original, load_image, shrink_to_max_side
    from experiments.datasets import BoxedImageDataset

    from .collages import BACKGROUNDS, EVALUATION_SEED, CollageSource, make_collages

    sets = []
    if BACKGROUNDS.is_dir():
        collages = make_collages(COLLAGE_IMAGES, EVALUATION_SEED, CollageSource())[::every]
        n_objects = sum(len(c.boxes) for c in collages)
        sets.append(("collages", f"{len(collages)} held-out collages (seed {EVALUATION_SEED}, {n_objects} objects of "
                                 "20-120 px on 400-500 px photographs)",
                     [c.image for c in collages], [c.boxes for c in collages], [c.labels for c in collages]))
        small = [shrink_to_max_side(c.image, SMALL_SIDE) for c in collages]
        small_boxes = [boxes_to_original(c.boxes, c.image.shape, s.shape) for c, s in zip(collages, small)]
        sets.append(("collages_227", f"the same {len(collages)} collages shrunk to {SMALL_SIDE} px "
                                     "(objects of ~10-67 px)", small, small_boxes, [c.labels for c in collages]))
    samples = BoxedImageDataset(ROOT / "data" / "caltech101_boxes" / "boxes.csv").samples()[::every]
    sets.append(("caltech", f"{len(samples)} boxed Caltech-101 images (~300 px, one large object each)",
                 [load_image(s.path) for s in samples], [s.boxes for s in samples], [s.labels for s in samples]))
    return sets


def propose_interleaved(methods: dict, images: list, progress: str = "") -> tuple[dict, dict]:
    """Every method on every image, taking turns image by image in alternating order, after
    one untimed call of each on a corner of the first image.

    Returns
    -------
    proposals : dict of name -> list of (P_i, 4) arrays
    seconds : dict of name -> total seconds
    """
    from tqdm import tqdm

    names = list(methods)
    props = {name: [] for name in names}
    seconds = dict.fromkeys(names, 0.0)
    if images:
        for name in names:              # untimed: compiled kernels are loaded (or compiled) on first use
            methods[name](images[0][:64, :64])
    for i, image in enumerate(tqdm(images, desc=progress, leave=False, disable=not progress)):
        for name in (names if i % 2 == 0 else names[::-1]):
            start = time.perf_counter()
            props[name].append(methods[name](image))
            seconds[name] += time.perf_counter() - start
    return props, seconds


def equal_budget_quality(proposals: list, reference: list, gt_boxes: list, gt_labels: list) -> dict:
    """Quality of ``proposals`` at each budget N and at the reference's own count per image.

    Returns
    -------
    dict of budget -> :class:`ilsvrc.metrics.proposals.ProposalQuality`
        Keys are the budgets of :data:`PROPOSAL_BUDGETS` and ``"reference"``.
    """
    from ilsvrc.metrics.proposals import proposal_quality

    out = {n: proposal_quality(proposals, gt_boxes, gt_labels, n) for n in PROPOSAL_BUDGETS}
    out["reference"] = proposal_quality([p[:len(r)] for p, r in zip(proposals, reference)], gt_boxes, gt_labels)
    return out


def _budget_label(n, reference_counts) -> str:
    return f"{n:,}" if n != "reference" else f"OpenCV's all ({np.mean(reference_counts):,.0f})"


def _plot(curves: dict, path) -> None:
    """Average recall against the budget, one panel per photo set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(5.2 * len(curves), 4.2), squeeze=False)
    for ax, (title, (per_method, ref_count)) in zip(axes[0], curves.items()):
        for i, (name, c) in enumerate(per_method.items()):
            ax.plot(c["budget"], c["average_recall"], "-", color=f"C{i}", label=name)
        ax.axvline(ref_count, color="0.6", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set_xlabel("proposals per image (first N)")
        ax.set_ylabel("average recall (IoU 0.5..1)")
        ax.set_ylim(0, 1)
        ax.set_title(title, fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def bench_proposals(repeats: int, every: int = 1) -> list[str]:
    """Equal-budget quality and time against OpenCV's Fast preset on each photo set, then peak memory."""
    from ilsvrc.metrics.proposals import recall_curve

    rows = ["Proposals against OpenCV's switchToSelectiveSearchFast at equal budgets (each method's first N "
            "boxes in its ranked order), one core, methods taking turns image by image"]
    curves = {}
    methods = _methods()
    for name, description, images, gt, labels in photo_sets(every):
        props, seconds = propose_interleaved(methods, images, progress=f"proposals on {name}")
        ref = props[REFERENCE]
        rows.append(f"  {description}")
        rows.append(f"    {'method':<40}{'time':>7}{'boxes':>7}  {'N':<20}{'R@0.5':>7}{'R@0.7':>7}{'MABO':>7}"
                    f"{'AR':>7}")
        for method in methods:
            quality = equal_budget_quality(props[method], ref, gt, labels)
            ratio = seconds[method] / seconds[REFERENCE]
            boxes = np.mean([len(p) for p in props[method]])
            for k, (n, q) in enumerate(quality.items()):
                head = f"{method:<40}{ratio:>6.2f}x{boxes:>7,.0f}" if k == 0 else " " * 54
                rows.append(f"    {head}  {_budget_label(n, [len(r) for r in ref]):<20}{q.recall_50:>7.3f}"
                            f"{q.recall_70:>7.3f}{q.mabo:>7.3f}{q.average_recall:>7.3f}")
        rows.append(f"    (time: {seconds[REFERENCE] / len(images):.3f} s per image for {REFERENCE}; the others as "
                    "ratios to it)")
        budgets = (10, 20, 50, 100, 200, 300, 500, 1000, 2000, 3000, 5000)
        curves[description] = ({m: recall_curve(p, gt, budgets) for m, p in props.items()},
                               float(np.mean([len(r) for r in ref])))
    out = ROOT / "docs" / "proposal_recall.png"
    out.parent.mkdir(exist_ok=True)
    _plot(curves, out)
    rows.append(f"  average recall against N: {out.relative_to(ROOT)}")
    rows.extend(bench_proposal_memory())
    return rows


_MEMORY_PROBE = r"""
import gc, json, resource, sys, cv2, numpy as np
from baselines.proposals import ProposalConfig, propose
from features.image_io import load_image

def status(field):
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith(field + ":"))

image = cv2.resize(load_image(sys.argv[1]), (4000, 3000), interpolation=cv2.INTER_CUBIC)
gc.collect()
try:                                   # reset the peak (VmHWM) to the current size, Linux >= 4.0
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")
    resettable = True
except OSError:
    resettable = False
before = status("VmRSS")
boxes = propose(image, ProposalConfig(backend=sys.argv[2], max_side=int(sys.argv[3])))
print(json.dumps({"before_kib": before, "peak_kib": status("VmHWM") if resettable else None,
                  "process_peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "boxes": len(boxes),
                  "covers_image": bool(len(boxes) and boxes[:, 2].max() == 3999 and boxes[:, 3].max() == 2999)}))
"""


def measure_peak_memory(photo, backend: str, max_side: int) -> dict:
    """Memory of a fresh process proposing boxes for ``photo`` resized to 4000 x 3000 (KiB).

    ``before_kib``: resident size with the libraries loaded and the photograph decoded;
    ``peak_kib``: the highest resident size while proposing (``VmHWM`` reset just before;
    None where the kernel cannot reset it); ``process_peak_kib``: ``ru_maxrss`` of the
    whole process.
    """
    result = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, str(photo), backend, str(max_side)],
                            capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def bench_proposal_memory() -> list[str]:
    from .collages import BACKGROUNDS

    photo = BACKGROUNDS / "image_0451.jpg"
    if not photo.is_file():
        photo = ROOT / "data" / "caltech101_boxes" / "images" / "dolphin" / "image_0009.jpg"
    rows = [f"  Memory proposing boxes for a 4000 x 3000 photograph ({photo.name} resized), fresh process per line:"]
    for backend in ("selective_search", "opencv"):
        for max_side in (500, 1000):
            m = measure_peak_memory(photo, backend, max_side)
            during = f"{m['peak_kib'] / 1024:>5.0f} MiB" if m["peak_kib"] is not None else "  n/a"
            rows.append(f"    {backend:<18} max_side {max_side:>5}: before {m['before_kib'] / 1024:>4.0f} MiB, peak "
                        f"while proposing {during}, process peak {m['process_peak_kib'] / 1024:>4.0f} MiB, "
                        f"{m['boxes']:,} boxes{'' if m['covers_image'] else ' (whole-image box missing!)'}")
    return rows
