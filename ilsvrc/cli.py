"""Command-line interface of the evaluator: ``evaluate``, ``convert`` and ``conformance``.

Registered under the ``ilsvrc-classic`` console script (see :mod:`experiments.cli`) and
runnable alone as ``python -m ilsvrc``.  Bad input ends with one line on stderr naming
the file, line and field, and exit status 2; warnings go to stderr as ``warning: ...``
lines, results to stdout.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys

import numpy as np

from . import stats
from .errors import InputError
from .files import atomic_write
from .formats import FORMATS
from .label_order import FORMS, convert_submission
from .synsets import SynsetTable

EXIT_INPUT_ERROR = 2
CONVERT_FORMS = FORMS + ("kaggle-csv", "coco-json")


# --------------------------------------------------------------------------- parsers
def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", metavar="OUT", help="write the results as JSON to OUT")
    p.add_argument("--bootstrap", type=int, default=stats.DEFAULT_BOOTSTRAP, metavar="N",
                   help="bootstrap resamples of images for confidence intervals (0: none; default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default %(default)s)")
    p.add_argument("--confidence", type=float, default=stats.DEFAULT_CONFIDENCE,
                   help="confidence level of the intervals (default %(default)s)")
    p.add_argument("--worst", type=int, default=10, metavar="N",
                   help="list the N worst classes (default %(default)s; 0: none)")


def _add_cls_inputs(p, required=True):
    p.add_argument("--ground-truth", required=required, metavar="GT_TXT",
                   help="ILSVRC201x_validation_ground_truth.txt (one devkit id per image)")
    p.add_argument("--meta", metavar="META_MAT", help="devkit meta.mat (class names; hierarchy for --hierarchical)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--cost-matrix", metavar="MAT", help="hierarchical cost matrix (.mat 'cost_matrix' or text)")
    group.add_argument("--hierarchical", action="store_true",
                       help="also report the ILSVRC2010/2011 hierarchical cost, derived from --meta")


def _add_loc_inputs(p):
    p.add_argument("--ground-truth", required=True, metavar="GT_TXT", help="validation ground-truth labels")
    p.add_argument("--boxes", required=True, metavar="XML_DIR_OR_CACHE_MAT",
                   help="folder of ILSVRC2012_val_*.xml or ILSVRC2015_clsloc_validation_ground_truth.mat")
    p.add_argument("--meta", required=True, metavar="META_MAT", help="devkit meta.mat / meta_clsloc.mat")
    p.add_argument("--blacklist", metavar="FILE",
                   help="CLS-LOC blacklist: 2013+ rules (without it: 2012 rules, every image counts)")


def _add_det_inputs(p):
    p.add_argument("--boxes", required=True, metavar="XML_DIR_OR_CACHE_MAT",
                   help="folder of DET val XML files or ILSVRC2015_det_validation_ground_truth.mat")
    p.add_argument("--image-list", required=True, metavar="LIST", help="DET image list (val.txt)")
    p.add_argument("--meta", required=True, metavar="META_DET_MAT", help="devkit meta_det.mat")
    p.add_argument("--blacklist", metavar="FILE", help="DET blacklist of <image index> <WNID> pairs")
    p.add_argument("--ap-method", choices=("all_points", "11_point"), default="all_points",
                   help="AP definition: all_points = VOC2010+/ILSVRC (official), 11_point = VOC2007")
    p.add_argument("--matching", choices=("ilsvrc", "voc"), default="ilsvrc",
                   help="ilsvrc = official greedy matching with size-dependent IoU; voc = PASCAL VOC rule")


def _add_format(p, task: str) -> None:
    p.add_argument("--format", dest="fmt", choices=FORMATS[task], default="devkit",
                   help="submission format: devkit (default), sorted-index or wnid labels in the devkit layout, "
                        + ("the Kaggle ImageId,PredictionString CSV" if task != "det" else "COCO results JSON")
                        + " (see ilsvrc/formats.py)")


def add_commands(sub) -> None:
    """Register ``evaluate``, ``convert`` and ``conformance`` on an argparse subparsers object."""
    ev = sub.add_parser("evaluate", help="score a submission with the official ILSVRC rules",
                        description="Score a submission exactly as the official ILSVRC devkit does.")
    tasks = ev.add_subparsers(dest="task", required=True, metavar="{cls,loc,det,compare}")

    p = tasks.add_parser("cls", help="classification: flat top-k error (and hierarchical cost)")
    p.add_argument("pred", metavar="PRED", help="submission: up to 5 devkit ids per line")
    _add_cls_inputs(p)
    _add_common(p)
    _add_format(p, "cls")
    p.set_defaults(handler=_run_cls)

    p = tasks.add_parser("loc", help="classification + localization: top-k localization error")
    p.add_argument("pred", metavar="PRED", help="submission: up to 5 '<id> x1 y1 x2 y2' groups per line")
    _add_loc_inputs(p)
    _add_common(p)
    _add_format(p, "loc")
    p.set_defaults(handler=_run_loc)

    p = tasks.add_parser("det", help="detection: per-class AP, mean and median AP")
    p.add_argument("pred", metavar="PRED", help="submission: '<image index> <id> <confidence> x1 y1 x2 y2' lines")
    _add_det_inputs(p)
    _add_common(p)
    _add_format(p, "det")
    p.add_argument("--pr-curves", metavar="DIR", help="write precision/recall plots (PNG) to DIR")
    p.set_defaults(handler=_run_det)

    p = tasks.add_parser("compare", help="paired comparison of two submissions on the same ground truth")
    p.add_argument("pred_a", metavar="A")
    p.add_argument("pred_b", metavar="B")
    p.add_argument("--task", dest="compare_task", required=True, choices=("cls", "loc", "det"))
    p.add_argument("--ground-truth", metavar="GT_TXT")
    p.add_argument("--boxes", metavar="XML_DIR_OR_CACHE_MAT")
    p.add_argument("--image-list", metavar="LIST")
    p.add_argument("--meta", metavar="META_MAT")
    p.add_argument("--blacklist", metavar="FILE")
    _add_common(p)
    p.set_defaults(handler=_run_compare)

    cv = sub.add_parser("convert", help="rewrite a submission's class labels in another numbering",
                        description="Map submission labels between devkit ids (1-based, devkit order), "
                                    "sorted-WNID indices (0-based, PyTorch/Kaggle order) and WNIDs, and between "
                                    "the devkit files, the Kaggle ImageId,PredictionString CSV (cls, loc) and "
                                    "COCO results JSON (det).")
    cv.add_argument("src", metavar="SRC")
    cv.add_argument("dst", metavar="OUT")
    cv.add_argument("--task", required=True, choices=("cls", "loc", "det"))
    cv.add_argument("--from", dest="source_form", required=True, choices=CONVERT_FORMS)
    cv.add_argument("--to", dest="target_form", required=True, choices=CONVERT_FORMS)
    cv.add_argument("--meta", metavar="META_MAT", help="metadata file (default: the bundled ILSVRC class list)")
    cv.set_defaults(handler=_run_convert)

    from .conformance.cli import add_commands as add_conformance_commands

    add_conformance_commands(sub)


# --------------------------------------------------------------------------- handlers
def _synsets(path, default_task):
    return SynsetTable.from_file(path) if path else SynsetTable.bundled(default_task)


def _fmt_row(label, values, fmt="{:.5f}"):
    return f"{label:<28}" + "".join(f"{fmt.format(v):>11}" if v is not None and np.isfinite(v) else f"{'nan':>11}"
                                    for v in values)


def _interval_rows(label, interval):
    if interval is None:
        return []
    pct = f"{100 * interval.confidence:g}%"
    return [_fmt_row(f"  {pct} CI low", interval.low), _fmt_row(f"  {pct} CI high", interval.high)]


def _worst_classes(per_class: np.ndarray, synsets: SynsetTable, n: int, what: str, *, order=None,
                   counts: tuple | None = None) -> list[str]:
    """The table of the ``n`` worst classes: devkit id, WNID, the measure, name (and counts)."""
    if n <= 0:
        return []
    if order is None:
        order = np.argsort(-np.nan_to_num(per_class, nan=-1.0), kind="stable")
    order = order[:n]
    header = f"  {'id':>5}  {'WNID':<10} {what:>{max(len(what), 7)}}  name"
    lines = [f"\nWorst {len(order)} classes by {what} (id: devkit class id):", header]
    for c in order:
        row = (f"  {c + 1:>5}  {synsets.wnid_of(int(c + 1)):<10} {per_class[c]:>{max(len(what), 7)}.4f}  "
               f"{synsets.name_of(int(c + 1))}")
        if counts is not None:
            row += f"  ({counts[0][c]} objects, {counts[1][c]} detections)"
        lines.append(row)
    return lines


def _emit(lines: list[str], summary: dict, json_path: str | None) -> None:
    for warning in summary.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    print("\n".join(lines))
    if json_path:
        atomic_write(json_path, json.dumps(summary, indent=1, allow_nan=False) + "\n")


def _run_cls(args) -> int:
    from .evaluation import evaluate_cls

    synsets = SynsetTable.from_file(args.meta) if args.meta else None
    if args.hierarchical and synsets is None:
        raise InputError("--hierarchical derives the cost matrix from --meta META_MAT; give one (or --cost-matrix)")
    res = evaluate_cls(args.pred, args.ground_truth, cost_matrix=args.cost_matrix, synsets=synsets,
                       hierarchical=args.hierarchical, fmt=args.fmt)
    if args.bootstrap > 0:
        res.add_intervals(args.bootstrap, args.seed, args.confidence)
    lines = [f"CLS  {args.pred}  ({res.n_images} images)", _fmt_row("k", range(1, 6), "{}"),
             _fmt_row("flat top-k error", res.top_k_error)] + _interval_rows("error", res.error_interval)
    if res.hierarchical_cost is not None:
        lines += [_fmt_row("hierarchical cost", res.hierarchical_cost)] + _interval_rows("cost", res.cost_interval)
    names = synsets if synsets is not None and res.gt_labels.max() <= synsets.n_classes else None
    if names is None and res.gt_labels.max() <= 1000 and args.cost_matrix is None:
        names = SynsetTable.bundled("clsloc")
    if names is not None:
        lines += _worst_classes(res.per_class_error(names.n_classes)[:, 4], names, args.worst, "top-5 error")
    _emit(lines, res.summary(), args.json)
    return 0


def _run_loc(args) -> int:
    from .evaluation import evaluate_loc

    synsets = SynsetTable.from_file(args.meta)
    res = evaluate_loc(args.pred, args.ground_truth, args.boxes, synsets, blacklist=args.blacklist, fmt=args.fmt)
    if args.bootstrap > 0:
        res.add_intervals(args.bootstrap, args.seed, args.confidence)
    lines = [f"CLS-LOC  {args.pred}  ({res.n_images} images, {len(res.blacklist)} blacklisted, {res.rules} rules)",
             _fmt_row("k", range(1, 6), "{}"), _fmt_row("localization error", res.top_k_error)]
    lines += _interval_rows("loc", res.error_interval)
    lines += [_fmt_row("classification error", res.cls_top_k_error)] + _interval_rows("cls", res.cls_error_interval)
    lines += _worst_classes(res.per_class_error(synsets.n_classes)[:, 4], synsets, args.worst,
                            "top-5 localization error")
    _emit(lines, res.summary(), args.json)
    return 0


def _run_det(args) -> int:
    from .evaluation import evaluate_det

    synsets = SynsetTable.from_file(args.meta)
    res = evaluate_det(args.pred, args.boxes, args.image_list, synsets, blacklist=args.blacklist,
                       ap_method=args.ap_method, matching=args.matching, fmt=args.fmt)
    if args.bootstrap > 0:
        res.add_intervals(args.bootstrap, args.seed, args.confidence)
    r = res.result
    lines = [f"DET  {args.pred}  ({len(res.submission)} detections, {len(res.objects)} objects, "
             f"{len(r.ap)} classes, matching={args.matching}, AP={args.ap_method})",
             f"{'mean AP':<28}{r.mean_ap:>11.7f}", f"{'median AP':<28}{r.median_ap:>11.7f}"]
    if res.map_interval is not None:
        pct = f"{100 * res.map_interval.confidence:g}%"
        lines.append(f"{'  mean AP ' + pct + ' CI':<28}{res.map_interval.low[0]:>11.7f}{res.map_interval.high[0]:>11.7f}")
    lines += _worst_classes(r.ap, synsets, args.worst, "AP",
                            order=np.argsort(np.where(np.isnan(r.ap), -1.0, r.ap), kind="stable"),
                            counts=(r.n_positives, r.n_detections))
    if args.pr_curves:
        from .plots import plot_pr_curves

        names = [synsets.name_of(c) for c in range(1, len(r.ap) + 1)]
        paths = plot_pr_curves(r.recall, r.precision, r.ap, names, args.pr_curves)
        lines.append(f"\nwrote {len(paths)} PR plots to {args.pr_curves} (overview: {paths[0]})")
    _emit(lines, res.summary(), args.json)
    return 0


def _run_compare(args) -> int:
    from . import evaluation as ev

    task = args.compare_task
    need = {"cls": ["ground_truth"], "loc": ["ground_truth", "boxes", "meta"],
            "det": ["boxes", "image_list", "meta"]}[task]
    missing = [f"--{n.replace('_', '-')}" for n in need if getattr(args, n) is None]
    if missing:
        raise InputError(f"compare --task {task} needs {', '.join(missing)}")
    n_boot = args.bootstrap if args.bootstrap > 0 else stats.DEFAULT_BOOTSTRAP
    if task == "cls":
        synsets = SynsetTable.from_file(args.meta) if args.meta else None
        a = ev.evaluate_cls(args.pred_a, args.ground_truth, synsets=synsets)
        b = ev.evaluate_cls(args.pred_b, args.ground_truth, synsets=synsets)
        cmp = stats.compare_per_image(a.per_image_error, b.per_image_error, n_resamples=n_boot, seed=args.seed,
                                      confidence=args.confidence)
        what = "flat top-k error"
    elif task == "loc":
        from .ground_truth import load_clsloc_boxes, read_class_labels

        synsets = SynsetTable.from_file(args.meta)
        n_images = len(read_class_labels(args.ground_truth, synsets.n_classes))
        objects = load_clsloc_boxes(args.boxes, synsets, n_images)
        a = ev.evaluate_loc(args.pred_a, args.ground_truth, objects, synsets, blacklist=args.blacklist)
        b = ev.evaluate_loc(args.pred_b, args.ground_truth, objects, synsets, blacklist=args.blacklist)
        keep = a.scored_images
        cmp = stats.compare_per_image(a.per_image_error[keep], b.per_image_error[keep], n_resamples=n_boot,
                                      seed=args.seed, confidence=args.confidence)
        what = "localization error"
    else:
        from .ground_truth import load_det_ground_truth, read_image_list

        synsets = SynsetTable.from_file(args.meta)
        images = read_image_list(args.image_list)
        objects = load_det_ground_truth(args.boxes, images, synsets)
        a = ev.evaluate_det(args.pred_a, objects, images, synsets, blacklist=args.blacklist)
        b = ev.evaluate_det(args.pred_b, objects, images, synsets, blacklist=args.blacklist)
        cmp = stats.compare_map(a.weighted_ap(), b.weighted_ap(), n_resamples=n_boot, seed=args.seed,
                                confidence=args.confidence)
        what = "mean AP"
    pct = f"{100 * args.confidence:g}%"
    header = _fmt_row("k", range(1, 6), "{}") if task != "det" else ""
    lines = [f"COMPARE {task}: A = {args.pred_a}", f"               B = {args.pred_b}", header,
             _fmt_row(f"A {what}", cmp.a), _fmt_row(f"B {what}", cmp.b), _fmt_row("B - A", cmp.difference),
             _fmt_row(f"  {pct} CI low", cmp.interval.low), _fmt_row(f"  {pct} CI high", cmp.interval.high),
             _fmt_row("p-value", cmp.p_value, "{:.3g}"), f"test: {cmp.test}, {n_boot} paired resamples, seed {args.seed}"]
    _emit([l for l in lines if l], {"task": "compare", "compared": task, "metric": what, **cmp.as_dict()}, args.json)
    return 0


def _run_convert(args) -> int:
    synsets = _synsets(args.meta, "det" if args.task == "det" else "clsloc")
    if args.source_form in FORMS and args.target_form in FORMS:
        n = convert_submission(args.src, args.dst, task=args.task, source_form=args.source_form,
                               target_form=args.target_form, synsets=synsets)
        print(f"converted {n} labels from {args.source_form} to {args.target_form}: {args.dst}")
        return 0
    from .formats import convert_layout

    n = convert_layout(args.src, args.dst, task=args.task, source=_layout(args.source_form),
                       target=_layout(args.target_form), synsets=synsets)
    print(f"converted {n} {'detections' if args.task == 'det' else 'images'} from {args.source_form} to "
          f"{args.target_form}: {args.dst}")
    return 0


def _layout(form: str) -> str:
    return "devkit" if form == "devkit-id" else form


# --------------------------------------------------------------------------- entry
def run(args) -> int:
    """Run a parsed command; turn bad input into one message and exit status 2."""
    try:
        return args.handler(args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except OSError as exc:
        name = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"error: {name}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR


def configure_logging() -> None:
    """Library warnings reach the user through the results (printed as ``warning: ...``
    on stderr by the commands), so the evaluator's own log stays quiet below errors."""
    logging.getLogger("ilsvrc").setLevel(logging.ERROR)
    if not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        logging.getLogger().addHandler(handler)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ilsvrc-classic", description="The ILSVRC evaluator.")
    add_commands(parser.add_subparsers(dest="command", required=True))
    return parser


def main(argv=None) -> int:
    configure_logging()
    return run(build_parser().parse_args(argv))
