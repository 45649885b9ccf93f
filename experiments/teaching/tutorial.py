"""``make tutorial``: regenerate every figure and number of ``docs/tutorial.md``.

Runs the demo experiment (one split) and the Fisher-vector demo, whose saved models the
pictures draw, the explain commands on one demo image (figures into ``docs/tutorial/``),
the detection demo, and the exercises (the demo experiment on one split
with one setting changed), then fills ``experiments/teaching/tutorial_template.md`` with the
measured numbers and writes ``docs/tutorial.md``.  Each exercise states a prediction;
the measured effect decides whether it held, and the command prints both.
"""
from __future__ import annotations

import argparse
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
log = logging.getLogger(__name__)
IMAGE = "data/caltech101_demo/dolphin/image_0002.jpg"
DET_IMAGE = "data/caltech101_boxes/images/butterfly/image_0008.jpg"   # a test image of the first split


@dataclass(frozen=True)
class Exercise:
    change: str
    overrides: tuple
    prediction: str
    expect: str          # "lower" or "higher" than the baseline accuracy


EXERCISES = (
    Exercise("coarser sampling: step 4 -> 8", ("features.step=8",),
             "fewer descriptors per image, so noisier histograms: accuracy drops", "lower"),
    Exercise("smaller vocabulary: 300 -> 30 words", ("encoding.n_words=30",),
             "words too coarse to tell classes apart: accuracy drops", "lower"),
    Exercise("no spatial pyramid: 1x1+2x2 -> 1x1", ("encoding.layout=1x1",),
             "the layout of the words is lost: accuracy drops", "lower"),
    Exercise("no feature map: chi2 -> none", ("classifier.feature_map=none",),
             "a linear SVM on raw histograms compares them worse than the chi2 kernel: accuracy drops", "lower"),
)


def _run(config: str, overrides, out: Path, quiet: bool = True) -> dict:
    from ..config import load_config
    from ..runners import run_experiment

    cfg = load_config(ROOT / "experiments" / "configs" / config, list(overrides))
    return run_experiment(cfg, output=out, progress=not quiet)


def _fmt(x: float) -> str:
    return f"{x:.3f}"


def build(out_docs: Path = ROOT / "docs", runs: Path = ROOT / "runs" / "tutorial", quiet: bool = True) -> dict:
    from ..runners.classification import load_classifier
    from . import explain as ex

    fig_dir = out_docs / "tutorial"
    fig_dir.mkdir(parents=True, exist_ok=True)
    image = ROOT / IMAGE
    values = {"image": IMAGE, "det_image": DET_IMAGE}
    base = ("data.seeds=[0]",)
    steps = 8 + len(EXERCISES)
    step = iter(range(1, steps + 1))

    log.info("tutorial step %d of %d: the demo run (one split), whose model the pictures draw", next(step), steps)
    demo = _run("demo.toml", base, runs, quiet)
    model = load_classifier(runs / "demo")
    log.info("tutorial step %d of %d: the Fisher-vector demo run", next(step), steps)
    _run("demo_fisher.toml", (), runs, quiet)
    fisher_model = load_classifier(runs / "demo_fisher")
    variant = demo["variants"][0]
    values["demo_accuracy"] = _fmt(variant["accuracy_mean"])
    values["demo_top1"] = _fmt(variant["top_k_error_mean"][0])
    values["demo_top5"] = _fmt(variant["top_k_error_mean"][4])

    log.info("tutorial step %d of %d: gradients, dense SIFT, PHOW", next(step), steps)
    ex.explain_gradients(image, fig_dir)
    sift = ex.explain_sift(image, fig_dir)
    values["n_descriptors"] = f"{len(sift['frames']):,}"
    ex.explain_phow(image, fig_dir)
    log.info("tutorial step %d of %d: words, Fisher vectors, evidence", next(step), steps)
    words = ex.explain_words(image, fig_dir, model)
    values["n_words"] = str(len(words["counts"]))
    values["n_words_used"] = str(int((words["counts"] > 0).sum()))
    from features.encoding.pyramid import n_pyramid_cells

    values["n_cells"] = str(n_pyramid_cells(model.config.encoding.layout))
    values["layout"] = model.config.encoding.layout
    fisher = ex.explain_fisher(image, fig_dir, fisher_model)
    values["fv_top_energy"] = f"{100 * fisher['energy'].max():.1f}%"
    evidence = ex.explain_evidence(image, fig_dir, model)
    values["top1"] = model.class_names[evidence["top5"][0]]
    values["top1_score"] = f"{evidence['scores'][evidence['top5'][0]]:.2f}"
    log.info("tutorial step %d of %d: selective search", next(step), steps)
    proposals = ex.explain_proposals(ROOT / DET_IMAGE, fig_dir)
    values["n_proposals"] = f"{len(proposals['boxes']):,}"

    log.info("tutorial step %d of %d: the detection demo", next(step), steps)
    det = _run("demo_detection.toml", (), runs, quiet)
    det_dir = runs / "demo_detection"
    log.info("tutorial step %d of %d: detections and AP", next(step), steps)
    ex.explain_detections(ROOT / DET_IMAGE, fig_dir, det_dir)
    ex.explain_ap(fig_dir, det_dir)
    values["det_map"] = _fmt(det["mean_ap_mean"])

    rows, results = [], []
    for e in EXERCISES:
        log.info("tutorial step %d of %d: exercise '%s'", next(step), steps, e.change)
        s = _run("demo.toml", base + e.overrides, runs / "exercises" / re.sub(r"\W+", "_", e.change), quiet)
        acc = s["variants"][0]["accuracy_mean"]
        held = (acc < variant["accuracy_mean"]) if e.expect == "lower" else (acc > variant["accuracy_mean"])
        command = ("ilsvrc-classic run experiments/configs/demo.toml --set \"data.seeds=[0]\" "
                   + " ".join(f"--set {o}" for o in e.overrides))
        rows.append(f"| {e.change} | `{command}` | {e.prediction} | {_fmt(acc)} | {'yes' if held else 'no'} |")
        results.append({"change": e.change, "accuracy": acc, "baseline": variant["accuracy_mean"],
                        "prediction": e.prediction, "held": bool(held)})
    values["exercises"] = "\n".join(rows)

    template = (Path(__file__).with_name("tutorial_template.md")).read_text()
    missing = sorted(set(re.findall(r"{{(\w+)}}", template)) - set(values))
    if missing:
        raise KeyError(f"tutorial template placeholders without a value: {missing}")
    text = re.sub(r"{{(\w+)}}", lambda m: values[m.group(1)], template)
    (out_docs / "tutorial.md").write_text(text)
    (fig_dir / "numbers.json").write_text(json.dumps({"values": values, "exercises": results}, indent=1) + "\n")
    return {"values": values, "exercises": results}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where tutorial.md and tutorial/ go")
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(message)s")
    for name in ("experiments", "baselines", "features"):
        logging.getLogger(name).setLevel(logging.INFO)
    out = build(args.out)
    print(f"wrote {args.out / 'tutorial.md'} and its figures in {args.out / 'tutorial'}")
    print(f"baseline (demo, one split): accuracy {out['values']['demo_accuracy']}")
    for e in out["exercises"]:
        verdict = "prediction held" if e["held"] else "prediction did NOT hold"
        print(f"  {e['change']:<42} accuracy {e['accuracy']:.3f} ({e['accuracy'] - e['baseline']:+.3f}): {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
