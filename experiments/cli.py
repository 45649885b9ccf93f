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
    return parser


def main(argv=None) -> int:
    ilsvrc_cli.configure_logging()
    return ilsvrc_cli.run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
