"""Proposal benchmark: every backend and mode on the embedded boxed images."""
from __future__ import annotations

import time

from .common import ROOT


PROPOSAL_BUDGETS = (100, 500, 1000, 2000)


def _proposal_methods() -> dict:
    from baselines.proposals import ProposalConfig, propose

    def method(**kw):
        config = ProposalConfig(**kw)
        return lambda image: propose(image, config)

    return {"OpenCV Fast preset": method(backend="opencv", mode="fast"),
            "selectivesearch package (500, 0.9, 10)": method(backend="selectivesearch_package"),
            "ours paper_fast": method(mode="paper_fast"),
            "ours fast": method(mode="fast"),
            "ours quality": method(mode="quality")}


def bench_proposals(repeats: int, every: int = 1) -> list[str]:
    """Each proposal method on the embedded boxed Caltech-101 images, one core, one pass."""
    from features.image_io import load_image
    from ilsvrc.datasets import BoxedImageDataset
    from ilsvrc.proposals import plot_recall_curves, proposal_quality, recall_curve

    data = BoxedImageDataset(ROOT / "data" / "caltech101_boxes" / "boxes.csv")
    samples = data.samples()[::every]
    images = [load_image(s.path) for s in samples]
    gt = [s.boxes for s in samples]
    labels = [s.labels for s in samples]
    rows = [f"Proposals: {len(images)} boxed Caltech-101 images (~300 px), one core; quality at all boxes and at the "
            "first N (ranked order)",
            f"  {'method':<40}{'s/image':>8}{'boxes':>7}{'R@0.5':>7}{'R@0.7':>7}{'MABO':>7}{'AR':>7}"
            + "".join(f"{'AR@' + str(n):>9}{'MABO@' + str(n):>10}" for n in PROPOSAL_BUDGETS)]
    curves = {}
    for name, fn in _proposal_methods().items():
        start = time.perf_counter()
        props = [fn(im) for im in images]
        seconds = (time.perf_counter() - start) / len(images)
        q = proposal_quality(props, gt, labels)
        at = [proposal_quality(props, gt, labels, n) for n in PROPOSAL_BUDGETS]
        rows.append(f"  {name:<40}{seconds:>8.3f}{q.boxes_per_image:>7.0f}{q.recall_50:>7.3f}{q.recall_70:>7.3f}"
                    f"{q.mabo:>7.3f}{q.average_recall:>7.3f}"
                    + "".join(f"{a.average_recall:>9.3f}{a.mabo:>10.3f}" for a in at))
        curves[name] = recall_curve(props, gt, (10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000))
    out = ROOT / "docs" / "proposal_recall.png"
    out.parent.mkdir(exist_ok=True)
    plot_recall_curves(curves, out, title=f"Proposal recall, {len(images)} boxed Caltech-101 images")
    rows.append(f"  recall curves: {out.relative_to(ROOT)}")
    return rows
