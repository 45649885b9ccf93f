"""The Markdown report and plots of a run (``runs/<name>/report.md``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import with_value
from .plotting import save_figure, subplots


def plot_confusion(confusion: np.ndarray, classes, path: Path, title: str) -> None:
    n = len(classes)
    rows = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    size = min(14, 3 + 0.12 * n)
    fig, ax = subplots(figsize=(size, size))
    im = ax.imshow(rows, cmap="viridis", vmin=0, vmax=1)
    if n <= 40:
        ax.set_xticks(range(n), classes, rotation=90, fontsize=7)
        ax.set_yticks(range(n), classes, fontsize=7)
    ax.set(xlabel="predicted class", ylabel="true class", title=title)
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of the true class's test images")
    fig.tight_layout()
    save_figure(fig, path)


def plot_per_class(per_class: np.ndarray, classes, path: Path, title: str) -> None:
    order = np.argsort(per_class)
    fig, ax = subplots(figsize=(max(6, 0.16 * len(classes) + 2), 4.5))
    ax.bar(range(len(classes)), per_class[order], color="tab:blue")
    ax.axhline(per_class.mean(), color="tab:red", lw=1, label=f"mean {per_class.mean():.3f}")
    if len(classes) <= 60:
        ax.set_xticks(range(len(classes)), [classes[i] for i in order], rotation=90, fontsize=7)
    ax.set(ylim=(0, 1), xlabel="class (sorted by accuracy)", ylabel="top-1 accuracy", title=title)
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)


def plot_sweep(key: str, values, means, stds, published: float, path: Path) -> None:
    fig, ax = subplots(figsize=(6, 4))
    ax.errorbar(values, means, yerr=stds, marker="o", capsize=4, label="ours (mean over splits)")
    if published:
        ax.axhline(published, color="tab:red", ls="--", label=f"published {published:.3f}")
    ax.set(xlabel=key, ylabel="mean per-class accuracy", title=f"Effect of {key}")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)


def _classifier_line(info: dict) -> str:
    if "alpha" in info:
        return (f"{info['kind']}: alpha {info['alpha']:g}, {info['epochs']} epochs, mini-batches of "
                f"{info['batch_size']}, positive weight {info['positive_weight']}, feature map "
                f"{info['feature_map']}; signatures in a {info['store']} feature store of {info['shards']} shard(s)")
    chosen = f", chosen C = {info['C']:g}" if len(info.get("C_candidates", ())) > 1 else f", C = {info['C']:g}"
    return (f"{info['kind']} ({info['solver']}), feature map {info['feature_map']}, C in "
            f"{info['C_candidates']}{chosen}")


def _counts_line(cfg, data, summary) -> str:
    splits = summary["variants"][0]["splits"]
    n_train = sorted({s["n_train"] for s in splits})
    n_test = sorted({s["n_test"] for s in splits})
    c = len(data.classes)
    if data.kind == "ilsvrc":
        per = cfg.data.train_per_class
        absent = summary["data"].get("absent_classes", 0)
        return (f"Data: the ILSVRC layout under `{data.root}`: {c} classes"
                + (f" ({absent} classes of the devkit's meta.mat have no training images here)" if absent else "")
                + f"; {'/'.join(map(str, n_train))} training images ({'up to ' + str(per) if per else 'all'} per "
                f"class) and {'/'.join(map(str, n_test))} validation images; splits seeded {list(cfg.data.seeds)}.")
    return (f"Data: {c} classes from `{data.root}`; {'/'.join(map(str, n_train))} training images "
            f"({cfg.data.n_train} per class) and {'/'.join(map(str, n_test))} test images "
            f"({cfg.data.n_test or 'all remaining'} per class, fewer where a class has fewer); splits seeded "
            f"{list(cfg.data.seeds)}.")


def _spread(values) -> str:
    return f"{np.std(values):.4f}" if len(values) > 1 else "- (one split)"


def _setting_line(cfg, classifier_info: dict) -> str:
    """``Features: ...; encoding: ...; classifier: ...`` of one configuration."""
    e = cfg.encoding
    return (f"Features: {cfg.features.kind}, step {cfg.features.step}"
            + (f", PCA to {cfg.features.pca_components}" if cfg.features.pca_components else "")
            + f"; encoding: {e.kind} ({e.layout}"
            + (f", {e.n_components} Gaussians" if e.kind == "fisher" else f", {e.n_words} words")
            + (", soft assignment" if e.kind == "bow" and e.assignment == "soft" else "")
            + f"); classifier: {_classifier_line(classifier_info)}.")


def write_report(cfg, data, summary: dict, out_dir: Path) -> Path:
    """Write report.md and its PNG plots into ``out_dir``."""
    pub = cfg.published
    first_info = summary["variants"][0]["splits"][0]["classifier"]
    lines = [f"# {cfg.name}", "", cfg.description, "", _counts_line(cfg, data, summary)]
    if cfg.sweep.key:          # each value of the sweep has its own setting
        lines += ["Setting of each sweep value:", ""]
        for v in summary["variants"]:
            variant = with_value(cfg, cfg.sweep.key, v["sweep_value"])
            lines.append(f"- {v['label']}: {_setting_line(variant, v['splits'][0]['classifier'])}")
        lines.append("")
    else:
        lines += [_setting_line(cfg, first_info), ""]
    if pub.deviations:
        lines += ["Deviations from the published setting:", ""] + [f"- {d}" for d in pub.deviations] + [""]
    lines += ["| setting | mean per-class accuracy | spread (std over splits) | ILSVRC top-1 / top-5 error | published |",
              "|---|---|---|---|---|"]
    published = (f"{pub.value:.4f}" + (f" +- {pub.spread:.3f}" if pub.spread else "") + f" ({pub.setting})"
                 if pub.value else "-")
    for v in summary["variants"]:
        label = "this configuration" if v["sweep_value"] is None else v["label"]
        errs = v["top_k_error_mean"]
        own = published if v.get("published") in (None, pub.value) else (
            f"{v['published']:.4f}" if v["published"] else "-")
        lines.append(f"| {label} | {v['accuracy_mean']:.4f} | {_spread([s['accuracy'] for s in v['splits']])} "
                     f"| {errs[0]:.4f} / {errs[4]:.4f} | {own} |")
    if pub.source:
        lines += ["", f"Published: {pub.value:.4f}{' +- ' + format(pub.spread, '.3f') if pub.spread else ''} "
                      f"({pub.metric}), {pub.source}."]
    swept = bool(cfg.sweep.key)
    lines += ["", "Per split:", "", ("| setting " if swept else "") + "| seed | accuracy | top-1 error | top-5 error "
              "| classifier | train / test images | seconds |", ("|---" if swept else "") + "|---|---|---|---|---|---|---|"]
    for v in summary["variants"]:
        for s in v["splits"]:
            chosen = f"C = {s['C']:g}" if s["C"] is not None else f"SGD, alpha {s['classifier']['alpha']:g}"
            lines.append((f"| {v['label']} " if swept else "")
                         + f"| {s['seed']} | {s['accuracy']:.4f} | {s['top_k_error'][0]:.4f} | {s['top_k_error'][4]:.4f} "
                         f"| {chosen} | {s['n_train']} / {s['n_test']} | {s['seconds']} |")
    history = first_info.get("history")
    if history:
        lines += ["", f"Streaming SGD, split {summary['variants'][0]['splits'][0]['seed']} "
                      f"({first_info['validation_images']} training images held out):", "",
                  "| epoch | hinge loss | held-out top-1 / top-5 error | seconds |", "|---|---|---|---|"]
        lines += [f"| {h['epoch']} | {h['loss']:.4f} | "
                  + (f"{h['val_top1']:.3f} / {h['val_top5']:.3f}" if "val_top1" in h else "-")
                  + f" | {h['seconds']} |" for h in history]
    failed = sorted({f for v in summary["variants"] for s in v["splits"] for f in s["failed_images"]})
    if failed:
        lines += ["", f"{len(failed)} image(s) failed and were skipped (scored as errors where they were test "
                      "images; listed in metrics.json):", ""] + [f"- {f}" for f in failed[:20]]
        if len(failed) > 20:
            lines.append(f"- ... and {len(failed) - 20} more")
    first = summary["variants"][0]["_results"][0]
    classes = list(data.classes)
    plot_confusion(first.confusion, classes, out_dir / "confusion.png",
                   f"{cfg.name}: confusion (split {first.seed})")
    plot_per_class(first.per_class_accuracy, classes, out_dir / "per_class_accuracy.png",
                   f"{cfg.name}: per-class accuracy (split {first.seed})")
    lines += ["", "![confusion matrix](confusion.png)", "", "![per-class accuracy](per_class_accuracy.png)"]
    if cfg.sweep.key:
        v = summary["variants"]
        plot_sweep(cfg.sweep.key, [x["label"] if cfg.sweep.key == "variant" else x["sweep_value"] for x in v],
                   [x["accuracy_mean"] for x in v],
                   [x["accuracy_std"] for x in v], pub.value, out_dir / "sweep.png")
        lines += ["", "![sweep](sweep.png)"]
    if data.kind == "ilsvrc":
        from .leaderboard import leaderboard_section

        lines += [""] + leaderboard_section(summary, out_dir)
    lines += ["", f"Submission of the first split: `{summary['variants'][0]['splits'][0]['submission']}`.",
              f"Total run time: {summary['seconds']} s.", ""]
    path = out_dir / "report.md"
    path.write_text("\n".join(lines))
    return path
