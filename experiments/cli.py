"""The ``ilsvrc-classic`` console script: every subcommand of the suite in one place."""
from __future__ import annotations

import argparse
import sys

from ilsvrc import cli as ilsvrc_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ilsvrc-classic",
        description="Classical ILSVRC baselines and the exact official ILSVRC evaluation.")
    sub = parser.add_subparsers(dest="command", required=True)
    ilsvrc_cli.add_commands(sub)
    run = sub.add_parser("run", help="run a named experiment (extract, encode, train, score, report)",
                         description="Run an experiment configuration (experiments/configs/*.toml).")
    run.add_argument("config", metavar="CONFIG", help="TOML experiment file")
    run.add_argument("--data", metavar="DIR", help="data folder (default: the config's data.path)")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                     help="override a setting (TOML value syntax), repeatable")
    run.add_argument("--output", metavar="DIR", help="where runs/<name>/ goes (default: run.output)")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.add_argument("--scheduler", metavar="ADDRESS",
                     help="run per-image work on Dask: 'local' (a LocalCluster) or tcp://host:8786")
    run.add_argument("--n-jobs", type=int, metavar="N", help="worker processes (default: run.n_jobs)")
    run.set_defaults(handler=_run_experiment)
    explain = sub.add_parser("explain", help="draw what each stage does to an image (teaching figures)",
                             description="Write PNG figures of one stage for IMAGE (see experiments/explain.py).")
    explain.add_argument("what", choices=["gradients", "sift", "phow", "words", "fisher", "evidence", "proposals",
                                          "detections", "ap", "all"])
    explain.add_argument("image", nargs="?", metavar="IMAGE", help="the image (every stage but 'ap')")
    explain.add_argument("--out", default="explain", metavar="DIR", help="output folder (default: explain/)")
    explain.add_argument("--run", metavar="DIR",
                         help="the run whose model is drawn: a classification run for 'words' and 'evidence' "
                              "(default runs/demo), a Fisher-vector run for 'fisher' (default runs/demo_fisher), a "
                              "detection run for 'detections' and 'ap' (default runs/demo_detection)")
    explain.set_defaults(handler=_explain)
    store = sub.add_parser("store", help="inspect a feature store",
                           description="Check every shard of a feature store against its manifest.")
    store_sub = store.add_subparsers(dest="store_command", required=True)
    verify = store_sub.add_parser("verify", help="re-hash every shard; report missing, truncated or altered ones")
    verify.add_argument("path", metavar="DIR", help="a store folder (holding manifest.json) or a folder of stores")
    verify.add_argument("--repair", action="store_true",
                        help="drop bad shards from the manifest so that their images are recomputed")
    verify.set_defaults(handler=_verify_store)
    return parser


def _explain(args) -> int:
    import logging

    from features.image_io import ImageReadError
    from ilsvrc.errors import InputError

    from .teaching import explain as ex

    if args.what != "ap" and not args.image:
        print(f"explain {args.what}: an IMAGE is needed", file=sys.stderr)
        return 2
    names = list(ex.EXPLAINERS) + ["ap"] if args.what == "all" else [args.what]
    log = logging.getLogger("experiments.teaching")
    for n, name in enumerate(names, start=1):
        if len(names) > 1:
            log.info("explain %s (%d of %d)", name, n, len(names))
        run = args.run if args.what != "all" else None
        try:
            if name == "ap":
                out = ex.explain_ap(args.out, run or ex.DEFAULT_RUNS["ap"])
            elif name == "detections":
                out = ex.explain_detections(args.image, args.out, run or ex.DEFAULT_RUNS["detections"])
            elif name in ("words", "fisher", "evidence"):
                out = ex.EXPLAINERS[name](args.image, args.out, run_dir=run)
            else:
                out = ex.EXPLAINERS[name](args.image, args.out)
        except ImageReadError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except InputError as exc:
            if args.what != "all" or name not in ex.DEFAULT_RUNS:
                raise
            print(f"explain {name}: skipped ({exc})", file=sys.stderr)
            continue
        for path in out["files"]:
            print(path)
    return 0


def _verify_store(args) -> int:
    from pathlib import Path

    from .scale.store import MANIFEST, open_store

    root = Path(args.path)
    dirs = [root] if (root / MANIFEST).exists() else sorted(p.parent for p in root.glob(f"*/{MANIFEST}"))
    if not dirs:
        print(f"{root}: no {MANIFEST} found", file=sys.stderr)
        return 2
    bad = 0
    for d in dirs:
        store = open_store(d, writer=args.repair)
        problems = store.verify(repair=args.repair)
        store.close()
        print(f"{d}: {len(store.shards)} shard(s), {len(store)} image(s), {len(store.failures)} failed image(s): "
              + ("OK" if not problems else f"{len(problems)} problem(s)" + (" (repaired)" if args.repair else "")))
        for p in problems:
            print(f"  {p}")
        bad += bool(problems) and not args.repair
    return 1 if bad else 0


