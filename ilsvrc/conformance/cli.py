"""``ilsvrc-classic conformance``: export the kit, check results, run a scorer, score a case."""
from __future__ import annotations

import json
import sys

from ..files import atomic_write
from ..formats import FORMATS

_ALL_FORMATS = tuple(dict.fromkeys(f for task in FORMATS.values() for f in task))


def add_commands(sub) -> None:
    """Register ``conformance`` and its subcommands on an argparse subparsers object."""
    from .scoring import MISTAKE_NAMES

    p = sub.add_parser("conformance", help="check another ILSVRC scorer rule by rule against the official numbers",
                       description="A battery of cases, one rule of the official ILSVRC evaluation each, with the "
                                   "numbers the official devkit code gives; run any scorer over it.")
    c = p.add_subparsers(dest="conformance_command", required=True, metavar="{export,run,check,score}")
    e = c.add_parser("export", help="write the cases to DIR")
    e.add_argument("directory", metavar="DIR")
    e.add_argument("--task", choices=("all", "cls", "loc", "det"), default="all")
    e.add_argument("--format", dest="fmt", choices=_ALL_FORMATS, default="devkit",
                   help="submission format of the cases (default devkit; kaggle-csv: cls and loc; coco-json: det)")
    e.add_argument("--force", action="store_true", help="replace DIR even if it is not a kit")
    e.set_defaults(handler=_export)
    r = c.add_parser("run", help="run a scorer over every case of DIR and check it")
    r.add_argument("directory", metavar="DIR")
    r.add_argument("--command", required=True, metavar="CMD",
                   help='scorer command with {submission}, {case_dir} and {out_json}, e.g. '
                        '"python my_scorer.py {submission} {case_dir} {out_json}"')
    r.add_argument("--results", metavar="RESULTS", help="where the scorer writes (default: a new temporary folder)")
    r.add_argument("--timeout", type=float, default=120.0, help="seconds per case (default %(default)s)")
    r.add_argument("--json", metavar="OUT", help="write the verdicts as JSON to OUT")
    r.set_defaults(handler=_run)
    k = c.add_parser("check", help="compare RESULTS/<case>.json with the expected numbers")
    k.add_argument("directory", metavar="DIR")
    k.add_argument("results", metavar="RESULTS")
    k.add_argument("--json", metavar="OUT", help="write the verdicts as JSON to OUT")
    k.set_defaults(handler=_check)
    s = c.add_parser("score", help="score one case with this evaluator (a reference scorer for 'run')")
    s.add_argument("submission", metavar="SUBMISSION")
    s.add_argument("case_dir", metavar="CASE_DIR")
    s.add_argument("out_json", metavar="OUT_JSON")
    s.add_argument("--format", dest="fmt", choices=_ALL_FORMATS, help="default: the case's format")
    s.add_argument("--mistake", choices=MISTAKE_NAMES,
                   help="score as a scorer making this known mistake would (a deliberately wrong scorer)")
    s.set_defaults(handler=_score)


def _export(args) -> int:
    from .kit import export

    index = export(args.directory, task=args.task, fmt=args.fmt, force=args.force)
    print(f"wrote {len(index['cases'])} cases ({args.fmt}) to {args.directory}, indexed in cases.json")
    for skipped in index["skipped"]:
        print(f"  skipped {skipped['name']}: {skipped['reason']}")
    return 0


def _finish(directory, verdicts, json_path) -> int:
    from .kit import report

    print("\n".join(report(directory, verdicts)))
    if json_path:
        atomic_write(json_path, json.dumps([v.__dict__ for v in verdicts], indent=1) + "\n")
    return 0 if verdicts and all(v.status == "pass" for v in verdicts) else 1


def _check(args) -> int:
    from .kit import check

    return _finish(args.directory, check(args.directory, args.results), args.json)


def _run(args) -> int:
    from .kit import run

    verdicts, results = run(args.directory, args.command, args.results, timeout=args.timeout)
    print(f"results in {results}", file=sys.stderr)
    return _finish(args.directory, verdicts, args.json)


def _score(args) -> int:
    from .kit import score_case

    summary = score_case(args.submission, args.case_dir, fmt=args.fmt, mistake=args.mistake)
    summary.pop("warnings", None)
    atomic_write(args.out_json, json.dumps(summary, indent=1) + "\n")
    return 0
