"""Report and pictures of a detection run (``runs/<name>/report.md``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from features.image_io import load_image

from .plotting import colormap, save_figure, subplots


def _draw_box(ax, box, color, lw=1.5, label=None):
    from matplotlib.patches import Rectangle

    x1, y1, x2, y2 = box
    ax.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1 + 1, y2 - y1 + 1, fill=False, edgecolor=color, lw=lw))
    if label:
        ax.text(x1, y1 - 2, label, color="white", fontsize=7, va="bottom",
                bbox={"facecolor": color, "alpha": 0.8, "pad": 1, "edgecolor": "none"})


def plot_proposals(image, proposals, gt_boxes, path, *, n: int = 10, title: str = "") -> None:
    """The first ``n`` proposals (numbered by rank) over the image, ground truth in green."""
    fig, ax = subplots(figsize=(5.5, 4.6))
    ax.imshow(image)
    cmap = colormap("autumn")
    for r, box in enumerate(proposals[:n]):
        _draw_box(ax, box, cmap(r / max(n - 1, 1)), lw=1.2, label=str(r + 1))
    for box in gt_boxes:
        _draw_box(ax, box, "lime", lw=2.5)
    ax.set_title(title or f"top {n} proposals (rank order) and the ground truth (green)", fontsize=9)
    ax.set_xlabel("x (pixels)")
    ax.set_ylabel("y (pixels)")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path)


def plot_detections(panels, classes, path, *, per_image: int = 3) -> None:
    """A row of test images with their best detections (class, score) and ground truth (green).

    ``panels`` is a list of ``(image, labels, scores, boxes, gt_boxes, title)``.
    """
    width = 4.2 if len(panels) > 1 else 6.0
    fig, axes = subplots(1, len(panels), figsize=(width * len(panels), width * 0.95), squeeze=False)
    for ax, (image, labels, scores, boxes, gt_boxes, title) in zip(axes[0], panels):
        ax.imshow(image)
        for box in gt_boxes:
            _draw_box(ax, box, "lime", lw=2.5)
        for k in np.argsort(-scores, kind="stable")[:per_image]:
            _draw_box(ax, boxes[k], f"C{int(labels[k])}", label=f"{classes[labels[k]]} {scores[k]:.2f}")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("x (pixels)")
        ax.set_ylabel("y (pixels)")
    fig.suptitle(f"best {per_image} detections per image (after non-maximum suppression)"
                 + ("; ground truth in green" if any(len(p[4]) for p in panels) else ""), fontsize=10)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
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

    samples, test_idx, regions, scales = last["samples"], last["test_idx"], last["regions"], last["scales"]
    detector = last["detector"]
    first_of_class = {}
    for i in test_idx:
        if samples[i].label >= 0:
            first_of_class.setdefault(samples[i].label, i)
    panels = []
    for cls, i in sorted(first_of_class.items()):
        image = load_image(samples[i].path)
        plot_proposals(image, regions[i].proposals / scales[i], samples[i].boxes,
                       out_dir / f"proposals_{classes[cls]}.png",
                       title=f"{Path(str(samples[i].path)).name} ({classes[cls]}): top 10 proposals, ground truth green")
        labels, scores, boxes = detector.detect(regions[i])
        panels.append((image, labels, scores, boxes / scales[i], samples[i].boxes,
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
