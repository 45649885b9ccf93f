"""Report and pictures of a detection run (``runs/<name>/report.md``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from features.image_io import load_image

from .plotting import colormap, save_figure, subplots

PICTURED_CLASSES = 6
"""Pictures of proposals and detections are drawn for the first test image of this many classes."""
GROUND_TRUTH = {"edgecolor": "white", "lw": 2.2, "linestyle": "--"}
"""Ground truth is drawn white and dashed: no class colour can be mistaken for it."""
CLASS_COLORS = ("tab:blue", "tab:orange", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan",
                "tab:gray", "gold")
"""Class colours (no green, no white)."""


def _rectangle(box, **style):
    from matplotlib.patches import Rectangle

    x1, y1, x2, y2 = box
    return Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1 + 1, y2 - y1 + 1, fill=False, **style)


def _label(ax, box, text, color, placed: list, image_height: int) -> None:
    """A small label at the box's top-left corner, moved down until it overlaps no earlier label."""
    x, y = float(box[0]), float(box[1]) - 2
    step = max(image_height / 28.0, 8.0)
    while any(abs(x - px) < step * 4 and abs(y - py) < step for px, py in placed):
        y += step
    placed.append((x, y))
    ax.text(x, y, text, color="white", fontsize=7, va="bottom",
            bbox={"facecolor": color, "alpha": 0.85, "pad": 1, "edgecolor": "none"})


def _ground_truth_legend(ax, extra=()) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color="black", linestyle="--", lw=2, label="ground truth (white, dashed)")]
    ax.legend(handles=handles + list(extra), loc="lower right", fontsize=7, framealpha=0.9)


def plot_proposals(image, proposals, gt_boxes, path, *, n: int = 10, title: str = "") -> None:
    """The first ``n`` proposals (numbered by rank) over the image, and the ground truth when
    given, each ground-truth box with the best IoU any of the ``n`` reaches."""
    from ilsvrc.boxes import iou_matrix

    fig, ax = subplots(figsize=(6.0, 5.0))
    ax.imshow(image)
    cmap = colormap("autumn")
    placed: list = []
    for r, box in enumerate(proposals[:n]):
        ax.add_patch(_rectangle(box, edgecolor=cmap(r / max(n - 1, 1)), lw=1.2))
        _label(ax, box, str(r + 1), cmap(r / max(n - 1, 1)), placed, image.shape[0])
    gt_boxes = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
    for box in gt_boxes:
        ax.add_patch(_rectangle(box, **GROUND_TRUTH))
    if len(gt_boxes):
        best = np.maximum(iou_matrix(gt_boxes, proposals[:n]).max(axis=1), 0) if len(proposals) else \
            np.zeros(len(gt_boxes))
        _ground_truth_legend(ax)
        hits = ", ".join(f"{b:.2f}" for b in best)
        title = (title or f"top {n} proposals (rank order)") + f"; best IoU with the ground truth: {hits}"
    else:
        title = (title or f"top {n} proposals (rank order)") + " (no ground truth known for this image)"
    ax.set_title(title, fontsize=8)
    ax.set_xlabel("x (pixels)")
    ax.set_ylabel("y (pixels)")
    fig.tight_layout()
    save_figure(fig, path)


