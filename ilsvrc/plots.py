"""Pictures of evaluation results (matplotlib, written to PNG files).

Figures are built as :class:`matplotlib.figure.Figure` objects without pyplot, so that
drawing them never changes the matplotlib backend of the caller (a notebook, say).
"""
from __future__ import annotations

import logging
import os
import re

import numpy as np

log = logging.getLogger(__name__)

_STYLES = ("-", "--", ":", "-.")


def _figure(**kwargs):
    from matplotlib.figure import Figure

    fig = Figure(figsize=kwargs.pop("figsize", None))
    return fig, fig.subplots(**kwargs)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "class"


def plot_pr_curves(recall: list, precision: list, ap: np.ndarray, names: list, directory, *,
                   classes=None, title_prefix: str = "") -> list[str]:
    """Write one precision/recall plot per class and an overview of the worst classes.

    Parameters
    ----------
    recall, precision : list of ndarray
        Per-class curves (class ``c`` at index ``c - 1``).
    ap : ndarray of shape (C,)
    names : list of str
        Class names, index ``c - 1``.
    directory : path-like
        Created if missing.
    classes : sequence of int, optional
        Class ids to plot individually (default: all).

    Returns
    -------
    list of str
        Paths written; the overview (``pr_overview.png``) first.
    """
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    ap = np.asarray(ap, np.float64)
    order = np.argsort(np.where(np.isnan(ap), np.inf, ap), kind="stable")
    worst = order[: min(12, len(order))]
    paths = []

    fig, axes = _figure(nrows=1, ncols=2, figsize=(13, 5))
    ax = axes[0]
    for n, c in enumerate(worst):          # 10 colours, then the same colours dashed: no two curves alike
        ax.plot(_finite(recall[c]), _finite(precision[c]), lw=1.2, color=f"C{n % 10}",
                linestyle=_STYLES[n // 10 % len(_STYLES)], label=f"{names[c]} (AP {ap[c]:.3f})")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02),
           title=f"{title_prefix}PR curves of the {len(worst)} lowest-AP classes")
    ax.legend(fontsize=7, loc="upper right")
    ax = axes[1]
    finite = np.flatnonzero(np.isfinite(ap))
    by_ap = finite[np.argsort(ap[finite], kind="stable")]
    ax.bar(np.arange(len(by_ap)), ap[by_ap], width=1.0 if len(by_ap) > 40 else 0.8, color="tab:blue")
    mean = np.nanmean(ap) if np.isfinite(ap).any() else float("nan")
    ax.axhline(mean, color="tab:red", lw=1, label=f"mean AP {mean:.4f}")
    if len(by_ap) <= 40:                   # few classes: name them
        ax.set_xticks(np.arange(len(by_ap)), [names[c] for c in by_ap], rotation=90 if len(by_ap) > 6 else 0,
                      fontsize=7 if len(by_ap) > 6 else 9)
    ax.set(xlabel="classes, sorted by AP", ylabel="average precision", ylim=(0, 1),
           title=f"{title_prefix}AP of all {len(ap)} classes")
    ax.legend()
    fig.tight_layout()
    overview = os.path.join(directory, "pr_overview.png")
    fig.savefig(overview, dpi=110)
    paths.append(overview)

    from tqdm import tqdm

    ids = list(range(1, len(ap) + 1) if classes is None else classes)
    for cid in tqdm(ids, desc="PR curves", unit="class", leave=False, disable=len(ids) < 20):
        c = cid - 1
        fig, ax = _figure(figsize=(4.5, 4))
        ax.plot(_finite(recall[c]), _finite(precision[c]), color="tab:blue", lw=1.5)
        ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02),
               title=f"{names[c]} (id {cid}): AP {ap[c]:.4f}")
        fig.tight_layout()
        path = os.path.join(directory, f"pr_{cid:03d}_{_slug(names[c])}.png")
        fig.savefig(path, dpi=90)
        paths.append(path)
    return paths


def _finite(values):
    """Values with NaN replaced by 0 (blacklisted leading entries), for drawing."""
    v = np.asarray(values, np.float64)
    return np.nan_to_num(v, nan=0.0)
