"""Pictures of evaluation results (matplotlib, written to PNG files)."""
from __future__ import annotations

import os
import re

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


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
    plt = _pyplot()
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    ap = np.asarray(ap, np.float64)
    order = np.argsort(np.where(np.isnan(ap), np.inf, ap), kind="stable")
    worst = order[: min(12, len(order))]
    paths = []

    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    ax = axes[0]
    for c in worst:
        ax.plot(_finite(recall[c]), _finite(precision[c]), lw=1.2,
                label=f"{names[c]} (AP {ap[c]:.3f})")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02),
           title=f"{title_prefix}PR curves of the {len(worst)} lowest-AP classes")
    ax.legend(fontsize=7, loc="upper right")
    ax = axes[1]
    shown = np.sort(ap[np.isfinite(ap)])
    ax.bar(np.arange(len(shown)), shown, width=1.0, color="tab:blue")
    mean = np.nanmean(ap) if np.isfinite(ap).any() else float("nan")
    ax.axhline(mean, color="tab:red", lw=1, label=f"mean AP {mean:.4f}")
    ax.set(xlabel="classes, sorted by AP", ylabel="average precision", ylim=(0, 1),
           title=f"{title_prefix}AP of all {len(ap)} classes")
    ax.legend()
    fig.tight_layout()
    overview = os.path.join(directory, "pr_overview.png")
    fig.savefig(overview, dpi=110)
    plt.close(fig)
    paths.append(overview)

    ids = range(1, len(ap) + 1) if classes is None else classes
    for cid in ids:
        c = cid - 1
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.plot(_finite(recall[c]), _finite(precision[c]), color="tab:blue", lw=1.5)
        ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02),
               title=f"{names[c]} (id {cid}): AP {ap[c]:.4f}")
        fig.tight_layout()
        path = os.path.join(directory, f"pr_{cid:03d}_{_slug(names[c])}.png")
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)
    return paths


def _finite(values):
    """Values with NaN replaced by 0 (blacklisted leading entries), for drawing."""
    v = np.asarray(values, np.float64)
    return np.nan_to_num(v, nan=0.0)