def plot_detections(panels, classes, path, *, per_image: int = 3) -> None:
    """A row of test images with their best detections and the ground truth.

    ``panels`` is a list of ``(image, labels, scores, boxes, gt_boxes, title)``.  Each class has
    one colour (listed in the legend); ground truth is white and dashed; a detection is
    labelled with its rank and score, labels moved apart where they would overlap.
    """
    from matplotlib.patches import Patch

    width = 4.6 if len(panels) > 1 else 6.4
    fig, axes = subplots(1, len(panels), figsize=(width * len(panels), width * 0.95), squeeze=False)
    shown = set()
    for ax, (image, labels, scores, boxes, gt_boxes, title) in zip(axes[0], panels):
        ax.imshow(image)
        for box in gt_boxes:
            ax.add_patch(_rectangle(box, **GROUND_TRUTH))
        placed: list = []
        for rank, k in enumerate(np.argsort(-scores, kind="stable")[:per_image], start=1):
            color = CLASS_COLORS[int(labels[k]) % len(CLASS_COLORS)]
            ax.add_patch(_rectangle(boxes[k], edgecolor=color, lw=1.6))
            _label(ax, boxes[k], f"{rank}: {scores[k]:.2f}", color, placed, image.shape[0])
            shown.add(int(labels[k]))
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("x (pixels)")
        ax.set_ylabel("y (pixels)")
    legend = [Patch(facecolor="none", edgecolor=CLASS_COLORS[c % len(CLASS_COLORS)], lw=1.6, label=classes[c])
              for c in sorted(shown)]
    _ground_truth_legend(axes[0][-1], legend) if any(len(p[4]) for p in panels) else \
        axes[0][-1].legend(handles=legend, loc="lower right", fontsize=7, framealpha=0.9)
    fig.suptitle(f"best {per_image} detections per image after non-maximum suppression (rank: score); "
                 "colour = class", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def write_detection_report(cfg, dataset, summary: dict, last: dict, out_dir: Path) -> None:
    from ilsvrc.metrics.proposals import plot_recall_curves
    from ilsvrc.plots import plot_pr_curves

    out_dir = Path(out_dir)
    classes = list(dataset.classes)
    res = last["det_result"]
    plot_pr_curves(res.recall, res.precision, res.ap, classes, out_dir / "pr_curves", title_prefix="DET: ")
    plot_recall_curves({f"{cfg.detection.proposals} ({cfg.detection.mode})": last["curve"]},
                       out_dir / "proposal_recall.png",
                       title="Proposal recall on the test images")

    samples, test_idx, regions, shapes = last["samples"], last["test_idx"], last["regions"], last["shapes"]
    detector = last["detector"]
    first_of_class = {}
    for i in test_idx:
        if samples[i].label >= 0:
            first_of_class.setdefault(samples[i].label, i)
    panels = []
    for cls, i in sorted(first_of_class.items())[:PICTURED_CLASSES]:
        image = load_image(samples[i].path)
        plot_proposals(image, shapes[i].to_original(regions[i].proposals), samples[i].boxes,
                       out_dir / f"proposals_{classes[cls]}.png",
                       title=f"{Path(str(samples[i].path)).name} ({classes[cls]}): top 10 proposals")
        labels, scores, boxes = detector.detect(regions[i])
        panels.append((image, labels, scores, shapes[i].to_original(boxes), samples[i].boxes,
                       f"{classes[cls]}/{Path(str(samples[i].path)).name}"))
    if panels:
        plot_detections(panels, classes, out_dir / "detections.png")

    pub = summary["published"]
    spread = f" +- {summary['mean_ap_std']:.3f}" if len(summary["splits"]) > 1 else " (one split)"
    lines = [f"# {cfg.name}", "", cfg.description, "",
             f"{len(summary['splits'])} split(s), seeds {list(cfg.data.seeds)}; {summary['seconds']} s in all.", ""]
    if pub.get("deviations"):
        lines += ["Deviations from the published setting:", ""] + [f"- {d}" for d in pub["deviations"]] + [""]
    lines += [
             "| measure | ours | published |", "|---|---|---|",
             f"| DET mean AP | {summary['mean_ap_mean']:.3f}{spread} | "
             f"{pub['value']:.3f} ({pub['source']}) |" if pub["value"] else
             f"| DET mean AP | {summary['mean_ap_mean']:.3f}{spread} | |",
             f"| CLS-LOC top-5 error | {summary['loc_top_k_error_mean'][-1]:.3f} | "
             + (f"{pub['loc_error']:.3f} ({pub['loc_source']}) |" if pub["loc_error"] else "|"),
             f"| CLS-LOC top-1 error | {summary['loc_top_k_error_mean'][0]:.3f} | |", "",
             "The published numbers are the ILSVRC entries on ImageNet (200 DET classes, 1000 CLS-LOC "
             "classes); ours are on this data set's classes, so they stand beside them, not against them.", "",
             "## Per-class average precision (last split)", "", "| class | AP |", "|---|---|"]
    lines += [f"| {c} | {a:.3f} |" for c, a in zip(classes, summary["splits"][-1]["det"]["ap"])]
    lines += ["", "## Proposals on the test images (mean over splits)", "",
              "| first N | boxes/image | recall@0.5 | recall@0.7 | MABO | AR |", "|---|---|---|---|---|---|"]
    for budget, q in summary["proposals_mean"].items():
        lines.append(f"| {budget} | {q['boxes_per_image']:.0f} | {q['recall_50']:.3f} | {q['recall_70']:.3f} | "
                     f"{q['mabo']:.3f} | {q['average_recall']:.3f} |")
    lines += ["", "## Hard-negative mining (last split)", "", "| class | positives | initial negatives | final cache |",
              "|---|---|---|---|"]
    for t in summary["splits"][-1]["training"]:
        lines.append(f"| {classes[t['class']]} | {t['positives']} | {t['initial_negatives']} | "
                     f"{t['final_negatives']} |")
    failed = [f for s in summary["splits"] for f in s["failed_images"]]
    if failed:
        lines += ["", "## Images skipped", ""] + [f"- {f['image']}: {f['error']}" for f in failed]
    from .leaderboard import DETECTION, LOCALIZATION, leaderboard_rows, plot_leaderboard

    ours_det, ours_loc = summary["mean_ap_mean"], summary["loc_top_k_error_mean"][-1]
    label = f"{cfg.name} ({len(classes)} classes)"
    plot_leaderboard(LOCALIZATION, ours_loc, label, out_dir / "leaderboard.png", metric="CLS-LOC top-5 error")
    lines += ["", "## Beside the ILSVRC leaderboards", "",
              f"How this run differs: {len(classes)} classes (ILSVRC: 200 detection classes, 1,000 localization "
              f"classes), {summary['splits'][-1]['n_train']} training images (ILSVRC: hundreds of thousands), "
              f"{summary['splits'][-1]['n_test']} test images.", "", "Detection (mean AP, higher is better):", ""]
    lines += leaderboard_rows(DETECTION, ours_det, label, higher_is_better=True)
    lines += ["", "Classification + localization (top-5 error):", ""]
    lines += leaderboard_rows(LOCALIZATION, ours_loc, label) + ["", "![leaderboard](leaderboard.png)"]
    lines += ["", "## Figures", "", "![proposal recall](proposal_recall.png)", "", "![detections](detections.png)", ""]
    lines += [f"![proposals {c}](proposals_{c}.png)" for c in classes if (out_dir / f"proposals_{c}.png").exists()]
    lines += ["", "PR curves: `pr_curves/`.", ""]
    (out_dir / "report.md").write_text("\n".join(lines))
