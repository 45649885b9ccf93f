"""The historical ILSVRC leaderboards a run of the suite stands beside: a table and a plot.

Every entry is a number published by the challenge (the results pages of
image-net.org/challenges/LSVRC/<year>/, summarised in Russakovsky et al., "ImageNet Large
Scale Visual Recognition Challenge", IJCV 2015) or by the entry's authors, with its
source.  Errors are flat top-5 errors on the challenge's test set (1,000 classes, 100,000
or 150,000 images); detection is mean AP over 200 classes.  A run of the suite is placed
among them with a plain statement of how its data and budget differ.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .plotting import save_figure, subplots


@dataclass(frozen=True)
class Entry:
    year: int
    team: str
    value: float
    note: str
    source: str


_2010 = "ILSVRC2010 results (image-net.org/challenges/LSVRC/2010); Russakovsky et al., IJCV 2015"
_2011 = "ILSVRC2011 results (image-net.org/challenges/LSVRC/2011); Russakovsky et al., IJCV 2015"
_2012 = "ILSVRC2012 results (image-net.org/challenges/LSVRC/2012/results.html)"
_2013 = "ILSVRC2013 results (image-net.org/challenges/LSVRC/2013/results.php)"

CLASSIFICATION = (
    Entry(2010, "NEC-UIUC", 0.28191, "winner: LCC and super-vector coding, SIFT and LBP, linear SVMs", _2010),
    Entry(2010, "XRCE (after the challenge)", 0.257, "Fisher vectors, compressed, SGD-trained linear SVMs",
          "Sanchez & Perronnin, CVPR 2011 (74.3% top-5 accuracy on ILSVRC2010)"),
    Entry(2011, "XRCE", 0.25770, "winner: Fisher vectors + product quantisation, linear SVMs", _2011),
    Entry(2012, "SuperVision", 0.15315, "convolutional network, extra training data (Fall 2011 release)", _2012),
    Entry(2012, "SuperVision", 0.16422, "convolutional network, supplied training data only", _2012),
    Entry(2012, "ISI", 0.26172, "Fisher vectors of SIFT, LBP, GIST, colour SIFT", _2012),
    Entry(2012, "OXFORD_VGG", 0.26979, "Fisher vectors over dense SIFT and colour statistics, + DPM", _2012),
    Entry(2012, "XRCE/INRIA", 0.27058, "Fisher vectors, linear SVMs", _2012),
    Entry(2012, "University of Amsterdam", 0.29576, "bag of words, colour descriptors", _2012),
)
"""Flat top-5 classification error (lower is better)."""

LOCALIZATION = (
    Entry(2011, "UvA", 0.425, "winner: selective search + bag-of-words detector", _2011),
    Entry(2012, "SuperVision", 0.335463, "convolutional network, extra classification data", _2012),
)
"""CLS-LOC top-5 error (lower is better)."""

DETECTION = (
    Entry(2013, "UvA-Euvision", 0.22581, "winner: selective search + bag-of-words / Fisher detector", _2013),
    Entry(2013, "NEC-MU", 0.208954, "regionlets (HOG, LBP, covariance) + neural patterns", _2013),
    Entry(2013, "OverFeat - NYU", 0.194009, "convolutional network", _2013),
)
"""DET mean AP (higher is better)."""


def leaderboard_rows(entries, ours: float, label: str, *, higher_is_better: bool = False) -> list[str]:
    """Markdown table of ``entries`` and our run, sorted best first."""
    rows = [(e.year, e.team, e.value, e.note, e.source) for e in entries]
    rows.append(("this run", label, ours, "", ""))
    rows.sort(key=lambda r: -r[2] if higher_is_better else r[2])
    out = ["| year | entry | " + ("mean AP" if higher_is_better else "top-5 error") + " | what | source |",
           "|---|---|---|---|---|"]
    for year, team, value, note, source in rows:
        bold = "**" if year == "this run" else ""
        out.append(f"| {bold}{year}{bold} | {bold}{team}{bold} | {bold}{value:.4f}{bold} | {note} | {source} |")
    return out


def plot_leaderboard(entries, ours: float, label: str, path: Path, *, metric: str = "top-5 error") -> None:
    """Each entry by year, our run marked as a horizontal line."""
    fig, ax = subplots(figsize=(7.5, 4.2))
    years = sorted({e.year for e in entries})
    for e in entries:
        ax.scatter(e.year, e.value, color="tab:gray" if "SuperVision" not in e.team else "tab:purple", zorder=3)
        ax.annotate(e.team, (e.year, e.value), textcoords="offset points", xytext=(6, 0), fontsize=7, va="center")
    ax.axhline(ours, color="tab:red", lw=2, label=f"{label}: {ours:.3f}")
    ax.set(xticks=years, xlim=(min(years) - 0.6, max(years) + 1.4), xlabel="challenge year", ylabel=metric,
           title=f"ILSVRC {metric}: the historical entries and this run")
    ax.legend(loc="best", fontsize=8)
    save_figure(fig, path)


def leaderboard_section(summary: dict, out_dir: Path) -> list[str]:
    """The report section of an ILSVRC classification run: table, plot, and how it differs."""
    v = summary["variants"][0]
    ours = v["top_k_error_mean"][4]
    first = v["splits"][0]
    n_classes = summary["n_classes"]
    label = f"{summary['name']} ({n_classes} classes)"
    plot_leaderboard(CLASSIFICATION, ours, label, Path(out_dir) / "leaderboard.png")
    return ["## Beside the ILSVRC leaderboards", "",
            f"This run's flat top-5 error, {ours:.4f}, among the classification entries of 2010-2012 "
            "(their errors are on the challenge's test set).", ""] + \
        leaderboard_rows(CLASSIFICATION, ours, label) + \
        ["", f"How this run differs: {n_classes} classes (the entries: 1,000; with fewer classes the task is "
             f"easier and chance is higher), {first['n_train']:,} training images (the entries: about 1.2 million, "
             f"and several descriptors per image), {first['n_test']:,} validation images (the entries: the "
             "100,000-150,000 test images), one descriptor type and a budget of one machine.", "",
         "![leaderboard](leaderboard.png)"]