def _run_experiment(args) -> int:
    from .config import load_config
    from .runners import run_experiment

    overrides = list(args.overrides)
    if args.scheduler:
        overrides += ["run.backend=dask", f"run.scheduler={args.scheduler}"]
    if args.n_jobs:
        overrides.append(f"run.n_jobs={args.n_jobs}")
    cfg = load_config(args.config, overrides)
    summary = run_experiment(cfg, args.data, output=args.output, progress=not args.quiet)
    pub = summary["published"]
    out = (args.output or cfg.run.output) + "/" + cfg.name
    if cfg.task == "detection":
        _print_detection(cfg, summary)
        print(f"report: {out}/report.md")
        return 0
    print(f"{cfg.name}: {summary['n_classes']} classes, {len(cfg.data.seeds)} split(s), {summary['seconds']} s")
    print(f"{'setting':<30}{'accuracy':>10}{'+-':>8}" + "".join(f"{'top-' + str(k) + ' err':>11}" for k in range(1, 6)))
    for v in summary["variants"]:
        label = "this configuration" if v["sweep_value"] is None else v["label"]
        std = f"{v['accuracy_std']:>8.4f}" if len(v["splits"]) > 1 else f"{'-':>8}"
        print(f"{label:<30}{v['accuracy_mean']:>10.4f}{std}"
              + "".join(f"{e:>11.4f}" for e in v["top_k_error_mean"]))
    if pub["value"]:
        print(f"{'published (' + pub['setting'] + ')':<30}{pub['value']:>10.4f}   {pub['source']}")
    print(f"report: {out}/report.md")
    return 0


def _print_detection(cfg, summary: dict) -> None:
    pub = summary["published"]
    n = len(summary["splits"])
    print(f"{cfg.name}: {len(summary['classes'])} classes, {n} split(s), {summary['seconds']} s")
    print(f"{'measure':<28}{'ours':>10}{'+-':>8}   published")
    spread = (lambda v: f"{v:>8.4f}") if n > 1 else (lambda v: f"{'-':>8}")
    print(f"{'DET mean AP':<28}{summary['mean_ap_mean']:>10.4f}{spread(summary['mean_ap_std'])}   "
          + (f"{pub['value']:.3f} ({pub['source']})" if pub["value"] else ""))
    print(f"{'CLS-LOC top-5 error':<28}{summary['loc_top_k_error_mean'][-1]:>10.4f}"
          f"{spread(summary['loc_top_k_error_std'][-1])}   "
          + (f"{pub['loc_error']:.3f} ({pub['loc_source']})" if pub["loc_error"] else ""))
    print(f"{'CLS-LOC top-1 error':<28}{summary['loc_top_k_error_mean'][0]:>10.4f}"
          f"{spread(summary['loc_top_k_error_std'][0])}")
    q = summary["proposals_mean"]["all"]
    print(f"proposals: {q['boxes_per_image']:.0f} per image, recall@0.7 {q['recall_70']:.3f}, MABO {q['mabo']:.3f}, "
          f"AR {q['average_recall']:.3f}")


def threading_is_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


class Stopped(KeyboardInterrupt):
    """A polite stop request (SIGTERM, as schedulers and clusters send)."""

    def __init__(self, signum: int):
        super().__init__(f"signal {signum}")
        self.signum = signum


def _terminate_gracefully(signum, frame):
    """SIGTERM unwinds like Ctrl-C, so that stores flush and caches stay whole."""
    from .scale.parallel import mark_aborted

    mark_aborted()
    raise Stopped(signum)


def _interrupt(signum, frame):
    """Ctrl-C: as Python's own handler, after noting that the worker pool is being abandoned."""
    from .scale.parallel import mark_aborted

    mark_aborted()
    raise KeyboardInterrupt


def main(argv=None) -> int:
    import logging
    import signal

    main_thread = threading_is_main()
    previous = signal.signal(signal.SIGTERM, _terminate_gracefully) if main_thread else None
    previous_int = signal.signal(signal.SIGINT, _interrupt) if main_thread else None
    try:
        ilsvrc_cli.configure_logging()
        args = build_parser().parse_args(argv)
        if getattr(args, "command", "") in ("run", "explain"):
            for name in ("experiments", "baselines", "features", "ilsvrc.datasets"):
                logging.getLogger(name).setLevel(logging.WARNING if getattr(args, "quiet", False) else logging.INFO)
        return ilsvrc_cli.run(args)
    except KeyboardInterrupt as exc:
        from .scale.parallel import abort_workers

        abort_workers()
        signum = exc.signum if isinstance(exc, Stopped) else signal.SIGINT
        what = "stopped (SIGTERM)" if signum == signal.SIGTERM else "interrupted"
        print(f"\n{what}: finished work is kept (the cache, the feature stores, finished runs); run the same command "
              "again to resume", file=sys.stderr)
        return 128 + int(signum)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if previous_int is not None:
            signal.signal(signal.SIGINT, previous_int)


if __name__ == "__main__":
    sys.exit(main())
