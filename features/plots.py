"""Pictures of local descriptors for the teaching material (matplotlib, PNG files)."""
from __future__ import annotations

import os

import numpy as np


def _figure(figsize):
    """A figure without pyplot (the caller's matplotlib backend is left alone)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots()


def descriptor_glyph(descriptor, *, num_bins: int = 4, num_orientations: int = 8):
    """Line segments that draw one descriptor as VLFeat's ``vl_plotsiftdescriptor`` does.

    The descriptor's cell (bx, by) is a unit square centred on ``(bx - (num_bins-1)/2,
    by - (num_bins-1)/2)``; orientation bin t is a segment from the cell centre along
    angle ``2 pi t / num_orientations`` (image coordinates, y down) of length
    ``0.5 * value / max(descriptor)``.

    Returns
    -------
    ndarray of shape (num_bins * num_bins * num_orientations, 2, 2)
        Segment end points ``[[x0, y0], [x1, y1]]`` in units of bins, element order as
        the descriptor's (``t + T (bx + B by)``).
    """
    d = np.asarray(descriptor, np.float64).reshape(num_bins, num_bins, num_orientations)
    peak = d.max()
    scale = 0.5 / peak if peak > 0 else 0.0
    by, bx, t = np.meshgrid(np.arange(num_bins), np.arange(num_bins), np.arange(num_orientations), indexing="ij")
    cx = bx - (num_bins - 1) / 2
    cy = by - (num_bins - 1) / 2
    angle = 2 * np.pi * t / num_orientations
    length = d * scale
    start = np.stack([cx, cy], axis=-1)
    end = np.stack([cx + length * np.cos(angle), cy + length * np.sin(angle)], axis=-1)
    return np.stack([start, end], axis=-2).reshape(-1, 2, 2)


def plot_descriptors(image, frames, descriptors, path, *, indices=None, max_descriptors: int = 12,
                     num_bins: int = 4, title: str | None = None) -> str:
    """Draw the sampling grid and a few descriptors (cells and orientation histograms) on an image.

    Parameters
    ----------
    image : array_like of shape (H, W) or (H, W, 3)
    frames : ndarray of shape (n, 4)
        ``x, y, contrast, bin_size`` (as :func:`features.dsift.dense_sift`).
    descriptors : ndarray of shape (n, 128)
    path : path-like
        PNG file to write (folders are created).
    indices : sequence of int, optional
        Descriptors to draw; default: the ``max_descriptors`` of highest contrast, spread
        over the image.
    max_descriptors : int
    num_bins : int
    title : str, optional

    Returns
    -------
    str
        The path written.
    """
    from matplotlib.collections import LineCollection
    from matplotlib.patches import Rectangle

    frames = np.asarray(frames, np.float64)
    descriptors = np.asarray(descriptors)
    if indices is None:
        order = np.argsort(-frames[:, 2], kind="stable")
        chosen = []
        for i in order:  # greedy: high contrast first, no two descriptors overlapping
            half = frames[i, 3] * num_bins / 2
            if all(max(abs(frames[i, 0] - frames[j, 0]), abs(frames[i, 1] - frames[j, 1])) >= 2 * half for j in chosen):
                chosen.append(int(i))
            if len(chosen) >= max_descriptors:
                break
        indices = chosen
    fig, ax = _figure((8, 8 * np.asarray(image).shape[0] / np.asarray(image).shape[1] + 0.6))
    ax.imshow(image, cmap="gray" if np.asarray(image).ndim == 2 else None, interpolation="nearest")
    ax.scatter(frames[:, 0], frames[:, 1], s=1, c="yellow", alpha=0.35, linewidths=0, label="descriptor centres")
    for i in indices:
        x, y, _, bin_size = frames[i]
        half = bin_size * num_bins / 2
        for k in range(num_bins + 1):
            ax.plot([x - half, x + half], [y - half + k * bin_size] * 2, color="cyan", lw=0.6)
            ax.plot([x - half + k * bin_size] * 2, [y - half, y + half], color="cyan", lw=0.6)
        ax.add_patch(Rectangle((x - half, y - half), 2 * half, 2 * half, fill=False, ec="cyan", lw=1.2))
        segments = descriptor_glyph(descriptors[i], num_bins=num_bins) * bin_size + np.array([x, y])
        ax.add_collection(LineCollection(segments, colors="red", linewidths=1.1))
    ax.set_title(title or f"dense SIFT: {len(frames)} descriptors, {len(indices)} drawn "
                          "(4x4 cells, 8 orientation bins each)")
    ax.set_xlabel("x (pixels)")
    ax.set_ylabel("y (pixels)")
    ax.legend(loc="lower right", fontsize=8, markerscale=8)
    fig.tight_layout()
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110, metadata={"Software": None})
    return path
