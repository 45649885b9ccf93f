"""The Markdown report and plots of a run (``runs/<name>/report.md``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(confusion: np.ndarray, classes, path: Path, title: str) -> None:
    plt = _pyplot()
    n = len(classes)
    rows = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    size = min(14, 3 + 0.12 * n)
    fig, ax = plt.subplots(figsize=(size, size))
    im = ax.imshow(rows, cmap="viridis", vmin=0, vmax=1)
    if n <= 40:
        ax.set_xticks(range(n), classes, rotation=90, fontsize=7)
        ax.set_yticks(range(n), classes, fontsize=7)
    ax.set(xlabel="predicted class", ylabel="true class", title=title)
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of the true class's test images")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_per_class(per_class: np.ndarray, classes, path: Path, title: str) -> None:
    plt = _pyplot()
    order = np.argsort(per_class)
    fig, ax = plt.subplots(figsize=(max(6, 0.16 * len(classes) + 2), 4.5))
    ax.bar(range(len(classes)), per_class[order], color="tab:blue")
    ax.axhline(per_class.mean(), color="tab:red", lw=1, label=f"mean {per_class.mean():.3f}")
    if len(classes) <= 60:
        ax.set_xticks(range(len(classes)), [classes[i] for i in order], rotation=90, fontsize=7)
    ax.set(ylim=(0, 1), xlabel="class (sorted by accuracy)", ylabel="top-1 accuracy", title=title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_sweep(key: str, values, means, stds, published: float, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.errorbar(values, means, yerr=stds, marker="o", capsize=4, label="ours (mean over splits)")
    if published:
        ax.axhline(published, color="tab:red", ls="--", label=f"published {published:.3f}")
    ax.set(xlabel=key, ylabel="mean per-class accuracy", title=f"Effect of {key}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(cfg, dataset, summary: dict, out_dir: Path) -> Path:
    """Write report.md and its PNG plots into ``out_dir``."""
    pub = cfg.published
    lines = [f"# {cfg.name}", "", cfg.description, "",
             f"Data: {len(dataset.classes)} classes from `{dataset.root}`; {cfg.data.n_train} training and "
             f"{cfg.data.n_test or 'all remaining'} test images per class; splits seeded {list(cfg.data.seeds)}.",
             f"Features: {cfg.features.kind}, step {cfg.features.step}; encoding: {cfg.encoding.kind} "
             f"({cfg.encoding.layout}); feature map: {cfg.classifier.feature_map}; linear SVM, C in "
             f"{list(cfg.classifier.C)}.", "",
             "| setting | mean per-class accuracy | spread (std over splits) | ILSVRC top-1 / top-5 error | published |",
             "|---|---|---|---|---|"]
    for v in summary["variants"]:
        label = "this configuration" if v["sweep_value"] is None else f"{cfg.sweep.key} = {v['sweep_value']}"
        errs = v["top_k_error_mean"]
        lines.append(f"| {label} | {v['accuracy_mean']:.4f} | {v['accuracy_std']:.4f} | {errs[0]:.4f} / {errs[4]:.4f} "
                     f"| {pub.value:.4f} ({pub.setting}) |" if pub.value else
                     f"| {label} | {v['accuracy_mean']:.4f} | {v['accuracy_std']:.4f} | {errs[0]:.4f} / {errs[4]:.4f} | - |")
    if pub.source:
        lines += ["", f"Published: {pub.value:.4f}{' +- ' + format(pub.spread, '.3f') if pub.spread else ''} "
                      f"({pub.metric}), {pub.source}."]
    lines += ["", "Per split:", "", "| seed | accuracy | top-1 error | top-5 error | C | train / test images | seconds |",
              "|---|---|---|---|---|---|---|"]
    for v in summary["variants"]:
        for s in v["splits"]:
            lines.append(f"| {s['seed']} | {s['accuracy']:.4f} | {s['top_k_error'][0]:.4f} | {s['top_k_error'][4]:.4f} "
                         f"| {s['C']:g} | {s['n_train']} / {s['n_test']} | {s['seconds']} |")
    failed = sorted({f for v in summary["variants"] for s in v["splits"] for f in s["failed_images"]})
    if failed:
        lines += ["", f"{len(failed)} image(s) could not be read and were skipped (listed in metrics.json)."]
    first = summary["variants"][0]["_results"][0]
    classes = list(dataset.classes)
    plot_confusion(first.confusion, classes, out_dir / "confusion.png",
                   f"{cfg.name}: confusion (split {first.seed})")
    plot_per_class(first.per_class_accuracy, classes, out_dir / "per_class_accuracy.png",
                   f"{cfg.name}: per-class accuracy (split {first.seed})")
    lines += ["", "![confusion matrix](confusion.png)", "", "![per-class accuracy](per_class_accuracy.png)"]
    if cfg.sweep.key:
        v = summary["variants"]
        plot_sweep(cfg.sweep.key, [x["sweep_value"] for x in v], [x["accuracy_mean"] for x in v],
                   [x["accuracy_std"] for x in v], pub.value, out_dir / "sweep.png")
        lines += ["", "![sweep](sweep.png)"]
    lines += ["", f"Total run time: {summary['seconds']} s.", ""]
    path = out_dir / "report.md"
    path.write_text("\n".join(lines))
    return path
