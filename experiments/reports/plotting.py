"""Figures written to files, without pyplot: no global state, no backend chosen for the user.

Figures are :class:`matplotlib.figure.Figure` objects rendered by the Agg canvas when
saved; nothing here touches ``matplotlib.pyplot``, so importing the suite in a notebook
never changes the notebook's backend, and figures need no closing.
"""
from __future__ import annotations

from pathlib import Path


def subplots(nrows: int = 1, ncols: int = 1, **kwargs):
    """``(figure, axes)`` as ``pyplot.subplots`` returns them; ``figsize`` and ``dpi`` go to the figure."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=kwargs.pop("figsize", None), dpi=kwargs.pop("dpi", None))
    return fig, fig.subplots(nrows, ncols, **kwargs)


def colormap(name: str):
    """The registered colormap ``name``."""
    import matplotlib

    return matplotlib.colormaps[name]


def save_figure(fig, path, dpi: int = 100) -> str:
    """Save ``fig`` as PNG at ``path`` (folders created; no software stamp, so the same figure
    gives the same bytes); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, metadata={"Software": None})
    return str(path)
